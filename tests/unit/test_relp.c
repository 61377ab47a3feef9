/* test_relp.c - unit tests for the RELP frame parser and response writer. */
#include "relp.h"
#include "test.h"

#include <errno.h>
#include <stdlib.h>

/* What a stream parses to: each frame as "TXNR CMD DATALEN[:DATA][!]" ('!' for truncated),
 * joined with '|', and how it ended: 0 (all consumed, nothing pending), RELP_AGAIN with bytes
 * left, or the negative error. */
struct run {
    char out[16384];
    size_t olen;
    int frames;
    int end;     /* 0: clean; 1: bytes left unparsed; < 0: -RELP_E_* */
    size_t left; /* bytes left unparsed at the end */
};

static void emit(struct run *r, const struct relp_frame *f, int with_data) {
    char h[128];
    int n = snprintf(h, sizeof h, "%s%u %.*s %zu", r->frames++ ? "|" : "", f->txnr, (int)f->cmd_n, f->cmd_p,
                     f->datalen);
    ASSERT(r->olen + (size_t)n + f->datalen + 3 < sizeof r->out);
    memcpy(r->out + r->olen, h, (size_t)n);
    r->olen += (size_t)n;
    if (with_data && f->datalen) {
        r->out[r->olen++] = ':';
        memcpy(r->out + r->olen, f->data, f->datalen);
        r->olen += f->datalen;
    }
    if (f->truncated) r->out[r->olen++] = '!';
    r->out[r->olen] = 0;
}

/* Feeds in[0..n) in reads of the given sizes (cycled; {0} = all at once), the way a
 * connection does: unconsumed bytes stay buffered and new input is appended. */
static void feed(const char *in, size_t n, const size_t *chunks, size_t nchunks, size_t max, int with_data,
                 struct run *r) {
    struct relp_state st = {0};
    char *buf = malloc(n + 1);
    size_t have = 0, pos = 0, c = 0;
    ASSERT(buf != NULL);
    memset(r, 0, sizeof *r);
    while (pos < n || have) {
        size_t k = chunks[c++ % nchunks];
        if (!k || k > n - pos) k = n - pos;
        memcpy(buf + have, in + pos, k);
        have += k;
        pos += k;
        for (;;) {
            struct relp_frame f;
            int s = relp_next(&st, buf, have, max, &f);
            ASSERT(f.consumed <= have);
            if (s < 0) {
                r->end = s;
                free(buf);
                return;
            }
            if (s == RELP_FRAME) {
                ASSERT(f.datalen <= max);
                ASSERT(f.data >= buf && f.data + f.datalen <= buf + have);
                emit(r, &f, with_data);
            }
            memmove(buf, buf + f.consumed, have - f.consumed);
            have -= f.consumed;
            if (s != RELP_FRAME && !f.consumed) break;
        }
        if (pos == n) break;
    }
    r->left = have;
    r->end = have || st.skip || st.skip_trailer ? 1 : 0;
    free(buf);
}

static void parse_all(const char *in, size_t max, struct run *r) {
    static const size_t whole[] = {0};
    feed(in, strlen(in), whole, 1, max, 1, r);
}

/* The first status relp_next returns on a stream given all at once (RELP_FRAME/AGAIN/-E). */
static int first(const char *in, size_t max) {
    struct relp_state st = {0};
    struct relp_frame f;
    return relp_next(&st, in, strlen(in), max, &f);
}

static const char OPEN[] = "1 open 86 relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\n"
                           "commands=syslog\n";

