/* frame.h - splits a syslog byte stream into messages: LF/CRLF or RFC 6587 octet counting. */
#ifndef HOTDOG_FRAME_H
#define HOTDOG_FRAME_H

#include <stddef.h>

/* How a listener's streams are framed (the order of the config's `framing` values). */
enum frame_mode {
    FRAME_AUTO,  /* octet counted only where the frame cannot be a plain line: "COUNT <PRI" */
    FRAME_LF,    /* every frame ends at LF; a leading number is part of the message */
    FRAME_OCTET, /* every frame is octet counted: "COUNT SP" then COUNT bytes */
};

/* Per-connection framer state. Zero-initialise it, then set mode; the rest only remembers
 * that the framer is discarding the rest of an over-long frame, so that it keeps in sync. */
struct frame_state {
    size_t skip;     /* bytes of an over-long octet-counted frame still to discard */
    int skip_to_lf;  /* discarding the rest of an over-long LF frame up to and including its LF */
    int mode;        /* enum frame_mode */
};

struct frame {
    const char *p;   /* the message, pointing into the caller's buffer; delimiters stripped */
    size_t n;
    size_t consumed; /* bytes of the buffer this call used up (always set) */
    int octet_counted;
    int truncated;   /* the frame was longer than max: p/n is its first max bytes */
};

enum frame_status {
    FRAME_MSG,       /* out->p/n is a message (out->truncated: cut at max, rest discarded) */
    FRAME_AGAIN,     /* need more input; out->consumed bytes may still have been discarded */
    FRAME_BAD_COUNT, /* an octet count that cannot be valid: the stream cannot be resynchronised */
};

/* Longest octet count accepted, in digits: 9 digits (< 1 GB) is already far beyond any sane
 * max_message_size; more is treated as a corrupt stream rather than a huge frame to skip. */
#define FRAME_MAX_COUNT_DIGITS 9

/* Extracts the next frame from buf[0..len).
 * FRAME_AUTO: a frame that starts with [1-9][0-9]*, one space and '<' is octet counted (RFC
 * 6587 3.4.1): the '<' of a PRI is what tells a count from a line such as "5 apples", which
 * the original hotdog (LF only) forwards whole. Anything else ends at LF, with a CR before
 * the LF stripped (3.4.2). FRAME_LF: always LF. FRAME_OCTET: always a count (CR and LF between
 * frames are skipped); anything else is FRAME_BAD_COUNT.
 * Empty LF frames (blank lines) are skipped silently. Octet-counted frames lose one trailing
 * LF or CRLF, which many senders append though the count covers it. eof says no more input
 * will come: a trailing frame without LF is then delivered, as is a short octet-counted frame.
 * A frame longer than max bytes is delivered cut to its first max bytes (out->truncated) and
 * its rest discarded, however long, so that the next frame starts where the sender meant it.
 * Pure function: no I/O, no allocation; the caller advances its buffer by out->consumed and
 * calls again while the status is FRAME_MSG or out->consumed > 0. */
enum frame_status frame_next(struct frame_state *st, const char *buf, size_t len, size_t max,
                             int eof, struct frame *out);

/* Delivers the unfinished frame that buf[0..len) starts with now, as a truncated message (at
 * most max bytes, its octet count or LF not reached), and makes the framer discard the rest of
 * that frame when it arrives, so that the stream stays in sync. For a caller that must give
 * up the memory a partial frame holds (the worker's buffer budget). buf is what frame_next
 * left unconsumed (it starts a frame). FRAME_MSG with out->truncated set; FRAME_AGAIN when
 * buf holds nothing to deliver (out->consumed: what to drop; 0 when buf is an octet count
 * still arriving, a few bytes that cannot be cut); or FRAME_BAD_COUNT.
 * Pure, like frame_next. */
enum frame_status frame_cut(struct frame_state *st, const char *buf, size_t len, size_t max,
                            struct frame *out);

#endif
