/* test_worker.c - unit tests for the worker's liveness ping (what feeds the systemd watchdog
 * and the workers.stalled gauge). A real worker thread, no listeners, no Kafka. */
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "delivery.h"
#include "metrics.h"
#include "test.h"
#include "worker.h"

static const char yml[] = "global:\n"
                          "  listen: {address: 127.0.0.1, port: 1514}\n"
                          "  kafka: {conf: {bootstrap.servers: b}, topic: t}\n"
                          "rules: []\n";

/* A producer nothing is ever handed to: the worker makes its delivery lane with it. */
static void *no_thread(void *arg) { return arg; }
static void no_free(void *ts) { (void)ts; }
static const struct delivery_producer no_producer = {.thread_new = no_thread, .thread_free = no_free};

struct fixture {
    struct config *cfg;
    struct delivery *d;
    struct worker_shared sh;
    struct worker *w;
};

static void setup(struct fixture *f) {
    char err[1024];
    memset(f, 0, sizeof *f);
    f->cfg = config_load_string("w.yml", yml, strlen(yml), err, sizeof err);
    if (!f->cfg) fprintf(stderr, "  %s\n", err);
    ASSERT(f->cfg != NULL);
    f->d = delivery_new(&(struct delivery_opts){0});
    delivery_attach(f->d, &no_producer);
    f->sh.cfg = f->cfg; /* no listeners and no traffic: the worker never touches Kafka */
    f->sh.delivery = f->d;
    f->w = worker_new(0, &f->sh, metrics_shard(0), err, sizeof err);
    if (!f->w) fprintf(stderr, "  %s\n", err);
    ASSERT(f->w != NULL);
}

static void teardown(struct fixture *f) {
    worker_stop(f->w);
    worker_join(f->w);
    worker_free(f->w);
    delivery_free(f->d);
    config_free(f->cfg);
}

TEST(a_loop_that_never_turns_is_reported_stuck) {
    struct fixture f;
    setup(&f);
    /* Never started: the first check sends a ping that nobody answers. */
    int64_t t0 = clock_us();
    ASSERT_EQ_INT(worker_check(f.w, t0), 0);
    ASSERT_EQ_INT(worker_stalled(f.w), 0);
    ASSERT_EQ_INT(worker_check(f.w, t0 + 1000000), 1000000);
    ASSERT_EQ_INT(worker_stalled(f.w), 0); /* one second: not yet "stalled" */
    /* The wait is counted from the unanswered ping, not from the previous check. */
    ASSERT_EQ_INT(worker_check(f.w, t0 + WORKER_STALL_US), WORKER_STALL_US);
    ASSERT_EQ_INT(worker_stalled(f.w), 1);
    ASSERT_EQ_INT(worker_check(f.w, t0 + 2 * WORKER_STALL_US), 2 * WORKER_STALL_US);
    teardown(&f);
}

TEST(a_running_loop_answers_and_clears_the_stall) {
    struct fixture f;
    setup(&f);
    int64_t t0 = clock_us();
    ASSERT_EQ_INT(worker_check(f.w, t0), 0);
    ASSERT_EQ_INT(worker_check(f.w, t0 + WORKER_STALL_US), WORKER_STALL_US);
    ASSERT_EQ_INT(worker_stalled(f.w), 1);
    /* Started, the loop answers the pending ping at its next turn (the doorbell woke it). */
    ASSERT_EQ_INT(worker_start(f.w), 0);
    int64_t waited = -1;
    for (int i = 0; i < 1000 && waited != 0; i++) {
        waited = worker_check(f.w, clock_us());
        if (waited) nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    ASSERT_EQ_INT(waited, 0);
    ASSERT_EQ_INT(worker_stalled(f.w), 0);
    /* And keeps answering: each check that returns 0 found its ping answered and sent the
     * next one. */
    for (int k = 0; k < 20; k++) {
        waited = -1;
        for (int i = 0; i < 1000 && waited != 0; i++) {
            waited = worker_check(f.w, clock_us());
            if (waited) nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
        }
        ASSERT_EQ_INT(waited, 0);
    }
    teardown(&f);
}

TEST_MAIN("worker", TEST_ENTRY(a_loop_that_never_turns_is_reported_stuck),
          TEST_ENTRY(a_running_loop_answers_and_clears_the_stall))
