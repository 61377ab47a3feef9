/* fuzz_relp.c - libFuzzer target: RELP framing must not depend on how the stream is cut into
 * reads, and what the response writer writes the parser reads back.
 *
 * Input: 2 bytes of parameters (max_data, read size), then the stream.
 * 1. The stream in one read and in reads of the fuzzed size give the same frames (same TXNR,
 *    command, data at the same offset in the stream, truncation) and end the same way (the
 *    same error, or none).
 * 2. Every frame's data lies inside the stream, at most max_data bytes; a whole frame's LF
 *    trailer follows its data; TXNRs other than 0 run 1, 2, 3, ...
 * 3. An answer to every command (rsp 200, rsp 0 for close, the open answer for open) parses
 *    back, with a fresh parser, as rsp frames with the same TXNRs, in order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relp.h"

struct frames {
    struct relp_frame *f; /* data points into the input stream */
    size_t n, cap;
    int end; /* 0, or the -RELP_E_* that ended the stream */
};

static void add(struct frames *o, struct relp_frame f) {
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->f = realloc(o->f, o->cap * sizeof *o->f);
        if (!o->f) abort();
    }
    o->f[o->n++] = f;
}

/* Frames of in[0..n) read in reads of chunk bytes, into a buffer as a worker keeps one; each
 * frame's data and command are translated to point into in. */
static void run(const uint8_t *in, size_t n, size_t chunk, size_t max, struct frames *o) {
    struct relp_state st = {0};
    char *buf = malloc(n + 1);
    size_t have = 0, pos = 0;
    unsigned last = 0;
    if (!buf) abort();
    for (;;) {
        size_t k = chunk < n - pos ? chunk : n - pos;
        memcpy(buf + have, in + pos, k);
        have += k;
        pos += k;
        for (;;) {
            struct relp_frame f;
            int s = relp_next(&st, buf, have, max, &f);
            if (f.consumed > have) abort();
            if (s < 0) {
                o->end = s;
                free(buf);
                return;
            }
            if (s == RELP_FRAME) {
                if (f.datalen > max || f.data < buf || f.data + f.datalen > buf + have) abort();
                if (f.cmd_p < buf || f.cmd_p + f.cmd_n > f.data || !f.cmd_n || f.cmd_n > RELP_MAX_CMD) abort();
                if (!f.truncated && buf[f.consumed - 1] != '\n') abort();
                if (!f.truncated && f.datalen && f.data + f.datalen != buf + f.consumed - 1) abort();
                if (f.txnr) {
                    if (f.txnr != relp_txnr_next(last)) abort();
                    last = f.txnr;
                }
                size_t off = pos - have;
                f.data = (const char *)in + off + (size_t)(f.data - buf);
                f.cmd_p = (const char *)in + off + (size_t)(f.cmd_p - buf);
                add(o, f);
            }
            memmove(buf, buf + f.consumed, have - f.consumed);
            have -= f.consumed;
            if (s != RELP_FRAME && !f.consumed) break;
        }
        if (pos == n) break;
    }
    free(buf);
}

static int same(const struct relp_frame *a, const struct relp_frame *b) {
    return a->txnr == b->txnr && a->cmd == b->cmd && a->cmd_p == b->cmd_p && a->cmd_n == b->cmd_n &&
           a->data == b->data && a->datalen == b->datalen && a->truncated == b->truncated;
}

/* Answers every command of o and parses the answers back. */
static void check_answers(const struct frames *o) {
    struct buf b = {0};
    size_t want = 0;
    for (size_t i = 0; i < o->n; i++) {
        const struct relp_frame *f = &o->f[i];
        if (!f->txnr) continue;
        int r;
        if (f->cmd == RELP_CMD_OPEN) {
            struct relp_offers of;
            if (relp_offers_parse(f->data, f->datalen, &of) == 0 && (of.version < 0 || !of.syslog)) abort();
            r = relp_rsp_open(&b, f->txnr, "hotdog,0,https://example.invalid");
        } else if (f->cmd == RELP_CMD_CLOSE) {
            r = relp_rsp(&b, f->txnr, 0, NULL, NULL, 0);
        } else {
            r = relp_rsp(&b, f->txnr, f->cmd == RELP_CMD_SYSLOG ? 200 : 500, f->cmd == RELP_CMD_SYSLOG ? "OK" : "bad",
                         NULL, 0);
        }
        if (r) abort();
        want++;
    }
    struct relp_state st = {0};
    size_t pos = 0, got = 0, i = 0;
    while (pos < b.len) {
        struct relp_frame f;
        if (relp_next(&st, b.p + pos, b.len - pos, 1024, &f) != RELP_FRAME) abort();
        if (f.cmd != RELP_CMD_RSP || f.truncated) abort();
        while (!o->f[i].txnr) i++;
        if (f.txnr != o->f[i++].txnr) abort();
        pos += f.consumed;
        got++;
    }
    if (got != want) abort();
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t max = data[0], chunk = 1 + data[1] % 31;
    data += 2;
    size -= 2;
    struct frames whole = {0}, split = {0};
    run(data, size, size ? size : 1, max, &whole);
    run(data, size, chunk, max, &split);
    if (whole.end != split.end || whole.n != split.n) abort();
    for (size_t i = 0; i < whole.n; i++)
        if (!same(&whole.f[i], &split.f[i])) abort();
    check_answers(&whole);
    free(whole.f);
    free(split.f);
    return 0;
}
