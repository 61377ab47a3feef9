/* test_syslog.c - unit tests for the RFC 5424 / RFC 3164 parser, SD iteration and name tables. */
#include "syslog.h"
#include "test.h"

#include <errno.h>
#include <stdlib.h>

/* A string literal as (pointer, length), so literals with NUL bytes keep their full length. */
#define LIT(s) s, sizeof(s) - 1

#define ASSERT_ABSENT(sl) ASSERT((sl).p == NULL && (sl).n == 0)

/* Parses a NUL-free C string. */
static int parse(const char *s, struct syslog_msg *m) {
    return syslog_parse(s, strlen(s), m);
}

/* Every slice of a parse result lies inside line[0..n), and absent slices are {NULL,0}. */
static void check_inside(const char *line, size_t n, const struct syslog_msg *m) {
    const struct syslog_slice *all[] = {&m->timestamp, &m->hostname, &m->appname, &m->procid,
                                        &m->msgid,     &m->sd,       &m->msg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i]->p == NULL) {
            ASSERT_EQ_INT(all[i]->n, 0);
            continue;
        }
        ASSERT(all[i]->p >= line && all[i]->p + all[i]->n <= line + n);
    }
}

static void assert_unparsed(const char *line, size_t n, size_t msg_n) {
    struct syslog_msg m;
    ASSERT_EQ_INT(syslog_parse(line, n, &m), -EINVAL);
    ASSERT_EQ_INT(m.format, SYSLOG_UNPARSED);
    ASSERT_EQ_INT(m.pri, -1);
    ASSERT_EQ_INT(m.facility, -1);
    ASSERT_EQ_INT(m.severity, -1);
    ASSERT_ABSENT(m.timestamp);
    ASSERT_ABSENT(m.hostname);
    ASSERT_ABSENT(m.appname);
    ASSERT_ABSENT(m.procid);
    ASSERT_ABSENT(m.msgid);
    ASSERT_ABSENT(m.sd);
    ASSERT(m.msg.p == line);
    ASSERT_EQ_INT(m.msg.n, msg_n);
}

/* Joins every SD param as "id.name=unescaped;" (or "id;" for an empty element) into out. */
static int sd_dump(struct syslog_slice sd, char *out, size_t cap) {
    struct syslog_sd_iter it;
    struct syslog_sd_param prm;
    size_t o = 0;
    int r;
    syslog_sd_iter_init(&it, sd);
    while ((r = syslog_sd_next(&it, &prm)) == 1) {
        ASSERT(o + prm.id.n + prm.name.n + prm.value_raw.n + 4 < cap);
        memcpy(out + o, prm.id.p, prm.id.n);
        o += prm.id.n;
        if (prm.name.p) {
            out[o++] = '.';
            memcpy(out + o, prm.name.p, prm.name.n);
            o += prm.name.n;
            out[o++] = '=';
            o += syslog_sd_unescape(prm.value_raw, out + o, cap - o);
        } else {
            ASSERT_ABSENT(prm.value_raw);
        }
        out[o++] = ';';
    }
    out[o] = 0;
    return r;
}

/* ---- RFC 5424 section 6.5 ---- */

TEST(rfc5424_example2_no_bom) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% "
                        "It's time to make the do-nuts.",
                        &m),
                  0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_INT(m.facility, 20);
    ASSERT_EQ_INT(m.severity, 5);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "2003-08-24T05:14:15.000003-07:00");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "192.0.2.1");
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "myproc");
    ASSERT_EQ_MEM(m.procid.p, m.procid.n, "8710");
    ASSERT_ABSENT(m.msgid);
    ASSERT_ABSENT(m.sd);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "%% It's time to make the do-nuts.");
}

