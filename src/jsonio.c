/* jsonio.c - JSON text to jansson values and back, for the per-message path (see jsonio.h).
 *
 * The reader is a recursive descent over the buffer. Strings without escapes go straight
 * from the text into json_stringn_nocheck (validated here, once); numbers are converted
 * without copying unless they are reals. The writer appends runs of bytes that need no
 * escaping with one memcpy each. */
#include "jsonio.h"

#include <errno.h>
#include <math.h>
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

/* ------------------------------------------------------------------------------ reader */

struct rd {
    const unsigned char *p, *end;
    int depth;
    enum jsonio_err err;
    struct buf *tmp;
};

static json_t *fail(struct rd *r, enum jsonio_err e) {
    if (r->err == JSONIO_OK) r->err = e;
    return NULL;
}

static inline void skip_ws(struct rd *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static void put_utf8(struct buf *b, unsigned cp) {
    char *o = buf_reserve(b, 4);
    size_t k;
    if (cp < 0x80) {
        o[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        k = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        k = 3;
    } else {
        o[0] = (char)(0xf0 | cp >> 18);
        o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        k = 4;
    }
    b->len += k;
}

/* The length of the run at p[0..n) of bytes that are neither '"', '\\' nor control
 * characters, and, if ascii, below 0x80: 8 bytes per step (bit tricks from "Bit
 * Twiddling Hacks": a byte of w is zero / below 0x20 when its flag bit is set; a flagged
 * word may hold false positives above the first true one, so the tail is checked bytewise
 * by the caller's table). */
static inline size_t plain_run(const unsigned char *p, size_t n, int ascii) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
        uint64_t hit = ((q - ones) & ~q) | ((bs - ones) & ~bs) | ((w - ones * 0x20) & ~w);
        if (ascii) hit |= w;
        if (hit & highs) break;
    }
    return i;
}

/* Bytes a string can hold as they are and that need no further look: printable ASCII
 * other than '"' and '\\'. */
static const unsigned char plain[256] = {
    [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1}; /* all but '"', '\\' */

/* Reads the string whose opening quote is at r->p. Sets *s, *n to its decoded bytes: in the
 * text itself when it has no escapes (returns 0), else in r->tmp, valid until the next
 * string (returns 1). Returns -1 if it is not a valid string. */
static int read_string(struct rd *r, const char **s, size_t *n) {
    const unsigned char *p = ++r->p, *end = r->end;
    for (;;) { /* the common case: no escape */
        p += plain_run(p, (size_t)(end - p), 1);
        while (p < end && plain[*p]) p++;
        if (p == end || *p < 0x20) return -1;
        if (*p == '"') {
            *s = (const char *)r->p;
            *n = (size_t)(p - r->p);
            r->p = p + 1;
            return 0;
        }
        if (*p == '\\') break;
        size_t k = jsonio_utf8_len(p, (size_t)(end - p));
        if (!k) return -1;
        p += k;
    }
    struct buf *b = r->tmp;
    b->len = 0;
    buf_append(b, (const char *)r->p, (size_t)(p - r->p));
    while (p < end) {
        unsigned c = *p;
        if (c == '"') {
            *s = b->p ? b->p : "";
            *n = b->len;
            r->p = p + 1;
            return 1;
        }
        if (c < 0x20) return -1;
        if (c >= 0x80) {
            size_t k = jsonio_utf8_len(p, (size_t)(end - p));
            if (!k) return -1;
            buf_append(b, (const char *)p, k);
            p += k;
            continue;
        }
        if (c != '\\') {
            const unsigned char *q = p;
            while (q < end && plain[*q]) q++;
            buf_append(b, (const char *)p, (size_t)(q - p));
            p = q;
            continue;
        }
        if (++p == end) return -1;
        char e;
        switch (*p) {
        case '"': e = '"'; break;
        case '\\': e = '\\'; break;
        case '/': e = '/'; break;
        case 'b': e = '\b'; break;
        case 'f': e = '\f'; break;
        case 'n': e = '\n'; break;
        case 'r': e = '\r'; break;
        case 't': e = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (end - p < 5 || hex4(p + 1, &cp) < 0) return -1;
            p += 5;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
                return -1; /* unpaired low surrogate; \u0000 (jansson without JSON_ALLOW_NUL) */
            }
            put_utf8(b, cp);
            continue;
        }
        default: return -1;
        }
        buf_append(b, &e, 1);
        p++;
    }
    return -1;
}

