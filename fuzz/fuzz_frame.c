/* fuzz_frame.c - libFuzzer target: framing must not depend on how the stream is cut into reads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

struct out {
    char *buf; /* frames, each preceded by its length */
    size_t len, cap;
    int truncated, bad;
};

static void put(struct out *o, const void *p, size_t n) {
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2;
        o->buf = realloc(o->buf, o->cap);
        if (!o->buf) abort();
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

/* Frames in[0..n) delivered in reads of `chunk` bytes, into a buffer the way a worker does. */
static void run(const uint8_t *in, size_t n, size_t chunk, size_t max, int mode, struct out *o) {
    struct frame_state st = {.mode = mode};
    char *buf = malloc(n + 1);
    size_t have = 0, pos = 0;
    if (!buf) abort();
    for (;;) {
        size_t k = chunk < n - pos ? chunk : n - pos;
        memcpy(buf + have, in + pos, k);
        have += k;
        pos += k;
        int eof = pos == n;
        for (;;) {
            struct frame f;
            enum frame_status s = frame_next(&st, buf, have, max, eof, &f);
            if (f.consumed > have) abort();
            if (s == FRAME_BAD_COUNT) {
                o->bad = 1;
                free(buf);
                return;
            }
            if (s == FRAME_MSG) {
                if (f.n > max || f.p < buf || f.p + f.n > buf + have) abort();
                put(o, &f.n, sizeof f.n);
                put(o, f.p, f.n);
                o->truncated += f.truncated;
            }
            memmove(buf, buf + f.consumed, have - f.consumed);
            have -= f.consumed;
            if (s == FRAME_AGAIN && f.consumed == 0) break;
        }
        if (eof) break;
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    size_t max = 1 + data[0] % 64, chunk = 1 + data[1] % 17;
    int mode = data[2] % 3; /* enum frame_mode */
    data += 3;
    size -= 3;
    struct out whole = {0}, split = {0};
    run(data, size, size ? size : 1, max, mode, &whole);
    run(data, size, chunk, max, mode, &split);
    if (whole.bad != split.bad) abort();
    if (!whole.bad && (whole.len != split.len || whole.truncated != split.truncated ||
                       (whole.len && memcmp(whole.buf, split.buf, whole.len))))
        abort();
    free(whole.buf);
    free(split.buf);
    return 0;
}
