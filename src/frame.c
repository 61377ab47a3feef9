/* frame.c - splits a syslog byte stream into messages: LF/CRLF or RFC 6587 octet counting. */
#include "frame.h"

#include <string.h>

static size_t strip_eol(const char *p, size_t n) {
    if (n && p[n - 1] == '\n') n--;
    if (n && p[n - 1] == '\r') n--;
    return n;
}

/* Continues discarding the rest of an over-long frame. Returns 1 while still discarding. */
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

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Parses an octet count at buf. Returns the number of bytes of "COUNT SP" (> 0), 0 if the frame
 * is LF framed, -1 if more input is needed to decide, -2 if the count is invalid. */
static long parse_count(int mode, const char *buf, size_t len, size_t max, size_t *count) {
    if (mode == FRAME_LF) return 0;
    int octet = mode == FRAME_OCTET;
    if (buf[0] < '1' || buf[0] > '9') return octet ? -2 : 0;
    size_t i = 0, v = 0;
    while (i < len && is_digit(buf[i])) {
        /* A run of digits longer than max can be neither a count nor a line that fits: frame
         * it as a line (cut at max) rather than wait for its end with no bound. */
        if (i > max) return octet ? -2 : 0;
        if (i < FRAME_MAX_COUNT_DIGITS) v = v * 10 + (size_t)(buf[i] - '0');
        i++;
    }
    if (i == len) return -1;
    if (buf[i] != ' ') return octet ? -2 : 0;
    if (!octet) {
        /* "5 apples and pears" is a line. Only a PRI after the space says octet counting. */
        if (i + 1 == len) return -1;
        if (buf[i + 1] != '<') return 0;
    }
    /* Ten digits or more: a count no max_message_size allows, so the stream is corrupt. */
    if (i > FRAME_MAX_COUNT_DIGITS) return -2;
    *count = v;
    return (long)i + 1;
}

enum frame_status frame_next(struct frame_state *st, const char *buf, size_t len, size_t max,
                             int eof, struct frame *out) {
    *out = (struct frame){0};
    if (discard(st, buf, len, out)) return FRAME_AGAIN;

    for (;;) {
        if (out->consumed == len) return FRAME_AGAIN;
        const char *b = buf + out->consumed;
        size_t n = len - out->consumed;
        if (st->mode == FRAME_OCTET && (b[0] == '\n' || b[0] == '\r')) {
            out->consumed++; /* an LF or CRLF after a frame, outside its count */
            continue;
        }
        size_t count = 0;
        long hdr = parse_count(st->mode, b, n, max, &count);
        if (hdr == -2) return FRAME_BAD_COUNT;
        if (hdr == -1 && !eof) return FRAME_AGAIN;
        if (hdr > 0) {
            size_t avail = n - (size_t)hdr;
            /* A count within max + 2 may still fit once its trailing CRLF is stripped: wait
             * for all of it. A larger one is cut at max as soon as max bytes are here. */
            size_t need = count > max + 2 ? max : count;
            if (avail < need && !eof) return FRAME_AGAIN;
            size_t take = avail < count ? avail : count;
            size_t mn = strip_eol(b + hdr, take);
            out->p = b + hdr;
            out->octet_counted = 1;
            out->consumed += (size_t)hdr + take;
            st->skip = count - take;
            if (count > max + 2 ? take >= max : mn > max) {
                out->n = max;
                out->truncated = 1;
            } else {
                out->n = mn;
            }
            return FRAME_MSG;
        }
        /* LF framing (also the fallback for an undecidable count at EOF). */
        size_t scan = n < max + 2 ? n : max + 2;
        const char *lf = memchr(b, '\n', scan);
        size_t mn;
        if (lf) {
            out->consumed += (size_t)(lf - b) + 1;
            mn = strip_eol(b, (size_t)(lf - b) + 1);
        } else if (n > max + 1) {
            /* Longer than max even without a CRLF: deliver its start, and discard() drops
             * the rest up to its LF, however far that is. */
            st->skip_to_lf = 1;
            out->consumed += scan;
            mn = max + 1;
        } else if (eof) {
            out->consumed += n;
            mn = strip_eol(b, n);
        } else {
            return FRAME_AGAIN;
        }
        if (mn == 0) continue; /* blank line: not a message */
        out->p = b;
        out->n = mn > max ? max : mn;
        out->truncated = mn > max;
        return FRAME_MSG;
    }
}

enum frame_status frame_cut(struct frame_state *st, const char *buf, size_t len, size_t max,
                            struct frame *out) {
    *out = (struct frame){.consumed = len};
    size_t off = 0;
    if (st->mode == FRAME_OCTET)
        while (off < len && (buf[off] == '\n' || buf[off] == '\r')) off++;
    if (off == len) return FRAME_AGAIN;
    const char *b = buf + off;
    size_t n = len - off, count = 0;
    long hdr = parse_count(st->mode, b, n, max, &count);
    if (hdr == -2) return FRAME_BAD_COUNT;
    if (hdr == -1 && (st->mode == FRAME_OCTET || n <= FRAME_MAX_COUNT_DIGITS + 1)) {
        out->consumed = 0; /* a count still arriving: a few bytes, nothing to cut */
        return FRAME_AGAIN;
    }
    if (hdr > 0) {
        size_t avail = n - (size_t)hdr, take = avail < count ? avail : count;
        out->p = b + hdr;
        out->n = take < max ? take : max;
        out->octet_counted = 1;
        st->skip = count - take;
    } else { /* a line, or digits that could still become a count: a line as far as it goes */
        out->p = b;
        out->n = n < max ? n : max;
        st->skip_to_lf = 1;
    }
    if (!out->n) return FRAME_AGAIN; /* only a count: nothing to deliver, the body is skipped */
    out->truncated = 1;
    return FRAME_MSG;
}
