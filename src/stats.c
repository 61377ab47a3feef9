/* stats.c - one snapshot of every metric, shared by /stats, /metrics and statsd. */
#include "stats.h"

#include "clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "spool.h"

/* Every metric that is not a counter of metrics.h, in the order stats_collect adds them. */
enum {
    D_CONNECTIONS, D_BUFFERED_BYTES, D_WORKERS_STALLED, D_RELP_UNANSWERED, D_RELP_OLDEST,
    D_LISTENER_CONNECTIONS, D_TLS_CERT_EXPIRY,
    D_KAFKA_OUTQ, D_KAFKA_BROKERS_UP, D_KAFKA_RTT, D_KAFKA_OUTBUF, D_KAFKA_STALLED,
    D_SENT_COUNT, D_SENT_SUM, D_SENT_SECONDS,
    D_TOPIC_PRODUCED, D_TOPIC_SUBMITTED, D_TOPIC_DELIVERED, D_TOPIC_FAILED, D_PRODUCER_ERROR,
    D_SPOOL_BYTES, D_SPOOL_SEGMENTS, D_SPOOL_BACKLOG,
    D_SPOOL_APPENDED, D_SPOOL_REPLAYED, D_SPOOL_FULL, D_SPOOL_TORN, D_SPOOL_WRITE_ERRORS, D_SPOOL_SYNCS,
    D_RULE_MATCHED,
    D_COUNT
};

