/* fuzz_frame.c - libFuzzer target: framing must not depend on how the stream is cut into reads,
 * and a frame_cut (the worker's buffer budget) must leave the framer in sync.
 *
 * Input: 3 bytes of parameters (max, read size, mode and where to cut), then the stream.
 * 1. The stream in one read and in reads of the fuzzed size frame identically.
 * 2. The stream in reads of that size, with frame_cut called on what is left unconsumed after
 *    the k-th read, against the whole stream without a cut (frames compared with their offsets
 *    in the stream). Say the cut took place with q bytes of the stream framed, and the framer
 *    was back in sync (nothing left to discard) at offset e:
 *    - the frames before the cut are those of the whole stream that start before q;
 *    - the frames after it are those of the whole stream that start at e or later, all of them:
 *      the cut discards exactly the rest of the frame it cut, no more, no less;
 *    - between q and e the whole stream has at most the one frame that was cut; the cut
 *      delivers the start of that frame (its first bytes, at most max, a CR before its end
 *      not yet stripped), or nothing (only a count had come, or it was a blank line);
 *    - a stream the whole read finds corrupt (a bad octet count) may be corrupt only after
 *      the cut too, or the cut may have skipped the corrupt count as part of a line; a stream
 *      that is not corrupt is not corrupt after a cut. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

struct frames {
    struct frame *f; /* p points into the input stream (offset = p - stream) */
    size_t n, cap;
    int bad;
    size_t cut;  /* index in f of the frame frame_cut delivered, or SIZE_MAX */
    size_t q, e; /* see above; both SIZE_MAX without a cut */
};

static void add(struct frames *o, struct frame f) {
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->f = realloc(o->f, o->cap * sizeof *o->f);
        if (!o->f) abort();
    }
    o->f[o->n++] = f;
}

/* Frames in[0..n) delivered in reads of `chunk` bytes, into a buffer the way a worker does;
 * once the frames of read number cut_after (counting from 1; 0: never) are out, frame_cut on
 * what is left unconsumed. Each frame's p is translated to point into in. */
static void run(const uint8_t *in, size_t n, size_t chunk, size_t max, int mode, size_t cut_after,
                struct frames *o) {
    struct frame_state st = {.mode = mode};
    char *buf = malloc(n + 1);
    size_t have = 0, pos = 0, reads = 0;
    int resync = 0; /* a cut happened and the framer may still be discarding its rest */
    if (!buf) abort();
    o->cut = o->q = o->e = SIZE_MAX;
    for (;;) {
        size_t k = chunk < n - pos ? chunk : n - pos;
        memcpy(buf + have, in + pos, k);
        have += k;
        pos += k;
        reads++;
        int eof = pos == n;
        for (;;) {
            struct frame f;
            int cut = 0;
            enum frame_status s = frame_next(&st, buf, have, max, eof, &f);
            if (s == FRAME_AGAIN && f.consumed == 0) {
                if (reads != cut_after || o->q != SIZE_MAX) break;
                o->q = pos - have;
                cut = resync = 1;
                s = frame_cut(&st, buf, have, max, &f);
            }
            if (f.consumed > have) abort();
            if (s == FRAME_BAD_COUNT) {
                o->bad = 1;
                break;
            }
            if (s == FRAME_MSG) {
                if (f.n > max || f.p < buf || f.p + f.n > buf + have) abort();
                if (cut) {
                    if (!f.truncated || !f.n) abort(); /* a cut frame says so, and has bytes */
                    o->cut = o->n;
                }
                f.p = (const char *)in + (pos - have) + (size_t)(f.p - buf);
                add(o, f);
            }
            memmove(buf, buf + f.consumed, have - f.consumed);
            have -= f.consumed;
            if (resync && !st.skip && !st.skip_to_lf) {
                o->e = pos - have;
                resync = 0;
            }
        }
        if (eof || o->bad) break;
    }
    if (resync) o->e = n; /* still discarding the cut frame's rest at the end of the stream */
    free(buf);
}

static int same(const struct frame *a, const struct frame *b) {
    return a->p == b->p && a->n == b->n && a->truncated == b->truncated &&
           a->octet_counted == b->octet_counted;
}

static int same_frames(const struct frames *a, const struct frames *b) {
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (!same(&a->f[i], &b->f[i])) return 0;
    return 1;
}

static void check_cut(const uint8_t *in, const struct frames *whole, const struct frames *cut) {
    if (cut->bad && !whole->bad) abort();
    if (cut->q == SIZE_MAX) return; /* the stream ended in fewer reads */
    const char *q = (const char *)in + cut->q, *e = (const char *)in + cut->e;
    size_t i = 0, j = 0;
    /* Before the cut: the same frames. */
    for (; i < whole->n && whole->f[i].p < q; i++, j++)
        if (j >= cut->n || j == cut->cut || !same(&whole->f[i], &cut->f[j])) abort();
    if (j < cut->n && cut->f[j].p < q) abort();
    /* The frame that was cut, at most one in the whole stream. */
    const struct frame *orig = i < whole->n && whole->f[i].p < e ? &whole->f[i++] : NULL;
    if (i < whole->n && whole->f[i].p < e) abort();
    if (cut->cut != SIZE_MAX) {
        if (cut->cut != j) abort();
        const struct frame *c = &cut->f[j++];
        if (c->p < q || c->p >= e) abort();
        if (orig) {
            /* The start of the frame: same offset, a prefix of it, but for a CR not yet
             * known to end it. */
            if (c->p != orig->p || c->octet_counted != orig->octet_counted) abort();
            size_t m = c->n < orig->n ? c->n : orig->n;
            if (memcmp(c->p, orig->p, m) ||
                (c->n > orig->n && !(c->n == orig->n + 1 && c->p[orig->n] == '\r')))
                abort();
        } else if (!whole->bad && !(c->n == 1 && c->p[0] == '\r')) {
            abort(); /* nothing in the whole stream there: only a blank line "\r\n" may be cut */
        }
    }
    /* After it: all the whole stream's frames from e on. A corrupt whole stream may end
     * earlier than the one with the cut. */
    for (; j < cut->n; i++, j++) {
        if (i >= whole->n) {
            if (whole->bad) return;
            abort();
        }
        if (!same(&whole->f[i], &cut->f[j])) abort();
    }
    if (i != whole->n && !cut->bad) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    size_t max = 1 + data[0] % 64, chunk = 1 + data[1] % 17;
    int mode = data[2] % 3; /* enum frame_mode */
    size_t cut_after = 1 + data[2] / 3;
    data += 3;
    size -= 3;
    struct frames whole = {0}, split = {0}, cut = {0};
    run(data, size, size ? size : 1, max, mode, 0, &whole);
    run(data, size, chunk, max, mode, 0, &split);
    if (whole.bad != split.bad) abort();
    if (!whole.bad && !same_frames(&whole, &split)) abort();
    run(data, size, chunk, max, mode, cut_after, &cut);
    check_cut(data, &whole, &cut);
    free(whole.f);
    free(split.f);
    free(cut.f);
    return 0;
}
