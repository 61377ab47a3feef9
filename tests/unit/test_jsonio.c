/* test_jsonio.c - jsonio must accept, refuse and print what the original hotdog's serde_json
 * does. Every expected text below was measured: the message sent through the original 0.5.1
 * with a merge rule (what it forwarded, or "not JSON" where it counted
 * error.merge_of_invalid_json), or serde_json 1.0.96 itself for the same input. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "json_check.h"
#include "jdoc.h"
#include "jsonio.h"
#include "jsonio_internal.h"
#include "test.h"

static struct buf out;

/* Parses p[0..n) and writes it back; NULL if refused. */
static const char *roundtrip(const char *p, size_t n, enum jsonio_err *err) {
    json_t *v = jsonio_parse(p, n, err);
    if (!v) return NULL;
    out.len = 0;
    jsonio_dump(&out, v);
    json_decref(v);
    jsonio_release_big();
    return buf_cstr(&out);
}

/* Reads p[0..n) into a jdoc and writes it back (the rules' path); NULL if refused. */
static const char *jdoc_roundtrip(const char *p, size_t n, enum jsonio_err *err) {
    static struct jdoc d;
    *err = jdoc_parse(&d, p, n);
    if (*err != JSONIO_OK) return NULL;
    out.len = 0;
    jdoc_dump(&out, &d, 0);
    return buf_cstr(&out);
}

static void expect(const char *in, size_t n, const char *want) {
    const char *(*ways[])(const char *, size_t, enum jsonio_err *) = {roundtrip, jdoc_roundtrip};
    for (size_t w = 0; w < 2; w++) {
        enum jsonio_err err;
        const char *got = ways[w](in, n, &err);
        if (!got != !want || (got && strcmp(got, want))) {
            fprintf(stderr, "  %s, input %.*s: want %s, got %s\n", w ? "jdoc" : "jsonio", (int)n, in,
                    want ? want : "(refused)", got ? got : "(refused)");
            ASSERT(0);
        }
        if (!want) ASSERT(err != JSONIO_OK);
    }
}
#define EXPECT(lit, want) expect(lit, sizeof lit - 1, want)

TEST(values_the_original_reads_and_how_it_writes_them) {
    /* Any value at the top; keys sorted bytewise; duplicate keys: the last wins. */
    EXPECT("\"str\"", "\"str\"");
    EXPECT("12", "12");
    EXPECT(" true ", "true");
    EXPECT("null", "null");
    EXPECT("{\"b\":1,\"a\":2,\"b\":3}", "{\"a\":2,\"b\":3}");
    EXPECT("{\"zz\":1,\"a\":{\"c\":1,\"B\":2},\"_\":3,\"\xc3\xa9\":4,\"aa\":5,\"\":6}",
           "{\"\":6,\"_\":3,\"a\":{\"B\":2,\"c\":1},\"aa\":5,\"zz\":1,\"\xc3\xa9\":4}");
    /* Escapes: \u0000 is a string's byte like any other; only '"', '\\' and controls are
     * escaped on output, in lowercase hex; '/' and U+2028 as they are. */
    EXPECT("{\"a\":\"\\u0000\"}", "{\"a\":\"\\u0000\"}");
    EXPECT("{\"k\":\"\\/\xc3\xa9\\u00e9\\u001f\\u007f\\u2028\\u0008\\u000c\\ud83d\\ude00\"}",
           "{\"k\":\"/\xc3\xa9\xc3\xa9\\u001f\x7f\xe2\x80\xa8\\b\\f\xf0\x9f\x98\x80\"}");
    EXPECT("{\"a\\u0000\":1}", "{\"a\\u0000\":1}");
    /* Numbers: integers within u64/i64 stay exact; beyond, doubles; -0 is a double. */
    EXPECT("[18446744073709551615,18446744073709551616,-9223372036854775809]",
           "[18446744073709551615,1.8446744073709552e19,-9.223372036854776e18]");
    EXPECT("[9223372036854775807,9223372036854775808,-9223372036854775808]",
           "[9223372036854775807,9223372036854775808,-9223372036854775808]");
    EXPECT("[-0.0,-0,0.0,0,5e-324,2.2250738585072014e-308,1.7976931348623157e308]",
           "[-0.0,-0.0,0.0,0,5e-324,2.2250738585072014e-308,1.7976931348623157e308]");
    /* ryu's shortest form, and serde_json's own (not always correctly rounded) conversion:
     * 1.2345678901234567e23 reads as the double printed 1.2345678901234569e23. */
    EXPECT("[0.1,1.0,1e100,1.2345678901234567e23,1e-7,123456789.0,1e21,1e16,1e15,"
           "12345678901234567890123]",
           "[0.1,1.0,1e100,1.2345678901234569e23,1e-7,123456789.0,1e21,1e16,1000000000000000.0,"
           "1.2345678901234568e22]");
    EXPECT("[9007199254740993.0,0.30000000000000004,0.00001,0.000001,123e-7,1E5,1e+5,1e-0]",
           "[9007199254740994.0,0.30000000000000004,0.00001,1e-6,0.0000123,100000.0,100000.0,1.0]");
    EXPECT("[0e400,1e-400,0e99999999999,1e-99999999999,-1e-400]", "[0.0,0.0,0.0,0.0,-0.0]");
    EXPECT("[18446744073709551619.5,1844674407370955161.5]",
           "[1.8446744073709552e19,1.8446744073709553e18]");
}