#define GAUGE(name, fam, help) {name, STAT_GAUGE, fam, NULL, NULL, help, NULL, NULL}
#define SPOOL(kind, name, fam, help) {name, kind, fam, NULL, NULL, help, NULL, "with a spool"}
static const struct stat_def defs[D_COUNT] = {
    [D_CONNECTIONS] = GAUGE("connections", "connections", "open client connections"),
    [D_BUFFERED_BYTES] = GAUGE("buffered_bytes", "buffered_bytes",
                               "bytes connections hold for unfinished frames (bounded by global.max_buffered_bytes)"),
    [D_WORKERS_STALLED] = GAUGE("workers.stalled", "workers_stalled",
                                "workers whose event loop has not turned for 5 s or more"),
    [D_RELP_UNANSWERED] = GAUGE("relp.unanswered", "relp_unanswered",
                                "RELP messages read and not answered yet (their fate is not final)"),
    [D_RELP_OLDEST] = GAUGE("relp.oldest_unanswered_ms", "relp_oldest_unanswered_milliseconds",
                            "how long the oldest unanswered RELP message has waited (0: none)"),
    [D_LISTENER_CONNECTIONS] = {"listener.<protocol>_<port>.connections", STAT_GAUGE, "listener_connections",
                                "listener", NULL, "open connections, by listener", NULL,
                                "per TCP, TLS or RELP listener"},
    [D_TLS_CERT_EXPIRY] = {"listener.tls_<port>.cert_expiry_seconds", STAT_GAUGE, "tls_cert_expiry_seconds",
                           "listener", NULL,
                           "seconds until the TLS certificate's notAfter (negative: expired), by listener",
                           NULL, "per TLS listener (RELP over TLS included)"},
    [D_KAFKA_OUTQ] = GAUGE("kafka.outq", "kafka_outq", "messages in the producer not yet acknowledged"),
    [D_KAFKA_BROKERS_UP] = GAUGE("kafka.brokers_up", "kafka_brokers_up", "brokers connected (librdkafka statistics)"),
    [D_KAFKA_RTT] = GAUGE("kafka.rtt_avg_us", "kafka_rtt_avg_microseconds",
                          "mean broker round-trip time (librdkafka statistics)"),
    [D_KAFKA_OUTBUF] = GAUGE("kafka.outbuf_msgs", "kafka_outbuf_messages",
                             "messages in the brokers' output buffers (librdkafka statistics)"),
    [D_KAFKA_STALLED] = GAUGE("kafka.stalled_ms", "kafka_stalled_milliseconds",
                              "how long messages have waited with no delivery report (0: deliveries progress)"),
    [D_SENT_COUNT] = {"kafka.producer.sent.count", STAT_COUNTER, "kafka_producer_sent_count_total", NULL, NULL,
                      "acknowledged messages timed by kafka.producer.sent", NULL, NULL},
    [D_SENT_SUM] = {"kafka.producer.sent.sum_us", STAT_COUNTER, "kafka_producer_sent_microseconds_total", NULL,
                    NULL, "sum of kafka.producer.sent times", NULL, NULL},
    [D_SENT_SECONDS] = {NULL, STAT_HISTOGRAM, "kafka_producer_sent_seconds", "le", NULL,
                        "time from producing a message to the broker's acknowledgement", NULL, NULL},
    [D_TOPIC_PRODUCED] = {"kafka.produced.<topic>", STAT_COUNTER, "kafka_topic_produced_total", "topic", NULL,
                          "messages handed to the producer, by topic", NULL, "per topic, from its first message"},
    [D_TOPIC_SUBMITTED] = {"kafka.submitted.<topic>", STAT_COUNTER, "kafka_topic_submitted_total", "topic", NULL,
                           "messages acknowledged by a broker, by topic (the original's name)", NULL,
                           "per topic, from its first message"},
    [D_TOPIC_DELIVERED] = {"kafka.delivered.<topic>", STAT_COUNTER, "kafka_topic_delivered_total", "topic", NULL,
                           "messages acknowledged by a broker, by topic", NULL, "per topic, from its first message"},
    [D_TOPIC_FAILED] = {"kafka.failed.<topic>", STAT_COUNTER, "kafka_topic_failed_total", "topic", NULL,
                        "messages whose delivery failed, by topic", NULL, "per topic, from its first message"},
    [D_PRODUCER_ERROR] = {"kafka.producer.error.<error>", STAT_COUNTER, "kafka_producer_errors_total", "error", NULL,
                          "failed deliveries and refused produces, by error (the original's names)", NULL,
                          "per error, from its first occurrence"},
    [D_SPOOL_BYTES] = SPOOL(STAT_GAUGE, "spool.bytes", "spool_bytes", "bytes in the spool's segment files"),
    [D_SPOOL_SEGMENTS] = SPOOL(STAT_GAUGE, "spool.segments", "spool_segments", "spool segment files"),
    [D_SPOOL_BACKLOG] = SPOOL(STAT_GAUGE, "spool.backlog", "spool_backlog_bytes",
                              "spooled bytes not yet handed to the producer"),
    [D_SPOOL_APPENDED] = SPOOL(STAT_COUNTER, "spool.appended", "spool_appended_total", "records written to the spool"),
    [D_SPOOL_REPLAYED] = SPOOL(STAT_COUNTER, "spool.replayed", "spool_replayed_total",
                               "records read back from the spool and handed to the producer"),
    [D_SPOOL_FULL] = SPOOL(STAT_COUNTER, "spool.full", "spool_full_total",
                           "writes refused because the spool was at max_bytes"),
    [D_SPOOL_TORN] = SPOOL(STAT_COUNTER, "spool.torn", "spool_torn_total",
                           "torn or corrupt records found (the segment was truncated there)"),
    [D_SPOOL_WRITE_ERRORS] = SPOOL(STAT_COUNTER, "spool.write_errors", "spool_write_errors_total", "spool write errors"),
    [D_SPOOL_SYNCS] = SPOOL(STAT_COUNTER, "spool.syncs", "spool_syncs_total",
                            "fdatasyncs of spooled records (per write under fsync: always or for RELP, else per interval)"),
    [D_RULE_MATCHED] = {"rule.<rule>.matched", STAT_COUNTER, "rule_matched_total", "rule", NULL,
                        "times a rule matched (0-based index; restarts at a reload)", NULL, "per rule"},
};
#undef GAUGE
#undef SPOOL

/* The counters' definitions: "kafka.delivered" is the family "kafka_delivered_total"; every
 * "error.X" goes to one family, "errors_total", with an error label. */
static struct stat_def counter_defs[M_COUNT];
static char families[M_COUNT][64];
static pthread_once_t counter_defs_once = PTHREAD_ONCE_INIT;

