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

TEST(rfc5424_example1_no_sd_bom) {
    static const char l[] = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                            "\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8";
    struct syslog_msg m;
    ASSERT_EQ_INT(syslog_parse(LIT(l), &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_INT(m.pri, 34);
    ASSERT_EQ_INT(m.facility, 4);
    ASSERT_EQ_INT(m.severity, 2);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "2003-10-11T22:14:15.003Z");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "mymachine.example.com");
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "su");
    ASSERT_ABSENT(m.procid);
    ASSERT_EQ_MEM(m.msgid.p, m.msgid.n, "ID47");
    ASSERT_ABSENT(m.sd);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "'su root' failed for lonvick on /dev/pts/8");
}

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

TEST(rfc5424_example3_sd_and_msg) {
    static const char l[] = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                            "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
                            "eventID=\"1011\"] \xEF\xBB\xBF"
                            "An application event log entry...";
    struct syslog_msg m;
    char d[512];
    ASSERT_EQ_INT(syslog_parse(LIT(l), &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "evntslog");
    ASSERT_ABSENT(m.procid);
    ASSERT_EQ_MEM(m.msgid.p, m.msgid.n, "ID47");
    ASSERT_EQ_MEM(m.sd.p, m.sd.n,
                  "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "An application event log entry...");
    ASSERT_EQ_INT(sd_dump(m.sd, d, sizeof d), 0);
    ASSERT_EQ_STR(d, "exampleSDID@32473.iut=3;exampleSDID@32473.eventSource=Application;"
                     "exampleSDID@32473.eventID=1011;");
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

TEST(rfc5424_empty_msg_and_bom) {
    struct syslog_msg m;
    /* SP then nothing: empty MSG. */
    ASSERT_EQ_INT(parse("<13>1 - h a p m - ", &m), 0);
    ASSERT_EQ_INT(m.msg.n, 0);
    ASSERT(m.msg.p != NULL);
    /* BOM alone is an empty message. */
    ASSERT_EQ_INT(syslog_parse(LIT("<13>1 - h a p m - \xEF\xBB\xBF"), &m), 0);
    ASSERT_EQ_INT(m.msg.n, 0);
    /* Only a leading BOM is stripped, and only a complete one. */
    ASSERT_EQ_INT(syslog_parse(LIT("<13>1 - h a p m - \xEF\xBBx"), &m), 0);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "\xEF\xBBx");
    ASSERT_EQ_INT(syslog_parse(LIT("<13>1 - h a p m - a\xEF\xBB\xBF"), &m), 0);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "a\xEF\xBB\xBF");
    /* Only the first SP separates; further ones belong to MSG. */
    ASSERT_EQ_INT(parse("<13>1 - h a p m -   x ", &m), 0);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "  x ");
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

TEST(rfc5424_timestamps) {
    struct syslog_msg m;
    static const char *ok[] = {
        "1985-04-12T23:20:50.52Z", "1985-04-12T19:20:50.52-04:00", "2003-10-11T22:14:15.003Z",
        "2003-08-24T05:14:15.000003-07:00",
        /* leniencies documented in syslog.h */
        "2024-01-02T03:04:05", "2024-01-02t03:04:05z", "2024-01-02T03:04:05+0100",
        "2024-01-02T03:04:05.123456789Z", "2016-12-31T23:59:60Z"};
    static const char *bad[] = {"2024-13-02T03:04:05Z", "2024-01-02 03:04:05Z",
                                "2024-01-02T24:04:05Z", "2024-01-02T03:04:05.Z",
                                "2024-01-02T03:04:05.1234567890Z", "2024-01-02T03:04:05+01",
                                "24-01-02T03:04:05Z", "Oct 11 22:14:15"};
    char l[128];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(l, sizeof l, "<13>1 %s h a p m - x", ok[i]);
        ASSERT_EQ_INT(parse(l, &m), 0);
        ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
        ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, ok[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(l, sizeof l, "<13>1 %s h a p m - x", bad[i]);
        ASSERT_EQ_INT(parse(l, &m), 0);
        ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    }
}

TEST(rfc5424_long_fields_accepted) {
    /* RFC limits (APP-NAME 48, MSGID 32...) are deliberately not enforced. */
    char l[1024];
    char app[61];
    struct syslog_msg m;
    memset(app, 'a', 60);
    app[60] = 0;
    snprintf(l, sizeof l, "<13>1 - h %s p %s - x", app, app);
    ASSERT_EQ_INT(parse(l, &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_INT(m.appname.n, 60);
    ASSERT_EQ_INT(m.msgid.n, 60);
    /* UTF-8 in a header field is accepted as opaque bytes. */
    ASSERT_EQ_INT(parse("<13>1 - h\xC3\xA9 app - - - x", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "h\xC3\xA9");
}

TEST(rfc5424_structural_fallback_to_3164) {
    struct syslog_msg m;
    static const char *lines[] = {
        "<13>2 - h a p m - x",        /* version 2 */
        "<13>1  - h a p m - x",       /* two SPs */
        "<13>1 - h a p m",            /* missing SD */
        "<13>1 - h a p m x",          /* SD neither - nor [ */
        "<13>1 - h a p m -x",         /* no SP after SD */
        "<13>1 - h a p m [a]x",       /* no SP after SD */
        "<13>1 - h a p m [a",         /* unterminated element */
        "<13>1 - h a p m [a b=\"c]",  /* unterminated value */
        "<13>1 - h a p m [ a]",       /* RFC 6.3.5 example 4 */
        "<13>1 - h a p m [a b=c]",    /* unquoted value */
        "<13>1 - h a p m [a =\"c\"]", /* empty name */
        "<13>1 - h\ta p m - x",       /* control byte in a field */
        "<13>1",
        "<13>1 ",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        ASSERT_EQ_INT(parse(lines[i], &m), 0);
        ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
        ASSERT_EQ_INT(m.pri, 13);
        ASSERT_ABSENT(m.sd);
        ASSERT_EQ_MEM(m.msg.p, m.msg.n, lines[i] + 4);
    }
}

TEST(rfc5424_sd_space_between_elements_ends_sd) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<13>1 - h a p m [a x=\"1\"] [b y=\"2\"] rest", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_MEM(m.sd.p, m.sd.n, "[a x=\"1\"]");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "[b y=\"2\"] rest");
}

/* ---- STRUCTURED-DATA ---- */

TEST(sd_escapes_and_brackets_in_values) {
    struct syslog_msg m;
    char d[512];
    ASSERT_EQ_INT(parse("<13>1 - h a p m [id@1 q=\"say \\\"hi\\\"\" b=\"C:\\\\dir\\\\\" "
                        "r=\"x\\]y\" raw=\"a]b[c\" keep=\"\\n\\x\" e=\"\"] msg",
                        &m),
                  0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "msg");
    ASSERT_EQ_INT(sd_dump(m.sd, d, sizeof d), 0);
    ASSERT_EQ_STR(d, "id@1.q=say \"hi\";id@1.b=C:\\dir\\;id@1.r=x]y;id@1.raw=a]b[c;"
                     "id@1.keep=\\n\\x;id@1.e=;");
}

TEST(sd_several_elements_and_empty_element) {
    struct syslog_msg m;
    struct syslog_sd_iter it;
    struct syslog_sd_param p;
    ASSERT_EQ_INT(parse("<13>1 - h a p m [a][b x=\"1\" y=\"\xC3\xA9\"][c][d  z=\"3\" ] m", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC5424);
    syslog_sd_iter_init(&it, m.sd);
    ASSERT_EQ_INT(syslog_sd_next(&it, &p), 1);
    ASSERT_EQ_MEM(p.id.p, p.id.n, "a");
    ASSERT_ABSENT(p.name);
    ASSERT_ABSENT(p.value_raw);
    ASSERT_EQ_INT(syslog_sd_next(&it, &p), 1);
    ASSERT_EQ_MEM(p.id.p, p.id.n, "b");
    ASSERT_EQ_MEM(p.name.p, p.name.n, "x");
    ASSERT_EQ_MEM(p.value_raw.p, p.value_raw.n, "1");
    ASSERT_EQ_INT(syslog_sd_next(&it, &p), 1);
    ASSERT_EQ_MEM(p.id.p, p.id.n, "b");
    ASSERT_EQ_MEM(p.name.p, p.name.n, "y");
    ASSERT_EQ_MEM(p.value_raw.p, p.value_raw.n, "\xC3\xA9");
    ASSERT_EQ_INT(syslog_sd_next(&it, &p), 1);
    ASSERT_EQ_MEM(p.id.p, p.id.n, "c");
    ASSERT(p.name.p == NULL);
    ASSERT_EQ_INT(syslog_sd_next(&it, &p), 1);
    ASSERT_EQ_MEM(p.id.p, p.id.n, "d");
    ASSERT_EQ_MEM(p.name.p, p.name.n, "z");
    ASSERT_EQ_INT(syslog_sd_next(&it, &p), 0);
    ASSERT_EQ_INT(syslog_sd_next(&it, &p), 0);
}

TEST(sd_iter_absent_and_malformed) {
    struct syslog_sd_iter it;
    struct syslog_sd_param p;
    struct syslog_slice none = {NULL, 0};
    static const char *bad[] = {"-", "[", "[]", "[a", "[a ", "[a b]", "[a b=\"c\"", "[a] [b]",
                                "[a b=\"c\"d=\"e\"]", "x[a]", "[a=\"b\"]"};
    syslog_sd_iter_init(&it, none);
    ASSERT_EQ_INT(syslog_sd_next(&it, &p), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct syslog_slice sd = {bad[i], strlen(bad[i])};
        int r;
        syslog_sd_iter_init(&it, sd);
        while ((r = syslog_sd_next(&it, &p)) == 1)
            ;
        ASSERT_EQ_INT(r, -EINVAL);
        /* The error is sticky. */
        ASSERT_EQ_INT(syslog_sd_next(&it, &p), -EINVAL);
    }
}

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

TEST(pri_edges) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<0>1 - - - - - -", &m), 0);
    ASSERT_EQ_INT(m.pri, 0);
    ASSERT_EQ_INT(m.facility, 0);
    ASSERT_EQ_INT(m.severity, 0);
    ASSERT_EQ_INT(parse("<191>1 - - - - - -", &m), 0);
    ASSERT_EQ_INT(m.pri, 191);
    ASSERT_EQ_INT(m.facility, 23);
    ASSERT_EQ_INT(m.severity, 7);
    ASSERT_EQ_INT(parse("<191>hello", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello");
    /* Leading zeros accepted (documented leniency). */
    ASSERT_EQ_INT(parse("<013>1 - - - - - -", &m), 0);
    ASSERT_EQ_INT(m.pri, 13);
    ASSERT_EQ_INT(parse("<00>x", &m), 0);
    ASSERT_EQ_INT(m.pri, 0);
    /* Not a PRI: the line can then only be UNPARSED. */
    static const char *bad[] = {"<192>1 - - - - - -", "<>1 - - - - - -", "<13 1 - - - - - -",
                                "<13", "<", "<1234>x", "<0013>x", "<-1>x", "<1a>x", " <13>x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_unparsed(bad[i], strlen(bad[i]), strlen(bad[i]));
    /* A PRI followed by nothing is a (very empty) 3164 line. */
    ASSERT_EQ_INT(parse("<13>", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_EQ_INT(m.msg.n, 0);
}

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
            syslog_sd_iter_init(&it, m.sd);
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
    /* NUL inside a header field is not 5424. */
    static const char l3[] = "<13>1 - h\0 a p m - z";
    ASSERT_EQ_INT(syslog_parse(LIT(l3), &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
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

TEST(rfc3164_tag_not_mistaken_for_hostname) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15 su: hello", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_ABSENT(m.hostname);
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "su");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello");
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15 sshd[4242]: Accepted key", &m), 0);
    ASSERT_ABSENT(m.hostname);
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "sshd");
    ASSERT_EQ_MEM(m.procid.p, m.procid.n, "4242");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "Accepted key");
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

TEST(rfc3164_no_tag) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15 host just some text", &m), 0);
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "host");
    ASSERT_ABSENT(m.appname);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "just some text");
    /* Not a tag: too long, empty pid, pid without colon. */
    char l[128];
    snprintf(l, sizeof l, "<13>Oct 11 22:14:15 h %s: x",
             "a123456789b123456789c123456789d123456789e1234567Z");
    ASSERT_EQ_INT(parse(l, &m), 0);
    ASSERT_ABSENT(m.appname);
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15 h app[]: x", &m), 0);
    ASSERT_ABSENT(m.appname);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "app[]: x");
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15 h app[1] x", &m), 0);
    ASSERT_ABSENT(m.appname);
    ASSERT_ABSENT(m.procid);
    /* Timestamp at the end of the line. */
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15", &m), 0);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "Oct 11 22:14:15");
    ASSERT_EQ_INT(m.msg.n, 0);
    /* A lone token after the timestamp is msg, not a hostname. */
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15 hello", &m), 0);
    ASSERT_ABSENT(m.hostname);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello");
}

TEST(rfc3164_iso_timestamp) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<14>2024-01-02T03:04:05.123+01:00 fw01 kernel: DROP IN=eth0", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "2024-01-02T03:04:05.123+01:00");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "fw01");
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "kernel");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "DROP IN=eth0");
    ASSERT_EQ_INT(parse("<14>2024-01-02T03:04:05Z app: x", &m), 0);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "2024-01-02T03:04:05Z");
    ASSERT_ABSENT(m.hostname);
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "app");
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

