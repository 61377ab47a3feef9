/* frame.h - splits a syslog byte stream into messages: LF/CRLF or RFC 6587 octet counting. */
#ifndef HOTDOG_FRAME_H
#define HOTDOG_FRAME_H

#include <stddef.h>

/* Per-connection framer state. Zero-initialise it; it only remembers that the framer is in
 * the middle of discarding an oversize frame, so that it keeps in sync with the stream. */
struct frame_state {
    size_t skip;     /* bytes of an oversize octet-counted frame still to discard */
    int skip_to_lf;  /* discarding an oversize LF frame up to and including its LF */
};

struct frame {
    const char *p;   /* the message, pointing into the caller's buffer; delimiters stripped */
    size_t n;
    size_t consumed; /* bytes of the buffer this call used up (always set) */
    int octet_counted;
};

enum frame_status {
    FRAME_MSG,       /* out->p/n is a message */
    FRAME_AGAIN,     /* need more input; out->consumed bytes may still have been discarded */
    FRAME_OVERSIZE,  /* a frame longer than max began here: it is being discarded (count it) */
    FRAME_BAD_COUNT, /* an octet count that cannot be valid: the stream cannot be resynchronised */
};

/* Longest octet count accepted, in digits: 9 digits (< 1 GB) is already far beyond any sane
 * max_message_size; more is treated as a corrupt stream rather than a huge frame to skip. */
#define FRAME_MAX_COUNT_DIGITS 9

/* Extracts the next frame from buf[0..len). A frame that starts with [1-9][0-9]* followed by a
 * space is octet counted (RFC 6587 3.4.1); anything else ends at LF, with a CR before the LF
 * stripped (3.4.2). Empty LF frames (blank lines) are skipped silently. Octet-counted frames
 * lose one trailing LF or CRLF, which many senders append though the count covers it.
 * eof says no more input will come: a trailing frame without LF is then delivered, as is a
 * truncated octet-counted frame. Frames longer than max bytes are discarded and reported once.
 * Pure function: no I/O, no allocation; the caller advances its buffer by out->consumed and
 * calls again while the status is FRAME_MSG or FRAME_OVERSIZE or out->consumed > 0. */
enum frame_status frame_next(struct frame_state *st, const char *buf, size_t len, size_t max,
                             int eof, struct frame *out);

#endif
