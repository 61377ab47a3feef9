/* jsonio.h - JSON text to jansson values and back, for the per-message path.
 *
 * jansson's own reader pulls the text through a per-character stream callback and its writer
 * pushes every token through a callback; on a JMESPath + merge rule the two took 80% of the
 * time (bench/results/engine-profile.md). These read a buffer directly and write into a
 * reused struct buf.
 *
 * Both follow serde_json 1.0, the original hotdog's JSON library, so that a message is JSON
 * for us exactly when it was for the original and a merge prints the same bytes: any JSON
 * value at the top, \u0000 allowed in strings, lone surrogates refused, numbers converted its
 * way (integers up to 2^64 - 1 exact, longer ones and 1e400-style overflows as it does), at
 * most JSONIO_MAX_DEPTH nested arrays and objects; output compact with object keys sorted,
 * its escapes, and doubles in ryu's shortest form. tests/unit/test_jsonio.c holds vectors
 * measured on the original. */
#ifndef HOTDOG_JSONIO_H
#define HOTDOG_JSONIO_H

#include <stddef.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"

/* serde_json's recursion limit: the 128th nested array or object is refused. */
#define JSONIO_MAX_DEPTH 127

enum jsonio_err {
    JSONIO_OK,
    JSONIO_SYNTAX, /* not JSON, or a number out of range (1e400) */
    JSONIO_DEPTH,  /* nested deeper than JSONIO_MAX_DEPTH */
    JSONIO_NOMEM
};

/* Parses p[0..n) as one JSON value (surrounding whitespace allowed), as serde_json does
 * (jdoc_parse reads it). Strings must be UTF-8. Returns a new reference, or NULL with *err
 * set. An integer above INT64_MAX becomes a real remembered with its exact value until
 * jsonio_release_big (see there). */
json_t *jsonio_parse(const char *p, size_t n, enum jsonio_err *err);

/* Appends v as compact JSON to b, byte for byte what serde_json::to_string writes for the
 * same value: keys sorted bytewise, only '"', '\\' and control characters escaped (\u001f in
 * lowercase), doubles in ryu's shortest form (0.1, 1.0, 1e100, 1e-7). Strings are assumed
 * to be valid UTF-8, as every string hotdog builds is. */
void jsonio_dump(struct buf *b, const json_t *v);

/* Integers above INT64_MAX that jsonio_parse read on this thread are listed (at most
 * JSONIO_BIG_MAX, each holding a reference to its value) so that jsonio_dump prints them
 * exactly; this drops the list. Call when the parsed documents are done with. */
void jsonio_release_big(void);

/* json_equal as serde_json's Value equality: also an integer above INT64_MAX (listed, see
 * above) equals only the same integer, never a double. */
int jsonio_equal(const json_t *a, const json_t *b);
#define JSONIO_BIG_MAX 64

/* Makes jansson allocate its values (16 to 256 bytes: nodes, short strings, hash buckets)
 * from per-thread free lists instead of malloc, whose frees of a message's dozens of
 * same-sized blocks overflowed glibc's per-thread cache (a fifth of a JMESPath + merge
 * rule's instructions). Each thread keeps at most JSONIO_CACHE_BLOCKS blocks per size; a
 * block freed by another thread joins that thread's lists. Call once, first thing in main,
 * before jansson allocates anything. A no-op under ASan/TSan, so they see every block. */
void jsonio_fast_alloc(void);
/* Frees what jansson allocated for the caller (json_dumps' text) with jansson's current free
 * function: after jsonio_fast_alloc that is not free(). */
void jsonio_free(void *p);
#define JSONIO_CACHE_BLOCKS 1024

/* 1 if s[0..n) is all valid UTF-8 (ASCII checked 8 bytes at a time). */
int jsonio_valid_utf8(const char *s, size_t n);

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one (overlong forms,
 * surrogates and code points above U+10FFFF are not). */
size_t jsonio_utf8_len(const unsigned char *p, size_t n);

/* The JSON escape of one byte below 0x20, '"' or '\\', as serde_json writes it (\n, \u001f):
 * written to e, its length (2 or 6) returned. Shared by every JSON writer of ours. */
static inline size_t jsonio_escape(unsigned char c, char e[6]) {
    static const char hex[] = "0123456789abcdef";
    e[0] = '\\';
    switch (c) {
    case '"': e[1] = '"'; return 2;
    case '\\': e[1] = '\\'; return 2;
    case '\b': e[1] = 'b'; return 2;
    case '\f': e[1] = 'f'; return 2;
    case '\n': e[1] = 'n'; return 2;
    case '\r': e[1] = 'r'; return 2;
    case '\t': e[1] = 't'; return 2;
    default:
        memcpy(e + 1, "u00", 3);
        e[4] = hex[c >> 4];
        e[5] = hex[c & 15];
        return 6;
    }
}

#endif
