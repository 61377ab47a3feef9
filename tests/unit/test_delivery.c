/* test_delivery.c - unit tests for the delivery policy against a fake producer: every branch
 * (produced, queue full with each kind of source, spool staging and full spool, retriable,
 * permanent and refused failures, purge at shutdown in produce order, records from the spool)
 * without a broker. A real spool and dead-letter file in a temporary directory. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "deadletter.h"
#include "delivery.h"
#include "log.h"
#include "metrics.h"
#include "spool.h"
#include "test.h"

/* ---- the fake producer ---- */

#define FAKE_MAX 1024

struct queued {
    char topic[64], key[64], payload[256], headers[64];
    size_t topic_len, key_len, len, headers_len;
    int has_key;
    int64_t timestamp_ms;
    uint32_t part;
    unsigned slot;
    uint64_t seq;
    uint32_t ack;
    unsigned batch; /* which produce_batch call queued it (1, 2, ...); 0: produce */
};

static struct fake {
    struct delivery *d;
    int full;       /* produce says -ENOBUFS while set */
    int refuse;     /* produce refuses for good (reported as librdkafka would: REFUSED) */
    int limited;    /* the producer takes room more, then is full */
    unsigned room;
    const char *too_large; /* produce_batch refuses a record with this payload for good */
    unsigned batches; /* produce_batch calls that queued something */
    int threads;    /* producer thread states alive */
    struct queued q[FAKE_MAX];
    _Atomic size_t nq; /* the spool replayer produces too: filled, then counted */
    uint64_t seq;
} fake;

static void *fake_thread_new(void *arg) {
    (void)arg;
    fake.threads++;
    return &fake;
}

static void fake_thread_free(void *ts) {
    (void)ts;
    fake.threads--;
}

/* Topics starting with "bad" are names the producer would refuse. */
static int bad_topic(const struct record *r) { return r->topic_len >= 3 && !memcmp(r->topic, "bad", 3); }

static void report_refused(const struct record *r, unsigned slot, const char *name) {
    delivery_report(fake.d, &(struct delivery_report){.rec = r, .err = 1, .err_name = name,
                                                      .err_text = "refused by the fake",
                                                      .flags = DELIVERY_REFUSED | DELIVERY_PERMANENT,
                                                      .slot = slot, .ack = r->ack, .seq = r->seq});
}

static int fake_check(void *ts, const struct record *r, unsigned slot) {
    (void)ts;
    if (!bad_topic(r)) return 0;
    report_refused(r, slot, "TOPIC_EXCEPTION");
    return -EINVAL;
}

static int fake_produce(void *ts, const struct record *r, unsigned slot) {
    if (fake_check(ts, r, slot) < 0) return -EINVAL;
    if (fake.full || (fake.limited && !fake.room)) return -ENOBUFS;
    if (fake.limited) fake.room--;
    if (fake.refuse) {
        report_refused(r, slot, "MSG_SIZE_TOO_LARGE");
        return -EMSGSIZE;
    }
    size_t i = fake.nq;
    ASSERT(i < FAKE_MAX);
    struct queued *q = &fake.q[i];
    memset(q, 0, sizeof *q);
    ASSERT(r->topic_len < sizeof q->topic && r->len < sizeof q->payload && r->key_len < sizeof q->key &&
           r->headers_len < sizeof q->headers);
    memcpy(q->topic, r->topic, q->topic_len = r->topic_len);
    memcpy(q->payload, r->payload, q->len = r->len);
    if ((q->has_key = r->key != NULL)) memcpy(q->key, r->key, q->key_len = r->key_len);
    if ((q->headers_len = r->headers_len)) memcpy(q->headers, r->headers, r->headers_len);
    q->timestamp_ms = r->timestamp_ms;
    q->part = r->part;
    q->slot = slot;
    q->seq = r->ack ? r->seq : ++fake.seq << 16; /* as kafka.c: an acked record brings its own */
    q->ack = r->ack;
    fake.nq = i + 1;
    return 0;
}

/* As librdkafka's rd_kafka_produce_batch: in order, stops at the first record it has no room
 * for; the records it takes are stamped by the producer (timestamp 0 here). */
static unsigned fake_produce_batch(void *ts, const struct record *rs, unsigned n, unsigned *failed) {
    unsigned i = 0, queued = 0;
    *failed = 0;
    for (; i < n; i++) {
        const struct record *r = &rs[i];
        ASSERT(!r->headers_len && !r->ack && !r->part);
        if (fake.full || (fake.limited && !fake.room)) break;
        if (bad_topic(r)) {
            report_refused(r, 0, "TOPIC_EXCEPTION");
            ++*failed;
            continue;
        }
        if (fake.too_large && r->len == strlen(fake.too_large) && !memcmp(r->payload, fake.too_large, r->len)) {
            report_refused(r, 0, "MSG_SIZE_TOO_LARGE");
            ++*failed;
            continue;
        }
        ASSERT_EQ_INT(fake_produce(ts, r, 0), 0);
        fake.q[fake.nq - 1].timestamp_ms = 0;
        fake.q[fake.nq - 1].batch = fake.batches + 1;
        queued++;
    }
    if (queued) fake.batches++;
    return i;
}