TEST(rfc5424_example4_sd_only) {
    static const char l[] = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                            "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
                            "eventID=\"1011\"][examplePriority@32473 class=\"high\"]";
    struct syslog_msg m;
    char d[512];
    ASSERT_EQ_INT(syslog_parse(LIT(l), &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_MEM(m.sd.p, m.sd.n,
                  "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
                  "[examplePriority@32473 class=\"high\"]");
    /* No MSG at all: an empty msg at the end of the line, never NULL. */
    ASSERT(m.msg.p == l + sizeof l - 1);
    ASSERT_EQ_INT(m.msg.n, 0);
    ASSERT_EQ_INT(sd_dump(m.sd, d, sizeof d), 0);
    ASSERT_EQ_STR(d, "exampleSDID@32473.iut=3;exampleSDID@32473.eventSource=Application;"
                     "exampleSDID@32473.eventID=1011;examplePriority@32473.class=high;");
}

/* ---- RFC 5424 details ---- */

TEST(rfc5424_nilvalue_everywhere) {
    struct syslog_msg m;
    static const char l[] = "<13>1 - - - - - -";
    ASSERT_EQ_INT(parse(l, &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_ABSENT(m.timestamp);
    ASSERT_ABSENT(m.hostname);
    ASSERT_ABSENT(m.appname);
    ASSERT_ABSENT(m.procid);
    ASSERT_ABSENT(m.msgid);
    ASSERT_ABSENT(m.sd);
    ASSERT(m.msg.p == l + strlen(l));
    ASSERT_EQ_INT(m.msg.n, 0);

    ASSERT_EQ_INT(parse("<13>1 - - - - - - body", &m), 0);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "body");
    /* "-" only means NILVALUE when it is the whole field. */
    ASSERT_EQ_INT(parse("<13>1 - -h -a -p -m - x", &m), 0);
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "-h");
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "-a");
    ASSERT_EQ_MEM(m.procid.p, m.procid.n, "-p");
    ASSERT_EQ_MEM(m.msgid.p, m.msgid.n, "-m");
}

TEST(rfc5424_trailing_crlf_not_in_msg) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<13>1 - h a p m - hello\r\n", &m), 0);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello");
    ASSERT_EQ_INT(parse("<13>1 - h a p m - hello\n", &m), 0);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello");
    ASSERT_EQ_INT(parse("<13>1 - h a p m -\r\n", &m), 0);
    ASSERT_EQ_INT(m.msg.n, 0);
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15 host app: hi\r\n", &m), 0);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hi");
    assert_unparsed(LIT("garbage\r\n"), 7);
    assert_unparsed(LIT("\r\n"), 0);
}

TEST(rfc5424_sd_space_between_elements_ends_sd) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<13>1 - h a p m [a x=\"1\"] [b y=\"2\"] rest", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_MEM(m.sd.p, m.sd.n, "[a x=\"1\"]");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "[b y=\"2\"] rest");
}

/* ---- STRUCTURED-DATA ---- */

TEST(sd_unescape_truncates_and_measures) {
    struct syslog_slice raw = {"a\\\"b\\\\c\\]d\\", 11};
    char buf[16];
    ASSERT_EQ_INT(syslog_sd_unescape(raw, NULL, 0), 8);
    memset(buf, '#', sizeof buf);
    ASSERT_EQ_INT(syslog_sd_unescape(raw, buf, sizeof buf), 8);
    ASSERT_EQ_MEM(buf, 8, "a\"b\\c]d\\");
    ASSERT_EQ_INT(buf[8], '#'); /* no NUL written */
    memset(buf, '#', sizeof buf);
    ASSERT_EQ_INT(syslog_sd_unescape(raw, buf, 3), 8);
    ASSERT_EQ_MEM(buf, 4, "a\"b#");
    struct syslog_slice empty = {"", 0};
    ASSERT_EQ_INT(syslog_sd_unescape(empty, buf, sizeof buf), 0);
}

/* ---- PRI ---- */

/* ---- robustness ---- */

/* Every prefix of valid lines, copied to an exactly-sized heap block so ASan catches any read
 * past n, must give a sane result: slices inside the prefix, and a prefix that still parses as
 * RFC 5424 (it may end at an SD element boundary) has the same header as the whole line. */
