/* fuzz_jsonio.c - libFuzzer target, differential: jsonio's reader and writer (serde_json's rules,
 * see jsonio.h) against jansson, a second JSON implementation already linked.
 *
 * Where both must agree, they must agree exactly:
 * - on accepting or refusing a text;
 * - on the value of a text both accept (duplicate keys: the last wins in both; reals within
 *   near_equal's last-bits tolerance: jansson converts with strtod, jsonio as serde_json does,
 *   not always correctly rounded);
 * - what jsonio writes, jansson reads back to exactly the value written, with every object's
 *   keys in ascending byte order; jsonio reads it back to the same value too, but for reals
 *   in their last bits (serde_json's reader does not always round-trip its writer's doubles).
 * And jdoc (jdoc_agrees) reads and writes each text exactly as jsonio does.
 * They differ on purpose in these places, each excluded as narrowly as it can be told:
 * - nesting past JSONIO_MAX_DEPTH (127) levels: jsonio refuses it (serde_json's recursion
 *   limit), jansson reads up to 2048 - excused when jsonio says JSONIO_DEPTH;
 * - integers beyond 64-bit signed: jsonio reads them (exact up to 2^64 - 1, as serde_json does,
 *   beyond as doubles), jansson refuses them - excused when jansson says "too big";
 * - \u0000 in a key: jsonio keeps it (serde_json's keys are strings like any other), jansson's
 *   keys are C strings - excused when jansson says "NUL byte in object key";
 * - "-0": a double -0.0 in jsonio (serde_json), the integer 0 in jansson - near_equal treats
 *   an integer 0 and a real zero as equal;
 * - a NUL byte right after a number or a literal ("1\0", "[true\0]"): jansson reads it as
 *   nothing, jsonio (serde_json) refuses it - excused only if jsonio reads the text without its
 *   NUL bytes to the value jansson read (jansson refuses raw NULs everywhere else);
 * - numbers near or past a double's range (an exponent of 290 or more, or 290 digits): serde_
 *   json's conversion may overflow where strtod does not, and the reverse - excused either way
 *   when the text holds such a number. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jdoc.h"
#include "jsonio.h"
#include "../tests/json_check.h"

/* A number with an exponent of 290 or more, or 290 digits: near or past a double's range,
 * where serde_json's conversion may overflow where strtod does not. */
static int extreme_number(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if ((p[i] == 'e' || p[i] == 'E') && i + 1 < n) {
            size_t j = i + 1;
            if (p[j] == '+' || p[j] == '-') j++;
            unsigned long v = 0;
            while (j < n && p[j] >= '0' && p[j] <= '9' && v < 100000) v = v * 10 + (p[j++] - '0');
            if (v >= 290) return 1;
        }
        size_t k = i;
        while (k < n && p[k] >= '0' && p[k] <= '9') k++;
        if (k - i >= 290) return 1;
    }
    return 0;
}


/* jansson read a NUL byte after a number or literal as nothing: jsonio must read the text
 * without its NUL bytes to the same value. */
static int nul_explains(const uint8_t *p, size_t n, const json_t *want) {
    if (!memchr(p, 0, n)) return 0;
    char *q = malloc(n);
    size_t m = 0;
    if (!q) abort();
    for (size_t i = 0; i < n; i++)
        if (p[i]) q[m++] = (char)p[i];
    enum jsonio_err err;
    json_t *v = jsonio_parse(q, m, &err);
    int ok = v && near_equal(want, v);
    json_decref(v);
    jsonio_release_big();
    free(q);
    return ok;
}

/* jdoc, the rules' reader and writer, against jsonio_parse and jsonio_dump, which build and
 * print jansson values from it: the same texts accepted, for the same reason, and written
 * the same, but where more than JSONIO_BIG_MAX integers above INT64_MAX print (jsonio_dump
 * prints the rest as doubles, jdoc every one exactly). */
static void jdoc_agrees(const uint8_t *data, size_t size) {
    static struct jdoc d;
    static struct buf a, b;
    enum jsonio_err derr = jdoc_parse(&d, (const char *)data, size), jerr;
    json_t *v = jsonio_parse((const char *)data, size, &jerr);
    if (!v != (derr != JSONIO_OK) || (!v && derr != jerr)) __builtin_trap();
    if (v) {
        size_t bigs = 0;
        for (size_t i = 0; i < d.n; i++) bigs += d.v[i].type == JDOC_UINT;
        a.len = b.len = 0;
        jsonio_dump(&a, v);
        jdoc_dump(&b, &d, 0);
        if (bigs <= JSONIO_BIG_MAX && (a.len != b.len || memcmp(a.p, b.p, a.len))) __builtin_trap();
    }
    json_decref(v);
    jsonio_release_big();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct buf out;
    jdoc_agrees(data, size);
    json_error_t e;
    json_t *want = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    enum jsonio_err err;
    json_t *got = jsonio_parse((const char *)data, size, &err);
    jsonio_release_big(); /* so that integers past 64 bits print as doubles jansson reads */
    if (want && !got) {
        if (err != JSONIO_DEPTH && !extreme_number(data, size) && !nul_explains(data, size, want))
            __builtin_trap();
    } else if (got && !want) {
        if (!strstr(e.text, "too big") && !strstr(e.text, "NUL byte in object key") &&
            !extreme_number(data, size))
            __builtin_trap();
    } else if (got && !near_equal(want, got)) {
        __builtin_trap();
    }
    if (got) {
        out.len = 0;
        jsonio_dump(&out, got);
        json_t *back = jsonio_parse(out.p, out.len, &err);
        if (!back || !near_equal(back, got)) __builtin_trap();
        json_decref(back);
        back = json_loadb(out.p, out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!back && strstr(e.text, "NUL byte in object key")) return json_decref(want), json_decref(got), 0;
        if (!back || !json_equal(back, got) || !keys_ascend(back)) __builtin_trap();
        json_decref(back);
    }
    json_decref(want);
    json_decref(got);
    return 0;
}