static struct record rec_of(struct queued *q) {
    return (struct record){.topic = q->topic, .topic_len = q->topic_len, .key = q->has_key ? q->key : NULL,
                           .key_len = q->key_len, .payload = q->payload, .len = q->len,
                           .headers = q->headers_len ? q->headers : NULL, .headers_len = q->headers_len,
                           .timestamp_ms = q->timestamp_ms, .part = q->part};
}

/* Reports queued message i's fate: err 0 acknowledged, else failed with flags. */
static void fake_report(size_t i, int err, unsigned flags) {
    struct record r = rec_of(&fake.q[i]);
    delivery_report(fake.d, &(struct delivery_report){.rec = &r, .err = err, .err_name = err ? "_MSG_TIMED_OUT" : NULL,
                                                      .err_text = err ? "Local: Message timed out" : NULL,
                                                      .flags = flags, .seq = fake.q[i].seq,
                                                      .slot = fake.q[i].slot, .ack = fake.q[i].ack});
}

/* Takes everything back, reporting it purged on partition 1 + i % 3, partition by partition
 * (librdkafka's order, not the produce order). */
static int fake_purge(void *arg, int timeout_ms) {
    (void)arg;
    (void)timeout_ms;
    for (uint32_t p = 1; p <= 3; p++)
        for (size_t i = 0; i < fake.nq; i++) {
            if (1 + i % 3 != p) continue;
            fake.q[i].part = p;
            fake_report(i, 2, DELIVERY_PURGED);
        }
    fake.nq = 0;
    return 0;
}

static const struct delivery_producer fake_producer = {
    .arg = &fake, .thread_new = fake_thread_new, .thread_free = fake_thread_free,
    .produce = fake_produce, .produce_batch = fake_produce_batch, .check_topic = fake_check,
    .purge = fake_purge};

/* ---- fixture: metrics, a spool and a dead-letter file in a temporary directory ---- */

static struct fx {
    char dir[64], dl_path[128];
    struct spool *spool;
    struct deadletter *dl;
    struct delivery_lane *lane;
    uint64_t base[M_COUNT];
} fx;

static void fx_down(void) {
    if (fx.lane) delivery_lane_free(fx.lane);
    fx.lane = NULL;
    if (fake.d) delivery_free(fake.d);
    fake.d = NULL;
    if (fx.spool) spool_close(fx.spool);
    fx.spool = NULL;
    if (fx.dl) deadletter_close(fx.dl);
    fx.dl = NULL;
    if (fx.dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", fx.dir);
        if (system(cmd) != 0) fprintf(stderr, "  cannot remove %s\n", fx.dir);
        fx.dir[0] = 0;
    }
}

struct setup {
    int spool;          /* with a spool */
    int always;         /* mode: always */
    uint64_t max_bytes; /* the spool's bound (0: 64 MiB) */
    int dl;             /* with a dead-letter file */
};

static void fx_up(struct setup s) {
    static int once;
    if (!once) {
        once = 1;
        if (!getenv("HOTDOG_TEST_LOG")) log_set_level(L_OFF);
        ASSERT(metrics_init(1) == 0);
        atexit(fx_down);
    }
    fx_down();
    memset(&fake, 0, sizeof fake);
    strcpy(fx.dir, "/tmp/test_delivery.XXXXXX");
    ASSERT(mkdtemp(fx.dir) != NULL);
    char err[512] = "";
    if (s.spool) {
        char path[128];
        snprintf(path, sizeof path, "%s/spool", fx.dir);
        struct spool_opts o = {.path = path, .max_bytes = s.max_bytes ? s.max_bytes : 64u << 20,
                               .segment_bytes = 1u << 20, .fsync = SPOOL_FSYNC_NEVER,
                               .mode = s.always ? SPOOL_ALWAYS : SPOOL_OVERFLOW};
        fx.spool = spool_open(&o, err, sizeof err);
        ASSERT(fx.spool != NULL);
    }
    if (s.dl) {
        snprintf(fx.dl_path, sizeof fx.dl_path, "%s/dead.jsonl", fx.dir);
        fx.dl = deadletter_open(fx.dl_path, err, sizeof err);
        ASSERT(fx.dl != NULL);
    }
    fake.d = delivery_new(&(struct delivery_opts){.spool = fx.spool, .dl = fx.dl, .spool_always = s.always});
    delivery_attach(fake.d, &fake_producer);
    fx.lane = delivery_lane_new(fake.d, 0, metrics_shard(0));
    for (int c = 0; c < M_COUNT; c++) fx.base[c] = metrics_get((enum metrics_counter)c);
}

/* How much counter c grew since fx_up. */
static uint64_t grew(enum metrics_counter c) { return metrics_get(c) - fx.base[c]; }

static uint64_t spooled_records(void) {
    struct spool_stats st;
    spool_stats(fx.spool, &st);
    return st.appended;
}