TEST(test_commands) {
    struct run r;
    char in[1024];
    snprintf(in, sizeof in, "%s2 syslog 5 hello\n3 close 0\n", OPEN);
    parse_all(in, 1024, &r);
    ASSERT_EQ_INT(r.end, 0);
    ASSERT_EQ_STR(r.out, "1 open 86:relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\n"
                         "commands=syslog|2 syslog 5:hello|3 close 0");

    struct relp_state st = {0};
    struct relp_frame f;
    static const struct {
        const char *in;
        enum relp_cmd cmd;
    } cases[] = {
        {"1 open 0\n", RELP_CMD_OPEN},           {"1 syslog 1 x\n", RELP_CMD_SYSLOG},
        {"1 close 0\n", RELP_CMD_CLOSE},         {"0 serverclose 0\n", RELP_CMD_SERVERCLOSE},
        {"1 rsp 6 200 OK\n", RELP_CMD_RSP},      {"1 starttls 0\n", RELP_CMD_UNKNOWN},
        {"1 SYSLOG 1 x\n", RELP_CMD_UNKNOWN},    {"1 syslogx 1 x\n", RELP_CMD_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st = (struct relp_state){0};
        ASSERT_EQ_INT(relp_next(&st, cases[i].in, strlen(cases[i].in), 64, &f), RELP_FRAME);
        ASSERT_EQ_INT(f.cmd, cases[i].cmd);
        ASSERT_EQ_INT(f.consumed, strlen(cases[i].in));
    }
    /* A frame's data may hold anything, LF and NUL included. */
    static const char bin[] = "1 syslog 5 a\n\0b\n\n";
    st = (struct relp_state){0};
    ASSERT_EQ_INT(relp_next(&st, bin, sizeof bin - 1, 64, &f), RELP_FRAME);
    ASSERT_EQ_INT(f.datalen, 5);
    ASSERT(memcmp(f.data, "a\n\0b\n", 5) == 0);
    ASSERT_EQ_INT(f.consumed, sizeof bin - 1);
}

/* Every way of cutting the stream into two reads, and reads of 1..7 bytes, give the frames
 * the whole stream gives. */
TEST(test_split_every_byte) {
    char in[2048];
    int n = snprintf(in, sizeof in, "%s2 syslog 5 hello\n0 serverclose 0\n3 syslog 11 0123456789\n\n"
                                    "4 syslog 30 %s\n5 close 0\n", OPEN, "abcdefghijklmnopqrstuvwxyzABCD");
    for (size_t max = 8; max <= 64; max += 56) {
        struct run whole, split;
        parse_all(in, max, &whole);
        ASSERT_EQ_INT(whole.end, 0);
        ASSERT_EQ_INT(whole.frames, 6);
        for (size_t k = 1; k < (size_t)n; k++) {
            size_t two[] = {k, 0};
            feed(in, (size_t)n, two, 2, max, 1, &split);
            ASSERT_EQ_INT(split.end, 0);
            ASSERT_EQ_STR(split.out, whole.out);
        }
        for (size_t k = 1; k <= 7; k++) {
            feed(in, (size_t)n, &k, 1, max, 1, &split);
            ASSERT_EQ_INT(split.end, 0);
            ASSERT_EQ_STR(split.out, whole.out);
        }
    }
}

TEST(test_bad_txnr) {
    ASSERT_EQ_INT(first("x syslog 1 a\n", 64), -RELP_E_TXNR);
    ASSERT_EQ_INT(first(" 1 syslog 1 a\n", 64), -RELP_E_TXNR);
    ASSERT_EQ_INT(first("1x syslog 1 a\n", 64), -RELP_E_TXNR);
    ASSERT_EQ_INT(first("1\nsyslog 1 a\n", 64), -RELP_E_TXNR);
    ASSERT_EQ_INT(first("-1 syslog 1 a\n", 64), -RELP_E_TXNR);
    /* Ten digits are refused as soon as the tenth arrives, before any space. */
    ASSERT_EQ_INT(first("0000000001", 64), -RELP_E_TXNR);
    ASSERT_EQ_INT(first("1000000000 syslog 1 a\n", 64), -RELP_E_TXNR);
    ASSERT_EQ_INT(first("000000001 syslog 1 a\n", 64), RELP_FRAME); /* nine digits, leading zeros */
    /* The sequence: from 1, one by one; hints (0) outside it. */
    ASSERT_EQ_INT(first("2 syslog 1 a\n", 64), -RELP_E_TXNR_SEQ);
    ASSERT_EQ_INT(first("0 syslog 1 a\n", 64), RELP_FRAME);
    struct run r;
    parse_all("1 syslog 1 a\n0 serverclose 0\n2 syslog 1 b\n2 syslog 1 c\n", 64, &r);
    ASSERT_EQ_INT(r.end, -RELP_E_TXNR_SEQ);
    ASSERT_EQ_STR(r.out, "1 syslog 1:a|0 serverclose 0|2 syslog 1:b");
    /* Refused as soon as the TXNR and its space are here. */
    struct relp_state st = {.last_txnr = 5};
    struct relp_frame f;
    ASSERT_EQ_INT(relp_next(&st, "7 ", 2, 64, &f), -RELP_E_TXNR_SEQ);
    ASSERT_EQ_INT(relp_next(&st, "6 ", 2, 64, &f), RELP_AGAIN);
    ASSERT_EQ_INT(st.last_txnr, 5); /* not moved on before the frame is complete */
    /* Wrap: 999999999 is followed by 1. */
    st = (struct relp_state){.last_txnr = RELP_MAX_TXNR - 1};
    ASSERT_EQ_INT(relp_next(&st, "999999999 syslog 1 a\n", 21, 64, &f), RELP_FRAME);
    ASSERT_EQ_INT(f.txnr, RELP_MAX_TXNR);
    ASSERT_EQ_INT(relp_next(&st, "1 syslog 1 a\n", 13, 64, &f), RELP_FRAME);
    ASSERT_EQ_INT(relp_txnr_next(RELP_MAX_TXNR), 1);
    ASSERT_EQ_INT(relp_txnr_next(0), 1);
}

TEST(test_bad_command) {
    char in[128];
    snprintf(in, sizeof in, "1 %.*s 0\n", RELP_MAX_CMD, "abcdefghijklmnopqrstuvwxyzabcdefghijkl");
    ASSERT_EQ_INT(first(in, 64), RELP_FRAME);
    snprintf(in, sizeof in, "1 %.*s", RELP_MAX_CMD + 1, "abcdefghijklmnopqrstuvwxyzabcdefghijkl");
    ASSERT_EQ_INT(first(in, 64), -RELP_E_CMD); /* refused at the 33rd letter */
    ASSERT_EQ_INT(first("1  0\n", 64), -RELP_E_CMD);
    ASSERT_EQ_INT(first("1 sys1og 1 a\n", 64), -RELP_E_CMD);
    ASSERT_EQ_INT(first("1 syslog\n", 64), -RELP_E_CMD);
    ASSERT_EQ_INT(first("1 syslog", 64), RELP_AGAIN);
}

TEST(test_bad_datalen) {
    ASSERT_EQ_INT(first("1 syslog \n", 64), -RELP_E_DATALEN); /* librelp takes this as 0 */
    ASSERT_EQ_INT(first("1 syslog  a\n", 64), -RELP_E_DATALEN);
    ASSERT_EQ_INT(first("1 syslog x\n", 64), -RELP_E_DATALEN);
    ASSERT_EQ_INT(first("1 syslog 5\n", 64), -RELP_E_DATALEN); /* data announced, none */
    ASSERT_EQ_INT(first("1 syslog 0 \n", 64), -RELP_E_DATALEN);
    ASSERT_EQ_INT(first("1 syslog 0 a\n", 64), -RELP_E_DATALEN);
    ASSERT_EQ_INT(first("1 syslog 1x\n", 64), -RELP_E_DATALEN);
    ASSERT_EQ_INT(first("1 syslog 1\r\n", 64), -RELP_E_DATALEN);
    ASSERT_EQ_INT(first("1 syslog 0000000000", 64), -RELP_E_DATALEN); /* ten digits */
    ASSERT_EQ_INT(first("1 syslog 000000001 a\n", 64), RELP_FRAME);
    ASSERT_EQ_INT(first("1 syslog 00 ", 64), -RELP_E_DATALEN);
    ASSERT_EQ_INT(first("1 syslog 00\n", 64), RELP_FRAME);
    ASSERT_EQ_INT(first("1 syslog 12", 64), RELP_AGAIN);
}

TEST(test_bad_trailer) {
    ASSERT_EQ_INT(first("1 syslog 5 helloX", 64), -RELP_E_TRAILER);
    ASSERT_EQ_INT(first("1 syslog 2 ok\r\n", 64), -RELP_E_TRAILER); /* CRLF: librelp refuses it too */
    ASSERT_EQ_INT(first("1 syslog 5 hello", 64), RELP_AGAIN);
    ASSERT_EQ_INT(first("1 syslog 4 hello\n", 64), -RELP_E_TRAILER); /* DATALEN one short */
    /* After a good frame, the bad one ends the stream. */
    struct run r;
    parse_all("1 syslog 1 a\n2 syslog 1 bc\n3 syslog 1 d\n", 64, &r);
    ASSERT_EQ_INT(r.end, -RELP_E_TRAILER);
    ASSERT_EQ_STR(r.out, "1 syslog 1:a");
}

TEST(test_max_sizes) {
    struct run r;
    /* DATALEN == max: whole. max + 1: the first max bytes, the rest skipped, in sync after. */
    parse_all("1 syslog 4 abcd\n2 syslog 5 abcde\n3 syslog 1 x\n", 4, &r);
    ASSERT_EQ_INT(r.end, 0);
    ASSERT_EQ_STR(r.out, "1 syslog 4:abcd|2 syslog 4:abcd!|3 syslog 1:x");
    /* Delivered as soon as max bytes are here, before the rest has come. */
    struct relp_state st = {0};
    struct relp_frame f;
    ASSERT_EQ_INT(relp_next(&st, "1 syslog 1000 abcd", 18, 4, &f), RELP_FRAME);
    ASSERT(f.truncated);
    ASSERT_EQ_MEM(f.data, f.datalen, "abcd");
    ASSERT_EQ_INT(f.consumed, 18);
    ASSERT_EQ_INT(st.skip, 996);
    /* The rest is discarded in whatever reads it comes in; then its trailer is checked. */
    char rest[1000];
    memset(rest, 'z', sizeof rest);
    ASSERT_EQ_INT(relp_next(&st, rest, 990, 4, &f), RELP_AGAIN);
    ASSERT_EQ_INT(f.consumed, 990);
    ASSERT_EQ_INT(relp_next(&st, rest, 6, 4, &f), RELP_AGAIN);
    ASSERT_EQ_INT(f.consumed, 6);
    ASSERT(st.skip_trailer);
    ASSERT_EQ_INT(relp_next(&st, "x", 1, 4, &f), -RELP_E_TRAILER);
    st.skip_trailer = 1;
    ASSERT_EQ_INT(relp_next(&st, "\n2 syslog 1 y\n", 14, 4, &f), RELP_AGAIN);
    ASSERT_EQ_INT(f.consumed, 1);
    ASSERT_EQ_INT(relp_next(&st, "2 syslog 1 y\n", 13, 4, &f), RELP_FRAME);
    /* The largest DATALEN there is, 999999999, is skipped like any other. */
    st = (struct relp_state){0};
    ASSERT_EQ_INT(relp_next(&st, "1 syslog 999999999 ab", 21, 2, &f), RELP_FRAME);
    ASSERT(f.truncated);
    ASSERT_EQ_INT(st.skip, 999999999 - 2);
    /* max_data 0: the frame is announced with no data at all. */
    parse_all("1 syslog 3 abc\n2 close 0\n", 0, &r);
    ASSERT_EQ_STR(r.out, "1 syslog 0!|2 close 0");
    /* A truncated frame split at every byte keeps the same result. */
    const char *in = "1 syslog 10 0123456789\n2 syslog 3 abc\n";
    struct run whole, split;
    parse_all(in, 3, &whole);
    ASSERT_EQ_STR(whole.out, "1 syslog 3:012!|2 syslog 3:abc");
    for (size_t k = 1; k < strlen(in); k++) {
        size_t two[] = {k, 0};
        feed(in, strlen(in), two, 2, 3, 1, &split);
        ASSERT_EQ_INT(split.end, 0);
        ASSERT_EQ_STR(split.out, whole.out);
    }
}

TEST(test_rsp) {
    struct buf b = {0};
    ASSERT_EQ_INT(relp_rsp(&b, 2, 200, "OK", NULL, 0), 0);
    ASSERT_EQ_MEM(b.p, b.len, "2 rsp 6 200 OK\n");
    b.len = 0;
    ASSERT_EQ_INT(relp_rsp(&b, 3, 0, NULL, NULL, 0), 0);
    ASSERT_EQ_MEM(b.p, b.len, "3 rsp 0\n");
    b.len = 0;
    ASSERT_EQ_INT(relp_rsp(&b, 999999999, 500, "message too long", NULL, 0), 0);
    ASSERT_EQ_MEM(b.p, b.len, "999999999 rsp 20 500 message too long\n");
    b.len = 0;
    ASSERT_EQ_INT(relp_rsp(&b, 4, 500, "", NULL, 0), 0);
    ASSERT_EQ_MEM(b.p, b.len, "4 rsp 4 500 \n");
    b.len = 0;
    ASSERT_EQ_INT(relp_rsp(&b, 5, 200, "OK", "a\nb", 3), 0);
    ASSERT_EQ_MEM(b.p, b.len, "5 rsp 10 200 OK\na\nb\n");
    b.len = 0;
    ASSERT_EQ_INT(relp_rsp(&b, 1000000000, 200, "OK", NULL, 0), -EINVAL);
    ASSERT_EQ_INT(relp_rsp(&b, 1, 99, "OK", NULL, 0), -EINVAL);
    ASSERT_EQ_INT(relp_rsp(&b, 1, 1000, "OK", NULL, 0), -EINVAL);
    ASSERT_EQ_INT(relp_rsp(&b, 1, 500, "a\nb", NULL, 0), -EINVAL);
    char text[RELP_MAX_TEXT + 2];
    memset(text, 't', sizeof text - 1);
    text[sizeof text - 1] = 0;
    ASSERT_EQ_INT(relp_rsp(&b, 1, 500, text, NULL, 0), -EINVAL);
    text[RELP_MAX_TEXT] = 0;
    ASSERT_EQ_INT(relp_rsp(&b, 1, 500, text, NULL, 0), 0);
    b.len = 0;
    ASSERT_EQ_INT(relp_rsp_open(&b, 1, "a\nb"), -EINVAL);
    ASSERT_EQ_INT(b.len, 0);
    relp_serverclose(&b);
    ASSERT_EQ_MEM(b.p, b.len, "0 serverclose 0\n");
    /* What we write, the parser reads (a client parses the same frame syntax). */
    b.len = 0;
    ASSERT_EQ_INT(relp_rsp_open(&b, 1, "hotdog,0.0.0,https://example.invalid"), 0);
    ASSERT_EQ_INT(relp_rsp(&b, 2, 200, "OK", NULL, 0), 0);
    ASSERT_EQ_INT(relp_rsp(&b, 3, 0, NULL, NULL, 0), 0);
    relp_serverclose(&b);
    struct run r;
    static const size_t whole[] = {0};
    feed(b.p, b.len, whole, 1, 4096, 0, &r);
    ASSERT_EQ_INT(r.end, 0);
    ASSERT_EQ_STR(r.out, "1 rsp 88|2 rsp 6|3 rsp 0|0 serverclose 0");
    buf_free(&b);
}

TEST(test_offers) {
    struct relp_offers o;
    const char *d = OPEN + 10; /* after "1 open 86 " */
    ASSERT_EQ_INT(relp_offers_parse(d, 86, &o), 0);
    ASSERT_EQ_INT(o.version, 0);
    ASSERT_EQ_INT(o.syslog, 1);
    ASSERT_EQ_MEM(o.software, o.software_n, "librelp,1.11.0,http://librelp.adiscon.com");
    /* imrelp answers these "500 required command not supported by client". */
    ASSERT_EQ_INT(relp_offers_parse("relp_version=0", 14, &o), -RELP_E_OFFERS);
    ASSERT_EQ_INT(o.version, 0);
    ASSERT_EQ_INT(o.syslog, 0);
    ASSERT_EQ_INT(relp_offers_parse("commands=syslog", 15, &o), -RELP_E_OFFERS);
    ASSERT_EQ_INT(o.version, -1);
    ASSERT_EQ_INT(relp_offers_parse("relp_version=1,x\ncommands=syslog", 32, &o), -RELP_E_OFFERS);
    ASSERT_EQ_INT(relp_offers_parse("relp_version=\ncommands=syslog", 29, &o), -RELP_E_OFFERS);
    ASSERT_EQ_INT(relp_offers_parse("relp_version\ncommands=syslog", 28, &o), -RELP_E_OFFERS);
    ASSERT_EQ_INT(relp_offers_parse("commands=eventlog,syslog\nrelp_version=1\nfuture=a,b", 50, &o), 0);
    ASSERT_EQ_INT(o.version, 1);
    ASSERT_EQ_INT(relp_offers_parse("commands=syslogx,sys\nrelp_version=0", 35, &o), -RELP_E_OFFERS);
    ASSERT_EQ_INT(relp_offers_parse("", 0, &o), -RELP_E_OFFERS);
}

/* tests/data/relp-session.bin: the bytes rsyslog 8.2302.0's omrelp (librelp 1.11.0) sent to a
 * recording server for six messages, ended by stopping rsyslogd (doc/relp-design.md,
 * "Transcript"). Found from this file's name, as test_spool.c finds its fixture. */
static size_t read_transcript(char *out, size_t cap) {
    char path[512];
    const char *f = __FILE__, *slash = strrchr(f, '/');
    if (slash) snprintf(path, sizeof path, "%.*s/../data/relp-session.bin", (int)(slash - f), f);
    else snprintf(path, sizeof path, "../data/relp-session.bin");
    FILE *fp = fopen(path, "rb");
    if (!fp) fprintf(stderr, "  cannot open %s\n", path);
    ASSERT(fp != NULL);
    size_t n = fread(out, 1, cap, fp);
    fclose(fp);
    return n;
}

/* What imrelp (librelp 1.11.0) answered to the same session, byte for byte, but for
 * relp_software, which names us. */
static const char IMRELP_ANSWER[] =
    "1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n"
    "2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 6 200 OK\n5 rsp 6 200 OK\n6 rsp 6 200 OK\n7 rsp 6 200 OK\n"
    "8 rsp 0\n0 serverclose 0\n";

TEST(test_transcript) {
    char in[4096];
    size_t n = read_transcript(in, sizeof in);
    ASSERT(n > 0 && n < sizeof in);
    struct relp_state st = {0};
    struct buf answer = {0};
    size_t pos = 0;
    int syslogs = 0, closed = 0;
    while (pos < n) {
        struct relp_frame f;
        int s = relp_next(&st, in + pos, n - pos, 8192, &f);
        ASSERT_EQ_INT(s, RELP_FRAME);
        pos += f.consumed;
        if (f.cmd == RELP_CMD_OPEN) {
            struct relp_offers o;
            ASSERT_EQ_INT(relp_offers_parse(f.data, f.datalen, &o), 0);
            ASSERT_EQ_INT(relp_rsp_open(&answer, f.txnr, "librelp,1.11.0,http://librelp.adiscon.com"), 0);
        } else if (f.cmd == RELP_CMD_SYSLOG) {
            syslogs++;
            ASSERT(f.datalen > 40);
            ASSERT(memcmp(f.data, "<1", 2) == 0);
            ASSERT(!f.truncated);
            ASSERT_EQ_INT(relp_rsp(&answer, f.txnr, 200, "OK", NULL, 0), 0);
        } else {
            ASSERT_EQ_INT(f.cmd, RELP_CMD_CLOSE);
            ASSERT_EQ_INT(f.datalen, 0);
            ASSERT_EQ_INT(relp_rsp(&answer, f.txnr, 0, NULL, NULL, 0), 0);
            relp_serverclose(&answer);
            closed = 1;
        }
    }
    ASSERT_EQ_INT(syslogs, 6);
    ASSERT(closed);
    ASSERT_EQ_INT(st.last_txnr, 8);
    ASSERT_EQ_MEM(answer.p, answer.len, IMRELP_ANSWER);
    buf_free(&answer);
    /* And at every split into two reads. */
    for (size_t k = 1; k < n; k++) {
        size_t two[] = {k, 0};
        struct run r;
        feed(in, n, two, 2, 8192, 0, &r);
        ASSERT_EQ_INT(r.end, 0);
        ASSERT_EQ_INT(r.frames, 8);
    }
}

TEST(test_strerror) {
    for (int e = RELP_E_TXNR; e <= RELP_E_OFFERS; e++) ASSERT(strcmp(relp_strerror(-e), "unknown RELP error") != 0);
    ASSERT_EQ_STR(relp_strerror(0), "unknown RELP error");
}

int main(int argc, char **argv) {
    static const struct test_case tests[] = {
        TEST_ENTRY(test_commands),   TEST_ENTRY(test_split_every_byte), TEST_ENTRY(test_bad_txnr),
        TEST_ENTRY(test_bad_command), TEST_ENTRY(test_bad_datalen),    TEST_ENTRY(test_bad_trailer),
        TEST_ENTRY(test_max_sizes),  TEST_ENTRY(test_rsp),              TEST_ENTRY(test_offers),
        TEST_ENTRY(test_transcript), TEST_ENTRY(test_strerror),
    };
    return test_run("test_relp", argc, argv, tests, sizeof tests / sizeof tests[0]);
}
