/* test_kafka.c - unit tests for the producer module against librdkafka's mock cluster (an
 * in-process broker, test.mock.num.brokers): the order a shutdown purge writes to the spool,
 * the stall watch, fatal producer errors. Faults a real broker cannot produce on demand. */
#include <dirent.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "kafka.h"
#include "metrics.h"
#include "spool.h"
#include "test.h"

#define TOPIC "t"
#define PARTITIONS 8

static void sleep_ms(long ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL); }

struct fixture {
    struct config *cfg;
    struct kafka *k;
    struct delivery *d;
    struct kafka_topics *tc; /* the test thread's topic cache */
    rd_kafka_mock_cluster_t *mc;
    struct spool *s;
    struct spool_opts so;
    char dir[64];
};

/* extra: more keys of global.kafka; conf: more librdkafka settings ("k: v, ..." or ""). */
static void setup_conf(struct fixture *f, const char *extra, const char *conf) {
    char yml[1024], err[1024];
    memset(f, 0, sizeof *f);
    static int metrics_ready;
    if (!metrics_ready) metrics_ready = metrics_init(1) == 0;
    snprintf(yml, sizeof yml,
             "global:\n"
             "  listen: {address: 127.0.0.1, port: 1514}\n"
             "  kafka:\n"
             "    conf: {test.mock.num.brokers: 1, bootstrap.servers: unused:9092, linger.ms: 1%s%s}\n"
             "    topic: " TOPIC "\n"
             "%s"
             "rules: []\n",
             *conf ? ", " : "", conf, extra);
    f->cfg = config_load_string("k.yml", yml, strlen(yml), err, sizeof err);
    if (!f->cfg) fprintf(stderr, "  %s\n", err);
    ASSERT(f->cfg != NULL);
    snprintf(f->dir, sizeof f->dir, "/tmp/hotdog-test-kafka-XXXXXX");
    ASSERT(mkdtemp(f->dir) != NULL);
    f->so = (struct spool_opts){.path = f->dir, .max_bytes = 1u << 30, .segment_bytes = 1u << 20,
                                .fsync = SPOOL_FSYNC_NEVER, .fsync_interval_ms = 1000, .mode = SPOOL_OVERFLOW};
    f->s = spool_open(&f->so, err, sizeof err);
    if (!f->s) fprintf(stderr, "  spool_open: %s\n", err);
    ASSERT(f->s != NULL);
    f->d = delivery_new(&(struct delivery_opts){.spool = f->s});
    f->k = kafka_new(f->cfg, metrics_shard(0), delivery_report, f->d, err, sizeof err);
    if (!f->k) fprintf(stderr, "  %s\n", err);
    ASSERT(f->k != NULL);
    struct delivery_producer p;
    kafka_producer(f->k, &p);
    delivery_attach(f->d, &p);
    f->tc = kafka_topics_new(f->k);
    f->mc = rd_kafka_handle_mock_cluster(kafka_handle(f->k));
    ASSERT(f->mc != NULL);
    ASSERT_EQ_INT(rd_kafka_mock_topic_create(f->mc, TOPIC, PARTITIONS, 1), 0);
    ASSERT_EQ_INT(kafka_start(f->k), 0);
}

static void setup(struct fixture *f, const char *extra) { setup_conf(f, extra, ""); }

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static void teardown(struct fixture *f) {
    if (f->s) spool_close(f->s);
    kafka_topics_free(f->tc);
    kafka_free(f->k);
    delivery_free(f->d);
    config_free(f->cfg);
    remove_dir(f->dir);
}

static void produce(struct fixture *f, int seq) {
    char payload[32], key[16];
    int n = snprintf(payload, sizeof payload, "seq=%06d", seq);
    int kn = snprintf(key, sizeof key, "k%d", seq);
    struct buf hs = {0};
    record_header_add(&hs, "seq", 3, payload + 4, (size_t)n - 4);
    /* Keys spread the messages over every partition, as a real connection's lines spread. */
    struct record r = {.topic = TOPIC, .topic_len = strlen(TOPIC), .key = key, .key_len = (size_t)kn,
                       .payload = payload, .len = (size_t)n, .headers = hs.p, .headers_len = hs.len,
                       .timestamp_ms = 1700000000000 + seq};
    ASSERT_EQ_INT(kafka_produce(f->tc, &r, 0), 0);
    buf_free(&hs);
}

