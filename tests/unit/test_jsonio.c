/* test_jsonio.c - jsonio must accept, refuse and print exactly what jansson does. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jsonio.h"
#include "test.h"

static struct buf tmp, out;

/* jansson's verdict and text for p[0..n) against ours; 1 if both accepted it. */
static int same_as_jansson(const char *p, size_t n) {
    json_error_t e;
    json_t *want = json_loadb(p, n, 0, &e);
    enum jsonio_err err;
    json_t *got = jsonio_parse(p, n, &tmp, &err);
    if (!want != !got) {
        fprintf(stderr, "  input %.*s: jansson %s (%s), jsonio %s (%d)\n", (int)n, p,
                want ? "accepts" : "refuses", want ? "" : e.text, got ? "accepts" : "refuses", err);
        ASSERT(!want == !got);
    }
    if (!want) {
        ASSERT(err != JSONIO_OK);
        if (json_error_code(&e) == json_error_stack_overflow) ASSERT_EQ_INT(err, JSONIO_DEPTH);
        else if (err == JSONIO_DEPTH) ASSERT(n > JSONIO_MAX_DEPTH); /* jansson named the token */
        return 0;
    }
    ASSERT(json_equal(want, got));
    char *text = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
    ASSERT(text);
    out.len = 0;
    jsonio_dump(&out, want); /* the writer on jansson's own value */
    ASSERT_EQ_STR(buf_cstr(&out), text);
    out.len = 0;
    jsonio_dump(&out, got);
    ASSERT_EQ_STR(buf_cstr(&out), text);
    free(text);
    json_decref(want);
    json_decref(got);
    return 1;
}

#define SAME(lit) same_as_jansson(lit, sizeof lit - 1)

TEST(accepts_what_jansson_accepts) {
    static const char *ok[] = {
        "{}", "[]", " \t\r\n{ } \n", "[1,2,3]", "{\"a\":1,\"b\":[true,false,null]}",
        "{\"a\":{\"b\":{\"c\":\"d\"}}}", "[\"\",\"x\",\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
        "[\"\\u00e9\\u20AC\\ud83d\\ude00\"]", "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]",
        "[0,-0,1,-1,9223372036854775807,-9223372036854775808]",
        "[0.0,-0.0,1.5,1e3,1E3,1e+3,1e-3,-2.5E-7,123456789.123456789,1e308,5e-324,1e-400]",
        "[0.1,0.2,0.30000000000000004,100.0,1e22,1e21,123456789012345678901234567890.0]",
        "{\"dup\":1,\"dup\":2}", "{\"a\" : 1 , \"b\" :2}", "[[[[[]]]]]", "{\"\":\"\"}",
        "{\"k\\u00e9y\\n\":\"v\"}", "[\"\\u001f\\u0001\\u007f\"]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!same_as_jansson(ok[i], strlen(ok[i]))) {
            fprintf(stderr, "  refused: %s\n", ok[i]);
            ASSERT(0);
        }
}

TEST(refuses_what_jansson_refuses) {
    static const char *bad[] = {
        "", " ", "1", "\"s\"", "true", "null", "{", "[", "]", "{]", "[1,]", "[,1]", "{\"a\"}",
        "{\"a\":}", "{\"a\":1,}", "{a:1}", "{'a':1}", "[01]", "[-01]", "[1.]", "[.5]", "[+1]",
        "[-]", "[1e]", "[1e+]", "[0x10]", "[1 2]", "[1-2]", "[tru]", "[truex]", "[nul]",
        "[NaN]", "[Infinity]", "[9223372036854775808]", "[-9223372036854775809]",
        "[99999999999999999999]", "[1e309]", "[-1e309]", "[\"\\u0000\"]", "[\"\\ud83d\"]",
        "[\"\\ude00\"]", "[\"\\ud83d\\u0041\"]", "[\"\\x41\"]", "[\"\\u12\"]", "[\"\\u12g4\"]",
        "[\"a\nb\"]", "[\"a\tb\"]", "[\"\xc3\"]", "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]", "[\"\xff\"]", "[\"\x80\"]", "[1] x", "[1] [2]", "{} {}",
        "[\"unterminated]", "[\"a\\\"]", "\xef\xbb\xbf[]", "[1,\xc3\xa9]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (same_as_jansson(bad[i], strlen(bad[i]))) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            ASSERT(0);
        }
    ASSERT(!SAME("[\"a\x00b\"]"));
    ASSERT(!SAME("{\"a\x00\":1}"));
    ASSERT(!SAME("[1]\x00"));
    /* The one difference: jansson skips a NUL byte right after a number or a literal. */
    enum jsonio_err err;
    ASSERT(!jsonio_parse("[1,1\0]", 6, &tmp, &err));
    ASSERT_EQ_INT(err, JSONIO_SYNTAX);
    ASSERT(!jsonio_parse("[true\0]", 7, &tmp, &err));
}

