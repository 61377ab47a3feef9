/* syslog.c - single-pass, allocation-free syslog parser that reads a line as hotdog 0.5.1 does.
 *
 * The original tries a strict RFC 5424 grammar, then a loose one that covers RFC 5424 and
 * RFC 3164 variants. This file re-implements the observable behaviour of both (measured
 * against them by tests/compat/test_parser_diff.py); the rules are listed in syslog.h. */
#include "syslog.h"

#include <errno.h>
#include <stdint.h>

/* Tiny ASCII classifiers. We avoid <ctype.h> because its answers depend on the locale and it is
 * undefined for negative chars; these take the byte as unsigned and are branch-light. */
static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }
static inline int is_alpha(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26u; }
static inline unsigned char to_lower(unsigned char c) { return is_alpha(c) ? c | 0x20 : c; }
/* nom's space0/space1 class. */
static inline int is_sp_tab(unsigned char c) { return c == ' ' || c == '\t'; }

static inline struct syslog_slice slice(const char *from, const char *to) {
    struct syslog_slice s = {from, (size_t)(to - from)};
    return s;
}

static const struct syslog_slice absent = {NULL, 0};

static inline int in_range(long v, long lo, long hi) { return v >= lo && v <= hi; }

/* The length of the Unicode White_Space character encoded at p (Rust's char::is_whitespace),
 * or 0. Continuation bytes are below 0xC2 and never match, so any byte offset is safe. */
static size_t ws_multibyte(const char *p, const char *end);

static inline size_t ws_at(const char *p, const char *end) {
    unsigned char c = (unsigned char)p[0];

    if (c > ' ' && c < 0x80) return 0; /* the common case: a visible ASCII byte */
    if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
    return ws_multibyte(p, end);
}

static size_t ws_multibyte(const char *p, const char *end) {
    unsigned char c = (unsigned char)p[0], c1, c2;

    if (c < 0xC2 || end - p < 2) return 0;
    c1 = (unsigned char)p[1];
    if (c == 0xC2) return (c1 == 0x85 || c1 == 0xA0) ? 2 : 0;
    if (end - p < 3) return 0;
    c2 = (unsigned char)p[2];
    switch (c) {
    case 0xE1: return c1 == 0x9A && c2 == 0x80 ? 3 : 0; /* U+1680 */
    case 0xE2:
        if (c1 == 0x80) /* U+2000..U+200A, U+2028, U+2029, U+202F */
            return (c2 <= 0x8A || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF) ? 3 : 0;
        return c1 == 0x81 && c2 == 0x9F ? 3 : 0; /* U+205F */
    case 0xE3: return c1 == 0x80 && c2 == 0x80 ? 3 : 0; /* U+3000 */
    }
    return 0;
}

/* The length of a White_Space character that ends exactly at end, or 0. */
static size_t ws_before(const char *start, const char *end) {
    unsigned char c;

    if (end == start) return 0;
    c = (unsigned char)end[-1];
    if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
    if (c < 0x80) return 0;
    if (end - start >= 2 && ws_at(end - 2, end) == 2) return 2;
    if (end - start >= 3 && ws_at(end - 3, end) == 3) return 3;
    return 0;
}

/* A run of ASCII digits as an unsigned value no greater than max. Returns the byte after the
 * run, or NULL when there is no digit or the value exceeds max (Rust's FromStr overflow). */
static const char *digits_max(const char *p, const char *end, uint64_t max, uint64_t *v) {
    const char *s = p;
    uint64_t x = 0;

    for (; p < end && is_digit((unsigned char)*p); p++) {
        x = x * 10 + (uint64_t)(*p - '0');
        if (x > max) return NULL;
    }
    if (p == s) return NULL;
    *v = x;
    return p;
}

