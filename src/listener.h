/* listener.h - the listening sockets that every worker accepts from. */
#ifndef HOTDOG_LISTENER_H
#define HOTDOG_LISTENER_H

#include <stddef.h>

#include "config.h"

struct listener {
    int fd;
    char name[96]; /* "tcp 127.0.0.1:1514", for logs */
    const struct config_listen *cfg;
};

/* Resolves cfg->address, binds and listens (non-blocking). 0, or -1 with err set. */
int listener_open(struct listener *l, const struct config_listen *cfg, char *err, size_t errlen);
void listener_close(struct listener *l);

#endif
