/* worker.c - one event loop per thread; each worker owns the connections it accepted. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "delivery.h"
#include "listener.h"
#include "log.h"
#include "pipeline.h"
#include "syslog.h"
#include "tls.h"
#include "worker_internal.h"

#define MAX_EVENTS 64
#define ACCEPT_BATCH 64
/* While the producer queue is full, how long to wait before retrying. librdkafka drains its
 * queue in batches, so a short sleep costs nothing and avoids spinning. */
#define PAUSE_RETRY_MS 1
/* How often handshake and idle deadlines are checked. */
#define SWEEP_MS 200


int worker_forward(struct worker *w, const char *line, size_t n, int64_t recv_us) {
    struct syslog_msg m;
    struct rules_out out;
    if (!pipeline_message(w->rules, w->m, line, n, &m, &out)) return 0;
    struct record r = out.rec;
    r.recv_us = recv_us;
    r.source = w->src_udp ? RECORD_UDP : RECORD_TCP;
    if (!r.timestamp_ms) { /* timestamp: receive */
        r.timestamp_ms = w->recv_ms;
        r.ts_read = 1; /* a batch produced at the end of this read is stamped then */
    }
    return delivery_submit(w->lane, &r, w->spill);
}

int worker_stage_flush(struct worker *w) { return delivery_flush(w->lane); }

void worker_pause(struct worker *w) {
    metrics_add(w->m, M_QUEUE_FULL, 1);
    if (delivery_staged(w->lane)) /* delivery_flush has said why: the spool is full */
        log_limited(L_WARN, "worker %d: spool full (max_bytes), pausing reads (backpressure, "
                    "nothing dropped)", w->id);
    else
        log_limited(L_WARN, "worker %d: Kafka producer queue full, pausing reads (backpressure, "
                    "nothing dropped)", w->id);
    w->paused_since = clock_us();
}

/* What process hands each frame of a connection. */
struct frames {
    struct worker *w;
    struct conn *c;
    int64_t recv_us;
    int blocked; /* stopped because the producer is full */
};

static int forward_frame(void *arg, const struct frame *f) {
    struct frames *fr = arg;
    if (f->truncated) {
        metrics_add(fr->w->m, M_TRUNCATED, 1);
        log_limited(L_WARN, "%s: frame longer than max_message_size (%ld bytes): delivered "
                    "truncated, the rest discarded", fr->c->peer, fr->c->l->cfg->max_message_size);
    }
    fr->blocked = worker_forward(fr->w, f->p, f->n, fr->recv_us) == -ENOBUFS;
    return fr->blocked;
}

/* Frames and forwards buf[0..len). Returns the bytes used up, or -1 when the stream is
 * corrupt. Sets *blocked when it stopped because the producer queue is full. */
static long process(struct worker *w, struct conn *c, const char *buf, size_t len,
                    int64_t recv_us, int *blocked) {
    struct frames fr = {.w = w, .c = c, .recv_us = recv_us};
    long used = pipeline_frames(&c->fs, buf, len, (size_t)c->l->cfg->max_message_size, c->eof,
                                forward_frame, &fr);
    if (used == PIPELINE_CORRUPT) {
        metrics_add(w->m, M_BAD_COUNT, 1);
        log_limited(L_WARN, "%s: invalid octet count, closing the connection", c->peer);
        return -1;
    }
    *blocked = fr.blocked;
    return used;
}

/* Bytes of tail buffers all workers hold, for the budget (global.max_buffered_bytes) and the
 * buffered_bytes gauge. Changed when a tail buffer is allocated or freed: per read at most,
 * never per message. */
static _Atomic int64_t buffered_total;

int64_t worker_buffered_bytes(void) { return atomic_load_explicit(&buffered_total, memory_order_relaxed); }

/* Tails of this size or more are mapped directly, so that closing a connection that held a
 * long partial line gives the memory back to the system at once (from the heap, glibc keeps
 * freed blocks of 64 KB: 3,000 such connections left 122 MB of RSS after they closed). */
#define TAIL_MMAP_MIN ((size_t)64 << 10)

