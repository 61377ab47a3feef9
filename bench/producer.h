/* producer.h - the producer every `make bench` contender is given, for the bench's own C
 * producers (probe.c, levers.c): acks=all, idempotence, linger.ms=5, lz4, the same batch and
 * queue sizes. One place, so that they cannot drift apart. */
#ifndef HOTDOG_BENCH_PRODUCER_H
#define HOTDOG_BENCH_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stdio.h>

/* A producer for broker with delivery reports to dr; NULL with the reason on stderr, prefixed
 * by who. */
static inline rd_kafka_t *bench_producer(const char *who, const char *broker,
                                         void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *)) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", broker}, {"acks", "all"}, {"enable.idempotence", "true"},
                           {"linger.ms", "5"}, {"batch.num.messages", "10000"}, {"compression.codec", "lz4"},
                           {"queue.buffering.max.messages", "100000"}, {"log_level", "3"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", who, err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) { /* rd_kafka_new takes conf only when it succeeds */
        fprintf(stderr, "%s: %s\n", who, err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

#endif
