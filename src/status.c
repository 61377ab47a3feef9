/* status.c - the HTTP status server (/, /stats, /metrics, /healthz, /readyz) and statsd export. */
#include "status.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "jsonio.h"
#include "log.h"
#include "metrics.h"
#include "statsd.h"
#include "version.h"

/* The live status page, src/status.html, linked into the binary as it is. */
__asm__(".section .rodata\n"
        ".global hotdog_status_html\n"
        "hotdog_status_html:\n"
        ".incbin \"src/status.html\"\n"
        ".global hotdog_status_html_end\n"
        "hotdog_status_html_end:\n"
        ".byte 0\n"
        ".previous\n");
extern const char hotdog_status_html[], hotdog_status_html_end[];

/* The status server is one thread serving every client at once, without blocking: a request
 * head must arrive whole within STATUS_READ_TIMEOUT_MS of the accept and the response must be
 * taken within STATUS_WRITE_TIMEOUT_MS of the request's end. These are deadlines, not idle
 * timers, so a client that trickles a byte now and then (slowloris) is cut all the same. At
 * STATUS_MAX_CONNECTIONS a new connection closes the oldest one still sending its request (else
 * the oldest being answered): a probe sends its request at once and is served within
 * milliseconds, so it gets in however many stalled clients hold the slots. This loop is ours
 * rather than libmicrohttpd's or evhttp's because both only time out idle connections (a
 * trickle keeps its slot) and neither counts what its cap or timeouts close (doc/architecture.md). */
#define STATUS_READ_TIMEOUT_MS 2000
#define STATUS_WRITE_TIMEOUT_MS 10000
#define STATUS_MAX_CONNECTIONS 256
#define STATUS_ACCEPT_BATCH 64 /* accepts per wakeup, so that statsd and deadlines keep their turn */
#define HTTP_MAX_REQUEST 8192

/* One client. It is in s->reading until its request head is complete, then in s->writing;
 * both lists are in deadline order (one timeout each), so expiry looks at their heads only. */
struct conn {
    struct conn *prev, *next;
    struct conn_list *list;
    int fd;              /* -1 once closed; the memory waits for the end of the event batch */
    int64_t deadline_ms;
    size_t n, sent;      /* request bytes read; response bytes written */
    struct buf out;
    char req[HTTP_MAX_REQUEST + 1];
};

struct conn_list {
    struct conn *head, *tail;
};

struct status {
    const struct config *cfg;
    struct stats_sources src;
    struct statsd *statsd;
    int lfd, efd, epfd;
    int64_t accept_resume_ms; /* accepting paused until then (out of file descriptors), or 0 */
    struct conn_list reading, writing, closed;
    int nconns;
    pthread_t thread;
    int started;
    atomic_int stopping;       /* the daemon is shutting down: /readyz says so */
    int64_t start_us;
    struct stats snap;
    struct buf body;
    uint64_t batch;            /* epoll wakeups so far */
    struct buf rendered[2];    /* the last /stats and /metrics bodies ... */
    uint64_t rendered_in[2];   /* ... and the wakeup that rendered them */
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    va_start(ap, fmt);
    vsnprintf(buf_reserve(b, (size_t)n + 1), (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* /stats: the original hotdog's shape, {"message": ..., "stats": {name: value}}. */
static void render_stats(struct status *s) {
    json_t *root = json_object(), *stats = json_object();
    json_object_set_new(root, "message", json_string("hotdog " HOTDOG_VERSION));
    json_object_set_new(root, "librdkafka", json_string(kafka_version()));
    json_object_set_new(root, "uptime_s", json_real((double)(clock_us() - s->start_us) / 1e6));
    for (size_t i = 0; i < s->snap.n; i++)
        if (s->snap.v[i].kind != STAT_HISTOGRAM)
            json_object_set_new(stats, s->snap.v[i].name, json_integer(s->snap.v[i].value));
    json_object_set_new(root, "stats", stats);
    char *txt = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9));
    buf_append(&s->body, txt, strlen(txt));
    jsonio_free(txt);
    json_decref(root);
}

static int by_family(const void *a, const void *b) {
    const struct stat *x = a, *y = b;
    int c = strcmp(x->family, y->family);
    return c ? c : (x < y ? -1 : x > y);
}

static void label_escaped(struct buf *b, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') buf_append(b, "\\", 1);
        if (*v == '\n') buf_append(b, "\\n", 2);
        else buf_append(b, v, 1);
    }
}

