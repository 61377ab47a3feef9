/* worker.c - one event loop per thread; each worker owns the connections it accepted. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"
#include "log.h"
#include "rules.h"
#include "syslog.h"

/* One read(2) per connection per loop turn, of at most this much: the bound on the work one
 * connection can do before every other ready connection gets its turn. */
#define READ_CHUNK (64 * 1024)
#define MAX_EVENTS 64
#define ACCEPT_BATCH 64
/* While the producer queue is full, how long to wait before retrying. librdkafka drains its
 * queue in batches, so a short sleep costs nothing and avoids spinning. */
#define PAUSE_RETRY_MS 1

enum ev_kind { EV_LISTENER, EV_CONTROL, EV_CONN };

/* First member of everything registered with epoll, so that an event says what it is for. */
struct ev {
    enum ev_kind kind;
};

struct conn {
    struct ev ev;
    int fd;
    int eof;
    struct frame_state fs;
    size_t drain_left; /* at shutdown: bytes the kernel had received, still to read */
    char *tail; /* bytes read but not yet framed or forwarded; NULL when empty (idle = cheap) */
    size_t tlen, tcap;
    struct conn *prev, *next;
    char peer[64];
};

struct listen_ev {
    struct ev ev;
    struct listener *l;
};

struct worker {
    int id;
    const struct worker_shared *sh;
    struct metrics_shard *m;
    pthread_t thread;
    int started;
    int epfd, evfd, reserve_fd;
    struct ev control;
    struct listen_ev *lev;
    char *rbuf; /* one read buffer for all connections of this worker */
    size_t rcap, max_msg;
    struct conn *conns;
    struct conn *blocked; /* the connection whose message the producer refused */
    /* That message, as the rules made it: retried as is, so that rules run and counters
     * count once per message however long the producer stays full. */
    struct {
        int active;
        struct kafka_topic *topic;
        struct buf payload, key;
        int has_key;
        int64_t recv_us;
    } retry;
    struct rules *rules;          /* this worker's own compiled rules */
    struct kafka_topics *topics;  /* this worker's topic handle cache */
    int64_t paused_since;
    atomic_int stop;
};

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Queues the message, or keeps a copy for retry_submit when the producer queue is full. */
static int submit(struct worker *w, struct kafka_topic *t, const char *payload, size_t len,
                  const char *key, size_t keylen, int64_t recv_us) {
    int r = kafka_produce(w->sh->kafka, t, payload, len, key, keylen, recv_us);
    if (r == -ENOBUFS) {
        w->retry.active = 1;
        w->retry.topic = t;
        w->retry.payload.len = w->retry.key.len = 0;
        buf_append(&w->retry.payload, payload, len);
        buf_append(&w->retry.key, key, keylen);
        w->retry.has_key = key != NULL;
        w->retry.recv_us = recv_us;
        return r;
    }
    metrics_add(w->m, r == 0 ? M_KAFKA_SUBMITTED : M_KAFKA_PRODUCE_ERROR, 1);
    return 0;
}

/* Retries the refused message. 0 once it is queued (or failed for good), -ENOBUFS if not. */
static int retry_submit(struct worker *w) {
    if (!w->retry.active) return 0;
    int r = kafka_produce(w->sh->kafka, w->retry.topic, w->retry.payload.p ? w->retry.payload.p : "",
                          w->retry.payload.len, w->retry.has_key ? buf_cstr(&w->retry.key) : NULL,
                          w->retry.key.len, w->retry.recv_us);
    if (r == -ENOBUFS) return r;
    w->retry.active = 0;
    metrics_add(w->m, r == 0 ? M_KAFKA_SUBMITTED : M_KAFKA_PRODUCE_ERROR, 1);
    return 0;
}

/* Parses one frame, runs the rules over it and queues what they forward. Returns -ENOBUFS
 * when the producer queue is full: the message is then kept for retry_submit. */
static int forward(struct worker *w, const char *line, size_t n, int64_t recv_us) {
    struct syslog_msg m;
    struct rules_out out;
    metrics_add(w->m, M_LINES, 1);
    if (syslog_parse(line, n, &m)) metrics_add(w->m, M_PARSE_ERROR, 1);
    rules_eval(w->rules, &m, &out);
    if (!out.forward) return 0;
    return submit(w, kafka_topics_get(w->topics, out.topic), out.payload, out.len, out.key,
                  out.keylen, recv_us);
}

