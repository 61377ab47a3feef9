/* test_log.c - unit tests for the log's rate limits: per call site, and per key (librdkafka's
 * events, one key per broker and cause). stderr is redirected to a temporary file. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

/* Runs fn with stderr going to a file; returns what it wrote (static buffer). */
static const char *capture(void (*fn)(void)) {
    static char out[65536];
    char path[] = "/tmp/hotdog-test-log-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    close(fd);
    unlink(path);
    out[n > 0 ? n : 0] = 0;
    return out;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void broker_events(void) {
    static struct log_keyed k;
    /* Broker 1 disconnects again and again; then broker 2 disconnects once. */
    for (int i = 0; i < 5; i++) log_write_keyed(&k, "b1 down", 7, L_WARN, "broker 1: Disconnected");
    log_write_keyed(&k, "b2 down", 7, L_WARN, "broker 2: Disconnected");
    log_write_keyed(&k, "b1 auth", 7, L_ERROR, "broker 1: authentication failed");
}

/* Found with a three-node cluster: one rate limit per call site let broker 1's repeated
 * disconnects hide broker 2's. */
TEST(a_keyed_limit_never_hides_another_brokers_event) {
    const char *out = capture(broker_events);
    ASSERT_EQ_INT(count(out, "broker 1: Disconnected"), 1);
    ASSERT_EQ_INT(count(out, "broker 2: Disconnected"), 1);
    ASSERT_EQ_INT(count(out, "broker 1: authentication failed"), 1);
}

static void site_events(void) {
    for (int i = 0; i < 5; i++) log_limited(L_WARN, "event %d", i);
}

TEST(a_call_site_limit_lets_one_line_through_per_interval) {
    const char *out = capture(site_events);
    ASSERT_EQ_INT(count(out, "event "), 1);
    ASSERT(strstr(out, "event 0") != NULL);
}

static void colliding_keys(void) {
    static struct log_keyed k;
    /* More keys than slots: every key still gets its first line through. */
    char key[16];
    for (int i = 0; i < 3 * LOG_KEYED_SLOTS; i++) {
        int n = snprintf(key, sizeof key, "key%d", i);
        log_write_keyed(&k, key, (size_t)n, L_WARN, "first of %s", key);
    }
}

TEST(more_keys_than_slots_still_log_each_key) {
    const char *out = capture(colliding_keys);
    ASSERT_EQ_INT(count(out, "first of key"), 3 * LOG_KEYED_SLOTS);
}

/* worker.c logs a failed accept4 and then tests errno for EMFILE to free its reserve
 * descriptor: a log line whose write to stderr fails (a closed pipe to journald) must not
 * change the errno it is reporting. */
TEST(logging_keeps_errno_even_when_stderr_fails) {
    int p[2];
    ASSERT_EQ_INT(pipe(p), 0);
    close(p[0]); /* every write to p[1] now fails with EPIPE */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    int saved = dup(STDERR_FILENO);
    dup2(p[1], STDERR_FILENO);
    errno = EMFILE;
    log_error("accept: %s", strerror(errno));
    int after_write = errno;
    errno = EMFILE;
    log_limited(L_ERROR, "accept: %s", strerror(errno));
    int after_limited = errno;
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    signal(SIGPIPE, old);
    ASSERT_EQ_INT(after_write, EMFILE);
    ASSERT_EQ_INT(after_limited, EMFILE);
}

TEST_MAIN("test_log", TEST_ENTRY(a_keyed_limit_never_hides_another_brokers_event),
          TEST_ENTRY(a_call_site_limit_lets_one_line_through_per_interval),
          TEST_ENTRY(more_keys_than_slots_still_log_each_key),
          TEST_ENTRY(logging_keeps_errno_even_when_stderr_fails))