/* Waits until the producer has nothing queued: every message acknowledged (or failed). */
static void drain(struct fixture *f) {
    for (int i = 0; i < 3000 && kafka_outq_len(f->k) > 0; i++) sleep_ms(10);
    ASSERT_EQ_INT(kafka_outq_len(f->k), 0);
}

/* The replayer's callback in these tests: records each replayed payload's sequence number. */
struct replayed {
    struct spool *s;
    int seq[4096];
    unsigned part[4096];
    int64_t ts[4096];
    char header[4096][16]; /* "name=value" of the first header */
    _Atomic int n;
};

static int record_replay(void *arg, const struct record *r, unsigned slot) {
    struct replayed *rp = arg;
    char p[32];
    snprintf(p, sizeof p, "%.*s", (int)r->len, r->payload);
    int n = atomic_load(&rp->n);
    if (n < 4096) {
        rp->seq[n] = atoi(p + 4);
        rp->part[n] = r->part;
        rp->ts[n] = r->timestamp_ms;
        struct record_header h;
        size_t off = 0;
        if (record_header_next(r->headers, r->headers_len, &off, &h) == 1)
            snprintf(rp->header[n], sizeof rp->header[n], "%.*s=%.*s", (int)h.name_len, h.name,
                     (int)h.value_len, h.value ? h.value : "");
    }
    atomic_store(&rp->n, n + 1);
    spool_resolve(rp->s, slot);
    return 0;
}

/* Reopens the spool the fixture closed and replays it into rp, expecting `want` records. */
static void replay_spool(struct fixture *f, struct replayed *rp, int want) {
    char err[512];
    f->s = spool_open(&f->so, err, sizeof err);
    ASSERT(f->s != NULL);
    rp->s = f->s;
    ASSERT_EQ_INT(spool_start(f->s, record_replay, rp), 0);
    for (int i = 0; i < 3000 && atomic_load(&rp->n) < want; i++) sleep_ms(10);
    spool_stop(f->s);
    ASSERT_EQ_INT(atomic_load(&rp->n), want);
}

/* Found with a three-node cluster: messages purged at shutdown reached the spool partition by
 * partition (librdkafka's purge order), and the replay, which partitions them again, put a
 * connection's lines out of order within a partition. They must reach the spool in the order
 * they were produced. */
TEST(a_shutdown_purge_spools_messages_in_the_order_they_were_produced) {
    struct fixture f;
    setup(&f, "");
    produce(&f, 0); /* the topic's metadata is known: later messages go to their partitions */
    drain(&f);
    ASSERT_EQ_INT(rd_kafka_mock_broker_set_down(f.mc, 1), 0);
    enum { N = 2000 };
    for (int i = 1; i <= N; i++) produce(&f, i);
    sleep_ms(200); /* librdkafka moves them into their partitions' queues */
    kafka_stop(f.k);
    uint64_t respooled = metrics_get(M_RESPOOLED);
    ASSERT_EQ_INT(delivery_shutdown(f.d, 5000), 0);
    ASSERT_EQ_INT(metrics_get(M_RESPOOLED) - respooled, N);
    spool_close(f.s);
    static struct replayed rp;
    replay_spool(&f, &rp, N);
    for (int i = 0; i < N; i++) ASSERT_EQ_INT(rp.seq[i], i + 1);
    /* Each keeps the partition it was on, so that its replay keeps that partition's order. */
    for (int i = 0; i < N; i++) ASSERT(rp.part[i] >= 1 && rp.part[i] <= PARTITIONS);
    /* And its headers and timestamp, as librdkafka gave them back. */
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "seq=%06d", i + 1);
        ASSERT_EQ_STR(rp.header[i], want);
        ASSERT_EQ_INT(rp.ts[i], 1700000000000 + i + 1);
    }
    teardown(&f);
}

/* Messages wait and no delivery report comes for stall_timeout_ms: counted, shown in the state
 * /readyz reads; cleared once delivery resumes. */