/* Frames and forwards buf[0..len). Returns the bytes used up, or -1 when the stream is
 * corrupt. Sets *blocked when it stopped because the producer queue is full. */
static long process(struct worker *w, struct conn *c, const char *buf, size_t len,
                    int64_t recv_us, int *blocked) {
    size_t off = 0;
    for (;;) {
        struct frame f;
        enum frame_status s = frame_next(&c->fs, buf + off, len - off, w->max_msg, c->eof, &f);
        off += f.consumed;
        switch (s) {
        case FRAME_MSG:
            if (forward(w, f.p, f.n, recv_us) == -ENOBUFS) {
                *blocked = 1;
                return (long)off;
            }
            break;
        case FRAME_OVERSIZE:
            metrics_add(w->m, M_OVERSIZE, 1);
            log_limited(L_WARN, "%s: frame longer than max_message_size (%zu bytes) skipped",
                        c->peer, w->max_msg);
            break;
        case FRAME_BAD_COUNT:
            metrics_add(w->m, M_BAD_COUNT, 1);
            log_limited(L_WARN, "%s: invalid octet count, closing the connection", c->peer);
            return -1;
        case FRAME_AGAIN:
            if (!f.consumed) return (long)off;
            break;
        }
    }
}

/* Keeps src[0..n) as the connection's tail. src may point into the tail itself. */
static void tail_keep(struct conn *c, const char *src, size_t n) {
    if (n == 0) {
        free(c->tail);
        c->tail = NULL;
        c->tlen = c->tcap = 0;
        return;
    }
    if (src >= c->tail && src < c->tail + c->tcap) {
        memmove(c->tail, src, n);
    } else {
        if (n > c->tcap) {
            size_t cap = 256;
            while (cap < n) cap *= 2;
            free(c->tail);
            c->tail = malloc(cap);
            if (!c->tail) abort();
            c->tcap = cap;
        }
        memcpy(c->tail, src, n);
    }
    c->tlen = n;
}

static void conn_close(struct worker *w, struct conn *c) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev) c->prev->next = c->next;
    else w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (w->blocked == c) w->blocked = NULL;
    free(c->tail);
    free(c);
    metrics_add(w->m, M_CONN_CLOSED, 1);
}

/* Processes buf (the tail plus what was just read), keeps the rest, and closes the connection
 * at EOF once everything is forwarded. Returns 1 if the connection was closed. */
static int conn_process(struct worker *w, struct conn *c, const char *buf, size_t len,
                        int64_t recv_us) {
    int blocked = 0;
    long used = process(w, c, buf, len, recv_us, &blocked);
    if (used < 0) {
        conn_close(w, c);
        return 1;
    }
    tail_keep(c, buf + used, len - (size_t)used);
    if (blocked) {
        if (!w->blocked) {
            metrics_add(w->m, M_QUEUE_FULL, 1);
            log_limited(L_WARN, "worker %d: Kafka producer queue full, pausing reads "
                        "(backpressure, nothing dropped)", w->id);
            w->paused_since = now_us();
        }
        w->blocked = c;
        return 0;
    }
    if (c->eof) {
        conn_close(w, c);
        return 1;
    }
    return 0;
}

/* Reads once into the worker buffer behind the connection's tail and processes it. */
static int conn_read(struct worker *w, struct conn *c, int64_t recv_us) {
    size_t have = c->tlen;
    ssize_t r = read(c->fd, w->rbuf + have, w->rcap - have);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) return 0;
        metrics_add(w->m, M_READ_ERROR, 1);
        log_limited(L_WARN, "%s: read error: %s", c->peer, strerror(errno));
        r = 0; /* deliver what was received, then close */
    }
    if (r == 0) c->eof = 1;
    if (have) memcpy(w->rbuf, c->tail, have);
    return conn_process(w, c, w->rbuf, have + (size_t)r, recv_us);
}

/* Retries the blocked connection. Returns -1 while the producer is still full, else 0, or 1
 * if the connection was closed (it had reached EOF). */
static int unblock(struct worker *w) {
    if (retry_submit(w) < 0) return -1;
    struct conn *c = w->blocked;
    w->blocked = NULL;
    int closed = conn_process(w, c, c->tail, c->tlen, now_us());
    if (w->blocked) return -1;
    metrics_add(w->m, M_BACKPRESSURE_US, (uint64_t)(now_us() - w->paused_since));
    return closed;
}