static void tail_set(struct conn *c, char *p, size_t cap) {
    if (c->tail) {
        if (c->tcap >= TAIL_MMAP_MIN) munmap(c->tail, c->tcap);
        else free(c->tail);
    }
    atomic_fetch_add_explicit(&buffered_total, (int64_t)cap - (int64_t)c->tcap, memory_order_relaxed);
    c->tail = p;
    c->tcap = cap;
}

static char *tail_alloc(size_t cap) {
    if (cap < TAIL_MMAP_MIN) {
        char *p = malloc(cap);
        if (!p) abort();
        return p;
    }
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) abort();
    return p;
}

/* Keeps src[0..n) as the connection's tail. src may point into the tail itself. A big tail
 * buffer that holds little shrinks, so that a long line once read does not keep its memory. */
static void tail_keep(struct conn *c, const char *src, size_t n) {
    c->tlen = n;
    if (n == 0) {
        tail_set(c, NULL, 0);
        return;
    }
    if (n <= c->tcap && !(c->tcap >= TAIL_MMAP_MIN && n < c->tcap / 8)) {
        memmove(c->tail, src, n); /* src is in the tail, or in the worker's read buffer */
        return;
    }
    size_t cap = 256;
    while (cap < n) cap *= 2;
    char *p = tail_alloc(cap);
    memcpy(p, src, n); /* before the old tail, where src may be, is given back */
    tail_set(c, p, cap);
}

void worker_ready_push(struct worker *w, struct conn *c) {
    if (c->ready) return;
    c->ready = 1;
    c->rnext = w->ready;
    w->ready = c;
}

void worker_conn_close(struct worker *w, struct conn *c) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) tls_conn_close(c);
    close(c->fd);
    if (c->prev) c->prev->next = c->next;
    else w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->ready)
        for (struct conn **p = &w->ready; *p; p = &(*p)->rnext)
            if (*p == c) {
                *p = c->rnext;
                break;
            }
    if (w->blocked == c) { /* what it sent before stays held: the worker still waits for it */
        w->blocked = NULL;
        w->blocked_lane = 1;
    }
    if (c->relp) relp_conn_gone(w, c);
    atomic_fetch_sub(&c->l->conns, 1);
    tail_set(c, NULL, 0);
    free(c);
    metrics_add(w->m, M_CONN_CLOSED, 1);
}

/* Gives back the memory of connection c's unfinished frame: delivers it cut (frame_cut, or
 * RELP's own parser for a RELP session), and the framer discards its rest when it comes.
 * Returns 0 if there was nothing to cut. Closes no connection: c may be the one that
 * worker_conn_process is handling. */
static int tail_cut(struct worker *w, struct conn *c, int64_t now) {
    struct frame f;
    enum frame_status s = FRAME_AGAIN;
    if (c->relp) { /* RELP's own framing cuts it: relp_process delivers it cut, and answers it */
        if (!relp_cut_prepare(c)) return 0;
    } else {
        s = frame_cut(&c->fs, c->tail, c->tlen, (size_t)c->l->cfg->max_message_size, &f);
        if (s == FRAME_AGAIN && !f.consumed) return 0;
    }
    metrics_add(w->m, M_BUFFER_BUDGET, 1);
    log_limited(L_WARN, "%s: unfinished frames of all connections hold %lld bytes, over "
                "global.max_buffered_bytes (%ld): this connection's, the largest of worker %d "
                "(%zu bytes), is delivered cut and the rest of it discarded", c->peer,
                (long long)worker_buffered_bytes(), w->sh->cfg->max_buffered_bytes, w->id, c->tlen);
    int r = 0;
    size_t keep = 0;
    w->spill = !c->l->cfg->backpressure;
    w->src_udp = 0;
    if (c->relp) {
        int blocked = 0;
        long used = relp_process(w, c, c->tail, c->tlen, now, &blocked);
        if (used < 0) relp_conn_doom(w, c); /* c may be in use up the stack: closed later */
        else keep = c->tlen - (size_t)used;
        if (blocked) r = -ENOBUFS;
    } else if (s == FRAME_MSG) {
        r = worker_forward(w, f.p, f.n, now); /* delivery copies what it keeps: the tail can go */
    }
    tail_keep(c, c->tail + c->tlen - keep, keep);
    int flushed = worker_stage_flush(w);
    if (flushed == 0) relp_staged_settle(w, 1);
    if (flushed < 0 || r == -ENOBUFS) {
        w->blocked = c; /* unblock() retries the held message, then reads c again */
        worker_pause(w);
    }
    return 1;
}

