/* jdoc.h - a message's JSON text parsed into one reused flat array of nodes: looked up and
 * printed without a jansson value or an allocation per message.
 *
 * The rules parse a message's JSON once and then, on the common path, only look fields up
 * (a JMESPath field chain) and print it merged (the merge action). Building jansson values
 * for that cost two thirds of a JMESPath + merge rule (bench/results/engine-profile.md):
 * a malloc per value, a hash insert per member, and frees. A jdoc is a tape instead: every
 * value is one node in document order, a container's members follow it, and each node
 * records where its value ends, so a lookup skips over what it does not need. Strings
 * without escapes stay in the text; others are decoded once into the document's arena.
 *
 * The reading is serde_json 1.0's, the original hotdog's JSON library, and is the only JSON
 * reader of hotdog's per-message path (jsonio_parse builds jansson values from a jdoc): see
 * jsonio.h for what is accepted. Printing is jsonio_dump's (serde_json::to_string): keys
 * sorted bytewise, and, as serde_json's maps keep the last of duplicate keys, so do lookups
 * and printing here. */
#ifndef HOTDOG_JDOC_H
#define HOTDOG_JDOC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "jsonio.h"

enum jdoc_type {
    JDOC_NULL,
    JDOC_FALSE,
    JDOC_TRUE,
    JDOC_INT,  /* v.i: an integer that fits i64 */
    JDOC_UINT, /* v.u: an integer above INT64_MAX (up to 2^64 - 1), kept exact as serde_json does */
    JDOC_REAL, /* v.d: anything with a fraction or exponent, -0, and integers beyond 64 bits */
    JDOC_STRING,
    JDOC_ARRAY,
    JDOC_OBJECT /* n members, each a JDOC_STRING key node followed by its value */
};

struct jdoc_node {
    uint8_t type;
    uint8_t decoded; /* a string whose bytes are in the document's arena (it had escapes) */
    uint32_t n;      /* strings: length in bytes; arrays: items; objects: members */
    uint32_t next;   /* the index just past this value and everything it holds */
    union {
        int64_t i;
        uint64_t u;
        double d;
        const char *s; /* a string's bytes in the parsed text */
        size_t off;    /* a decoded string's bytes at this offset in the arena */
    } v;
};

/* Returned by lookups that find nothing. */
#define JDOC_NONE UINT32_MAX

/* One document, reused from message to message: its arrays only grow. The root is node 0.
 * Not shared between threads. */
struct jdoc {
    struct jdoc_node *v;
    size_t n, cap;
    struct buf str; /* decoded strings */
    /* Members being printed, sorted by key: a level's members sit above its parent's. */
    struct jdoc_member *m;
    size_t mcap;
};

/* An object member as printing sorts it. */
struct jdoc_member {
    const char *key;
    size_t len;
    uintptr_t ref; /* here the key's node (its value follows it); jsonio_write: the value */
};

/* The order of serde_json's map keys (bytewise, a prefix first): <0, 0 or >0. */
static inline int jdoc_key_cmp(const char *a, size_t alen, const char *b, size_t blen) {
    /* Most keys differ in their first byte, which spares the memcmp call. */
    if (alen && blen && a[0] != b[0]) return (unsigned char)a[0] < (unsigned char)b[0] ? -1 : 1;
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (alen > blen) - (alen < blen);
}

/* Sorts m[0..n) by key (jdoc_key_cmp), equal keys by ref. Shared with jsonio_write.c. */
void jdoc_sort_members(struct jdoc_member *m, size_t n);

void jdoc_init(struct jdoc *d);
void jdoc_free(struct jdoc *d);

/* Parses p[0..n) as one JSON value (surrounding whitespace allowed) into d, replacing what d
 * held. Returns JSONIO_OK, JSONIO_SYNTAX or JSONIO_DEPTH (nested deeper than
 * JSONIO_MAX_DEPTH). d's string nodes point into p, which must outlive every use of d. Text
 * of 4 GiB or more is refused (JSONIO_SYNTAX). Out of memory aborts (buf.h's policy). */
enum jsonio_err jdoc_parse(struct jdoc *d, const char *p, size_t n);

/* The bytes of string node x. */
static inline const char *jdoc_str(const struct jdoc *d, const struct jdoc_node *x) {
    return x->decoded ? d->str.p + x->v.off : x->v.s;
}

/* The value of the last member of object node obj named key[0..len), or JDOC_NONE when obj
 * is not an object or has no such member. */
uint32_t jdoc_get(const struct jdoc *d, uint32_t obj, const char *key, size_t len);

/* Appends node i as compact JSON to b, byte for byte what jsonio_dump writes for the value
 * jdoc_to_json builds from it. */
void jdoc_dump(struct buf *b, struct jdoc *d, uint32_t i);

/* Collects object node obj's members, sorted by key with only the last of duplicate keys
 * kept, into d->m[top...]; returns how many. The caller uses them before anything else
 * collects at or above top (which may move d->m). */
size_t jdoc_members(struct jdoc *d, uint32_t obj, size_t top);

/* Appends node i as JSON to b, as jdoc_dump does, with top the first free slot of d->m (for
 * a caller that holds members below it). */
void jdoc_dump_at(struct buf *b, struct jdoc *d, uint32_t i, size_t top);

/* A new jansson value of node i (a new reference), as jsonio_parse returns it: integers
 * above INT64_MAX become reals remembered for jsonio_dump (see jsonio_release_big). NULL if
 * memory ran out. */
json_t *jdoc_to_json(const struct jdoc *d, uint32_t i);

#endif
