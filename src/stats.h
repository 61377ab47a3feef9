/* stats.h - one snapshot of every metric, shared by /stats, /metrics and statsd. */
#ifndef HOTDOG_STATS_H
#define HOTDOG_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "kafka.h"
#include "listener.h"
#include "worker.h"

/* STAT_HISTOGRAM items are the samples of a Prometheus histogram (name is empty: /stats and
 * statsd use the matching count and sum counters instead). */
enum stat_kind { STAT_COUNTER, STAT_GAUGE, STAT_HISTOGRAM };

struct stat {
    char name[200];        /* dotted, the original hotdog's statsd style: "kafka.submitted.logs" */
    int64_t value;
    enum stat_kind kind;
    const char *family;    /* Prometheus family without the hotdog_ prefix */
    const char *help;
    const char *label;     /* Prometheus label name, or NULL */
    char label_value[200];
    const char *suffix;    /* histogram sample: "_bucket", "_sum" or "_count" */
    double fvalue;         /* histogram _sum, in seconds */
};

struct stats {
    struct stat *v;
    size_t n, cap;
};

/* Where the numbers come from. Read-only for stats_collect; every source is safe to read
 * from another thread while the daemon runs. */
struct stats_sources {
    struct kafka *kafka;
    struct worker **workers;
    int nworkers;
    struct listener *listeners;
    size_t nlisteners;
    struct spool *spool; /* or NULL */
};

/* Fills out (reusing its memory) with every metric's current value. runs on: any thread. */
void stats_collect(const struct stats_sources *src, struct stats *out);
void stats_free(struct stats *s);

#endif
