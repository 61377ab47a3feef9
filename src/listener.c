/* listener.c - the listening sockets that every worker accepts from. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int listener_open(struct listener *l, const struct config_listen *cfg, char *err, size_t errlen) {
    char port[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    l->fd = -1;
    l->cfg = cfg;
    snprintf(l->name, sizeof l->name, "tcp %s%s%s:%ld", strchr(cfg->address, ':') ? "[" : "",
             cfg->address, strchr(cfg->address, ':') ? "]" : "", cfg->port);
    snprintf(port, sizeof port, "%ld", cfg->port);
    int e = getaddrinfo(cfg->address, port, &hints, &res);
    if (e) {
        snprintf(err, errlen, "%s: cannot resolve '%s': %s", l->name, cfg->address, gai_strerror(e));
        return -1;
    }
    l->fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) goto err;
    int one = 1;
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l->fd, res->ai_addr, res->ai_addrlen) < 0) goto err;
    if (listen(l->fd, SOMAXCONN) < 0) goto err;
    freeaddrinfo(res);
    return 0;
err:
    snprintf(err, errlen, "%s: cannot listen: %s", l->name, strerror(errno));
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
    freeaddrinfo(res);
    return -1;
}

void listener_close(struct listener *l) {
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
}