TEST(truncated_prefixes_never_overread) {
    static const char *lines[] = {
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 12 ID47 "
        "[exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"lic]ation\" eventID=\"1011\"]"
        "[examplePriority@32473 class=\"high\"][e] \xEF\xBB\xBF" "An event",
        "<13>1 2024-01-02T03:04:05.123456+01:00 h a p m - x",
        "<13>Oct  1 22:14:15.123 mymachine su[123]: 'su root' failed",
        "2024-01-02T03:04:05Z host app[1]: x",
    };
    for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++) {
        size_t n = strlen(lines[k]);
        struct syslog_msg full;
        syslog_parse(lines[k], n, &full);
        for (size_t i = 0; i <= n; i++) {
            char *b = malloc(i ? i : 1);
            struct syslog_msg m;
            struct syslog_sd_iter it;
            struct syslog_sd_param p;
            int r;
            ASSERT(b != NULL);
            memcpy(b, lines[k], i);
            r = syslog_parse(b, i, &m);
            ASSERT(r == 0 || r == -EINVAL);
            ASSERT((r == 0) == (m.format != SYSLOG_UNPARSED));
            check_inside(b, i, &m);
            if (m.format == SYSLOG_UNPARSED) ASSERT_EQ_INT(m.msg.n, i);
            if (m.format == SYSLOG_RFC5424) {
                ASSERT_EQ_INT(full.format, SYSLOG_RFC5424);
                ASSERT_EQ_INT(m.hostname.p - b, full.hostname.p - lines[k]);
                ASSERT_EQ_INT(m.hostname.n, full.hostname.n);
                ASSERT_EQ_INT(m.msgid.p - b, full.msgid.p - lines[k]);
                ASSERT_EQ_INT(m.msgid.n, full.msgid.n);
                ASSERT(m.sd.n <= full.sd.n);
            }
            syslog_sd_iter_init_msg(&it, &m);
            while ((r = syslog_sd_next(&it, &p)) == 1) ASSERT(p.id.p != NULL);
            ASSERT_EQ_INT(r, 0);
            free(b);
        }
    }
}

TEST(nul_bytes_and_invalid_utf8_are_opaque) {
    struct syslog_msg m;
    static const char l1[] = "<13>1 - h a p m - a\0b\xFF\xFE";
    ASSERT_EQ_INT(syslog_parse(LIT(l1), &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_INT(m.msg.n, 5);
    ASSERT(memcmp(m.msg.p, "a\0b\xFF\xFE", 5) == 0);
    static const char l2[] = "<13>1 - h a p m [x y=\"\0\xFF\"] z";
    ASSERT_EQ_INT(syslog_parse(LIT(l2), &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_INT(m.sd.n, 10);
    /* NUL inside a header field is not 5424, and without a date the original rejects it. */
    static const char l3[] = "<13>1 - h\0 a p m - z";
    assert_unparsed(LIT(l3), sizeof l3 - 1);
    static const char l4[] = "\0<13>x";
    assert_unparsed(LIT(l4), sizeof l4 - 1);
    assert_unparsed(NULL, 0, 0);
}

/* ---- RFC 3164 ---- */

TEST(rfc3164_rfc_example_with_hostname) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on "
                        "/dev/pts/8",
                        &m),
                  0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_EQ_INT(m.pri, 34);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "Oct 11 22:14:15");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "mymachine");
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "su");
    ASSERT_ABSENT(m.procid);
    ASSERT_ABSENT(m.msgid);
    ASSERT_ABSENT(m.sd);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "'su root' failed for lonvick on /dev/pts/8");
}

TEST(rfc3164_tag_with_pid_and_hostname) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<86>Jan  5 01:02:03 web-01.example.com CRON[12345]: (root) CMD (x)", &m),
                  0);
    ASSERT_EQ_INT(m.facility, 10);
    ASSERT_EQ_INT(m.severity, 6);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "Jan  5 01:02:03");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "web-01.example.com");
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "CRON");
    ASSERT_EQ_MEM(m.procid.p, m.procid.n, "12345");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "(root) CMD (x)");
    /* Tag chars include -_./ ; no SP after the colon is fine. */
    ASSERT_EQ_INT(parse("<13>Jan 15 01:02:03 h my-app_v1.2/x:msg", &m), 0);
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "my-app_v1.2/x");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "msg");
    /* Unpadded single-digit day and lowercase month, seen from some devices. */
    ASSERT_EQ_INT(parse("<13>jan 5 01:02:03 h app: m", &m), 0);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "jan 5 01:02:03");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "h");
}

