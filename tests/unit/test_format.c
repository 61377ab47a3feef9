/* test_format.c - unit tests for format: json: every output parses (jansson) and holds the
 * expected fields; strings escaped, bytes that are not UTF-8 replaced and counted; message
 * timestamps in ms. */
#include <jansson.h>
#include <stdlib.h>

#include "format.h"
#include "jsonio.h"
#include "test.h"

static struct buf out;
static struct format_scratch fs;
static size_t bad;

/* Renders line (parsed) with the given extras and returns it parsed back by jansson (which
 * refuses invalid UTF-8 and malformed JSON), or fails the test. */
static json_t *render(const char *line, size_t n, const struct format_capture *caps,
                      size_t ncaps, const char *payload, int payload_is_json) {
    struct syslog_msg m;
    syslog_parse(line, n, &m);
    struct format_input in = {&m, caps, ncaps, payload, payload ? strlen(payload) : 0,
                              payload_is_json};
    out.len = 0;
    bad = format_json(&out, &in, &fs);
    json_error_t e;
    json_t *v = json_loadb(out.p, out.len, JSON_ALLOW_NUL, &e);
    if (!v) fprintf(stderr, "  not JSON (%s): %.*s\n", e.text, (int)out.len, out.p);
    ASSERT(v != NULL && json_is_object(v));
    ASSERT(jsonio_valid_utf8(out.p, out.len));
    ASSERT(!memchr(out.p, '\n', out.len)); /* compact: one line */
    return v;
}

static const char *str(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

#define S(x) x, sizeof x - 1

TEST(rfc5424_with_structured_data) {
    json_t *v = render(S("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 12 ID47 "
                         "[exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"x\\]\"]"
                         "[examplePriority@32473 class=\"high\"][a@1 x=\"1\"][a@1 x=\"2\" y=\"3\"] "
                         "hello bob"),
                       NULL, 0, NULL, 0);
    ASSERT_EQ_STR(str(v, "facility"), "local4");
    ASSERT_EQ_STR(str(v, "severity"), "notice");
    ASSERT_EQ_INT(json_integer_value(json_object_get(v, "facility_code")), 20);
    ASSERT_EQ_INT(json_integer_value(json_object_get(v, "severity_code")), 5);
    ASSERT_EQ_STR(str(v, "timestamp"), "2003-10-11T22:14:15.003Z");
    ASSERT_EQ_STR(str(v, "hostname"), "mymachine.example.com");
    ASSERT_EQ_STR(str(v, "appname"), "evntslog");
    ASSERT_EQ_STR(str(v, "procid"), "12");
    ASSERT_EQ_STR(str(v, "msgid"), "ID47");
    ASSERT_EQ_STR(str(v, "msg"), "hello bob");
    json_t *sd = json_object_get(v, "structured_data");
    ASSERT(json_is_object(sd) && json_object_size(sd) == 3);
    ASSERT_EQ_STR(str(json_object_get(sd, "exampleSDID@32473"), "eventSource"), "App\"x]");
    ASSERT_EQ_STR(str(json_object_get(sd, "exampleSDID@32473"), "iut"), "3");
    ASSERT_EQ_STR(str(json_object_get(sd, "examplePriority@32473"), "class"), "high");
    /* The same id twice: one object, a repeated param keeps its last value. */
    ASSERT_EQ_STR(str(json_object_get(sd, "a@1"), "x"), "2");
    ASSERT_EQ_STR(str(json_object_get(sd, "a@1"), "y"), "3");
    ASSERT(!json_object_get(v, "captures") && !json_object_get(v, "payload"));
    ASSERT_EQ_INT(bad, 0);
    /* Keys in a fixed order, ids and params sorted: the bytes are stable. */
    ASSERT(strstr(out.p, "{\"facility\":\"local4\",\"severity\":\"notice\",\"facility_code\":20,"
                         "\"severity_code\":5,\"timestamp\":") == out.p);
    ASSERT(strstr(out.p, "\"structured_data\":{\"a@1\":{\"x\":\"2\",\"y\":\"3\"},"
                         "\"examplePriority@32473\":{\"class\":\"high\"},"
                         "\"exampleSDID@32473\":{\"eventSource\":\"App\\\"x]\",\"iut\":\"3\"}}") != NULL);
    json_decref(v);
    /* An element without params is an empty object. */
    v = render(S("<14>1 2003-10-11T22:14:15Z h a p m [empty@1] x"), NULL, 0, NULL, 0);
    ASSERT_EQ_INT(json_object_size(json_object_get(json_object_get(v, "structured_data"), "empty@1")), 0);
    json_decref(v);
}

