/* frame.c - splits a syslog byte stream into messages: LF/CRLF or RFC 6587 octet counting. */
#include "frame.h"

#include <string.h>

static size_t strip_eol(const char *p, size_t n) {
    if (n && p[n - 1] == '\n') n--;
    if (n && p[n - 1] == '\r') n--;
    return n;
}

/* Continues discarding an oversize frame. Returns 1 while still discarding. */
static int discard(struct frame_state *st, const char *buf, size_t len, struct frame *out) {
    if (st->skip) {
        size_t k = st->skip < len ? st->skip : len;
        st->skip -= k;
        out->consumed = k;
        return 1;
    }
    if (st->skip_to_lf) {
        const char *lf = memchr(buf, '\n', len);
        if (lf) {
            st->skip_to_lf = 0;
            out->consumed = (size_t)(lf - buf) + 1;
        } else {
            out->consumed = len;
        }
        return 1;
    }
    return 0;
}

/* Parses an octet count at buf. Returns the number of bytes of "COUNT SP" (> 0), 0 if the frame
 * is not octet counted, -1 if more input is needed to decide, -2 if the count is invalid. */
static long parse_count(const char *buf, size_t len, size_t *count) {
    size_t i = 0, v = 0;
    if (buf[0] < '1' || buf[0] > '9') return 0;
    while (i < len && buf[i] >= '0' && buf[i] <= '9') {
        if (i == FRAME_MAX_COUNT_DIGITS) {
            /* Ten digits: either a bad count or a line that merely starts with a number. A
             * line like "1700000000 epoch ..." is LF-framed text; only digits then SP mean
             * a count, so look for that SP before declaring the stream corrupt. */
            while (i < len && buf[i] >= '0' && buf[i] <= '9') i++;
            if (i == len) return -1;
            return buf[i] == ' ' ? -2 : 0;
        }
        v = v * 10 + (size_t)(buf[i] - '0');
        i++;
    }
    if (i == len) return -1;
    if (buf[i] != ' ') return 0;
    *count = v;
    return (long)i + 1;
}

enum frame_status frame_next(struct frame_state *st, const char *buf, size_t len, size_t max,
                             int eof, struct frame *out) {
    out->p = NULL;
    out->n = 0;
    out->consumed = 0;
    out->octet_counted = 0;
    if (discard(st, buf, len, out)) return FRAME_AGAIN;

    for (;;) {
        if (out->consumed == len) return FRAME_AGAIN;
        const char *b = buf + out->consumed;
        size_t n = len - out->consumed;
        size_t count = 0;
        long hdr = parse_count(b, n, &count);
        if (hdr == -2) return FRAME_BAD_COUNT;
        if (hdr == -1 && !eof) return FRAME_AGAIN;
        if (hdr > 0) {
            size_t avail = n - (size_t)hdr;
            if (count > max) {
                size_t k = count < avail ? count : avail;
                st->skip = count - k;
                out->consumed += (size_t)hdr + k;
                return FRAME_OVERSIZE;
            }
            if (avail < count && !eof) return FRAME_AGAIN;
            size_t take = avail < count ? avail : count;
            out->p = b + hdr;
            out->n = strip_eol(out->p, take);
            out->consumed += (size_t)hdr + take;
            out->octet_counted = 1;
            return FRAME_MSG;
        }
        /* LF framing (also the fallback for an undecidable count at EOF). */
        size_t scan = n < max + 2 ? n : max + 2;
        const char *lf = memchr(b, '\n', scan);
        if (!lf) {
            if (n > max + 1) {
                /* Consume only what was scanned: an LF later in the buffer ends the
                 * oversize frame, and discard() finds it on the next call. */
                st->skip_to_lf = 1;
                out->consumed += scan;
                return FRAME_OVERSIZE;
            }
            if (!eof) return FRAME_AGAIN;
            out->consumed += n;
            size_t mn = strip_eol(b, n);
            if (mn > max) return FRAME_OVERSIZE;
            if (mn == 0) continue;
            out->p = b;
            out->n = mn;
            return FRAME_MSG;
        }
        size_t fl = (size_t)(lf - b);
        size_t mn = strip_eol(b, fl + 1);
        if (mn > max) {
            out->consumed += fl + 1;
            return FRAME_OVERSIZE;
        }
        out->consumed += fl + 1;
        if (mn == 0) continue; /* blank line: not a message */
        out->p = b;
        out->n = mn;
        return FRAME_MSG;
    }
}
