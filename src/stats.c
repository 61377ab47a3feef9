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

static struct stat *add(struct stats *s, enum stat_kind kind, int64_t value, const char *family,
                        const char *help) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 128;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    struct stat *st = &s->v[s->n++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->value = value;
    st->family = family;
    st->help = help;
    return st;
}

/* kafka.submitted.<topic> is the original hotdog's name for kafka.delivered.<topic>. */
static void topic_stats(const char *topic, uint64_t produced, uint64_t delivered, uint64_t failed,
                        void *arg) {
    static const char *const what[] = {"produced", "submitted", "delivered", "failed"};
    static const char *const fam[] = {"kafka_topic_produced_total", "kafka_topic_submitted_total",
                                      "kafka_topic_delivered_total", "kafka_topic_failed_total"};
    static const char *const help[] = {"messages handed to the producer, by topic",
                                       "messages acknowledged by a broker, by topic (the original's name)",
                                       "messages acknowledged by a broker, by topic",
                                       "messages whose delivery failed, by topic"};
    uint64_t v[] = {produced, delivered, delivered, failed};
    for (int i = 0; i < 4; i++) {
        struct stat *st = add(arg, STAT_COUNTER, (int64_t)v[i], fam[i], help[i]);
        snprintf(st->name, sizeof st->name, "kafka.%s.%s", what[i], topic);
        st->label = "topic";
        snprintf(st->label_value, sizeof st->label_value, "%s", topic);
    }
}

static void error_stats(const char *name, uint64_t n, void *arg) {
    struct stat *st = add(arg, STAT_COUNTER, (int64_t)n, "kafka_producer_errors_total",
                          "failed deliveries and refused produces, by error (the original's names)");
    snprintf(st->name, sizeof st->name, "kafka.producer.error.%s", name);
    st->label = "error";
    snprintf(st->label_value, sizeof st->label_value, "%s", name);
}

static void gauge(struct stats *s, const char *name, int64_t v, const char *family, const char *help) {
    struct stat *st = add(s, STAT_GAUGE, v, family, help);
    snprintf(st->name, sizeof st->name, "%s", name);
}

/* Prometheus family of each fixed counter: "kafka.delivered" -> "kafka_delivered_total";
 * every "error.X" goes to one family, "errors_total", with an error label. */
static char families[M_COUNT][64];
static pthread_once_t families_once = PTHREAD_ONCE_INIT;

static void init_families(void) {
    for (int i = 0; i < M_COUNT; i++) {
        const char *name = metrics_name((enum metrics_counter)i);
        if (!strncmp(name, "error.", 6)) {
            snprintf(families[i], sizeof families[i], "errors_total");
            continue;
        }
        size_t k = 0;
        for (const char *c = name; *c && k + 7 < sizeof families[i]; c++)
            families[i][k++] = *c == '.' ? '_' : *c;
        memcpy(families[i] + k, "_total", 7);
    }
}

/* kafka.producer.sent, the original's produce-to-ack timer: count and sum for /stats and
 * statsd, a cumulative histogram in seconds for Prometheus. */
static void latency_stats(struct stats *s, struct kafka *k) {
    static const char *const fam = "kafka_producer_sent_seconds",
                             *const help = "time from producing a message to the broker's acknowledgement";
    struct kafka_latency lat;
    kafka_latency(k, &lat);
    struct stat *st = add(s, STAT_COUNTER, (int64_t)lat.count, "kafka_producer_sent_count_total",
                          "acknowledged messages timed by kafka.producer.sent");
    snprintf(st->name, sizeof st->name, "kafka.producer.sent.count");
    st = add(s, STAT_COUNTER, (int64_t)lat.sum_us, "kafka_producer_sent_microseconds_total",
             "sum of kafka.producer.sent times");
    snprintf(st->name, sizeof st->name, "kafka.producer.sent.sum_us");
    uint64_t cum = 0;
    for (int i = 0; i <= KAFKA_LATENCY_BUCKETS; i++) {
        cum += lat.bucket[i];
        st = add(s, STAT_HISTOGRAM, (int64_t)cum, fam, help);
        st->suffix = "_bucket";
        st->label = "le";
        if (i < KAFKA_LATENCY_BUCKETS)
            snprintf(st->label_value, sizeof st->label_value, "%g", (double)kafka_latency_bound_us(i) / 1e6);
        else
            snprintf(st->label_value, sizeof st->label_value, "+Inf");
    }
    st = add(s, STAT_HISTOGRAM, 0, fam, help);
    st->suffix = "_sum";
    st->fvalue = (double)lat.sum_us / 1e6;
    st = add(s, STAT_HISTOGRAM, (int64_t)lat.count, fam, help);
    st->suffix = "_count";
}