TEST(rfc3164_absent_fields_are_omitted) {
    json_t *v = render(S("<13>Oct 11 22:14:15 web1 sshd[42]: Accepted key"), NULL, 0, NULL, 0);
    ASSERT_EQ_STR(str(v, "facility"), "user");
    ASSERT_EQ_STR(str(v, "severity"), "notice");
    ASSERT_EQ_STR(str(v, "timestamp"), "Oct 11 22:14:15");
    ASSERT_EQ_STR(str(v, "hostname"), "web1");
    ASSERT_EQ_STR(str(v, "appname"), "sshd");
    ASSERT_EQ_STR(str(v, "procid"), "42");
    ASSERT_EQ_STR(str(v, "msg"), "Accepted key");
    ASSERT(!json_object_get(v, "msgid") && !json_object_get(v, "structured_data"));
    ASSERT_EQ_INT(json_object_size(v), 9);
    json_decref(v);
    /* No PRI: no facility or severity at all. */
    v = render(S("Oct 11 22:14:15 web1 app: x"), NULL, 0, NULL, 0);
    ASSERT(!json_object_get(v, "facility") && !json_object_get(v, "severity_code"));
    json_decref(v);
    /* A facility beyond the table (loose PRI up to 255): its number, no name. */
    v = render(S("<250>Oct 11 22:14:15 web1 app: x"), NULL, 0, NULL, 0);
    ASSERT(!json_object_get(v, "facility"));
    ASSERT_EQ_INT(json_integer_value(json_object_get(v, "facility_code")), 31);
    ASSERT_EQ_STR(str(v, "severity"), "crit");
    json_decref(v);
}

TEST(unparsed_line_is_msg_only) {
    json_t *v = render(S("just some text\r\n"), NULL, 0, NULL, 0);
    ASSERT_EQ_INT(json_object_size(v), 1);
    ASSERT_EQ_STR(str(v, "msg"), "just some text");
    json_decref(v);
    v = render("", 0, NULL, 0, NULL, 0);
    ASSERT_EQ_STR(str(v, "msg"), "");
    ASSERT_EQ_MEM(out.p, out.len, "{\"msg\":\"\"}");
    json_decref(v);
}

TEST(invalid_utf8_is_replaced_and_counted) {
    json_t *v = render(S("<13>Oct 11 22:14:15 w\xff app: bad \xc3\x28 and \xe2\x82 end \xf0\x9f\x98\x80"),
                       NULL, 0, NULL, 0);
    ASSERT_EQ_STR(str(v, "hostname"), "w\xEF\xBF\xBD");
    /* \xc3 alone (then '('), \xe2\x82 cut short: each invalid byte is one U+FFFD. */
    ASSERT_EQ_STR(str(v, "msg"), "bad \xEF\xBF\xBD( and \xEF\xBF\xBD\xEF\xBF\xBD end \xf0\x9f\x98\x80");
    ASSERT_EQ_INT(bad, 4);
    json_decref(v);
    struct buf b = {0};
    ASSERT_EQ_INT(format_json_string(&b, S("\xed\xa0\x80")), 3); /* a surrogate is not UTF-8 */
    ASSERT_EQ_INT(format_json_string(&b, S("h\xc3\xa9")), 0);
    buf_free(&b);
}

TEST(control_characters_are_escaped) {
    struct buf b = {0};
    ASSERT_EQ_INT(format_json_string(&b, S("a\"b\\c\n\r\t\b\f\x01\x1f\x7f/")), 0);
    ASSERT_EQ_MEM(b.p, b.len, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f/\"");
    b.len = 0;
    format_json_string(&b, "a\0b", 3);
    ASSERT_EQ_MEM(b.p, b.len, "\"a\\u0000b\"");
    buf_free(&b);
    json_t *v = render(S("<13>Oct 11 22:14:15 web1 app: tab\there \"quoted\" back\\slash \x1b[0m"),
                       NULL, 0, NULL, 0);
    ASSERT_EQ_STR(str(v, "msg"), "tab\there \"quoted\" back\\slash \x1b[0m");
    json_decref(v);
}

