/* jsonio_write.c - jansson values to compact JSON, byte for byte as serde_json writes it
 * (see jsonio_dump in jsonio.h). Runs of bytes that need no escaping are appended with one
 * memcpy each; object keys are sorted through a reused per-thread array. */
#include "jsonio.h"
#include "jdoc.h"
#include "jsonio_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------ writer */

/* Bytes a JSON string cannot hold as they are: '"', '\\' and the control characters. */
static const unsigned char must_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1};

/* serde_json's escapes: the short ones where JSON has one, else \u00xx in lowercase hex. */
void jsonio_dump_string(struct buf *b, const char *s, size_t n) {
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
        char esc[6];
        size_t k = jsonio_escape(*q, esc);
        buf_append(b, esc, k);
        p = q + 1;
    }
    buf_append(b, "\"", 1);
}

void jsonio_dump_uint(struct buf *b, uint64_t u, int neg) {
    char tmp[24], *e = tmp + sizeof tmp, *d = e;
    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) *--d = '-';
    buf_append(b, d, (size_t)(e - d));
}

/* Bumps the last digit of the mantissa of t ("d.ddde±x") up or down by one; 0 if it would
 * carry or borrow out of the first digit. */
static int bump_last(char *t, int up) {
    char *e = strchr(t, 'e');
    for (char *c = e - 1; c >= t; c--) {
        if (*c == '.') continue;
        if (up ? *c < '9' : *c > '0') {
            *c = (char)(*c + (up ? 1 : -1));
            return !(c == t && *c == '0');
        }
        *c = up ? '0' : '9';
    }
    return 0;
}

/* The shortest digits that read back as v (what ryu finds): for each length, the correctly
 * rounded form, or, where v is a power of two and the doubles below it lie closer than those
 * above, its neighbour in the last digit. Writes them to dig (no dot) and returns their
 * count; *e10 is the decimal exponent of the first digit. v is finite and positive. */
static int shortest_digits(double v, char *dig, int *e10) {
    char t[40], u[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(t, sizeof t, "%.*e", prec, v);
        if (strtod(t, NULL) == v) break;
        int found = 0;
        for (int up = 1; up >= 0 && !found; up--) {
            memcpy(u, t, sizeof t);
            if (bump_last(u, up) && strtod(u, NULL) == v) found = 1;
        }
        if (found) {
            memcpy(t, u, sizeof t);
            break;
        }
    }
    int n = 0;
    const char *c = t;
    for (; *c != 'e'; c++)
        if (*c != '.') dig[n++] = *c;
    *e10 = atoi(c + 1);
    while (n > 1 && dig[n - 1] == '0') n--;
    return n;
}

/* A double as serde_json prints it (ryu's format): plain decimal notation with at least one
 * fractional digit when the point falls within the first 16 digits or up to 5 places before
 * them ("1000000000000000.0", "0.00001"), else d.ddde±x ("1e16", "1.5e-7"). */
void jsonio_dump_real(struct buf *b, double v) {
    char dig[24], out[48];
    size_t o = 0;
    if (signbit(v)) {
        out[o++] = '-';
        v = -v;
    }
    if (v == 0) {
        memcpy(out + o, "0.0", 3);
        buf_append(b, out, o + 3);
        return;
    }
    int e10, n = shortest_digits(v, dig, &e10);
    int k = e10 + 1; /* where the point goes, counted from the first digit */
    if (k >= n && k <= 16) { /* 1234e7 -> 12340000000.0 */
        memcpy(out + o, dig, (size_t)n);
        o += (size_t)n;
        for (int i = n; i < k; i++) out[o++] = '0';
        out[o++] = '.';
        out[o++] = '0';
    } else if (k > 0 && k <= 16) { /* 1234e-2 -> 12.34 */
        memcpy(out + o, dig, (size_t)k);
        o += (size_t)k;
        out[o++] = '.';
        memcpy(out + o, dig + k, (size_t)(n - k));
        o += (size_t)(n - k);
    } else if (k > -5 && k <= 0) { /* 1234e-6 -> 0.001234 */
        out[o++] = '0';
        out[o++] = '.';
        for (int i = k; i < 0; i++) out[o++] = '0';
        memcpy(out + o, dig, (size_t)n);
        o += (size_t)n;
    } else { /* 1e30, 1.234e33, 1e-7 */
        out[o++] = dig[0];
        if (n > 1) {
            out[o++] = '.';
            memcpy(out + o, dig + 1, (size_t)(n - 1));
            o += (size_t)(n - 1);
        }
        out[o++] = 'e';
        int x = k - 1;
        if (x < 0) {
            out[o++] = '-';
            x = -x;
        }
        char xs[8];
        int xn = 0;
        do {
            xs[xn++] = (char)('0' + x % 10);
            x /= 10;
        } while (x);
        while (xn) out[o++] = xs[--xn];
    }
    buf_append(b, out, o);
}

