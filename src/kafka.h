/* kafka.h - the one librdkafka producer that all workers share, and its delivery reports. */
#ifndef HOTDOG_KAFKA_H
#define HOTDOG_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "delivery.h"
#include "metrics.h"
#include "record.h"

struct kafka;
struct kafka_topic; /* an rd_kafka_topic_t; owned by the struct kafka that made it */

/* Where every message's fate goes: each message queued gets exactly one call, from the
 * delivery-report thread (acknowledged: only for a message with a spool slot, as nothing else
 * needs it), and each one refused before it was queued one call from the producing thread. */
typedef void (*kafka_report_fn)(void *arg, const struct delivery_report *r);

/* Creates the producer from c (our defaults, then global.kafka.conf verbatim, then
 * global.kafka.buffer). Delivery reports are counted into shard and handed to report. On error
 * returns NULL with "FILE:LINE: ..." in err naming the offending property. */
struct kafka *kafka_new(const struct config *c, struct metrics_shard *shard, kafka_report_fn report,
                        void *report_arg, char *err, size_t errlen);
/* The producer as delivery drives it (struct delivery_producer over the functions below). */
void kafka_producer(struct kafka *k, struct delivery_producer *p);

/* Waits up to timeout_ms for a broker to answer a metadata request. 0 or -1 with err set. */
int kafka_wait_ready(struct kafka *k, int timeout_ms, char *err, size_t errlen);

/* Starts / stops the thread that serves delivery reports. */
int kafka_start(struct kafka *k);
void kafka_stop(struct kafka *k);

/* Returns the topic handle for name, creating it on first use. Thread-safe, but takes a lock:
 * callers cache the handle (runs on: any thread). */
struct kafka_topic *kafka_topic(struct kafka *k, const char *name);

/* A per-thread cache of topic handles, so that a worker meets kafka_topic's lock only the
 * first time it sees a topic name. Holds at most KAFKA_TOPIC_CACHE names; past that, lookups
 * go to kafka_topic (templated topics with unbounded names are the config's choice).
 * kafka_topics_get returns NULL for a name that is not a valid topic (kafka_topic_valid):
 * only valid names are cached, so a name is checked once, when it is first met. */
#define KAFKA_TOPIC_CACHE 4096
struct kafka_topics;
struct kafka_topics *kafka_topics_new(struct kafka *k);
struct kafka_topic *kafka_topics_get(struct kafka_topics *c, const char *name);
void kafka_topics_free(struct kafka_topics *c);

/* Queues r (copied: payload, key, headers) with the thread's topic cache tc, to r->part - 1
 * when r->part is set, else where the partitioner chooses; headers and a timestamp go with it
 * when r has them. The produce-to-ack time is recorded for kafka.producer.sent. slot is the
 * spool segment slot the record was read from (0: none), reported with its fate. Returns 0,
 * -ENOBUFS when the producer's queue is full (nothing was queued: retry later), or another
 * negative errno when it was refused for good (reported before returning). A topic that is not
 * a valid name is refused as the original's producer refuses it: counted as
 * kafka.producer.error.invalidtopic (TOPIC_EXCEPTION) or, for a name refused more than half a
 * second before, .unknowntopic (_UNKNOWN_TOPIC).
 * runs on: the thread tc belongs to; locks: none of ours (a mutex for invalid names). */
int kafka_produce(struct kafka_topics *tc, const struct record *r, unsigned slot);
/* Queues rs[0..n) (none with headers, a partition or an ack lane; each stamped by librdkafka
 * now) in order, with one rd_kafka_produce_batch call per run of one topic: librdkafka then
 * takes the topic's lock and reads its clocks once per run instead of once per message, and
 * the produce times come from one clock read. Returns how many, from the first, were dealt
 * with: queued, or refused for good as kafka_produce refuses (counted in *failed); the rest
 * were not queued because the producer is full (or has failed fatally).
 * runs on: the thread tc belongs to. */
unsigned kafka_produce_batch(struct kafka_topics *tc, const struct record *rs, unsigned n,
                             unsigned *failed);
/* 0 if r's topic is a valid name, else refuses r as kafka_produce does and returns -EINVAL. */
int kafka_check_topic(struct kafka_topics *tc, const struct record *r, unsigned slot);
/* Kafka's rule for topic names: 1 to 249 of a-z A-Z 0-9 . _ -, and not "." or "..". A broker
 * refuses any other name, so hotdog does not ask it (nor makes a topic handle for it). */
#define KAFKA_TOPIC_MAX 249
int kafka_topic_valid(const char *name);
/* The word the original hotdog names error err with in kafka.producer.error.<word>:
 * rust-rdkafka's variant name, lowercased ("messagetimedout", "invalidtopic"). A code the
 * original's librdkafka did not know gets librdkafka's name without '_', lowercased, in buf.
 * Returns a static string or buf. runs on: any thread. */
