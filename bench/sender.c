/* sender.c - replays a pre-framed corpus over K TCP connections at near-zero CPU cost. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Each connection sends one contiguous slice of the file, cut at line boundaries, with large
 * write(2) calls straight from the mmap'd corpus: the sender's cost is a few syscalls per MB. */
struct job {
    const char *p;
    size_t n;
    struct sockaddr_in addr;
};

static void *send_slice(void *arg) {
    struct job *j = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&j->addr, sizeof j->addr) < 0) {
        perror("connect");
        exit(1);
    }
    for (size_t off = 0; off < j->n;) {
        size_t k = j->n - off > (1 << 20) ? (1 << 20) : j->n - off;
        ssize_t w = write(fd, j->p + off, k);
        if (w <= 0) {
            perror("write");
            exit(1);
        }
        off += (size_t)w;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: sender FILE HOST PORT CONNECTIONS\n");
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
    struct job *jobs = calloc((size_t)k, sizeof *jobs);
    pthread_t *t = calloc((size_t)k, sizeof *t);
    size_t start = 0;
    for (int i = 0; i < k; i++) {
        size_t end = i == k - 1 ? n : n / (size_t)k * (size_t)(i + 1);
        while (end < n && p[end - 1] != '\n') end++;
        jobs[i].p = p + start;
        jobs[i].n = end - start;
        jobs[i].addr.sin_family = AF_INET;
        jobs[i].addr.sin_port = htons((uint16_t)atoi(argv[3]));
        inet_pton(AF_INET, argv[2], &jobs[i].addr.sin_addr);
        start = end;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < k; i++) pthread_create(&t[i], NULL, send_slice, &jobs[i]);
    for (int i = 0; i < k; i++) pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    fprintf(stderr, "sent %zu bytes over %d connections in %.3f s\n", n, k,
            (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