TEST(rfc3164_without_pri) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("Oct  1 22:14:15 mymachine su: hi", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_EQ_INT(m.pri, -1);
    ASSERT_EQ_INT(m.facility, -1);
    ASSERT_EQ_INT(m.severity, -1);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "Oct  1 22:14:15");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "mymachine");
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "su");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hi");
    ASSERT_EQ_INT(parse("2024-01-02T03:04:05.123456+00:00 host app[7]: x", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_EQ_MEM(m.procid.p, m.procid.n, "7");
}

TEST(logger_util_linux_rfc5424) {
    struct syslog_msg m;
    char d[256];
    ASSERT_EQ_INT(parse("<13>1 2026-11-24T01:03:22.043658+00:00 vm myapp - - [timeQuality "
                        "tzKnown=\"1\" isSynced=\"0\"] hello",
                        &m),
                  0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "2026-11-24T01:03:22.043658+00:00");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "vm");
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "myapp");
    ASSERT_ABSENT(m.procid);
    ASSERT_ABSENT(m.msgid);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello");
    ASSERT_EQ_INT(sd_dump(m.sd, d, sizeof d), 0);
    ASSERT_EQ_STR(d, "timeQuality.tzKnown=1;timeQuality.isSynced=0;");

    /* logger -p local3.warning --sd-id zoo@123 --sd-param tiger="hungry" --msgid ID47 */
    ASSERT_EQ_INT(parse("<156>1 2026-11-24T01:03:22.047080+00:00 vm myapp - ID47 [timeQuality "
                        "tzKnown=\"1\" isSynced=\"0\"][zoo@123 tiger=\"hungry\"] hello world",
                        &m),
                  0);
    ASSERT_EQ_INT(m.facility, syslog_facility_from_name(LIT("local3")));
    ASSERT_EQ_INT(m.severity, syslog_severity_from_name(LIT("warning")));
    ASSERT_EQ_MEM(m.msgid.p, m.msgid.n, "ID47");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello world");
    ASSERT_EQ_INT(sd_dump(m.sd, d, sizeof d), 0);
    ASSERT_EQ_STR(d, "timeQuality.tzKnown=1;timeQuality.isSynced=0;zoo@123.tiger=hungry;");

    /* --rfc5424=notq,notime */
    ASSERT_EQ_INT(parse("<13>1 - vm myapp - - - hi", &m), 0);
    ASSERT_ABSENT(m.timestamp);
    ASSERT_ABSENT(m.sd);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hi");

    /* -i (pid) */
    ASSERT_EQ_INT(parse("<13>1 2026-11-24T01:03:22.051843+00:00 vm myapp 3625 - [timeQuality "
                        "tzKnown=\"1\" isSynced=\"0\"] hello pid",
                        &m),
                  0);
    ASSERT_EQ_MEM(m.procid.p, m.procid.n, "3625");

    /* --rfc5424=nohost */
    ASSERT_EQ_INT(parse("<13>1 2026-11-24T01:03:22.053437+00:00 - myapp - - [timeQuality "
                        "tzKnown=\"1\" isSynced=\"0\"] nohost",
                        &m),
                  0);
    ASSERT_ABSENT(m.hostname);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "nohost");
}

/* ---- unparseable ---- */

/* ---- names ---- */

TEST(names_aliases_case_and_bounds) {
    ASSERT_EQ_INT(syslog_severity_from_name(LIT("warn")), 4);
    ASSERT_EQ_INT(syslog_severity_from_name(LIT("error")), 3);
    ASSERT_EQ_INT(syslog_severity_from_name(LIT("panic")), 0);
    ASSERT_EQ_INT(syslog_severity_from_name(LIT("emergency")), 0);
    ASSERT_EQ_INT(syslog_severity_from_name(LIT("critical")), 2);
    ASSERT_EQ_INT(syslog_severity_from_name(LIT("informational")), 6);
    ASSERT_EQ_INT(syslog_severity_from_name(LIT("WARNING")), 4);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("LOCAL0")), 16);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("security")), 13);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("audit")), 13);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("clock")), 15);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("auth")), 4);
    /* Length-bounded, not NUL-terminated: a prefix of a longer buffer. */
    ASSERT_EQ_INT(syslog_facility_from_name("local1xyz", 6), 17);
    ASSERT_EQ_INT(syslog_severity_from_name("infox", 4), 6);
    /* Unknown, prefixes and extensions of names. */
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("local8")), -1);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("loc")), -1);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("kernel")), -1);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("")), -1);
    ASSERT_EQ_INT(syslog_facility_from_name(NULL, 0), -1);
    ASSERT_EQ_INT(syslog_severity_from_name(LIT("inf")), -1);
    ASSERT_EQ_INT(syslog_severity_from_name(LIT("in\0fo")), -1);
}