static int dead_lines(void) {
    FILE *f = fopen(fx.dl_path, "r");
    if (!f) return 0;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

static struct record line(const char *topic, const char *payload, enum record_source src) {
    return (struct record){.topic = topic, .topic_len = strlen(topic), .payload = payload,
                           .len = strlen(payload), .timestamp_ms = 1700000000123, .source = src};
}

/* ---- the policy, branch by branch ---- */

TEST(a_record_the_producer_takes_is_counted_produced_and_nothing_else) {
    fx_up((struct setup){.spool = 1, .dl = 1});
    struct record r = line("logs", "hello", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), 0);
    ASSERT_EQ_INT(fake.nq, 1);
    ASSERT_EQ_MEM(fake.q[0].payload, fake.q[0].len, "hello");
    ASSERT_EQ_INT(fake.q[0].timestamp_ms, 1700000000123);
    fake_report(0, 0, 0);
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCED), 1);
    ASSERT_EQ_INT(spooled_records(), 0);
    ASSERT_EQ_INT(dead_lines(), 0);
    ASSERT_EQ_INT(grew(M_LOST), 0);
}

TEST(queue_full_holds_a_copy_for_a_source_that_can_wait_and_retry_sends_it_unchanged) {
    fx_up((struct setup){.spool = 1});
    char payload[] = "original", key[] = "k1";
    struct buf hb = {0};
    record_header_add(&hb, "host", 4, "web1", 4);
    struct record r = line("logs", payload, RECORD_TCP);
    r.key = key;
    r.key_len = 2;
    r.headers = hb.p;
    r.headers_len = hb.len;
    fake.full = 1;
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), -ENOBUFS);
    memcpy(payload, "CHANGED!", 8); /* the rules reuse their buffers for the next message */
    memcpy(key, "XX", 2);
    memset(hb.p, 'Z', hb.len);
    ASSERT_EQ_INT(delivery_retry(fx.lane), -1); /* still full */
    ASSERT_EQ_INT(fake.nq, 0);
    fake.full = 0;
    ASSERT_EQ_INT(delivery_retry(fx.lane), 0);
    ASSERT_EQ_INT(fake.nq, 1);
    ASSERT_EQ_MEM(fake.q[0].payload, fake.q[0].len, "original");
    ASSERT_EQ_MEM(fake.q[0].key, fake.q[0].key_len, "k1");
    struct record_header h;
    size_t off = 0;
    ASSERT_EQ_INT(record_header_next(fake.q[0].headers, fake.q[0].headers_len, &off, &h), 1);
    ASSERT_EQ_MEM(h.name, h.name_len, "host");
    ASSERT_EQ_MEM(h.value, h.value_len, "web1");
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCED), 1); /* once, however many retries */
    ASSERT_EQ_INT(delivery_retry(fx.lane), 0); /* nothing held any more */
    ASSERT_EQ_INT(fake.nq, 1);
    buf_free(&hb);
}

TEST(queue_full_drops_and_counts_for_backpressure_false_without_a_spool) {
    fx_up((struct setup){0});
    struct record r = line("logs", "x", RECORD_TCP);
    fake.full = 1;
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 1), 0);
    ASSERT_EQ_INT(grew(M_OVERFLOW_DROPPED), 1);
    ASSERT_EQ_INT(grew(M_LOST), 1);
    ASSERT_EQ_INT(delivery_retry(fx.lane), 0); /* nothing held */
}

TEST(queue_full_holds_a_datagram_without_a_spool_so_the_batch_waits) {
    fx_up((struct setup){0});
    struct record r = line("logs", "dgram", RECORD_UDP);
    fake.full = 1;
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 1), -ENOBUFS);
    ASSERT_EQ_INT(grew(M_LOST), 0);
    fake.full = 0;
    ASSERT_EQ_INT(delivery_retry(fx.lane), 0);
    ASSERT_EQ_INT(fake.nq, 1);
}

TEST(queue_full_stages_what_cannot_wait_for_the_spool_and_flush_commits_it) {
    fx_up((struct setup){.spool = 1});
    struct record a = line("logs", "a", RECORD_UDP), b = line("logs", "b", RECORD_UDP);
    fake.full = 1;
    ASSERT_EQ_INT(delivery_submit(fx.lane, &a, 1), 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &b, 1), 0);
    ASSERT_EQ_INT(delivery_staged(fx.lane), 2);
    ASSERT_EQ_INT(spooled_records(), 0); /* one write per read, not per message */
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    ASSERT_EQ_INT(spooled_records(), 2);
    ASSERT_EQ_INT(grew(M_SPOOLED), 2);
    ASSERT_EQ_INT(delivery_staged(fx.lane), 0);
}

TEST(while_the_spool_holds_a_backlog_what_cannot_wait_goes_behind_it_to_keep_order) {
    fx_up((struct setup){.spool = 1});
    struct record old = line("logs", "older", RECORD_UDP);
    ASSERT_EQ_INT(spool_append(fx.spool, &old), 0); /* not replayed yet: a backlog */
    struct record r = line("logs", "newer", RECORD_UDP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 1), 0);
    ASSERT_EQ_INT(fake.nq, 0); /* not produced ahead of the older one */
    ASSERT_EQ_INT(delivery_staged(fx.lane), 1);
    struct record t = line("logs", "tcp", RECORD_TCP); /* a source that can wait is not spooled */
    ASSERT_EQ_INT(delivery_submit(fx.lane, &t, 0), 0);
    ASSERT_EQ_INT(fake.nq, 1);
}

