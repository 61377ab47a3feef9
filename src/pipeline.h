/* pipeline.h - from bytes to records: frame, parse, rules. No sockets and no delivery, so that
 * the workers, test mode and the engine benchmark run one loop. */
#ifndef HOTDOG_PIPELINE_H
#define HOTDOG_PIPELINE_H

#include <stddef.h>

#include "frame.h"
#include "metrics.h"
#include "rules.h"
#include "syslog.h"

/* One message: parses line[0..n) into *msg, counts it into m as the original counts (received;
 * then lines, or error.log_parse for a line it would not parse: we still forward it), and runs
 * the rules r. Returns 1 when a rule forwards it (out->rec is the record to deliver; its
 * pointers stay valid until the next call with r), else 0. m NULL: nothing counted (test mode).
 * runs on: the thread that owns r. */
int pipeline_message(struct rules *r, struct metrics_shard *m, const char *line, size_t n,
                     struct syslog_msg *msg, struct rules_out *out);

/* Called for each complete frame; a non-zero return stops pipeline_frames after that frame. */
typedef int (*pipeline_frame_fn)(void *arg, const struct frame *f);

#define PIPELINE_CORRUPT (-1L)

/* Cuts buf[0..len) into frames with fs (max: max_message_size; eof: no more input will come)
 * and hands each to fn. Returns the bytes used up: all but an unfinished frame, or up to the
 * end of the frame at which fn asked to stop; PIPELINE_CORRUPT when the stream cannot be
 * framed any more (an octet count that cannot be valid; the frames before it were handed on).
 * Pure apart from what fn does. */
long pipeline_frames(struct frame_state *fs, const char *buf, size_t len, size_t max, int eof,
                     pipeline_frame_fn fn, void *arg);

#endif