/* The buffer budget: when the tails of all workers' connections together exceed
 * global.max_buffered_bytes, the worker whose read took them over it cuts its own largest
 * unfinished frames until the total is back within the budget, it has nothing left to cut, or
 * the producer pushes back. The largest holder pays first: that is where the memory is. */
static void budget_enforce(struct worker *w, int64_t now) {
    while (!worker_paused(w) &&
           atomic_load_explicit(&buffered_total, memory_order_relaxed) > w->sh->cfg->max_buffered_bytes) {
        struct conn *v = NULL;
        for (struct conn *c = w->conns; c; c = c->next) /* a RELP session not read: no cut */
            if (c->tlen && !c->noread && (!v || c->tcap > v->tcap)) v = c;
        if (!v || !tail_cut(w, v, now)) return;
    }
}

/* Processes buf (the tail plus what was just read), keeps the rest, and closes the connection
 * at EOF once everything is forwarded. Returns 1 if the connection was closed. */
int worker_conn_process(struct worker *w, struct conn *c, const char *buf, size_t len,
                        int64_t recv_us) {
    int blocked = 0;
    w->spill = !c->l->cfg->backpressure;
    w->src_udp = 0;
    long used = c->relp ? relp_process(w, c, buf, len, recv_us, &blocked)
                        : process(w, c, buf, len, recv_us, &blocked);
    if (used < 0) {
        /* What the connection sent before the corruption is forwarded: if the producer or the
         * spool holds some of it back, the worker waits for them without the connection. */
        if (worker_stage_flush(w) < 0) {
            w->blocked_lane = 1;
            worker_pause(w);
        } else {
            relp_staged_settle(w, 1);
        }
        worker_conn_close(w, c);
        return 1;
    }
    tail_keep(c, buf + used, len - (size_t)used);
    if (worker_stage_flush(w) < 0) blocked = 1; /* the spool is full: retried by unblock */
    else relp_staged_settle(w, 1);
    if (!blocked) budget_enforce(w, recv_us);
    if (blocked) {
        w->blocked = c;
        worker_pause(w);
        return 0;
    }
    if (c->eof) {
        worker_conn_close(w, c);
        return 1;
    }
    return 0;
}

void worker_conn_events(struct worker *w, struct conn *c) {
    struct epoll_event e = {.events = (c->noread ? 0 : EPOLLIN | EPOLLRDHUP) | (c->want_write ? EPOLLOUT : 0),
                            .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e);
}

void worker_want_write(struct worker *w, struct conn *c, int on) {
    if (c->want_write == (unsigned)on) return;
    c->want_write = (unsigned)on;
    worker_conn_events(w, c);
}

/* Receives up to cap bytes: > 0 bytes, 0 at end of stream, RECV_AGAIN, or RECV_ERROR. */
static ssize_t conn_recv(struct worker *w, struct conn *c, char *buf, size_t cap) {
    if (c->ssl) return tls_conn_recv(w, c, buf, cap);
    ssize_t r = read(c->fd, buf, cap);
    if (r >= 0) return r;
    if (errno == EAGAIN || errno == EINTR) return RECV_AGAIN;
    metrics_add(w->m, M_READ_ERROR, 1);
    log_limited(L_WARN, "%s: read error: %s", c->peer, strerror(errno));
    return RECV_ERROR;
}

/* Reads once behind the connection's tail and processes it. Returns 1 if it was closed. */
int worker_conn_read(struct worker *w, struct conn *c, int64_t now) {
    size_t have = c->tlen;
    ssize_t r = conn_recv(w, c, w->rbuf + have, w->rcap - have);
    if (r == RECV_AGAIN) return 0;
    if (r == RECV_ERROR) r = 0; /* deliver what was received, then close */
    if (r == 0) c->eof = 1;
    if (c->l->cfg->idle_timeout_ms) c->deadline = now + c->l->cfg->idle_timeout_ms * 1000;
    if (have) memcpy(w->rbuf, c->tail, have);
    int closed = worker_conn_process(w, c, w->rbuf, have + (size_t)r, now);
    if (!closed && tls_conn_pending(c)) worker_ready_push(w, c);
    return closed;
}

