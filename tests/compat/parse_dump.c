/* parse_dump.c - prints OUR parse of each stdin line as one JSON object, in exactly the shape
 * tests/compat/parser-oracle prints the original's (see its src/main.rs for the fields), so
 * tests/compat/test_parser_diff.py can compare them field by field.
 *
 * Normalisations done here (not in the parser) so both sides print the same thing:
 *  - timestamp: our raw timestamp text turned into the UTC instant "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ";
 *    a date without a year gets the current year (UTC), as the oracle run with TZ=UTC does.
 *  - procid: text that Rust's i32::from_str reads as a number is printed as that number.
 *  - sd values: strict-grammar SD unescaped (syslog_sd_unescape), loose-grammar SD raw. */
#include "syslog.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_str(const char *p, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void put_slice(struct syslog_slice s) {
    if (s.p) put_str(s.p, s.n);
    else fputs("null", stdout);
}

static void put_name(const char *n) {
    if (n) printf("\"%s\"", n);
    else fputs("null", stdout);
}

/* Rust's i32::from_str: optional sign, 1+ digits, in range. */
static int as_i32(struct syslog_slice s, long long *v) {
    size_t i = 0;
    int neg = 0;
    long long x = 0;
    if (s.n == 0) return 0;
    if (s.p[0] == '+' || s.p[0] == '-') neg = s.p[i++] == '-';
    if (i == s.n) return 0;
    for (; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') return 0;
        x = x * 10 + (s.p[i] - '0');
        if (x > 2147483648LL) return 0;
    }
    if (neg) x = -x;
    if (x > 2147483647LL) return 0;
    *v = x;
    return 1;
}

static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static const char *num(const char *p, const char *e, long long *v) {
    long long x = 0;
    const char *s = p;
    while (p < e && *p >= '0' && *p <= '9') x = x * 10 + (*p++ - '0');
    *v = x;
    return p == s ? NULL : p;
}

static const char *blanks(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    return p;
}

