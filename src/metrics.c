/* metrics.c - lock-free counters: one shard per thread, summed when read. */
#include "metrics.h"

#include <stdlib.h>

static struct metrics_shard *shards;
static int nshards;

static const char *const names[] = {
#define METRICS_NAME(id, name, help) name,
    METRICS_COUNTERS(METRICS_NAME)
#undef METRICS_NAME
};

int metrics_init(int n) {
    n++; /* the last shard is the shared one */
    shards = aligned_alloc(64, sizeof *shards * (size_t)n);
    if (!shards) return -1;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < M_COUNT; c++) atomic_init(&shards[i].c[c], 0);
    nshards = n;
    return 0;
}

void metrics_free(void) {
    free(shards);
    shards = NULL;
    nshards = 0;
}

struct metrics_shard *metrics_shard(int i) { return &shards[i]; }

void metrics_add_any(enum metrics_counter c, uint64_t n) {
    if (nshards) atomic_fetch_add_explicit(&shards[nshards - 1].c[c], n, memory_order_relaxed);
}

uint64_t metrics_get(enum metrics_counter c) {
    uint64_t sum = 0;
    for (int i = 0; i < nshards; i++)
        sum += atomic_load_explicit(&shards[i].c[c], memory_order_relaxed);
    return sum;
}

const char *metrics_name(enum metrics_counter c) { return names[c]; }

static const char *const helps[] = {
#define METRICS_HELP(id, name, help) help,
    METRICS_COUNTERS(METRICS_HELP)
#undef METRICS_HELP
};

const char *metrics_help(enum metrics_counter c) { return helps[c]; }