/* /metrics: Prometheus text exposition 0.0.4, one family per HELP/TYPE block. */
static void render_prometheus(struct status *s) {
    qsort(s->snap.v, s->snap.n, sizeof *s->snap.v, by_family);
    const char *family = NULL;
    for (size_t i = 0; i < s->snap.n; i++) {
        const struct stat *st = &s->snap.v[i];
        if (!family || strcmp(family, st->family)) {
            family = st->family;
            bprintf(&s->body, "# HELP hotdog_%s %s\n# TYPE hotdog_%s %s\n", family, st->help, family,
                    st->kind == STAT_COUNTER ? "counter" : st->kind == STAT_GAUGE ? "gauge" : "histogram");
        }
        bprintf(&s->body, "hotdog_%s%s", family, st->suffix ? st->suffix : "");
        if (st->label) {
            bprintf(&s->body, "{%s=\"", st->label);
            label_escaped(&s->body, st->label_value);
            buf_append(&s->body, "\"}", 2);
        }
        if (st->suffix && !strcmp(st->suffix, "_sum")) bprintf(&s->body, " %.6f\n", st->fvalue);
        else bprintf(&s->body, " %lld\n", (long long)st->value);
    }
}

/* /readyz: ready when librdkafka reports a broker up (recently), deliveries progress and the
 * producer queue is below its high watermark (80%), and not shutting down; otherwise 503 with
 * the reason, which names the real cause where librdkafka told it (authentication, TLS, a fatal
 * producer error). */
static int render_ready(struct status *s) {
    struct kafka_state ks;
    kafka_state(s->src.kafka, &ks);
    char reason[400] = "";
    if (ks.fatal) snprintf(reason, sizeof reason, "%s", ks.cause); /* also why it shuts down */
    else if (atomic_load(&s->stopping)) snprintf(reason, sizeof reason, "shutting down");
    else if (ks.stats_age_ms < 0) snprintf(reason, sizeof reason, "no statistics from librdkafka yet");
    else if (ks.stats_age_ms > 10000) snprintf(reason, sizeof reason, "librdkafka statistics are stale");
    else if (ks.brokers_up <= 0 && ks.cause_names_it)
        snprintf(reason, sizeof reason, "%s", ks.cause);
    else if (ks.brokers_up <= 0)
        snprintf(reason, sizeof reason, "no Kafka broker is up%s%s%s", ks.cause[0] ? " (last broker event: " : "",
                 ks.cause, ks.cause[0] ? ")" : "");
    else if (ks.stalled_ms > 0)
        snprintf(reason, sizeof reason, "no delivery progress for %.1f s while %ld message(s) wait%s%s",
                 (double)ks.stalled_ms / 1000.0, ks.outq, ks.cause[0] ? "; last broker event: " : "", ks.cause);
    else if (ks.outq * 10 >= ks.queue_max * 8)
        snprintf(reason, sizeof reason, "producer queue above its high watermark (%ld of %ld)", ks.outq,
                 ks.queue_max);
    json_t *o = json_pack("{s:b,s:i,s:i,s:i}", "ready", !reason[0], "brokers_up", (json_int_t)ks.brokers_up,
                          "outq", (json_int_t)ks.outq, "queue_max", (json_int_t)ks.queue_max);
    if (reason[0]) json_object_set_new(o, "reason", json_string(reason));
    char *txt = json_dumps(o, JSON_COMPACT);
    buf_append(&s->body, txt, strlen(txt));
    jsonio_free(txt);
    json_decref(o);
    return reason[0] ? 503 : 200;
}