/* Exactly two ASCII digits as a number, or -1. The caller guarantees two readable bytes. */
static inline int num2(const char *p) {
    if (!is_digit((unsigned char)p[0]) || !is_digit((unsigned char)p[1])) return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static int days_in_month(long year, int month) {
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DD" with a valid calendar date (proleptic Gregorian); returns the byte after it. */
static const char *iso_date(const char *p, const char *end) {
    int y0, y1, mon, day;

    if (end - p < 10) return NULL;
    y0 = num2(p);
    y1 = num2(p + 2);
    mon = num2(p + 5);
    day = num2(p + 8);
    if (y0 < 0 || y1 < 0 || p[4] != '-' || p[7] != '-' || !in_range(mon, 1, 12) || day < 1 ||
        day > days_in_month(y0 * 100 + y1, mon))
        return NULL;
    return p + 10;
}

/* ---------------------------------------------------------------------------------------------
 * The strict grammar (the original's first parser). Lines are read byte by byte; header fields
 * are printable ASCII only. Returns NULL wherever that parser reports an error (and wherever it
 * would panic on a malformed UTC offset: the original dies there, we fall through instead). */

/* A 2-byte signed decimal as Rust's i8::from_str reads it: "07", "+7", "-7". */
static int i8_2(const char *p, int *v) {
    if (is_digit((unsigned char)p[0]) && is_digit((unsigned char)p[1])) {
        *v = (p[0] - '0') * 10 + (p[1] - '0');
        return 0;
    }
    if ((p[0] == '+' || p[0] == '-') && is_digit((unsigned char)p[1])) {
        *v = p[0] == '-' ? -(p[1] - '0') : p[1] - '0';
        return 0;
    }
    return -1;
}

static const char *strict_ts(const char *p, const char *end) {
    const char *d;
    int h, m, s, oh, om, sign;

    if ((p = iso_date(p, end)) == NULL) return NULL;
    if (end - p < 9 || p[0] != 'T') return NULL;
    h = num2(p + 1);
    m = num2(p + 4);
    s = num2(p + 7);
    if (!in_range(h, 0, 23) || p[3] != ':' || !in_range(m, 0, 59) || p[6] != ':' ||
        !in_range(s, 0, 59))
        return NULL;
    p += 9;
    if (p < end && *p == '.') {
        for (d = ++p; d < end && is_digit((unsigned char)*d) && d - p < 6; d++)
            ;
        if (d == p || d == end) return NULL;
        p = d;
    }
    if (p == end) return NULL;
    if (*p == 'Z') return p + 1;
    if (*p != '+' && *p != '-') return NULL;
    sign = *p++ == '-' ? -1 : 1;
    /* Fewer than 5 bytes, or a multi-byte character across the slices: the original panics. */
    if (end - p < 5 || ((unsigned char)p[2] & 0xC0) == 0x80 || ((unsigned char)p[3] & 0xC0) == 0x80 ||
        (end - p > 5 && ((unsigned char)p[5] & 0xC0) == 0x80))
        return NULL;
    if (i8_2(p, &oh) < 0 || i8_2(p + 3, &om) < 0) return NULL;
    if (!in_range(oh * sign, -23, 23) || !in_range(om * sign, -59, 59)) return NULL;
    return p + 5;
}

/* A header field of 1..max printable ASCII bytes, or "-" (NILVALUE, reported absent), followed
 * by exactly one SP. Returns the byte after the SP. */
static const char *strict_term(const char *p, const char *end, size_t max,
                               struct syslog_slice *f) {
    const char *s = p;

    if (p < end && *p == '-' && (p + 1 == end || p[1] == ' ')) {
        *f = absent;
        p++;
    } else {
        while (p < end && (unsigned char)*p >= 33 && (unsigned char)*p <= 126) p++;
        if (p == s || (size_t)(p - s) > max) return NULL;
        *f = slice(s, p);
    }
    return p < end && *p == ' ' ? p + 1 : NULL;
}

/* An SD-NAME of the strict grammar: anything but SP, '=' and ']', possibly empty. It stops at
 * the character that starts at byte offset 128 (a multi-byte character across that offset does
 * not stop it). NULL when the line ends first. */
static const char *strict_sd_name(const char *p, const char *end) {
    const char *s = p;

    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c & 0xC0) == 0x80) continue;
        if (c == ' ' || c == '=' || c == ']' || p - s == 128) return p;
    }
    return NULL;
}