TEST(a_stall_is_reported_and_cleared_when_delivery_resumes) {
    struct fixture f;
    setup(&f, "    stall_timeout_ms: 1000\n");
    produce(&f, 0);
    drain(&f);
    uint64_t stalls = metrics_get(M_KAFKA_STALLS);
    struct kafka_state st;
    kafka_state(f.k, &st);
    ASSERT_EQ_INT(st.stalled_ms, 0);
    ASSERT_EQ_INT(rd_kafka_mock_broker_set_down(f.mc, 1), 0);
    for (int i = 1; i <= 10; i++) produce(&f, i);
    for (int i = 0; i < 1000 && metrics_get(M_KAFKA_STALLS) == stalls; i++) sleep_ms(10);
    ASSERT_EQ_INT(metrics_get(M_KAFKA_STALLS) - stalls, 1);
    kafka_state(f.k, &st);
    ASSERT(st.stalled_ms >= 1000);
    ASSERT(st.outq >= 10);
    ASSERT_EQ_INT(rd_kafka_mock_broker_set_up(f.mc, 1), 0);
    drain(&f);
    for (int i = 0; i < 100 && st.stalled_ms; i++) {
        sleep_ms(20); /* the watch runs after each poll */
        kafka_state(f.k, &st);
    }
    ASSERT_EQ_INT(st.stalled_ms, 0);
    ASSERT_EQ_INT(metrics_get(M_KAFKA_STALLS) - stalls, 1); /* one stall, counted once */
    kafka_stop(f.k);
    teardown(&f);
}

/* A fatal producer error (the idempotent producer's sequence broken beyond repair): reported
 * with its cause; the producer takes nothing more (the caller holds the message, as for a full
 * queue); what librdkafka had queued is rescued into the spool, nothing is lost. */
TEST(a_fatal_error_is_reported_and_queued_messages_are_spooled) {
    struct fixture f;
    setup(&f, "");
    produce(&f, 0);
    drain(&f);
    ASSERT_EQ_INT(rd_kafka_mock_broker_set_down(f.mc, 1), 0);
    enum { N = 100 };
    for (int i = 1; i <= N; i++) produce(&f, i);
    sleep_ms(200);
    uint64_t respooled = metrics_get(M_RESPOOLED), lost = metrics_get(M_LOST),
             fatal = metrics_get(M_KAFKA_FATAL);
    char why[256];
    ASSERT_EQ_INT(kafka_fatal(f.k, why, sizeof why), 0);
    ASSERT_EQ_INT(rd_kafka_test_fatal_error(kafka_handle(f.k), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                            "a test's broken sequence"),
                  0);
    for (int i = 0; i < 500 && !kafka_fatal(f.k, why, sizeof why); i++) sleep_ms(10);
    ASSERT_EQ_INT(kafka_fatal(f.k, why, sizeof why), 1);
    ASSERT(strstr(why, "fatal producer error: ") == why);
    ASSERT(strstr(why, "a test's broken sequence") != NULL);
    ASSERT(strstr(why, "OUT_OF_ORDER_SEQUENCE_NUMBER") != NULL);
    ASSERT_EQ_INT(metrics_get(M_KAFKA_FATAL) - fatal, 1);
    struct kafka_state st;
    kafka_state(f.k, &st);
    ASSERT_EQ_INT(st.fatal, 1);
    ASSERT_EQ_STR(st.cause, why);
    /* The producer refuses new messages: held by the caller, not failed. */
    struct record after = {.topic = TOPIC, .topic_len = strlen(TOPIC), .payload = "after", .len = 5};
    ASSERT_EQ_INT(kafka_produce(f.tc, &after, 0), -ENOBUFS);
    /* What was queued comes back (purged by librdkafka) and goes to the spool. */
    for (int i = 0; i < 500 && metrics_get(M_RESPOOLED) - respooled < N; i++) sleep_ms(10);
    kafka_stop(f.k);
    ASSERT_EQ_INT(kafka_flush(f.k, 1000), 0);
    ASSERT_EQ_INT(metrics_get(M_RESPOOLED) - respooled, N);
    ASSERT_EQ_INT(metrics_get(M_LOST) - lost, 0);
    teardown(&f);
}

/* Topic-level settings (message.timeout.ms, partitioner, acks, ...) given in global.kafka.conf
 * go to librdkafka's default topic configuration; a topic handle made with a configuration of
 * its own ignored them, so hotdog's "message.timeout.ms: 0, never expire" did not hold (the
 * topics had librdkafka's 5 minutes) and a user's setting was silently dropped. */
