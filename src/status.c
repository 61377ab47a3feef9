/* status.c - the HTTP status server (/, /stats, /metrics, /healthz, /readyz) and statsd export. */
#include "status.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "jsonio.h"
#include "log.h"
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

/* A request or response slower than this is cut off: the status server is one thread, and a
 * stuck client must not stall it (nor statsd) for long. */
#define HTTP_TIMEOUT_MS 1000
#define HTTP_MAX_REQUEST 8192

struct status {
    const struct config *cfg;
    struct stats_sources src;
    struct statsd *statsd;
    int lfd, efd, epfd;
    pthread_t thread;
    int started;
    int64_t start_ms;
    struct stats snap;
    struct buf body, resp;
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
    json_object_set_new(root, "uptime_s", json_real((double)(clock_ms() - s->start_ms) / 1000.0));
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
 * producer queue is below its high watermark (80%); otherwise 503 with the reason, which names
 * the real cause where librdkafka told it (authentication, TLS, a fatal producer error). */
static int render_ready(struct status *s) {
    struct kafka_state ks;
    kafka_state(s->src.kafka, &ks);
    char reason[400] = "";
    if (ks.fatal) snprintf(reason, sizeof reason, "%s", ks.cause);
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

static void respond(struct status *s, int fd, int code, const char *type, int head) {
    static const char *const reasons[] = {[0] = "OK", [1] = "Not Found", [2] = "Method Not Allowed",
                                          [3] = "Service Unavailable", [4] = "Bad Request"};
    int r = code == 200 ? 0 : code == 404 ? 1 : code == 405 ? 2 : code == 503 ? 3 : 4;
    s->resp.len = 0;
    bprintf(&s->resp, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n", code, reasons[r], type, s->body.len);
    if (!head) buf_append(&s->resp, s->body.p, s->body.len);
    for (size_t off = 0; off < s->resp.len;) {
        ssize_t w = send(fd, s->resp.p + off, s->resp.len - off, MSG_NOSIGNAL);
        if (w <= 0) return; /* the client went away or stalled past HTTP_TIMEOUT_MS */
        off += (size_t)w;
    }
}

static void serve(struct status *s, int fd) {
    struct timeval tv = {HTTP_TIMEOUT_MS / 1000, (HTTP_TIMEOUT_MS % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[HTTP_MAX_REQUEST + 1];
    size_t n = 0;
    while (n < HTTP_MAX_REQUEST) {
        ssize_t r = recv(fd, req + n, HTTP_MAX_REQUEST - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[n] = 0;
    char method[8], path[256];
    s->body.len = 0;
    if (sscanf(req, "%7s %255s HTTP/", method, path) != 2) {
        respond(s, fd, 400, "text/plain", 0);
        return;
    }
    int head = !strcmp(method, "HEAD");
    if (!head && strcmp(method, "GET")) {
        respond(s, fd, 405, "text/plain", 0);
        return;
    }
    char *q = strchr(path, '?');
    if (q) *q = 0;
    if (!strcmp(path, "/")) {
        buf_append(&s->body, hotdog_status_html, (size_t)(hotdog_status_html_end - hotdog_status_html));
        respond(s, fd, 200, "text/html; charset=utf-8", head);
    } else if (!strcmp(path, "/stats")) {
        stats_collect(&s->src, &s->snap);
        render_stats(s);
        respond(s, fd, 200, "application/json", head);
    } else if (!strcmp(path, "/metrics")) {
        stats_collect(&s->src, &s->snap);
        render_prometheus(s);
        respond(s, fd, 200, "text/plain; version=0.0.4; charset=utf-8", head);
    } else if (!strcmp(path, "/healthz")) {
        buf_append(&s->body, "ok\n", 3);
        respond(s, fd, 200, "text/plain", head);
    } else if (!strcmp(path, "/readyz")) {
        int code = render_ready(s);
        respond(s, fd, code, "application/json", head);
    } else {
        buf_append(&s->body, "not found\n", 10);
        respond(s, fd, 404, "text/plain", head);
    }
}

/* runs on: the status thread. */
static void *status_main(void *arg) {
    struct status *s = arg;
    int64_t interval = s->cfg->statsd_interval_ms, next_flush = clock_ms() + interval;
    for (;;) {
        int timeout = s->statsd ? (int)(next_flush - clock_ms() > 0 ? next_flush - clock_ms() : 0) : -1;
        struct epoll_event ev[8];
        int n = epoll_wait(s->epfd, ev, 8, timeout);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == s->efd) goto out;
            int fd;
            while ((fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                serve(s, fd);
                close(fd);
            }
        }
        if (s->statsd && clock_ms() >= next_flush) {
            stats_collect(&s->src, &s->snap);
            statsd_flush(s->statsd, &s->snap);
            next_flush += interval;
            if (next_flush < clock_ms()) next_flush = clock_ms() + interval; /* fell behind: skip */
        }
    }
out:
    if (s->statsd) { /* the last interval's counts, so a short run still reports */
        stats_collect(&s->src, &s->snap);
        statsd_flush(s->statsd, &s->snap);
    }
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
    if (s->lfd < 0 || bind(s->lfd, res->ai_addr, res->ai_addrlen) < 0 || listen(s->lfd, 64) < 0) {
        snprintf(err, errlen, "status server: cannot listen on %s:%ld: %s", s->cfg->status_address,
                 s->cfg->status_port, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->lfd};
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev);
}

struct status *status_start(const struct config *c, const struct stats_sources *src, char *err,
                            size_t errlen) {
    struct status *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->cfg = c;
    s->src = *src;
    s->lfd = s->efd = s->epfd = -1;
    s->start_ms = clock_ms();
    if (!c->status_port && !c->statsd) return s;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->efd};
    if (s->epfd < 0 || s->efd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->efd, &ev) < 0) {
        snprintf(err, errlen, "status server: %s", strerror(errno));
        goto err;
    }
    if (c->statsd && !(s->statsd = statsd_new(c->statsd, err, errlen))) goto err;
    if (c->status_port && listen_on(s, err, errlen) < 0) goto err;
    if (pthread_create(&s->thread, NULL, status_main, s)) {
        snprintf(err, errlen, "status server: cannot start its thread");
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
    buf_free(&s->resp);
    free(s);
}