/* p at '"'. Any byte after a backslash is taken literally; returns the closing quote. */
static const char *quoted_end(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '"') return p;
        if (*p == '\\' && ++p == end) return NULL;
    }
    return NULL;
}

/* Inside a strict element after the SD-ID: " NAME=\"VALUE\"" (returns 1), or "]" (returns 0,
 * the element is done), or -EINVAL. Shared by parser and iterator. */
static int strict_sd_step(const char **pp, const char *end, struct syslog_slice *name,
                          struct syslog_slice *value) {
    const char *p = *pp, *n, *v;

    if (p < end && *p == ']') {
        *pp = p + 1;
        return 0;
    }
    if (p == end || *p != ' ') return -EINVAL;
    n = strict_sd_name(++p, end);
    if (n == NULL || end - n < 2 || n[0] != '=' || n[1] != '"') return -EINVAL;
    v = quoted_end(n + 1, end);
    if (v == NULL) return -EINVAL;
    *name = slice(p, n);
    *value = slice(n + 2, v);
    *pp = v + 1;
    return 1;
}

static int strict_sd_open(const char **pp, const char *end, struct syslog_slice *id) {
    const char *p = *pp, *e;

    if (p == end || *p != '[') return -EINVAL;
    if ((e = strict_sd_name(p + 1, end)) == NULL) return -EINVAL;
    *id = slice(p + 1, e);
    *pp = e;
    return 0;
}

/* Elements until SP or the end of the line; returns the byte after the last ']'. */
static const char *strict_sd(const char *p, const char *end) {
    struct syslog_slice id, name, value;
    int r;

    while (p < end) {
        if (strict_sd_open(&p, end, &id) < 0) return NULL;
        while ((r = strict_sd_step(&p, end, &name, &value)) == 1)
            ;
        if (r < 0) return NULL;
        if (p < end && *p == ' ') break;
    }
    return p;
}