const char *kafka_err_word(int err, char *buf, size_t len);

/* At shutdown, after kafka_flush: takes every undelivered message back out of librdkafka
 * (their reports come with DELIVERY_PURGED) and returns how many are left. */
int kafka_purge(struct kafka *k, int timeout_ms);
/* How many partitions of topic name have a leader, as the last statistics said and keyless
 * batches use it (kafka_produce_batch); -1 while not known. For tests. */
int kafka_topic_leaders(struct kafka *k, const char *name);
/* Messages queued in librdkafka and not yet acknowledged or failed. */
int kafka_outq_len(struct kafka *k);

/* Waits up to timeout_ms for every queued message to be delivered or to fail; returns how
 * many are still undelivered. Call after kafka_stop. */
int kafka_flush(struct kafka *k, int timeout_ms);

/* Failure counts by error, for metrics: calls fn with kafka_err_word's word for each error
 * seen (failed deliveries and refused produces). */
void kafka_foreach_error(struct kafka *k, void (*fn)(const char *name, uint64_t n, void *arg),
                         void *arg);

/* Per-topic counts, for metrics: calls fn for every topic hotdog has produced to. produced:
 * handed to librdkafka; delivered: acknowledged; failed: delivery failed. */
void kafka_foreach_topic(struct kafka *k, void (*fn)(const char *topic, uint64_t produced,
                                                     uint64_t delivered, uint64_t failed, void *arg),
                         void *arg);

/* Produce-to-ack latency: four buckets per power of two from 64 us to ~18 minutes, so that
 * a quantile read from them is off by at most a quarter of its octave. Bucket i counts
 * deliveries below kafka_latency_bound_us(i) (and at or above bucket i-1's bound); the last
 * bucket counts the rest. */
#define KAFKA_LATENCY_OCTAVES 24
#define KAFKA_LATENCY_BUCKETS (KAFKA_LATENCY_OCTAVES * 4)
static inline uint64_t kafka_latency_bound_us(int i) {
    return ((uint64_t)64 << (i / 4)) * (uint64_t)(5 + i % 4) / 4;
}
/* The bucket of a latency of d us: d in [2^msb * (4+s)/4, 2^msb * (5+s)/4) is bucket
 * 4 * (msb - 6) + s, where s is the two bits after the most significant one. */
static inline int kafka_latency_bucket(uint64_t d) {
    if (d < 64) return 0;
    int msb = 63 - __builtin_clzll(d);
    int b = 4 * (msb - 6) + (int)((d >> (msb - 2)) & 3);
    return b < KAFKA_LATENCY_BUCKETS ? b : KAFKA_LATENCY_BUCKETS;
}
struct kafka_latency {
    uint64_t bucket[KAFKA_LATENCY_BUCKETS + 1]; /* not cumulative */
    uint64_t count, sum_us;
};
/* Copies the latency histogram since start. runs on: any thread. */
void kafka_latency(struct kafka *k, struct kafka_latency *out);

struct kafka_state {
    long outq;         /* messages in librdkafka not yet acknowledged or failed */
    long queue_max;    /* queue.buffering.max.messages */
    long brokers_up;   /* brokers in state UP at the last statistics */
    long rtt_avg_us;   /* their mean round-trip time */
    long outbuf_msgs;  /* messages in the brokers' output buffers, being sent */
    long stats_age_ms; /* age of those statistics; -1 before the first */
    long stalled_ms;   /* how long messages have waited with no delivery report; 0: none */
    int fatal;         /* the producer hit a fatal error (cause says which) */
    char cause[256];   /* the fatal error, else what kept brokers down last ("" if nothing) */
    int cause_names_it; /* cause is the fatal error, or an authentication or TLS failure */
};
/* A snapshot of the producer's state. runs on: any thread. */
void kafka_state(struct kafka *k, struct kafka_state *st);

/* 1 (with the reason in why) once the producer has hit a fatal error (rd_kafka_fatal_error,
 * e.g. an idempotence sequence broken beyond repair): it takes nothing more, and hotdog shuts
 * down so that it is restarted with a new one. runs on: any thread. */
int kafka_fatal(struct kafka *k, char *why, size_t len);

/* Replaces the SASL username and password for the next connections to brokers (a password
 * rotation without a restart; established connections stay). 0, or -1 with err set. */
int kafka_set_credentials(struct kafka *k, const char *user, const char *password, char *err,
                          size_t errlen);

/* librdkafka's version, as the library linked in reports it ("2.8.0"). */
const char *kafka_version(void);

/* The rd_kafka_t, for tests that drive librdkafka's mock cluster. */
void *kafka_handle(struct kafka *k);

void kafka_free(struct kafka *k);

#endif