/* ---- compatibility with the original (hotdog 0.5.1) ---- */

/* Expected fields printed by tests/compat/parser-oracle (the original's two crates) for each
 * line; NULL = absent. facility/severity are indexes into the names, -1 = none. */
struct compat_case {
    const char *line;
    enum syslog_via via;
    int facility, severity;
    const char *hostname, *appname, *procid, *msgid, *msg;
};

static const struct compat_case compat_cases[] = {
    {"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF""\xBB""\xBF""'su root' failed", SYSLOG_VIA_RFC5424, 4, 2, "mymachine.example.com", "su", NULL, "ID47", "\xEF""\xBB""\xBF""'su root' failed"},
    {"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] \xEF""\xBB""\xBF""An application event", SYSLOG_VIA_RFC5424, 20, 5, "mymachine.example.com", "evntslog", NULL, "ID47", "\xEF""\xBB""\xBF""An application event"},
    {"<13>1 - h a p m - ", SYSLOG_VIA_RFC5424, 1, 5, "h", "a", "p", "m", ""},
    {"<13>1 - h a p m -   x ", SYSLOG_VIA_RFC5424, 1, 5, "h", "a", "p", "m", "  x "},
    {"<13>1 - h a p m - \xEF""\xBB""\xBF""", SYSLOG_VIA_RFC5424, 1, 5, "h", "a", "p", "m", "\xEF""\xBB""\xBF"""},
    {"<13>1 2024-01-02T03:04:05 h a p m - no offset", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 2024-01-02t03:04:05z h a p m - lower", SYSLOG_VIA_LOOSE_5424, 1, 5, "h", "a", "p", "m", "lower"},
    {"<13>1 2024-01-02T03:04:05+0100 h a p m - colonless", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 2024-01-02T03:04:05.123456789Z h a p m - nanos", SYSLOG_VIA_LOOSE_5424, 1, 5, "h", "a", "p", "m", "nanos"},
    {"<13>1 2016-12-31T23:59:60Z h a p m - leap", SYSLOG_VIA_LOOSE_5424, 1, 5, "h", "a", "p", "m", "leap"},
    {"<13>1 2024-13-02T03:04:05Z h a p m - x", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 - h aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa p m - long app", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 - h\xC3""\xA9"" app - - - x", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>2 - h a p m - x", SYSLOG_VIA_RFC5424, 1, 5, "h", "a", "p", "m", "x"},
    {"<13>1  - h a p m - x", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 - h a p m", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 - h a p m x", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 - h a p m -x", SYSLOG_VIA_RFC5424, 1, 5, "h", "a", "p", "m", "x"},
    {"<13>1 - h a p m [a]x", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 - h a p m [a", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 - h a p m [ a]", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 - h\x09""a p m - x", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>1 2024-01-02T03:04:05Z h a p m [a b=\"c\"] [d e=\"f\"] x", SYSLOG_VIA_RFC5424, 1, 5, "h", "a", "p", "m", "[d e=\"f\"] x"},
    {"<13>1 2024-01-02T03:04:05Z h a p m [a  b=\"c\"] x", SYSLOG_VIA_LOOSE_5424, 1, 5, "h", "a", "p", "m", "x"},
    {"<191>hello", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<192>1 - - - - - -", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<0013>1 2024-01-02T03:04:05Z h a - - - x", SYSLOG_VIA_LOOSE_5424, 1, 5, "h", "a", NULL, NULL, "x"},
    {"<200>Oct 11 22:14:15 h a: pri 200", SYSLOG_VIA_LOOSE_3164, -1, 0, "h", "a", NULL, NULL, "pri 200"},
    {"<13>Oct 11 22:14:15 su: hello", SYSLOG_VIA_LOOSE_3164, 1, 5, "su", NULL, NULL, NULL, "hello"},
    {"<13>Oct 11 22:14:15 host just some text", SYSLOG_VIA_LOOSE_3164, 1, 5, "host", "just", NULL, NULL, "some text"},
    {"<13>Oct 11 22:14:15 h app[]: x", SYSLOG_VIA_LOOSE_3164, 1, 5, "h", "app[]", NULL, NULL, "x"},
    {"<13>Oct 11 22:14:15 h app[1] x", SYSLOG_VIA_LOOSE_3164, 1, 5, "h", "app", "1", NULL, "x"},
    {"<13>Oct 11 22:14:15", SYSLOG_VIA_LOOSE_3164, 1, 5, NULL, NULL, NULL, NULL, ""},
    {"<13>Oct 11 22:14:15 hello", SYSLOG_VIA_LOOSE_3164, 1, 5, "hello", NULL, NULL, NULL, ""},
    {"<13>Oct 11 22:14:15 hello world", SYSLOG_VIA_LOOSE_3164, 1, 5, "hello", "world", NULL, NULL, ""},
    {"<14>2024-01-02T03:04:05Z app: x", SYSLOG_VIA_LOOSE_3164, 1, 6, "app", NULL, NULL, NULL, "x"},
    {"<13>this is not a header", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>app[9]: x", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>Oct 11 22:14:15x host app: y", SYSLOG_VIA_LOOSE_3164, 1, 5, NULL, NULL, NULL, NULL, "x host app: y"},
    {"<13>Oct 32 22:14:15 h a: y", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>Nov 24 01:03:27 myapp: hello local", SYSLOG_VIA_LOOSE_3164, 1, 5, "myapp", NULL, NULL, NULL, "hello local"},
    {"<13>Nov 24 01:03:27 myapp[3763]: hello localpid", SYSLOG_VIA_LOOSE_3164, 1, 5, NULL, "myapp", "3763", NULL, "hello localpid"},
    {"<189>123: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<166>Jan 02 22:04:05.999: %PIX-7-710005: UDP request", SYSLOG_VIA_LOOSE_3164, 20, 6, NULL, NULL, NULL, NULL, ".999: %PIX-7-710005: UDP request"},
    {"<13>Mar 7 2008 19:06:53: %ASA-6-305011: Built", SYSLOG_VIA_LOOSE_3164, 1, 5, "%ASA-6-305011", NULL, NULL, NULL, "Built"},
    {"<13>Mar 7 19:06:53 2008 host app: year after", SYSLOG_VIA_LOOSE_3164, 1, 5, "2008", "host", NULL, NULL, "app: year after"},
    {"<190>May 13 21:45:18 coconut sshd(pam_unix)[12750]: session opened", SYSLOG_VIA_LOOSE_3164, 23, 6, "coconut", "sshd(pam_unix)", "12750", NULL, "session opened"},
    {"<190>May 13 21:45:18 coconut tag message", SYSLOG_VIA_LOOSE_3164, 23, 6, "coconut", "tag", NULL, NULL, "message"},
    {"<190>May 13 21:45:18 coconut app: - dash first", SYSLOG_VIA_LOOSE_3164, 23, 6, "coconut", "app", NULL, NULL, "dash first"},
    {"<190>May 13 21:45:18 coconut - hi", SYSLOG_VIA_LOOSE_3164, 23, 6, NULL, NULL, NULL, NULL, "hi"},
    {"<190>May 13 21:45:18 [123]: empty app", SYSLOG_VIA_LOOSE_3164, 23, 6, NULL, "", "123", NULL, "empty app"},
    {"  <190>May 13 21:45:18 h a: x  ", SYSLOG_VIA_LOOSE_3164, 23, 6, "h", "a", NULL, NULL, "x"},
    {"May 13 21:45:18 h a: no pri", SYSLOG_VIA_LOOSE_3164, -1, -1, "h", "a", NULL, NULL, "no pri"},
    {"<13>May 13 21:45:18 h a: [x y=\"1\"] sd in 3164", SYSLOG_VIA_LOOSE_3164, 1, 5, "h", "a", NULL, NULL, "sd in 3164"},
    {"1 2024-01-02T03:04:05Z h a p m - no pri", SYSLOG_VIA_LOOSE_5424, -1, -1, "h", "a", "p", "m", "no pri"},
    {"<13>1\x09""2024-01-02T03:04:05Z\x09""h\x09""a\x09""p\x09""m\x09""-\x09""tabs", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"hello world", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"5 apples and pears", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
    {"<13>Foo 11 22:14:15 h a: y", SYSLOG_VIA_NONE, -1, -1, NULL, NULL, NULL, NULL, NULL},
};

static void assert_field(struct syslog_slice got, const char *want) {
    if (want == NULL) {
        ASSERT_ABSENT(got);
        return;
    }
    ASSERT(got.p != NULL);
    ASSERT_EQ_MEM(got.p, got.n, want);
}

TEST(fields_as_the_original_reads_them) {
    for (size_t i = 0; i < sizeof compat_cases / sizeof compat_cases[0]; i++) {
        const struct compat_case *c = &compat_cases[i];
        struct syslog_msg m;
        int r = parse(c->line, &m);
        ASSERT_EQ_INT(m.via, c->via);
        if (c->via == SYSLOG_VIA_NONE) {
            assert_unparsed(c->line, strlen(c->line), strlen(c->line));
            continue;
        }
        ASSERT_EQ_INT(r, 0);
        ASSERT_EQ_INT(m.format, c->via == SYSLOG_VIA_LOOSE_3164 ? SYSLOG_RFC3164 : SYSLOG_RFC5424);
        ASSERT(syslog_facility_name(m.facility) == syslog_facility_name(c->facility));
        ASSERT(syslog_severity_name(m.severity) == syslog_severity_name(c->severity));
        assert_field(m.hostname, c->hostname);
        assert_field(m.appname, c->appname);
        assert_field(m.procid, c->procid);
        assert_field(m.msgid, c->msgid);
        assert_field(m.msg, c->msg);
        check_inside(c->line, strlen(c->line), &m);
    }
}

TEST(facility_names_as_the_original) {
    static const char *const fac[24] = {
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "ntp", "audit", "alert", "clockd", "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7"};
    static const char *const sev[8] = {"emerg", "alert", "crit", "err",
                                       "warning", "notice", "info", "debug"};
    for (int i = 0; i < 24; i++) {
        ASSERT_EQ_STR(syslog_facility_name(i), fac[i]);
        ASSERT_EQ_INT(syslog_facility_from_name(fac[i], strlen(fac[i])), i);
    }
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ_STR(syslog_severity_name(i), sev[i]);
        ASSERT_EQ_INT(syslog_severity_from_name(sev[i], strlen(sev[i])), i);
    }
    ASSERT(syslog_facility_name(24) == NULL && syslog_facility_name(-1) == NULL);
    /* Our former names stay accepted as aliases in lookups. */
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("security")), 13);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("console")), 14);
    ASSERT_EQ_INT(syslog_facility_from_name(LIT("solaris-cron")), 15);
    /* A loose PRI beyond 191 keeps its severity but has no facility name. */
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<200>Oct 11 22:14:15 h a: x", &m), 0);
    ASSERT_EQ_INT(m.severity, 0);
    ASSERT(syslog_facility_name(m.facility) == NULL);
}

TEST(timestamps_slices) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<13>Mar 7 2008 19:06:53: %ASA-6-1: x", &m), 0);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "Mar 7 2008 19:06:53");
    ASSERT_EQ_INT(parse("<13>1 2003-10-11T22:14:15.003Z h a - - - x", &m), 0);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "2003-10-11T22:14:15.003Z");
    ASSERT_EQ_INT(parse("<13>1 - h a - - - x", &m), 0);
    ASSERT_ABSENT(m.timestamp);
    /* Dates and times the original's parsers refuse. */
    assert_unparsed(LIT("<13>Feb 30 22:14:15 h a: x"), 26);
    assert_unparsed(LIT("<13>Oct 11 24:14:15 h a: x"), 26);
    /* February 29 without a year: accepted in any year (documented difference). */
    ASSERT_EQ_INT(parse("<13>Feb 29 22:14:15 h a: x", &m), 0);
}

