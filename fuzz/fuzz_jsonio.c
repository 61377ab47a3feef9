/* fuzz_jsonio.c - libFuzzer target: jsonio's reader and writer (serde_json's rules, see
 * jsonio.h) against jansson's reader as a reference.
 * - Both accept the same texts, except where serde_json and jansson differ on purpose: jsonio
 *   refuses nesting past 127 levels and numbers serde_json finds out of range, and reads
 *   integers beyond 64 bits (jansson refuses them) and "-0" (a double there, jansson 0);
 *   jansson reads a NUL byte after a number or literal as nothing, and refuses \u0000 in keys.
 * - Both build the same value, reals within serde_json's (not always correctly rounded)
 *   conversion.
 * - What jsonio writes, jansson reads back to exactly the value written (shortest doubles
 *   round-trip), with every object's keys in ascending byte order. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct buf tmp, out;
    json_error_t e;
    json_t *want = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    enum jsonio_err err;
    json_t *got = jsonio_parse((const char *)data, size, &tmp, &err);
    jsonio_release_big(); /* so that integers past 64 bits print as doubles jansson reads */
    if (want && !got) {
        if (err != JSONIO_DEPTH && !memchr(data, 0, size) && !extreme_number(data, size))
            __builtin_trap();
    } else if (got && !want) {
        /* An integer beyond 64 bits, or \u0000 in a key (jansson keys are C strings). */
        if (!strstr(e.text, "too big") && !strstr(e.text, "NUL byte in object key")) __builtin_trap();
    } else if (got && !near_equal(want, got)) {
        __builtin_trap();
    }
    if (got) {
        out.len = 0;
        jsonio_dump(&out, got);
        json_t *back = json_loadb(out.p, out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!back && strstr(e.text, "NUL byte in object key")) return json_decref(want), json_decref(got), 0;
        if (!back || !json_equal(back, got) || !keys_ascend(back)) __builtin_trap();
        json_decref(back);
    }
    json_decref(want);
    json_decref(got);
    return 0;
}
