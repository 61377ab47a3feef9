/* format.c - renders a parsed message as one compact JSON object (forward's `format: json`),
 * JSON strings for {{json name}}, and a message's own timestamp in ms (`timestamp: message`). */
#include "format.h"

#include <stdlib.h>
#include <string.h>

#include "jsonio.h"

void format_scratch_free(struct format_scratch *s) {
    buf_free(&s->sd);
    buf_free(&s->val);
}

/* Bytes copied as they are inside a JSON string: printable ASCII but '"' and '\\'. */
static inline int plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

size_t format_json_string(struct buf *out, const char *p, size_t n) {
    const unsigned char *u = (const unsigned char *)p;
    size_t bad = 0, i = 0;
    buf_append(out, "\"", 1);
    while (i < n) {
        size_t run = i;
        while (run < n && plain(u[run])) run++;
        buf_append(out, p + i, run - i);
        if ((i = run) == n) break;
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t k = jsonio_utf8_len(u + i, n - i);
            if (k) {
                buf_append(out, p + i, k);
                i += k;
            } else {
                buf_append(out, "\xEF\xBF\xBD", 3);
                bad++;
                i++;
            }
            continue;
        }
        char e[6];
        size_t el = jsonio_escape(c, e);
        buf_append(out, e, el);
        i++;
    }
    buf_append(out, "\"", 1);
    return bad;
}

/* ---- STRUCTURED-DATA ------------------------------------------------------------------- */

struct sd_entry {
    struct syslog_sd_param prm;
    size_t seq;
};

static int slice_cmp(struct syslog_slice a, struct syslog_slice b) {
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

static int slice_eq(struct syslog_slice a, struct syslog_slice b) {
    return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n));
}

/* By id, then name (an element without params first), then order of appearance. */
static int entry_cmp(const void *x, const void *y) {
    const struct sd_entry *a = x, *b = y;
    int c = slice_cmp(a->prm.id, b->prm.id);
    if (c) return c;
    if (!a->prm.name.p || !b->prm.name.p) {
        if (a->prm.name.p || b->prm.name.p) return a->prm.name.p ? 1 : -1;
    } else if ((c = slice_cmp(a->prm.name, b->prm.name))) {
        return c;
    }
    return (a->seq > b->seq) - (a->seq < b->seq);
}

size_t format_sd(struct buf *out, const struct syslog_msg *m, struct format_scratch *s) {
    struct syslog_sd_iter it;
    struct sd_entry e;
    size_t n = 0, bad = 0;
    s->sd.len = 0;
    syslog_sd_iter_init_msg(&it, m); /* strict or loose grammar, as the line was parsed */
    while (syslog_sd_next(&it, &e.prm) == 1) {
        e.seq = n++;
        buf_append(&s->sd, (const char *)&e, sizeof e);
    }
    struct sd_entry *v = (struct sd_entry *)s->sd.p;
    if (n > 1) qsort(v, n, sizeof *v, entry_cmp);
    buf_append(out, "{", 1);
    for (size_t i = 0; i < n;) {
        if (i) buf_append(out, ",", 1);
        bad += format_json_string(out, v[i].prm.id.p, v[i].prm.id.n);
        buf_append(out, ":{", 2);
        size_t j = i, params = 0;
        for (; j < n && slice_eq(v[j].prm.id, v[i].prm.id); j++) {
            if (!v[j].prm.name.p) continue;
            /* Of a repeated name, the last one (sorted last): as a JSON reader keeps it. */
            if (j + 1 < n && slice_eq(v[j + 1].prm.id, v[j].prm.id) && v[j + 1].prm.name.p &&
                slice_eq(v[j + 1].prm.name, v[j].prm.name))
                continue;
            if (params++) buf_append(out, ",", 1);
            bad += format_json_string(out, v[j].prm.name.p, v[j].prm.name.n);
            buf_append(out, ":", 1);
            size_t len = syslog_sd_unescape(v[j].prm.value_raw, NULL, 0);
            s->val.len = 0;
            s->val.len = syslog_sd_unescape(v[j].prm.value_raw, buf_reserve(&s->val, len), len);
            bad += format_json_string(out, s->val.p, s->val.len);
        }
        buf_append(out, "}", 1);
        i = j;
    }
    buf_append(out, "}", 1);
    return bad;
}

