/* tls.c - OpenSSL server contexts for TLS listeners, built at start-up and on SIGHUP. */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/* TLS 1.2 suites: forward secrecy and AEAD only (Mozilla's "intermediate" list). TLS 1.3
 * suites are OpenSSL's defaults, all of which are modern. */
#define TLS12_CIPHERS                                                                      \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

const char *tls_reason(char *buf, size_t len) {
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(buf, len, "no reason given");
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r) snprintf(buf, len, "%s", r);
        else ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
    return buf;
}

/* A file the daemon cannot read gets the system's reason, clearer than OpenSSL's. */
static int readable(const char *what, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return 0;
    }
    snprintf(err, errlen, "TLS %s '%s': %s", what, path, strerror(errno));
    return -1;
}

/* ASN1_TIME as "Apr 16 02:53:29 2021 GMT", OpenSSL's usual form. */
static void time_text(const ASN1_TIME *t, char *out, size_t len) {
    snprintf(out, len, "?");
    BIO *b = BIO_new(BIO_s_mem());
    if (b && ASN1_TIME_print(b, t) > 0) {
        int n = BIO_read(b, out, (int)len - 1);
        out[n > 0 ? n : 0] = 0;
    }
    BIO_free(b);
}

int tls_cert_dates(SSL_CTX *ctx, const char *path, time_t now, int64_t *not_after, char *warn,
                   size_t len) {
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    *not_after = 0;
    if (!cert) return 0;
    const ASN1_TIME *na = X509_get0_notAfter(cert), *nb = X509_get0_notBefore(cert);
    struct tm tm;
    if (ASN1_TIME_to_tm(na, &tm) == 1) *not_after = (int64_t)timegm(&tm);
    char when[64];
    if (X509_cmp_time(na, &now) < 0) {
        time_text(na, when, sizeof when);
        snprintf(warn, len, "TLS certificate '%s' expired on %s: clients that check dates will "
                 "refuse it (renew it, then SIGHUP re-reads it)", path, when);
        return 1;
    }
    if (X509_cmp_time(nb, &now) > 0) {
        time_text(nb, when, sizeof when);
        snprintf(warn, len, "TLS certificate '%s' is not valid until %s: clients that check dates "
                 "will refuse it (is the clock right?)", path, when);
        return 1;
    }
    return 0;
}

SSL_CTX *tls_ctx_new(const struct config_tls *t, char *err, size_t errlen) {
    char why[256];
    SSL_CTX *ctx = NULL;
    if (readable("certificate", t->cert, err, errlen) < 0 || readable("key", t->key, err, errlen) < 0 ||
        (t->ca && readable("CA file", t->ca, err, errlen) < 0))
        return NULL;
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "TLS: cannot create a context: %s", tls_reason(why, sizeof why));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS);
    /* No renegotiation (a CPU-exhaustion vector, and nothing syslog needs); an unclean close is
     * an end of stream like TCP's, as senders rarely send close_notify before closing. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Idle connections give their 16 KiB+ record buffers back (10,000 idle TLS clients). */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    /* No TLS 1.3 session tickets. Syslog over TLS is one-way, and many senders (loggen,
     * devices) never read: tickets would sit unread in their receive buffer, and closing a
     * socket with unread data makes the kernel send RST instead of FIN, which discards
     * whatever hotdog had not read yet (found with loggen --use-ssl). TLS 1.2 sessions are
     * still resumed through the server's session cache. */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"hotdog", 6);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
        snprintf(err, errlen, "TLS certificate '%s': %s", t->cert, tls_reason(why, sizeof why));
        goto err;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        /* OpenSSL notices a key that belongs to another certificate while loading it. */
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(err, errlen, "TLS key '%s' does not match certificate '%s': %s", t->key,
                     t->cert, tls_reason(why, sizeof why));
        else
            snprintf(err, errlen, "TLS key '%s': %s", t->key, tls_reason(why, sizeof why));
        goto err;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "TLS key '%s' does not match certificate '%s': %s", t->key, t->cert,
                 tls_reason(why, sizeof why));
        goto err;
    }
    if (t->ca) {
        if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1) {
            snprintf(err, errlen, "TLS CA file '%s': %s", t->ca, tls_reason(why, sizeof why));
            goto err;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->ca);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
    }
    int mode = t->verify == VERIFY_REQUIRED ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
               : t->verify == VERIFY_OPTIONAL ? SSL_VERIFY_PEER
                                              : SSL_VERIFY_NONE;
    SSL_CTX_set_verify(ctx, mode, NULL);
    return ctx;
err:
    SSL_CTX_free(ctx);
    return NULL;
}