TEST(sd_strict_and_loose_grammars) {
    struct syslog_msg m;
    struct syslog_sd_iter it;
    struct syslog_sd_param prm;
    char d[256];
    /* Strict: repeated ids and empty ids are fine; any backslash escape is dropped. */
    ASSERT_EQ_INT(parse("<13>1 - h a p m [a x=\"1\\n\"][] y", &m), 0);
    ASSERT_EQ_INT(m.sd_syntax, SYSLOG_SD_STRICT);
    ASSERT_EQ_INT(sd_dump(m.sd, d, sizeof d), 0);
    ASSERT_EQ_STR(d, "a.x=1n;;");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "y");
    /* Loose (the strict one refused two SPs): a malformed element is skipped. */
    ASSERT_EQ_INT(parse("<13>1 2024-01-02T03:04:05Z h a p m [a  x=\"1\"][bad x=1][c y=\"2\"] z", &m), 0);
    ASSERT_EQ_INT(m.via, SYSLOG_VIA_LOOSE_5424);
    ASSERT_EQ_INT(m.sd_syntax, SYSLOG_SD_LOOSE);
    syslog_sd_iter_init_msg(&it, &m);
    ASSERT_EQ_INT(syslog_sd_next(&it, &prm), 1);
    ASSERT_EQ_MEM(prm.id.p, prm.id.n, "a");
    ASSERT_EQ_MEM(prm.name.p, prm.name.n, "x");
    ASSERT_EQ_INT(syslog_sd_next(&it, &prm), 1);
    ASSERT_EQ_MEM(prm.id.p, prm.id.n, "c");
    ASSERT_EQ_MEM(prm.value_raw.p, prm.value_raw.n, "2");
    ASSERT_EQ_INT(syslog_sd_next(&it, &prm), 0);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "z");
    /* Strict iteration of malformed SD fails, stickily. */
    static const char *bad[] = {"[", "[a", "[a ", "[a b]", "[a b=\"c\"", "[a  b=\"c\"]", "x[a]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct syslog_slice sd = {bad[i], strlen(bad[i])};
        int r;
        syslog_sd_iter_init(&it, sd);
        while ((r = syslog_sd_next(&it, &prm)) == 1)
            ;
        ASSERT_EQ_INT(r, -EINVAL);
        ASSERT_EQ_INT(syslog_sd_next(&it, &prm), -EINVAL);
    }
}