static int i8_2(const char *p, long long *v) {
    if (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9') *v = (p[0] - '0') * 10 + (p[1] - '0');
    else if ((p[0] == '+' || p[0] == '-') && p[1] >= '0' && p[1] <= '9') *v = p[0] == '-' ? -(p[1] - '0') : p[1] - '0';
    else return -1;
    return 0;
}

/* Our timestamp text -> "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" in buf; 0, or -1 if unreadable. */
static int norm_ts(struct syslog_slice ts, char *buf, size_t cap) {
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    const char *p = ts.p, *e = ts.p + ts.n;
    long long y, mo = 0, d, h, mi, s, ns = 0, off = 0;
    if (ts.n >= 3 && !(p[0] >= '0' && p[0] <= '9')) {
        for (int i = 0; i < 12; i++)
            if (((p[0] | 0x20) == months[3 * i]) && ((p[1] | 0x20) == months[3 * i + 1]) &&
                ((p[2] | 0x20) == months[3 * i + 2]))
                mo = i + 1;
        if (!mo) return -1;
        p = num(blanks(p + 3, e), e, &d);
        if (!p) return -1;
        const char *q = blanks(p, e);
        const char *r = num(q, e, &h);
        if (!r) return -1;
        if (r < e && *r == ':') {
            time_t now = time(NULL);
            struct tm tm;
            gmtime_r(&now, &tm);
            y = tm.tm_year + 1900;
        } else {
            y = h;
            r = num(blanks(r, e), e, &h);
            if (!r) return -1;
        }
        if (!(r = num(r + 1, e, &mi)) || !(r = num(r + 1, e, &s))) return -1;
    } else {
        if (ts.n < 19) return -1;
        y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
        mo = (p[5] - '0') * 10 + (p[6] - '0');
        d = (p[8] - '0') * 10 + (p[9] - '0');
        h = (p[11] - '0') * 10 + (p[12] - '0');
        mi = (p[14] - '0') * 10 + (p[15] - '0');
        s = (p[17] - '0') * 10 + (p[18] - '0');
        p += 19;
        if (p < e && *p == '.') {
            int nd = 0;
            for (p++; p < e && *p >= '0' && *p <= '9'; p++, nd++)
                if (nd < 9) ns = ns * 10 + (*p - '0');
            for (; nd < 9; nd++) ns *= 10;
        }
        if (p < e && (*p == '+' || *p == '-') && e - p >= 6) {
            long long sign = *p == '-' ? -1 : 1, oh, om;
            if (i8_2(p + 1, &oh) || i8_2(p + 4, &om)) return -1;
            oh *= sign;
            om *= sign;
            if ((oh > 0 && om < 0) || (oh < 0 && om > 0)) om = -om;
            off = oh * 3600 + om * 60;
        }
    }
    long long t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s - off;
    long long days = t >= 0 ? t / 86400 : (t - 86399) / 86400, sod = t - days * 86400;
    /* civil_from_days */
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long yy = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153, dd = doy - (153 * mp + 2) / 5 + 1, mm = mp < 10 ? mp + 3 : mp - 9;
    yy += mm <= 2;
    /* Years beyond 9999 get a sign, as the oracle's date library prints them. */
    snprintf(buf, cap, yy > 9999 ? "+%05lld-%02u-%02uT%02lld:%02lld:%02lld.%09lldZ"
                                 : "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%09lldZ",
             yy, mm, dd, sod / 3600, sod / 60 % 60, sod % 60, ns);
    return 0;
}

static void put_sd(const struct syslog_msg *m) {
    struct syslog_sd_iter it;
    struct syslog_sd_param prm;
    int first_id = 1;
    static char val[65536];
    /* Emitted as a list of [id, name, value] triples; the test folds them into {id:{name:value}}
     * with later ones winning, which keeps this program free of a JSON library. */
    putchar('[');
    syslog_sd_iter_init_msg(&it, m);
    while (syslog_sd_next(&it, &prm) == 1) {
        if (!first_id) putchar(',');
        first_id = 0;
        putchar('[');
        put_str(prm.id.p, prm.id.n);
        putchar(',');
        if (prm.name.p) {
            put_str(prm.name.p, prm.name.n);
            putchar(',');
            if (m->sd_syntax == SYSLOG_SD_STRICT) {
                size_t n = syslog_sd_unescape(prm.value_raw, val, sizeof val);
                put_str(val, n < sizeof val ? n : sizeof val);
            } else {
                put_str(prm.value_raw.p, prm.value_raw.n);
            }
        } else {
            fputs("null,null", stdout);
        }
        putchar(']');
    }
    putchar(']');
}

int main(void) {
    static const char *const via[] = {"null", "\"rfc5424\"", "\"loose5424\"", "\"loose3164\""};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n && line[n - 1] == '\n') n--;
        if (n && line[n - 1] == '\r') n--;
        struct syslog_msg m;
        int r = syslog_parse(line, (size_t)n, &m);
        printf("{\"accepted\":%s", r == 0 ? "true" : "false");
        if (r != 0) {
            fputs(",\"msg\":", stdout);
            put_slice(m.msg);
            puts("}");
            continue;
        }
        printf(",\"parser\":%s,\"facility\":", via[m.via]);
        put_name(syslog_facility_name(m.facility));
        fputs(",\"severity\":", stdout);
        put_name(syslog_severity_name(m.severity));
        fputs(",\"hostname\":", stdout);
        put_slice(m.hostname);
        fputs(",\"appname\":", stdout);
        put_slice(m.appname);
        fputs(",\"procid\":", stdout);
        long long pid;
        if (m.procid.p && as_i32(m.procid, &pid)) printf("\"%lld\"", pid);
        else put_slice(m.procid);
        fputs(",\"msgid\":", stdout);
        put_slice(m.msgid);
        fputs(",\"timestamp\":", stdout);
        char ts[128];
        if (!m.timestamp.p) fputs("null", stdout);
        else if (norm_ts(m.timestamp, ts, sizeof ts) == 0) printf("\"%s\"", ts);
        else put_slice(m.timestamp);
        fputs(",\"sd\":", stdout);
        put_sd(&m);
        fputs(",\"msg\":", stdout);
        put_slice(m.msg);
        puts("}");
    }
    free(line);
    return 0;
}
