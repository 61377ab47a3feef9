/* test_frame.c - unit tests for the stream framer (LF, CRLF, RFC 6587 octet counting). */
#include "frame.h"
#include "test.h"

#include <stdlib.h>

/* Feeds `in` to the framer in chunks of `chunk` bytes (0 = all at once), the way a connection
 * does: unconsumed bytes stay buffered and new input is appended. Frames are joined with '|'
 * into out; oversize and bad-count events are counted. Returns 0, or -1 on a bad count. */
struct run {
    char out[4096];
    size_t olen;
    int oversize;
    int frames;
};

static int feed(const char *in, size_t inlen, size_t chunk, size_t max, struct run *r) {
    struct frame_state st = {0};
    char buf[8192];
    size_t have = 0, pos = 0;
    memset(r, 0, sizeof *r);
    for (;;) {
        size_t k = chunk ? chunk : inlen;
        if (k > inlen - pos) k = inlen - pos;
        memcpy(buf + have, in + pos, k);
        have += k;
        pos += k;
        int eof = pos == inlen;
        for (;;) {
            struct frame f;
            enum frame_status s = frame_next(&st, buf, have, max, eof, &f);
            if (s == FRAME_BAD_COUNT) return -1;
            if (s == FRAME_MSG) {
                if (r->frames++) r->out[r->olen++] = '|';
                memcpy(r->out + r->olen, f.p, f.n);
                r->olen += f.n;
                r->out[r->olen] = 0;
            }
            memmove(buf, buf + f.consumed, have - f.consumed);
            have -= f.consumed;
            if (s == FRAME_OVERSIZE) {
                r->oversize++;
            } else if (s == FRAME_AGAIN && f.consumed == 0) {
                break;
            }
        }
        if (eof) return 0;
    }
}

static void expect_all_splits(const char *in, size_t max, const char *want, int oversize) {
    for (size_t chunk = 0; chunk <= strlen(in); chunk++) {
        struct run r;
        ASSERT_EQ_INT(feed(in, strlen(in), chunk, max, &r), 0);
        ASSERT_EQ_STR(r.out, want);
        ASSERT_EQ_INT(r.oversize, oversize);
    }
}

TEST(lf_and_crlf) {
    expect_all_splits("<13>a\n<13>b\r\nc\n", 100, "<13>a|<13>b|c", 0);
}

TEST(blank_lines_are_not_messages) {
    expect_all_splits("\n\r\na\n\n\nb\n", 100, "a|b", 0);
}

TEST(trailing_frame_without_lf_is_delivered_at_eof) {
    expect_all_splits("a\nlast words", 100, "a|last words", 0);
}

TEST(octet_counting) {
    expect_all_splits("5 hello3 abc11 <13>x y\nzzzlast\n", 100, "hello|abc|<13>x y\nzzz|last", 0);
}

TEST(octet_count_strips_one_trailing_newline) {
    expect_all_splits("6 hello\n7 hello\r\n", 100, "hello|hello", 0);
}

TEST(mixed_framing_on_one_stream) {
    expect_all_splits("<13>lf one\n9 <13>octet<13>lf two\r\n3 end", 100,
                      "<13>lf one|<13>octet|<13>lf two|end", 0);
}

TEST(number_without_space_is_lf_framed) {
    /* An ISO timestamp without PRI starts with digits: it must not be read as a count. */
    expect_all_splits("2024-01-02T03:04:05Z host app: hi\n", 100,
                      "2024-01-02T03:04:05Z host app: hi", 0);
}

TEST(leading_zero_is_not_a_count) {
    expect_all_splits("0 zero\n", 100, "0 zero", 0);
}

TEST(oversize_lf_frame_is_skipped_in_sync) {
    expect_all_splits("ok1\n0123456789ABCDEF\nok2\n", 8, "ok1|ok2", 1);
    /* Exactly max bytes fits, with or without CR. */
    expect_all_splits("12345678\nabcdefgh\r\n", 8, "12345678|abcdefgh", 0);
    /* Oversize frame that is the last, unterminated one. */
    expect_all_splits("ok\n0123456789ABCDEF", 8, "ok", 1);
    /* ... and one byte too long: found by fuzz_frame. */
    expect_all_splits("ab\nxyz", 2, "ab", 1);
    expect_all_splits("ab\nxy", 2, "ab|xy", 0);
}

