/* test_frame.c - unit tests for the stream framer (LF, CRLF, RFC 6587 octet counting). */
#include "frame.h"
#include "test.h"

#include <stdlib.h>

/* Feeds `in` to the framer in chunks of `chunk` bytes (0 = all at once), the way a connection
 * does: unconsumed bytes stay buffered and new input is appended. Frames are joined with '|'
 * into out; truncated frames are counted. Returns 0, or -1 on a bad count. */
struct run {
    char out[4096];
    size_t olen;
    int truncated;
    int frames;
};

static int feed_mode(int mode, const char *in, size_t inlen, size_t chunk, size_t max,
                     struct run *r) {
    struct frame_state st = {.mode = mode};
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
                ASSERT(f.n <= max);
                if (r->frames++) r->out[r->olen++] = '|';
                memcpy(r->out + r->olen, f.p, f.n);
                r->olen += f.n;
                r->out[r->olen] = 0;
                r->truncated += f.truncated;
            }
            memmove(buf, buf + f.consumed, have - f.consumed);
            have -= f.consumed;
            if (s == FRAME_AGAIN && f.consumed == 0) break;
        }
        if (eof) return 0;
    }
}

static int feed(const char *in, size_t inlen, size_t chunk, size_t max, struct run *r) {
    return feed_mode(FRAME_AUTO, in, inlen, chunk, max, r);
}

/* Every way of cutting `in` into reads gives the same frames and truncation count. */
static void expect_mode(int mode, const char *in, size_t max, const char *want, int truncated) {
    for (size_t chunk = 0; chunk <= strlen(in); chunk++) {
        struct run r;
        ASSERT_EQ_INT(feed_mode(mode, in, strlen(in), chunk, max, &r), 0);
        ASSERT_EQ_STR(r.out, want);
        ASSERT_EQ_INT(r.truncated, truncated);
    }
}

static void expect_all_splits(const char *in, size_t max, const char *want, int truncated) {
    expect_mode(FRAME_AUTO, in, max, want, truncated);
}

