/* status.h - the HTTP status server (/, /stats, /metrics, /healthz, /readyz) and statsd export. */
#ifndef HOTDOG_STATUS_H
#define HOTDOG_STATUS_H

#include <stddef.h>

#include "config.h"
#include "stats.h"

struct status;

/* Starts the status thread if c asks for a status server or statsd (else returns a struct
 * that does nothing). Binds global.status.address:port. The thread serves every client at
 * once without blocking, with per-connection deadlines and a connection cap (status.c), and
 * flushes statsd on its interval whatever the clients do. NULL with err set on error. The
 * sources must stay valid until status_stop. */
struct status *status_start(const struct config *c, const struct stats_sources *src, char *err,
                            size_t errlen);
/* The daemon is shutting down: /readyz answers 503 "shutting down" from now on, while the
 * rest keeps serving until status_stop. runs on: any thread. */
void status_stopping(struct status *s);
/* Stops the thread (a last statsd flush first) and frees everything. */
void status_stop(struct status *s);

#endif