TEST(mode_always_stages_everything_but_never_a_topic_the_producer_would_refuse) {
    fx_up((struct setup){.spool = 1, .always = 1, .dl = 1});
    struct record r = line("logs", "kept", RECORD_TCP), bad = line("bad topic", "refused", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &bad, 0), 0);
    ASSERT_EQ_INT(fake.nq, 0);
    ASSERT_EQ_INT(delivery_staged(fx.lane), 1);
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCE_ERROR), 1);
    ASSERT_EQ_INT(dead_lines(), 1); /* refused for good: dead-lettered, not spooled */
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    ASSERT_EQ_INT(spooled_records(), 1);
}

TEST(a_full_spool_keeps_the_records_of_a_source_that_can_wait_staged) {
    fx_up((struct setup){.spool = 1, .always = 1, .max_bytes = 300});
    char big[150];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    struct record a = line("logs", big, RECORD_TCP), b = line("logs", big, RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &a, 0), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &b, 0), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), -1); /* full: the caller pauses */
    ASSERT_EQ_INT(delivery_staged(fx.lane), 1);
    ASSERT_EQ_INT(delivery_retry(fx.lane), -1);
    ASSERT_EQ_INT(grew(M_LOST), 0);
    ASSERT_EQ_INT(delivery_discard(fx.lane), 1); /* a shutdown deadline gives it up, counted */
    ASSERT_EQ_INT(delivery_staged(fx.lane), 0);
}

TEST(a_full_spool_drops_and_counts_the_records_of_a_source_that_cannot_wait) {
    fx_up((struct setup){.spool = 1, .always = 1, .max_bytes = 100});
    char big[150];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    struct record r = line("logs", big, RECORD_UDP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 1), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    ASSERT_EQ_INT(grew(M_SPOOL_FULL_DROPPED), 1);
    ASSERT_EQ_INT(grew(M_LOST), 1);
    ASSERT_EQ_INT(delivery_staged(fx.lane), 0);
}

TEST(a_full_spool_never_drops_a_stage_that_holds_a_record_that_can_wait) {
    /* A datagram staged after a RELP/TCP record must not make the whole stage droppable: the
     * record that can wait would be lost and, for RELP, answered 200. */
    fx_up((struct setup){.spool = 1, .always = 1, .max_bytes = 100});
    char big[150];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    struct record t = line("logs", big, RECORD_TCP), u = line("logs", big, RECORD_UDP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &t, 0), 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &u, 1), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), -1); /* kept: the caller pauses */
    ASSERT_EQ_INT(delivery_staged(fx.lane), 2);
    ASSERT_EQ_INT(grew(M_LOST), 0);
    ASSERT_EQ_INT(delivery_discard(fx.lane), 2);
}

TEST(a_retriable_failure_goes_back_to_the_spool) {
    fx_up((struct setup){.spool = 1, .dl = 1});
    struct record r = line("logs", "again", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), 0);
    fake.q[0].part = 3; /* the partition it failed on is not kept: the partitioner chooses again */
    fake_report(0, 1, 0);
    ASSERT_EQ_INT(grew(M_RESPOOLED), 1);
    ASSERT_EQ_INT(spooled_records(), 1);
    ASSERT_EQ_INT(dead_lines(), 0);
}

TEST(a_retriable_failure_without_a_spool_is_dead_lettered_and_without_either_lost) {
    fx_up((struct setup){.dl = 1});
    struct record r = line("logs", "failed", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), 0);
    fake_report(0, 1, 0);
    ASSERT_EQ_INT(dead_lines(), 1);
    ASSERT_EQ_INT(grew(M_DEAD_LETTERED), 1);
    fx_up((struct setup){0});
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), 0);
    fake_report(0, 1, 0);
    ASSERT_EQ_INT(grew(M_LOST), 1);
}

TEST(a_permanent_failure_is_dead_lettered_not_respooled) {
    fx_up((struct setup){.spool = 1, .dl = 1});
    struct record r = line("logs", "too big", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), 0);
    fake_report(0, 1, DELIVERY_PERMANENT);
    ASSERT_EQ_INT(spooled_records(), 0);
    ASSERT_EQ_INT(dead_lines(), 1);
    ASSERT_EQ_INT(grew(M_DEAD_LETTERED), 1);
}

TEST(a_record_refused_before_it_was_queued_is_dead_lettered_and_counted) {
    fx_up((struct setup){.spool = 1, .dl = 1});
    fake.refuse = 1;
    struct record r = line("logs", "refused", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), 0);
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCE_ERROR), 1);
    ASSERT_EQ_INT(spooled_records(), 0);
    ASSERT_EQ_INT(dead_lines(), 1);
    struct record bad = line("bad", "invalid topic", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &bad, 0), 0);
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCE_ERROR), 2);
    ASSERT_EQ_INT(dead_lines(), 2);
}

/* What a spool replay hands out, in order. */
static struct got {
    char payload[FAKE_MAX][64];
    uint32_t part[FAKE_MAX];
    int64_t ts[FAKE_MAX];
    _Atomic int n;
} got;

