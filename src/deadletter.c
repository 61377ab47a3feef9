/* deadletter.c - messages Kafka refused for good, one JSON line each, never retried. */
#include "deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jsonio.h"
#include "log.h"

struct deadletter {
    char *path;
    int fd;
    pthread_mutex_t lock;
};

static int open_file(const char *path) {
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

struct deadletter *deadletter_open(const char *path, char *err, size_t errlen) {
    int fd = open_file(path);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the dead-letter file %s: %s", path, strerror(errno));
        return NULL;
    }
    struct deadletter *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) abort();
    d->fd = fd;
    pthread_mutex_init(&d->lock, NULL);
    return d;
}

static char *base64(const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) abort();
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = 0;
    return out;
}

static void set_base64(json_t *o, const char *key, const char *p, size_t n) {
    char *b = base64((const unsigned char *)p, n);
    json_object_set_new(o, key, json_string(b));
    free(b);
}

/* Sets name (text, when valid UTF-8) or name_base64 (anything else). */
static void set_bytes(json_t *o, const char *name, const char *p, size_t n) {
    json_t *s = json_stringn(n ? p : "", n); /* NULL unless valid UTF-8 */
    if (s) {
        json_object_set_new(o, name, s);
        return;
    }
    char key[64];
    snprintf(key, sizeof key, "%s_base64", name);
    set_base64(o, key, p, n);
}

/* r's headers as [{"name","value"}...], or NULL when it has none. A corrupt packing sets
 * *corrupt and returns NULL: the caller keeps the raw bytes instead. */
static json_t *headers_json(const struct record *r, int *corrupt) {
    *corrupt = 0;
    if (!r->headers || !r->headers_len) return NULL;
    json_t *a = json_array();
    size_t off = 0;
    struct record_header h;
    int got;
    while ((got = record_header_next(r->headers, r->headers_len, &off, &h)) == 1) {
        json_t *o = json_object();
        set_bytes(o, "name", h.name, h.name_len);
        if (h.value) set_bytes(o, "value", h.value, h.value_len);
        else json_object_set_new(o, "value", json_null());
        json_array_append_new(a, o);
    }
    if (got < 0) {
        json_decref(a);
        *corrupt = 1;
        return NULL;
    }
    return a;
}

/* A caller's text, or null (json_string refuses NULL and invalid UTF-8). */
static json_t *text(const char *s) {
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null();
}

int deadletter_write(struct deadletter *d, const struct record *r, const char *error,
                     const char *reason) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03ldZ", ts.tv_nsec / 1000000);
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(when));
    set_bytes(o, "topic", r->topic, r->topic_len); /* a rendered topic may be any bytes */
    if (r->key) set_bytes(o, "key", r->key, r->key_len);
    else json_object_set_new(o, "key", json_null());
    if (r->timestamp_ms) json_object_set_new(o, "timestamp_ms", json_integer(r->timestamp_ms));
    int corrupt;
    json_t *hs = headers_json(r, &corrupt);
    if (hs) json_object_set_new(o, "headers", hs);
    else if (corrupt) set_base64(o, "headers_packed_base64", r->headers, r->headers_len);
    json_object_set_new(o, "error", text(error));
    json_object_set_new(o, "reason", text(reason));
    set_bytes(o, "payload", r->payload, r->len);
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line) abort();
    size_t n = strlen(line);
    line[n] = '\n'; /* the NUL is replaced: written with its length */
    pthread_mutex_lock(&d->lock);
    ssize_t got = write(d->fd, line, n + 1);
    int e = got < 0 ? errno : EIO; /* a short write: the disk filled up mid-line */
    if (got == (ssize_t)(n + 1) && r->ack && fdatasync(d->fd) < 0) { /* a RELP sender waits */
        e = errno;
        got = -1;
    }
    pthread_mutex_unlock(&d->lock);
    jsonio_free(line);
    if (got != (ssize_t)(n + 1)) {
        log_limited(L_ERROR, "dead letters: cannot write to %s: %s", d->path,
                    got < 0 ? strerror(e) : "short write");
        return -e;
    }
    return 0;
}

int deadletter_reopen(struct deadletter *d) {
    int fd = open_file(d->path);
    if (fd < 0) {
        int e = errno;
        log_error("dead letters: cannot reopen %s: %s (still writing to the old file)", d->path,
                  strerror(e));
        return -e;
    }
    pthread_mutex_lock(&d->lock);
    int old = d->fd;
    d->fd = fd;
    pthread_mutex_unlock(&d->lock);
    close(old);
    return 0;
}

void deadletter_close(struct deadletter *d) {
    if (!d) return;
    fsync(d->fd);
    close(d->fd);
    pthread_mutex_destroy(&d->lock);
    free(d->path);
    free(d);
}
