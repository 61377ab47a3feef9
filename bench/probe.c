/* probe.c - the latency baseline for `make bench`: a bare librdkafka producer with the same
 * settings as every contender, producing the corpus bodies at a fixed rate to a topic, and
 * timing each message from rd_kafka_produce() to its delivery report
 * (rd_kafka_message_latency). What it sees is the broker's and the machine's share of
 * hotdog's receive->ack latency; hotdog adds its framing, parsing and queueing to that.
 *
 * usage: probe BROKER TOPIC BODIES RATE [N]
 * Prints one line: "sent N delivered D failed F p50_ms X p99_ms Y mean_ms Z max_ms W secs S". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "producer.h"

static int64_t *lat;
static size_t nlat, failed;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk, (void)opaque;
    if (m->err) failed++;
    else lat[nlat++] = rd_kafka_message_latency(m);
}

static int cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: probe BROKER TOPIC BODIES RATE [N]\n");
        return 2;
    }
    int fd = open(argv[3], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(argv[3]);
        return 1;
    }
    const char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    const char *end = p + st.st_size;
    double rate = atof(argv[4]);
    size_t want = argc == 6 ? strtoul(argv[5], NULL, 10) : (size_t)-1;
    size_t lines = 0;
    for (const char *q = p; q < end && (q = memchr(q, '\n', (size_t)(end - q))); q++) lines++;
    if (want > lines) want = lines;
    lat = calloc(want + 1, sizeof *lat);

    rd_kafka_t *rk = bench_producer("probe", argv[1], dr);
    if (!rk) return 1;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, argv[2], NULL);
    /* Connected and the topic known before the clock starts, like the forwarders. */
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_metadata_destroy(md);
    usleep(500000);

    double t0 = now();
    size_t sent = 0;
    const char *q = p;
    while (sent < want) {
        size_t due = (size_t)((now() - t0) * rate) + 1;
        while (sent < due && sent < want) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            size_t n = (size_t)(nl - q);
            while (rd_kafka_produce(t, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)q, n, NULL, 0,
                                    NULL) == -1)
                rd_kafka_poll(rk, 1);
            q = nl + 1;
            sent++;
        }
        rd_kafka_poll(rk, 0);
        struct timespec d = {0, 1000 * 1000};
        nanosleep(&d, NULL);
    }
    rd_kafka_flush(rk, 60000);
    double secs = now() - t0;
    qsort(lat, nlat, sizeof *lat, cmp);
    double sum = 0;
    for (size_t i = 0; i < nlat; i++) sum += (double)lat[i];
    printf("sent %zu delivered %zu failed %zu p50_ms %.3f p99_ms %.3f mean_ms %.3f max_ms %.3f secs %.3f\n",
           sent, nlat, failed, nlat ? lat[nlat / 2] / 1e3 : 0, nlat ? lat[nlat * 99 / 100] / 1e3 : 0,
           nlat ? sum / nlat / 1e3 : 0, nlat ? lat[nlat - 1] / 1e3 : 0, secs);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return 0;
}