static int collect(void *arg, const struct record *r, unsigned slot) {
    struct spool *s = arg;
    int i = atomic_load(&got.n);
    snprintf(got.payload[i], sizeof got.payload[i], "%.*s", (int)r->len, r->payload);
    got.part[i] = r->part;
    got.ts[i] = r->timestamp_ms;
    atomic_store(&got.n, i + 1);
    spool_resolve(s, slot);
    return 0;
}

static void replay_all(int want) {
    memset(&got, 0, sizeof got);
    ASSERT_EQ_INT(spool_start(fx.spool, collect, fx.spool), 0);
    for (int i = 0; i < 500 && atomic_load(&got.n) < want; i++) usleep(10000);
    spool_stop(fx.spool);
    ASSERT_EQ_INT(atomic_load(&got.n), want);
}

TEST(the_purge_at_shutdown_spools_in_produce_order_with_each_partition_kept) {
    fx_up((struct setup){.spool = 1});
    char p[16][16];
    for (int i = 0; i < 12; i++) {
        snprintf(p[i], sizeof p[i], "m%02d", i);
        struct record r = line("logs", p[i], RECORD_TCP);
        ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), 0);
    }
    ASSERT_EQ_INT(delivery_shutdown(fake.d, 100), 0);
    ASSERT_EQ_INT(grew(M_RESPOOLED), 12);
    replay_all(12);
    for (int i = 0; i < 12; i++) {
        ASSERT_EQ_STR(got.payload[i], p[i]);     /* produce order, not the purge's */
        ASSERT_EQ_INT(got.part[i], 1 + i % 3);   /* replayed to the partition it was on */
        ASSERT_EQ_INT(got.ts[i], 1700000000123); /* and with its timestamp */
    }
}

TEST(a_record_from_the_spool_is_resolved_once_acknowledged_or_dealt_with) {
    fx_up((struct setup){.spool = 1, .dl = 1});
    for (int i = 0; i < 3; i++) {
        char pl[16];
        snprintf(pl, sizeof pl, "s%d", i);
        struct record r = line("logs", pl, RECORD_SPOOL);
        ASSERT_EQ_INT(spool_append(fx.spool, &r), 0);
    }
    ASSERT_EQ_INT(spool_start(fx.spool, delivery_replay, fake.d), 0);
    for (int i = 0; i < 500 && fake.nq < 3; i++) usleep(10000);
    spool_stop(fx.spool);
    ASSERT_EQ_INT(fake.nq, 3);
    ASSERT(fake.q[0].slot != 0);
    ASSERT_EQ_INT(fake.threads, 2); /* the lane's and the replayer's own */
    fake_report(0, 0, 0);                  /* acknowledged */
    fake_report(1, 1, DELIVERY_PERMANENT); /* dead-lettered */
    fake_report(2, 2, DELIVERY_PURGED);    /* a fatal error's purge while running: respooled */
    struct spool_stats st;
    spool_stats(fx.spool, &st);
    ASSERT_EQ_INT(st.resolved, 3);
    ASSERT_EQ_INT(st.appended, 3 + 1);
    ASSERT_EQ_INT(dead_lines(), 1);
}

TEST(without_a_spool_shutdown_leaves_the_producer_alone) {
    fx_up((struct setup){0});
    struct record r = line("logs", "x", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &r, 0), 0);
    ASSERT_EQ_INT(delivery_shutdown(fake.d, 100), 0);
    ASSERT_EQ_INT(fake.nq, 1); /* not purged: main counts it as undelivered */
}

/* ---- fates told to the ack lane (RELP) ---- */

static struct told {
    uint32_t ack;
    uint64_t seq;
    enum delivery_ack v;
} told[16];
static int ntold;

static void ack_sink(void *arg, uint32_t ack, uint64_t seq, enum delivery_ack v) {
    ASSERT(arg == &fake);
    ASSERT(ntold < 16);
    told[ntold++] = (struct told){ack, seq, v};
}

/* An acked record as a RELP worker submits it: lane 3, a seq from the lane. */
static struct record acked(const char *payload) {
    struct record r = line("logs", payload, RECORD_TCP);
    r.ack = 3;
    r.seq = delivery_lane_seq(fx.lane);
    return r;
}

