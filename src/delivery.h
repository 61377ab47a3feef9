/* delivery.h - the policy that makes "nothing lost" true: produce, hold, spool, retry,
 * dead-letter, count. */
#ifndef HOTDOG_DELIVERY_H
#define HOTDOG_DELIVERY_H

#include <stdint.h>

#include "metrics.h"
#include "record.h"

/* Every message a source hands over ends in exactly one of these, each counted:
 *  - acknowledged by Kafka (kafka.delivered);
 *  - in the spool, for the replayer to hand to Kafka later (spool.spooled, spool.respooled);
 *  - in the dead-letter file, when Kafka refused it for good (dead_letter.written);
 *  - counted as lost (error.lost and the counter of the cause), where none of the above could
 *    take it: no spool and no dead-letter file configured, both full or failing, or a source that
 *    cannot wait (UDP, backpressure: false) while the producer is full and there is no spool.
 * A source that can wait (TCP and TLS with backpressure) is paused instead of losing anything:
 * delivery_submit keeps the one message the producer refused and the source reads nothing more
 * until delivery_retry has handed it over. */

struct spool;
struct deadletter;
struct delivery;
struct delivery_lane;

/* The producer, as delivery sees it: kafka.c's in the daemon (kafka_producer), a fake in the
 * unit tests. */
struct delivery_producer {
    void *arg;
    /* State for one producing thread (kafka.c's topic-handle cache); freed by thread_free. */
    void *(*thread_new)(void *arg);
    void (*thread_free)(void *ts);
    /* Queues r. Returns 0 when taken (its fate comes later through delivery_report), -ENOBUFS
     * when the producer is full (nothing queued: try again later), or another negative errno
     * when it refused r for good; that refusal has been reported through delivery_report
     * (with DELIVERY_REFUSED) before it returns. slot: the spool slot r was read from, or 0.
     * runs on: the thread ts was made for. */
    int (*produce)(void *ts, const struct record *r, unsigned slot);
    /* Queues rs[0..n) in this order, as produce would one by one, but in one call per run of
     * one topic (librdkafka takes its locks and reads its clock once per call): records
     * without headers, ack lane or partition, whose timestamp the producer stamps now (see
     * record.ts_read). Returns how many of them, from the first, it dealt with: queued, or
     * refused for good (reported as produce reports them, and counted in *failed). The rest
     * were not queued because the producer is full. NULL: the lane produces one by one. */
    unsigned (*produce_batch)(void *ts, const struct record *rs, unsigned n, unsigned *failed);
    /* Whether r's topic is one the producer would take; a topic it refuses is reported (as by
     * produce) and a negative errno returned. For what goes to the spool instead of the
     * producer, so that the spool never holds what would fail at every replay. */
    int (*check_topic)(void *ts, const struct record *r, unsigned slot);
    /* At shutdown: takes back every queued message, whose reports then come with
     * DELIVERY_PURGED; returns how many are still queued after timeout_ms. */
    int (*purge)(void *arg, int timeout_ms);
    /* The seq (as in struct delivery_report) a record produced next on this thread would get,
     * taken now: a record with ack set carries it (record.seq) and the producer uses it
     * instead of taking one. NULL: the lane counts (a fake producer). */
    uint64_t (*next_seq)(void *ts);
};

enum {
    DELIVERY_PERMANENT = 1, /* retrying cannot help: not back into the spool */
    DELIVERY_PURGED = 2,    /* taken back by the producer (shutdown purge, or a fatal error) */
    DELIVERY_REFUSED = 4,   /* refused before it was queued: never retried */
};

/* What became of one message. */
struct delivery_report {
    const struct record *rec; /* as produced; part is the partition + 1 it was on (0: none) */
    int err;                  /* 0: acknowledged by Kafka; else the producer's error code */
    const char *err_name;     /* for the dead-letter file and logs ("MSG_SIZE_TOO_LARGE") */
    const char *err_text;
    unsigned flags;           /* DELIVERY_* */
    uint64_t seq;             /* produce order on its producing thread, for a purge's order:
                               * a later message has (int64_t)(later - earlier) > 0 */
    unsigned slot;            /* the spool slot the message was read from, 0: none */
    uint32_t ack;             /* the record's ack lane (record.ack), 0: none; then seq is
                               * the record's seq. Set on every report, success included
                               * (rec may be NULL then) */
};

/* The fate of a record with an ack lane, as its source answers it (RELP: rsp 200, rsp 500,
 * or close the session without an answer so that the sender resends). */
