/* test_worker_relp.c - unit tests for worker_relp.c's session set-up: what a RELP connection's
 * socket is made into. A real worker (not started, no listeners) and a real loopback TCP
 * connection; no Kafka. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "delivery.h"
#include "metrics.h"
#include "test.h"
#include "worker.h"
#include "worker_internal.h"

static const char yml[] = "global:\n"
                          "  listen: {address: 127.0.0.1, port: 1514}\n"
                          "  kafka: {conf: {bootstrap.servers: b}, topic: t}\n"
                          "rules: []\n";

static void *no_thread(void *arg) { return arg; }
static void no_free(void *ts) { (void)ts; }
static const struct delivery_producer no_producer = {.thread_new = no_thread, .thread_free = no_free};

/* The accepted end of a loopback TCP connection in *srv, the connecting end in *cli. */
static void tcp_pair(int *srv, int *cli) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    ASSERT_EQ_INT(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ_INT(listen(l, 1), 0);
    ASSERT_EQ_INT(getsockname(l, (struct sockaddr *)&a, &al), 0);
    *cli = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(*cli >= 0);
    ASSERT_EQ_INT(connect(*cli, (struct sockaddr *)&a, sizeof a), 0);
    *srv = accept(l, NULL, NULL);
    ASSERT(*srv >= 0);
    close(l);
}

static int nodelay(int fd) {
    int v = -1;
    socklen_t vl = sizeof v;
    ASSERT_EQ_INT(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
    return v;
}

/* A RELP server answers small frames while its client waits for them (the window): with
 * Nagle's algorithm an answer written while an earlier one is unacknowledged waits for the
 * client's delayed ACK (40 ms and more). Measured with rsyslog omrelp on loopback, interleaved
 * (bench/results/relp.md): twice the msgs/s at windowSize 128, 1.6 times at 1024. */
TEST(a_relp_session_writes_its_answers_without_nagle) {
    char err[1024];
    struct config *cfg = config_load_string("w.yml", yml, strlen(yml), err, sizeof err);
    if (!cfg) fprintf(stderr, "  %s\n", err);
    ASSERT(cfg != NULL);
    struct delivery *d = delivery_new(&(struct delivery_opts){0});
    delivery_attach(d, &no_producer);
    struct worker_shared sh = {.cfg = cfg, .delivery = d};
    struct worker *w = worker_new(0, &sh, metrics_shard(0), err, sizeof err);
    if (!w) fprintf(stderr, "  %s\n", err);
    ASSERT(w != NULL);

    int srv, cli;
    tcp_pair(&srv, &cli);
    ASSERT_EQ_INT(nodelay(srv), 0); /* the kernel's default: Nagle on */
    struct conn *c = calloc(1, sizeof *c);
    ASSERT(c != NULL);
    c->fd = srv;
    relp_conn_open(w, c);
    ASSERT(c->relp != NULL);
    ASSERT(nodelay(srv) != 0);

    relp_conn_gone(w, c);
    free(c);
    close(srv);
    close(cli);
    worker_free(w);
    delivery_free(d);
    config_free(cfg);
}

TEST_MAIN("worker_relp", TEST_ENTRY(a_relp_session_writes_its_answers_without_nagle))
