/* fuzz_spool.c - libFuzzer target: spool records read back from disk (a crash, a bad disk or
 * a hand-edited file can put anything there). A record of the current format (HDSPOOL3) that
 * decodes must re-encode to the same bytes, and its headers must walk to their end; the
 * decoders of the older formats (HDSPOOL2, HDSPOOL1) must read nothing outside the input
 * either. Each input is decoded as it is and again with its CRCs made correct. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

/* Walks a record's headers, as kafka.c does when it produces one: the decoder checked them,
 * so the walk must end cleanly and stay inside them. */
static void walk_headers(const struct record *r) {
    size_t off = 0;
    struct record_header h;
    int rc;
    while ((rc = record_header_next(r->headers, r->headers_len, &off, &h)) == 1)
        if (h.name < r->headers || h.name + h.name_len > r->headers + r->headers_len) abort();
    if (rc != 0 || off != r->headers_len) abort();
}

/* Decodes every record of an older format in p[0..n), as the replayer would. */
static void read_old(const char *p, size_t n, long (*decode)(const char *, size_t, struct record *)) {
    size_t off = 0;
    while (off < n) {
        struct record r;
        long used = decode(p + off, n - off, &r);
        if (used <= 0) break;
        if ((size_t)used > n - off || r.headers || r.timestamp_ms || r.source != RECORD_SPOOL) abort();
        off += (size_t)used;
    }
}

/* Decodes the records of the current format in p[0..n) one after the other, as the replayer
 * does; each must re-encode to its own bytes. */
static void read_current(const char *p, size_t n, struct buf *again) {
    size_t off = 0;
    while (off < n) {
        struct record r;
        long used = spool_decode(p + off, n - off, &r);
        if (used <= 0) break; /* incomplete or corrupt: the replayer truncates there */
        if ((size_t)used > n - off || r.source != RECORD_SPOOL) abort();
        walk_headers(&r);
        again->len = 0;
        spool_encode(again, &r);
        if (again->len != (size_t)used || memcmp(again->p, p + off, (size_t)used)) abort();
        off += (size_t)used;
    }
}

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Fills in the CRC of each record of p[0..n), walking by their length fields. libFuzzer
 * seldom guesses a CRC32C, so without this the checks behind it (lengths, headers) would
 * see almost nothing but what the corpus already holds. */
static void fix_crcs(unsigned char *p, size_t n) {
    size_t off = 0;
    while (n - off >= SPOOL_HEADER) {
        uint32_t body = get32(p + off);
        if (body > n - off - SPOOL_HEADER) break;
        uint32_t c = spool_crc32c(p + off + SPOOL_HEADER, body);
        for (int i = 0; i < 4; i++) p[off + 4 + i] = (unsigned char)(c >> (8 * i));
        off += SPOOL_HEADER + body;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct buf again = {0};
    const char *p = (const char *)data;
    read_current(p, size, &again);
    read_old(p, size, spool_decode_v2);
    read_old(p, size, spool_decode_v1);
    /* The same bytes with correct CRCs, in an exact-size copy so that ASan sees any read past
     * the end. */
    unsigned char *fixed = malloc(size ? size : 1);
    if (!fixed) abort();
    if (size) memcpy(fixed, data, size);
    fix_crcs(fixed, size);
    read_current((const char *)fixed, size, &again);
    read_old((const char *)fixed, size, spool_decode_v2);
    read_old((const char *)fixed, size, spool_decode_v1);
    free(fixed);
    buf_free(&again);
    return 0;
}
