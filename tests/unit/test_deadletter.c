/* test_deadletter.c - unit tests for the dead-letter file: every line parses as JSON with the
 * record's fields (topic, key, timestamp, headers, payload; base64 where the bytes are not
 * UTF-8), concurrent writers never interleave, a reopen after logrotate's rename writes to the
 * new file, and failures return a negative errno. Each test works in its own mkdtemp directory. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "deadletter.h"
#include "record.h"
#include "test.h"

struct fixture {
    char dir[64];
    char path[128];
};

static void fixture_init(struct fixture *f) {
    snprintf(f->dir, sizeof f->dir, "/tmp/hotdog-test-dl-XXXXXX");
    ASSERT(mkdtemp(f->dir) != NULL);
    snprintf(f->path, sizeof f->path, "%s/dead.jsonl", f->dir);
}

static void fixture_done(struct fixture *f) {
    unlink(f->path);
    rmdir(f->dir);
}

/* The whole file (malloc'd, NUL-terminated); *n gets its length. */
static char *slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    ASSERT(fp != NULL);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)size + 1);
    ASSERT(s != NULL);
    ASSERT_EQ_INT(fread(s, 1, (size_t)size, fp), size);
    fclose(fp);
    s[size] = 0;
    *n = (size_t)size;
    return s;
}

/* Splits the file into lines, each parsed as one JSON object (any failure fails the test).
 * Returns how many; lines[] get new references. The file must end in a newline. */
static size_t read_lines(const char *path, json_t **lines, size_t max) {
    size_t n;
    char *s = slurp(path, &n);
    ASSERT(n == 0 || s[n - 1] == '\n');
    size_t count = 0;
    for (char *p = s; p < s + n;) {
        char *nl = memchr(p, '\n', (size_t)(s + n - p));
        ASSERT(nl != NULL);
        ASSERT(count < max);
        json_error_t err;
        json_t *v = json_loadb(p, (size_t)(nl - p), 0, &err);
        if (!v) fprintf(stderr, "  line %zu: %s\n", count + 1, err.text);
        ASSERT(v != NULL);
        ASSERT(json_is_object(v));
        lines[count++] = v;
        p = nl + 1;
    }
    free(s);
    return count;
}

static const char *str(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The keys of o, in order, joined with commas (static buffer). */
static const char *keys(json_t *o) {
    static char out[512];
    out[0] = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (out[0]) strcat(out, ",");
        strcat(out, k);
    }
    return out;
}

static size_t write_one(const char *path, const struct record *r, json_t **lines, size_t max) {
    char err[256];
    struct deadletter *d = deadletter_open(path, err, sizeof err);
    ASSERT(d != NULL);
    ASSERT_EQ_INT(deadletter_write(d, r, "MSG_SIZE_TOO_LARGE", "Broker: Message size too large"), 0);
    deadletter_close(d);
    return read_lines(path, lines, max);
}

TEST(a_line_has_every_field_of_the_record) {
    struct fixture f;
    fixture_init(&f);
    struct buf h = {0};
    record_header_add(&h, "host", 4, "web-1", 5);
    record_header_add(&h, "trace", 5, NULL, 0);  /* a null value */
    record_header_add(&h, "host", 4, "web-2", 5); /* a repeated name keeps its place */
    record_header_add(&h, "empty", 5, "", 0);
    /* A topic decoded from the spool is not NUL-terminated: only topic_len bytes count. */
    static const char topic[] = "logsTRAILING";
    struct record r = {.topic = topic, .topic_len = 4, .key = "k1", .key_len = 2,
                       .payload = "hello \"world\"\n\xc3\xa9", .len = 16,
                       .headers = h.p, .headers_len = h.len,
                       .timestamp_ms = 1764513720580LL};
    json_t *l[2];
    ASSERT_EQ_INT(write_one(f.path, &r, l, 2), 1);
    ASSERT_EQ_STR(keys(l[0]), "time,topic,key,timestamp_ms,headers,error,reason,payload");
    const char *t = str(l[0], "time");
    ASSERT(t != NULL);
    ASSERT_EQ_INT(strlen(t), strlen("2026-11-30T15:22:00.580Z"));
    ASSERT(t[10] == 'T' && t[23] == 'Z');
    ASSERT_EQ_STR(str(l[0], "topic"), "logs");
    ASSERT_EQ_STR(str(l[0], "key"), "k1");
    ASSERT_EQ_INT(json_integer_value(json_object_get(l[0], "timestamp_ms")), 1764513720580LL);
    ASSERT_EQ_STR(str(l[0], "error"), "MSG_SIZE_TOO_LARGE");
    ASSERT_EQ_STR(str(l[0], "reason"), "Broker: Message size too large");
    ASSERT_EQ_STR(str(l[0], "payload"), "hello \"world\"\n\xc3\xa9");
    json_t *hs = json_object_get(l[0], "headers");
    ASSERT(json_is_array(hs));
    ASSERT_EQ_INT(json_array_size(hs), 4);
    static const char *const names[] = {"host", "trace", "host", "empty"};
    static const char *const values[] = {"web-1", NULL, "web-2", ""};
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(hs, i);
        ASSERT_EQ_STR(keys(e), "name,value");
        ASSERT_EQ_STR(str(e, "name"), names[i]);
        if (values[i]) ASSERT_EQ_STR(str(e, "value"), values[i]);
        else ASSERT(json_is_null(json_object_get(e, "value")));
    }
    json_decref(l[0]);
    buf_free(&h);
    fixture_done(&f);
}

