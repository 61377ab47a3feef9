/* engine.c - hotdog's per-message engine on one core: framing + syslog parsing + rules, over an
 * in-memory corpus, with no sockets and no Kafka. It calls what a worker calls for every read
 * (src/worker.c: frame_next over reads of at most 64 KiB, then worker_forward's syslog_parse +
 * rules_eval with a metrics shard), so lines/s here is the ceiling one worker thread could reach
 * if reading and producing were free.
 *
 * usage: engine [-r RUNS] [-p PASSES] CORPUS NAME=CONFIG.yml ...
 *   Each run times PASSES passes over the whole corpus for every config in turn (configs are
 *   interleaved, so noise hits them alike); one untimed warm-up pass per config comes first.
 *   Prints JSON on stdout: per config, lines/s by wall clock and by thread CPU time, per run.
 *   For profiling (perf, callgrind), give one config. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "jsonio.h"
#include "metrics.h"
#include "pipeline.h"
#include "rules.h"
#include "syslog.h"

#define READ_SIZE 65536 /* what one read(2) of a worker returns at most */

struct cfg {
    const char *name, *path;
    struct config *c;
    struct rules *r;
    double *wall, *cpu; /* lines/s per run */
    uint64_t forwarded, unmatched, payload_bytes, parse_errors;
};

