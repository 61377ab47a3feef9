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

/* Sets name (text, when valid UTF-8) or name_base64 (anything else). */
static void set_bytes(json_t *o, const char *name, const char *p, size_t n) {
    json_t *s = json_stringn(p, n); /* NULL unless valid UTF-8 */
    if (s) {
        json_object_set_new(o, name, s);
        return;
    }
    char key[64];
    snprintf(key, sizeof key, "%s_base64", name);
    char *b = base64((const unsigned char *)p, n);
    json_object_set_new(o, key, json_string(b));
    free(b);
}

int deadletter_write(struct deadletter *d, const char *topic, const char *key, size_t keylen,
                     const char *payload, size_t len, const char *error, const char *reason) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03ldZ", ts.tv_nsec / 1000000);
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(when));
    set_bytes(o, "topic", topic, strlen(topic)); /* a rendered topic may be any bytes */
    if (key) set_bytes(o, "key", key, keylen);
    else json_object_set_new(o, "key", json_null());
    json_object_set_new(o, "error", json_string(error));
    json_object_set_new(o, "reason", json_string(reason));
    set_bytes(o, "payload", payload, len);
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line) abort();
    size_t n = strlen(line);
    line[n] = '\n'; /* the NUL is replaced: written with its length */
    pthread_mutex_lock(&d->lock);
    ssize_t r = write(d->fd, line, n + 1);
    int e = errno;
    pthread_mutex_unlock(&d->lock);
    jsonio_free(line);
    if (r != (ssize_t)(n + 1)) {
        log_limited(L_ERROR, "dead letters: cannot write to %s: %s", d->path,
                    r < 0 ? strerror(e) : "short write");
        return -1;
    }
    return 0;
}

int deadletter_reopen(struct deadletter *d) {
    int fd = open_file(d->path);
    if (fd < 0) {
        log_error("dead letters: cannot reopen %s: %s (still writing to the old file)", d->path,
                  strerror(errno));
        return -1;
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
