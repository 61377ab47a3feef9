/* syslog.h - parse one RFC 5424 or RFC 3164 syslog line into slices of the caller's buffer. */
#ifndef HOTDOG_SYSLOG_H
#define HOTDOG_SYSLOG_H

#include <stddef.h>

/* Every function in this module is pure: no I/O, no allocation, no global mutable state and no
 * locale-dependent calls, so all of them may run on any thread concurrently (locks: none).
 *
 * Ownership: syslog_parse() never copies. Every slice it returns points INTO the caller's line
 * buffer and is valid exactly as long as that buffer is; the caller keeps ownership of both the
 * buffer and the struct syslog_msg.
 *
 * Leniency, decided once here (the aim is to accept what real senders send, and to fall back
 * RFC 5424 -> RFC 3164 -> UNPARSED for anything structurally different, never to drop a line):
 *  - PRI: "<" 1-3 digits ">" with value 0..191. Leading zeros ("<013>") are accepted, because
 *    rejecting them would only turn a readable line into an UNPARSED one. "<>", "<192>",
 *    "<1234>" and a missing ">" are not a PRI; such a line can then only be UNPARSED.
 *  - Trailing CR and LF bytes (any number) are cut off before parsing and are never part of msg,
 *    not even of an UNPARSED line's msg. Trailing NUL bytes are kept.
 *  - RFC 5424: only VERSION "1". The TIMESTAMP must look like RFC 3339 (checked: digit positions,
 *    separators, month 1-12, day 1-31, hour <24, minute <60, second <=60) but we also accept a
 *    missing UTC offset, lowercase 't'/'z', an offset without colon ("+0100") and up to 9
 *    fractional digits (Go and Java send nanoseconds). Header fields must be separated by exactly
 *    one SP and contain no control bytes; their RFC length limits (HOSTNAME 255, APP-NAME 48,
 *    PROCID 128, MSGID 32) are NOT enforced, and bytes >= 0x80 are accepted.
 *  - STRUCTURED-DATA: SD-ID and PARAM-NAME lengths are not enforced. Inside a quoted value only
 *    an unescaped '"' ends it; a backslash always protects the next byte, so "\]", "\"", "\\"
 *    and an unescaped ']' inside quotes are all fine. Several SPs between params, and SPs before
 *    the closing ']', are accepted. An SP between two elements ends STRUCTURED-DATA (as the RFC
 *    says), so in "[a][b] [c] x" the msg is "[c] x".
 *  - An absent MSG (line ends after STRUCTURED-DATA) is reported as an empty msg at the end of
 *    the line, so msg.p is non-NULL whenever line is.
 *  - RFC 3164: optional PRI, then optionally a timestamp: BSD "Mmm dd hh:mm:ss" (month
 *    case-insensitive, day 1 or 2 digits after one or two spaces, optional ".frac") or the
 *    RFC 3339 form above; it must be followed by SP or the end of the line. Only after a
 *    timestamp may a HOSTNAME follow: the next token counts as hostname if it is made of
 *    [A-Za-z0-9._:-], does not end in ':' and is followed by SP (so "su: x" is a tag, not a
 *    host, while "host su: x" gives both). Then optionally a TAG "app:" or "app[pid]:" (app is
 *    1-48 of [A-Za-z0-9_./-], pid 1-128 printable bytes other than ']'), then one optional SP.
 *    The rest is msg. A line with a PRI but nothing recognisable after it is RFC 3164 with
 *    msg = everything after the PRI. A line with neither PRI nor timestamp is UNPARSED.
 *    Known ambiguity: after a timestamp, "Oct 11 22:14:15 hello world" reads "hello" as the
 *    hostname, as rsyslog does; a line cannot tell us otherwise. */

/* A view into the input buffer; p == NULL means the field is absent. Never NUL-terminated. */
struct syslog_slice {
    const char *p;
    size_t n;
};

enum syslog_format { SYSLOG_RFC5424, SYSLOG_RFC3164, SYSLOG_UNPARSED };