static double clock_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    double *s = malloc(sizeof *s * (size_t)n);
    memcpy(s, v, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

/* One pass: the corpus arrives in reads of READ_SIZE bytes; frames are cut out of each read as
 * a worker does (a frame that straddles two reads is carried over to the next one). Returns
 * the number of lines. Not static and never inlined, so that profilers can name it
 * (valgrind --toggle-collect=engine_pass counts only what happens per line). */
uint64_t engine_pass(struct cfg *k, struct metrics_shard *shard, const char *buf, size_t n,
                     size_t max);
/* What engine_pass hands each frame: the pipeline's own per-message step, as a worker runs it. */
struct pass {
    struct cfg *k;
    struct metrics_shard *shard;
    uint64_t lines;
};

static int engine_frame(void *arg, const struct frame *f) {
    struct pass *p = arg;
    struct syslog_msg m;
    struct rules_out out;
    p->lines++;
    if (pipeline_message(p->k->r, p->shard, f->p, f->n, &m, &out)) {
        p->k->forwarded++;
        p->k->payload_bytes += out.rec.len + out.rec.key_len + out.rec.topic_len + out.rec.headers_len;
    } else {
        p->k->unmatched++;
    }
    if (m.format == SYSLOG_UNPARSED) p->k->parse_errors++;
    return 0;
}

__attribute__((noinline)) uint64_t engine_pass(struct cfg *k, struct metrics_shard *shard, const char *buf, size_t n,
                     size_t max) {
    struct frame_state fs = {0};
    struct pass p = {.k = k, .shard = shard};
    size_t base = 0;
    while (base < n) {
        size_t len = n - base > READ_SIZE ? READ_SIZE : n - base;
        int eof = base + len == n;
        long off = pipeline_frames(&fs, buf + base, len, max, eof, engine_frame, &p);
        if (off == PIPELINE_CORRUPT) {
            fprintf(stderr, "engine: corrupt corpus (bad octet count)\n");
            exit(1);
        }
        if (off == 0 && !eof) {
            /* a frame longer than one read: a worker keeps it in the connection's tail */
            fprintf(stderr, "engine: a line is longer than %d bytes\n", READ_SIZE);
            exit(1);
        }
        base += off ? (size_t)off : len;
    }
    return p.lines;
}

int main(int argc, char **argv) {
    jsonio_fast_alloc(); /* as hotdog's main does */
    int runs = 5, passes = 1, o;
    while ((o = getopt(argc, argv, "r:p:")) != -1) {
        if (o == 'r') runs = atoi(optarg);
        else if (o == 'p') passes = atoi(optarg);
        else return 2;
    }
    if (argc - optind < 2 || runs < 1 || passes < 1) {
        fprintf(stderr, "usage: engine [-r RUNS] [-p PASSES] CORPUS NAME=CONFIG.yml ...\n");
        return 2;
    }
    const char *corpus = argv[optind];
    int fd = open(corpus, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(corpus);
        return 1;
    }
    size_t n = (size_t)st.st_size;
    const char *buf = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (buf == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    int ncfg = argc - optind - 1;
    struct cfg *cfgs = calloc((size_t)ncfg, sizeof *cfgs);
    if (metrics_init(1) < 0) abort();
    struct metrics_shard *shard = metrics_shard(0);
    char err[1024];
    for (int i = 0; i < ncfg; i++) {
        struct cfg *k = &cfgs[i];
        char *arg = argv[optind + 1 + i], *eq = strchr(arg, '=');
        if (!eq) {
            fprintf(stderr, "engine: '%s' is not NAME=CONFIG.yml\n", arg);
            return 2;
        }
        *eq = 0;
        k->name = arg;
        k->path = eq + 1;
        if (!(k->c = config_load(k->path, err, sizeof err)) ||
            !(k->r = rules_new(k->c, shard, err, sizeof err))) {
            fprintf(stderr, "engine: %s\n", err);
            return 1;
        }
        k->wall = calloc((size_t)runs, sizeof *k->wall);
        k->cpu = calloc((size_t)runs, sizeof *k->cpu);
    }
    size_t max = 65536;
    uint64_t lines = 0;
    for (int i = 0; i < ncfg; i++) lines = engine_pass(&cfgs[i], shard, buf, n, max); /* warm-up */
    for (int i = 0; i < ncfg; i++) cfgs[i].forwarded = cfgs[i].unmatched = cfgs[i].payload_bytes = cfgs[i].parse_errors = 0;
    for (int run = 0; run < runs; run++) {
        for (int i = 0; i < ncfg; i++) {
            struct cfg *k = &cfgs[(i + run) % ncfg]; /* rotate the order from run to run */
            double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
            uint64_t l = 0;
            for (int p = 0; p < passes; p++) l += engine_pass(k, shard, buf, n, max);
            double w = clock_s(CLOCK_MONOTONIC) - w0, c = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
            k->wall[run] = (double)l / w;
            k->cpu[run] = (double)l / c;
        }
    }
    printf("{\"corpus\":\"%s\",\"lines\":%llu,\"bytes\":%zu,\"runs\":%d,\"passes\":%d,\"configs\":[",
           corpus, (unsigned long long)lines, n, runs, passes);
    for (int i = 0; i < ncfg; i++) {
        struct cfg *k = &cfgs[i];
        double per = (double)runs * passes;
        printf("%s\n {\"name\":\"%s\",\"config\":\"%s\",\"lines_per_s\":%.0f,\"lines_per_cpu_s\":%.0f,"
               "\"forwarded_per_pass\":%.0f,\"unmatched_per_pass\":%.0f,\"parse_errors_per_pass\":%.0f,"
               "\"out_bytes_per_line\":%.1f,\"wall_runs\":[",
               i ? "," : "", k->name, k->path, median(k->wall, runs), median(k->cpu, runs),
               (double)k->forwarded / per, (double)k->unmatched / per, (double)k->parse_errors / per,
               (double)k->payload_bytes / (double)(k->forwarded ? k->forwarded : 1));
        for (int r = 0; r < runs; r++) printf("%s%.0f", r ? "," : "", k->wall[r]);
        printf("],\"cpu_runs\":[");
        for (int r = 0; r < runs; r++) printf("%s%.0f", r ? "," : "", k->cpu[r]);
        printf("]}");
        rules_free(k->r);
        config_free(k->c);
        free(k->wall);
        free(k->cpu);
    }
    printf("\n]}\n");
    free(cfgs);
    metrics_free();
    return 0;
}
