/* clock.h - the monotonic clock every module times things with. */
#ifndef HOTDOG_CLOCK_H
#define HOTDOG_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Microseconds on CLOCK_MONOTONIC: receive times, deadlines, intervals (never wall time). */
static inline int64_t clock_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Nanoseconds on CLOCK_MONOTONIC, where microseconds are too coarse to order events. */
static inline int64_t clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_ms(void) { return clock_us() / 1000; }

/* Milliseconds since the epoch (CLOCK_REALTIME): only for what leaves hotdog as a time of day,
 * such as a Kafka record's timestamp. */
static inline int64_t clock_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