TEST(topic_level_settings_of_the_config_reach_every_topic) {
    struct fixture f;
    setup_conf(&f, "", "message.timeout.ms: 700");
    produce(&f, 0);
    drain(&f);
    ASSERT_EQ_INT(rd_kafka_mock_broker_set_down(f.mc, 1), 0);
    uint64_t failed = metrics_get(M_KAFKA_FAILED), respooled = metrics_get(M_RESPOOLED);
    produce(&f, 1);
    /* The failure is counted before the report respools the message (both on librdkafka's
     * thread): wait for both, or a slow run (valgrind) reads the respool count too early. */
    for (int i = 0; i < 500 && (metrics_get(M_KAFKA_FAILED) == failed || metrics_get(M_RESPOOLED) == respooled);
         i++)
        sleep_ms(10);
    ASSERT_EQ_INT(metrics_get(M_KAFKA_FAILED) - failed, 1); /* timed out after 0.7 s */
    ASSERT_EQ_INT(metrics_get(M_RESPOOLED) - respooled, 1);   /* retriable: back to the spool */
    ASSERT_EQ_INT(rd_kafka_mock_broker_set_up(f.mc, 1), 0);
    kafka_stop(f.k);
    teardown(&f);
}

/* ---- keyless batches: one partition per batch, sticky as librdkafka's partitioner ---- */

/* The high watermark of every partition of TOPIC, read by a consumer on the mock cluster. */
static void watermarks(struct fixture *f, int64_t hi[PARTITIONS]) {
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    ASSERT(rd_kafka_conf_set(c, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(f->mc), err,
                             sizeof err) == RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    ASSERT(rk != NULL);
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t lo;
        ASSERT_EQ_INT(rd_kafka_query_watermark_offsets(rk, TOPIC, p, &lo, &hi[p], 5000), 0);
    }
    rd_kafka_destroy(rk);
}

/* Produces n records in one kafka_produce_batch call; keyed: each its own key. */
static void produce_batch(struct fixture *f, int n, int keyed) {
    static struct record rs[256];
    static char keys[256][16];
    ASSERT(n <= 256);
    for (int i = 0; i < n; i++) {
        int kn = snprintf(keys[i], sizeof keys[i], "key%d", i);
        rs[i] = (struct record){.topic = TOPIC, .topic_len = strlen(TOPIC), .payload = "batched", .len = 7,
                                .key = keyed ? keys[i] : NULL, .key_len = keyed ? (size_t)kn : 0};
    }
    unsigned failed = 9;
    ASSERT_EQ_INT(kafka_produce_batch(f->tc, rs, (unsigned)n, &failed), n);
    ASSERT_EQ_INT(failed, 0);
}

/* Until the statistics have said which partitions have a leader. */
static void wait_leaders(struct fixture *f) {
    produce(f, 0); /* the topic handle and its metadata */
    drain(f);
    for (int i = 0; i < 500 && kafka_topic_leaders(f->k, TOPIC) < 0; i++) sleep_ms(10);
    ASSERT_EQ_INT(kafka_topic_leaders(f->k, TOPIC), PARTITIONS);
}

/* How many partitions grew since before, and by how much the largest did. */
static int grown(const int64_t before[PARTITIONS], const int64_t after[PARTITIONS], int64_t *most) {
    int n = 0;
    *most = 0;
    for (int p = 0; p < PARTITIONS; p++)
        if (after[p] > before[p]) {
            n++;
            if (after[p] - before[p] > *most) *most = after[p] - before[p];
        }
    return n;
}

/* Produces one batch of n records (keyed: each its own key) and returns over how many
 * partitions they went, with the most any one got in *most. */
static int batch_spread(struct fixture *f, int n, int keyed, int64_t *most) {
    int64_t a[PARTITIONS], b[PARTITIONS];
    watermarks(f, a);
    produce_batch(f, n, keyed);
    drain(f);
    watermarks(f, b);
    return grown(a, b, most);
}

/* As batch_spread for `batches` keyless batches of 10, 30 ms apart: longer than the sticky
 * time of these tests (20 ms). */
static int spaced_spread(struct fixture *f, int batches, int64_t *most) {
    int64_t a[PARTITIONS], b[PARTITIONS];
    watermarks(f, a);
    for (int i = 0; i < batches; i++) {
        produce_batch(f, 10, 0);
        sleep_ms(30);
    }
    drain(f);
    watermarks(f, b);
    return grown(a, b, most);
}

