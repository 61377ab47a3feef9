/* fuzz_jsonio.c - libFuzzer target: jsonio's reader and writer against jansson's.
 * Both must accept the same texts, build equal values, and write them byte for byte alike. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct buf tmp, out;
    json_error_t e;
    json_t *want = json_loadb((const char *)data, size, 0, &e);
    enum jsonio_err err;
    json_t *got = jsonio_parse((const char *)data, size, &tmp, &err);
    /* jansson reads a NUL byte right after a number or literal as nothing ("[1\0]" is [1]);
     * jsonio refuses every NUL outside strings, as JSON does. Elsewhere both must agree. */
    if (want && !got && memchr(data, 0, size)) {
        json_decref(want);
        return 0;
    }
    if (!want != !got) __builtin_trap();
    if (!want) {
        /* Too deep for jansson is too deep for us; the converse may be jansson reporting
         * the malformed token it read at that depth (jsonio.h). */
        if (json_error_code(&e) == json_error_stack_overflow && err != JSONIO_DEPTH)
            __builtin_trap();
        return 0;
    }
    if (!json_equal(want, got)) __builtin_trap();
    char *text = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) __builtin_trap();
    out.len = 0;
    jsonio_dump(&out, got);
    if (out.len != strlen(text) || memcmp(out.p, text, out.len)) __builtin_trap();
    free(text);
    json_decref(want);
    json_decref(got);
    return 0;
}
