/* syslog.c - single-pass, allocation-free parser for RFC 5424 and RFC 3164 syslog lines. */
#include "syslog.h"

#include <errno.h>

/* Tiny ASCII classifiers. We avoid <ctype.h> because its answers depend on the locale and it is
 * undefined for negative chars; these take the byte as unsigned and are branch-light. */
static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }
static inline int is_alpha(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26u; }
static inline int is_alnum(unsigned char c) { return is_digit(c) || is_alpha(c); }
static inline unsigned char to_lower(unsigned char c) { return is_alpha(c) ? c | 0x20 : c; }

/* A header or SD-NAME byte: anything but SP and control bytes. RFC 5424 says PRINTUSASCII, but
 * senders put UTF-8 in app names, and refusing them would make the whole line UNPARSED. */
static inline int is_field_char(unsigned char c) { return c > 0x20 && c != 0x7f; }

static inline int is_host_char(unsigned char c) {
    return is_alnum(c) || c == '.' || c == '-' || c == '_' || c == ':';
}

static inline int is_tag_char(unsigned char c) {
    return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '/';
}

static inline struct syslog_slice slice(const char *from, const char *to) {
    struct syslog_slice s = {from, (size_t)(to - from)};
    return s;
}

static const struct syslog_slice absent = {NULL, 0};

/* Two ASCII digits as a number, or -1. The caller guarantees two readable bytes. */
static inline int num2(const char *p) {
    if (!is_digit((unsigned char)p[0]) || !is_digit((unsigned char)p[1])) return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static inline int in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }

/* "<" 1*3DIGIT ">" with value <= 191; returns the byte after '>' or NULL. */
static const char *parse_pri(const char *p, const char *end, int *pri) {
    int v = 0, digits = 0;

    if (p == end || *p != '<') return NULL;
    for (p++; p < end && is_digit((unsigned char)*p); p++) {
        if (++digits > 3) return NULL;
        v = v * 10 + (*p - '0');
    }
    if (digits == 0 || p == end || *p != '>' || v > 191) return NULL;
    *pri = v;
    return p + 1;
}

/* Optional ".1*9DIGIT" at p; returns the byte after it, p if there is none, NULL if malformed. */
static const char *parse_frac(const char *p, const char *end) {
    const char *d;

    if (p == end || *p != '.') return p;
    for (d = p + 1; d < end && is_digit((unsigned char)*d); d++)
        ;
    if (d == p + 1 || d - p - 1 > 9) return NULL;
    return d;
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM]"; the leniencies are listed in syslog.h.
 * Returns the byte after the timestamp or NULL. */
static const char *parse_iso_ts(const char *p, const char *end) {
    if (end - p < 19) return NULL;
    if (num2(p) < 0 || num2(p + 2) < 0 || p[4] != '-' || !in_range(num2(p + 5), 1, 12) ||
        p[7] != '-' || !in_range(num2(p + 8), 1, 31) || (p[10] != 'T' && p[10] != 't') ||
        !in_range(num2(p + 11), 0, 23) || p[13] != ':' || !in_range(num2(p + 14), 0, 59) ||
        p[16] != ':' || !in_range(num2(p + 17), 0, 60))
        return NULL;
    p = parse_frac(p + 19, end);
    if (p == NULL || p == end) return p;
    if (*p == 'Z' || *p == 'z') return p + 1;
    if (*p != '+' && *p != '-') return p;
    if (end - p >= 6 && in_range(num2(p + 1), 0, 23) && p[3] == ':' &&
        in_range(num2(p + 4), 0, 59))
        return p + 6;
    if (end - p >= 5 && in_range(num2(p + 1), 0, 23) && in_range(num2(p + 3), 0, 59))
        return p + 5;
    return NULL;
}

/* BSD "Mmm dd hh:mm:ss[.frac]" where dd may be " d" or "d". Returns the byte after it or NULL. */
static const char *parse_bsd_ts(const char *p, const char *end) {
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    const char *m;
    int day = 0;

    if (end - p < 14 || p[3] != ' ') return NULL;
    for (m = months; *m; m += 3)
        if (to_lower((unsigned char)p[0]) == m[0] && to_lower((unsigned char)p[1]) == m[1] &&
            to_lower((unsigned char)p[2]) == m[2])
            break;
    if (*m == '\0') return NULL;
    p += 4;
    if (*p == ' ') p++;
    if (!is_digit((unsigned char)*p)) return NULL;
    day = *p++ - '0';
    if (is_digit((unsigned char)*p)) day = day * 10 + (*p++ - '0');
    /* Worst case so far p is line + 7, and 14 bytes were guaranteed; re-check for the time. */
    if (!in_range(day, 1, 31) || end - p < 9 || *p != ' ') return NULL;
    p++;
    if (!in_range(num2(p), 0, 23) || p[2] != ':' || !in_range(num2(p + 3), 0, 59) ||
        p[5] != ':' || !in_range(num2(p + 6), 0, 60))
        return NULL;
    return parse_frac(p + 8, end);
}

