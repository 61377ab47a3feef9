/* jsonio_internal.h - what the JSON reader (jsonio.c) and writer (jsonio_write.c) share. */
#ifndef HOTDOG_JSONIO_INTERNAL_H
#define HOTDOG_JSONIO_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* If v is a real that jsonio_parse read from an integer above INT64_MAX on this thread (and
 * that is still listed, see jsonio_release_big), sets *u to that integer and returns 1. */
int jsonio_big_find(const json_t *v, uint64_t *u);

/* A real for an integer above INT64_MAX, listed with its exact value (a new reference, NULL
 * if memory ran out): jsonio_parse's conversion of such an integer. */
json_t *jsonio_big_new(uint64_t u);

struct buf;
/* The writer's pieces, shared with jdoc.c's: a string with serde_json's escapes (s must be
 * UTF-8), an integer given as magnitude and sign, a double in ryu's shortest form. */
void jsonio_dump_string(struct buf *b, const char *s, size_t n);
void jsonio_dump_uint(struct buf *b, uint64_t u, int neg);
void jsonio_dump_real(struct buf *b, double v);

#endif
