/* jsonio.c - JSON text to jansson values, for the per-message path (see jsonio.h); the
 * writer is jsonio_write.c.
 *
 * The reader is a recursive descent over the buffer. Strings without escapes go straight
 * from the text into json_stringn_nocheck (validated here, once); numbers are converted
 * without copying unless they are reals. */
#include "jsonio.h"
#include "jsonio_internal.h"

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

static json_t *big_new(uint64_t u) {
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
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return -1; /* an unpaired low surrogate: refused, as serde_json refuses it */
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

/* Powers of ten as the compiler rounds the literals, like serde_json's table. */
#define P10(n) 1e##n
static const double pow10_tab[309] = {
    P10(0), P10(1), P10(2), P10(3), P10(4), P10(5), P10(6), P10(7),
    P10(8), P10(9), P10(10), P10(11), P10(12), P10(13), P10(14), P10(15),
    P10(16), P10(17), P10(18), P10(19), P10(20), P10(21), P10(22), P10(23),
    P10(24), P10(25), P10(26), P10(27), P10(28), P10(29), P10(30), P10(31),
    P10(32), P10(33), P10(34), P10(35), P10(36), P10(37), P10(38), P10(39),
    P10(40), P10(41), P10(42), P10(43), P10(44), P10(45), P10(46), P10(47),
    P10(48), P10(49), P10(50), P10(51), P10(52), P10(53), P10(54), P10(55),
    P10(56), P10(57), P10(58), P10(59), P10(60), P10(61), P10(62), P10(63),
    P10(64), P10(65), P10(66), P10(67), P10(68), P10(69), P10(70), P10(71),
    P10(72), P10(73), P10(74), P10(75), P10(76), P10(77), P10(78), P10(79),
    P10(80), P10(81), P10(82), P10(83), P10(84), P10(85), P10(86), P10(87),
    P10(88), P10(89), P10(90), P10(91), P10(92), P10(93), P10(94), P10(95),
    P10(96), P10(97), P10(98), P10(99), P10(100), P10(101), P10(102), P10(103),
    P10(104), P10(105), P10(106), P10(107), P10(108), P10(109), P10(110), P10(111),
    P10(112), P10(113), P10(114), P10(115), P10(116), P10(117), P10(118), P10(119),
    P10(120), P10(121), P10(122), P10(123), P10(124), P10(125), P10(126), P10(127),
    P10(128), P10(129), P10(130), P10(131), P10(132), P10(133), P10(134), P10(135),
    P10(136), P10(137), P10(138), P10(139), P10(140), P10(141), P10(142), P10(143),
    P10(144), P10(145), P10(146), P10(147), P10(148), P10(149), P10(150), P10(151),
    P10(152), P10(153), P10(154), P10(155), P10(156), P10(157), P10(158), P10(159),
    P10(160), P10(161), P10(162), P10(163), P10(164), P10(165), P10(166), P10(167),
    P10(168), P10(169), P10(170), P10(171), P10(172), P10(173), P10(174), P10(175),
    P10(176), P10(177), P10(178), P10(179), P10(180), P10(181), P10(182), P10(183),
    P10(184), P10(185), P10(186), P10(187), P10(188), P10(189), P10(190), P10(191),
    P10(192), P10(193), P10(194), P10(195), P10(196), P10(197), P10(198), P10(199),
    P10(200), P10(201), P10(202), P10(203), P10(204), P10(205), P10(206), P10(207),
    P10(208), P10(209), P10(210), P10(211), P10(212), P10(213), P10(214), P10(215),
    P10(216), P10(217), P10(218), P10(219), P10(220), P10(221), P10(222), P10(223),
    P10(224), P10(225), P10(226), P10(227), P10(228), P10(229), P10(230), P10(231),
    P10(232), P10(233), P10(234), P10(235), P10(236), P10(237), P10(238), P10(239),
    P10(240), P10(241), P10(242), P10(243), P10(244), P10(245), P10(246), P10(247),
    P10(248), P10(249), P10(250), P10(251), P10(252), P10(253), P10(254), P10(255),
    P10(256), P10(257), P10(258), P10(259), P10(260), P10(261), P10(262), P10(263),
    P10(264), P10(265), P10(266), P10(267), P10(268), P10(269), P10(270), P10(271),
    P10(272), P10(273), P10(274), P10(275), P10(276), P10(277), P10(278), P10(279),
    P10(280), P10(281), P10(282), P10(283), P10(284), P10(285), P10(286), P10(287),
    P10(288), P10(289), P10(290), P10(291), P10(292), P10(293), P10(294), P10(295),
    P10(296), P10(297), P10(298), P10(299), P10(300), P10(301), P10(302), P10(303),
    P10(304), P10(305), P10(306), P10(307), P10(308)
};

/* Whether v * 10 + d overflows max (serde_json's overflow! test). */
#define OVERFLOWS(v, d, max) ((v) >= (max) / 10 && ((v) > (max) / 10 || (d) > (max) % 10))

/* serde_json 1.0's f64_from_parts without float_roundtrip: the significand as a double, then
 * one multiplication or division by a power of ten (not always correctly rounded: the
 * original's value, which is what we must print). 1 if out of range. */
static int from_parts(uint64_t sig, int32_t exp, double *out) {
    double f = (double)sig;
    for (;;) {
        uint32_t a = exp < 0 ? 0u - (uint32_t)exp : (uint32_t)exp;
        if (a <= 308) {
            if (exp >= 0) {
                f *= pow10_tab[a];
                if (isinf(f)) return 1;
            } else {
                f /= pow10_tab[a];
            }
            break;
        }
        if (f == 0.0) break;
        if (exp >= 0) return 1;
        f /= 1e308;
        exp += 308;
    }
    *out = f;
    return 0;
}

static inline int is_digit(const unsigned char *p, const unsigned char *end) {
    return p < end && *p >= '0' && *p <= '9';
}

/* Reads a number exactly as serde_json 1.0 (the original's parser) does, so that the same
 * text gives the same value: integers that fit stay integers (i64, or u64 kept in the big
 * table), longer ones and anything with a fraction or an exponent become doubles computed its
 * way; an exponent that overflows is out of range unless the value is 0 or it is negative. */
static json_t *read_number(struct rd *r) {
    const unsigned char *p = r->p, *end = r->end;
    int positive = 1;
    uint64_t sig = 0;
    int32_t exp = 0;
    double d;
    if (*p == '-') {
        positive = 0;
        p++;
    }
    if (p == end) return fail(r, JSONIO_SYNTAX);
    if (*p == '0') {
        p++;
        if (is_digit(p, end)) return fail(r, JSONIO_SYNTAX);
    } else if (*p >= '1' && *p <= '9') {
        sig = (uint64_t)(*p++ - '0');
        while (is_digit(p, end)) {
            unsigned dg = (unsigned)(*p - '0');
            if (OVERFLOWS(sig, dg, UINT64_MAX)) { /* the rest only scales it */
                while (is_digit(p, end)) {
                    p++;
                    exp++;
                }
                break;
            }
            sig = sig * 10 + dg;
            p++;
        }
    } else {
        return fail(r, JSONIO_SYNTAX);
    }
    int real = exp != 0;
    if (p < end && *p == '.') {
        p++;
        int32_t after = 0;
        int overflowed = 0;
        while (is_digit(p, end)) {
            unsigned dg = (unsigned)(*p - '0');
            if (OVERFLOWS(sig, dg, UINT64_MAX)) {
                overflowed = 1;
                while (is_digit(p, end)) p++;
                break;
            }
            sig = sig * 10 + dg;
            p++;
            after--;
        }
        if (!overflowed && after == 0) return fail(r, JSONIO_SYNTAX);
        exp += after;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int pos_exp = 1;
        if (p < end && (*p == '+' || *p == '-')) pos_exp = *p++ == '+';
        if (!is_digit(p, end)) return fail(r, JSONIO_SYNTAX);
        int32_t e = *p++ - '0';
        int big = 0;
        while (is_digit(p, end)) {
            int dg = *p++ - '0';
            if (OVERFLOWS(e, dg, INT32_MAX)) {
                big = 1;
                break;
            }
            e = e * 10 + dg;
        }
        if (big) {
            if (sig != 0 && pos_exp) return fail(r, JSONIO_SYNTAX);
            while (is_digit(p, end)) p++;
            r->p = p;
            json_t *j = json_real(positive ? 0.0 : -0.0);
            return j ? j : fail(r, JSONIO_NOMEM);
        }
        int64_t t = pos_exp ? (int64_t)exp + e : (int64_t)exp - e; /* saturating, as serde */
        exp = t > INT32_MAX ? INT32_MAX : t < INT32_MIN ? INT32_MIN : (int32_t)t;
        real = 1;
    }
    r->p = p;
    json_t *j;
    if (real) {
        if (from_parts(sig, exp, &d)) return fail(r, JSONIO_SYNTAX);
        j = json_real(positive ? d : -d);
    } else if (positive) {
        j = sig <= INT64_MAX ? json_integer((json_int_t)sig) : big_new(sig);
    } else if (sig == 0 || sig > (uint64_t)INT64_MAX + 1) { /* -0 and beyond i64: doubles */
        j = json_real(-(double)sig);
    } else {
        j = json_integer((json_int_t)(0 - sig));
    }
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

/* Like serde_json, only arrays and objects count a level: the one that would be the
 * JSONIO_MAX_DEPTH + 1st is refused (serde_json's recursion limit). */
static json_t *read_value(struct rd *r) {
    skip_ws(r);
    json_t *v = NULL;
    if (r->p == r->end) return fail(r, JSONIO_SYNTAX);
    switch (*r->p) {
    case '{':
    case '[':
        if (++r->depth > JSONIO_MAX_DEPTH) return fail(r, JSONIO_DEPTH);
        v = *r->p == '{' ? read_object(r) : read_array(r);
        r->depth--;
        break;
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
    return v;
}

json_t *jsonio_parse(const char *p, size_t n, struct buf *tmp, enum jsonio_err *err) {
    struct rd r = {(const unsigned char *)p, (const unsigned char *)p + n, 0, JSONIO_OK, tmp};
    json_t *v = read_value(&r);
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
