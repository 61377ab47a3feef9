/* tls.h - OpenSSL server contexts for TLS listeners, built at start-up and on SIGHUP. */
#ifndef HOTDOG_TLS_H
#define HOTDOG_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

/* Builds a server context from t: the certificate chain and private key (PKCS#1, PKCS#8 or
 * EC, PEM), the CA and verify mode for client certificates, TLS 1.2 minimum, modern cipher
 * suites, TLS 1.2 session resumption (no TLS 1.3 tickets: see tls.c), no renegotiation. Refuses an unreadable
 * file and a key that does not match the certificate. A certificate that has expired or is not
 * valid yet is accepted, as the original hotdog accepts it: see tls_cert_dates. NULL on error,
 * with the path and OpenSSL's reason in err. The caller frees the context with SSL_CTX_free;
 * SSL objects made from it hold their own reference. */
SSL_CTX *tls_ctx_new(const struct config_tls *t, char *err, size_t errlen);

/* The validity of ctx's certificate: *not_after gets its notAfter in seconds since the epoch
 * (0 if unknown). Returns 1 and writes why into warn when the certificate has expired or is
 * not valid yet at `now`, else 0. */
int tls_cert_dates(SSL_CTX *ctx, const char *path, time_t now, int64_t *not_after, char *warn,
                   size_t len);

/* Writes the reason of the oldest queued OpenSSL error of this thread into buf (or "no
 * reason given") and clears the queue. Returns buf. */
const char *tls_reason(char *buf, size_t len);

#endif