TEST(unicode_whitespace_trimmed_by_the_loose_parser) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("\xE3\x80\x80<13>Oct 11 22:14:15 h a: x\xC2\xA0 \t", &m), 0);
    ASSERT_EQ_INT(m.via, SYSLOG_VIA_LOOSE_3164);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "x");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "h");
}

TEST_MAIN("syslog",
          TEST_ENTRY(fields_as_the_original_reads_them),
          TEST_ENTRY(facility_names_as_the_original),
          TEST_ENTRY(timestamps_slices),
          TEST_ENTRY(sd_strict_and_loose_grammars),
          TEST_ENTRY(unicode_whitespace_trimmed_by_the_loose_parser),
          TEST_ENTRY(rfc5424_example2_no_bom),
          TEST_ENTRY(rfc5424_example4_sd_only),
          TEST_ENTRY(rfc5424_nilvalue_everywhere),
          TEST_ENTRY(rfc5424_trailing_crlf_not_in_msg),
          TEST_ENTRY(rfc5424_sd_space_between_elements_ends_sd),
          TEST_ENTRY(sd_unescape_truncates_and_measures),
          TEST_ENTRY(truncated_prefixes_never_overread),
          TEST_ENTRY(nul_bytes_and_invalid_utf8_are_opaque),
          TEST_ENTRY(rfc3164_rfc_example_with_hostname),
          TEST_ENTRY(rfc3164_tag_with_pid_and_hostname),
          TEST_ENTRY(rfc3164_without_pri),
          TEST_ENTRY(logger_util_linux_rfc5424),
          TEST_ENTRY(names_aliases_case_and_bounds))