/* One RFC 5424 header field ending in exactly one SP. Fills *f (absent for NILVALUE) and
 * returns the byte after the SP, or NULL when the field is empty or not followed by SP. */
static const char *field_5424(const char *p, const char *end, struct syslog_slice *f) {
    const char *s = p;

    while (p < end && is_field_char((unsigned char)*p)) p++;
    if (p == s || p == end || *p != ' ') return NULL;
    *f = (p - s == 1 && *s == '-') ? absent : slice(s, p);
    return p + 1;
}

/* SD-NAME (SD-ID or PARAM-NAME): field bytes other than '=', ']' and '"'. */
static const char *sd_name_end(const char *p, const char *end) {
    while (p < end && is_field_char((unsigned char)*p) && *p != '=' && *p != ']' && *p != '"')
        p++;
    return p;
}

/* p is just after an opening quote. Only an unescaped '"' ends a value: real senders put raw
 * ']' in values, and a backslash always protects the next byte. Returns the closing quote. */
static const char *sd_value_end(const char *p, const char *end) {
    for (; p < end; p++) {
        if (*p == '"') return p;
        if (*p == '\\' && ++p == end) return NULL;
    }
    return NULL;
}

/* Reads "[SD-ID" at *pp into *id. 0 on success, -EINVAL otherwise. */
static int sd_open(const char **pp, const char *end, struct syslog_slice *id) {
    const char *p = *pp, *s;

    if (p == end || *p != '[') return -EINVAL;
    s = ++p;
    p = sd_name_end(p, end);
    if (p == s) return -EINVAL;
    *id = slice(s, p);
    *pp = p;
    return 0;
}

/* Inside an element, reads either "SP+ NAME=\"VALUE\"" (returns 1) or "SP* ]" (returns 0,
 * element done); -EINVAL otherwise. Parser and iterator both use this, so they cannot disagree
 * about what well-formed STRUCTURED-DATA is. */
static int sd_step(const char **pp, const char *end, struct syslog_slice *name,
                   struct syslog_slice *value) {
    const char *p = *pp, *s, *v;

    if (p < end && *p == ']') {
        *pp = p + 1;
        return 0;
    }
    if (p == end || *p != ' ') return -EINVAL;
    while (p < end && *p == ' ') p++;
    if (p < end && *p == ']') {
        *pp = p + 1;
        return 0;
    }
    s = p;
    p = sd_name_end(p, end);
    if (p == s || end - p < 2 || p[0] != '=' || p[1] != '"') return -EINVAL;
    v = sd_value_end(p + 2, end);
    if (v == NULL) return -EINVAL;
    *name = slice(s, p);
    *value = slice(p + 2, v);
    *pp = v + 1;
    return 1;
}

/* One or more SD-ELEMENTs starting at p; returns the byte after the last ']' or NULL. */
static const char *sd_skip(const char *p, const char *end) {
    struct syslog_slice id, name, value;
    int r;

    do {
        if (sd_open(&p, end, &id) < 0) return NULL;
        while ((r = sd_step(&p, end, &name, &value)) == 1)
            ;
        if (r < 0) return NULL;
    } while (p < end && *p == '[');
    return p;
}

static void set_unparsed(struct syslog_msg *m, const char *line, size_t n) {
    m->format = SYSLOG_UNPARSED;
    m->pri = m->facility = m->severity = -1;
    m->timestamp = m->hostname = m->appname = m->procid = m->msgid = m->sd = absent;
    m->msg.p = line;
    m->msg.n = n;
}

static void set_pri(struct syslog_msg *m, int pri) {
    m->pri = pri;
    m->facility = pri < 0 ? -1 : pri / 8;
    m->severity = pri < 0 ? -1 : pri % 8;
}

/* p is just after a valid PRI. Fills the header fields of *m; 0 or -EINVAL. On failure *m is
 * partly written and the caller resets it. */