static json_t *read_number(struct rd *r) {
    const unsigned char *s = r->p, *p = s, *end = r->end;
    int neg = 0, real = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    const unsigned char *digits = p;
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') return fail(r, JSONIO_SYNTAX);
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return fail(r, JSONIO_SYNTAX);
    }
    const unsigned char *int_end = p;
    if (p < end && *p == '.') {
        p++;
        if (p == end || *p < '0' || *p > '9') return fail(r, JSONIO_SYNTAX);
        while (p < end && *p >= '0' && *p <= '9') p++;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || *p < '0' || *p > '9') return fail(r, JSONIO_SYNTAX);
        while (p < end && *p >= '0' && *p <= '9') p++;
        real = 1;
    }
    r->p = p;
    if (!real) {
        /* strtoll's range: -9223372036854775808 .. 9223372036854775807. */
        if (int_end - digits > 19) return fail(r, JSONIO_SYNTAX);
        uint64_t v = 0;
        for (const unsigned char *d = digits; d < int_end; d++) v = v * 10 + (uint64_t)(*d - '0');
        if (int_end - digits == 19 && v > (uint64_t)INT64_MAX + (uint64_t)neg)
            return fail(r, JSONIO_SYNTAX);
        json_int_t i = neg ? (json_int_t)(0 - v) : (json_int_t)v;
        json_t *j = json_integer(i);
        return j ? j : fail(r, JSONIO_NOMEM);
    }
    char local[64], *txt = local;
    size_t len = (size_t)(p - s);
    if (len >= sizeof local) {
        r->tmp->len = 0;
        buf_append(r->tmp, (const char *)s, len);
        txt = (char *)buf_cstr(r->tmp);
    } else {
        memcpy(local, s, len);
        local[len] = 0;
    }
    errno = 0;
    double d = strtod(txt, NULL);
    if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE) return fail(r, JSONIO_SYNTAX);
    json_t *j = json_real(d);
    return j ? j : fail(r, JSONIO_NOMEM);
}

static json_t *read_value(struct rd *r);

/* Consumes c after optional whitespace; 1 if it was there. */
static int eat(struct rd *r, unsigned char c) {
    skip_ws(r);
    if (r->p == r->end || *r->p != c) return 0;
    r->p++;
    return 1;
}

static json_t *read_array(struct rd *r) {
    json_t *a = json_array();
    if (!a) return fail(r, JSONIO_NOMEM);
    r->p++;
    if (eat(r, ']')) return a;
    do {
        json_t *v = read_value(r);
        if (!v) goto err;
        if (json_array_append_new(a, v) < 0) {
            fail(r, JSONIO_NOMEM);
            goto err;
        }
    } while (eat(r, ','));
    if (eat(r, ']')) return a;
    fail(r, JSONIO_SYNTAX);
err:
    json_decref(a);
    return NULL;
}

static json_t *read_object(struct rd *r) {
    json_t *o = json_object();
    if (!o) return fail(r, JSONIO_NOMEM);
    r->p++;
    if (eat(r, '}')) return o;
    char *owned = NULL;
    do {
        skip_ws(r);
        if (r->p == r->end || *r->p != '"') goto syntax;
        const char *k;
        size_t klen;
        int in_tmp = read_string(r, &k, &klen);
        if (in_tmp < 0) goto syntax;
        if (in_tmp) { /* decoded into tmp, which the value may reuse */
            owned = malloc(klen ? klen : 1);
            if (!owned) {
                fail(r, JSONIO_NOMEM);
                goto err;
            }
            memcpy(owned, k, klen);
            k = owned;
        }
        if (!eat(r, ':')) goto syntax;
        json_t *v = read_value(r);
        if (!v) goto err;
        if (json_object_setn_new_nocheck(o, k, klen, v) < 0) {
            fail(r, JSONIO_NOMEM);
            goto err;
        }
        free(owned);
        owned = NULL;
    } while (eat(r, ','));
    if (eat(r, '}')) return o;
syntax:
    fail(r, JSONIO_SYNTAX);
err:
    free(owned);
    json_decref(o);
    return NULL;
}

/* Like jansson's parse_value, every value counts one level, scalars included. A value
 * beyond the limit is a depth error whatever it is; jansson reads its first token before it
 * checks, so when that token is malformed it reports the token instead (see jsonio.h). */