/* Without a key, timestamp or headers the line is today's: the readers of the old format
 * (and the example in doc/delivery.md) see exactly the fields they knew. */
TEST(a_record_without_extras_writes_the_old_fields_only) {
    struct fixture f;
    fixture_init(&f);
    struct record r = {.topic = "logs", .topic_len = 4, .payload = "", .len = 0};
    json_t *l[2];
    ASSERT_EQ_INT(write_one(f.path, &r, l, 2), 1);
    ASSERT_EQ_STR(keys(l[0]), "time,topic,key,error,reason,payload");
    ASSERT(json_is_null(json_object_get(l[0], "key")));
    ASSERT_EQ_STR(str(l[0], "payload"), "");
    json_decref(l[0]);
    /* An empty key is a key, not a missing one; an empty header list is no header list. */
    struct record r2 = {.topic = "logs", .topic_len = 4, .key = "", .key_len = 0,
                        .payload = "x", .len = 1, .headers = "", .headers_len = 0};
    ASSERT_EQ_INT(write_one(f.path, &r2, l, 2), 2);
    ASSERT_EQ_STR(keys(l[1]), "time,topic,key,error,reason,payload");
    ASSERT_EQ_STR(str(l[1], "key"), "");
    json_decref(l[0]);
    json_decref(l[1]);
    fixture_done(&f);
}

/* base64 decoding for the checks (standard alphabet, padded). */
static size_t unbase64(const char *s, unsigned char *out) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0, len = strlen(s);
    ASSERT(len % 4 == 0);
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *c = s[i + j] == '=' ? NULL : strchr(tab, s[i + j]);
            ASSERT(c != NULL || s[i + j] == '=');
            if (!c) pad++;
            v = v << 6 | (c ? (uint32_t)(c - tab) : 0);
        }
        out[n++] = (unsigned char)(v >> 16);
        if (pad < 2) out[n++] = (unsigned char)(v >> 8);
        if (pad < 1) out[n++] = (unsigned char)v;
    }
    return n;
}

#define ASSERT_BASE64(o, key, bytes, nbytes)                                 \
    do {                                                                      \
        const char *b64 = str((o), (key));                                    \
        ASSERT(b64 != NULL);                                                  \
        unsigned char dec[256];                                               \
        ASSERT_EQ_INT(unbase64(b64, dec), (nbytes));                          \
        ASSERT(memcmp(dec, (bytes), (nbytes)) == 0);                          \
    } while (0)