static void conn_new(struct worker *w, int fd, const struct sockaddr_storage *ss, socklen_t sl) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->ev.kind = EV_CONN;
    c->fd = fd;
    char host[48] = "?", port[8] = "?";
    getnameinfo((const struct sockaddr *)ss, sl, host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(c->peer, sizeof c->peer, "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
        log_limited(L_ERROR, "worker %d: epoll_ctl: %s", w->id, strerror(errno));
        close(fd);
        free(c);
        return;
    }
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    metrics_add(w->m, M_CONN_ACCEPTED, 1);
    log_debug("worker %d: connection from %s", w->id, c->peer);
}

static void accept_batch(struct worker *w, struct listener *l) {
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_new(w, fd, &ss, sl);
            continue;
        }
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
        metrics_add(w->m, M_ACCEPT_ERROR, 1);
        log_limited(L_ERROR, "%s: accept: %s", l->name, strerror(errno));
        if ((errno == EMFILE || errno == ENFILE) && w->reserve_fd >= 0) {
            /* Out of descriptors: the pending connection would make accept fail again at
             * once, forever. Spend the reserve descriptor to accept and shed it. */
            close(w->reserve_fd);
            fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) close(fd);
            w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        return;
    }
}

static void control_drain(struct worker *w) {
    uint64_t v;
    ssize_t r = read(w->evfd, &v, sizeof v);
    (void)r; /* EAGAIN only: the eventfd is a doorbell, its value is meaningless */
}

/* Counts the complete messages left in a connection's tail that will never be forwarded. */
static uint64_t count_frames(struct worker *w, struct conn *c) {
    uint64_t n = 0;
    struct frame f;
    for (size_t off = 0; off < c->tlen; off += f.consumed) {
        enum frame_status s = frame_next(&c->fs, c->tail + off, c->tlen - off, w->max_msg, c->eof, &f);
        n += s == FRAME_MSG;
        if (!f.consumed) break;
    }
    return n;
}

/* Forwards everything connection c had sent when shutdown began (c->drain_left bytes), then
 * closes it. Data that arrives later is not read: a sender that keeps sending must not keep
 * hotdog alive. A sender that had closed its side gets its last, unterminated line delivered
 * (EOF semantics); one still connected may be in the middle of a line, which is not a message
 * yet: it is counted and dropped. Gives up when the producer still refuses messages at the
 * deadline, counting them as lost. */
static void conn_drain(struct worker *w, struct conn *c, int64_t deadline) {
    for (;;) {
        if (w->blocked) {
            if (now_us() > deadline) break;
            int r = unblock(w);
            if (r < 0) poll(NULL, 0, PAUSE_RETRY_MS);
            if (r == 1) return;
            continue;
        }
        size_t have = c->tlen, room = w->rcap - have;
        ssize_t r;
        if (c->drain_left) {
            r = read(c->fd, w->rbuf + have, room < c->drain_left ? room : c->drain_left);
            if (r > 0) c->drain_left -= (size_t)r;
        } else {
            char b;
            r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT); /* only to tell EOF from "more" */
            if (r > 0) {
                r = -1;
                errno = EAGAIN;
            }
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (c->tlen) {
                metrics_add(w->m, M_SHUTDOWN_PARTIAL, 1);
                log_warn("worker %d: %s: dropped an unfinished line of %zu bytes at shutdown",
                         w->id, c->peer, c->tlen);
            }
            conn_close(w, c);
            return;
        }
        if (r <= 0) {
            c->eof = 1;
            r = 0;
        }
        if (have) memcpy(w->rbuf, c->tail, have);
        if (conn_process(w, c, w->rbuf, have + (size_t)r, now_us())) return;
    }
    uint64_t lost = count_frames(w, c) + (uint64_t)w->retry.active;
    w->retry.active = 0;
    metrics_add(w->m, M_SHUTDOWN_LOST, lost);
    log_error("worker %d: %s: %llu message(s) could not be queued before the shutdown deadline",
              w->id, c->peer, (unsigned long long)lost);
    conn_close(w, c);
}

