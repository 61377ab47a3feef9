/* log.h - leveled, timestamped logging to stderr, with per-call-site rate limiting. */
#ifndef HOTDOG_LOG_H
#define HOTDOG_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { L_DEBUG, L_INFO, L_WARN, L_ERROR, L_OFF };

/* Set once at start-up, before threads start; read without locking afterwards. */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int log_level_from_name(const char *name);

/* Every log function leaves errno unchanged, so a caller may log a failure and then test it. */
void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line per interval per call site at most; how many were suppressed is told on the next
 * line that gets through. The state is per call site and lock-free, so any thread may log. */
struct log_limit {
    _Atomic int64_t next_ms;
    _Atomic uint64_t suppressed;
};
#define LOG_LIMIT_INTERVAL_MS 10000
void log_write_limited(struct log_limit *lim, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A rate limit per key, for call sites that report events from many sources (librdkafka's
 * per-broker errors): each key gets its own interval, so one broker's flood never hides
 * another broker's event or a different cause. Keys hash into LOG_KEYED_SLOTS slots; a slot
 * that another key holds is handed to the new key with a fresh interval, so a colliding key is
 * never silenced (at worst both are limited less). Lock-free: any thread may log. */
#define LOG_KEYED_SLOTS 64
struct log_keyed {
    struct {
        _Atomic uint64_t hash;
        struct log_limit lim;
    } slot[LOG_KEYED_SLOTS];
};
void log_write_keyed(struct log_keyed *k, const char *key, size_t keylen, enum log_level lvl,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define log_debug(...) \
    do { if (log_get_level() <= L_DEBUG) log_write(L_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_write(L_INFO, __VA_ARGS__)
#define log_warn(...) log_write(L_WARN, __VA_ARGS__)
#define log_error(...) log_write(L_ERROR, __VA_ARGS__)
#define log_limited(lvl, ...)                                \
    do {                                                     \
        static struct log_limit log__lim;                    \
        log_write_limited(&log__lim, (lvl), __VA_ARGS__);    \
    } while (0)

#endif