TEST(bytes_that_are_not_utf8_are_written_as_base64) {
    struct fixture f;
    fixture_init(&f);
    struct buf h = {0};
    record_header_add(&h, "bin\xff", 4, "ok", 2);
    record_header_add(&h, "ok", 2, "\x00\x01\xfe", 3);
    /* Lengths 1, 2 and 3 mod 3 so that every padding is exercised. */
    struct record r = {.topic = "t\xc0", .topic_len = 2, .key = "\xff", .key_len = 1,
                       .payload = "a\x00\x80z", .len = 4, .headers = h.p, .headers_len = h.len};
    json_t *l[2];
    ASSERT_EQ_INT(write_one(f.path, &r, l, 2), 1);
    ASSERT_EQ_STR(keys(l[0]), "time,topic_base64,key_base64,headers,error,reason,payload_base64");
    ASSERT_BASE64(l[0], "topic_base64", "t\xc0", 2);
    ASSERT_BASE64(l[0], "key_base64", "\xff", 1);
    ASSERT_BASE64(l[0], "payload_base64", "a\x00\x80z", 4);
    json_t *hs = json_object_get(l[0], "headers");
    ASSERT_EQ_INT(json_array_size(hs), 2);
    json_t *h0 = json_array_get(hs, 0), *h1 = json_array_get(hs, 1);
    ASSERT_EQ_STR(keys(h0), "name_base64,value");
    ASSERT_BASE64(h0, "name_base64", "bin\xff", 4);
    ASSERT_EQ_STR(str(h0, "value"), "ok");
    ASSERT_EQ_STR(keys(h1), "name,value_base64");
    ASSERT_EQ_STR(str(h1, "name"), "ok");
    ASSERT_BASE64(h1, "value_base64", "\x00\x01\xfe", 3);
    /* A NUL is valid UTF-8 (JSON's \u0000), so it stays text. */
    ASSERT_EQ_STR(str(l[0], "error"), "MSG_SIZE_TOO_LARGE");
    json_decref(l[0]);
    buf_free(&h);
    fixture_done(&f);
}

/* Headers that do not unpack (a corrupt spool record) are kept whole rather than dropped. */
TEST(corrupt_packed_headers_are_kept_as_raw_bytes) {
    struct fixture f;
    fixture_init(&f);
    static const char packed[] = "\x05\x00\x01\x00\x00\x00" "ab"; /* claims a 5-byte name */
    struct record r = {.topic = "logs", .topic_len = 4, .payload = "p", .len = 1,
                       .headers = packed, .headers_len = 8};
    json_t *l[2];
    ASSERT_EQ_INT(write_one(f.path, &r, l, 2), 1);
    ASSERT_EQ_STR(keys(l[0]), "time,topic,key,headers_packed_base64,error,reason,payload");
    ASSERT_BASE64(l[0], "headers_packed_base64", packed, 8);
    json_decref(l[0]);
    fixture_done(&f);
}

/* ------------------------------------------------------------------ concurrency */

#define PER_THREAD 400

struct writer {
    struct deadletter *d;
    char tag;
    int failed;
};

/* Payloads of up to ~96 KiB, well past PIPE_BUF and a page, so that two unlocked writers
 * would interleave or tear lines. */
static void *write_many(void *arg) {
    struct writer *w = arg;
    size_t cap = 96 * 1024;
    char *p = malloc(cap);
    for (int i = 0; i < PER_THREAD; i++) {
        size_t n = (size_t)(i * 7919) % cap + 1;
        memset(p, w->tag, n);
        struct record r = {.topic = "t", .topic_len = 1, .key = &w->tag, .key_len = 1,
                           .payload = p, .len = n, .timestamp_ms = i + 1};
        if (deadletter_write(w->d, &r, "E", "reason") != 0) w->failed++;
    }
    free(p);
    return NULL;
}