TEST(every_fate_of_an_acked_record_is_told_to_its_lane_with_its_seq) {
    fx_up((struct setup){.dl = 1});
    ntold = 0;
    delivery_set_ack(fake.d, ack_sink, &fake);
    struct record a = acked("a"), b = acked("b"), c = acked("c");
    ASSERT((int64_t)(b.seq - a.seq) > 0 && (int64_t)(c.seq - b.seq) > 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &a, 0), 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &b, 0), 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &c, 0), 0);
    ASSERT_EQ_INT(fake.q[1].seq, b.seq); /* produced with the seq the lane gave it */
    fake_report(1, 0, 0);                /* acknowledged: out of order is fine */
    fake_report(0, 1, DELIVERY_PERMANENT); /* failed for good: dead-lettered, final */
    fake_report(2, 1, 0);                  /* retriable, no spool: dead-lettered too */
    ASSERT_EQ_INT(ntold, 3);
    ASSERT_EQ_INT(told[0].ack, 3);
    ASSERT(told[0].seq == b.seq && told[0].v == DELIVERY_ACK_OK);
    ASSERT(told[1].seq == a.seq && told[1].v == DELIVERY_ACK_OK);
    ASSERT(told[2].seq == c.seq && told[2].v == DELIVERY_ACK_OK);
    /* Without a dead-letter file: a permanent failure is refused (rsp 500), a retriable one
     * lost (the session is closed so that the sender resends). */
    fx_up((struct setup){0});
    ntold = 0;
    delivery_set_ack(fake.d, ack_sink, &fake);
    a = acked("a");
    b = acked("b");
    ASSERT_EQ_INT(delivery_submit(fx.lane, &a, 0), 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &b, 0), 0);
    fake_report(0, 1, DELIVERY_PERMANENT);
    fake_report(1, 1, 0);
    ASSERT_EQ_INT(ntold, 2);
    ASSERT(told[0].seq == a.seq && told[0].v == DELIVERY_ACK_REFUSED);
    ASSERT(told[1].seq == b.seq && told[1].v == DELIVERY_ACK_LOST);
    /* Refused before it was queued: told at once, on the producing thread. */
    fake.refuse = 1;
    c = acked("c");
    ASSERT_EQ_INT(delivery_submit(fx.lane, &c, 0), 0);
    ASSERT_EQ_INT(ntold, 3);
    ASSERT(told[2].seq == c.seq && told[2].v == DELIVERY_ACK_REFUSED);
    /* A record without an ack lane is never told. */
    fake.refuse = 0;
    struct record plain = line("logs", "plain", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &plain, 0), 0);
    fake_report(fake.nq - 1, 0, 0);
    ASSERT_EQ_INT(ntold, 3);
}

TEST(a_held_acked_record_keeps_its_seq_and_a_retriable_failure_respooled_is_final) {
    fx_up((struct setup){.spool = 1});
    ntold = 0;
    delivery_set_ack(fake.d, ack_sink, &fake);
    fake.full = 1;
    struct record a = acked("held");
    ASSERT_EQ_INT(delivery_submit(fx.lane, &a, 0), -ENOBUFS);
    fake.full = 0;
    ASSERT_EQ_INT(delivery_retry(fx.lane), 0);
    ASSERT_EQ_INT(fake.q[0].seq, a.seq);
    ASSERT_EQ_INT(fake.q[0].ack, 3);
    fake_report(0, 1, 0);
    ASSERT_EQ_INT(grew(M_RESPOOLED), 1);
    ASSERT_EQ_INT(ntold, 1);
    ASSERT(told[0].seq == a.seq && told[0].v == DELIVERY_ACK_OK);
}

TEST(a_spool_write_holding_an_acked_record_is_synced_before_its_fate_is_told) {
    fx_up((struct setup){.spool = 1, .always = 1}); /* the fixture's spool: fsync never */
    struct spool_stats st;
    struct record t = line("logs", "plain", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &t, 0), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    spool_stats(fx.spool, &st);
    ASSERT_EQ_INT(st.syncs, 0);
    struct record a = acked("relp"), u = line("logs", "udp", RECORD_UDP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &a, 0), 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &u, 1), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    spool_stats(fx.spool, &st);
    ASSERT_EQ_INT(st.syncs, 1);
    ASSERT_EQ_INT(spooled_records(), 3);
}

/* ---- batches: what a read brings is gathered and handed over in one call ---- */

/* A record as the worker makes it for timestamp: receive (the producer may stamp it). */
static struct record read_line(const char *topic, const char *payload, enum record_source src) {
    struct record r = line(topic, payload, src);
    r.ts_read = 1;
    return r;
}

/* Submits "<prefix><i>" for i in [from, to), each from a buffer reused (and scribbled over)
 * after the call, as the rules reuse theirs. Returns the first result that was not 0. */
static int submit_range(const char *prefix, int from, int to, enum record_source src, int spill) {
    char b[32];
    for (int i = from; i < to; i++) {
        snprintf(b, sizeof b, "%s%d", prefix, i);
        struct record r = read_line("logs", b, src);
        int e = delivery_submit(fx.lane, &r, spill);
        memset(b, '#', sizeof b - 1);
        if (e) return e;
    }
    return 0;
}

static void assert_produced_in_order(const char *prefix, int from, int to, size_t at) {
    char b[32];
    for (int i = from; i < to; i++, at++) {
        snprintf(b, sizeof b, "%s%d", prefix, i);
        ASSERT(at < fake.nq);
        ASSERT_EQ_MEM(fake.q[at].payload, fake.q[at].len, b);
    }
}

TEST(a_reads_records_go_to_the_producer_in_one_batch_at_the_flush_in_order) {
    fx_up((struct setup){.spool = 1});
    ASSERT_EQ_INT(submit_range("m", 0, 10, RECORD_TCP, 0), 0);
    ASSERT_EQ_INT(fake.nq, 0); /* gathered, copied */
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCED), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    ASSERT_EQ_INT(fake.nq, 10);
    ASSERT_EQ_INT(fake.batches, 1);
    assert_produced_in_order("m", 0, 10, 0);
    ASSERT_EQ_INT(fake.q[0].batch, 1);
    ASSERT_EQ_INT(fake.q[0].timestamp_ms, 0); /* stamped by the producer */
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCED), 10);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0); /* nothing more */
    ASSERT_EQ_INT(fake.nq, 10);
}