static void list_push(struct conn_list *l, struct conn *c) {
    c->list = l;
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail) l->tail->next = c;
    else l->head = c;
    l->tail = c;
}

static void list_remove(struct conn *c) {
    struct conn_list *l = c->list;
    if (c->prev) c->prev->next = c->next;
    else l->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else l->tail = c->prev;
    c->list = NULL;
}

/* Closes c at once; its memory is freed by conns_free after the event batch, since a later
 * event of the same batch may still point at it. */
static void conn_close(struct status *s, struct conn *c) {
    list_remove(c);
    close(c->fd);
    c->fd = -1;
    buf_free(&c->out);
    s->nconns--;
    list_push(&s->closed, c);
}

static void conns_free(struct conn_list *l) {
    while (l->head) {
        struct conn *c = l->head;
        list_remove(c);
        free(c);
    }
}

static void respond(struct status *s, struct conn *c, int code, const char *type, int head) {
    static const char *const reasons[] = {[0] = "OK", [1] = "Not Found", [2] = "Method Not Allowed",
                                          [3] = "Service Unavailable", [4] = "Bad Request"};
    int r = code == 200 ? 0 : code == 404 ? 1 : code == 405 ? 2 : code == 503 ? 3 : 4;
    bprintf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n", code, reasons[r], type, s->body.len);
    if (!head) buf_append(&c->out, s->body.p, s->body.len);
}

/* /stats (prom 0) or /metrics (prom 1) into s->body. Requests answered in the same wakeup share
 * one snapshot: a burst of scrapes (with thousands of rules, /metrics takes ~3 ms to render)
 * then costs one render, not one each, and a /healthz behind them waits for little. */
static void render_snapshot(struct status *s, int prom) {
    struct buf *r = &s->rendered[prom];
    if (s->rendered_in[prom] != s->batch) {
        stats_collect(&s->src, &s->snap);
        if (prom) render_prometheus(s);
        else render_stats(s);
        r->len = 0;
        buf_append(r, s->body.p, s->body.len);
        s->rendered_in[prom] = s->batch;
    } else {
        buf_append(&s->body, r->p, r->len);
    }
}

/* Fills c->out with the response to the request head in c->req. */
static void serve(struct status *s, struct conn *c) {
    char method[8], path[256];
    c->req[c->n] = 0;
    s->body.len = 0;
    if (sscanf(c->req, "%7s %255s HTTP/", method, path) != 2) {
        respond(s, c, 400, "text/plain", 0);
        return;
    }
    int head = !strcmp(method, "HEAD");
    if (!head && strcmp(method, "GET")) {
        respond(s, c, 405, "text/plain", 0);
        return;
    }
    char *q = strchr(path, '?');
    if (q) *q = 0;
    if (!strcmp(path, "/")) {
        buf_append(&s->body, hotdog_status_html, (size_t)(hotdog_status_html_end - hotdog_status_html));
        respond(s, c, 200, "text/html; charset=utf-8", head);
    } else if (!strcmp(path, "/stats")) {
        render_snapshot(s, 0);
        respond(s, c, 200, "application/json", head);
    } else if (!strcmp(path, "/metrics")) {
        render_snapshot(s, 1);
        respond(s, c, 200, "text/plain; version=0.0.4; charset=utf-8", head);
    } else if (!strcmp(path, "/healthz")) {
        buf_append(&s->body, "ok\n", 3);
        respond(s, c, 200, "text/plain", head);
    } else if (!strcmp(path, "/readyz")) {
        int code = render_ready(s);
        respond(s, c, code, "application/json", head);
    } else {
        buf_append(&s->body, "not found\n", 10);
        respond(s, c, 404, "text/plain", head);
    }
}

/* Writes what the socket takes; closes c when the response is out or the client is gone, and
 * waits for EPOLLOUT otherwise. */
