/* sender.c - replays a pre-framed corpus over K TCP connections at near-zero CPU cost.
 *
 * usage: sender FILE HOST PORT CONNECTIONS [RATE]
 *
 * Each connection sends one contiguous slice of the file, cut at line boundaries, with large
 * non-blocking write(2) calls straight from the mmap'd corpus: the sender's cost is a few
 * syscalls per MB. At most SENDER_THREADS (4) threads drive the connections, each thread an
 * epoll loop over its share, so that 10,000 connections cost 4 threads rather than 10,000 (one
 * thread per connection, as this program had, spent more on scheduling than on writing). Every
 * connection is established first; then the clock starts and every connection has data to
 * write at once.
 * RATE (lines per second over all connections, 0 = as fast as possible) paces each
 * connection at RATE/K lines/s, writing whatever lines are due every millisecond.
 * On stderr: "t0=<CLOCK_MONOTONIC s> t1=<...>" (first write begun, last write done) and a
 * summary line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SENDER_THREADS 4
#define CHUNK (1 << 20)

struct conn {
    const char *p; /* this connection's slice of the corpus */
    size_t n;
    size_t off;    /* bytes written */
    size_t due;    /* paced: bytes that may be written by now (whole lines) */
    size_t lines;  /* paced: lines counted into due */
    int fd;        /* -1 once the slice is written and the socket closed */
};

struct job {
    struct conn *c; /* this thread's connections */
    int nc;
    double rate;    /* lines/s per connection, 0 = unlimited */
};

static pthread_barrier_t start;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Writes what c may write now (up to limit) without blocking; closes the socket once the
 * whole slice is written. Returns 1 when c is finished. */
static int pump(struct conn *c, size_t limit) {
    while (c->off < limit) {
        size_t k = limit - c->off > CHUNK ? CHUNK : limit - c->off;
        ssize_t w = write(c->fd, c->p + c->off, k);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
        if (w <= 0) {
            perror("write");
            exit(1);
        }
        c->off += (size_t)w;
    }
    if (c->off < c->n) return 0;
    close(c->fd);
    c->fd = -1;
    return 1;
}

/* As fast as the receiver reads: epoll says which sockets have room. */
static void send_unpaced(struct job *j) {
    int ep = epoll_create1(0), open = j->nc;
    if (ep < 0) {
        perror("epoll_create1");
        exit(1);
    }
    for (int i = 0; i < j->nc; i++) {
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = &j->c[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, j->c[i].fd, &ev) < 0) {
            perror("epoll_ctl");
            exit(1);
        }
    }
    struct epoll_event evs[256];
    while (open > 0) {
        int k = epoll_wait(ep, evs, 256, -1);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            perror("epoll_wait");
            exit(1);
        }
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd >= 0) open -= pump(c, c->n); /* close() also leaves the epoll set */
        }
    }
    close(ep);
}

/* Paced: every 1 ms, each connection may write the lines due by now (rate * elapsed). */
static void send_paced(struct job *j) {
    double t0 = now();
    int open = j->nc;
    while (open > 0) {
        size_t due_lines = (size_t)((now() - t0) * j->rate) + 1;
        for (int i = 0; i < j->nc; i++) {
            struct conn *c = &j->c[i];
            if (c->fd < 0) continue;
            while (c->lines < due_lines && c->due < c->n) {
                const char *nl = memchr(c->p + c->due, '\n', c->n - c->due);
                c->due = nl ? (size_t)(nl - c->p) + 1 : c->n;
                c->lines++;
            }
            open -= pump(c, c->due);
        }
        struct timespec d = {0, 1000 * 1000};
        nanosleep(&d, NULL);
    }
}

static void *send_job(void *arg) {
    struct job *j = arg;
    pthread_barrier_wait(&start);
    if (j->rate > 0)
        send_paced(j);
    else
        send_unpaced(j);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: sender FILE HOST PORT CONNECTIONS [RATE]\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(argv[1]);
        return 1;
    }
    size_t n = (size_t)st.st_size;
    const char *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    int k = atoi(argv[4]);
    if (k < 1) k = 1;
    double rate = argc == 6 ? atof(argv[5]) : 0;
    /* Thousands of connections need more descriptors than the usual soft limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1) {
        fprintf(stderr, "sender: bad IPv4 address %s\n", argv[2]);
        return 2;
    }
    int nt = k < SENDER_THREADS ? k : SENDER_THREADS;
    struct conn *conns = calloc((size_t)k, sizeof *conns);
    struct job *jobs = calloc((size_t)nt, sizeof *jobs);
    pthread_t *t = calloc((size_t)nt, sizeof *t);
    if (!conns || !jobs || !t) {
        perror("calloc");
        return 1;
    }
    /* Connections are connected in order and dealt to the threads in contiguous runs. */
    size_t begin = 0;
    for (int i = 0; i < k; i++) {
        size_t end = i == k - 1 ? n : n / (size_t)k * (size_t)(i + 1);
        if (end < begin) end = begin;
        while (end < n && end > 0 && p[end - 1] != '\n') end++;
        conns[i].p = p + begin;
        conns[i].n = end - begin;
        conns[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        if (conns[i].fd < 0 || connect(conns[i].fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("connect");
            return 1;
        }
        fcntl(conns[i].fd, F_SETFL, fcntl(conns[i].fd, F_GETFL) | O_NONBLOCK);
        begin = end;
    }
    pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
    for (int i = 0, first = 0; i < nt; i++) {
        int cnt = k / nt + (i < k % nt);
        jobs[i] = (struct job){.c = conns + first, .nc = cnt, .rate = rate / k};
        first += cnt;
        if (pthread_create(&t[i], NULL, send_job, &jobs[i])) {
            perror("pthread_create");
            return 1;
        }
    }
    double a = now();
    pthread_barrier_wait(&start);
    for (int i = 0; i < nt; i++) pthread_join(t[i], NULL);
    double b = now();
    fprintf(stderr, "t0=%.6f t1=%.6f\n", a, b);
    fprintf(stderr, "sent %zu bytes over %d connections (%d threads) in %.3f s\n", n, k, nt, b - a);
    return 0;
}
