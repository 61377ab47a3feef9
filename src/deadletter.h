/* deadletter.h - the file where messages Kafka refused for good are kept, one JSON line each. */
#ifndef HOTDOG_DEADLETTER_H
#define HOTDOG_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

struct deadletter;

/* Opens (appending, creating) path. NULL with err set on failure. */
struct deadletter *deadletter_open(const char *path, char *err, size_t errlen);

/* Appends {"time","topic"|"topic_base64","key","error","reason","payload"|"payload_base64"} as one line with
 * one write(2). key may be NULL. Returns 0 or -1 (logged; the caller counts).
 * runs on: any thread; locks: the file's own mutex (a rare path). */
int deadletter_write(struct deadletter *d, const char *topic, const char *key, size_t keylen,
                     const char *payload, size_t len, const char *error, const char *reason);

/* Re-opens the file (after logrotate moved it away): SIGHUP. */
int deadletter_reopen(struct deadletter *d);

void deadletter_close(struct deadletter *d);

#endif