TEST(a_long_read_is_handed_over_every_256_records_without_waiting_for_the_flush) {
    fx_up((struct setup){0});
    ASSERT_EQ_INT(submit_range("m", 0, 600, RECORD_TCP, 0), 0);
    ASSERT_EQ_INT(fake.nq, 512);
    ASSERT_EQ_INT(fake.batches, 2);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    ASSERT_EQ_INT(fake.nq, 600);
    assert_produced_in_order("m", 0, 600, 0);
}

TEST(a_full_producer_keeps_the_refused_tail_in_order_and_the_retry_sends_it_stamped_as_read) {
    fx_up((struct setup){.spool = 1});
    fake.limited = 1;
    fake.room = 4;
    ASSERT_EQ_INT(submit_range("m", 0, 10, RECORD_TCP, 0), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), -1); /* the caller pauses */
    ASSERT_EQ_INT(fake.nq, 4);
    ASSERT_EQ_INT(delivery_held(fx.lane), 6);
    ASSERT_EQ_INT(delivery_staged(fx.lane), 0); /* a source that can wait is not spooled */
    /* Anything submitted meanwhile goes behind them. */
    ASSERT_EQ_INT(submit_range("m", 10, 11, RECORD_TCP, 0), -ENOBUFS);
    ASSERT_EQ_INT(delivery_retry(fx.lane), -1);
    ASSERT_EQ_INT(fake.nq, 4);
    fake.room = 3;
    ASSERT_EQ_INT(delivery_retry(fx.lane), -1);
    ASSERT_EQ_INT(fake.nq, 7);
    fake.limited = 0;
    ASSERT_EQ_INT(delivery_retry(fx.lane), 0);
    ASSERT_EQ_INT(fake.nq, 11);
    assert_produced_in_order("m", 0, 11, 0);
    ASSERT_EQ_INT(fake.q[4].batch, 0); /* refused once: produced alone, with its read's time */
    ASSERT_EQ_INT(fake.q[4].timestamp_ms, 1700000000123);
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCED), 11); /* once each */
    ASSERT_EQ_INT(delivery_held(fx.lane), 0);
    ASSERT_EQ_INT(grew(M_LOST), 0);
}

TEST(a_full_producer_spools_what_cannot_wait_of_a_batch_and_drops_it_without_a_spool) {
    fx_up((struct setup){.spool = 1});
    fake.limited = 1;
    fake.room = 2;
    ASSERT_EQ_INT(submit_range("u", 0, 5, RECORD_UDP, 1), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0); /* nothing held: the source need not wait */
    ASSERT_EQ_INT(fake.nq, 2);
    ASSERT_EQ_INT(grew(M_SPOOLED), 3);
    ASSERT_EQ_INT(spooled_records(), 3);
    fx_up((struct setup){0});
    fake.limited = 1;
    fake.room = 2;
    ASSERT_EQ_INT(submit_range("t", 0, 5, RECORD_TCP, 1), 0); /* backpressure: false */
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    ASSERT_EQ_INT(grew(M_OVERFLOW_DROPPED), 3);
    ASSERT_EQ_INT(grew(M_LOST), 3);
    fx_up((struct setup){0});
    fake.limited = 1;
    fake.room = 2;
    ASSERT_EQ_INT(submit_range("d", 0, 5, RECORD_UDP, 1), 0); /* datagrams without a spool wait */
    ASSERT_EQ_INT(delivery_flush(fx.lane), -1);
    ASSERT_EQ_INT(delivery_held(fx.lane), 3);
    fake.limited = 0;
    ASSERT_EQ_INT(delivery_retry(fx.lane), 0);
    assert_produced_in_order("d", 0, 5, 0);
    ASSERT_EQ_INT(grew(M_LOST), 0);
}

TEST(a_full_producer_at_the_256th_record_stops_the_read_there) {
    fx_up((struct setup){0});
    fake.limited = 1;
    fake.room = 100;
    ASSERT_EQ_INT(submit_range("m", 0, 300, RECORD_TCP, 0), -ENOBUFS);
    ASSERT_EQ_INT(fake.nq, 100);
    ASSERT_EQ_INT(delivery_held(fx.lane), 156); /* the 256th record included: not resubmitted */
    fake.limited = 0;
    ASSERT_EQ_INT(delivery_retry(fx.lane), 0);
    assert_produced_in_order("m", 0, 256, 0);
}

TEST(a_record_the_batch_cannot_carry_goes_after_the_records_gathered_before_it) {
    fx_up((struct setup){0});
    ASSERT_EQ_INT(submit_range("m", 0, 3, RECORD_TCP, 0), 0);
    struct buf hb = {0};
    record_header_add(&hb, "host", 4, "web1", 4);
    struct record h = read_line("logs", "with headers", RECORD_TCP);
    h.headers = hb.p;
    h.headers_len = hb.len;
    struct record m = line("logs", "own time", RECORD_TCP); /* timestamp: message */
    ASSERT_EQ_INT(delivery_submit(fx.lane, &h, 0), 0);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &m, 0), 0);
    ASSERT_EQ_INT(fake.nq, 5);
    assert_produced_in_order("m", 0, 3, 0);
    ASSERT_EQ_MEM(fake.q[3].payload, fake.q[3].len, "with headers");
    ASSERT_EQ_INT(fake.q[3].headers_len, hb.len);
    ASSERT_EQ_MEM(fake.q[4].payload, fake.q[4].len, "own time");
    ASSERT_EQ_INT(fake.q[4].timestamp_ms, 1700000000123);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    buf_free(&hb);
}

