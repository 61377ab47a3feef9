/* test_stats.c - unit tests for the metric definitions (stats_foreach_def), which
 * doc/metrics.md is generated from: each is well formed, a Prometheus family has one kind,
 * help and label, and a snapshot holds nothing they do not define. The metrics of a Kafka
 * producer, of workers and per topic need a running daemon: tests/e2e/test_observability.py
 * checks those against /metrics. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "listener.h"
#include "metrics.h"
#include "spool.h"
#include "stats.h"
#include "test.h"

struct defs {
    const struct stat_def *v[256];
    int n;
};

static void collect(const struct stat_def *d, void *arg) {
    struct defs *ds = arg;
    ASSERT(ds->n < 256);
    ds->v[ds->n++] = d;
}

static struct defs *all_defs(void) {
    static struct defs ds;
    ds.n = 0;
    stats_foreach_def(collect, &ds);
    return &ds;
}

/* Whether name is template with each "<part>" standing for one or more characters. */
static int matches(const char *tmpl, const char *name) {
    if (!*tmpl) return !*name;
    if (*tmpl == '<') {
        const char *rest = strchr(tmpl, '>') + 1;
        for (const char *n = name + 1; n <= name + strlen(name); n++)
            if (*name && matches(rest, n)) return 1;
        return 0;
    }
    return *tmpl == *name && matches(tmpl + 1, name + 1);
}

static int well_formed(const char *s, const char *extra) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_' && !strchr(extra, *s)) return 0;
    return 1;
}

TEST(template_matching_in_this_test) {
    ASSERT(matches("kafka.produced.<topic>", "kafka.produced.a.b"));
    ASSERT(!matches("kafka.produced.<topic>", "kafka.produced."));
    ASSERT(matches("listener.<protocol>_<port>.connections", "listener.tls_6514.connections"));
    ASSERT(!matches("listener.<protocol>_<port>.connections", "listener.tls.connections"));
    ASSERT(matches("received", "received") && !matches("received", "receive"));
}

TEST(definitions_are_well_formed_and_distinct) {
    struct defs *ds = all_defs();
    ASSERT(ds->n > M_COUNT);
    int histograms = 0;
    for (int i = 0; i < ds->n; i++) {
        const struct stat_def *d = ds->v[i];
        ASSERT(well_formed(d->family, ""));
        ASSERT(d->help && *d->help);
        if (d->kind == STAT_COUNTER) ASSERT(strstr(d->family, "_total") == d->family + strlen(d->family) - 6);
        else ASSERT(!strstr(d->family, "_total"));
        if (d->kind == STAT_HISTOGRAM) {
            histograms++;
            ASSERT(d->name == NULL && !strcmp(d->label, "le"));
            continue;
        }
        ASSERT(d->name && well_formed(d->name, ".<>"));
        ASSERT(d->label_value == NULL || d->label != NULL);
        /* A label whose value is known at run time has a name with a part to fill in. */
        ASSERT((d->label && !d->label_value) == (strchr(d->name, '<') != NULL));
        for (int j = 0; j < i; j++) {
            const struct stat_def *e = ds->v[j];
            if (e->name) ASSERT(strcmp(d->name, e->name));
            if (strcmp(d->family, e->family)) continue;
            /* One family: one kind, one HELP, one label, and a distinct label value each. */
            ASSERT_EQ_INT(d->kind, e->kind);
            ASSERT_EQ_STR(d->help, e->help);
            ASSERT(d->label && e->label && !strcmp(d->label, e->label));
            ASSERT(d->label_value && e->label_value && strcmp(d->label_value, e->label_value));
        }
    }
    ASSERT_EQ_INT(histograms, 1);
}

TEST(counters_come_from_metrics_h) {
    struct defs *ds = all_defs();
    for (int i = 0; i < M_COUNT; i++) {
        const struct stat_def *d = ds->v[i];
        ASSERT_EQ_STR(d->name, metrics_name((enum metrics_counter)i));
        ASSERT_EQ_INT(d->kind, STAT_COUNTER);
        ASSERT(d->when == NULL);
        if (!strncmp(d->name, "error.", 6)) {
            ASSERT_EQ_STR(d->family, "errors_total");
            ASSERT_EQ_STR(d->label_value, d->name + 6);
            ASSERT_EQ_STR(d->meaning, metrics_help((enum metrics_counter)i));
        } else {
            ASSERT_EQ_STR(d->help, metrics_help((enum metrics_counter)i));
        }
    }
    ASSERT_EQ_STR(ds->v[M_KAFKA_DELIVERED]->family, "kafka_delivered_total");
}