static void shutdown_drain(struct worker *w) {
    for (size_t i = 0; i < w->sh->nlisteners; i++)
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->sh->listeners[i].fd, NULL);
    /* What every connection has received by now, measured at one moment for all of them. */
    for (struct conn *c = w->conns; c; c = c->next) {
        int n = 0;
        c->drain_left = ioctl(c->fd, FIONREAD, &n) == 0 && n > 0 ? (size_t)n : 0;
    }
    int64_t deadline = now_us() + w->sh->cfg->kafka.shutdown_timeout_ms * 1000;
    /* The blocked connection first: its frames come before anything still unread. */
    if (w->blocked) conn_drain(w, w->blocked, deadline);
    while (w->conns) conn_drain(w, w->conns, deadline);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct epoll_event evs[MAX_EVENTS];
    while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        if (w->blocked && unblock(w) < 0) {
            /* Still full: sleep on the doorbell only, leaving sockets unread so that TCP
             * pushes back on the senders. */
            struct pollfd p = {.fd = w->evfd, .events = POLLIN};
            if (poll(&p, 1, PAUSE_RETRY_MS) > 0) control_drain(w);
            continue;
        }
        int n = epoll_wait(w->epfd, evs, MAX_EVENTS, -1);
        int64_t now = now_us();
        for (int i = 0; i < n; i++) {
            struct ev *e = evs[i].data.ptr;
            if (e->kind == EV_CONTROL) {
                control_drain(w);
            } else if (w->blocked) {
                /* Paused: leave the rest of this batch in the kernel; level-triggered
                 * epoll reports it again once the producer has room. */
                continue;
            } else if (e->kind == EV_LISTENER) {
                accept_batch(w, ((struct listen_ev *)e)->l);
            } else {
                conn_read(w, (struct conn *)e, now);
            }
        }
    }
    shutdown_drain(w);
    return NULL;
}

struct worker *worker_new(int id, const struct worker_shared *sh, struct metrics_shard *m) {
    struct worker *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->id = id;
    w->sh = sh;
    w->m = m;
    w->epfd = w->evfd = w->reserve_fd = -1;
    w->control.kind = EV_CONTROL;
    w->max_msg = (size_t)sh->cfg->listen.max_message_size;
    char err[1024];
    w->rules = rules_new(sh->cfg, m, err, sizeof err);
    if (!w->rules) { /* main compiled the same rules already; only memory can fail here */
        log_error("worker %d: %s", id, err);
        goto err;
    }
    w->topics = kafka_topics_new(sh->kafka);
    /* Room for a tail (at most one unfinished frame and its octet count) plus one read. */
    w->rcap = w->max_msg + 64 + READ_CHUNK;
    w->rbuf = malloc(w->rcap);
    w->lev = calloc(sh->nlisteners, sizeof *w->lev);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!w->rbuf || !w->lev || w->epfd < 0 || w->evfd < 0) goto err;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &w->control};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &e) < 0) goto err;
    for (size_t i = 0; i < sh->nlisteners; i++) {
        w->lev[i].ev.kind = EV_LISTENER;
        w->lev[i].l = &sh->listeners[i];
        /* EPOLLEXCLUSIVE: a new connection wakes one idle worker, not all of them. */
        struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &w->lev[i]};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, sh->listeners[i].fd, &le) < 0) goto err;
    }
    return w;
err:
    worker_free(w);
    return NULL;
}

int worker_start(struct worker *w) {
    int e = pthread_create(&w->thread, NULL, worker_main, w);
    w->started = e == 0;
    return -e;
}

void worker_stop(struct worker *w) {
    atomic_store(&w->stop, 1);
    uint64_t one = 1;
    ssize_t r = write(w->evfd, &one, sizeof one);
    (void)r; /* a full eventfd counter still wakes the worker */
}

void worker_join(struct worker *w) {
    if (w->started) pthread_join(w->thread, NULL);
    w->started = 0;
}

void worker_free(struct worker *w) {
    if (!w) return;
    while (w->conns) conn_close(w, w->conns);
    if (w->epfd >= 0) close(w->epfd);
    if (w->evfd >= 0) close(w->evfd);
    if (w->reserve_fd >= 0) close(w->reserve_fd);
    free(w->lev);
    free(w->rbuf);
    rules_free(w->rules);
    kafka_topics_free(w->topics);
    buf_free(&w->retry.payload);
    buf_free(&w->retry.key);
    free(w);
}

const struct rules *worker_rules(const struct worker *w) { return w->rules; }