static void init_counter_defs(void) {
    for (int i = 0; i < M_COUNT; i++) {
        const char *name = metrics_name((enum metrics_counter)i), *help = metrics_help((enum metrics_counter)i);
        struct stat_def *d = &counter_defs[i];
        *d = (struct stat_def){.name = name, .kind = STAT_COUNTER, .family = families[i], .help = help};
        if (!strncmp(name, "error.", 6)) {
            snprintf(families[i], sizeof families[i], "errors_total");
            d->label = "error";
            d->label_value = name + 6;
            d->help = "errors by kind (see doc/metrics.md)";
            d->meaning = help;
            continue;
        }
        size_t k = 0;
        for (const char *c = name; *c && k + 7 < sizeof families[i]; c++)
            families[i][k++] = *c == '.' ? '_' : *c;
        memcpy(families[i] + k, "_total", 7);
    }
}

void stats_foreach_def(void (*fn)(const struct stat_def *d, void *arg), void *arg) {
    pthread_once(&counter_defs_once, init_counter_defs);
    for (int i = 0; i < M_COUNT; i++) fn(&counter_defs[i], arg);
    for (int i = 0; i < D_COUNT; i++) fn(&defs[i], arg);
}

/* Adds one metric of definition d; parts fill the "<part>"s of its name, in order. */
static struct stat *add(struct stats *s, const struct stat_def *d, int64_t value, const char *const *parts) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 128;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    struct stat *st = &s->v[s->n++];
    memset(st, 0, sizeof *st);
    st->kind = d->kind;
    st->value = value;
    st->family = d->family;
    st->help = d->help;
    st->label = d->label;
    if (d->label_value) snprintf(st->label_value, sizeof st->label_value, "%s", d->label_value);
    size_t k = 0;
    for (const char *c = d->name; c && *c && k + 1 < sizeof st->name;) {
        const char *close = *c == '<' ? strchr(c, '>') : NULL;
        if (!close) {
            st->name[k++] = *c++;
            continue;
        }
        for (const char *p = *parts++; *p && k + 1 < sizeof st->name;) st->name[k++] = *p++;
        c = close + 1;
    }
    st->name[k] = '\0';
    return st;
}

static void set_label(struct stat *st, const char *value) {
    snprintf(st->label_value, sizeof st->label_value, "%s", value);
}

/* kafka.submitted.<topic> is the original hotdog's name for kafka.delivered.<topic>. */
static void topic_stats(const char *topic, uint64_t produced, uint64_t delivered, uint64_t failed,
                        void *arg) {
    uint64_t v[] = {produced, delivered, delivered, failed};
    for (int i = 0; i < 4; i++) set_label(add(arg, &defs[D_TOPIC_PRODUCED + i], (int64_t)v[i], &topic), topic);
}

static void error_stats(const char *name, uint64_t n, void *arg) {
    set_label(add(arg, &defs[D_PRODUCER_ERROR], (int64_t)n, &name), name);
}

/* kafka.producer.sent, the original's produce-to-ack timer: count and sum for /stats and
 * statsd, a cumulative histogram in seconds for Prometheus. */
static void latency_stats(struct stats *s, struct kafka *k) {
    struct kafka_latency lat;
    kafka_latency(k, &lat);
    add(s, &defs[D_SENT_COUNT], (int64_t)lat.count, NULL);
    add(s, &defs[D_SENT_SUM], (int64_t)lat.sum_us, NULL);
    uint64_t cum = 0;
    for (int i = 0; i <= KAFKA_LATENCY_BUCKETS; i++) {
        cum += lat.bucket[i];
        struct stat *st = add(s, &defs[D_SENT_SECONDS], (int64_t)cum, NULL);
        st->suffix = "_bucket";
        if (i < KAFKA_LATENCY_BUCKETS)
            snprintf(st->label_value, sizeof st->label_value, "%g", (double)kafka_latency_bound_us(i) / 1e6);
        else
            set_label(st, "+Inf");
    }
    struct stat *st = add(s, &defs[D_SENT_SECONDS], 0, NULL);
    st->suffix = "_sum";
    st->label = NULL;
    st->fvalue = (double)lat.sum_us / 1e6;
    st = add(s, &defs[D_SENT_SECONDS], (int64_t)lat.count, NULL);
    st->suffix = "_count";
    st->label = NULL;
}

