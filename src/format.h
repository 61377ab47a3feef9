/* format.h - renders a parsed message as one compact JSON object (forward's `format: json`),
 * JSON strings for {{json name}}, and a message's own timestamp in ms (`timestamp: message`). */
#ifndef HOTDOG_FORMAT_H
#define HOTDOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "syslog.h"

/* Every function here is pure: no I/O, no global mutable state, no locale; the output and
 * scratch buffers are the caller's, reused from message to message, so that once they have
 * grown nothing is allocated per message. runs on: any thread. */

/* One named regex group of the forwarding rule that took part in the match. */
struct format_capture {
    const char *name;
    size_t name_len;
    struct syslog_slice value;
};

/* What format_json renders besides the parsed fields. */
struct format_input {
    const struct syslog_msg *msg;
    const struct format_capture *captures; /* "captures": omitted when ncaptures is 0 */
    size_t ncaptures;
    /* "payload": what the rule's actions rendered (NULL: omitted). payload_is_json: the text
     * is a JSON value a merge wrote (jsonio_dump: valid JSON and UTF-8), embedded as it is;
     * otherwise it is a string. */
    const char *payload;
    size_t payload_len;
    int payload_is_json;
};

/* Scratch space kept between messages (zero-initialise; free with format_scratch_free). */
struct format_scratch {
    struct buf sd;  /* the STRUCTURED-DATA params being sorted */
    struct buf val; /* one SD value unescaped */
};

void format_scratch_free(struct format_scratch *s);

/* Appends p[0..n) as a JSON string with its quotes: '"', '\\' and control characters
 * escaped (\n \r \t \b \f, others \u00XX), every byte sequence that is not UTF-8 replaced by
 * U+FFFD. Returns how many sequences were replaced. */
size_t format_json_string(struct buf *out, const char *p, size_t n);

/* Appends m's STRUCTURED-DATA as a JSON object {"id":{"param":"value"}}, values unescaped as
 * the original's parser unescapes them; ids and param names sorted bytewise, elements of the
 * same id merged and a repeated param keeping its last value (so no object has a key twice).
 * An absent sd is {}. Returns how many sequences that are not UTF-8 were replaced. */
size_t format_sd(struct buf *out, const struct syslog_msg *m, struct format_scratch *s);

/* Appends the whole message as one compact JSON object, in this order, each key omitted when
 * the message does not have it: facility, severity (names), facility_code, severity_code
 * (numbers), timestamp (as written), hostname, appname, procid, msgid, structured_data,
 * msg (always), captures, payload. Returns how many sequences that are not UTF-8 were
 * replaced. */
size_t format_json(struct buf *out, const struct format_input *in, struct format_scratch *s);

/* The message timestamp ts (a syslog_msg's timestamp slice) in ms since the epoch, or 0 when
 * it is absent or cannot be read. RFC 3339 / RFC 5424 forms use their offset ("Z", "UTC",
 * +-HH:MM); RFC 3164 forms carry no zone and are read as UTC, and "Mmm d hh:mm:ss" carries no
 * year: the current year of now_ms (UTC), as the original's parser took the current year,
 * except that a December date read in January is last year's. A date that does not exist in
 * that year (February 29) is 0. */
int64_t format_timestamp_ms(struct syslog_slice ts, int64_t now_ms);

#endif