static void conn_event(struct worker *w, struct conn *c, uint32_t events, int64_t now) {
    if (c->handshaking) {
        tls_conn_handshake(w, c, now);
        return;
    }
    if (c->noread && (events & (EPOLLERR | EPOLLHUP))) {
        /* Reset (or failed) while not read, a RELP session at its window: no read will see
         * it, no answer can reach the peer, and epoll reports it again at once, forever. The
         * session lives on until its fates come; the sender resends what is unanswered. */
        metrics_add(w->m, M_READ_ERROR, 1);
        log_limited(L_WARN, "%s: connection reset while waiting for Kafka (RELP), closing", c->peer);
        worker_conn_close(w, c);
        return;
    }
    if (c->want_write && (events & EPOLLOUT)) worker_want_write(w, c, 0); /* SSL_read retries it */
    if (c->relp && relp_flush(w, c) < 0) {
        worker_conn_close(w, c);
        return;
    }
    if (!c->noread) worker_conn_read(w, c, now);
}

/* Retries what the producer refused. Returns -1 while it is still full, else 0; sets
 * *closed (if given) when the blocked connection was closed because it had reached EOF. */
static int unblock(struct worker *w, int *closed_out) {
    w->recv_ms = clock_wall_ms();
    if (delivery_retry(w->lane) < 0) return -1;
    relp_staged_settle(w, 1);
    relp_resume_mark(w);
    w->blocked_lane = 0;
    if (w->blocked_udp) {
        w->blocked_udp = 0;
        if (udp_process(w, clock_us()) < 0) return -1;
    } else if (w->blocked) {
        struct conn *c = w->blocked;
        w->blocked = NULL;
        int closed = worker_conn_process(w, c, c->tail, c->tlen, clock_us());
        if (closed_out) *closed_out = closed;
        if (w->blocked) return -1;
        if (!closed && tls_conn_pending(c)) worker_ready_push(w, c);
    }
    metrics_add(w->m, M_BACKPRESSURE_US, (uint64_t)(clock_us() - w->paused_since));
    return 0;
}