TEST(oversize_octet_frame_is_skipped_in_sync) {
    expect_all_splits("2 ok12 0123456789AB2 ok", 8, "ok|ok", 1);
}

TEST(two_oversize_frames_count_twice) {
    expect_all_splits("0123456789\nABCDEFGHIJ\nok\n", 8, "ok", 2);
}

TEST(bad_octet_count) {
    struct run r;
    const char *in = "5 hello1234567890 x";
    ASSERT_EQ_INT(feed(in, strlen(in), 0, 100, &r), -1);
    ASSERT_EQ_STR(r.out, "hello");
    /* Ten digits NOT followed by a space is just text. */
    in = "1234567890123: is a number\n";
    ASSERT_EQ_INT(feed(in, strlen(in), 0, 100, &r), 0);
    ASSERT_EQ_STR(r.out, "1234567890123: is a number");
}

TEST(need_more_consumes_nothing) {
    struct frame_state st = {0};
    struct frame f;
    ASSERT_EQ_INT(frame_next(&st, "12", 2, 100, 0, &f), FRAME_AGAIN);
    ASSERT_EQ_INT(f.consumed, 0);
    ASSERT_EQ_INT(frame_next(&st, "12 abc", 6, 100, 0, &f), FRAME_AGAIN);
    ASSERT_EQ_INT(f.consumed, 0);
    ASSERT_EQ_INT(frame_next(&st, "partial", 7, 100, 0, &f), FRAME_AGAIN);
    ASSERT_EQ_INT(f.consumed, 0);
}

TEST(digits_only_at_eof_are_a_message) {
    expect_all_splits("12345", 100, "12345", 0);
}

TEST(truncated_octet_frame_at_eof_is_delivered) {
    expect_all_splits("10 abc", 100, "abc", 0);
}

TEST(random_streams_frame_the_same_at_any_split) {
    /* Property: however the stream is cut into reads, the frames are the same. */
    srand(42);
    static const char *parts[] = {"<13>a b c\n", "7 <14>xyz", "\r\n", "\n", "9 ", "abc\n",
                                  "0123456789012345\n", "20 0123456789abcdefghij", "42"};
    for (int iter = 0; iter < 200; iter++) {
        char in[512];
        size_t n = 0;
        int k = 1 + rand() % 12;
        for (int i = 0; i < k; i++) {
            const char *p = parts[rand() % (int)(sizeof parts / sizeof parts[0])];
            memcpy(in + n, p, strlen(p));
            n += strlen(p);
        }
        in[n] = 0;
        struct run whole, split;
        int rw = feed(in, n, 0, 12, &whole);
        for (size_t chunk = 1; chunk < n; chunk++) {
            int rs = feed(in, n, chunk, 12, &split);
            ASSERT_EQ_INT(rs, rw);
            if (rw == 0) {
                ASSERT_EQ_STR(split.out, whole.out);
                ASSERT_EQ_INT(split.oversize, whole.oversize);
            }
        }
    }
}

TEST_MAIN("frame", TEST_ENTRY(lf_and_crlf), TEST_ENTRY(blank_lines_are_not_messages),
          TEST_ENTRY(trailing_frame_without_lf_is_delivered_at_eof), TEST_ENTRY(octet_counting),
          TEST_ENTRY(octet_count_strips_one_trailing_newline),
          TEST_ENTRY(mixed_framing_on_one_stream), TEST_ENTRY(number_without_space_is_lf_framed),
          TEST_ENTRY(leading_zero_is_not_a_count),
          TEST_ENTRY(oversize_lf_frame_is_skipped_in_sync),
          TEST_ENTRY(oversize_octet_frame_is_skipped_in_sync),
          TEST_ENTRY(two_oversize_frames_count_twice), TEST_ENTRY(bad_octet_count),
          TEST_ENTRY(need_more_consumes_nothing), TEST_ENTRY(digits_only_at_eof_are_a_message),
          TEST_ENTRY(truncated_octet_frame_at_eof_is_delivered),
          TEST_ENTRY(random_streams_frame_the_same_at_any_split))
