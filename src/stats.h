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

/* What one metric is. stats_collect fills every struct stat from one of these, so the list
 * stats_foreach_def gives (doc/metrics.md is generated from it) holds every metric there is. */
struct stat_def {
    const char *name;        /* dotted; each "<part>" is filled in at run time
                              * ("kafka.produced.<topic>"); NULL: a Prometheus histogram only */
    enum stat_kind kind;
    const char *family;      /* Prometheus family without the hotdog_ prefix */
    const char *label;       /* Prometheus label name, or NULL */
    const char *label_value; /* the label's value if it is fixed ("log_parse"), else NULL */
    const char *help;        /* the family's Prometheus HELP */
    const char *meaning;     /* what this one counts, where help is the family's, else NULL */
    const char *when;        /* NULL: always there; else when it is ("with a spool") */
};

/* Calls fn for every metric stats_collect can produce, in the order it produces them: the
 * counters of metrics.h, then the rest. runs on: any thread. */
void stats_foreach_def(void (*fn)(const struct stat_def *d, void *arg), void *arg);

/* Fills out (reusing its memory) with every metric's current value. runs on: any thread. */
void stats_collect(const struct stats_sources *src, struct stats *out);
void stats_free(struct stats *s);

#endif