static void conn_new(struct worker *w, struct listener *l, int fd, const struct sockaddr_storage *ss,
                     socklen_t sl, int64_t now) {
    if (atomic_fetch_add(&l->conns, 1) >= l->cfg->max_connections) {
        atomic_fetch_sub(&l->conns, 1);
        close(fd);
        metrics_add(w->m, M_CONN_REJECTED, 1);
        log_limited(L_WARN, "%s: max_connections (%ld) reached, closing new connections", l->name,
                    l->cfg->max_connections);
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->ev.kind = EV_CONN;
    c->fd = fd;
    c->l = l;
    c->fs.mode = (int)l->cfg->framing;
    char host[48] = "?", port[8] = "?";
    getnameinfo((const struct sockaddr *)ss, sl, host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(c->peer, sizeof c->peer, "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (config_listen_tls(l->cfg)) {
        if (tls_conn_open(c, now) < 0) goto err;
    } else if (l->cfg->idle_timeout_ms) {
        c->deadline = now + l->cfg->idle_timeout_ms * 1000;
    }
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
        log_limited(L_ERROR, "worker %d: epoll_ctl: %s", w->id, strerror(errno));
        if (c->ssl) tls_conn_close(c);
        goto err;
    }
    if (l->cfg->protocol == PROTO_RELP) relp_conn_open(w, c);
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    metrics_add(w->m, M_CONN_ACCEPTED, 1);
    log_debug("worker %d: connection from %s on %s", w->id, c->peer, l->name);
    return;
err:
    atomic_fetch_sub(&l->conns, 1);
    close(fd);
    free(c);
}

static void accept_batch(struct worker *w, struct listener *l, int64_t now) {
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_new(w, l, fd, &ss, sl, now);
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

/* Closes connections past their handshake or idle deadline. An idle connection's unfinished
 * last line is delivered, as at EOF: its sender has been silent for idle_timeout_ms. A RELP
 * session with messages still unanswered is not idle: its timer starts again. */
static void sweep(struct worker *w, int64_t now) {
    for (struct conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (!c->deadline || now < c->deadline || c == w->blocked) continue;
        if (c->handshaking) {
            metrics_add(w->m, M_TLS_HANDSHAKE_TIMEOUT, 1);
            log_limited(L_WARN, "%s: TLS handshake not finished within %ld ms, closing", c->peer,
                        c->l->cfg->handshake_timeout_ms);
            worker_conn_close(w, c);
            continue;
        }
        if (c->relp && relp_conn_waiting(c)) { /* waiting for Kafka is not idleness */
            c->deadline = now + c->l->cfg->idle_timeout_ms * 1000;
            continue;
        }
        metrics_add(w->m, M_IDLE_TIMEOUT, 1);
        log_debug("%s: idle for %ld ms, closing", c->peer, c->l->cfg->idle_timeout_ms);
        c->eof = 1;
        worker_conn_process(w, c, c->tail, c->tlen, now);
    }
}

static void control_drain(struct worker *w) {
    uint64_t v;
    ssize_t r = read(w->evfd, &v, sizeof v);
    (void)r; /* EAGAIN only: the eventfd is a doorbell, its value is meaningless */
    /* Answers main's liveness ping: this loop is turning. */
    atomic_store_explicit(&w->pong, atomic_load_explicit(&w->ping, memory_order_relaxed),
                          memory_order_relaxed);
}

static int count_frame(void *arg, const struct frame *f) {
    (void)f;
    ++*(uint64_t *)arg;
    return 0;
}

/* Counts the complete messages left in a connection's tail that will never be forwarded. */
static uint64_t count_frames(struct conn *c) {
    uint64_t n = 0;
    pipeline_frames(&c->fs, c->tail, c->tlen, (size_t)c->l->cfg->max_message_size, c->eof, count_frame, &n);
    return n;
}

/* Waits for the producer to take the refused message, up to the deadline. 0 or -1; *closed
 * as for unblock. */
static int unblock_until(struct worker *w, int64_t deadline, int *closed) {
    while (worker_paused(w)) {
        if (clock_us() > deadline) return -1;
        if (unblock(w, closed) < 0) poll(NULL, 0, PAUSE_RETRY_MS);
    }
    return 0;
}

/* Forwards everything connection c had sent when shutdown began (c->drain_left bytes), then
 * closes it. Data that arrives later is not read: a sender that keeps sending must not keep
 * hotdog alive. A sender that had closed its side gets its last, unterminated line delivered
 * (EOF semantics); one still connected may be in the middle of a line, which is not a message
 * yet: it is counted and dropped. Gives up when the producer still refuses messages at the
 * deadline, counting them as lost. */
static void conn_drain(struct worker *w, struct conn *c, int64_t deadline) {
    if (c->handshaking) {
        worker_conn_close(w, c);
        return;
    }
    for (;;) {
        if (w->blocked == c) {
            int closed = 0;
            if (unblock_until(w, deadline, &closed) < 0) break;
            if (closed) return;
            continue;
        }
        size_t have = c->tlen, room = w->rcap - have;
        ssize_t r;
        if (c->drain_left) {
            r = conn_recv(w, c, w->rbuf + have, room < c->drain_left ? room : c->drain_left);
            if (r > 0) c->drain_left -= (size_t)r < c->drain_left ? (size_t)r : c->drain_left;
        } else {
            char b;
            r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT); /* only to tell EOF from "more" */
            r = r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)) ? RECV_AGAIN : 0;
            if (r == 0 && tls_conn_pending(c)) r = RECV_AGAIN;
        }
        if (r == RECV_AGAIN) {
            if (c->tlen) {
                metrics_add(w->m, M_SHUTDOWN_PARTIAL, 1);
                log_warn("worker %d: %s: dropped an unfinished line of %zu bytes at shutdown",
                         w->id, c->peer, c->tlen);
            }
            worker_conn_close(w, c);
            return;
        }
        if (r <= 0) {
            c->eof = 1;
            r = 0;
        }
        if (have) memcpy(w->rbuf, c->tail, have);
        w->recv_ms = clock_wall_ms();
        if (worker_conn_process(w, c, w->rbuf, have + (size_t)r, clock_us())) return;
    }
    uint64_t lost = count_frames(c) + delivery_discard(w->lane);
    metrics_add(w->m, M_SHUTDOWN_LOST, lost);
    log_error("worker %d: %s: %llu message(s) could not be queued before the shutdown deadline",
              w->id, c->peer, (unsigned long long)lost);
    worker_conn_close(w, c);
}

