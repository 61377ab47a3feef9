/* jdoc.c - JSON text into a flat array of nodes, and back to text or to jansson (jdoc.h).
 *
 * The reader is a recursive descent over the buffer, serde_json 1.0's grammar and number
 * conversion; the writer sorts each object's members through a reused array. */
#include "jdoc.h"
#include "jsonio_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void jdoc_init(struct jdoc *d) { memset(d, 0, sizeof *d); }

void jdoc_free(struct jdoc *d) {
    free(d->v);
    buf_free(&d->str);
    free(d->m);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------------------ reader */

struct rd {
    const unsigned char *p, *end;
    int depth;
    enum jsonio_err err;
    struct jdoc *d;
};

static int fail(struct rd *r, enum jsonio_err e) {
    if (r->err == JSONIO_OK) r->err = e;
    return -1;
}

/* A new node at the end of the tape; its index. */
static uint32_t push(struct rd *r, enum jdoc_type t) {
    struct jdoc *d = r->d;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        struct jdoc_node *v = realloc(d->v, cap * sizeof *v);
        if (!v) abort();
        d->v = v;
        d->cap = cap;
    }
    struct jdoc_node *x = &d->v[d->n];
    x->type = (uint8_t)t;
    x->decoded = 0;
    x->n = 0;
    x->next = (uint32_t)d->n + 1;
    return (uint32_t)d->n++;
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

/* Reads the string whose opening quote is at r->p into node x: its bytes stay in the text
 * when it has no escapes, else they are decoded onto the end of the document's arena.
 * Returns 0, or -1 if it is not a valid string. */
static int read_string(struct rd *r, struct jdoc_node *x) {
    const unsigned char *p = ++r->p, *end = r->end;
    for (;;) { /* the common case: no escape */
        p += plain_run(p, (size_t)(end - p), 1);
        while (p < end && plain[*p]) p++;
        if (p == end || *p < 0x20) return -1;
        if (*p == '"') {
            if ((size_t)(p - r->p) > UINT32_MAX) return -1;
            x->v.s = (const char *)r->p;
            x->n = (uint32_t)(p - r->p);
            r->p = p + 1;
            return 0;
        }
        if (*p == '\\') break;
        size_t k = jsonio_utf8_len(p, (size_t)(end - p));
        if (!k) return -1;
        p += k;
    }
    struct buf *b = &r->d->str;
    size_t start = b->len;
    buf_append(b, (const char *)r->p, (size_t)(p - r->p));
    while (p < end) {
        unsigned c = *p;
        if (c == '"') {
            if (b->len - start > UINT32_MAX) return -1;
            x->decoded = 1;
            x->v.off = start;
            x->n = (uint32_t)(b->len - start);
            r->p = p + 1;
            return 0;
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

/* Reads a number into x exactly as serde_json 1.0 (the original's parser) does, so that the
 * same text gives the same value: integers that fit stay integers (JDOC_INT, or JDOC_UINT up
 * to 2^64 - 1), longer ones and anything with a fraction or an exponent become doubles
 * computed its way; an exponent that overflows is out of range unless the value is 0 or it
 * is negative. Returns 0 or -1. */
static int read_number(struct rd *r, struct jdoc_node *x) {
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
            x->type = JDOC_REAL;
            x->v.d = positive ? 0.0 : -0.0;
            return 0;
        }
        int64_t t = pos_exp ? (int64_t)exp + e : (int64_t)exp - e; /* saturating, as serde */
        exp = t > INT32_MAX ? INT32_MAX : t < INT32_MIN ? INT32_MIN : (int32_t)t;
        real = 1;
    }
    r->p = p;
    if (real) {
        if (from_parts(sig, exp, &d)) return fail(r, JSONIO_SYNTAX);
        x->type = JDOC_REAL;
        x->v.d = positive ? d : -d;
    } else if (positive) {
        x->type = sig <= INT64_MAX ? JDOC_INT : JDOC_UINT;
        x->v.u = sig; /* the same bits as the i64 when it fits */
    } else if (sig == 0 || sig > (uint64_t)INT64_MAX + 1) { /* -0 and beyond i64: doubles */
        x->type = JDOC_REAL;
        x->v.d = -(double)sig;
    } else {
        x->type = JDOC_INT;
        x->v.i = (int64_t)(0 - sig);
    }
    return 0;
}

static int read_value(struct rd *r);

/* Consumes c after optional whitespace; 1 if it was there. */
static int eat(struct rd *r, unsigned char c) {
    skip_ws(r);
    if (r->p == r->end || *r->p != c) return 0;
    r->p++;
    return 1;
}

/* The container node at index at gets its item or member count and its end. */
static int close_container(struct rd *r, uint32_t at, uint32_t count) {
    r->d->v[at].n = count;
    r->d->v[at].next = (uint32_t)r->d->n;
    return 0;
}

static int read_array(struct rd *r) {
    uint32_t at = push(r, JDOC_ARRAY), count = 0;
    r->p++;
    if (eat(r, ']')) return close_container(r, at, 0);
    do {
        if (read_value(r) < 0) return -1;
        count++;
    } while (eat(r, ','));
    if (eat(r, ']')) return close_container(r, at, count);
    return fail(r, JSONIO_SYNTAX);
}

static int read_object(struct rd *r) {
    uint32_t at = push(r, JDOC_OBJECT), count = 0;
    r->p++;
    if (eat(r, '}')) return close_container(r, at, 0);
    do {
        skip_ws(r);
        if (r->p == r->end || *r->p != '"') return fail(r, JSONIO_SYNTAX);
        uint32_t k = push(r, JDOC_STRING);
        if (read_string(r, &r->d->v[k]) < 0 || !eat(r, ':')) return fail(r, JSONIO_SYNTAX);
        if (read_value(r) < 0) return -1;
        count++;
    } while (eat(r, ','));
    if (eat(r, '}')) return close_container(r, at, count);
    return fail(r, JSONIO_SYNTAX);
}

/* Like serde_json, only arrays and objects count a level: the one that would be the
 * JSONIO_MAX_DEPTH + 1st is refused (serde_json's recursion limit). */
static int read_value(struct rd *r) {
    skip_ws(r);
    if (r->p == r->end) return fail(r, JSONIO_SYNTAX);
    switch (*r->p) {
    case '{':
    case '[': {
        if (++r->depth > JSONIO_MAX_DEPTH) return fail(r, JSONIO_DEPTH);
        int rc = *r->p == '{' ? read_object(r) : read_array(r);
        r->depth--;
        return rc;
    }
    case '"': {
        uint32_t at = push(r, JDOC_STRING);
        return read_string(r, &r->d->v[at]) < 0 ? fail(r, JSONIO_SYNTAX) : 0;
    }
    case 't':
    case 'f':
    case 'n': {
        static const struct { const char *word; size_t len; enum jdoc_type type; } words[] = {
            {"true", 4, JDOC_TRUE}, {"false", 5, JDOC_FALSE}, {"null", 4, JDOC_NULL}};
        int w = *r->p == 't' ? 0 : *r->p == 'f' ? 1 : 2;
        if ((size_t)(r->end - r->p) < words[w].len || memcmp(r->p, words[w].word, words[w].len))
            return fail(r, JSONIO_SYNTAX);
        r->p += words[w].len;
        push(r, words[w].type);
        return 0;
    }
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) {
            uint32_t at = push(r, JDOC_NULL);
            return read_number(r, &r->d->v[at]);
        }
        return fail(r, JSONIO_SYNTAX);
    }
}

enum jsonio_err jdoc_parse(struct jdoc *d, const char *p, size_t n) {
    d->n = 0;
    d->str.len = 0;
    /* Node indices and lengths are 32-bit; a text this long is no message. */
    if (n >= UINT32_MAX) return JSONIO_SYNTAX;
    struct rd r = {(const unsigned char *)p, (const unsigned char *)p + n, 0, JSONIO_OK, d};
    if (read_value(&r) == 0) {
        skip_ws(&r);
        if (r.p != r.end) fail(&r, JSONIO_SYNTAX);
    }
    if (r.err != JSONIO_OK) d->n = 0;
    return r.err;
}

/* ------------------------------------------------------------------------------ lookup */

static inline int key_is(const struct jdoc *d, const struct jdoc_node *k, const char *key,
                         size_t len) {
    return k->n == len && memcmp(jdoc_str(d, k), key, len) == 0;
}

uint32_t jdoc_get(const struct jdoc *d, uint32_t obj, const char *key, size_t len) {
    if (obj >= d->n || d->v[obj].type != JDOC_OBJECT) return JDOC_NONE;
    uint32_t found = JDOC_NONE, i = obj + 1;
    for (uint32_t j = 0; j < d->v[obj].n; j++) {
        if (key_is(d, &d->v[i], key, len)) found = i + 1;
        i = d->v[i + 1].next;
    }
    return found;
}

/* ------------------------------------------------------------------------------ writer */

static inline int member_less(const struct jdoc_member *a, const struct jdoc_member *b) {
    int c = jdoc_key_cmp(a->key, a->len, b->key, b->len);
    return c ? c < 0 : a->ref < b->ref; /* equal keys keep document order: the last is kept */
}

static int member_cmp(const void *a, const void *b) {
    return member_less(a, b) ? -1 : member_less(b, a);
}

void jdoc_sort_members(struct jdoc_member *m, size_t n) {
    if (n > 16) {
        qsort(m, n, sizeof *m, member_cmp);
        return;
    }
    for (size_t j = 1; j < n; j++) { /* most objects are small: insertion sort beats qsort's calls */
        struct jdoc_member x = m[j];
        size_t k = j;
        for (; k > 0 && member_less(&x, &m[k - 1]); k--) m[k] = m[k - 1];
        m[k] = x;
    }
}

size_t jdoc_members(struct jdoc *d, uint32_t obj, size_t top) {
    size_t n = d->v[obj].n;
    if (n == 0) return 0;
    if (top + n > d->mcap) {
        size_t cap = d->mcap ? d->mcap : 64;
        while (cap < top + n) cap *= 2;
        struct jdoc_member *m = realloc(d->m, cap * sizeof *m);
        if (!m) abort();
        d->m = m;
        d->mcap = cap;
    }
    struct jdoc_member *m = d->m + top;
    uint32_t i = obj + 1;
    for (size_t j = 0; j < n; j++) {
        const struct jdoc_node *k = &d->v[i];
        m[j] = (struct jdoc_member){jdoc_str(d, k), k->n, i};
        i = d->v[i + 1].next;
    }
    jdoc_sort_members(m, n);
    /* Of equal keys, sorted in document order, keep the last (serde_json's map insert). */
    size_t w = 0;
    for (size_t j = 0; j < n; j++) {
        if (j + 1 < n && m[j].len == m[j + 1].len && memcmp(m[j].key, m[j + 1].key, m[j].len) == 0)
            continue;
        m[w++] = m[j];
    }
    return w;
}

/* A string as serde_json writes it: one with no escapes in the text holds no byte that
 * needs one (JSON strings cannot hold '"', '\\' or control characters as they are). */
static void dump_str(struct buf *b, const struct jdoc *d, const struct jdoc_node *x) {
    if (x->decoded) {
        jsonio_dump_string(b, jdoc_str(d, x), x->n);
        return;
    }
    char *o = buf_reserve(b, (size_t)x->n + 2);
    o[0] = '"';
    memcpy(o + 1, x->v.s, x->n);
    o[x->n + 1] = '"';
    b->len += (size_t)x->n + 2;
}

void jdoc_dump_at(struct buf *b, struct jdoc *d, uint32_t i, size_t top) {
    const struct jdoc_node *x = &d->v[i];
    switch ((enum jdoc_type)x->type) {
    case JDOC_NULL: buf_append(b, "null", 4); break;
    case JDOC_FALSE: buf_append(b, "false", 5); break;
    case JDOC_TRUE: buf_append(b, "true", 4); break;
    case JDOC_INT: jsonio_dump_uint(b, x->v.i < 0 ? 0 - x->v.u : x->v.u, x->v.i < 0); break;
    case JDOC_UINT: jsonio_dump_uint(b, x->v.u, 0); break;
    case JDOC_REAL: jsonio_dump_real(b, x->v.d); break;
    case JDOC_STRING: dump_str(b, d, x); break;
    case JDOC_ARRAY: {
        buf_append(b, "[", 1);
        uint32_t at = i + 1;
        for (uint32_t j = 0; j < x->n; j++) {
            if (j) buf_append(b, ",", 1);
            jdoc_dump_at(b, d, at, top);
            at = d->v[at].next;
        }
        buf_append(b, "]", 1);
        break;
    }
    case JDOC_OBJECT: {
        size_t n = jdoc_members(d, i, top);
        buf_append(b, "{", 1);
        for (size_t j = 0; j < n; j++) {
            uint32_t k = (uint32_t)d->m[top + j].ref; /* d->m may move below: read it each time */
            if (j) buf_append(b, ",", 1);
            dump_str(b, d, &d->v[k]);
            buf_append(b, ":", 1);
            jdoc_dump_at(b, d, k + 1, top + n);
        }
        buf_append(b, "}", 1);
        break;
    }
    }
}

void jdoc_dump(struct buf *b, struct jdoc *d, uint32_t i) {
    if (i < d->n) jdoc_dump_at(b, d, i, 0);
}

/* ----------------------------------------------------------------------------- jansson */

json_t *jdoc_to_json(const struct jdoc *d, uint32_t i) {
    const struct jdoc_node *x = &d->v[i];
    switch ((enum jdoc_type)x->type) {
    case JDOC_NULL: return json_null();
    case JDOC_FALSE: return json_false();
    case JDOC_TRUE: return json_true();
    case JDOC_INT: return json_integer((json_int_t)x->v.i);
    case JDOC_UINT: return jsonio_big_new(x->v.u);
    case JDOC_REAL: return json_real(x->v.d);
    case JDOC_STRING: return json_stringn_nocheck(jdoc_str(d, x), x->n);
    case JDOC_ARRAY: {
        json_t *a = json_array();
        uint32_t at = i + 1;
        for (uint32_t j = 0; a && j < x->n; j++) {
            if (json_array_append_new(a, jdoc_to_json(d, at)) < 0) {
                json_decref(a);
                return NULL;
            }
            at = d->v[at].next;
        }
        return a;
    }
    case JDOC_OBJECT: {
        json_t *o = json_object();
        uint32_t at = i + 1;
        for (uint32_t j = 0; o && j < x->n; j++) {
            const struct jdoc_node *k = &d->v[at];
            json_t *v = jdoc_to_json(d, at + 1);
            /* a later duplicate replaces the earlier value, as serde_json's map insert does */
            if (!v || json_object_setn_new_nocheck(o, jdoc_str(d, k), k->n, v) < 0) {
                json_decref(o);
                return NULL;
            }
            at = d->v[at + 1].next;
        }
        return o;
    }
    }
    return NULL;
}