static json_t *read_value(struct rd *r) {
    if (++r->depth > JSONIO_MAX_DEPTH) return fail(r, JSONIO_DEPTH);
    skip_ws(r);
    json_t *v = NULL;
    if (r->p == r->end) return fail(r, JSONIO_SYNTAX);
    switch (*r->p) {
    case '{': v = read_object(r); break;
    case '[': v = read_array(r); break;
    case '"': {
        const char *s;
        size_t n;
        if (read_string(r, &s, &n) < 0) return fail(r, JSONIO_SYNTAX);
        v = json_stringn_nocheck(s, n);
        if (!v) return fail(r, JSONIO_NOMEM);
        break;
    }
    case 't':
    case 'f':
    case 'n': {
        static const struct { const char *word; size_t len; } words[] = {
            {"true", 4}, {"false", 5}, {"null", 4}};
        int w = *r->p == 't' ? 0 : *r->p == 'f' ? 1 : 2;
        if ((size_t)(r->end - r->p) < words[w].len || memcmp(r->p, words[w].word, words[w].len))
            return fail(r, JSONIO_SYNTAX);
        r->p += words[w].len;
        v = w == 0 ? json_true() : w == 1 ? json_false() : json_null();
        break;
    }
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) v = read_number(r);
        else return fail(r, JSONIO_SYNTAX);
    }
    r->depth--;
    return v;
}

json_t *jsonio_parse(const char *p, size_t n, struct buf *tmp, enum jsonio_err *err) {
    struct rd r = {(const unsigned char *)p, (const unsigned char *)p + n, 0, JSONIO_OK, tmp};
    skip_ws(&r);
    json_t *v = NULL;
    if (r.p < r.end && (*r.p == '{' || *r.p == '[')) v = read_value(&r);
    else fail(&r, JSONIO_SYNTAX);
    if (v) {
        skip_ws(&r);
        if (r.p != r.end) {
            json_decref(v);
            v = fail(&r, JSONIO_SYNTAX);
        }
    }
    if (err) *err = r.err;
    return v;
}

/* ------------------------------------------------------------------------------ writer */

/* Bytes a JSON string cannot hold as they are: '"', '\\' and the control characters. */
static const unsigned char must_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1};

static void dump_string(struct buf *b, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t run = plain_run(p, n, 0);
    while (run < n && !must_escape[p[run]]) run++;
    if (run == n) { /* nothing to escape: the common case, one copy */
        char *o = buf_reserve(b, n + 2);
        o[0] = '"';
        memcpy(o + 1, s, n);
        o[n + 1] = '"';
        b->len += n + 2;
        return;
    }
    buf_append(b, "\"", 1);
    while (p < end) {
        const unsigned char *q = p;
        q += plain_run(q, (size_t)(end - q), 0);
        while (q < end && !must_escape[*q]) q++;
        buf_append(b, (const char *)p, (size_t)(q - p));
        if (q == end) break;
        char esc[8];
        size_t k = 2;
        esc[0] = '\\';
        switch (*q) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default: k = (size_t)snprintf(esc, sizeof esc, "\\u%04X", (unsigned)*q);
        }
        buf_append(b, esc, k);
        p = q + 1;
    }
    buf_append(b, "\"", 1);
}

static void dump_int(struct buf *b, json_int_t v) {
    char tmp[24], *e = tmp + sizeof tmp, *d = e;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--d = '-';
    buf_append(b, d, (size_t)(e - d));
}

/* jansson's jsonp_dtostr with its default precision (17 significant digits), in the C
 * locale: a '.0' when the text would read back as an integer, no '+' or leading zeros in
 * the exponent. */
static void dump_real(struct buf *b, double v) {
    char t[100];
    int len = snprintf(t, sizeof t, "%.17g", v);
    if (len < 0 || (size_t)len >= sizeof t - 3) return;
    if (!strchr(t, '.') && !strchr(t, 'e')) {
        t[len++] = '.';
        t[len++] = '0';
        t[len] = 0;
    }
    char *start = strchr(t, 'e');
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-') start++;
        while (*end == '0') end++;
        if (end != start) {
            memmove(start, end, (size_t)len - (size_t)(end - t) + 1);
            len -= (int)(end - start);
        }
    }
    buf_append(b, t, (size_t)len);
}

static void dump_value(struct buf *b, const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        buf_append(b, "{", 1);
        json_t *o = (json_t *)v;
        int first = 1;
        for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
            if (!first) buf_append(b, ",", 1);
            first = 0;
            dump_string(b, json_object_iter_key(it), json_object_iter_key_len(it));
            buf_append(b, ":", 1);
            dump_value(b, json_object_iter_value(it));
        }
        buf_append(b, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        buf_append(b, "[", 1);
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i) buf_append(b, ",", 1);
            dump_value(b, json_array_get(v, i));
        }
        buf_append(b, "]", 1);
        break;
    }
    case JSON_STRING: dump_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: dump_int(b, json_integer_value(v)); break;
    case JSON_REAL: dump_real(b, json_real_value(v)); break;
    case JSON_TRUE: buf_append(b, "true", 4); break;
    case JSON_FALSE: buf_append(b, "false", 5); break;
    case JSON_NULL: buf_append(b, "null", 4); break;
    }
}

void jsonio_dump(struct buf *b, const json_t *v) {
    if (v) dump_value(b, v);
}