/* Hands over what the lane holds for a connection already closed (its stream turned out
 * corrupt while the producer was full), up to the deadline; the rest is counted lost. */
static void lane_drain(struct worker *w, int64_t deadline) {
    if (!w->blocked_lane || w->blocked || w->blocked_udp) return;
    if (unblock_until(w, deadline, NULL) == 0) return;
    uint64_t lost = delivery_discard(w->lane);
    w->blocked_lane = 0;
    if (!lost) return;
    metrics_add(w->m, M_SHUTDOWN_LOST, lost);
    log_error("worker %d: %llu message(s) could not be queued before the shutdown deadline",
              w->id, (unsigned long long)lost);
}

static void shutdown_drain(struct worker *w) {
    for (size_t i = 0; i < w->sh->nlisteners; i++)
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->sh->listeners[i].fd, NULL);
    /* What every connection has received by now, measured at one moment for all of them. */
    for (struct conn *c = w->conns; c; c = c->next) {
        int n = 0;
        c->drain_left = ioctl(c->fd, FIONREAD, &n) == 0 && n > 0 ? (size_t)n : 0;
        if (c->ssl) c->drain_left += tls_conn_buffered(c);
    }
    int64_t deadline = clock_us() + w->sh->cfg->kafka.shutdown_timeout_ms * 1000;
    /* What the producer refused comes first: it was received before anything still unread. */
    lane_drain(w, deadline);
    if (w->blocked_udp && unblock_until(w, deadline, NULL) < 0) {
        uint64_t lost = (uint64_t)udp_pending(w) + delivery_discard(w->lane);
        w->blocked_udp = 0;
        metrics_add(w->m, M_SHUTDOWN_LOST, lost);
        log_error("worker %d: %llu datagram(s) could not be queued before the shutdown deadline",
                  w->id, (unsigned long long)lost);
    }
    /* RELP sessions read nothing more; their held message, if any, is handed over. */
    for (struct conn *c = w->conns; c; c = c->next)
        if (c->relp) relp_drain_mark(w, c);
    if (w->blocked && w->blocked->relp && unblock_until(w, deadline, NULL) < 0) {
        uint64_t lost = delivery_discard(w->lane);
        w->blocked = NULL;
        log_error("worker %d: %llu RELP message(s) could not be queued before the shutdown "
                  "deadline: unanswered, the sender resends them", w->id, (unsigned long long)lost);
    }
    if (w->blocked) conn_drain(w, w->blocked, deadline);
    for (struct conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (!c->relp) conn_drain(w, c, deadline);
    }
    /* Then RELP: what Kafka acknowledges until the deadline is answered, the rest resent. */
    relp_shutdown(w, deadline);
    while (w->conns) conn_drain(w, w->conns, deadline);
    lane_drain(w, deadline);
}

/* Switches to rules handed over by a reload. Called between messages only: a message held for
 * retry keeps the output the old rules made for it. */
