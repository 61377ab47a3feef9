/* record.c - packing and reading a record's Kafka headers. */
#include "record.h"

#include <string.h>

static void put16(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void record_header_add(struct buf *b, const char *name, size_t name_len, const char *value,
                       size_t value_len) {
    if (name_len > RECORD_HEADER_NAME_MAX) name_len = RECORD_HEADER_NAME_MAX;
    size_t vl = value ? value_len : 0;
    unsigned char *p = (unsigned char *)buf_reserve(b, RECORD_HEADER_FIXED + name_len + vl);
    put16(p, (uint32_t)name_len);
    put32(p + 2, value ? (uint32_t)value_len : RECORD_HEADER_NULL);
    if (name_len) memcpy(p + RECORD_HEADER_FIXED, name, name_len);
    if (vl) memcpy(p + RECORD_HEADER_FIXED + name_len, value, vl);
    b->len += RECORD_HEADER_FIXED + name_len + vl;
}

int record_header_next(const char *p, size_t n, size_t *off, struct record_header *h) {
    if (*off >= n) return 0;
    const unsigned char *q = (const unsigned char *)p + *off;
    size_t left = n - *off;
    if (left < RECORD_HEADER_FIXED) return -1;
    size_t nl = (size_t)q[0] | (size_t)q[1] << 8;
    uint32_t vl = get32(q + 2);
    size_t vlen = vl == RECORD_HEADER_NULL ? 0 : vl;
    if (nl > left - RECORD_HEADER_FIXED || vlen > left - RECORD_HEADER_FIXED - nl) return -1;
    h->name = (const char *)q + RECORD_HEADER_FIXED;
    h->name_len = nl;
    h->value = vl == RECORD_HEADER_NULL ? NULL : (const char *)q + RECORD_HEADER_FIXED + nl;
    h->value_len = vlen;
    *off += RECORD_HEADER_FIXED + nl + vlen;
    return 1;
}

long record_header_count(const char *p, size_t n) {
    size_t off = 0;
    long count = 0;
    struct record_header h;
    int r;
    while ((r = record_header_next(p, n, &off, &h)) == 1) count++;
    return r < 0 ? -1 : count;
}