void stats_collect(const struct stats_sources *src, struct stats *s) {
    s->n = 0;
    pthread_once(&families_once, init_families);
    for (int i = 0; i < M_COUNT; i++) {
        const char *name = metrics_name((enum metrics_counter)i);
        int is_error = !strncmp(name, "error.", 6);
        struct stat *st = add(s, STAT_COUNTER, (int64_t)metrics_get((enum metrics_counter)i), families[i],
                              is_error ? "errors by kind (see the README's metrics list)"
                                       : metrics_help((enum metrics_counter)i));
        snprintf(st->name, sizeof st->name, "%s", name);
        if (is_error) {
            st->label = "error";
            snprintf(st->label_value, sizeof st->label_value, "%s", name + 6);
        }
    }
    gauge(s, "connections",
          (int64_t)(metrics_get(M_CONN_ACCEPTED) - metrics_get(M_CONN_CLOSED)), "connections",
          "open client connections");
    gauge(s, "buffered_bytes", worker_buffered_bytes(), "buffered_bytes",
          "bytes connections hold for unfinished frames (bounded by global.max_buffered_bytes)");
    int64_t stalled = 0;
    for (int i = 0; i < src->nworkers; i++) stalled += worker_stalled(src->workers[i]);
    gauge(s, "workers.stalled", stalled, "workers_stalled",
          "workers whose event loop has not turned for 5 s or more");
    int64_t unanswered = 0, oldest = 0, now_us = clock_us();
    for (int i = 0; i < src->nworkers; i++) {
        int64_t n, since;
        worker_relp_state(src->workers[i], &n, &since);
        unanswered += n;
        if (since && now_us - since > oldest) oldest = now_us - since;
    }
    gauge(s, "relp.unanswered", unanswered, "relp_unanswered",
          "RELP messages read and not answered yet (their fate is not final)");
    gauge(s, "relp.oldest_unanswered_ms", oldest / 1000, "relp_oldest_unanswered_milliseconds",
          "how long the oldest unanswered RELP message has waited (0: none)");
    for (size_t i = 0; i < src->nlisteners; i++) {
        const struct listener *l = &src->listeners[i];
        if (l->cfg->protocol == PROTO_UDP) continue;
        struct stat *st = add(s, STAT_GAUGE, atomic_load(&((struct listener *)l)->conns),
                              "listener_connections", "open connections, by listener");
        snprintf(st->name, sizeof st->name, "listener.%s_%ld.connections",
                 l->cfg->protocol == PROTO_RELP ? "relp" : l->cfg->protocol == PROTO_TLS ? "tls" : "tcp",
                 l->cfg->port);
        st->label = "listener";
        snprintf(st->label_value, sizeof st->label_value, "%s", l->name);
        if (!config_listen_tls(l->cfg)) continue;
        int64_t na = atomic_load(&((struct listener *)l)->cert_not_after);
        st = add(s, STAT_GAUGE, na ? na - (int64_t)time(NULL) : 0, "tls_cert_expiry_seconds",
                 "seconds until the TLS certificate's notAfter (negative: expired), by listener");
        snprintf(st->name, sizeof st->name, "listener.tls_%ld.cert_expiry_seconds", l->cfg->port);
        st->label = "listener";
        snprintf(st->label_value, sizeof st->label_value, "%s", l->name);
    }
    if (src->kafka) {
        struct kafka_state ks;
        kafka_state(src->kafka, &ks);
        gauge(s, "kafka.outq", ks.outq, "kafka_outq", "messages in the producer not yet acknowledged");
        gauge(s, "kafka.brokers_up", ks.brokers_up, "kafka_brokers_up", "brokers connected (librdkafka statistics)");
        gauge(s, "kafka.rtt_avg_us", ks.rtt_avg_us, "kafka_rtt_avg_microseconds",
              "mean broker round-trip time (librdkafka statistics)");
        gauge(s, "kafka.outbuf_msgs", ks.outbuf_msgs, "kafka_outbuf_messages",
              "messages in the brokers' output buffers (librdkafka statistics)");
        gauge(s, "kafka.stalled_ms", ks.stalled_ms, "kafka_stalled_milliseconds",
              "how long messages have waited with no delivery report (0: deliveries progress)");
        latency_stats(s, src->kafka);
        kafka_foreach_topic(src->kafka, topic_stats, s);
        kafka_foreach_error(src->kafka, error_stats, s);
    }
    if (src->spool) {
        struct spool_stats ss;
        spool_stats(src->spool, &ss);
        gauge(s, "spool.bytes", (int64_t)ss.bytes, "spool_bytes", "bytes in the spool's segment files");
        gauge(s, "spool.segments", (int64_t)ss.segments, "spool_segments", "spool segment files");
        gauge(s, "spool.backlog", (int64_t)ss.backlog, "spool_backlog_bytes",
              "spooled bytes not yet handed to the producer");
        static const char *const names[] = {"spool.appended", "spool.replayed", "spool.full", "spool.torn",
                                            "spool.write_errors", "spool.syncs"};
        static const char *const fams[] = {"spool_appended_total", "spool_replayed_total", "spool_full_total",
                                           "spool_torn_total", "spool_write_errors_total", "spool_syncs_total"};
        static const char *const helps[] = {
            "records written to the spool", "records read back from the spool and handed to the producer",
            "writes refused because the spool was at max_bytes",
            "torn or corrupt records found (the segment was truncated there)", "spool write errors",
            "fdatasyncs of spooled records (per write under fsync: always or for RELP, else per interval)"};
        uint64_t v[] = {ss.appended, ss.replayed, ss.full, ss.torn, ss.write_errors, ss.syncs};
        for (int i = 0; i < 6; i++) {
            struct stat *st = add(s, STAT_COUNTER, (int64_t)v[i], fams[i], helps[i]);
            snprintf(st->name, sizeof st->name, "%s", names[i]);
        }
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
        struct stat *st = add(s, STAT_COUNTER, (int64_t)counts[r], "rule_matched_total",
                              "times a rule matched (0-based index; restarts at a reload)");
        snprintf(st->name, sizeof st->name, "rule.%zu.matched", r);
        st->label = "rule";
        snprintf(st->label_value, sizeof st->label_value, "%zu", r);
    }
    free(counts);
}

void stats_free(struct stats *s) {
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