enum delivery_ack {
    DELIVERY_ACK_OK = 1,  /* final: acknowledged by Kafka, in the spool or the dead-letter file */
    DELIVERY_ACK_REFUSED, /* failed for good and nowhere kept (error.lost): the sender drops it */
    DELIVERY_ACK_LOST,    /* failed retriably and nowhere kept: only a resend can save it */
};

/* Where delivery_report tells a record's fate when it has an ack lane. runs on: the
 * producer's report thread, a producing thread (refusals), or main (a purge at shutdown). */
typedef void (*delivery_ack_fn)(void *arg, uint32_t ack, uint64_t seq, enum delivery_ack verdict);

struct delivery_opts {
    struct spool *spool;       /* NULL: no spool */
    struct deadletter *dl;     /* NULL: no dead-letter file */
    int spool_always;          /* mode: always: every message goes through the spool */
};

/* The policy, shared by every producing thread. Borrows the spool and the dead-letter file.
 * The producer is attached afterwards (delivery_attach), because it is made with
 * delivery_report as its report callback. */
struct delivery *delivery_new(const struct delivery_opts *o);
void delivery_attach(struct delivery *d, const struct delivery_producer *p);
/* Sets where fates of records with an ack lane go (before any such record is submitted). */
void delivery_set_ack(struct delivery *d, delivery_ack_fn fn, void *arg);
void delivery_free(struct delivery *d);

/* The producer's report of one message's fate. A record that failed goes back into the spool
 * when its error is retriable and a spool takes it, else into the dead-letter file, else it is
 * counted as lost; a record from the spool is resolved once its fate is settled. Purged records
 * are gathered while delivery_shutdown runs and spooled in their produce order.
 * runs on: the producer's report thread, or the producing thread for refusals. */
void delivery_report(void *d, const struct delivery_report *r);

/* The spool replayer's produce callback (a spool_produce_fn; arg is the struct delivery).
 * runs on: the replayer thread. */
int delivery_replay(void *d, const struct record *r, unsigned slot);

/* At shutdown, after the producer was flushed: takes every undelivered message back from the
 * producer into the spool, in the order each thread produced them. Returns how many the
 * producer still holds (the caller counts them as undelivered). Without a spool, does nothing
 * and returns 0. */
int delivery_shutdown(struct delivery *d, int timeout_ms);

/* One producing thread's side (a worker's): the records gathered during a read and handed to
 * the producer in batches, those held while the producer is full, and the records bound for
 * the spool, committed in one write per read. Counters go to m. */
struct delivery_lane *delivery_lane_new(struct delivery *d, int id, struct metrics_shard *m);
void delivery_lane_free(struct delivery_lane *l);

/* A seq for a record with an ack lane that is about to be submitted on this lane (see
 * delivery_producer.next_seq): increasing on the lane (compare with (int64_t)(a - b)). */
uint64_t delivery_lane_seq(struct delivery_lane *l);

/* Hands r over. spill: its source cannot wait (UDP, or backpressure: false). Returns 0 when r
 * is dealt with (queued, taken for the read's batch, staged for the spool, failed for good and
 * dead-lettered, or dropped and counted), or -ENOBUFS when the producer is full and r, or what
 * came before it, was kept (copied): the caller pauses its source until delivery_retry
 * returns 0. A record the producer can stamp itself (no headers, no ack lane, the read's
 * timestamp: record.ts_read) is copied and waits for delivery_flush, or for LANE_BATCH more.
 * runs on: the lane's thread. */
int delivery_submit(struct delivery_lane *l, const struct record *r, int spill);

/* At the end of each read: hands the read's batch to the producer, then commits the records
 * staged for the spool in one write. 0, or -1 when something is held: the producer was full
 * and some records came from sources that can wait (they stay, in order), or the spool is
 * full or failing and a staged record came from a source that can wait (they stay staged);
 * the caller pauses until delivery_retry returns 0. A stage whose records all came from
 * sources that cannot wait is dropped and counted instead. */
int delivery_flush(struct delivery_lane *l);

/* Retries what is held, as delivery_flush: 0 once nothing is held, -1 while the spool or the
 * producer still refuses. */
int delivery_retry(struct delivery_lane *l);

/* How many records are staged for the spool and not yet committed. */
unsigned delivery_staged(const struct delivery_lane *l);

/* How many records are held because the producer was full. */
unsigned delivery_held(const struct delivery_lane *l);

/* Gives up everything the lane holds (gathered, held, staged) and returns how many messages
 * that was, for the caller to count as lost (a shutdown deadline). */
uint64_t delivery_discard(struct delivery_lane *l);

#endif
