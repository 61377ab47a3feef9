/* levers.c - what each way of handing messages to librdkafka costs (issue 18, goal 1): the
 * corpus bodies produced as fast as the producer takes them, with the settings every
 * contender of `make bench` uses, in one of these modes:
 *
 *   single        rd_kafka_produce() per message, RD_KAFKA_MSG_F_COPY, the partitioner
 *                 choosing (what hotdog and kcat -P do today)
 *   batch-ua      rd_kafka_produce_batch() of BATCH messages, the partitioner choosing per
 *                 message (one topic lock and one clock read per batch)
 *   batch-sticky  rd_kafka_produce_batch() of BATCH messages all to one partition, the next
 *                 partition for the next batch (also one partition-queue lock per batch); only
 *                 for messages without a key, whose partition is the producer's choice anyway
 *   sticky-free   as batch-sticky, each body malloc'd and copied here (as hotdog would have to:
 *                 its read buffers are reused) and handed over with RD_KAFKA_MSG_F_FREE, for
 *                 librdkafka to free, instead of RD_KAFKA_MSG_F_COPY
 *   sticky-nocopy as batch-sticky, each body referenced where it is (no flag): the most that not
 *                 copying could save (hotdog would have to keep every read buffer until each of
 *                 its messages is acknowledged)
 *   keyed-ua      as batch-ua, each message with a key (one of 16, as a rules config's
 *                 templated key has few values): the consistent_random partitioner hashes it
 *   keyed-hashed  as keyed-ua, each message's partition computed here as that partitioner
 *                 computes it (CRC32(key) % partitions) and named with RD_KAFKA_MSG_F_PARTITION
 *
 * Deliveries are served by a thread of their own calling rd_kafka_poll(), as in hotdog.
 *
 * usage: levers BROKER TOPIC BODIES MODE [BATCH [N]]
 * Prints one line: "librdkafka V mode M batch B sent N delivered D failed F secs S cpu_s C msgs_per_s R
 * cpu_s_per_1m P". CPU is the whole process's (getrusage), librdkafka's threads included. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "producer.h"

static atomic_size_t delivered, failed;
static atomic_int done;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk, (void)opaque;
    if (m->err) atomic_fetch_add(&failed, 1);
    else atomic_fetch_add(&delivered, 1);
}

static void *poller(void *arg) {
    rd_kafka_t *rk = arg;
    while (!atomic_load(&done)) rd_kafka_poll(rk, 100);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 7) {
        fprintf(stderr, "usage: levers BROKER TOPIC BODIES single|batch-ua|batch-sticky|sticky-free|"
                        "sticky-nocopy|keyed-ua|keyed-hashed [BATCH [N]]\n");
        return 2;
    }
    const char *mode = argv[4];
    int single = !strcmp(mode, "single"), owned = !strcmp(mode, "sticky-free"),
        nocopy = !strcmp(mode, "sticky-nocopy"), sticky = owned || nocopy || !strcmp(mode, "batch-sticky");
    int hashed = !strcmp(mode, "keyed-hashed"), keyed = hashed || !strcmp(mode, "keyed-ua");
    if (!single && !sticky && !keyed && strcmp(mode, "batch-ua")) {
        fprintf(stderr, "levers: unknown mode %s\n", mode);
        return 2;
    }
    size_t batch = argc >= 6 ? strtoul(argv[5], NULL, 10) : 256;
    if (batch < 1) batch = 1;
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
    size_t want = argc == 7 ? strtoul(argv[6], NULL, 10) : (size_t)-1;

    rd_kafka_t *rk = bench_producer("levers", argv[1], dr);
    if (!rk) return 1;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, argv[2], NULL);
    const struct rd_kafka_metadata *md;
    int32_t nparts = 1;
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].partition_cnt > 0) nparts = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    usleep(500000);
    pthread_t th;
    pthread_create(&th, NULL, poller, rk);

    static const char *const keys[16] = {"alpha", "bravo", "charlie", "delta",    "echo",  "foxtrot",
                                         "golf",  "hotel", "india",   "juliet",   "kilo",  "lima",
                                         "mike",  "nov",   "oscar",   "papa"};
    rd_kafka_message_t *ms = calloc(batch, sizeof *ms);
    double t0 = now(), c0 = cpu();
    size_t sent = 0;
    int32_t part = 0;
    const char *q = p;
    while (q < end && sent < want) {
        if (single) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            size_t n = nl ? (size_t)(nl - q) : (size_t)(end - q);
            while (rd_kafka_produce(t, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)q, n, NULL, 0,
                                    NULL) == -1)
                usleep(200);
            q += n + 1;
            sent++;
            continue;
        }
        size_t k = 0;
        while (k < batch && q < end && sent + k < want) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            size_t n = nl ? (size_t)(nl - q) : (size_t)(end - q);
            ms[k] = (rd_kafka_message_t){.payload = (void *)q, .len = n};
            if (owned) {
                ms[k].payload = malloc(n ? n : 1);
                if (!ms[k].payload) abort();
                memcpy(ms[k].payload, q, n);
            }
            if (keyed) {
                const char *key = keys[(sent + k) % 16];
                ms[k].key = (void *)key;
                ms[k].key_len = strlen(key);
                if (hashed) /* zlib's crc32, as librdkafka's rd_crc32 */
                    ms[k].partition = (int32_t)(crc32(0, (const Bytef *)key, (uInt)ms[k].key_len) % (uLong)nparts);
            }
            q += n + 1;
            k++;
        }
        int32_t to = sticky ? part : RD_KAFKA_PARTITION_UA;
        int flags = owned ? RD_KAFKA_MSG_F_FREE : nocopy ? 0 : RD_KAFKA_MSG_F_COPY;
        if (hashed) flags |= RD_KAFKA_MSG_F_PARTITION;
        part = (part + 1) % nparts;
        /* The ones the queue had no room for (err set) are produced again, until all are in. */
        size_t left = k;
        while (left) {
            int ok = rd_kafka_produce_batch(t, to, flags, ms, (int)left);
            if (ok == (int)left) break;
            size_t w = 0;
            for (size_t i = 0; i < left; i++)
                if (ms[i].err) {
                    ms[w] = ms[i];
                    ms[w++].err = 0;
                }
            left = w;
            usleep(200);
        }
        sent += k;
    }
    rd_kafka_flush(rk, 120000);
    double secs = now() - t0, c = cpu() - c0;
    atomic_store(&done, 1);
    pthread_join(th, NULL);
    printf("librdkafka %s mode %s batch %zu sent %zu delivered %zu failed %zu secs %.3f cpu_s %.3f msgs_per_s %.0f "
           "cpu_s_per_1m %.3f\n",
           rd_kafka_version_str(), mode, single ? (size_t)1 : batch, sent, atomic_load(&delivered), atomic_load(&failed), secs, c,
           (double)sent / secs, c / ((double)sent / 1e6));
    free(ms);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return 0;
}