static int parse_strict(const char *p, const char *end, struct syslog_msg *m) {
    const char *t;
    uint64_t v;
    int digits;

    if (p == end || *p != '<') return -EINVAL;
    for (t = ++p, v = 0; t < end && is_digit((unsigned char)*t) && t - p < 3; t++)
        v = v * 10 + (uint64_t)(*t - '0');
    if (t == p || t == end || *t != '>' || v > 191) return -EINVAL;
    m->pri = (int)v;
    p = t + 1;
    for (t = p, digits = 0; t < end && is_digit((unsigned char)*t) && digits < 2; t++) digits++;
    if (digits == 0 || t == end || *t != ' ') return -EINVAL;
    p = t + 1;
    if (p < end && *p == '-') {
        m->timestamp = absent;
        t = p + 1;
    } else {
        if ((t = strict_ts(p, end)) == NULL) return -EINVAL;
        m->timestamp = slice(p, t);
    }
    if (t == end || *t != ' ') return -EINVAL;
    p = t + 1;
    if ((p = strict_term(p, end, 255, &m->hostname)) == NULL ||
        (p = strict_term(p, end, 48, &m->appname)) == NULL ||
        (p = strict_term(p, end, 128, &m->procid)) == NULL ||
        (p = strict_term(p, end, 32, &m->msgid)) == NULL)
        return -EINVAL;
    if (p < end && *p == '-') {
        m->sd = absent;
        t = p + 1;
    } else {
        if ((t = strict_sd(p, end)) == NULL) return -EINVAL;
        m->sd = t > p ? slice(p, t) : absent;
    }
    if (t < end && *t == ' ') t++;
    m->msg = slice(t, end);
    m->sd_syntax = SYSLOG_SD_STRICT;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The loose grammar (the original's second parser). It works on the line with Unicode
 * whitespace trimmed from both ends; a missing timestamp makes the original reject the line. */

static const char *skip_sp_tab(const char *p, const char *end) {
    while (p < end && is_sp_tab((unsigned char)*p)) p++;
    return p;
}

/* Optional "<" digits ">" whose value fits a byte; facility may then be out of the table. */
static const char *loose_pri(const char *p, const char *end, int *pri) {
    const char *t;
    uint64_t v;

    *pri = -1;
    if (p == end || *p != '<') return p;
    t = digits_max(p + 1, end, 255, &v);
    if (t == NULL || t == end || *t != '>') return p;
    *pri = (int)v;
    return t + 1;
}

/* RFC 3339 as the loose parser's date library reads it, over the whole token [p, end):
 * 't' or 'T', seconds up to 60, any number of fraction digits, and an offset that is 'Z', 'z',
 * "UTC" (any case) or +-HH:MM strictly inside one day. */
static int loose_rfc3339(const char *p, const char *end) {
    int h, m, s, oh, om;

    if ((p = iso_date(p, end)) == NULL) return 0;
    if (end - p < 9 || (p[0] != 'T' && p[0] != 't')) return 0;
    h = num2(p + 1);
    m = num2(p + 4);
    s = num2(p + 7);
    if (!in_range(h, 0, 23) || p[3] != ':' || !in_range(m, 0, 59) || p[6] != ':' ||
        !in_range(s, 0, 60))
        return 0;
    p += 9;
    if (p < end && *p == '.') {
        if (++p == end || !is_digit((unsigned char)*p)) return 0;
        while (p < end && is_digit((unsigned char)*p)) p++;
    }
    if (p == end) return 0;
    if (*p == 'Z' || *p == 'z') return p + 1 == end;
    if (*p == 'U' || *p == 'u')
        return end - p == 3 && to_lower((unsigned char)p[1]) == 't' &&
               to_lower((unsigned char)p[2]) == 'c';
    if ((*p != '+' && *p != '-') || end - p != 6) return 0;
    oh = num2(p + 1);
    om = num2(p + 4);
    return in_range(oh, 0, 23) && p[3] == ':' && in_range(om, 0, 59);
}

/* The token up to the next SP must be an RFC 3339 timestamp; a line without a later SP has
 * none. Returns the SP. */
static const char *loose_iso_ts(const char *p, const char *end) {
    const char *sp = p;

    while (sp < end && *sp != ' ') sp++;
    if (sp == end || !loose_rfc3339(p, sp)) return NULL;
    return sp;
}

static int month_at(const char *p, const char *end) {
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    int i;

    if (end - p < 3) return 0;
    for (i = 0; i < 12; i++)
        if (to_lower((unsigned char)p[0]) == months[3 * i] &&
            to_lower((unsigned char)p[1]) == months[3 * i + 1] &&
            to_lower((unsigned char)p[2]) == months[3 * i + 2])
            return i + 1;
    return 0;
}

/* "h:m:s" (each a run of digits) with a valid time; sets *ts_end after the seconds and returns
 * the byte after an optional ':' that follows. */
static const char *bsd_time(const char *p, const char *end, const char **ts_end) {
    uint64_t h, m, s;

    if ((p = digits_max(p, end, UINT32_MAX, &h)) == NULL || p == end || *p != ':' ||
        (p = digits_max(p + 1, end, UINT32_MAX, &m)) == NULL || p == end || *p != ':' ||
        (p = digits_max(p + 1, end, UINT32_MAX, &s)) == NULL)
        return NULL;
    if (h > 23 || m > 59 || s > 59) return NULL;
    *ts_end = p;
    return p < end && *p == ':' ? p + 1 : p;
}

/* "Mmm d h:m:s[:]" (the year is the receiver's: any valid day of the month, February 29
 * included), then "Mmm d yyyy h:m:s[:]", then RFC 3339 up to the next SP. Returns the byte
 * after the timestamp (and its ':'), and sets *ts_end to the end of the timestamp text. */
static const char *loose_3164_ts(const char *p, const char *end, const char **ts_end) {
    const char *q, *r;
    uint64_t day, year;
    int mon = month_at(p, end);

    if (mon != 0 && (q = skip_sp_tab(p + 3, end)) > p + 3 &&
        (q = digits_max(q, end, UINT32_MAX, &day)) != NULL && day >= 1 &&
        (r = skip_sp_tab(q, end)) > q) {
        const char *t = bsd_time(r, end, ts_end);
        if (t != NULL && day <= (uint64_t)days_in_month(2000, mon)) return t;
        /* With a year: an invalid date or time makes the original panic; we read no timestamp. */
        if ((q = digits_max(r, end, INT32_MAX, &year)) != NULL && (r = skip_sp_tab(q, end)) > q &&
            (t = bsd_time(r, end, ts_end)) != NULL && year <= 262143 &&
            day <= (uint64_t)days_in_month((long)year, mon))
            return t;
    }
    if ((q = loose_iso_ts(p, end)) != NULL) {
        *ts_end = q;
        return q;
    }
    return NULL;
}

/* nom's take_while1 over characters that are not whitespace (and not ':' unless colons). */
static const char *loose_word(const char *p, const char *end, int colons) {
    const char *s = p;

    while (p < end && !ws_at(p, end) && (colons || *p != ':')) p++;
    return p == s ? NULL : p;
}

/* A header word; "-" is absent. */
static struct syslog_slice word_value(const char *s, const char *e) {
    return (e - s == 1 && *s == '-') ? absent : slice(s, e);
}

/* --- loose STRUCTURED-DATA -------------------------------------------------------------- */

/* '"' ... '"' where a backslash may only escape '"', 'n', '\' or ']'. Returns the byte after
 * the closing quote and the raw value in *v. */
static const char *loose_value(const char *p, const char *end, struct syslog_slice *v) {
    const char *s;

    if (p == end || *p != '"') return NULL;
    s = ++p;
    for (; p < end && *p != '"'; p++) {
        if (*p != '\\') continue;
        if (++p == end || (*p != '"' && *p != 'n' && *p != '\\' && *p != ']')) return NULL;
    }
    if (p == end) return NULL;
    *v = slice(s, p);
    return p + 1;
}

/* NAME "=" SP* VALUE, NAME being 1+ bytes other than ']' and '='. */
static const char *loose_param(const char *p, const char *end, struct syslog_slice *name,
                               struct syslog_slice *value) {
    const char *s = p;

    while (p < end && *p != ']' && *p != '=') p++;
    if (p == s || p == end || *p != '=') return NULL;
    *name = slice(s, p);
    return loose_value(skip_sp_tab(p + 1, end), end, value);
}

/* The SD-ID of a well-formed loose element at p ('['): 1+ characters that are not whitespace,
 * ']' or '='. Returns the byte after it (before the SP* that may follow). */
static const char *loose_sd_id(const char *p, const char *end) {
    const char *s = ++p;

    while (p < end && *p != ']' && *p != '=' && !ws_at(p, end)) p++;
    return p == s ? NULL : p;
}

/* One well-formed element at p; returns the byte after its ']'. */
static const char *loose_element(const char *p, const char *end) {
    struct syslog_slice name, value;
    const char *q;

    if (p == end || *p != '[' || (p = loose_sd_id(p, end)) == NULL) return NULL;
    p = skip_sp_tab(p, end);
    if ((q = loose_param(p, end, &name, &value)) != NULL) {
        p = q;
        while (p < end && *p == ' ' && (q = loose_param(p + 1, end, &name, &value)) != NULL)
            p = q;
    }
    return p < end && *p == ']' ? p + 1 : NULL;
}

/* One element, well-formed or (permissive) anything from '[' to the next ']'. */
static const char *loose_datum(const char *p, const char *end, int permissive, int *wellformed) {
    const char *q = loose_element(p, end);

    *wellformed = q != NULL;
    if (q != NULL || !permissive || p == end || *p != '[') return q;
    for (q = p + 1; q < end && *q != ']'; q++)
        ;
    return q < end ? q + 1 : NULL;
}

/* "-" or one or more elements. Fills *sd with the elements (absent for "-"). */
static const char *loose_sd(const char *p, const char *end, int permissive,
                            struct syslog_slice *sd) {
    const char *s = p, *q;
    int wf;

    if (p < end && *p == '-') {
        *sd = absent;
        return p + 1;
    }
    while ((q = loose_datum(p, end, permissive, &wf)) != NULL) p = q;
    if (p == s) return NULL;
    *sd = slice(s, p);
    return p;
}

/* --- loose RFC 5424 and RFC 3164 ---------------------------------------------------------- */

static int parse_loose_5424(const char *p, const char *end, struct syslog_msg *m) {
    const char *t, *f;
    uint64_t version;

    p = loose_pri(p, end, &m->pri);
    if ((t = digits_max(p, end, UINT32_MAX, &version)) == NULL) return -EINVAL;
    if ((p = skip_sp_tab(t, end)) == t) return -EINVAL;
    if ((t = loose_iso_ts(p, end)) == NULL) return -EINVAL;
    m->timestamp = slice(p, t);
    p = skip_sp_tab(t, end);
    if ((f = loose_word(p, end, 0)) == NULL) return -EINVAL;
    m->hostname = word_value(p, f);
    if ((p = skip_sp_tab(f, end)) == f || (f = loose_word(p, end, 1)) == NULL) return -EINVAL;
    m->appname = word_value(p, f);
    if ((p = skip_sp_tab(f, end)) == f || (f = loose_word(p, end, 0)) == NULL) return -EINVAL;
    m->procid = word_value(p, f);
    if ((p = skip_sp_tab(f, end)) == f || (f = loose_word(p, end, 0)) == NULL) return -EINVAL;
    m->msgid = word_value(p, f);
    if ((p = loose_sd(skip_sp_tab(f, end), end, 1, &m->sd)) == NULL) return -EINVAL;
    m->msg = slice(skip_sp_tab(p, end), end);
    m->sd_syntax = SYSLOG_SD_LOOSE;
    return 0;
}

/* A "tag" word that is "app[pid]" exactly (app possibly empty, pid 1+ bytes without ']'). */
static int systag(struct syslog_slice w, struct syslog_slice *app, struct syslog_slice *pid) {
    const char *p = w.p, *end = w.p + w.n, *b;

    while (p < end && *p != '[') p++;
    if (p == end || end - p < 3 || end[-1] != ']') return 0;
    for (b = p + 1; b < end - 1; b++)
        if (*b == ']') return 0;
    *app = slice(w.p, p);
    *pid = slice(p + 1, end - 1);
    return 1;
}

static int parse_loose_3164(const char *p, const char *end, struct syslog_msg *m) {
    const char *t, *ts_end, *f;
    struct syslog_slice w1 = absent, w2 = absent, app, pid;
    int n = 0;

    p = loose_pri(p, end, &m->pri);
    p = skip_sp_tab(p, end);
    if ((t = loose_3164_ts(p, end, &ts_end)) == NULL) return -EINVAL;
    m->timestamp = slice(p, ts_end);
    p = t;
    /* Up to two words, each after exactly one SP: "host tag", "host" or "tag". */
    if (p < end && *p == ' ' && (f = loose_word(p + 1, end, 0)) != NULL) {
        w1 = slice(p + 1, f);
        p = f;
        n = 1;
        if (p < end && *p == ' ' && (f = loose_word(p + 1, end, 0)) != NULL) {
            w2 = slice(p + 1, f);
            p = f;
            n = 2;
        }
    }
    if (n == 2 && !(w2.n == 1 && *w2.p == '-')) {
        m->hostname = word_value(w1.p, w1.p + w1.n);
        if (systag(w2, &app, &pid)) {
            m->appname = app;
            m->procid = pid;
        } else {
            m->appname = w2;
        }
    } else if (n == 1 && !(w1.n == 1 && *w1.p == '-')) {
        if (systag(w1, &app, &pid)) {
            m->appname = app;
            m->procid = pid;
        } else {
            m->hostname = w1;
        }
    }
    p = skip_sp_tab(p, end);
    if (p < end && *p == ':') p++;
    p = skip_sp_tab(p, end);
    if ((t = loose_sd(p, end, 0, &m->sd)) != NULL) p = t;
    m->msg = slice(skip_sp_tab(p, end), end);
    m->sd_syntax = SYSLOG_SD_LOOSE;
    return 0;
}

static void set_unparsed(struct syslog_msg *m, const char *line, size_t n) {
    m->format = SYSLOG_UNPARSED;
    m->via = SYSLOG_VIA_NONE;
    m->sd_syntax = SYSLOG_SD_STRICT;
    m->pri = m->facility = m->severity = -1;
    m->timestamp = m->hostname = m->appname = m->procid = m->msgid = m->sd = absent;
    m->msg.p = line;
    m->msg.n = n;
}

static int finish(struct syslog_msg *m, enum syslog_format f, enum syslog_via via) {
    m->format = f;
    m->via = via;
    m->facility = m->pri < 0 ? -1 : m->pri / 8;
    m->severity = m->pri < 0 ? -1 : m->pri % 8;
    return 0;
}

int syslog_parse(const char *line, size_t n, struct syslog_msg *out) {
    const char *p, *end;
    size_t w;

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    set_unparsed(out, line, n);
    /* Checked before any pointer arithmetic: line may be NULL when n is 0. */
    if (n == 0) return -EINVAL;
    end = line + n;

    if (parse_strict(line, end, out) == 0) return finish(out, SYSLOG_RFC5424, SYSLOG_VIA_RFC5424);
    set_unparsed(out, line, n);
    for (p = line; p < end && (w = ws_at(p, end)) > 0; p += w)
        ;
    while ((w = ws_before(p, end)) > 0) end -= w;
    if (p == end) return -EINVAL;
    if (parse_loose_5424(p, end, out) == 0)
        return finish(out, SYSLOG_RFC5424, SYSLOG_VIA_LOOSE_5424);
    set_unparsed(out, line, n);
    if (parse_loose_3164(p, end, out) == 0)
        return finish(out, SYSLOG_RFC3164, SYSLOG_VIA_LOOSE_3164);
    set_unparsed(out, line, n);
    return -EINVAL;
}

/* Indexed by facility number. 13-15 are named as the original names them ("audit", "alert",
 * "clockd"), because rules match on these names. */
static const char *const facility_names[24] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clockd",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7",
};

static const char *const severity_names[8] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

struct name_alias {
    const char *name;
    int value;
};

/* Older names of ours and of RFC 5424's table, still accepted in configs and lookups. */
static const struct name_alias facility_aliases[] = {
    {"security", 13}, {"console", 14}, {"solaris-cron", 15}, {"clock", 15},
};

static const struct name_alias severity_aliases[] = {
    {"panic", 0}, {"emergency", 0}, {"critical", 2}, {"error", 3}, {"warn", 4},
    {"informational", 6},
};

const char *syslog_facility_name(int facility) {
    return in_range(facility, 0, 23) ? facility_names[facility] : NULL;
}

const char *syslog_severity_name(int severity) {
    return in_range(severity, 0, 7) ? severity_names[severity] : NULL;
}

/* name[0..n) equals the lowercase NUL-terminated lit, ignoring ASCII case. */
static int name_eq(const char *name, size_t n, const char *lit) {
    size_t i;

    for (i = 0; i < n; i++)
        if (lit[i] == '\0' || to_lower((unsigned char)name[i]) != (unsigned char)lit[i]) return 0;
    return lit[n] == '\0';
}

static int from_name(const char *name, size_t n, const char *const *names, int nnames,
                     const struct name_alias *aliases, size_t naliases) {
    size_t i;

    if (name == NULL) return -1;
    for (i = 0; i < (size_t)nnames; i++)
        if (name_eq(name, n, names[i])) return (int)i;
    for (i = 0; i < naliases; i++)
        if (name_eq(name, n, aliases[i].name)) return aliases[i].value;
    return -1;
}

int syslog_facility_from_name(const char *name, size_t n) {
    return from_name(name, n, facility_names, 24, facility_aliases,
                     sizeof facility_aliases / sizeof facility_aliases[0]);
}

int syslog_severity_from_name(const char *name, size_t n) {
    return from_name(name, n, severity_names, 8, severity_aliases,
                     sizeof severity_aliases / sizeof severity_aliases[0]);
}

void syslog_sd_iter_init_syntax(struct syslog_sd_iter *it, struct syslog_slice sd,
                                enum syslog_sd_syntax syntax) {
    it->p = sd.p;
    it->end = sd.p ? sd.p + sd.n : NULL;
    it->id = absent;
    it->failed = 0;
    it->syntax = syntax;
    it->first = 0;
}

void syslog_sd_iter_init(struct syslog_sd_iter *it, struct syslog_slice sd) {
    syslog_sd_iter_init_syntax(it, sd, SYSLOG_SD_STRICT);
}

void syslog_sd_iter_init_msg(struct syslog_sd_iter *it, const struct syslog_msg *m) {
    syslog_sd_iter_init_syntax(it, m->sd, m->sd_syntax);
}

/* Opens the next element of it: 1 when one was opened, 0 when a malformed loose element was
 * skipped (the original drops it), -EINVAL when the SD is malformed. */
static int sd_iter_open(struct syslog_sd_iter *it) {
    const char *e;
    int wf;

    if (it->syntax == SYSLOG_SD_STRICT) return strict_sd_open(&it->p, it->end, &it->id) < 0 ? -EINVAL : 1;
    if (loose_element(it->p, it->end) == NULL) {
        if ((e = loose_datum(it->p, it->end, 1, &wf)) == NULL) return -EINVAL;
        it->p = e;
        return 0;
    }
    e = loose_sd_id(it->p, it->end);
    it->id = slice(it->p + 1, e);
    it->p = skip_sp_tab(e, it->end);
    it->first = 1;
    return 1;
}

/* The next param of a loose element that loose_element() accepted: 1, 0 at its ']'. */
static int loose_sd_step(struct syslog_sd_iter *it, struct syslog_slice *name,
                         struct syslog_slice *value) {
    const char *p = it->p;

    if (p < it->end && *p == ']') {
        it->p = p + 1;
        return 0;
    }
    if (!it->first) {
        if (p == it->end || *p != ' ') return -EINVAL;
        p++;
    }
    it->first = 0;
    if ((p = loose_param(p, it->end, name, value)) == NULL) return -EINVAL;
    it->p = p;
    return 1;
}

int syslog_sd_next(struct syslog_sd_iter *it, struct syslog_sd_param *param) {
    struct syslog_slice name, value;
    int opened = 0, r;

    if (it->failed) return -EINVAL;
    for (;;) {
        if (it->id.p == NULL) {
            if (it->p == it->end) return 0;
            r = sd_iter_open(it);
            if (r < 0) break;
            if (r == 0) continue;
            opened = 1;
        }
        r = it->syntax == SYSLOG_SD_STRICT ? strict_sd_step(&it->p, it->end, &name, &value)
                                           : loose_sd_step(it, &name, &value);
        if (r < 0) break;
        param->id = it->id;
        if (r == 1) {
            param->name = name;
            param->value_raw = value;
            return 1;
        }
        it->id = absent;
        if (opened) {
            /* "[id]" has no params but is still reported, so callers see every SD-ID. */
            param->name = param->value_raw = absent;
            return 1;
        }
    }
    it->failed = 1;
    return -EINVAL;
}

size_t syslog_sd_unescape(struct syslog_slice raw, char *dst, size_t cap) {
    size_t i, o = 0;

    for (i = 0; i < raw.n; i++, o++) {
        char c = raw.p[i];

        if (c == '\\' && i + 1 < raw.n) c = raw.p[++i];
        if (o < cap) dst[o] = c;
    }
    return o;
}
