/* relp.h - RELP (rsyslog's Reliable Event Logging Protocol): the server's frame parser and
 * response writer, as librelp 1.11 frames them on the wire (doc/relp-design.md). */
#ifndef HOTDOG_RELP_H
#define HOTDOG_RELP_H

#include <stddef.h>

#include "buf.h"

/* TXNR and DATALEN are 1*9DIGIT. After 999999999 the next TXNR is 1 (the RELP spec; librelp's
 * own client cannot get there: it builds 1000000000 and fails, see doc/relp-design.md). */
#define RELP_MAX_TXNR 999999999u
#define RELP_MAX_DIGITS 9
#define RELP_MAX_CMD 32
/* librelp's client reads at most 80 bytes of an rsp's human-readable text. */
#define RELP_MAX_TEXT 80
/* The relp_version this server speaks: librelp has only ever spoken 0 (RELP_CURR_PROTOCOL_VERSION). */
#define RELP_VERSION 0

enum relp_cmd {
    RELP_CMD_UNKNOWN, /* letters, but no command this server knows (the caller closes) */
    RELP_CMD_OPEN,
    RELP_CMD_SYSLOG,
    RELP_CMD_CLOSE,
    RELP_CMD_SERVERCLOSE, /* a hint (TXNR 0) the server sends; from a client: close */
    RELP_CMD_RSP,         /* a response; a client never sends one to the server */
};

/* Per-connection parser state. Zero-initialise it: the first command must then carry TXNR 1. */
struct relp_state {
    unsigned last_txnr; /* TXNR of the last command delivered, 0: none yet */
    size_t skip;        /* bytes of an over-long frame's data still to discard */
    int skip_trailer;   /* then that frame's trailer LF still to check */
};

struct relp_frame {
    unsigned txnr;         /* 0: a hint, outside the TXNR sequence */
    enum relp_cmd cmd;
    const char *cmd_p;     /* the command as sent (for a log line), into the caller's buffer */
    size_t cmd_n;
    const char *data;      /* DATA, into the caller's buffer; no leading SP, no trailer */
    size_t datalen;        /* bytes at data (at most max_data) */
    size_t consumed;       /* bytes of the buffer this call used up (always set) */
    int truncated;         /* DATALEN was over max_data: data is its first max_data bytes */
};

/* relp_next's results; a negative return is -RELP_E_*, see relp_strerror. */
enum { RELP_AGAIN = 0, RELP_FRAME = 1 };
enum relp_error {
    RELP_E_TXNR = 1,  /* TXNR is not 1 to 9 digits followed by SP */
    RELP_E_TXNR_SEQ,  /* TXNR is not the one after the previous command's */
    RELP_E_CMD,       /* COMMAND is not 1 to 32 letters followed by SP */
    RELP_E_DATALEN,   /* DATALEN is not 1 to 9 digits followed by SP and data, or 0 and LF */
    RELP_E_TRAILER,   /* the byte after DATA is not LF */
    RELP_E_OFFERS,    /* an open without relp_version, or without the syslog command */
};

/* Extracts the next frame from buf[0..len): TXNR SP COMMAND SP DATALEN [SP DATA] LF.
 * Returns RELP_FRAME (out describes it), RELP_AGAIN (need more input; out->consumed bytes may
 * still have been used up, the rest of an over-long frame), or -RELP_E_* when the stream is
 * broken: RELP cannot resynchronise, so the caller answers nothing more than a serverclose
 * hint and closes. A malformed header is reported as soon as its bytes show it, not when a
 * frame's worth has arrived. A frame whose DATALEN is over max_data is delivered as soon as
 * its first max_data bytes are here, with out->truncated set; its rest is discarded, however
 * long, and its trailer checked, so that the stream stays in sync (imrelp's default
 * oversizeMode "truncate" does the same). Commands other than hints (TXNR 0) must carry
 * consecutive TXNRs from 1, wrapping to 1 after RELP_MAX_TXNR; the state remembers the last.
 * Pure function: no I/O, no allocation; the caller advances its buffer by out->consumed and
 * calls again while the result is RELP_FRAME or out->consumed > 0. */
int relp_next(struct relp_state *st, const char *buf, size_t len, size_t max_data, struct relp_frame *out);

/* The TXNR a client's next command must carry after txnr. */
unsigned relp_txnr_next(unsigned txnr);

/* What a client's open offered (its DATA: LF-separated "name[=value[,value...]]"). */
struct relp_offers {
    int version;             /* relp_version's value, -1: absent or not a number */
    int syslog;              /* "commands" lists syslog */
    const char *software;    /* relp_software's values as sent, into the caller's buffer */
    size_t software_n;
};

/* Reads an open's offers. 0, or -RELP_E_OFFERS when relp_version or the syslog command is
 * missing (librelp's imrelp then answers "500 required command not supported by client").
 * out is filled either way. Pure. */
int relp_offers_parse(const char *data, size_t n, struct relp_offers *out);

/* Appends a response to out: "TXNR rsp DATALEN CODE SP TEXT [LF DATA] LF". code 0 sends no
 * status at all, "TXNR rsp 0" LF, which is librelp's answer to close (text and data are then
 * ignored). text: at most RELP_MAX_TEXT bytes, no LF. Returns 0, or -EINVAL (nothing
 * appended) for a TXNR over RELP_MAX_TXNR, a code outside 100..999, or such a text.
 * The caller owns out; it grows as buf.h does (aborts on allocation failure). */
int relp_rsp(struct buf *out, unsigned txnr, int code, const char *text, const char *data, size_t datalen);

/* Appends the answer to an accepted open: "200 OK" and our offers, relp_version=RELP_VERSION,
 * relp_software=software (e.g. "hotdog,1.2.0,https://..."; no LF), commands=syslog, in the
 * order librelp's server sends them. Returns 0 or -EINVAL (as relp_rsp). */
int relp_rsp_open(struct buf *out, unsigned txnr, const char *software);

/* Appends the serverclose hint, "0 serverclose 0" LF, which librelp's server sends before it
 * closes a session, whatever the reason. */
void relp_serverclose(struct buf *out);

/* A sentence for -RELP_E_* (or RELP_E_*). */
const char *relp_strerror(int err);

#endif
