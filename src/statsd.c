/* statsd.c - sends the metrics to statsd, aggregated per interval, never one packet per message. */
#include "statsd.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define STATSD_PACKET 1432 /* fits one Ethernet frame with IPv6 and UDP headers */

struct last {
    char *name;
    int64_t value;
};

struct statsd {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct last *map; /* counter values at the previous flush; open addressing */
    size_t n, cap;
    char packet[STATSD_PACKET];
    size_t plen;
};

struct statsd *statsd_new(const char *hostport, char *err, size_t errlen) {
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || !colon[1]) {
        snprintf(err, errlen, "'global.metrics.statsd' must be host:port (got '%s')", hostport);
        return NULL;
    }
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:8125 */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
    int e = getaddrinfo(host, colon + 1, &hints, &res);
    if (e) {
        snprintf(err, errlen, "statsd '%s': %s", hostport, gai_strerror(e));
        return NULL;
    }
    struct statsd *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
    s->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    if (s->fd < 0) {
        snprintf(err, errlen, "statsd '%s': %s", hostport, strerror(errno));
        free(s);
        return NULL;
    }
    s->cap = 256;
    s->map = calloc(s->cap, sizeof *s->map);
    if (!s->map) abort();
    return s;
}

static size_t hash(const char *k) {
    size_t h = 5381;
    while (*k) h = h * 33 + (unsigned char)*k++;
    return h;
}

/* Returns the slot of name, inserting it with value 0. */
static struct last *slot(struct statsd *s, const char *name) {
    if ((s->n + 1) * 2 > s->cap) {
        struct last *old = s->map;
        size_t ocap = s->cap;
        s->cap *= 2;
        s->map = calloc(s->cap, sizeof *s->map);
        if (!s->map) abort();
        for (size_t i = 0; i < ocap; i++)
            if (old[i].name) {
                size_t j = hash(old[i].name) & (s->cap - 1);
                while (s->map[j].name) j = (j + 1) & (s->cap - 1);
                s->map[j] = old[i];
            }
        free(old);
    }
    size_t j = hash(name) & (s->cap - 1);
    while (s->map[j].name && strcmp(s->map[j].name, name)) j = (j + 1) & (s->cap - 1);
    if (!s->map[j].name) {
        s->map[j].name = strdup(name);
        if (!s->map[j].name) abort();
        s->n++;
    }
    return &s->map[j];
}

static void send_packet(struct statsd *s) {
    if (!s->plen) return;
    if (sendto(s->fd, s->packet, s->plen, MSG_DONTWAIT, (struct sockaddr *)&s->addr, s->addrlen) < 0)
        log_limited(L_WARN, "statsd: sendto: %s", strerror(errno));
    s->plen = 0;
}

static void put(struct statsd *s, const char *line, size_t n) {
    if (s->plen && s->plen + 1 + n > sizeof s->packet) send_packet(s);
    if (n > sizeof s->packet) return; /* a name this long is not worth sending */
    if (s->plen) s->packet[s->plen++] = '\n';
    memcpy(s->packet + s->plen, line, n);
    s->plen += n;
}

void statsd_flush(struct statsd *s, const struct stats *snap) {
    char line[320];
    int64_t timed = 0, timed_us = 0;
    for (size_t i = 0; i < snap->n; i++) {
        const struct stat *st = &snap->v[i];
        int64_t v = st->value;
        if (st->kind == STAT_HISTOGRAM) continue;
        if (st->kind == STAT_COUNTER) {
            struct last *l = slot(s, st->name);
            v = st->value - l->value; /* counters restart at 0 when rules are reloaded */
            if (v < 0) v = st->value;
            l->value = st->value;
            if (!strcmp(st->name, "kafka.producer.sent.count")) timed = v;
            if (!strcmp(st->name, "kafka.producer.sent.sum_us")) timed_us = v;
            if (v == 0) continue;
        }
        int n;
        /* statsd reads a gauge written with a sign as a change, so a negative value (a
         * certificate's seconds to expiry, once expired) is set as 0 and then decremented. */
        if (st->kind != STAT_COUNTER && v < 0) {
            n = snprintf(line, sizeof line, "hotdog.%s:0|g", st->name);
            if (n > 0 && (size_t)n < sizeof line) put(s, line, (size_t)n);
        }
        n = snprintf(line, sizeof line, "hotdog.%s:%lld|%c", st->name, (long long)v,
                     st->kind == STAT_COUNTER ? 'c' : 'g');
        if (n > 0 && (size_t)n < sizeof line) put(s, line, (size_t)n);
    }
    /* The original's timer: this interval's mean produce-to-ack time, weighted by its count. */
    if (timed > 0) {
        int n = snprintf(line, sizeof line, "hotdog.kafka.producer.sent:%.3f|ms|@%.6f",
                         (double)timed_us / (double)timed / 1000.0, 1.0 / (double)timed);
        if (n > 0 && (size_t)n < sizeof line) put(s, line, (size_t)n);
    }
    send_packet(s);
}

void statsd_free(struct statsd *s) {
    if (!s) return;
    for (size_t i = 0; i < s->cap; i++) free(s->map[i].name);
    free(s->map);
    close(s->fd);
    free(s);
}
