/* listener.h - the listening sockets (TCP, TLS, UDP) that every worker serves. */
#ifndef HOTDOG_LISTENER_H
#define HOTDOG_LISTENER_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct listener {
    int fd;
    char name[96]; /* "tls 127.0.0.1:6514", for logs */
    const struct config_listen *cfg;
    pthread_mutex_t lock; /* guards ctx: swapped on SIGHUP, read when a worker accepts */
    SSL_CTX *ctx;         /* TLS only */
    atomic_long conns;    /* open connections, against max_connections */
    _Atomic uint32_t udp_drops; /* highest SO_RXQ_OVFL count seen (UDP) */
    _Atomic int64_t cert_not_after; /* TLS: the certificate's notAfter, seconds since the epoch */
};

/* Resolves cfg->address, binds and listens (TCP, TLS) or binds (UDP), non-blocking. For TLS,
 * builds the SSL context. 0, or a negative errno with err set: the system call's (-EADDRINUSE,
 * -EACCES, ...), -EINVAL for an address that does not resolve or TLS material that does not load. */
int listener_open(struct listener *l, const struct config_listen *cfg, char *err, size_t errlen);
/* A new server-side SSL for an accepted connection (NULL on failure). runs on: workers. */
SSL *listener_ssl_new(struct listener *l);
/* Re-reads the TLS certificate, key and CA. On success new connections use them and
 * established ones keep theirs; on failure the running context stays. 0 or -EINVAL with err.
 * A certificate that has expired or is not valid yet is used, with a warning in the log. */
int listener_reload_tls(struct listener *l, char *err, size_t errlen);
void listener_close(struct listener *l);

#endif
