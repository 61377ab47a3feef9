/* buf.h - a growable byte buffer that is reused, never shrunk, on the hot path. */
#ifndef HOTDOG_BUF_H
#define HOTDOG_BUF_H

#include <stdlib.h>
#include <string.h>

struct buf {
    char *p;
    size_t len, cap;
};

/* Makes room for n more bytes. Aborts on allocation failure (hotdog's out-of-memory policy
 * for allocations whose size the network bounds through max_message_size). */
static inline char *buf_reserve(struct buf *b, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

static inline void buf_append(struct buf *b, const char *s, size_t n) {
    if (!n) return;
    memcpy(buf_reserve(b, n), s, n);
    b->len += n;
}

/* NUL-terminates without counting the NUL in len. */
static inline const char *buf_cstr(struct buf *b) {
    buf_reserve(b, 1)[0] = 0;
    return b->p;
}

static inline void buf_free(struct buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

#endif