struct syslog_msg {
    enum syslog_format format;
    int pri;      /* 0..191, or -1 when the line had no PRI */
    int facility; /* pri / 8, or -1 */
    int severity; /* pri % 8, or -1 */
    /* absent = {NULL,0}; the RFC 5424 NILVALUE "-" is reported as absent */
    struct syslog_slice timestamp, hostname, appname, procid, msgid;
    struct syslog_slice sd;  /* raw STRUCTURED-DATA ("[id p=\"v\"]..."), absent when "-" or 3164 */
    struct syslog_slice msg; /* the message body; for 5424 with a leading UTF-8 BOM stripped */
};

/* Parses line[0..n) as one frame. Trailing CR/LF are tolerated and never part of msg.
 * Returns 0 when the line is RFC 5424 or RFC 3164. Otherwise returns -EINVAL and still fills
 * *out (format SYSLOG_UNPARSED, every header field absent, pri/facility/severity -1, msg = the
 * whole line without trailing CR/LF) so the caller can forward the line unchanged.
 * Never reads outside line[0..n); line may be NULL when n == 0; NUL bytes and invalid UTF-8 are
 * opaque bytes. Slices in *out point into line (see ownership above). */
int syslog_parse(const char *line, size_t n, struct syslog_msg *out);

/* Names as syslog.conf and rsyslog spell them: "kern","user","mail","daemon","auth","syslog",
 * "lpr","news","uucp","cron","authpriv","ftp","ntp","security","console","solaris-cron",
 * "local0".."local7" for 0..23, and "emerg","alert","crit","err","warning","notice","info",
 * "debug" for 0..7. Return a static string, or NULL when out of range. */
const char *syslog_facility_name(int facility);
const char *syslog_severity_name(int severity);

/* Inverse of the above over name[0..n) (no NUL needed), ASCII case-insensitive; -1 if unknown.
 * Besides every canonical name these aliases are accepted:
 *   facility: "audit" -> 13 (security), "clock" -> 15 (solaris-cron). "security" maps to 13 so
 *             that name -> number -> name round-trips; note that glibc's syslog.conf tradition
 *             treats "security" as a deprecated alias of "auth" (4) instead.
 *   severity: "panic" and "emergency" -> 0, "critical" -> 2, "error" -> 3, "warn" -> 4,
 *             "informational" -> 6. */
int syslog_facility_from_name(const char *name, size_t n);
int syslog_severity_from_name(const char *name, size_t n);

/* Allocation-free iteration over STRUCTURED-DATA. The iterator only points into sd's buffer.
 * The fields are private; the struct is public only so callers can keep it on the stack. */
struct syslog_sd_iter {
    const char *p, *end;
    struct syslog_slice id; /* element being iterated, p == NULL between elements */
    int failed;             /* sticky: once malformed, every later call returns -EINVAL */
};

struct syslog_sd_param {
    struct syslog_slice id, name, value_raw; /* value_raw still has \" \\ \] escapes */
};

/* sd is usually syslog_msg.sd; an absent sd iterates as empty. */
void syslog_sd_iter_init(struct syslog_sd_iter *it, struct syslog_slice sd);

/* Returns 1 and fills *param for the next PARAM (id repeated for each param of an element; an
 * element with no params yields one entry with name.p == NULL and value_raw.p == NULL), 0 at
 * the end, -EINVAL on malformed SD. Any sd that syslog_parse() returned iterates to the end
 * without -EINVAL (the same scanner decides both). */
int syslog_sd_next(struct syslog_sd_iter *it, struct syslog_sd_param *param);

/* Writes the unescaped value ("\\" -> '\', "\"" -> '"', "\]" -> ']'; any other backslash is kept
 * as is, per RFC 5424 6.3.3) into dst[0..cap), and returns the full unescaped length, which may
 * exceed cap: then dst holds a truncated prefix. Does NOT write a terminating NUL. dst may be
 * NULL when cap is 0, to ask for the length. The caller owns dst. */
size_t syslog_sd_unescape(struct syslog_slice raw, char *dst, size_t cap);

#endif
