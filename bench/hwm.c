/* hwm.c - the benchmark's clock: creates topics and waits until the sum of a topic's high
 * watermarks reaches N, with one long-lived librdkafka handle, so polling costs one
 * ListOffsets round trip every few milliseconds instead of a process start.
 *
 * usage: hwm BROKER        then commands on stdin, one per line, one answer line each:
 *   create TOPIC           auto-create TOPIC (metadata request) and wait for its leaders
 *                          -> "ok PARTITIONS" | "error REASON"
 *   wait TOPIC N SECS      poll every 5 ms until sum(high watermarks) >= N or SECS pass
 *                          -> "done T SUM" | "timeout T SUM"  (T: CLOCK_MONOTONIC seconds
 *                          when the sum was first seen >= N, comparable with time.monotonic())
 *   count TOPIC            -> "count SUM"
 *   now                    -> "now T"
 * Every answer is flushed at once; EOF on stdin ends the program. */
#define _GNU_SOURCE
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static rd_kafka_t *rk;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Partitions of topic with a leader, or -1 when the topic is unknown. */
static int partitions(const char *topic) {
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topics[0].partition_cnt > 0) {
            n = md->topics[0].partition_cnt;
            for (int i = 0; i < n; i++)
                if (md->topics[0].partitions[i].leader < 0) n = 0;
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

static int64_t sum_hwm(const char *topic, int np) {
    int64_t sum = 0;
    for (int p = 0; p < np; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            return -1;
        sum += hi;
    }
    return sum;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: hwm BROKER (commands on stdin: create T | wait T N SECS | count T | now)\n");
        return 2;
    }
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) ||
        rd_kafka_conf_set(conf, "allow.auto.create.topics", "true", err, sizeof err) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err)) {
        fprintf(stderr, "hwm: %s\n", err);
        return 1;
    }
    /* A producer handle: its metadata requests may auto-create topics. Nothing is produced. */
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "hwm: %s\n", err);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char line[1024], topic[512];
    while (fgets(line, sizeof line, stdin)) {
        long long n;
        double secs;
        if (sscanf(line, "create %511s", topic) == 1) {
            int np = -1;
            double end = now() + 30;
            while ((np = partitions(topic)) <= 0 && now() < end) usleep(50000);
            if (np > 0) printf("ok %d\n", np);
            else printf("error topic %s has no leader after 30 s\n", topic);
        } else if (sscanf(line, "wait %511s %lld %lf", topic, &n, &secs) == 3) {
            int np = partitions(topic);
            double end = now() + secs, t = 0;
            int64_t s = -1;
            while (np > 0) {
                s = sum_hwm(topic, np);
                t = now();
                if (s >= n || t > end) break;
                struct timespec d = {0, 5 * 1000 * 1000};
                nanosleep(&d, NULL);
            }
            printf("%s %.6f %lld\n", s >= n ? "done" : "timeout", t, (long long)s);
        } else if (sscanf(line, "count %511s", topic) == 1) {
            int np = partitions(topic);
            printf("count %lld\n", (long long)(np > 0 ? sum_hwm(topic, np) : -1));
        } else if (!strncmp(line, "now", 3)) {
            printf("now %.6f\n", now());
        } else {
            printf("error unknown command\n");
        }
    }
    rd_kafka_destroy(rk);
    return 0;
}
