/* worker_tls.c - a worker's TLS connections: the handshake and reads through OpenSSL, as
 * non-blocking state machines. */
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <string.h>

#include "listener.h"
#include "log.h"
#include "tls.h"
#include "worker_internal.h"

int tls_conn_open(struct conn *c, int64_t now) {
    struct listener *l = c->l;
    c->ssl = listener_ssl_new(l);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        char why[256];
        log_limited(L_ERROR, "%s: cannot set up TLS: %s", l->name, tls_reason(why, sizeof why));
        SSL_free(c->ssl);
        c->ssl = NULL;
        return -1;
    }
    c->handshaking = 1;
    c->deadline = now + l->cfg->handshake_timeout_ms * 1000;
    return 0;
}

void tls_conn_close(struct conn *c) {
    if (!c->handshaking) SSL_shutdown(c->ssl); /* best effort close_notify, never waits */
    SSL_free(c->ssl);
    c->ssl = NULL;
    ERR_clear_error();
}

int tls_conn_pending(const struct conn *c) { return c->ssl && SSL_pending(c->ssl) > 0; }

size_t tls_conn_buffered(const struct conn *c) {
    int n = c->ssl ? SSL_pending(c->ssl) : 0;
    return n > 0 ? (size_t)n : 0;
}

ssize_t tls_conn_recv(struct worker *w, struct conn *c, char *buf, size_t cap) {
    /* TLS hands out one record (<= 16 KiB) per SSL_read: read up to one chunk's worth. */
    size_t got = 0;
    while (got < cap && got < READ_CHUNK) {
        ERR_clear_error();
        errno = 0; /* SSL_ERROR_SYSCALL leaves the reason there, or nothing */
        size_t want = cap - got < INT_MAX ? cap - got : INT_MAX;
        int r = SSL_read(c->ssl, buf + got, (int)want);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_WANT_WRITE) {
            worker_want_write(w, c, 1);
            break;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            if (!got) return 0;
            /* The end repeats on the next call, but nothing may wake us for it: the peer's
             * close_notify has left the socket and the peer now waits for ours. */
            worker_ready_push(w, c);
            return (ssize_t)got;
        }
        /* A reset or a TLS error: nothing more can come. Deliver what did, then close. */
        char why[256];
        int syscall = e == SSL_ERROR_SYSCALL && errno;
        metrics_add(w->m, syscall ? M_READ_ERROR : M_TLS_ERROR, 1);
        log_limited(L_WARN, "%s: %s: %s", c->peer, syscall ? "read error" : "TLS error",
                    syscall ? strerror(errno) : tls_reason(why, sizeof why));
        c->eof = 1;
        return got ? (ssize_t)got : RECV_ERROR;
    }
    return got ? (ssize_t)got : RECV_AGAIN;
}

int tls_conn_handshake(struct worker *w, struct conn *c, int64_t now) {
    ERR_clear_error();
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        c->handshaking = 0;
        c->deadline = c->l->cfg->idle_timeout_ms ? now + c->l->cfg->idle_timeout_ms * 1000 : 0;
        worker_want_write(w, c, 0);
        log_debug("%s: %s %s%s", c->peer, SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
                  SSL_session_reused(c->ssl) ? " (resumed)" : "");
        return worker_conn_read(w, c, now); /* application data may have come with the handshake */
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        worker_want_write(w, c, e == SSL_ERROR_WANT_WRITE);
        return 0;
    }
    char why[256] = "the client closed the connection";
    if (ERR_peek_error()) tls_reason(why, sizeof why);
    long vr = SSL_get_verify_result(c->ssl);
    metrics_add(w->m, M_TLS_HANDSHAKE_FAILED, 1);
    log_limited(L_WARN, "%s: TLS handshake failed: %s%s%s", c->peer, why,
                vr != X509_V_OK ? ": " : "", vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
    worker_conn_close(w, c);
    return 1;
}

