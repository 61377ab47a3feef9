/* log.c - leveled, timestamped logging to stderr, with per-call-site rate limiting. */
#include "log.h"

#include "clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = L_INFO;
static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_set_level(enum log_level lvl) { min_level = lvl; }
enum log_level log_get_level(void) { return min_level; }

int log_level_from_name(const char *name) {
    static const char *const lower[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, lower[i]) == 0) return i;
    if (strcmp(name, "warning") == 0) return L_WARN;
    return -1;
}

/* Formats the whole line first and writes it with one write(2), so that lines from several
 * threads never interleave. */
/* Leaves errno as it found it: callers log a failure and then still test errno (worker.c's
 * accept path checks for EMFILE after logging), and a failing stderr must not change it. */
static void vlog(enum log_level lvl, const char *suffix, const char *fmt, va_list ap) {
    int saved_errno = errno;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[lvl]);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    if (suffix) {
        size_t s = strlen(suffix);
        if (len + s > sizeof line - 2) s = sizeof line - 2 - len;
        memcpy(line + len, suffix, s);
        len += s;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere left to report a failing stderr */
    errno = saved_errno;
}

void log_write(enum log_level lvl, const char *fmt, ...) {
    if (lvl < min_level) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, NULL, fmt, ap);
    va_end(ap);
}

/* 1 if the line may be written now; else counts it as suppressed. */
static int limit_pass(struct log_limit *lim) {
    int64_t now = clock_ms();
    int64_t next = atomic_load_explicit(&lim->next_ms, memory_order_relaxed);
    if (now < next || !atomic_compare_exchange_strong(&lim->next_ms, &next,
                                                      now + LOG_LIMIT_INTERVAL_MS)) {
        atomic_fetch_add_explicit(&lim->suppressed, 1, memory_order_relaxed);
        return 0;
    }
    return 1;
}

static void vlog_limited(struct log_limit *lim, enum log_level lvl, const char *fmt, va_list ap) {
    uint64_t sup = atomic_exchange_explicit(&lim->suppressed, 0, memory_order_relaxed);
    char suffix[80];
    if (sup) snprintf(suffix, sizeof suffix, " (%llu similar lines suppressed)",
                      (unsigned long long)sup);
    vlog(lvl, sup ? suffix : NULL, fmt, ap);
}

void log_write_limited(struct log_limit *lim, enum log_level lvl, const char *fmt, ...) {
    if (lvl < min_level || !limit_pass(lim)) return;
    va_list ap;
    va_start(ap, fmt);
    vlog_limited(lim, lvl, fmt, ap);
    va_end(ap);
}

void log_write_keyed(struct log_keyed *k, const char *key, size_t keylen, enum log_level lvl,
                     const char *fmt, ...) {
    if (lvl < min_level) return;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < keylen; i++) h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    size_t i = (size_t)(h % LOG_KEYED_SLOTS);
    h |= 1; /* 0 marks a free slot */
    struct log_limit *lim = &k->slot[i].lim;
    if (atomic_exchange_explicit(&k->slot[i].hash, h, memory_order_relaxed) != h) {
        /* The slot was free or another key's: this key starts with a fresh interval. The other
         * key's count of suppressed lines is dropped; its next line gets through at once. */
        atomic_store_explicit(&lim->next_ms, 0, memory_order_relaxed);
        atomic_store_explicit(&lim->suppressed, 0, memory_order_relaxed);
    }
    if (!limit_pass(lim)) return;
    va_list ap;
    va_start(ap, fmt);
    vlog_limited(lim, lvl, fmt, ap);
    va_end(ap);
}
