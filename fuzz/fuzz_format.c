/* fuzz_format.c - libFuzzer target: `format: json` and {{json name}} over any bytes. Whatever
 * the line, the record is one JSON object that jansson reads back, in valid UTF-8, with the
 * fields the parse found; a JSON string of valid UTF-8 reads back as the very bytes. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "jsonio.h"
#include "syslog.h"

#define CHECK(c)           \
    do {                   \
        if (!(c)) abort(); \
    } while (0)

static struct buf out;
static struct format_scratch scratch;

/* The field name's value in object o is the slice s, read as format wrote it (invalid bytes
 * replaced): checked only where s is valid UTF-8, so that it must come back byte for byte. */
static void check_field(json_t *o, const char *name, struct syslog_slice s) {
    json_t *v = json_object_get(o, name);
    if (!s.p) {
        CHECK(v == NULL);
        return;
    }
    CHECK(json_is_string(v));
    if (jsonio_valid_utf8(s.p, s.n) && !memchr(s.p, 0, s.n))
        CHECK(json_string_length(v) == s.n && !memcmp(json_string_value(v), s.p, s.n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data;
    struct syslog_msg m;
    syslog_parse(p, size, &m);
    /* A capture and a payload made of the input's halves, to exercise both. */
    struct format_capture cap = {.name = "c", .name_len = 1, .value = {p, size / 2}};
    struct format_input in = {.msg = &m, .captures = &cap, .ncaptures = size & 1,
                              .payload = p + size / 2, .payload_len = size - size / 2};
    out.len = 0;
    size_t replaced = format_json(&out, &in, &scratch);
    CHECK(jsonio_valid_utf8(out.p, out.len));
    json_error_t e;
    json_t *o = json_loadb(out.p, out.len, JSON_ALLOW_NUL, &e);
    /* jansson cannot hold an object key with a NUL ("\u0000" in an SD-ID or param name is
     * valid JSON, which other readers take): only then may it refuse the record. */
    if (!o && strstr(e.text, "NUL byte in object key")) return 0;
    CHECK(o && json_is_object(o));
    check_field(o, "msg", m.msg);
    check_field(o, "hostname", m.hostname);
    check_field(o, "appname", m.appname);
    check_field(o, "procid", m.procid);
    check_field(o, "msgid", m.msgid);
    check_field(o, "timestamp", m.timestamp);
    json_t *sd = json_object_get(o, "structured_data");
    CHECK(m.sd.p ? json_is_object(sd) : sd == NULL);
    CHECK((json_object_get(o, "captures") != NULL) == (in.ncaptures != 0));
    json_decref(o);
    if (!replaced) CHECK(jsonio_valid_utf8(m.msg.p ? m.msg.p : "", m.msg.n));

    /* {{json name}}: a string literal that reads back as the bytes, when they are UTF-8. */
    out.len = 0;
    size_t bad = format_json_string(&out, p, size);
    json_t *s = json_loadb(out.p, out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    CHECK(s && json_is_string(s));
    CHECK((bad == 0) == jsonio_valid_utf8(p, size));
    if (!bad) CHECK(json_string_length(s) == size && !memcmp(json_string_value(s), p, size));
    json_decref(s);

    (void)format_timestamp_ms(m.timestamp, 1764892800000); /* must not crash, whatever the text */
    return 0;
}