static int parse_5424(const char *p, const char *end, struct syslog_msg *m) {
    const char *t;

    if (end - p < 2 || p[0] != '1' || p[1] != ' ') return -EINVAL;
    p += 2;
    if (p < end && *p == '-') {
        t = p + 1;
        m->timestamp = absent;
    } else {
        t = parse_iso_ts(p, end);
        if (t == NULL) return -EINVAL;
        m->timestamp = slice(p, t);
    }
    if (t == end || *t != ' ') return -EINVAL;
    p = t + 1;
    if ((p = field_5424(p, end, &m->hostname)) == NULL ||
        (p = field_5424(p, end, &m->appname)) == NULL ||
        (p = field_5424(p, end, &m->procid)) == NULL ||
        (p = field_5424(p, end, &m->msgid)) == NULL)
        return -EINVAL;
    if (p < end && *p == '-') {
        m->sd = absent;
        t = p + 1;
    } else {
        t = sd_skip(p, end);
        if (t == NULL) return -EINVAL;
        m->sd = slice(p, t);
    }
    if (t < end) {
        if (*t != ' ') return -EINVAL;
        t++;
        if (end - t >= 3 && (unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB &&
            (unsigned char)t[2] == 0xBF)
            t += 3;
    }
    m->msg = slice(t, end);
    m->format = SYSLOG_RFC5424;
    return 0;
}

/* After a timestamp: is the token at p a hostname? See the rule in syslog.h. Returns the byte
 * after the hostname's SP, or NULL. */
static const char *parse_3164_host(const char *p, const char *end, struct syslog_slice *host) {
    const char *h = p;

    while (h < end && is_host_char((unsigned char)*h)) h++;
    if (h == p || h == end || *h != ' ' || h[-1] == ':') return NULL;
    *host = slice(p, h);
    return h + 1;
}

/* "app:" or "app[pid]:" plus one optional SP; returns the byte after it, or NULL. */
static const char *parse_3164_tag(const char *p, const char *end, struct syslog_msg *m) {
    const char *a = p, *b;

    while (a < end && is_tag_char((unsigned char)*a)) a++;
    if (a == p || a - p > 48 || a == end) return NULL;
    if (*a == ':') {
        m->appname = slice(p, a);
        b = a + 1;
    } else if (*a == '[') {
        for (b = a + 1; b < end && is_field_char((unsigned char)*b) && *b != ']'; b++)
            ;
        if (b == a + 1 || b - a - 1 > 128 || end - b < 2 || b[0] != ']' || b[1] != ':')
            return NULL;
        m->appname = slice(p, a);
        m->procid = slice(a + 1, b);
        b += 2;
    } else {
        return NULL;
    }
    return (b < end && *b == ' ') ? b + 1 : b;
}

/* p is after the PRI, or the line start when has_pri is 0. 0 or -EINVAL. */
static int parse_3164(const char *p, const char *end, int has_pri, struct syslog_msg *m) {
    const char *t, *q;

    t = parse_bsd_ts(p, end);
    if (t == NULL) t = parse_iso_ts(p, end);
    if (t != NULL && (t == end || *t == ' ')) {
        m->timestamp = slice(p, t);
        p = t == end ? t : t + 1;
        if ((q = parse_3164_host(p, end, &m->hostname)) != NULL) p = q;
    } else if (!has_pri) {
        return -EINVAL;
    }
    if ((q = parse_3164_tag(p, end, m)) != NULL) p = q;
    m->msg = slice(p, end);
    m->format = SYSLOG_RFC3164;
    return 0;
}

int syslog_parse(const char *line, size_t n, struct syslog_msg *out) {
    const char *p, *end;
    int pri = -1;

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    set_unparsed(out, line, n);
    /* Checked before any pointer arithmetic: line may be NULL when n is 0. */
    if (n == 0) return -EINVAL;
    end = line + n;

    p = parse_pri(line, end, &pri);
    if (p != NULL) {
        if (parse_5424(p, end, out) == 0) {
            set_pri(out, pri);
            return 0;
        }
        set_unparsed(out, line, n);
    }
    if (parse_3164(p ? p : line, end, p != NULL, out) == 0) {
        set_pri(out, pri);
        return 0;
    }
    set_unparsed(out, line, n);
    return -EINVAL;
}

/* Indexed by facility number; 13-15 follow the RFC 5424 table (log audit, log alert, clock). */
static const char *const facility_names[24] = {
    "kern",   "user",   "mail",     "daemon", "auth",     "syslog",  "lpr",          "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",      "security", "console", "solaris-cron",
    "local0", "local1", "local2",   "local3", "local4",   "local5",  "local6",       "local7",
};

static const char *const severity_names[8] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

struct name_alias {
    const char *name;
    int value;
};

static const struct name_alias facility_aliases[] = {{"audit", 13}, {"clock", 15}};

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

void syslog_sd_iter_init(struct syslog_sd_iter *it, struct syslog_slice sd) {
    it->p = sd.p;
    it->end = sd.p ? sd.p + sd.n : NULL;
    it->id = absent;
    it->failed = 0;
}

int syslog_sd_next(struct syslog_sd_iter *it, struct syslog_sd_param *param) {
    struct syslog_slice name, value;
    int opened = 0, r;

    if (it->failed) return -EINVAL;
    for (;;) {
        if (it->id.p == NULL) {
            if (it->p == it->end) return 0;
            if (sd_open(&it->p, it->end, &it->id) < 0) break;
            opened = 1;
        }
        r = sd_step(&it->p, it->end, &name, &value);
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

        if (c == '\\' && i + 1 < raw.n &&
            (raw.p[i + 1] == '"' || raw.p[i + 1] == '\\' || raw.p[i + 1] == ']'))
            c = raw.p[++i];
        if (o < cap) dst[o] = c;
    }
    return o;
}
