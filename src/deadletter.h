/* deadletter.h - the file where messages Kafka refused for good are kept, one JSON line each. */
#ifndef HOTDOG_DEADLETTER_H
#define HOTDOG_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct deadletter;

/* Opens (appending, creating) path. NULL with err set on failure. */
struct deadletter *deadletter_open(const char *path, char *err, size_t errlen);

/* Appends r as one JSON line with one write(2), fields in this order:
 *   "time"              when it was written (UTC, ms)
 *   "topic"             r->topic[0..topic_len) (which need not be NUL-terminated)
 *   "key"               null when r->key is NULL
 *   "timestamp_ms"      only when r->timestamp_ms != 0
 *   "headers"           only when r has any: [{"name": ..., "value": ...}, ...] in order, value
 *                       null for a null header
 *   "error", "reason"   the caller's error name and text
 *   "payload"
 * Any of topic, key, payload, a header's name or value that is not valid UTF-8 is written as
 * NAME_base64 instead (standard alphabet, padded). Packed headers that cannot be read (a corrupt
 * record) are written whole as "headers_packed_base64" so that no byte is lost. r is only read.
 * A record whose sender waits for its fate (r->ack, RELP) is fdatasync'd before 0 is returned.
 * Returns 0 or a negative errno (-EIO for a short write); a failure is logged, the caller counts.
 * runs on: any thread; locks: the file's own mutex (a rare path). */
int deadletter_write(struct deadletter *d, const struct record *r, const char *error,
                     const char *reason);

/* Re-opens the file (after logrotate moved it away): SIGHUP. 0 or a negative errno (logged;
 * the old file is still written to). */
int deadletter_reopen(struct deadletter *d);

void deadletter_close(struct deadletter *d);

#endif