TEST(concurrent_writers_produce_whole_lines) {
    struct fixture f;
    fixture_init(&f);
    char err[256];
    struct deadletter *d = deadletter_open(f.path, err, sizeof err);
    ASSERT(d != NULL);
    struct writer w[2] = {{d, 'a', 0}, {d, 'b', 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) ASSERT_EQ_INT(pthread_create(&t[i], NULL, write_many, &w[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    deadletter_close(d);
    ASSERT_EQ_INT(w[0].failed + w[1].failed, 0);
    static json_t *l[2 * PER_THREAD + 1];
    ASSERT_EQ_INT(read_lines(f.path, l, 2 * PER_THREAD + 1), 2 * PER_THREAD);
    /* Every line is one writer's whole record, and each writer's lines come in its order. */
    long next[2] = {1, 1};
    for (size_t i = 0; i < 2 * PER_THREAD; i++) {
        const char *key = str(l[i], "key"), *payload = str(l[i], "payload");
        ASSERT(key != NULL && payload != NULL);
        int who = key[0] == 'b';
        long ts = (long)json_integer_value(json_object_get(l[i], "timestamp_ms"));
        ASSERT_EQ_INT(ts, next[who]);
        next[who]++;
        size_t n = (size_t)((ts - 1) * 7919) % (96 * 1024) + 1;
        ASSERT_EQ_INT(strlen(payload), n);
        ASSERT(payload[strspn(payload, key)] == 0);
        json_decref(l[i]);
    }
    fixture_done(&f);
}

/* ------------------------------------------------------------------ reopen and failures */

TEST(reopen_after_rename_writes_to_the_new_file) {
    struct fixture f;
    fixture_init(&f);
    char err[256], moved[160];
    struct deadletter *d = deadletter_open(f.path, err, sizeof err);
    ASSERT(d != NULL);
    struct record r1 = {.topic = "logs", .topic_len = 4, .payload = "before", .len = 6};
    struct record r2 = {.topic = "logs", .topic_len = 4, .payload = "after", .len = 5};
    ASSERT_EQ_INT(deadletter_write(d, &r1, "E", "r"), 0);
    snprintf(moved, sizeof moved, "%s.1", f.path);
    ASSERT_EQ_INT(rename(f.path, moved), 0); /* what logrotate does */
    ASSERT_EQ_INT(deadletter_reopen(d), 0);
    ASSERT_EQ_INT(deadletter_write(d, &r2, "E", "r"), 0);
    deadletter_close(d);
    json_t *l[2];
    ASSERT_EQ_INT(read_lines(moved, l, 2), 1);
    ASSERT_EQ_STR(str(l[0], "payload"), "before");
    json_decref(l[0]);
    ASSERT_EQ_INT(read_lines(f.path, l, 2), 1);
    ASSERT_EQ_STR(str(l[0], "payload"), "after");
    json_decref(l[0]);
    unlink(moved);
    fixture_done(&f);
}

/* A reopen that fails says why (a negative errno, as every module now does) and leaves the
 * old file in use, so nothing is lost. */
TEST(a_failed_reopen_returns_the_errno_and_keeps_the_old_file) {
    struct fixture f;
    fixture_init(&f);
    char err[256], moved_dir[96], moved[192];
    struct deadletter *d = deadletter_open(f.path, err, sizeof err);
    ASSERT(d != NULL);
    snprintf(moved_dir, sizeof moved_dir, "%s.gone", f.dir);
    ASSERT_EQ_INT(rename(f.dir, moved_dir), 0); /* the directory is gone: open fails */
    ASSERT_EQ_INT(deadletter_reopen(d), -ENOENT);
    struct record r = {.topic = "logs", .topic_len = 4, .payload = "kept", .len = 4};
    ASSERT_EQ_INT(deadletter_write(d, &r, "E", "r"), 0);
    deadletter_close(d);
    snprintf(moved, sizeof moved, "%s/dead.jsonl", moved_dir);
    json_t *l[2];
    ASSERT_EQ_INT(read_lines(moved, l, 2), 1);
    ASSERT_EQ_STR(str(l[0], "payload"), "kept");
    json_decref(l[0]);
    unlink(moved);
    rmdir(moved_dir);
}

TEST(a_failed_write_returns_the_errno) {
    char err[256];
    struct deadletter *d = deadletter_open("/dev/full", err, sizeof err);
    ASSERT(d != NULL);
    struct record r = {.topic = "logs", .topic_len = 4, .payload = "x", .len = 1};
    ASSERT_EQ_INT(deadletter_write(d, &r, "E", "r"), -ENOSPC);
    deadletter_close(d);
}

TEST(open_failure_says_why) {
    char err[256];
    ASSERT(deadletter_open("/nonexistent-dir/dead.jsonl", err, sizeof err) == NULL);
    ASSERT(strstr(err, "/nonexistent-dir/dead.jsonl") != NULL);
    ASSERT(strstr(err, strerror(ENOENT)) != NULL);
}

TEST_MAIN("test_deadletter", TEST_ENTRY(a_line_has_every_field_of_the_record),
          TEST_ENTRY(a_record_without_extras_writes_the_old_fields_only),
          TEST_ENTRY(bytes_that_are_not_utf8_are_written_as_base64),
          TEST_ENTRY(corrupt_packed_headers_are_kept_as_raw_bytes),
          TEST_ENTRY(concurrent_writers_produce_whole_lines),
          TEST_ENTRY(reopen_after_rename_writes_to_the_new_file),
          TEST_ENTRY(a_failed_reopen_returns_the_errno_and_keeps_the_old_file),
          TEST_ENTRY(a_failed_write_returns_the_errno),
          TEST_ENTRY(open_failure_says_why))