/* Members of the objects being written, sorted by key, reused from message to message: a
 * level's members sit above its parent's (indices, since the array may move). ref holds the
 * value. */
static _Thread_local struct {
    struct jdoc_member *m;
    size_t cap;
} members;

static pthread_key_t members_key;
static pthread_once_t members_once = PTHREAD_ONCE_INIT;

static void members_release(void *arg) {
    (void)arg;
    free(members.m);
    members.m = NULL;
    members.cap = 0;
}

static void members_init(void) { pthread_key_create(&members_key, members_release); }

static void dump_value(struct buf *b, const json_t *v, size_t top);

/* serde_json's maps are ordered by key (bytewise, as Rust compares strings). */
static void dump_object(struct buf *b, json_t *o, size_t top) {
    size_t n = json_object_size(o);
    if (n == 0) {
        buf_append(b, "{}", 2);
        return;
    }
    if (top + n > members.cap) {
        size_t cap = members.cap ? members.cap : 64;
        while (cap < top + n) cap *= 2;
        struct jdoc_member *m = realloc(members.m, cap * sizeof *m);
        if (!m) abort();
        if (!members.m) { /* so that the thread's array is freed when it ends */
            pthread_once(&members_once, members_init);
            pthread_setspecific(members_key, m);
        }
        members.m = m;
        members.cap = cap;
    }
    struct jdoc_member *base = members.m, *m = base + top;
    size_t i = 0;
    for (void *it = json_object_iter(o); it && i < n; it = json_object_iter_next(o, it), i++)
        m[i] = (struct jdoc_member){json_object_iter_key(it), json_object_iter_key_len(it),
                                    (uintptr_t)json_object_iter_value(it)};
    jdoc_sort_members(m, n);
    buf_append(b, "{", 1);
    for (size_t j = 0; j < n; j++) {
        if (members.m != base) { /* a nested object grew (moved) the array */
            base = members.m;
            m = base + top;
        }
        struct jdoc_member x = m[j];
        if (j) buf_append(b, ",", 1);
        jsonio_dump_string(b, x.key, x.len);
        buf_append(b, ":", 1);
        dump_value(b, (const json_t *)x.ref, top + n);
    }
    buf_append(b, "}", 1);
}

static void dump_value(struct buf *b, const json_t *v, size_t top) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: dump_object(b, (json_t *)v, top); break;
    case JSON_ARRAY: {
        buf_append(b, "[", 1);
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i) buf_append(b, ",", 1);
            dump_value(b, json_array_get(v, i), top);
        }
        buf_append(b, "]", 1);
        break;
    }
    case JSON_STRING: jsonio_dump_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        jsonio_dump_uint(b, i < 0 ? 0 - (uint64_t)i : (uint64_t)i, i < 0);
        break;
    }
    case JSON_REAL: {
        uint64_t u;
        if (jsonio_big_find(v, &u)) jsonio_dump_uint(b, u, 0);
        else jsonio_dump_real(b, json_real_value(v));
        break;
    }
    case JSON_TRUE: buf_append(b, "true", 4); break;
    case JSON_FALSE: buf_append(b, "false", 5); break;
    case JSON_NULL: buf_append(b, "null", 4); break;
    }
}

void jsonio_dump(struct buf *b, const json_t *v) {
    if (v) dump_value(b, v, 0);
}
