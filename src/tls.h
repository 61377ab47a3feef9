/* tls.h - OpenSSL server contexts for TLS listeners, built at start-up and on SIGHUP. */
#ifndef HOTDOG_TLS_H
#define HOTDOG_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "config.h"

/* Builds a server context from t: the certificate chain and private key (PKCS#1, PKCS#8 or
 * EC, PEM), the CA and verify mode for client certificates, TLS 1.2 minimum, modern cipher
 * suites, TLS 1.2 session resumption (no TLS 1.3 tickets: see tls.c), no renegotiation. Refuses an unreadable
 * file, a key that does not match the certificate, and a certificate that has expired or is
 * not valid yet. NULL on error, with the path and OpenSSL's reason in err. The caller frees
 * the context with SSL_CTX_free; SSL objects made from it hold their own reference. */
SSL_CTX *tls_ctx_new(const struct config_tls *t, char *err, size_t errlen);

/* Writes the reason of the oldest queued OpenSSL error of this thread into buf (or "no
 * reason given") and clears the queue. Returns buf. */
const char *tls_reason(char *buf, size_t len);

#endif
