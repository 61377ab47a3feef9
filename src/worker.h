/* worker.h - one event loop per thread; each worker owns the connections it accepted. */
#ifndef HOTDOG_WORKER_H
#define HOTDOG_WORKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "delivery.h"
#include "kafka.h"
#include "listener.h"
#include "metrics.h"

/* What every worker reads and nobody writes while workers run (set up by main). */
struct worker_shared {
    const struct config *cfg;
    struct kafka *kafka;
    struct listener *listeners;
    size_t nlisteners;
    struct delivery *delivery; /* where every message goes (the policy: produce, spool, ...) */
};

struct worker;
struct rules;

/* Bytes that all workers' connections hold in buffers for unfinished frames (the
 * buffered_bytes gauge; bounded by global.max_buffered_bytes). runs on: any thread. */
int64_t worker_buffered_bytes(void);

/* Creates a worker; m is the metrics shard it alone writes. NULL on failure, with the reason
 * in err (a system call and its error, or the rules' "FILE:LINE: ..."). */
struct worker *worker_new(int id, const struct worker_shared *sh, struct metrics_shard *m, char *err,
                          size_t errlen);
int worker_start(struct worker *w);
/* Asks the worker to finish: stop accepting, process what its connections have already
 * sent, close them, and return. Async-signal-safe (one write to an eventfd). */
void worker_stop(struct worker *w);
void worker_join(struct worker *w);
/* Liveness, called by main at a steady interval: if the worker answered the previous call's
 * ping (its event loop turned since), sends a new one and returns 0. Otherwise returns how
 * long, in microseconds, the unanswered ping has waited: a loop stuck for that long. A
 * worker that was never started never answers. runs on: main thread. */
int64_t worker_check(struct worker *w, int64_t now);
/* Whether the last worker_check found a ping unanswered for WORKER_STALL_US or more (the
 * workers.stalled gauge). runs on: any thread. */
#define WORKER_STALL_US 5000000
int worker_stalled(const struct worker *w);
void worker_free(struct worker *w);
/* delivery's ack sink (delivery_set_ack) for RELP: workers is the array of all workers, indexed
 * by record.ack - 1; posts the fate to that worker's mailbox and rings its doorbell.
 * runs on: any thread. */
void worker_ack(void *workers, uint32_t ack, uint64_t seq, enum delivery_ack verdict);
/* RELP messages the worker has not answered, and when the oldest was read (CLOCK_MONOTONIC
 * us, 0: none). runs on: any thread. */
void worker_relp_state(const struct worker *w, int64_t *unanswered, int64_t *oldest_us);
/* Hands the worker a new rules instance (ownership passes to the worker), tagged with a
 * generation. The worker switches to it between two messages and frees the old one; once
 * worker_rules_gen says gen, no rules of an older generation exist in this worker.
 * runs on: main thread. */
void worker_set_rules(struct worker *w, struct rules *r, unsigned gen);
/* How many rules the worker runs now. runs on: any thread. */
size_t worker_rule_total(struct worker *w);
/* Adds the match counts of the worker's current rules to counts[0..n). runs on: any thread;
 * locks: the worker's rules lock, which the worker takes only to swap rules. */
void worker_rule_counts(struct worker *w, uint64_t *counts, size_t n);
/* The generation of the rules the worker runs now (0: the ones it started with). */
unsigned worker_rules_gen(const struct worker *w);

#endif
