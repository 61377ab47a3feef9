/* test_latency.c - the receive-to-ack histogram's buckets (kafka.h). */
#include <stdint.h>

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

TEST_MAIN("latency", TEST_ENTRY(bounds_rise_by_quarter_octaves), TEST_ENTRY(every_latency_falls_in_its_bucket))
