/* jsonio.c - JSON text to jansson values (see jsonio.h), UTF-8 checks, and jansson's
 * per-thread allocator; the writer is jsonio_write.c.
 *
 * The reader is jdoc.c's; this builds jansson values from what it read. */
#include "jsonio.h"
#include "jdoc.h"
#include "jsonio_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t jsonio_utf8_len(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!k || k > n || (k == 2 && c < 0xc2)) return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (k == 3) {
        unsigned cp = (c & 0x0f) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
        if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    }
    if (k == 4) {
        unsigned cp = (c & 0x07) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
        if (cp < 0x10000 || cp > 0x10ffff) return 0;
    }
    return k;
}

int jsonio_valid_utf8(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull) break;
        }
        while (i < n && p[i] < 0x80) i++;
        if (i == n) break;
        size_t k = jsonio_utf8_len(p + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* --------------------------------------------------------------------------- allocator */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define JSONIO_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define JSONIO_SANITIZED 1
#endif
#endif

#define CLASS_STEP 16
#define CLASSES 16 /* 16, 32, ... 256 bytes */
#define BIG CLASSES

/* Every block starts with its class; 16 bytes keep what follows aligned as malloc's is. */
union hdr {
    unsigned cls;
    char align[16];
};

#ifndef JSONIO_SANITIZED /* the sanitizers keep seeing every block through malloc */
struct cache {
    union hdr *head[CLASSES]; /* free blocks, linked through their first bytes after hdr */
    unsigned n[CLASSES];
    int registered;
};

static _Thread_local struct cache cache;
static pthread_key_t cache_key;

static void cache_release(void *arg) {
    struct cache *c = arg;
    for (int k = 0; k < CLASSES; k++) {
        while (c->head[k]) {
            union hdr *h = c->head[k];
            c->head[k] = *(union hdr **)(h + 1);
            free(h);
        }
        c->n[k] = 0;
    }
    c->registered = 0; /* frees after this (other destructors) go straight to free() */
}

static void *fast_malloc(size_t n) {
    if (n > CLASS_STEP * CLASSES) {
        union hdr *h = malloc(sizeof *h + n);
        if (!h) return NULL;
        h->cls = BIG;
        return h + 1;
    }
    unsigned k = n ? (unsigned)((n - 1) / CLASS_STEP) : 0;
    struct cache *c = &cache;
    union hdr *h = c->head[k];
    if (h) {
        c->head[k] = *(union hdr **)(h + 1);
        c->n[k]--;
        return h + 1;
    }
    if (!c->registered) { /* so that a thread's lists are freed when it ends */
        c->registered = 1;
        pthread_setspecific(cache_key, c);
    }
    h = malloc(sizeof *h + CLASS_STEP * (k + 1));
    if (!h) return NULL;
    h->cls = k;
    return h + 1;
}

static void fast_free(void *p) {
    if (!p) return;
    union hdr *h = (union hdr *)p - 1;
    struct cache *c = &cache;
    unsigned k = h->cls;
    if (k == BIG || c->n[k] >= JSONIO_CACHE_BLOCKS || !c->registered) {
        free(h);
        return;
    }
    *(union hdr **)p = c->head[k];
    c->head[k] = h;
    c->n[k]++;
}
#endif

void jsonio_free(void *p) {
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(p);
}

void jsonio_fast_alloc(void) {
#ifndef JSONIO_SANITIZED
    if (pthread_key_create(&cache_key, cache_release) != 0) return;
    json_set_alloc_funcs(fast_malloc, fast_free);
#endif
}

/* ------------------------------------------------------------------ integers above i64 */

/* jansson's integers are signed 64-bit; serde_json also keeps integers up to 2^64 - 1 exact.
 * Such a value is made a real (so JMESPath compares it as a number) and remembered here with
 * its exact value, holding a reference so that its address is not reused while it is listed;
 * the writer prints listed reals as the integer. jsonio_release_big empties the list (rules.c
 * does after every message). Past JSONIO_BIG_MAX per message, the rest stay plain reals. */
static _Thread_local struct {
    json_t *v[JSONIO_BIG_MAX];
    uint64_t u[JSONIO_BIG_MAX];
    unsigned n;
} bigs;

json_t *jsonio_big_new(uint64_t u) {
    json_t *j = json_real((double)u);
    if (j && bigs.n < JSONIO_BIG_MAX) {
        bigs.v[bigs.n] = json_incref(j);
        bigs.u[bigs.n++] = u;
    }
    return j;
}

int jsonio_big_find(const json_t *v, uint64_t *u) {
    if (!bigs.n) return 0;
    for (unsigned i = 0; i < bigs.n; i++)
        if (bigs.v[i] == v) {
            *u = bigs.u[i];
            return 1;
        }
    return 0;
}

int jsonio_equal(const json_t *a, const json_t *b) {
    if (a == b) return 1;
    if (json_typeof(a) != json_typeof(b)) return 0;
    switch (json_typeof(a)) {
    case JSON_REAL: {
        uint64_t ua = 0, ub = 0;
        int ba = jsonio_big_find(a, &ua), bb = jsonio_big_find(b, &ub);
        if (ba || bb) return ba && bb && ua == ub;
        return json_real_value(a) == json_real_value(b);
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b)) return 0;
        for (size_t i = 0; i < n; i++)
            if (!jsonio_equal(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b)) return 0;
        for (void *it = json_object_iter((json_t *)a); it; it = json_object_iter_next((json_t *)a, it)) {
            json_t *o = json_object_getn(b, json_object_iter_key(it), json_object_iter_key_len(it));
            if (!o || !jsonio_equal(json_object_iter_value(it), o)) return 0;
        }
        return 1;
    }
    default: return json_equal(a, b);
    }
}

void jsonio_release_big(void) {
    while (bigs.n) json_decref(bigs.v[--bigs.n]);
}

/* ------------------------------------------------------------------------------ reader */

/* One reader for the whole per-message path: the text is read into a jdoc (serde_json's
 * grammar) and jansson values built from it. */
json_t *jsonio_parse(const char *p, size_t n, enum jsonio_err *err) {
    struct jdoc d;
    jdoc_init(&d);
    enum jsonio_err e = jdoc_parse(&d, p, n);
    json_t *v = e == JSONIO_OK ? jdoc_to_json(&d, 0) : NULL;
    if (e == JSONIO_OK && !v) e = JSONIO_NOMEM;
    jdoc_free(&d);
    if (err) *err = e;
    return v;
}