/* The definition st was made from: its name fits, and so does everything else. */
static const struct stat_def *def_of(const struct defs *ds, const struct stat *st) {
    for (int i = 0; i < ds->n; i++) {
        const struct stat_def *d = ds->v[i];
        if (st->kind == STAT_HISTOGRAM ? d->kind != STAT_HISTOGRAM : !d->name || !matches(d->name, st->name))
            continue;
        ASSERT_EQ_INT(st->kind, d->kind);
        ASSERT_EQ_STR(st->family, d->family);
        ASSERT_EQ_STR(st->help, d->help);
        ASSERT(st->label == d->label || (st->kind == STAT_HISTOGRAM && !st->label));
        if (d->label_value) ASSERT_EQ_STR(st->label_value, d->label_value);
        else if (d->label && st->label) ASSERT(st->label_value[0]);
        return d;
    }
    fprintf(stderr, "  no definition for '%s' (family %s)\n", st->name, st->family);
    return NULL;
}

TEST(a_snapshot_holds_what_the_definitions_say) {
    char dir[] = "/tmp/hotdog-test-stats-XXXXXX", err[256];
    ASSERT(mkdtemp(dir));
    struct spool *sp = spool_open(&(struct spool_opts){.path = dir, .max_bytes = 1u << 20, .segment_bytes = 65536,
                                                       .fsync = SPOOL_FSYNC_NEVER},
                                  err, sizeof err);
    ASSERT(sp);
    struct config_listen cfg[3] = {{.protocol = PROTO_TCP, .port = 5140},
                                   {.protocol = PROTO_TLS, .port = 6514, .tls = {.line = 1}},
                                   {.protocol = PROTO_UDP, .port = 514}};
    struct listener ls[3] = {{.cfg = &cfg[0], .name = "tcp 0.0.0.0:5140"},
                             {.cfg = &cfg[1], .name = "tls 0.0.0.0:6514"},
                             {.cfg = &cfg[2], .name = "udp 0.0.0.0:514"}};
    struct stats_sources src = {.listeners = ls, .nlisteners = 3, .spool = sp};
    struct stats snap = {0};
    stats_collect(&src, &snap);
    struct defs *ds = all_defs();
    int seen[256] = {0};
    for (size_t i = 0; i < snap.n; i++) {
        const struct stat_def *d = def_of(ds, &snap.v[i]);
        ASSERT(d != NULL);
        for (int j = 0; j < ds->n; j++) seen[j] |= ds->v[j] == d;
    }
    /* Every metric but those of a producer and of workers' rules (checked end to end). */
    for (int j = 0; j < ds->n; j++) {
        const struct stat_def *d = ds->v[j];
        int needs_daemon = !strncmp(d->family, "kafka_", 6) && j >= M_COUNT;
        if (!strcmp(d->family, "rule_matched_total")) needs_daemon = 1;
        if (!seen[j] && !needs_daemon) fprintf(stderr, "  '%s' not in the snapshot\n", d->name);
        ASSERT(seen[j] || needs_daemon);
    }
    /* The names' parts are filled in. */
    int found = 0;
    for (size_t i = 0; i < snap.n; i++) {
        const struct stat *st = &snap.v[i];
        if (!strcmp(st->name, "listener.tls_6514.connections")) found |= !strcmp(st->label_value, "tls 0.0.0.0:6514");
        if (!strcmp(st->name, "listener.tls_6514.cert_expiry_seconds")) found |= 2;
        if (!strcmp(st->name, "listener.tcp_5140.connections")) found |= 4;
        ASSERT(strncmp(st->name, "listener.udp", 12)); /* UDP has no connections */
    }
    ASSERT_EQ_INT(found, 7);
    stats_free(&snap);
    spool_close(sp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

TEST_MAIN("test_stats", TEST_ENTRY(template_matching_in_this_test),
          TEST_ENTRY(definitions_are_well_formed_and_distinct), TEST_ENTRY(counters_come_from_metrics_h),
          TEST_ENTRY(a_snapshot_holds_what_the_definitions_say))
