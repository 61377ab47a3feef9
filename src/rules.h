/* rules.h - the ordered rules of hotdog.yml: compiled once, run over every parsed message. */
#ifndef HOTDOG_RULES_H
#define HOTDOG_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "record.h"
#include "syslog.h"

/* A message (or merge input) whose JSON would have more values than this is not parsed for
 * JMESPath or merge (counted in error.json_limit): a DOM costs ~50x its text, so this bounds
 * what one message can make a worker allocate to a few tens of MB. */
#define RULES_JSON_MAX_NODES 200000

/* Regex resources, measured with PCRE2 10.42 on lines of the default max_message_size
 * (999,000 bytes; doc/rules.md, "When a regex cannot finish"):
 *  - The JIT's stack: a pattern that repeats a group (`^(\w|\s)+$`, `^(?:a|b)+$`, key=value
 *    lists) pushes a frame per repetition, so the stack grows with the line: 24 to 48 bytes
 *    per byte of line for every such pattern measured, nothing for the others (`\w+`,
 *    `^(?P<f>.+)$`: one page). PCRE2's default (32 KiB) fails `^(\w|\s)+$` from 1,024 bytes.
 *    Each instance reserves RULES_JIT_STACK_PER_BYTE bytes per byte of the longest listener's
 *    max_message_size (61 MiB at the default), within [MIN, MAX]: address space only, pages
 *    become resident as deep as a match goes. After a run of lines longer than
 *    RULES_JIT_KEEP_LINE (which could leave more than 3 MiB resident) the stack is replaced by
 *    a fresh one. Where the stack's limit starts (RULES_JIT_STACK_START) made no difference
 *    measured: growing within the reservation is a pointer move.
 *  - A match that exhausts it is retried once by the interpreter, whose frames are on the
 *    heap (8 to 12 times what the JIT's stack needs: 281 MB for `^(\w|\s)+$` on 999,000
 *    bytes), within RULES_HEAP_LIMIT_KIB; what it keeps is released after the message when
 *    above RULES_HEAP_KEEP. Where the JIT is not available it is the only engine, within the
 *    same limits.
 *  - RULES_MATCH_LIMIT (PCRE2's default) bounds backtracking in both engines: a 999,000-byte
 *    line needs at most 1 million (JIT) or 3 million (interpreter); a ReDoS pattern
 *    (`^(a+)+$` on "aaa...!") stops after 17-52 ms in the JIT, 88-173 ms in the interpreter.
 *    The JIT's MATCHLIMIT is not retried: the interpreter at the same limit failed the same
 *    matches in every case measured, several times more slowly. */
#define RULES_JIT_STACK_PER_BYTE 64
#define RULES_JIT_STACK_MIN (1u << 20)
#define RULES_JIT_STACK_MAX (256u << 20)
#define RULES_JIT_STACK_START (32u << 10)
#define RULES_JIT_KEEP_LINE (64u << 10)
#define RULES_HEAP_LIMIT_KIB (64u << 10)
#define RULES_HEAP_KEEP (1u << 20)
#define RULES_MATCH_LIMIT 10000000u

/* Variables every template can use; ids of regex groups follow RULES_VAR_COUNT. */
enum rules_var {
    VAR_MSG, VAR_VERSION, VAR_ISO8601, VAR_HOSTNAME, VAR_APPNAME, VAR_PROCID, VAR_MSGID,
    VAR_FACILITY, VAR_SEVERITY, VAR_TIMESTAMP, VAR_VALUE, RULES_VAR_COUNT
};

/* What the rules decided for one message. rec's pointers stay valid until the next rules_eval
 * on the same struct rules (they point into its reused buffers, or into the message). */
struct rules_out {
    int forward; /* 0: no rule forwarded it (counted as unmatched, not sent) */
    int rule;    /* index of the forwarding rule, -1 for the default route */
    /* The rules fill topic (NUL-terminated), key, payload, headers and timestamp_ms (0 unless
     * the forward has `timestamp: message` and the message a timestamp that can be read);
     * recv_us, source and part are 0, for the caller to set (and timestamp_ms when 0). */
    struct record rec;
};

struct rules;

/* Compiles every rule of c: regexes (PCRE2 with JIT), JMESPath expressions, templates and
 * merge maps. Each thread that evaluates rules makes its own instance, so instances share no
 * mutable state. Counters go to shard (NULL: not counted, as in test mode). On error returns
 * NULL with "FILE:LINE: 'rules[N].key': reason" in err. The instance borrows c. */
struct rules *rules_new(const struct config *c, struct metrics_shard *shard, char *err,
                        size_t errlen);
void rules_free(struct rules *r);
/* A tag for the owner: the reload generation this instance was compiled for (0 at start). */
void rules_set_gen(struct rules *r, unsigned gen);
unsigned rules_gen(const struct rules *r);
/* How many regex rules run without PCRE2's JIT (its compiler failed: no executable memory
 * under MemoryDenyWriteExecute= or a seccomp filter, or no JIT on this CPU); the first one's
 * index and PCRE2's reason in *first and why. They still match, more slowly. */
size_t rules_jit_fallback(const struct rules *r, size_t *first, char *why, size_t whylen);

/* Runs the rules, in order, over msg. With no rules configured, every message goes to
 * global.kafka.topic. runs on: the thread that owns r. */
void rules_eval(struct rules *r, const struct syslog_msg *msg, struct rules_out *out);

/* For test mode and metrics. */
size_t rules_count(const struct rules *r);
/* Whether rule i's matcher matches msg, regardless of the rules before it. */
int rules_matches(struct rules *r, size_t i, const struct syslog_msg *msg);
const char *rules_pattern(const struct rules *r, size_t i);
/* The pattern as PCRE2 must read it to match as the original's Rust regex did (\w, \b and
 * POSIX classes), malloc'd; NULL when the pattern needs no rewriting. */
char *rules_rust_pattern(const char *src);
const char *rules_matcher(const struct rules *r, size_t i); /* "regex" or "jmespath" */
uint64_t rules_matched(const struct rules *r, size_t i);   /* times rule i matched in rules_eval */
/* Regex matches the JIT gave up for lack of stack and the interpreter retried, and the bytes
 * the interpreter's match data holds now (both for tests). */
uint64_t rules_regex_retries(const struct rules *r);
size_t rules_regex_heap(const struct rules *r);
/* The JIT stack's maximum size for c (bytes). */
size_t rules_jit_stack_size(const struct config *c);

#endif