TEST(rfc3164_pri_then_anything) {
    struct syslog_msg m;
    ASSERT_EQ_INT(parse("<13>this is not a header", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_ABSENT(m.timestamp);
    ASSERT_ABSENT(m.hostname);
    ASSERT_ABSENT(m.appname);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "this is not a header");
    /* A tag is still recognised without a timestamp; a hostname is not. */
    ASSERT_EQ_INT(parse("<13>app[9]: x", &m), 0);
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "app");
    ASSERT_EQ_MEM(m.procid.p, m.procid.n, "9");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "x");
    /* Almost-timestamps are msg. */
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15x host app: y", &m), 0);
    ASSERT_ABSENT(m.timestamp);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "Oct 11 22:14:15x host app: y");
    ASSERT_EQ_INT(parse("<13>Foo 11 22:14:15 h a: y", &m), 0);
    ASSERT_ABSENT(m.timestamp);
    ASSERT_EQ_INT(parse("<13>Oct 32 22:14:15 h a: y", &m), 0);
    ASSERT_ABSENT(m.timestamp);
}

/* Real output of util-linux 2.38.1 logger, captured with
 *   logger --stderr --no-act -n 127.0.0.1 -d -P 5514 --rfc5424|--rfc3164 ...
 * and, for the local-socket formats, from a unix datagram socket passed as logger -u. */
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

