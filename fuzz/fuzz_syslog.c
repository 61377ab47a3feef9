/* fuzz_syslog.c - libFuzzer target: parse and SD-iterate any bytes, checking every invariant. */
#include "syslog.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* abort() rather than assert() so the checks stay on whatever NDEBUG the build uses. */
#define CHECK(c)                \
    do {                        \
        if (!(c)) abort();      \
    } while (0)

static void check_slice(struct syslog_slice s, const char *lo, const char *hi) {
    if (s.p == NULL) {
        CHECK(s.n == 0);
        return;
    }
    CHECK(s.p >= lo && s.p <= hi && s.n <= (size_t)(hi - s.p));
}

/* Iterates sd and checks every yielded slice lies in [lo, hi). Returns the final status. */
static int walk_sd(struct syslog_slice sd, enum syslog_sd_syntax syn, const char *lo,
                   const char *hi) {
    struct syslog_sd_iter it;
    struct syslog_sd_param prm;
    char buf[8];
    int r;

    syslog_sd_iter_init_syntax(&it, sd, syn);
    while ((r = syslog_sd_next(&it, &prm)) == 1) {
        CHECK(prm.id.p != NULL); /* the strict grammar allows an empty SD-ID */
        check_slice(prm.id, lo, hi);
        check_slice(prm.name, lo, hi);
        check_slice(prm.value_raw, lo, hi);
        CHECK((prm.name.p == NULL) == (prm.value_raw.p == NULL));
        if (prm.value_raw.p) {
            /* The small buffer exercises truncation; the result never grows past the raw text. */
            size_t u = syslog_sd_unescape(prm.value_raw, buf, sizeof buf);
            CHECK(u <= prm.value_raw.n);
            CHECK(syslog_sd_unescape(prm.value_raw, NULL, 0) == u);
        }
    }
    CHECK(r == 0 || r == -EINVAL);
    if (r == -EINVAL) CHECK(syslog_sd_next(&it, &prm) == -EINVAL);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *line = (const char *)data;
    const char *end = line + size;
    struct syslog_msg m, again;
    size_t trimmed = size;
    int r;

    while (trimmed > 0 && (line[trimmed - 1] == '\n' || line[trimmed - 1] == '\r')) trimmed--;

    r = syslog_parse(line, size, &m);
    CHECK(r == 0 || r == -EINVAL);
    CHECK((r == 0) == (m.format != SYSLOG_UNPARSED));

    check_slice(m.timestamp, line, end);
    check_slice(m.hostname, line, end);
    check_slice(m.appname, line, end);
    check_slice(m.procid, line, end);
    check_slice(m.msgid, line, end);
    check_slice(m.sd, line, end);
    check_slice(m.msg, line, end);
    if (size > 0) CHECK(m.msg.p != NULL);
        /* msg is the tail of the line without trailing CR/LF, and for the loose parser also
     * without trailing whitespace (which it trims). */
    if (m.msg.p) CHECK(m.msg.p + m.msg.n <= line + trimmed);
    if (m.msg.p && (m.via == SYSLOG_VIA_RFC5424 || m.via == SYSLOG_VIA_NONE))
        CHECK(m.msg.p + m.msg.n == line + trimmed);

    CHECK(m.pri >= -1 && m.pri <= 255);
    CHECK(m.pri <= 191 || m.via != SYSLOG_VIA_RFC5424);
    CHECK((m.via == SYSLOG_VIA_NONE) == (m.format == SYSLOG_UNPARSED));
    CHECK(m.facility == (m.pri < 0 ? -1 : m.pri / 8));
    CHECK(m.severity == (m.pri < 0 ? -1 : m.pri % 8));

    switch (m.format) {
    case SYSLOG_UNPARSED:
        CHECK(m.pri == -1);
        CHECK(m.timestamp.p == NULL && m.hostname.p == NULL && m.appname.p == NULL &&
              m.procid.p == NULL && m.msgid.p == NULL && m.sd.p == NULL);
        CHECK(m.msg.p == line && m.msg.n == trimmed);
        break;
    case SYSLOG_RFC5424:
        CHECK(m.pri >= 0 || m.via == SYSLOG_VIA_LOOSE_5424); /* the loose form needs no PRI */
        if (m.sd.p) {
            CHECK(m.sd.n >= 2 && m.sd.p[0] == '[' && m.sd.p[m.sd.n - 1] == ']');
            /* Parser and iterator must agree on what well-formed SD is. */
            CHECK(walk_sd(m.sd, m.sd_syntax, m.sd.p, m.sd.p + m.sd.n) == 0);
        }
        break;
    case SYSLOG_RFC3164:
        CHECK(m.msgid.p == NULL);
        if (m.sd.p) CHECK(walk_sd(m.sd, m.sd_syntax, m.sd.p, m.sd.p + m.sd.n) == 0);
        /* The original accepts a BSD line only with a timestamp. */
        CHECK(m.timestamp.p != NULL);
        if (m.procid.p) CHECK(m.appname.p != NULL);
        break;
    default:
        abort();
    }

    /* Pure function: the same input gives the same answer. */
    CHECK(syslog_parse(line, size, &again) == r);
    CHECK(memcmp(&m, &again, sizeof m) == 0);

    /* The iterator must also survive arbitrary bytes, not only what the parser accepted. */
    if (size > 0) {
        struct syslog_slice all = {line, size};
        walk_sd(all, SYSLOG_SD_STRICT, line, end);
        walk_sd(all, SYSLOG_SD_LOOSE, line, end);
    }

    /* Name lookups are length-bounded and must round-trip whatever they accept. */
    r = syslog_facility_from_name(line, size);
    CHECK(r == -1 || syslog_facility_name(r) != NULL);
    r = syslog_severity_from_name(line, size);
    CHECK(r == -1 || syslog_severity_name(r) != NULL);
    return 0;
}