static void take_new_rules(struct worker *w) {
    struct rules *r = atomic_exchange(&w->next_rules, NULL);
    if (!r) return;
    pthread_mutex_lock(&w->rules_lock);
    rules_free(w->rules);
    w->rules = r;
    pthread_mutex_unlock(&w->rules_lock);
    atomic_store(&w->gen, rules_gen(r)); /* the generation of exactly these rules */
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct epoll_event evs[MAX_EVENTS];
    int64_t next_sweep = clock_us() + SWEEP_MS * 1000;
    while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        take_new_rules(w);
        if (worker_paused(w) && unblock(w, NULL) < 0) {
            /* Still full: sleep on the doorbell only, leaving sockets unread so that TCP
             * pushes back on the senders. */
            struct pollfd p = {.fd = w->evfd, .events = POLLIN};
            if (poll(&p, 1, PAUSE_RETRY_MS) > 0) control_drain(w);
            relp_acks_drain(w); /* answers still go out: Kafka acknowledges what it has */
            continue;
        }
        int timeout = w->ready ? 0 : (w->timers && w->conns) ? SWEEP_MS : -1;
        int n = epoll_wait(w->epfd, evs, MAX_EVENTS, timeout);
        int64_t now = clock_us();
        w->recv_ms = clock_wall_ms(); /* one read of each clock per loop turn, not per message */
        for (int i = 0; i < n; i++) {
            struct ev *e = evs[i].data.ptr;
            if (e->kind == EV_CONTROL) {
                control_drain(w);
            } else if (worker_paused(w)) {
                /* Paused: leave the rest of this batch in the kernel; level-triggered
                 * epoll reports it again once the producer has room. */
                continue;
            } else if (e->kind == EV_LISTENER) {
                accept_batch(w, ((struct listen_ev *)e)->l, now);
            } else if (e->kind == EV_UDP) {
                udp_read(w, ((struct listen_ev *)e)->l, now);
            } else {
                conn_event(w, (struct conn *)e, evs[i].events, now);
            }
        }
        /* TLS connections whose decrypted bytes wait inside OpenSSL, one read each. */
        struct conn *list = w->ready;
        w->ready = NULL;
        while (list) {
            struct conn *c = list;
            list = c->rnext;
            c->ready = 0;
            if (worker_paused(w)) worker_ready_push(w, c);
            else if (!c->noread) worker_conn_read(w, c, now); /* resuming pushes it again */
        }
        /* Fates of RELP messages, answered between event batches: it may close connections. */
        relp_acks_drain(w);
        if (w->timers && now >= next_sweep) {
            sweep(w, now);
            next_sweep = now + SWEEP_MS * 1000;
        }
    }
    shutdown_drain(w);
    return NULL;
}

struct worker *worker_new(int id, const struct worker_shared *sh, struct metrics_shard *m, char *err,
                          size_t errlen) {
    struct worker *w = calloc(1, sizeof *w);
    if (!w) abort(); /* the out-of-memory policy for small allocations */
    w->id = id;
    w->sh = sh;
    w->m = m;
    w->epfd = w->evfd = w->reserve_fd = -1;
    w->control.kind = EV_CONTROL;
    pthread_mutex_init(&w->rules_lock, NULL);
    ack_box_init(&w->acks);
    size_t max_msg = 0;
    for (size_t i = 0; i < sh->nlisteners; i++) {
        const struct config_listen *c = sh->listeners[i].cfg;
        if ((size_t)c->max_message_size > max_msg) max_msg = (size_t)c->max_message_size;
        if (config_listen_tls(c) || c->idle_timeout_ms) w->timers = 1;
        if (c->protocol == PROTO_RELP) w->has_relp = 1;
    }
    const char *what = NULL; /* the system call that failed, for err */
    w->rules = rules_new(sh->cfg, m, err, errlen);
    if (!w->rules) goto err; /* main compiled the same rules already: err says why */
    w->lane = delivery_lane_new(sh->delivery, id, m);
    /* Room for a tail (at most one unfinished frame and its octet count) plus one read. */
    w->rcap = max_msg + 64 + READ_CHUNK;
    w->rbuf = malloc(w->rcap);
    w->lev = calloc(sh->nlisteners, sizeof *w->lev);
    if (!w->rbuf || !w->lev) abort();
    if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) what = "epoll_create1";
    else if ((w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) what = "eventfd";
    else if ((w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) what = "open /dev/null";
    else if (udp_batch_init(w) < 0) what = "the UDP batch buffers";
    else if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &(struct epoll_event){.events = EPOLLIN,
                                                                          .data.ptr = &w->control}) < 0)
        what = "epoll_ctl";
    for (size_t i = 0; !what && i < sh->nlisteners; i++) {
        w->lev[i].ev.kind = sh->listeners[i].cfg->protocol == PROTO_UDP ? EV_UDP : EV_LISTENER;
        w->lev[i].l = &sh->listeners[i];
        /* EPOLLEXCLUSIVE: a new connection or datagram wakes one idle worker, not all. */
        struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &w->lev[i]};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, sh->listeners[i].fd, &le) < 0) what = "epoll_ctl on a listener";
    }
    if (!what) return w;
    snprintf(err, errlen, "%s: %s", what, strerror(errno));
