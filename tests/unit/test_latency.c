/* test_latency.c - kafka.h's pure helpers: the produce-to-ack histogram's buckets, the
 * original's error words, Kafka's topic-name rule. */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <string.h>

#include "kafka.h"
#include "test.h"

TEST(bounds_rise_by_quarter_octaves) {
    ASSERT_EQ_INT(kafka_latency_bound_us(0), 80);
    ASSERT_EQ_INT(kafka_latency_bound_us(1), 96);
    ASSERT_EQ_INT(kafka_latency_bound_us(2), 112);
    ASSERT_EQ_INT(kafka_latency_bound_us(3), 128);
    ASSERT_EQ_INT(kafka_latency_bound_us(4), 160);
    ASSERT_EQ_INT(kafka_latency_bound_us(KAFKA_LATENCY_BUCKETS - 1), (uint64_t)1 << 30);
    for (int i = 1; i < KAFKA_LATENCY_BUCKETS; i++) {
        uint64_t lo = kafka_latency_bound_us(i - 1), hi = kafka_latency_bound_us(i);
        ASSERT(hi > lo);
        ASSERT(hi - lo <= lo / 4 + 1); /* no bucket wider than a quarter of its start */
    }
}

TEST(every_latency_falls_in_its_bucket) {
    uint64_t samples[] = {0, 1, 63, 64, 79, 80, 95, 96, 127, 128, 129, 1000, 19999, 20000, 38900,
                          1u << 20, (1u << 30) - 1, 1u << 30, UINT64_MAX / 2};
    for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
        uint64_t d = samples[k];
        int b = kafka_latency_bucket(d);
        ASSERT(b >= 0 && b <= KAFKA_LATENCY_BUCKETS);
        if (b < KAFKA_LATENCY_BUCKETS) ASSERT(d < kafka_latency_bound_us(b));
        else ASSERT(d >= kafka_latency_bound_us(KAFKA_LATENCY_BUCKETS - 1));
        if (b > 0) ASSERT(d >= kafka_latency_bound_us(b - 1));
    }
    for (uint64_t d = 0; d < 200000; d += 7) {
        int b = kafka_latency_bucket(d);
        ASSERT(d < kafka_latency_bound_us(b));
        if (b > 0) ASSERT(d >= kafka_latency_bound_us(b - 1));
    }
}

/* The words the original hotdog's statsd uses (measured: its kafka.rs tests and its output
 * for a too-large message and invalid topic names). */
TEST(error_words_are_the_originals) {
    char buf[64];
    ASSERT_EQ_STR(kafka_err_word(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, buf, sizeof buf), "messagetimedout");
    ASSERT_EQ_STR(kafka_err_word(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, buf, sizeof buf), "unknowntopic");
    ASSERT_EQ_STR(kafka_err_word(RD_KAFKA_RESP_ERR__READ_ONLY, buf, sizeof buf), "readonly");
    ASSERT_EQ_STR(kafka_err_word(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, buf, sizeof buf), "messagesizetoolarge");
    ASSERT_EQ_STR(kafka_err_word(RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, buf, sizeof buf), "invalidtopic");
    ASSERT_EQ_STR(kafka_err_word(RD_KAFKA_RESP_ERR__INVALID_ARG, buf, sizeof buf), "invalidargument");
    ASSERT_EQ_STR(kafka_err_word(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, buf, sizeof buf),
                  "unknowntopicorpartition");
    ASSERT_EQ_STR(kafka_err_word(RD_KAFKA_RESP_ERR__TRANSPORT, buf, sizeof buf), "brokertransportfailure");
    ASSERT_EQ_STR(kafka_err_word(RD_KAFKA_RESP_ERR_PRINCIPAL_DESERIALIZATION_FAILURE, buf, sizeof buf),
                  "principaldeserializationfailure");
    /* Newer than the original's librdkafka: librdkafka's own name, in the same style. */
    const char *w = kafka_err_word(RD_KAFKA_RESP_ERR_PRINCIPAL_DESERIALIZATION_FAILURE + 1, buf, sizeof buf);
    ASSERT(w == buf && w[0] && !strchr(w, '_'));
    for (const char *c = w; *c; c++) ASSERT(!(*c >= 'A' && *c <= 'Z'));
}

TEST(topic_names_follow_kafkas_rule) {
    char longest[KAFKA_TOPIC_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[KAFKA_TOPIC_MAX] = 0;
    ASSERT(kafka_topic_valid(longest));
    longest[KAFKA_TOPIC_MAX] = 'a';
    longest[KAFKA_TOPIC_MAX + 1] = 0;
    ASSERT(!kafka_topic_valid(longest));
    ASSERT(kafka_topic_valid("logs.app-1_X"));
    ASSERT(kafka_topic_valid("..."));
    ASSERT(!kafka_topic_valid(""));
    ASSERT(!kafka_topic_valid("."));
    ASSERT(!kafka_topic_valid(".."));
    ASSERT(!kafka_topic_valid("bad topic!"));
    ASSERT(!kafka_topic_valid("caf\xc3\xa9"));
    ASSERT(!kafka_topic_valid("a/b"));
    ASSERT(!kafka_topic_valid("a\tb"));
}

/* The worker's topic cache answers NULL for a name Kafka would refuse, before it asks the
 * producer for a handle (so no handle and no cache entry is ever made for one). */
TEST(topic_cache_refuses_invalid_names) {
    struct kafka_topics *c = kafka_topics_new(NULL); /* no producer: it must not be reached */
    ASSERT(kafka_topics_get(c, "bad topic!") == NULL);
    ASSERT(kafka_topics_get(c, "") == NULL);
    ASSERT(kafka_topics_get(c, "..") == NULL);
    ASSERT(kafka_topics_get(c, "bad topic!") == NULL); /* still not cached */
    kafka_topics_free(c);
}

TEST_MAIN("latency", TEST_ENTRY(bounds_rise_by_quarter_octaves), TEST_ENTRY(every_latency_falls_in_its_bucket),
          TEST_ENTRY(error_words_are_the_originals), TEST_ENTRY(topic_names_follow_kafkas_rule),
          TEST_ENTRY(topic_cache_refuses_invalid_names))