TEST(depth_limit_is_jansson_s) {
    struct buf b = {0};
    for (int depth = 2046; depth <= 2050; depth++) {
        b.len = 0;
        for (int i = 0; i < depth; i++) buf_append(&b, "[", 1);
        for (int i = 0; i < depth; i++) buf_append(&b, "]", 1);
        same_as_jansson(b.p, b.len);
        b.len = 0;
        for (int i = 0; i < depth; i++) buf_append(&b, "[", 1);
        buf_append(&b, "1", 1);
        for (int i = 0; i < depth; i++) buf_append(&b, "]", 1);
        same_as_jansson(b.p, b.len);
    }
    b.len = 0;
    for (int i = 0; i < 5000; i++) buf_append(&b, "{\"a\":", 5);
    enum jsonio_err err;
    ASSERT(!jsonio_parse(b.p, b.len, &tmp, &err));
    ASSERT_EQ_INT(err, JSONIO_DEPTH);
    /* A malformed token past the limit: still a depth error here (jansson: syntax). */
    b.len = 0;
    for (int i = 0; i < 2048; i++) buf_append(&b, "[", 1);
    buf_append(&b, "\xa8", 1);
    ASSERT(!jsonio_parse(b.p, b.len, &tmp, &err));
    ASSERT_EQ_INT(err, JSONIO_DEPTH);
    b.len = 2047;
    buf_append(&b, "\xa8", 1);
    ASSERT(!jsonio_parse(b.p, b.len, &tmp, &err));
    ASSERT_EQ_INT(err, JSONIO_SYNTAX);
    buf_free(&b);
}

TEST(writes_reals_and_escapes_as_jansson_does) {
    static const double reals[] = {0.0, -0.0, 0.1, 1.0 / 3, 100.0, 1e22, 1e100, 1e-7, 1.5e-300,
                                   -123.456, 9007199254740993.0, 5e-324, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        json_t *v = json_real(reals[i]);
        char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        out.len = 0;
        jsonio_dump(&out, v);
        ASSERT_EQ_STR(buf_cstr(&out), want);
        free(want);
        json_decref(v);
    }
    json_t *s = json_stringn("a\0b\x01\x1f\x7f\"\\/\xc3\xa9\b\f\n\r\t", 16);
    out.len = 0;
    jsonio_dump(&out, s);
    ASSERT_EQ_STR(buf_cstr(&out), "\"a\\u0000b\\u0001\\u001F\x7f\\\"\\\\/\xc3\xa9\\b\\f\\n\\r\\t\"");
    json_decref(s);
    json_t *o = json_pack("{s:I,s:[],s:{},s:n,s:b}", "z", -9223372036854775807LL - 1, "a", "m", "n", "t", 1);
    out.len = 0;
    jsonio_dump(&out, o);
    ASSERT_EQ_STR(buf_cstr(&out), "{\"z\":-9223372036854775808,\"a\":[],\"m\":{},\"n\":null,\"t\":true}");
    json_decref(o);
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
        ASSERT(same_as_jansson(text, n));
        /* One byte changed, dropped or cut: both must still agree. */
        size_t at = (size_t)rand() % n;
        static const char flips[] = "\"\\{}[],:0-e. \x01\x80\xc3\xff";
        switch (rand() % 3) {
        case 0: text[at] = flips[rand() % (int)(sizeof flips - 1)]; break;
        case 1: memmove(text + at, text + at + 1, n - at); n--; break;
        default: n = at;
        }
        if (same_as_jansson(text, n)) accepted++;
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

TEST_MAIN("jsonio", TEST_ENTRY(accepts_what_jansson_accepts), TEST_ENTRY(refuses_what_jansson_refuses),
          TEST_ENTRY(depth_limit_is_jansson_s), TEST_ENTRY(writes_reals_and_escapes_as_jansson_does),
          TEST_ENTRY(random_documents_and_their_mutations_agree_with_jansson),
          TEST_ENTRY(utf8_sequences))