void stats_collect(const struct stats_sources *src, struct stats *s) {
    s->n = 0;
    pthread_once(&counter_defs_once, init_counter_defs);
    for (int i = 0; i < M_COUNT; i++)
        add(s, &counter_defs[i], (int64_t)metrics_get((enum metrics_counter)i), NULL);
    add(s, &defs[D_CONNECTIONS], (int64_t)(metrics_get(M_CONN_ACCEPTED) - metrics_get(M_CONN_CLOSED)), NULL);
    add(s, &defs[D_BUFFERED_BYTES], worker_buffered_bytes(), NULL);
    int64_t stalled = 0;
    for (int i = 0; i < src->nworkers; i++) stalled += worker_stalled(src->workers[i]);
    add(s, &defs[D_WORKERS_STALLED], stalled, NULL);
    int64_t unanswered = 0, oldest = 0, now_us = clock_us();
    for (int i = 0; i < src->nworkers; i++) {
        int64_t n, since;
        worker_relp_state(src->workers[i], &n, &since);
        unanswered += n;
        if (since && now_us - since > oldest) oldest = now_us - since;
    }
    add(s, &defs[D_RELP_UNANSWERED], unanswered, NULL);
    add(s, &defs[D_RELP_OLDEST], oldest / 1000, NULL);
    for (size_t i = 0; i < src->nlisteners; i++) {
        const struct listener *l = &src->listeners[i];
        if (l->cfg->protocol == PROTO_UDP) continue;
        char port[24];
        snprintf(port, sizeof port, "%ld", l->cfg->port);
        const char *parts[] = {
            l->cfg->protocol == PROTO_RELP ? "relp" : l->cfg->protocol == PROTO_TLS ? "tls" : "tcp", port};
        set_label(add(s, &defs[D_LISTENER_CONNECTIONS], atomic_load(&((struct listener *)l)->conns), parts),
                  l->name);
        if (!config_listen_tls(l->cfg)) continue;
        int64_t na = atomic_load(&((struct listener *)l)->cert_not_after);
        set_label(add(s, &defs[D_TLS_CERT_EXPIRY], na ? na - (int64_t)time(NULL) : 0, parts + 1), l->name);
    }
    if (src->kafka) {
        struct kafka_state ks;
        kafka_state(src->kafka, &ks);
        add(s, &defs[D_KAFKA_OUTQ], ks.outq, NULL);
        add(s, &defs[D_KAFKA_BROKERS_UP], ks.brokers_up, NULL);
        add(s, &defs[D_KAFKA_RTT], ks.rtt_avg_us, NULL);
        add(s, &defs[D_KAFKA_OUTBUF], ks.outbuf_msgs, NULL);
        add(s, &defs[D_KAFKA_STALLED], ks.stalled_ms, NULL);
        latency_stats(s, src->kafka);
        kafka_foreach_topic(src->kafka, topic_stats, s);
        kafka_foreach_error(src->kafka, error_stats, s);
    }
    if (src->spool) {
        struct spool_stats ss;
        spool_stats(src->spool, &ss);
        int64_t v[] = {(int64_t)ss.bytes, (int64_t)ss.segments, (int64_t)ss.backlog, (int64_t)ss.appended,
                       (int64_t)ss.replayed, (int64_t)ss.full, (int64_t)ss.torn, (int64_t)ss.write_errors,
                       (int64_t)ss.syncs};
        _Static_assert(sizeof v / sizeof *v == D_SPOOL_SYNCS - D_SPOOL_BYTES + 1, "one value per spool metric");
        for (int i = 0; i <= D_SPOOL_SYNCS - D_SPOOL_BYTES; i++) add(s, &defs[D_SPOOL_BYTES + i], v[i], NULL);
    }
    /* Per-rule matches, summed over the workers' current rules. */
    size_t nrules = 0;
    for (int i = 0; i < src->nworkers; i++) {
        size_t n = worker_rule_total(src->workers[i]);
        if (n > nrules) nrules = n;
    }
    uint64_t *counts = calloc(nrules ? nrules : 1, sizeof *counts);
    if (!counts) abort();
    for (int i = 0; i < src->nworkers; i++) worker_rule_counts(src->workers[i], counts, nrules);
    for (size_t r = 0; r < nrules; r++) {
        char index[24];
        const char *part = index;
        snprintf(index, sizeof index, "%zu", r);
        set_label(add(s, &defs[D_RULE_MATCHED], (int64_t)counts[r], &part), index);
    }
    free(counts);
}

void stats_free(struct stats *s) {
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
