/* jsonio.h - JSON text to jansson values and back, for the per-message path.
 *
 * jansson's own reader pulls the text through a per-character stream callback and its writer
 * pushes every token through a callback; on a JMESPath + merge rule the two took 80% of the
 * time (bench/results/engine-profile.md). These read a buffer directly and write into a
 * reused struct buf, and accept, refuse and print exactly what jansson does with the flags
 * hotdog uses (json_loadb(..., 0, ...) and json_dumpb(..., JSON_COMPACT | JSON_ENCODE_ANY));
 * tests/unit/test_jsonio.c and fuzz/fuzz_jsonio.c compare them with jansson.
 *
 * Two deliberate differences, both on text that is refused anyway or is not JSON:
 * - jansson's reader skips a NUL byte that follows a number or a literal ("[1\0]" reads as
 *   [1]); jsonio refuses any NUL outside a string, as JSON does;
 * - a value nested deeper than JSONIO_MAX_DEPTH is a depth error here whatever it is, where
 *   jansson, which reads the value's first token before checking the depth, reports a
 *   malformed token there as a syntax error. */
#ifndef HOTDOG_JSONIO_H
#define HOTDOG_JSONIO_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* jansson's JSON_PARSER_MAX_DEPTH: values nested deeper are refused. */
#define JSONIO_MAX_DEPTH 2048

enum jsonio_err {
    JSONIO_OK,
    JSONIO_SYNTAX, /* not JSON, or not an object or array at the top, or a number out of range */
    JSONIO_DEPTH,  /* nested deeper than JSONIO_MAX_DEPTH */
    JSONIO_NOMEM
};

/* Parses p[0..n) as one JSON object or array (surrounding whitespace allowed), like
 * json_loadb(p, n, 0, &e). Strings must be UTF-8 without \u0000. Returns a new reference,
 * or NULL with *err set. tmp is scratch space for strings with escapes (reused). */
json_t *jsonio_parse(const char *p, size_t n, struct buf *tmp, enum jsonio_err *err);

/* Appends v as compact JSON to b, byte for byte what json_dumpb(v, JSON_COMPACT |
 * JSON_ENCODE_ANY) writes. Strings are assumed to be valid UTF-8, as every string hotdog
 * builds is (jansson would refuse to write the rest). */
void jsonio_dump(struct buf *b, const json_t *v);

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

#endif
