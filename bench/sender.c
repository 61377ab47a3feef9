/* sender.c - replays a pre-framed corpus over K TCP connections at near-zero CPU cost.
 *
 * usage: sender FILE HOST PORT CONNECTIONS [RATE]
 *
 * Each connection sends one contiguous slice of the file, cut at line boundaries, with large
 * write(2) calls straight from the mmap'd corpus: the sender's cost is a few syscalls per MB.
 * All connections are established first; then the clock starts and every thread writes.
 * RATE (lines per second over all connections, 0 = as fast as possible) paces each
 * connection at RATE/K lines/s, writing whatever lines are due every millisecond.
 * On stderr: "t0=<CLOCK_MONOTONIC s> t1=<...>" (first write begun, last write done) and a
 * summary line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct job {
    const char *p;
    size_t n;
    int fd;
    double rate; /* lines/s for this connection, 0 = unlimited */
};

static pthread_barrier_t start;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void write_all(int fd, const char *p, size_t n) {
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (1 << 20) ? (1 << 20) : n - off;
        ssize_t w = write(fd, p + off, k);
        if (w <= 0) {
            perror("write");
            exit(1);
        }
        off += (size_t)w;
    }
}

static void *send_slice(void *arg) {
    struct job *j = arg;
    pthread_barrier_wait(&start);
    if (j->rate <= 0) {
        write_all(j->fd, j->p, j->n);
    } else {
        /* Paced: every 1 ms, write the lines due by now (rate * elapsed) in one write. */
        double t0 = now();
        size_t off = 0, sent = 0;
        while (off < j->n) {
            size_t due = (size_t)((now() - t0) * j->rate) + 1, end = off;
            while (sent < due && end < j->n) {
                const char *nl = memchr(j->p + end, '\n', j->n - end);
                end = nl ? (size_t)(nl - j->p) + 1 : j->n;
                sent++;
            }
            if (end > off) write_all(j->fd, j->p + off, end - off);
            off = end;
            struct timespec d = {0, 1000 * 1000};
            nanosleep(&d, NULL);
        }
    }
    close(j->fd);
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
    /* 1,000 connections need more descriptors than the usual soft limit. */
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
    struct job *jobs = calloc((size_t)k, sizeof *jobs);
    pthread_t *t = calloc((size_t)k, sizeof *t);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_barrier_init(&start, NULL, (unsigned)k + 1);
    size_t begin = 0;
    for (int i = 0; i < k; i++) {
        size_t end = i == k - 1 ? n : n / (size_t)k * (size_t)(i + 1);
        if (end < begin) end = begin;
        while (end < n && end > 0 && p[end - 1] != '\n') end++;
        jobs[i].p = p + begin;
        jobs[i].n = end - begin;
        jobs[i].rate = rate / k;
        jobs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        if (jobs[i].fd < 0 || connect(jobs[i].fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("connect");
            return 1;
        }
        begin = end;
        if (pthread_create(&t[i], &attr, send_slice, &jobs[i])) {
            perror("pthread_create");
            return 1;
        }
    }
    double a = now();
    pthread_barrier_wait(&start);
    for (int i = 0; i < k; i++) pthread_join(t[i], NULL);
    double b = now();
    fprintf(stderr, "t0=%.6f t1=%.6f\n", a, b);
    fprintf(stderr, "sent %zu bytes over %d connections in %.3f s\n", n, k, b - a);
    return 0;
}