static void conn_write(struct status *s, struct conn *c) {
    while (c->sent < c->out.len) {
        ssize_t w = send(c->fd, c->out.p + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (w <= 0) break;
        c->sent += (size_t)w;
    }
    conn_close(s, c);
}

/* Reads what has arrived; once the head is complete (a blank line, the size limit, or the
 * client's half-close), answers it. As before, the request line is all that is used. */
static void conn_read(struct status *s, struct conn *c) {
    int done = 0;
    while (!done && c->n < HTTP_MAX_REQUEST) {
        ssize_t r = recv(c->fd, c->req + c->n, HTTP_MAX_REQUEST - c->n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r < 0 || (r == 0 && c->n == 0)) { /* an error, or closed without a word */
            conn_close(s, c);
            return;
        }
        size_t from = c->n > 3 ? c->n - 3 : 0;
        c->n += (size_t)r;
        c->req[c->n] = 0;
        done = r == 0 || strstr(c->req + from, "\r\n\r\n") || strstr(c->req + from, "\n\n");
    }
    serve(s, c);
    list_remove(c);
    c->deadline_ms = clock_ms() + STATUS_WRITE_TIMEOUT_MS;
    list_push(&s->writing, c);
    /* EPOLLOUT only from now on: more request bytes would otherwise wake the loop for nothing. */
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    conn_write(s, c);
}

static void pause_accept(struct status *s, int64_t until_ms) {
    struct epoll_event ev = {.events = until_ms ? 0 : EPOLLIN, .data.ptr = &s->lfd};
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev);
    s->accept_resume_ms = until_ms;
}

static void accept_some(struct status *s) {
    for (int i = 0; i < STATUS_ACCEPT_BATCH; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            metrics_add_any(M_ACCEPT_ERROR, 1);
            log_limited(L_WARN, "status server: accept: %s", strerror(errno));
            /* Out of descriptors or memory: the listen socket stays readable, so stop asking
             * for a moment rather than spin. */
            pause_accept(s, clock_ms() + 100);
            return;
        }
        if (s->nconns >= STATUS_MAX_CONNECTIONS) {
            conn_close(s, s->reading.head ? s->reading.head : s->writing.head);
            metrics_add_any(M_STATUS_EVICTED, 1);
        }
        struct conn *c = malloc(sizeof *c);
        if (!c) abort();
        memset(c, 0, offsetof(struct conn, req));
        c->fd = fd;
        c->deadline_ms = clock_ms() + STATUS_READ_TIMEOUT_MS;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        list_push(&s->reading, c);
        s->nconns++;
    }
}

/* Closes the connections past their deadline (each list's head is its earliest). */
static void expire(struct status *s, int64_t now) {
    while (s->reading.head && s->reading.head->deadline_ms <= now) {
        conn_close(s, s->reading.head);
        metrics_add_any(M_STATUS_READ_TIMEOUT, 1);
    }
    while (s->writing.head && s->writing.head->deadline_ms <= now) {
        conn_close(s, s->writing.head);
        metrics_add_any(M_STATUS_WRITE_TIMEOUT, 1);
    }
}

/* Milliseconds until the next thing the loop must do by itself, or -1 for none. */
static int next_timeout(const struct status *s, int64_t now, int64_t next_flush) {
    int64_t t = s->statsd ? next_flush : INT64_MAX;
    if (s->reading.head && s->reading.head->deadline_ms < t) t = s->reading.head->deadline_ms;
    if (s->writing.head && s->writing.head->deadline_ms < t) t = s->writing.head->deadline_ms;
    if (s->accept_resume_ms && s->accept_resume_ms < t) t = s->accept_resume_ms;
    return t == INT64_MAX ? -1 : t <= now ? 0 : (int)(t - now);
}

static void flush_statsd(struct status *s) {
    stats_collect(&s->src, &s->snap);
    statsd_flush(s->statsd, &s->snap);
}

