/* statsd.h - sends the metrics to statsd, aggregated per interval, never one packet per message. */
#ifndef HOTDOG_STATSD_H
#define HOTDOG_STATSD_H

#include <stddef.h>

#include "stats.h"

struct statsd;

/* Resolves "host:port" and opens a non-blocking UDP socket. NULL with err set on error. */
struct statsd *statsd_new(const char *hostport, char *err, size_t errlen);
/* Sends every counter's increase since the previous flush (hotdog.NAME:DELTA|c) and every
 * gauge's value (hotdog.NAME:VALUE|g), packed into datagrams of at most 1432 bytes. A statsd
 * that is down costs one failed sendto per datagram: nothing waits. runs on: status thread. */
void statsd_flush(struct statsd *s, const struct stats *snap);
void statsd_free(struct statsd *s);

#endif