TEST(a_record_refused_for_good_inside_a_batch_is_dead_lettered_and_the_rest_produced) {
    fx_up((struct setup){.dl = 1});
    fake.too_large = "m2";
    ASSERT_EQ_INT(submit_range("m", 0, 5, RECORD_TCP, 0), 0);
    struct record bad = read_line("bad.topic", "invalid topic", RECORD_TCP);
    ASSERT_EQ_INT(delivery_submit(fx.lane, &bad, 0), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), 0);
    ASSERT_EQ_INT(fake.nq, 4);
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCED), 4);
    ASSERT_EQ_INT(grew(M_KAFKA_PRODUCE_ERROR), 2);
    ASSERT_EQ_INT(dead_lines(), 2);
    ASSERT_EQ_MEM(fake.q[2].payload, fake.q[2].len, "m3");
}

TEST(discard_counts_the_gathered_and_the_held_records) {
    fx_up((struct setup){0});
    fake.full = 1;
    ASSERT_EQ_INT(submit_range("m", 0, 7, RECORD_TCP, 0), 0);
    ASSERT_EQ_INT(delivery_flush(fx.lane), -1);
    ASSERT_EQ_INT(delivery_discard(fx.lane), 7);
    ASSERT_EQ_INT(delivery_held(fx.lane), 0);
    fake.full = 0;
    ASSERT_EQ_INT(delivery_retry(fx.lane), 0);
    ASSERT_EQ_INT(fake.nq, 0);
    ASSERT_EQ_INT(submit_range("n", 0, 2, RECORD_TCP, 0), 0);
    ASSERT_EQ_INT(delivery_discard(fx.lane), 2); /* gathered, not yet handed over */
}

TEST_MAIN("test_delivery",
          TEST_ENTRY(a_spool_write_holding_an_acked_record_is_synced_before_its_fate_is_told),
          TEST_ENTRY(every_fate_of_an_acked_record_is_told_to_its_lane_with_its_seq),
          TEST_ENTRY(a_held_acked_record_keeps_its_seq_and_a_retriable_failure_respooled_is_final),
          TEST_ENTRY(a_record_the_producer_takes_is_counted_produced_and_nothing_else),
          TEST_ENTRY(queue_full_holds_a_copy_for_a_source_that_can_wait_and_retry_sends_it_unchanged),
          TEST_ENTRY(queue_full_drops_and_counts_for_backpressure_false_without_a_spool),
          TEST_ENTRY(queue_full_holds_a_datagram_without_a_spool_so_the_batch_waits),
          TEST_ENTRY(queue_full_stages_what_cannot_wait_for_the_spool_and_flush_commits_it),
          TEST_ENTRY(while_the_spool_holds_a_backlog_what_cannot_wait_goes_behind_it_to_keep_order),
          TEST_ENTRY(mode_always_stages_everything_but_never_a_topic_the_producer_would_refuse),
          TEST_ENTRY(a_full_spool_keeps_the_records_of_a_source_that_can_wait_staged),
          TEST_ENTRY(a_full_spool_drops_and_counts_the_records_of_a_source_that_cannot_wait),
          TEST_ENTRY(a_full_spool_never_drops_a_stage_that_holds_a_record_that_can_wait),
          TEST_ENTRY(a_retriable_failure_goes_back_to_the_spool),
          TEST_ENTRY(a_retriable_failure_without_a_spool_is_dead_lettered_and_without_either_lost),
          TEST_ENTRY(a_permanent_failure_is_dead_lettered_not_respooled),
          TEST_ENTRY(a_record_refused_before_it_was_queued_is_dead_lettered_and_counted),
          TEST_ENTRY(the_purge_at_shutdown_spools_in_produce_order_with_each_partition_kept),
          TEST_ENTRY(a_record_from_the_spool_is_resolved_once_acknowledged_or_dealt_with),
          TEST_ENTRY(without_a_spool_shutdown_leaves_the_producer_alone),
          TEST_ENTRY(a_reads_records_go_to_the_producer_in_one_batch_at_the_flush_in_order),
          TEST_ENTRY(a_long_read_is_handed_over_every_256_records_without_waiting_for_the_flush),
          TEST_ENTRY(a_full_producer_keeps_the_refused_tail_in_order_and_the_retry_sends_it_stamped_as_read),
          TEST_ENTRY(a_full_producer_spools_what_cannot_wait_of_a_batch_and_drops_it_without_a_spool),
          TEST_ENTRY(a_full_producer_at_the_256th_record_stops_the_read_there),
          TEST_ENTRY(a_record_the_batch_cannot_carry_goes_after_the_records_gathered_before_it),
          TEST_ENTRY(a_record_refused_for_good_inside_a_batch_is_dead_lettered_and_the_rest_produced),
          TEST_ENTRY(discard_counts_the_gathered_and_the_held_records))