TEST(a_keyless_batch_goes_to_one_partition_and_the_next_ones_move_on_as_librdkafka_sticks) {
    struct fixture f;
    setup_conf(&f, "", "statistics.interval.ms: 50, sticky.partitioning.linger.ms: 20");
    wait_leaders(&f);
    int64_t most;
    ASSERT_EQ_INT(batch_spread(&f, 200, 0, &most), 1); /* all 200 on one partition */
    ASSERT_EQ_INT(most, 200);
    /* Batches further apart than the sticky time: not all on the same partition (the chance
     * that 20 random picks of 8 are all one is 8^-19). */
    ASSERT(spaced_spread(&f, 20, &most) > 1);
    kafka_stop(f.k);
    teardown(&f);
}

/* Produce ticks count from the producer's creation and must grow on each thread; they were
 * kept growing with one counter per thread for every producer, so a producer made after
 * another on the same thread (a test after a test) took ticks that ran ahead of its clock,
 * advanced by one per message instead of with time, and its sticky partitions never expired. */
TEST(a_second_producer_on_the_same_thread_moves_its_sticky_partition_on_with_time) {
    struct fixture f;
    setup_conf(&f, "", "statistics.interval.ms: 50, sticky.partitioning.linger.ms: 20");
    wait_leaders(&f);
    sleep_ms(3000); /* this thread's ticks now 3 s ahead of a new producer's clock */
    produce_batch(&f, 10, 0);
    drain(&f);
    kafka_stop(f.k);
    teardown(&f);
    setup_conf(&f, "", "statistics.interval.ms: 50, sticky.partitioning.linger.ms: 20");
    wait_leaders(&f);
    int64_t most;
    ASSERT(spaced_spread(&f, 20, &most) > 1);
    kafka_stop(f.k);
    teardown(&f);
}

/* A producer with statistics and these settings, which make hotdog leave the partition of
 * keyless messages to librdkafka: it does not even note the leaders. */
static void setup_left_to_librdkafka(struct fixture *f, const char *conf) {
    char c[256];
    snprintf(c, sizeof c, "statistics.interval.ms: 50, %s", conf);
    setup_conf(f, "", c);
    produce(f, 0);
    drain(f);
    sleep_ms(200); /* statistics came */
    ASSERT_EQ_INT(kafka_topic_leaders(f->k, TOPIC), -1);
}

TEST(keyed_batches_hashing_partitioners_and_no_stickiness_keep_the_partitioner_per_message) {
    struct fixture f;
    setup_conf(&f, "", "statistics.interval.ms: 50");
    wait_leaders(&f);
    int64_t most;
    ASSERT(batch_spread(&f, 200, 1, &most) > 1); /* 200 keys: the hash spreads them */
    kafka_stop(f.k);
    teardown(&f);
    /* A hashing partitioner puts every keyless message on the empty key's partition. */
    setup_left_to_librdkafka(&f, "sticky.partitioning.linger.ms: 20, partitioner: consistent");
    ASSERT_EQ_INT(spaced_spread(&f, 10, &most), 1);
    ASSERT_EQ_INT(most, 100);
    kafka_stop(f.k);
    teardown(&f);
    /* Without sticky partitioning each keyless message gets a random partition. */
    setup_left_to_librdkafka(&f, "sticky.partitioning.linger.ms: 0");
    ASSERT(batch_spread(&f, 200, 0, &most) > 1);
    kafka_stop(f.k);
    teardown(&f);
}

TEST_MAIN("test_kafka", TEST_ENTRY(a_shutdown_purge_spools_messages_in_the_order_they_were_produced),
          TEST_ENTRY(a_stall_is_reported_and_cleared_when_delivery_resumes),
          TEST_ENTRY(a_fatal_error_is_reported_and_queued_messages_are_spooled),
          TEST_ENTRY(topic_level_settings_of_the_config_reach_every_topic),
          TEST_ENTRY(a_keyless_batch_goes_to_one_partition_and_the_next_ones_move_on_as_librdkafka_sticks),
          TEST_ENTRY(a_second_producer_on_the_same_thread_moves_its_sticky_partition_on_with_time),
          TEST_ENTRY(keyed_batches_hashing_partitioners_and_no_stickiness_keep_the_partitioner_per_message))