/* ---- the whole message ----------------------------------------------------------------- */

static void key(struct buf *out, const char *k, int *first) {
    if (!*first) buf_append(out, ",", 1);
    *first = 0;
    buf_append(out, "\"", 1);
    buf_append(out, k, strlen(k));
    buf_append(out, "\":", 2);
}

static size_t field(struct buf *out, const char *k, struct syslog_slice v, int *first) {
    if (!v.p) return 0;
    key(out, k, first);
    return format_json_string(out, v.p, v.n);
}

static void number(struct buf *out, const char *k, int v, int *first) {
    char d[12];
    size_t n = 0;
    if (v < 0) return;
    key(out, k, first);
    do d[n++] = (char)('0' + v % 10); while ((v /= 10));
    while (n) buf_append(out, &d[--n], 1);
}

size_t format_json(struct buf *out, const struct format_input *in, struct format_scratch *s) {
    const struct syslog_msg *m = in->msg;
    size_t bad = 0;
    int first = 1;
    buf_append(out, "{", 1);
    const char *fac = syslog_facility_name(m->facility), *sev = syslog_severity_name(m->severity);
    if (fac) bad += field(out, "facility", (struct syslog_slice){fac, strlen(fac)}, &first);
    if (sev) bad += field(out, "severity", (struct syslog_slice){sev, strlen(sev)}, &first);
    number(out, "facility_code", m->facility, &first);
    number(out, "severity_code", m->severity, &first);
    bad += field(out, "timestamp", m->timestamp, &first);
    bad += field(out, "hostname", m->hostname, &first);
    bad += field(out, "appname", m->appname, &first);
    bad += field(out, "procid", m->procid, &first);
    bad += field(out, "msgid", m->msgid, &first);
    if (m->sd.p) {
        key(out, "structured_data", &first);
        bad += format_sd(out, m, s);
    }
    bad += field(out, "msg", m->msg.p ? m->msg : (struct syslog_slice){"", 0}, &first);
    if (in->ncaptures) {
        key(out, "captures", &first);
        buf_append(out, "{", 1);
        for (size_t i = 0; i < in->ncaptures; i++) {
            if (i) buf_append(out, ",", 1);
            bad += format_json_string(out, in->captures[i].name, in->captures[i].name_len);
            buf_append(out, ":", 1);
            bad += format_json_string(out, in->captures[i].value.p, in->captures[i].value.n);
        }
        buf_append(out, "}", 1);
    }
    if (in->payload) {
        key(out, "payload", &first);
        if (in->payload_is_json) buf_append(out, in->payload, in->payload_len);
        else bad += format_json_string(out, in->payload, in->payload_len);
    }
    buf_append(out, "}", 1);
    return bad;
}

/* ---- timestamps ------------------------------------------------------------------------ */