/* runs on: the status thread. */
static void *status_main(void *arg) {
    struct status *s = arg;
    int64_t interval = s->cfg->statsd_interval_ms, next_flush = clock_ms() + interval;
    for (;;) {
        int64_t now = clock_ms();
        if (s->statsd && now >= next_flush) {
            flush_statsd(s);
            next_flush += interval;
            if (next_flush < now) next_flush = now + interval; /* fell behind: skip */
        }
        expire(s, now);
        if (s->accept_resume_ms && now >= s->accept_resume_ms) pause_accept(s, 0);
        struct epoll_event ev[64];
        int n = epoll_wait(s->epfd, ev, 64, next_timeout(s, now, next_flush));
        s->batch++;
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &s->efd) goto out;
            if (p == &s->lfd) {
                accept_some(s);
                continue;
            }
            struct conn *c = p;
            if (c->fd < 0) continue; /* closed earlier in this batch */
            if (c->list == &s->reading) conn_read(s, c);
            else conn_write(s, c);
        }
        conns_free(&s->closed);
    }
out:
    if (s->statsd) flush_statsd(s); /* the last interval's counts, so a short run still reports */
    while (s->reading.head) conn_close(s, s->reading.head);
    while (s->writing.head) conn_close(s, s->writing.head);
    conns_free(&s->closed);
    return NULL;
}

static int listen_on(struct status *s, char *err, size_t errlen) {
    char port[16];
    snprintf(port, sizeof port, "%ld", s->cfg->status_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    int e = getaddrinfo(s->cfg->status_address, port, &hints, &res);
    if (e) {
        snprintf(err, errlen, "status server: cannot resolve '%s': %s", s->cfg->status_address, gai_strerror(e));
        return -1;
    }
    s->lfd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->lfd >= 0) setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s->lfd < 0 || bind(s->lfd, res->ai_addr, res->ai_addrlen) < 0 || listen(s->lfd, SOMAXCONN) < 0) {
        snprintf(err, errlen, "status server: cannot listen on %s:%ld: %s", s->cfg->status_address,
                 s->cfg->status_port, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->lfd};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
        snprintf(err, errlen, "status server: epoll_ctl: %s", strerror(errno));
        return -1;
    }
    return 0;
}

struct status *status_start(const struct config *c, const struct stats_sources *src, char *err,
                            size_t errlen) {
    struct status *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->cfg = c;
    s->src = *src;
    s->lfd = s->efd = s->epfd = -1;
    s->start_us = clock_us();
    if (!c->status_port && !c->statsd) return s;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->efd};
    if (s->epfd < 0 || s->efd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->efd, &ev) < 0) {
        snprintf(err, errlen, "status server: %s", strerror(errno));
        goto err;
    }
    if (c->statsd && !(s->statsd = statsd_new(c->statsd, err, errlen))) goto err;
    if (c->status_port && listen_on(s, err, errlen) < 0) goto err;
    int r = pthread_create(&s->thread, NULL, status_main, s); /* an error number, not errno */
    if (r) {
        snprintf(err, errlen, "status server: cannot start its thread: %s", strerror(r));
        goto err;
    }
    s->started = 1;
    if (c->status_port)
        log_info("status server on http://%s%s%s:%ld/ (/, /stats, /metrics, /healthz, /readyz)",
                 strchr(c->status_address, ':') ? "[" : "", c->status_address,
                 strchr(c->status_address, ':') ? "]" : "", c->status_port);
    if (c->statsd) log_info("statsd: sending to %s every %ld ms", c->statsd, c->statsd_interval_ms);
    return s;
err:
    status_stop(s);
    return NULL;
}

void status_stopping(struct status *s) {
    if (s) atomic_store(&s->stopping, 1);
}

void status_stop(struct status *s) {
    if (!s) return;
    if (s->started) {
        uint64_t one = 1;
        ssize_t w = write(s->efd, &one, sizeof one);
        (void)w;
        pthread_join(s->thread, NULL);
    }
    if (s->lfd >= 0) close(s->lfd);
    if (s->efd >= 0) close(s->efd);
    if (s->epfd >= 0) close(s->epfd);
    statsd_free(s->statsd);
    stats_free(&s->snap);
    buf_free(&s->body);
    buf_free(&s->rendered[0]);
    buf_free(&s->rendered[1]);
    free(s);
}