TEST(captures_and_payload) {
    const char *line = "<13>Oct 11 22:14:15 web1 app: user=bob id=7";
    struct format_capture caps[] = {{"user", 4, {line + 35, 3}}, {"id", 2, {line + 42, 1}}};
    json_t *v = render(line, strlen(line), caps, 2, "replaced \"text\"", 0);
    json_t *c = json_object_get(v, "captures");
    ASSERT(json_is_object(c) && json_object_size(c) == 2);
    ASSERT_EQ_STR(str(c, "user"), "bob");
    ASSERT_EQ_STR(str(c, "id"), "7");
    ASSERT_EQ_STR(str(v, "payload"), "replaced \"text\"");
    json_decref(v);
    /* A merge's output is embedded as the JSON value it is. */
    v = render(line, strlen(line), NULL, 0, "{\"a\":[1,true],\"b\":\"x\"}", 1);
    json_t *p = json_object_get(v, "payload");
    ASSERT(json_is_object(p) && json_is_array(json_object_get(p, "a")));
    ASSERT_EQ_STR(str(p, "b"), "x");
    json_decref(v);
}

/* Once the buffers have grown, rendering allocates nothing more. */
TEST(reuses_its_buffers) {
    const char *line = "<165>1 2003-10-11T22:14:15.003Z host app 1 ID [a@1 x=\"1\" y=\"2\"][b@2 z=\"\\]\"] m";
    struct syslog_msg m;
    syslog_parse(line, strlen(line), &m);
    struct format_input in = {.msg = &m};
    out.len = 0;
    format_json(&out, &in, &fs);
    const char *p = out.p, *sd = fs.sd.p, *val = fs.val.p;
    for (int i = 0; i < 100; i++) {
        out.len = 0;
        format_json(&out, &in, &fs);
    }
    ASSERT(out.p == p && fs.sd.p == sd && fs.val.p == val);
}

TEST(timestamps_in_ms) {
    /* 2026-06-15T12:00:00Z */
    const int64_t now = 1781524800000;
    struct {
        const char *ts;
        int64_t want;
    } cases[] = {
        {"2003-10-11T22:14:15.003Z", 1065910455003},
        {"2003-10-11T22:14:15Z", 1065910455000},
        {"2003-10-11t22:14:15.0031234z", 1065910455003},
        {"2003-10-11T22:14:15.5UTC", 1065910455500},
        {"2003-08-24T05:14:15.000003-07:00", 1061727255000},
        {"2003-08-24T05:14:15+05:30", 1061682255000},
        {"1985-04-12T23:20:50.52Z", 482196050520},
        {"Oct 11 22:14:15", 1791756855000},            /* this year (2026) */
        {"Feb  5 01:02:03", 1770253323000},
        {"Oct 11 2003 22:14:15", 1065910455000},     /* its own year */
        {"oct  1  2003  01:02:03", 1064970123000},
        {"Feb 29 10:00:00", 0},                        /* not in 2026 */
        {"Feb 29 2024 10:00:00", 1709200800000},
        {"Xyz 11 22:14:15", 0},
        {"2003-13-11T22:14:15Z", 0},
        {"2003-10-11 22:14:15Z", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = format_timestamp_ms((struct syslog_slice){cases[i].ts, strlen(cases[i].ts)}, now);
        if (got != cases[i].want)
            fprintf(stderr, "  %s: got %lld want %lld\n", cases[i].ts, (long long)got,
                    (long long)cases[i].want);
        ASSERT(got == cases[i].want);
    }
    ASSERT(format_timestamp_ms((struct syslog_slice){NULL, 0}, now) == 0);
    /* A December date read in January is last year's. 2027-01-01T00:00:05Z: */
    const int64_t jan = 1798761605000;
    ASSERT(format_timestamp_ms((struct syslog_slice){S("Dec 31 23:59:59")}, jan) == 1798761599000);
    ASSERT(format_timestamp_ms((struct syslog_slice){S("Jan  1 00:00:01")}, jan) == 1798761601000);
    /* The timestamp slice the parser gives is what is read. */
    struct syslog_msg m;
    syslog_parse(S("<13>Oct 11 22:14:15: web1 app: x"), &m);
    ASSERT(format_timestamp_ms(m.timestamp, now) == 1791756855000);
}

static void done(void) {
    buf_free(&out);
    format_scratch_free(&fs);
}

int main(int argc, char **argv) {
    static const struct test_case all[] = {
        TEST_ENTRY(rfc5424_with_structured_data), TEST_ENTRY(rfc3164_absent_fields_are_omitted),
        TEST_ENTRY(unparsed_line_is_msg_only), TEST_ENTRY(invalid_utf8_is_replaced_and_counted),
        TEST_ENTRY(control_characters_are_escaped), TEST_ENTRY(captures_and_payload),
        TEST_ENTRY(reuses_its_buffers), TEST_ENTRY(timestamps_in_ms)};
    int rc = test_run("format", argc, argv, all, sizeof all / sizeof all[0]);
    done();
    return rc;
}