static int leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int64_t y, int m) {
    static const unsigned char d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The UTC year and month of ms since the epoch (H. Hinnant's civil_from_days). */
static void civil_year_month(int64_t ms, int64_t *year, int *month) {
    int64_t z = (ms >= 0 ? ms : ms - 86399999) / 86400000 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* A run of at most max digits at *p (advanced); -1 if none or too many. */
static int64_t digits(const char **p, const char *end, int max) {
    int64_t v = 0;
    int n = 0;
    while (*p < end && is_digit(**p)) {
        if (++n > max) return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return n ? v : -1;
}

static int64_t to_ms(int64_t y, int mon, int64_t d, int64_t h, int64_t mi, int64_t s, int64_t ms,
                     int64_t offset_min) {
    if (mon < 1 || mon > 12 || d < 1 || d > month_days(y, mon) || h > 23 || mi > 59 || s > 60)
        return 0;
    int64_t t = ((days_from_civil(y, mon, (int)d) * 24 + h) * 60 + mi - offset_min) * 60 + s;
    t = t * 1000 + ms;
    return t > 0 ? t : 0;
}

/* A two-byte signed field as the strict parser reads it: "07", "+7", "-7". */
static int signed2(const char *p, int64_t *v) {
    if (is_digit(p[0]) && is_digit(p[1])) return (void)(*v = (p[0] - '0') * 10 + (p[1] - '0')), 0;
    if ((p[0] == '+' || p[0] == '-') && is_digit(p[1]))
        return (void)(*v = p[0] == '-' ? -(p[1] - '0') : p[1] - '0'), 0;
    return -1;
}

/* YYYY-MM-DD[Tt]HH:MM:SS[.frac](Z|z|UTC|+-HH:MM), the forms syslog.c accepts. */
static int64_t rfc3339_ms(const char *p, const char *end) {
    int64_t y, mon, d, h, mi, s, ms = 0, oh = 0, om = 0;
    if ((y = digits(&p, end, 4)) < 0 || p == end || *p++ != '-' ||
        (mon = digits(&p, end, 2)) < 0 || p == end || *p++ != '-' ||
        (d = digits(&p, end, 2)) < 0 || p == end || (*p != 'T' && *p != 't'))
        return 0;
    p++;
    if ((h = digits(&p, end, 2)) < 0 || p == end || *p++ != ':' || (mi = digits(&p, end, 2)) < 0 ||
        p == end || *p++ != ':' || (s = digits(&p, end, 2)) < 0)
        return 0;
    if (p < end && *p == '.') {
        int k = 0;
        for (p++; p < end && is_digit(*p); p++, k++)
            if (k < 3) ms = ms * 10 + (*p - '0');
        for (; k < 3; k++) ms *= 10;
    }
    if (p == end) return 0;
    int sign = 0;
    if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (end - p < 5 || signed2(p, &oh) < 0 || signed2(p + 3, &om) < 0) return 0;
    } else if (*p != 'Z' && *p != 'z' && *p != 'U' && *p != 'u') {
        return 0;
    }
    return to_ms(y, (int)mon, d, h, mi, s, ms, sign * (oh * 60 + om));
}

static int month_of(const char *p, const char *end) {
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (end - p < 3) return 0;
    for (int i = 0; i < 12; i++) {
        int k = 0;
        while (k < 3 && (p[k] | 0x20) == months[3 * i + k]) k++;
        if (k == 3) return i + 1;
    }
    return 0;
}

static const char *blanks(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    return p;
}

/* "Mmm d h:m:s" or "Mmm d yyyy h:m:s", read as UTC. */
static int64_t bsd_ms(const char *p, const char *end, int64_t now_ms) {
    int mon = month_of(p, end);
    int64_t d, y, h, mi, s;
    p = blanks(p + 3, end);
    if ((d = digits(&p, end, 9)) < 0) return 0;
    p = blanks(p, end);
    const char *q = p;
    int64_t first = digits(&q, end, 9);
    if (first < 0) return 0;
    if (q < end && *q == ':') {
        int now_mon;
        civil_year_month(now_ms, &y, &now_mon);
        if (mon == 12 && now_mon == 1) y--; /* sent on December 31, read on January 1 */
    } else {
        y = first;
        p = blanks(q, end);
    }
    if ((h = digits(&p, end, 9)) < 0 || p == end || *p++ != ':' || (mi = digits(&p, end, 9)) < 0 ||
        p == end || *p++ != ':' || (s = digits(&p, end, 9)) < 0 || s > 59)
        return 0;
    return to_ms(y, mon, d, h, mi, s, 0, 0);
}

int64_t format_timestamp_ms(struct syslog_slice ts, int64_t now_ms) {
    if (!ts.p || ts.n < 8) return 0;
    const char *end = ts.p + ts.n;
    if (is_digit(ts.p[0])) return rfc3339_ms(ts.p, end);
    if (month_of(ts.p, end)) return bsd_ms(ts.p, end, now_ms);
    return 0;
}