TEST(refuses_what_the_original_refuses) {
    /* Measured on the original: counted as error.merge_of_invalid_json. */
    EXPECT("[\"\\ud800\"]", NULL);
    EXPECT("[\"\\udc00x\"]", NULL);
    EXPECT("[\"\\ud800\\u0041\"]", NULL);
    EXPECT("[1e400]", NULL);
    EXPECT("[-1e400]", NULL);
    EXPECT("[1.5e308, 2e308]", NULL);
    EXPECT("[1e99999999999]", NULL);
    EXPECT("not json at all", NULL);
    static const char *bad[] = {
        "", " ", "{", "[", "]", "{]", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
        "{a:1}", "{'a':1}", "[01]", "[-01]", "[1.]", "[.5]", "[+1]", "[-]", "[1e]", "[1e+]",
        "[0x10]", "[1 2]", "[1-2]", "[tru]", "[truex]", "[nul]", "[NaN]", "[Infinity]", "00",
        "[\"\\x41\"]", "[\"\\u12\"]", "[\"\\u12g4\"]", "[\"a\nb\"]", "[\"a\tb\"]", "[\"\xc3\"]",
        "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]", "[\"\xf4\x90\x80\x80\"]", "[\"\xff\"]",
        "[\"\x80\"]", "[1]x", "[1] [2]", "{} {}", "[\"unterminated]", "[\"a\\\"]",
        "\xef\xbb\xbf[]", "[1,\xc3\xa9]", "2024-01-01 not json", "nothing", "\"a\" b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect(bad[i], strlen(bad[i]), NULL);
    EXPECT("[1,1\0]", NULL);
    EXPECT("[\"a\0b\"]", NULL); /* a raw control byte in a string */
}

/* serde_json's recursion limit, measured on the original: 127 nested arrays or objects are
 * JSON, 128 are not. */
TEST(depth_limit_is_serde_json_s) {
    struct buf b = {0};
    enum jsonio_err err;
    for (int depth = 126; depth <= 129; depth++) {
        for (int obj = 0; obj < 2; obj++) {
            b.len = 0;
            for (int i = 0; i < depth; i++) buf_append(&b, obj ? "{\"a\":" : "[", obj ? 5 : 1);
            buf_append(&b, "1", 1);
            for (int i = 0; i < depth; i++) buf_append(&b, obj ? "}" : "]", 1);
            json_t *v = jsonio_parse(b.p, b.len, &err);
            ASSERT_EQ_INT(v != NULL, depth <= JSONIO_MAX_DEPTH);
            if (!v) ASSERT_EQ_INT(err, JSONIO_DEPTH);
            json_decref(v);
        }
    }
    ASSERT_EQ_INT(JSONIO_MAX_DEPTH, 127);
    b.len = 0;
    for (int i = 0; i < 100000; i++) buf_append(&b, "[", 1);
    ASSERT(!jsonio_parse(b.p, b.len, &err));
    ASSERT_EQ_INT(err, JSONIO_DEPTH);
    buf_free(&b);
}

/* Integers above INT64_MAX are printed exactly while listed; released, they are doubles. */
TEST(big_integers_print_exactly_until_released) {
    enum jsonio_err err;
    json_t *v = jsonio_parse("[18446744073709551615]", 22, &err);
    ASSERT(v != NULL);
    json_t *keep = json_incref(json_array_get(v, 0));
    json_decref(v);
    out.len = 0;
    jsonio_dump(&out, keep);
    ASSERT_EQ_STR(buf_cstr(&out), "18446744073709551615");
    jsonio_release_big();
    out.len = 0;
    jsonio_dump(&out, keep);
    ASSERT_EQ_STR(buf_cstr(&out), "1.8446744073709552e19");
    json_decref(keep);
    /* Past JSONIO_BIG_MAX in one go, the rest degrade to doubles but nothing leaks. */
    struct buf b = {0};
    buf_append(&b, "[", 1);
    for (int i = 0; i < JSONIO_BIG_MAX + 10; i++) buf_append(&b, i ? ",9300000000000000001" : "9300000000000000001", i ? 20 : 19);
    buf_append(&b, "]", 1);
    const char *s = roundtrip(b.p, b.len, &err);
    ASSERT(s != NULL);
    ASSERT(!strncmp(s, "[9300000000000000001,", 21));
    ASSERT(strstr(s, "9.3e18") != NULL);
    buf_free(&b);
}


/* For a value jansson read: ours reads the same text to a near-equal value, and what we write
 * jansson reads back to exactly the same value (shortest doubles round-trip), with each
 * object's keys in ascending byte order. 1 if jsonio accepted the text. */
static int agrees_with_jansson(const char *p, size_t n) {
    json_error_t e;
    json_t *want = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    enum jsonio_err err;
    json_t *got = jsonio_parse(p, n, &err);
    /* Both accept the same texts here (no integer beyond 64 bits, depth below 127), except a
     * key holding \u0000, which serde_json (and so the original, and jsonio) accepts and
     * jansson cannot store: a mutation can make one. */
    if (!want && got && strstr(e.text, "NUL byte in object key")) {
        json_decref(got);
        return 0;
    }
    if (!want != !got) {
        fprintf(stderr, "  input %.*s: jansson %s (%s), jsonio %s (%d)\n", (int)n, p,
                want ? "accepts" : "refuses", want ? "" : e.text, got ? "accepts" : "refuses", err);
        ASSERT(!want == !got);
    }
    if (!want) return 0;
    ASSERT(near_equal(want, got));
    out.len = 0;
    jsonio_dump(&out, got);
    json_t *back = json_loadb(out.p, out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    ASSERT(back != NULL);
    ASSERT(json_equal(back, got));
    ASSERT(keys_ascend(back)); /* jansson keeps the order it read */
    json_decref(back);
    json_decref(want);
    json_decref(got);
    return 1;
}

/* A random document: nested containers, keys and strings from a pool of awkward pieces. */
static json_t *random_doc(int depth) {
    static const char *pieces[] = {"a", "key", "", "\"", "\\", "/", "\n", "\x01", "\x1f", "\xc3\xa9",
                                   "\xe2\x82\xac", "\xf0\x9f\x98\x80", " ", "\x7f", "0"};
    char s[80];
    size_t n = 0;
    for (int k = rand() % 5; k > 0; k--) {
        const char *p = pieces[rand() % (int)(sizeof pieces / sizeof pieces[0])];
        memcpy(s + n, p, strlen(p));
        n += strlen(p);
    }
    int kind = depth > 4 ? 2 + rand() % 6 : rand() % 8;
    switch (kind) {
    case 0: {
        json_t *o = json_object();
        for (int k = rand() % 4; k > 0; k--) {
            json_object_setn_new(o, s, n, random_doc(depth + 1));
            s[n++] = (char)('a' + k); /* the next key differs */
        }
        return o;
    }
    case 1: {
        json_t *a = json_array();
        for (int k = rand() % 4; k > 0; k--) json_array_append_new(a, random_doc(depth + 1));
        return a;
    }
    case 2: return json_stringn(s, n);
    case 3: return json_integer((json_int_t)((uint64_t)rand() << 33 ^ (uint64_t)rand() << 2 ^ (uint64_t)rand()) >> (rand() % 64));
    case 4: return json_real(ldexp((double)rand() / RAND_MAX - 0.5, rand() % 200 - 100));
    case 5: return json_true();
    case 6: return json_false();
    default: return json_null();
    }
}

TEST(random_documents_and_their_mutations_agree_with_jansson) {
    srand(42);
    int accepted = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        json_t *doc = json_array();
        json_array_append_new(doc, random_doc(0));
        char *text = json_dumps(doc, JSON_COMPACT | (rand() % 2 ? JSON_INDENT(1) : 0));
        ASSERT(text);
        size_t n = strlen(text);
        ASSERT(agrees_with_jansson(text, n));
        /* One byte changed, dropped or cut: both must still agree. */
        size_t at = (size_t)rand() % n;
        static const char flips[] = "\"\\{}[],:0-e. \x01\x80\xc3\xff";
        switch (rand() % 3) {
        case 0: text[at] = flips[rand() % (int)(sizeof flips - 1)]; break;
        case 1: memmove(text + at, text + at + 1, n - at); n--; break;
        default: n = at;
        }
        if (agrees_with_jansson(text, n)) accepted++;
        else refused++;
        free(text);
        json_decref(doc);
    }
    ASSERT(accepted > 1000 && refused > 1000); /* both verdicts were exercised */
}

TEST(utf8_sequences) {
    ASSERT_EQ_INT(jsonio_utf8_len((const unsigned char *)"a", 1), 1);
    ASSERT_EQ_INT(jsonio_utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
    ASSERT_EQ_INT(jsonio_utf8_len((const unsigned char *)"\xc3\xa9", 1), 0);
    ASSERT_EQ_INT(jsonio_utf8_len((const unsigned char *)"\xc1\x81", 2), 0);
    ASSERT_EQ_INT(jsonio_utf8_len((const unsigned char *)"\xe0\x80\x80", 3), 0);
    ASSERT_EQ_INT(jsonio_utf8_len((const unsigned char *)"\xed\xbf\xbf", 3), 0);
    ASSERT_EQ_INT(jsonio_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    ASSERT_EQ_INT(jsonio_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    ASSERT_EQ_INT(jsonio_utf8_len((const unsigned char *)"\xf8\x88\x80\x80", 4), 0);
    ASSERT(jsonio_valid_utf8("", 0));
    ASSERT(jsonio_valid_utf8("plain ascii, longer than eight bytes", 36));
    ASSERT(jsonio_valid_utf8("0123456789abcd\xc3\xa9" "fgh\xf0\x9f\x98\x80", 23));
    ASSERT(jsonio_valid_utf8("a\0b", 3));
    ASSERT(!jsonio_valid_utf8("0123456789abcd\xc3", 15));
    ASSERT(!jsonio_valid_utf8("01234567\xed\xa0\x80", 11));
    ASSERT(!jsonio_valid_utf8("\xff", 1));
    /* Against the byte-by-byte definition, at every offset of a mixed buffer. */
    const char mix[] = "abc\xc3\xa9" "defghij\xe2\x82\xac" "klmnopqr\xf0\x9f\x98\x80" "stu\x80" "vwxyz0123456\xc3";
    for (size_t off = 0; off < sizeof mix - 1; off++)
        for (size_t len = 0; off + len <= sizeof mix - 1; len++) {
            const unsigned char *p = (const unsigned char *)mix + off;
            size_t i = 0;
            while (i < len) {
                size_t k = jsonio_utf8_len(p + i, len - i);
                if (!k) break;
                i += k;
            }
            ASSERT_EQ_INT(jsonio_valid_utf8(mix + off, len), i == len);
        }
}

/* jdoc's lookups are serde_json's map's: the last of duplicate keys, keys compared decoded;
 * anything but an object has no members. Integers above INT64_MAX print exactly however
 * many there are (jsonio_dump lists only JSONIO_BIG_MAX). */
TEST(jdoc_lookups_and_big_integers) {
    struct jdoc d;
    jdoc_init(&d);
    const char *t = "{\"a\":1,\"k\\u00e9\":{\"x\":[true]},\"a\":\"two\\n\",\"\":null}";
    ASSERT_EQ_INT(jdoc_parse(&d, t, strlen(t)), JSONIO_OK);
    uint32_t a = jdoc_get(&d, 0, "a", 1);
    ASSERT(a != JDOC_NONE);
    ASSERT_EQ_INT(d.v[a].type, JDOC_STRING);
    ASSERT_EQ_MEM(jdoc_str(&d, &d.v[a]), d.v[a].n, "two\n");
    uint32_t k = jdoc_get(&d, 0, "k\xc3\xa9", 3);
    ASSERT(k != JDOC_NONE);
    uint32_t x = jdoc_get(&d, k, "x", 1);
    ASSERT(x != JDOC_NONE && d.v[x].type == JDOC_ARRAY && d.v[x].n == 1);
    ASSERT_EQ_INT(jdoc_get(&d, x, "0", 1), JDOC_NONE); /* an array has no members */
    ASSERT_EQ_INT(jdoc_get(&d, a, "a", 1), JDOC_NONE);
    ASSERT_EQ_INT(jdoc_get(&d, 0, "b", 1), JDOC_NONE);
    ASSERT(jdoc_get(&d, 0, "", 0) != JDOC_NONE);
    out.len = 0;
    jdoc_dump(&out, &d, 0);
    ASSERT_EQ_STR(buf_cstr(&out), "{\"\":null,\"a\":\"two\\n\",\"k\xc3\xa9\":{\"x\":[true]}}");
    /* A refused text leaves no document behind. */
    ASSERT_EQ_INT(jdoc_parse(&d, "[1,", 3), JSONIO_SYNTAX);
    ASSERT_EQ_INT(d.n, 0);
    struct buf b = {0};
    buf_append(&b, "[", 1);
    for (int i = 0; i < JSONIO_BIG_MAX + 10; i++) buf_append(&b, i ? ",9300000000000000001" : "9300000000000000001", i ? 20 : 19);
    buf_append(&b, "]", 1);
    ASSERT_EQ_INT(jdoc_parse(&d, b.p, b.len), JSONIO_OK);
    out.len = 0;
    jdoc_dump(&out, &d, 0);
    ASSERT_EQ_MEM(out.p, out.len, buf_cstr(&b));
    buf_free(&b);
    jdoc_free(&d);
}

/* plain_run never passes a byte that needs a look ('"', '\\', a control character and, if
 * ascii, any byte from 0x80), and stops less than one word (8 bytes) short of the first.
 * (An SSE2 version, 16 bytes a step, made no measurable difference to the engine on
 * 2026-12-05: most strings of a log message are shorter than a step.) */
TEST(plain_run_stops_at_the_first_special_byte) {
    static const unsigned char special[] = {'"', '\\', 0, 0x1f, 0x0a, 0x80, 0xc3, 0xff};
    unsigned char b[100];
    uint32_t seed = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(round % 100);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            b[i] = (unsigned char)(0x20 + (seed >> 16) % 0x60); /* printable ASCII, 0x7f too */
            if (b[i] == '"' || b[i] == '\\') b[i] = 'x';
        }
        seed = seed * 1103515245u + 12345u;
        if (n && (seed >> 16) % 4) b[(seed >> 8) % n] = special[(seed >> 20) % sizeof special];
        for (int ascii = 0; ascii < 2; ascii++) {
            size_t first = n;
            for (size_t i = 0; i < n && first == n; i++)
                if (b[i] == '"' || b[i] == '\\' || b[i] < 0x20 || (ascii && b[i] >= 0x80)) first = i;
            size_t r = plain_run(b, n, ascii);
            ASSERT(r <= first);
            ASSERT(first - r < 8 || n - r < 8);
        }
    }
}

TEST_MAIN("jsonio", TEST_ENTRY(plain_run_stops_at_the_first_special_byte), TEST_ENTRY(jdoc_lookups_and_big_integers), TEST_ENTRY(values_the_original_reads_and_how_it_writes_them),
          TEST_ENTRY(refuses_what_the_original_refuses), TEST_ENTRY(depth_limit_is_serde_json_s),
          TEST_ENTRY(big_integers_print_exactly_until_released),
          TEST_ENTRY(random_documents_and_their_mutations_agree_with_jansson),
          TEST_ENTRY(utf8_sequences))