TEST(logger_util_linux_rfc3164) {
    struct syslog_msg m;
    /* Network format (--rfc3164 -n ...): with hostname. */
    ASSERT_EQ_INT(parse("<13>Nov 24 01:03:22 vm myapp: hello", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_EQ_MEM(m.timestamp.p, m.timestamp.n, "Nov 24 01:03:22");
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "vm");
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "myapp");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello");
    ASSERT_EQ_INT(parse("<13>Nov 24 01:03:22 vm myapp[3624]: hello pid", &m), 0);
    ASSERT_EQ_MEM(m.procid.p, m.procid.n, "3624");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello pid");
    /* Local socket format (logger -u /dev/log): no hostname. */
    ASSERT_EQ_INT(parse("<13>Nov 24 01:03:27 myapp: hello local", &m), 0);
    ASSERT_ABSENT(m.hostname);
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "myapp");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello local");
    ASSERT_EQ_INT(parse("<13>Nov 24 01:03:27 myapp[3763]: hello localpid", &m), 0);
    ASSERT_ABSENT(m.hostname);
    ASSERT_EQ_MEM(m.procid.p, m.procid.n, "3763");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "hello localpid");
}

/* Pins behaviour the README lists as known ambiguities, so a change to it is deliberate. */
TEST(known_ambiguities_pinned) {
    struct syslog_msg m;
    /* A bare token after the timestamp is taken as the hostname (as rsyslog does). */
    ASSERT_EQ_INT(parse("<13>Oct 11 22:14:15 hello world", &m), 0);
    ASSERT_EQ_MEM(m.hostname.p, m.hostname.n, "hello");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "world");
    /* Cisco IOS sequence numbers look like a tag; the device timestamp stays in msg. */
    ASSERT_EQ_INT(parse("<189>123: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_EQ_MEM(m.appname.p, m.appname.n, "123");
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "*Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured");
    /* An unescaped '"' inside an SD value cannot be told from the end of the value: the line is
     * not 5424 and is forwarded as 3164 with everything after the PRI as msg. */
    ASSERT_EQ_INT(parse("<13>1 - h a p m [a b=\"say \"hi\"\"] x", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
    ASSERT_EQ_MEM(m.msg.p, m.msg.n, "1 - h a p m [a b=\"say \"hi\"\"] x");
    /* A backslash right before the closing quote escapes it; the value then runs on. */
    ASSERT_EQ_INT(parse("<13>1 - h a p m [a b=\"C:\\\"] x", &m), 0);
    ASSERT_EQ_INT(m.format, SYSLOG_RFC3164);
}

/* ---- unparseable ---- */

TEST(unparsed_lines_forwarded_whole) {
    static const char *lines[] = {"hello world", "", "   ", "1 2024-01-02T03:04:05Z h a p m - x",
                                  "{\"json\": true}", "Oct 11 22:14", "Oct 11 22:14:15x"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        assert_unparsed(lines[i], strlen(lines[i]), strlen(lines[i]));
}

/* ---- names ---- */

TEST(facility_and_severity_names_round_trip) {
    for (int f = 0; f < 24; f++) {
        const char *s = syslog_facility_name(f);
        ASSERT(s != NULL);
        ASSERT_EQ_INT(syslog_facility_from_name(s, strlen(s)), f);
    }
    for (int s = 0; s < 8; s++) {
        const char *n = syslog_severity_name(s);
        ASSERT(n != NULL);
        ASSERT_EQ_INT(syslog_severity_from_name(n, strlen(n)), s);
    }
    ASSERT(syslog_facility_name(-1) == NULL);
    ASSERT(syslog_facility_name(24) == NULL);
    ASSERT(syslog_severity_name(-1) == NULL);
    ASSERT(syslog_severity_name(8) == NULL);
    ASSERT_EQ_STR(syslog_facility_name(0), "kern");
    ASSERT_EQ_STR(syslog_facility_name(10), "authpriv");
    ASSERT_EQ_STR(syslog_facility_name(15), "solaris-cron");
    ASSERT_EQ_STR(syslog_facility_name(23), "local7");
    ASSERT_EQ_STR(syslog_severity_name(4), "warning");
}

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

TEST_MAIN("syslog", TEST_ENTRY(rfc5424_example1_no_sd_bom), TEST_ENTRY(rfc5424_example2_no_bom),
          TEST_ENTRY(rfc5424_example3_sd_and_msg), TEST_ENTRY(rfc5424_example4_sd_only),
          TEST_ENTRY(rfc5424_nilvalue_everywhere), TEST_ENTRY(rfc5424_empty_msg_and_bom),
          TEST_ENTRY(rfc5424_trailing_crlf_not_in_msg), TEST_ENTRY(rfc5424_timestamps),
          TEST_ENTRY(rfc5424_long_fields_accepted),
          TEST_ENTRY(rfc5424_structural_fallback_to_3164),
          TEST_ENTRY(rfc5424_sd_space_between_elements_ends_sd),
          TEST_ENTRY(sd_escapes_and_brackets_in_values),
          TEST_ENTRY(sd_several_elements_and_empty_element),
          TEST_ENTRY(sd_iter_absent_and_malformed), TEST_ENTRY(sd_unescape_truncates_and_measures),
          TEST_ENTRY(pri_edges), TEST_ENTRY(truncated_prefixes_never_overread),
          TEST_ENTRY(nul_bytes_and_invalid_utf8_are_opaque),
          TEST_ENTRY(rfc3164_rfc_example_with_hostname),
          TEST_ENTRY(rfc3164_tag_not_mistaken_for_hostname),
          TEST_ENTRY(rfc3164_tag_with_pid_and_hostname), TEST_ENTRY(rfc3164_no_tag),
          TEST_ENTRY(rfc3164_iso_timestamp), TEST_ENTRY(rfc3164_without_pri),
          TEST_ENTRY(rfc3164_pri_then_anything), TEST_ENTRY(logger_util_linux_rfc5424),
          TEST_ENTRY(logger_util_linux_rfc3164), TEST_ENTRY(known_ambiguities_pinned),
          TEST_ENTRY(unparsed_lines_forwarded_whole),
          TEST_ENTRY(facility_and_severity_names_round_trip),
          TEST_ENTRY(names_aliases_case_and_bounds))