static void expect_bad(int mode, const char *in, size_t max, const char *want_before) {
    for (size_t chunk = 0; chunk <= strlen(in); chunk++) {
        struct run r;
        ASSERT_EQ_INT(feed_mode(mode, in, strlen(in), chunk, max, &r), -1);
        ASSERT_EQ_STR(r.out, want_before);
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

TEST(octet_counting_needs_a_pri_after_the_count) {
    /* auto: the count, one space and '<' is octet counting ... */
    expect_all_splits("5 <13>a3 <1>11 <13>x y\nzzzlast\n", 100, "<13>a|<1>|<13>x y\nzzz|last", 0);
    /* ... a number and a space without a PRI after it is the start of a line, as in the
     * original hotdog (which frames only on LF). */
    expect_all_splits("5 apples and pears\n", 100, "5 apples and pears", 0);
    expect_all_splits("5 hello3 abc\n", 100, "5 hello3 abc", 0);
    expect_all_splits("10 <13>hello\n42 is the answer\n", 100, "<13>hello|42 is the answer", 0);
    /* The '<' may be the last byte of a read: the framer waits for it. */
    expect_all_splits("3 <1>", 100, "<1>", 0);
    expect_all_splits("3 ", 100, "3 ", 0);
}

TEST(octet_count_strips_one_trailing_newline) {
    expect_all_splits("7 <1>abc\n8 <1>abc\r\n", 100, "<1>abc|<1>abc", 0);
    expect_mode(FRAME_OCTET, "6 hello\n7 hello\r\n", 100, "hello|hello", 0);
}

TEST(mixed_framing_on_one_stream) {
    expect_all_splits("<13>lf one\n9 <13>octet<13>lf two\r\n3 end", 100,
                      "<13>lf one|<13>octet|<13>lf two|3 end", 0);
}

TEST(lf_mode_never_counts) {
    expect_mode(FRAME_LF, "5 <13>a\n9 <13>octet\n", 100, "5 <13>a|9 <13>octet", 0);
    expect_mode(FRAME_LF, "12345678901 <13>not a count\n", 100, "12345678901 <13>not a count", 0);
}

TEST(octet_mode_counts_without_a_pri) {
    expect_mode(FRAME_OCTET, "5 hello3 abc11 <13>x y\nzzz4 last", 100, "hello|abc|<13>x y\nzzz|last", 0);
    /* LF and CRLF between frames, outside the counts, are skipped. */
    expect_mode(FRAME_OCTET, "5 hello\n\r\n3 abc\n", 100, "hello|abc", 0);
    /* Anything else where a count must be is a corrupt stream. */
    expect_bad(FRAME_OCTET, "5 hellonot a count\n", 100, "hello");
    expect_bad(FRAME_OCTET, "0 zero\n", 100, "");
}

TEST(number_without_space_is_lf_framed) {
    /* An ISO timestamp without PRI starts with digits: it must not be read as a count. */
    expect_all_splits("2024-01-02T03:04:05Z host app: hi\n", 100,
                      "2024-01-02T03:04:05Z host app: hi", 0);
}

TEST(leading_zero_is_not_a_count) {
    expect_all_splits("0 zero\n", 100, "0 zero", 0);
    expect_all_splits("0 <13>zero\n", 100, "0 <13>zero", 0);
}

TEST(long_lf_frame_is_truncated_in_sync) {
    expect_all_splits("ok1\n0123456789ABCDEF\nok2\n", 8, "ok1|01234567|ok2", 1);
    /* Exactly max bytes fits, with or without CR. */
    expect_all_splits("12345678\nabcdefgh\r\n", 8, "12345678|abcdefgh", 0);
    /* Max + 1 with CRLF: cut. */
    expect_all_splits("abcdefghi\r\nok\n", 8, "abcdefgh|ok", 1);
    /* A long frame that is the last, unterminated one. */
    expect_all_splits("ok\n0123456789ABCDEF", 8, "ok|01234567", 1);
    /* ... and one byte too long: found by fuzz_frame. */
    expect_all_splits("ab\nxyz", 2, "ab|xy", 1);
    expect_all_splits("ab\nxy", 2, "ab|xy", 0);
}

TEST(long_octet_frame_is_truncated_in_sync) {
    expect_all_splits("5 <1>ok16 <1>0123456789ABC5 <1>ok", 8, "<1>ok|<1>01234|<1>ok", 1);
    /* Count max + 1 whose last byte is the LF many senders put inside the count: fits. */
    expect_all_splits("9 <1>abcde\n3 <2>", 8, "<1>abcde|<2>", 0);
    expect_all_splits("10 <1>abcde\r\n3 <2>", 8, "<1>abcde|<2>", 0);
    expect_all_splits("9 <1>abcdef3 <2>", 8, "<1>abcde|<2>", 1);
    expect_mode(FRAME_OCTET, "12 0123456789AB2 ok", 8, "01234567|ok", 1);
}

TEST(a_count_longer_than_the_connection_delivers_what_came) {
    /* The sender closed before its count was reached: what arrived is the message. */
    expect_all_splits("999999999 <13>short", 8, "<13>shor", 1);
    expect_all_splits("999999999 <13>sh", 8, "<13>sh", 0);
}

TEST(two_long_frames_count_twice) {
    expect_all_splits("0123456789\nABCDEFGHIJ\nok\n", 8, "01234567|ABCDEFGH|ok", 2);
}

TEST(bad_octet_count) {
    struct run r;
    const char *in = "8 <1>hello1234567890 <1>x";
    ASSERT_EQ_INT(feed(in, strlen(in), 0, 100, &r), -1);
    ASSERT_EQ_STR(r.out, "<1>hello");
    /* Ten digits, a space and no PRI is a line. */
    in = "1234567890 is a number\n";
    ASSERT_EQ_INT(feed(in, strlen(in), 0, 100, &r), 0);
    ASSERT_EQ_STR(r.out, "1234567890 is a number");
    /* Ten digits NOT followed by a space is just text. */
    in = "1234567890123: is a number\n";
    ASSERT_EQ_INT(feed(in, strlen(in), 0, 100, &r), 0);
    ASSERT_EQ_STR(r.out, "1234567890123: is a number");
}

TEST(digit_run_longer_than_max_is_a_line) {
    /* Neither a count nor a line that fits: cut at max, never waited on without bound. */
    expect_all_splits("1234567890123456 <1>x\nok\n", 8, "12345678|ok", 1);
    struct frame_state st = {0};
    struct frame f;
    ASSERT_EQ_INT(frame_next(&st, "123456789012", 12, 8, 0, &f), FRAME_MSG);
    ASSERT_EQ_INT(f.truncated, 1);
    ASSERT_EQ_MEM(f.p, f.n, "12345678");
}

TEST(need_more_consumes_nothing) {
    struct frame_state st = {0};
    struct frame f;
    ASSERT_EQ_INT(frame_next(&st, "12", 2, 100, 0, &f), FRAME_AGAIN);
    ASSERT_EQ_INT(f.consumed, 0);
    ASSERT_EQ_INT(frame_next(&st, "12 ", 3, 100, 0, &f), FRAME_AGAIN);
    ASSERT_EQ_INT(f.consumed, 0);
    ASSERT_EQ_INT(frame_next(&st, "12 <abc", 7, 100, 0, &f), FRAME_AGAIN);
    ASSERT_EQ_INT(f.consumed, 0);
    ASSERT_EQ_INT(frame_next(&st, "partial", 7, 100, 0, &f), FRAME_AGAIN);
    ASSERT_EQ_INT(f.consumed, 0);
}

TEST(truncation_keeps_discarding_across_reads) {
    /* The rest of a long line arrives in later reads: none of it becomes a message. */
    struct frame_state st = {0};
    struct frame f;
    ASSERT_EQ_INT(frame_next(&st, "0123456789", 10, 4, 0, &f), FRAME_MSG);
    ASSERT_EQ_INT(f.truncated, 1);
    ASSERT_EQ_MEM(f.p, f.n, "0123");
    ASSERT_EQ_INT(frame_next(&st, "89", 2, 4, 0, &f), FRAME_AGAIN); /* what f.consumed left */
    ASSERT_EQ_INT(frame_next(&st, "more, no LF", 11, 4, 0, &f), FRAME_AGAIN);
    ASSERT_EQ_INT(f.consumed, 11);
    ASSERT_EQ_INT(frame_next(&st, "end\nnext\n", 9, 4, 0, &f), FRAME_AGAIN);
    ASSERT_EQ_INT(f.consumed, 4);
    ASSERT_EQ_INT(frame_next(&st, "next\n", 5, 4, 0, &f), FRAME_MSG);
    ASSERT_EQ_INT(f.truncated, 0);
    ASSERT_EQ_MEM(f.p, f.n, "next");
}

TEST(digits_only_at_eof_are_a_message) {
    expect_all_splits("12345", 100, "12345", 0);
}

TEST(short_octet_frame_at_eof_is_delivered) {
    expect_all_splits("10 <1>abc", 100, "<1>abc", 0);
}

TEST(random_streams_frame_the_same_at_any_split) {
    /* Property: however the stream is cut into reads, the frames are the same. */
    srand(42);
    static const char *parts[] = {"<13>a b c\n", "7 <14>xyz", "\r\n", "\n", "9 ", "abc\n",
                                  "0123456789012345\n", "20 <0123456789abcdefghi", "42",
                                  "5 apples\n", "<", "13 <1>abcdefghi\n"};
    for (int mode = FRAME_AUTO; mode <= FRAME_OCTET; mode++)
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
            int rw = feed_mode(mode, in, n, 0, 12, &whole);
            for (size_t chunk = 1; chunk < n; chunk++) {
                int rs = feed_mode(mode, in, n, chunk, 12, &split);
                ASSERT_EQ_INT(rs, rw);
                if (rw == 0) {
                    ASSERT_EQ_STR(split.out, whole.out);
                    ASSERT_EQ_INT(split.truncated, whole.truncated);
                }
            }
        }
}

/* Feeds `first`, cuts what is left unfinished (frame_cut), then feeds `rest` to the end. */
static void expect_cut(int mode, const char *first, const char *rest, size_t max, const char *want,
                       int truncated) {
    struct frame_state st = {.mode = mode};
    char buf[4096], out[4096] = "";
    size_t have = 0, olen = 0;
    int frames = 0, trunc = 0;
    for (int part = 0; part < 3; part++) {
        if (part != 1) {
            const char *in = part == 0 ? first : rest;
            memcpy(buf + have, in, strlen(in));
            have += strlen(in);
        }
        for (;;) {
            struct frame f;
            enum frame_status s = part == 1 ? frame_cut(&st, buf, have, max, &f)
                                            : frame_next(&st, buf, have, max, part == 2, &f);
            ASSERT(s != FRAME_BAD_COUNT);
            if (s == FRAME_MSG) {
                if (frames++) out[olen++] = '|';
                memcpy(out + olen, f.p, f.n);
                olen += f.n;
                out[olen] = 0;
                trunc += f.truncated;
            }
            memmove(buf, buf + f.consumed, have - f.consumed);
            have -= f.consumed;
            if (part == 1 || (s == FRAME_AGAIN && f.consumed == 0)) break;
        }
    }
    ASSERT_EQ_STR(out, want);
    ASSERT_EQ_INT(trunc, truncated);
}

/* The worker's buffer budget cuts the largest unfinished frame: delivered as far as it got,
 * the rest of it discarded when it arrives, the next frame intact. */
TEST(a_cut_frame_is_delivered_and_its_rest_discarded) {
    expect_cut(FRAME_AUTO, "a\nbcd", "ef\ng\n", 100, "a|bcd|g", 1);
    expect_cut(FRAME_LF, "a\nbcd", "ef\ng\n", 2, "a|bc|g", 1);
    expect_cut(FRAME_AUTO, "10 <1>abc", "defg5 <2>xy", 100, "<1>abc|<2>xy", 1);
    expect_cut(FRAME_OCTET, "\n10 <1>abc", "defg\n5 <2>xy", 100, "<1>abc|<2>xy", 1);
    /* Nothing unfinished: nothing cut. */
    expect_cut(FRAME_AUTO, "a\n", "b\n", 100, "a|b", 0);
    /* A count still arriving is a few bytes: not cut, the frame completes normally. */
    expect_cut(FRAME_OCTET, "1", "0 <1>abcdefg", 100, "<1>abcdefg", 0);
    expect_cut(FRAME_AUTO, "12", "345 x\n", 100, "12345 x", 0);
    /* Only a count and no body yet: nothing to deliver, the body is skipped. */
    expect_cut(FRAME_OCTET, "5 ", "<1>ab3 <2>", 100, "<2>", 0);
}

TEST_MAIN("frame", TEST_ENTRY(a_cut_frame_is_delivered_and_its_rest_discarded), TEST_ENTRY(lf_and_crlf), TEST_ENTRY(blank_lines_are_not_messages),
          TEST_ENTRY(trailing_frame_without_lf_is_delivered_at_eof),
          TEST_ENTRY(octet_counting_needs_a_pri_after_the_count),
          TEST_ENTRY(octet_count_strips_one_trailing_newline),
          TEST_ENTRY(mixed_framing_on_one_stream), TEST_ENTRY(lf_mode_never_counts),
          TEST_ENTRY(octet_mode_counts_without_a_pri),
          TEST_ENTRY(number_without_space_is_lf_framed), TEST_ENTRY(leading_zero_is_not_a_count),
          TEST_ENTRY(long_lf_frame_is_truncated_in_sync),
          TEST_ENTRY(long_octet_frame_is_truncated_in_sync),
          TEST_ENTRY(a_count_longer_than_the_connection_delivers_what_came),
          TEST_ENTRY(two_long_frames_count_twice), TEST_ENTRY(bad_octet_count),
          TEST_ENTRY(digit_run_longer_than_max_is_a_line),
          TEST_ENTRY(need_more_consumes_nothing), TEST_ENTRY(truncation_keeps_discarding_across_reads),
          TEST_ENTRY(digits_only_at_eof_are_a_message),
          TEST_ENTRY(short_octet_frame_at_eof_is_delivered),
          TEST_ENTRY(random_streams_frame_the_same_at_any_split))
