/* listener.c - the listening sockets (TCP, TLS, UDP) that every worker serves. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tls.h"

static const char *const proto_names[] = {[PROTO_TCP] = "tcp", [PROTO_TLS] = "tls", [PROTO_UDP] = "udp",
                                          [PROTO_RELP] = "relp"};
_Static_assert(sizeof proto_names / sizeof *proto_names == PROTO_RELP + 1, "a name per protocol");

/* A large receive buffer is UDP's only defence against bursts. SO_RCVBUFFORCE passes the
 * net.core.rmem_max cap when running as root; otherwise the kernel clamps SO_RCVBUF. */
static void set_rcvbuf(struct listener *l, long bytes) {
    int v = (int)bytes, got = 0;
    socklen_t gl = sizeof got;
    if (setsockopt(l->fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0)
        setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    getsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
    if (got / 2 < v) /* Linux reports twice the size it was given */
        log_warn("%s: receive buffer is %d bytes, not the %ld asked for (raise net.core.rmem_max)",
                 l->name, got / 2, bytes);
}

int listener_open(struct listener *l, const struct config_listen *cfg, char *err, size_t errlen) {
    char port[16];
    int udp = cfg->protocol == PROTO_UDP;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    l->fd = -1;
    l->cfg = cfg;
    l->ctx = NULL;
    atomic_init(&l->conns, 0);
    atomic_init(&l->udp_drops, 0);
    atomic_init(&l->cert_not_after, 0);
    pthread_mutex_init(&l->lock, NULL);
    snprintf(l->name, sizeof l->name, "%s %s%s%s:%ld", proto_names[cfg->protocol],
             strchr(cfg->address, ':') ? "[" : "", cfg->address,
             strchr(cfg->address, ':') ? "]" : "", cfg->port);
    if (config_listen_tls(cfg)) {
        char why[768];
        l->ctx = tls_ctx_new(&cfg->tls, why, sizeof why);
        if (!l->ctx) {
            snprintf(err, errlen, "%s: %s", l->name, why);
            return -EINVAL;
        }
        /* A date warning was given with the configuration's: only the gauge is set here. */
        int64_t na;
        tls_cert_dates(l->ctx, cfg->tls.cert, time(NULL), &na, why, sizeof why);
        atomic_store(&l->cert_not_after, na);
    }
    snprintf(port, sizeof port, "%ld", cfg->port);
    int e = getaddrinfo(cfg->address, port, &hints, &res);
    if (e) {
        snprintf(err, errlen, "%s: cannot resolve '%s': %s", l->name, cfg->address, gai_strerror(e));
        return e == EAI_SYSTEM && errno ? -errno : -EINVAL;
    }
    l->fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) goto err;
    int one = 1;
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l->fd, res->ai_addr, res->ai_addrlen) < 0) goto err;
    if (udp) {
        /* Every datagram then carries the socket's count of datagrams the kernel dropped. */
        setsockopt(l->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
        set_rcvbuf(l, cfg->recv_buffer);
    } else if (listen(l->fd, SOMAXCONN) < 0) {
        goto err;
    }
    freeaddrinfo(res);
    return 0;
err:
    e = errno;
    snprintf(err, errlen, "%s: cannot listen: %s", l->name, strerror(e));
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
    freeaddrinfo(res);
    return -e;
}

SSL *listener_ssl_new(struct listener *l) {
    pthread_mutex_lock(&l->lock);
    SSL *ssl = SSL_new(l->ctx); /* takes its own reference to the context */
    pthread_mutex_unlock(&l->lock);
    return ssl;
}

int listener_reload_tls(struct listener *l, char *err, size_t errlen) {
    if (!config_listen_tls(l->cfg)) return 0;
    char why[768];
    SSL_CTX *ctx = tls_ctx_new(&l->cfg->tls, why, sizeof why);
    if (!ctx) {
        snprintf(err, errlen, "%s: %s", l->name, why);
        return -EINVAL;
    }
    int64_t na;
    if (tls_cert_dates(ctx, l->cfg->tls.cert, time(NULL), &na, why, sizeof why))
        log_warn("%s: %s", l->name, why);
    atomic_store(&l->cert_not_after, na);
    pthread_mutex_lock(&l->lock);
    SSL_CTX *old = l->ctx;
    l->ctx = ctx;
    pthread_mutex_unlock(&l->lock);
    SSL_CTX_free(old); /* connections made from it keep their own references */
    return 0;
}

void listener_close(struct listener *l) {
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
    SSL_CTX_free(l->ctx);
    l->ctx = NULL;
    pthread_mutex_destroy(&l->lock);
}
