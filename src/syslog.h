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
 * What is accepted, and how, is decided by compatibility: a line gets the fields hotdog 0.5.1
 * gives it (it parses with the crates syslog_rfc5424 0.9.0, then syslog_loose 0.18.0), measured
 * field by field by tests/compat/test_parser_diff.py. Where that differs from the RFCs, the
 * original wins, because rules written for it must match the same way. In short:
 *  - Trailing CR and LF bytes (any number) are cut off first and are never part of msg.
 *  - 1. Strict RFC 5424, on the line as is: "<PRI>" (1-3 digits, <= 191), VERSION of 1-2 digits
 *    (any value, "2" too), one SP, TIMESTAMP "-" or YYYY-MM-DDTHH:MM:SS[.1-6 digits] with a
 *    valid date, an uppercase 'T' and a mandatory 'Z' or +-HH:MM offset; then HOSTNAME,
 *    APP-NAME, PROCID, MSGID, each 1..255/48/128/32 printable ASCII bytes or "-", each followed
 *    by exactly one SP; then "-" or SD elements "[id p=\"v\" ...]" (ids and names: anything but
 *    SP, '=' and ']', even empty; exactly one SP before each param; a backslash protects any
 *    byte) up to SP or the end; one optional SP; the rest, BOM included, is msg.
 *  - 2. Otherwise the loose parser, on the line with Unicode whitespace trimmed from both ends
 *    (so msg never ends in whitespace). Optional "<PRI>" of any value 0..255 (facility then
 *    may be beyond the table: a name of NULL). It first tries RFC 5424 loosely: VERSION (any
 *    digits), spaces or tabs between fields, an RFC 3339 timestamp ('t', 'z', "UTC", seconds
 *    up to 60, any number of fraction digits, offset +-HH:MM), header fields of any non-blank
 *    characters (HOSTNAME, PROCID, MSGID without ':'), "-" or SD elements (a malformed
 *    "[...]" is skipped), then msg.
 *  - 3. Then RFC 3164: optional PRI, spaces/tabs, a timestamp ("Mmm d h:m:s", "Mmm d yyyy
 *    h:m:s", either with a trailing ':', or RFC 3339 up to the next SP). No timestamp: the
 *    original REJECTS the line (see format). After the timestamp up to two words, each after
 *    exactly one SP and made of non-blank characters other than ':': two words are HOSTNAME and
 *    TAG, a single word is a TAG when it reads "app[pid]", else HOSTNAME; a TAG "app[pid]" gives
 *    appname and procid, any other TAG is the appname. "-" as the second word clears both. Then
 *    blanks, an optional ':', blanks, an optional "-" or well-formed SD elements, blanks; the
 *    rest is msg. So "sshd(pam_unix)[12750]:" is app "sshd(pam_unix)", pid "12750", and
 *    "Jan 02 22:04:05.999: %PIX-7-710005: x" has no hostname and msg ".999: %PIX-7-710005: x"
 *    (the original's reading, kept on purpose).
 *  - A line none of these accept is UNPARSED: forwarded whole (our policy: never drop a line),
 *    but counted as the original counts it, as a parse error.
 *  - Differences we keep: a date without a year on February 29 is accepted in every year (the
 *    original assumes the current year); lines on which the original panics (an RFC 5424 offset
 *    cut short, an impossible "Mmm d yyyy" date) are read without that timestamp. */

/* A view into the input buffer; p == NULL means the field is absent. Never NUL-terminated. */
struct syslog_slice {
    const char *p;
    size_t n;
};

/* UNPARSED exactly when the original rejects the line (its `error.log_parse`). */
enum syslog_format { SYSLOG_RFC5424, SYSLOG_RFC3164, SYSLOG_UNPARSED };

/* Which of the original's parsers reads the line this way (for diagnostics and tests). */
enum syslog_via {
    SYSLOG_VIA_NONE,       /* UNPARSED */
    SYSLOG_VIA_RFC5424,    /* the strict RFC 5424 grammar */
    SYSLOG_VIA_LOOSE_5424, /* the loose parser, RFC 5424 form */
    SYSLOG_VIA_LOOSE_3164, /* the loose parser, RFC 3164 form */
};

/* The grammar the sd slice follows; syslog_sd_iter_init_msg() picks the right one. */
enum syslog_sd_syntax { SYSLOG_SD_STRICT, SYSLOG_SD_LOOSE };

struct syslog_msg {
    enum syslog_format format;
    int pri;      /* 0..191 (RFC 5424 strict) or 0..255 (loose), or -1 when there is no PRI */
    int facility; /* pri / 8 (24..31 have no name), or -1 */
    int severity; /* pri % 8, or -1 */
    /* absent = {NULL,0}; the RFC 5424 NILVALUE "-" is reported as absent */
    struct syslog_slice timestamp, hostname, appname, procid, msgid;
    struct syslog_slice sd;  /* raw STRUCTURED-DATA ("[id p=\"v\"]..."), absent when "-" or none */
    struct syslog_slice msg; /* the message body (a UTF-8 BOM is kept, as the original keeps it) */
    enum syslog_via via;
    enum syslog_sd_syntax sd_syntax;
};

/* Parses line[0..n) as one frame. Trailing CR/LF are tolerated and never part of msg.
 * Returns 0 when the original accepts the line (RFC 5424 or RFC 3164). Otherwise returns -EINVAL and still fills
 * *out (format SYSLOG_UNPARSED, every header field absent, pri/facility/severity -1, msg = the
 * whole line without trailing CR/LF) so the caller can forward the line unchanged.
 * Never reads outside line[0..n); line may be NULL when n == 0; NUL bytes and invalid UTF-8 are
 * opaque bytes. Slices in *out point into line (see ownership above). */
int syslog_parse(const char *line, size_t n, struct syslog_msg *out);

/* Names as the original gives them: "kern","user","mail","daemon","auth","syslog","lpr",
 * "news","uucp","cron","authpriv","ftp","ntp","audit","alert","clockd","local0".."local7" for
 * 0..23, and "emerg","alert","crit","err","warning","notice","info","debug" for 0..7. Return a
 * static string, or NULL when out of range. */
const char *syslog_facility_name(int facility);
const char *syslog_severity_name(int severity);

/* Inverse of the above over name[0..n) (no NUL needed), ASCII case-insensitive; -1 if unknown.
 * Besides every canonical name these aliases are accepted:
 *   facility: "security" -> 13, "console" -> 14, "solaris-cron" and "clock" -> 15 (our names
 *             before compatibility with the original, and RFC 5424's descriptions).
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
    int syntax, first;
};

struct syslog_sd_param {
    struct syslog_slice id, name, value_raw; /* value_raw still has \" \\ \] escapes */
};

/* Iterates m->sd with the grammar it was parsed with (m->sd_syntax). Use this one. */
void syslog_sd_iter_init_msg(struct syslog_sd_iter *it, const struct syslog_msg *m);
/* sd in the strict grammar, or in the given one; an absent sd iterates as empty. In the loose
 * grammar a malformed element is skipped, as the original skips it. */
void syslog_sd_iter_init(struct syslog_sd_iter *it, struct syslog_slice sd);
void syslog_sd_iter_init_syntax(struct syslog_sd_iter *it, struct syslog_slice sd,
                                enum syslog_sd_syntax syntax);

/* Returns 1 and fills *param for the next PARAM (id repeated for each param of an element; an
 * element with no params yields one entry with name.p == NULL and value_raw.p == NULL), 0 at
 * the end, -EINVAL on malformed SD. Any sd that syslog_parse() returned iterates to the end
 * without -EINVAL (the same scanner decides both). */
int syslog_sd_next(struct syslog_sd_iter *it, struct syslog_sd_param *param);

/* Writes the value unescaped as the original's RFC 5424 parser unescapes it (a backslash is
 * dropped and the byte after it kept, whatever it is; a final lone backslash stays) into
 * dst[0..cap), and returns the full unescaped length, which may exceed cap: then dst holds a
 * truncated prefix. Does NOT write a terminating NUL. dst may be
 * NULL when cap is 0, to ask for the length. The caller owns dst. */
size_t syslog_sd_unescape(struct syslog_slice raw, char *dst, size_t cap);

#endif