err:
    worker_free(w);
    return NULL;
}

int worker_start(struct worker *w) {
    int e = pthread_create(&w->thread, NULL, worker_main, w);
    w->started = e == 0;
    return -e;
}

void worker_ack(void *workers, uint32_t ack, uint64_t seq, enum delivery_ack verdict) {
    struct worker *w = ((struct worker **)workers)[ack - 1];
    if (ack_box_post(&w->acks, seq, (int)verdict)) {
        uint64_t one = 1;
        ssize_t r = write(w->evfd, &one, sizeof one);
        (void)r; /* a full eventfd counter still wakes the worker */
    }
}

void worker_relp_state(const struct worker *w, int64_t *unanswered, int64_t *oldest_us) {
    *unanswered = atomic_load_explicit(&((struct worker *)w)->relp_unanswered, memory_order_relaxed);
    *oldest_us = atomic_load_explicit(&((struct worker *)w)->relp_oldest_us, memory_order_relaxed);
}

void worker_stop(struct worker *w) {
    atomic_store(&w->stop, 1);
    uint64_t one = 1;
    ssize_t r = write(w->evfd, &one, sizeof one);
    (void)r; /* a full eventfd counter still wakes the worker */
}

int64_t worker_check(struct worker *w, int64_t now) {
    unsigned ping = atomic_load_explicit(&w->ping, memory_order_relaxed);
    if (atomic_load_explicit(&w->pong, memory_order_relaxed) != ping) {
        int64_t waited = now - w->ping_us;
        if (waited >= WORKER_STALL_US) atomic_store(&w->stalled, 1);
        return waited;
    }
    atomic_store(&w->stalled, 0);
    atomic_store_explicit(&w->ping, ping + 1, memory_order_relaxed);
    w->ping_us = now;
    uint64_t one = 1;
    ssize_t r = write(w->evfd, &one, sizeof one);
    (void)r; /* a full eventfd counter still wakes the worker */
    return 0;
}

int worker_stalled(const struct worker *w) { return atomic_load(&w->stalled); }

void worker_join(struct worker *w) {
    if (w->started) pthread_join(w->thread, NULL);
    w->started = 0;
}

void worker_free(struct worker *w) {
    if (!w) return;
    while (w->conns) worker_conn_close(w, w->conns);
    relp_worker_free(w);
    if (w->epfd >= 0) close(w->epfd);
    if (w->evfd >= 0) close(w->evfd);
    if (w->reserve_fd >= 0) close(w->reserve_fd);
    free(w->lev);
    free(w->rbuf);
    udp_batch_free(w);
    rules_free(w->rules);
    rules_free(atomic_exchange(&w->next_rules, NULL));
    delivery_lane_free(w->lane);
    pthread_mutex_destroy(&w->rules_lock);
    free(w);
}

void worker_set_rules(struct worker *w, struct rules *r, unsigned gen) {
    rules_set_gen(r, gen);
    rules_free(atomic_exchange(&w->next_rules, r)); /* one it never took */
    uint64_t one = 1;
    ssize_t n = write(w->evfd, &one, sizeof one);
    (void)n; /* a full eventfd counter still wakes the worker */
}

unsigned worker_rules_gen(const struct worker *w) { return atomic_load(&w->gen); }

size_t worker_rule_total(struct worker *w) {
    pthread_mutex_lock(&w->rules_lock);
    size_t n = rules_count(w->rules);
    pthread_mutex_unlock(&w->rules_lock);
    return n;
}

void worker_rule_counts(struct worker *w, uint64_t *counts, size_t n) {
    pthread_mutex_lock(&w->rules_lock);
    for (size_t i = 0; i < n && i < rules_count(w->rules); i++) counts[i] += rules_matched(w->rules, i);
    pthread_mutex_unlock(&w->rules_lock);
}
