/* rules.c - the ordered rules of hotdog.yml: compiled once, run over every parsed message. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rules.h"

#include <malloc.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "format.h"
#include "jmespath.h"
#include "jdoc.h"
#include "jsonio.h"
#include "log.h"
#include "merge.h"
#include "template.h"
#include "version.h"

/* The original hotdog used Rust's regex crate: Unicode-aware classes over UTF-8 text. PCRE2
 * matches that with UTF + UCP; MATCH_INVALID_UTF keeps hostile bytes from failing a match. */
#define RULES_PCRE2_OPTIONS (PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF)

static const char *const var_names[RULES_VAR_COUNT] = {
    "msg", "version", "iso8601", "hostname", "appname", "procid", "msgid",
    "facility", "severity", "timestamp", "value"};

struct action {
    const struct config_action *cfg;
    struct tmpl *topic, *key, *tmpl;
    struct tmpl **headers; /* cfg->nheaders value templates */
    struct merge *merge;
};

/* A named group of a rule's regex, for format: json's "captures". */
struct named_group {
    const char *name; /* in the compiled pattern's name table, NUL-terminated */
    size_t len;
    uint32_t group;
};

/* Field chains longer than this (a.b.c...) are evaluated as any other JMESPath. */
#define RULES_PATH_MAX 16

struct rule {
    const struct config_rule *cfg;
    pcre2_code *re;
    int jit, jit_rc;
    struct jp_expr *jp;
    /* The expression when it is only a chain of field names (jp_field_path), looked up in
     * the parsed document itself; npath 0 otherwise. */
    const char *path[RULES_PATH_MAX];
    size_t path_len[RULES_PATH_MAX], npath;
    struct action *actions;
    size_t nactions;
    struct named_group *names; /* sorted by name, as PCRE2's table is */
    size_t nnames;
    int uses_iso8601;
    int match_all; /* the regex matches every text and captures nothing: PCRE2 is not run */
    _Atomic uint64_t matched; /* written by the owning thread, read by metrics */
};

struct rules {
    const struct config *cfg;
    struct metrics_shard *shard;
    struct rule *v;
    size_t n;
    pcre2_match_data *md;
    uint32_t md_pairs;
    /* This thread's regex resources (rules.h has the limits and their measurements): the JIT's
     * stack, and a general context whose allocator counts what md holds for the interpreter's
     * frames; trim gives back what a long line made them hold. */
    pcre2_jit_stack *jit_stack;
    size_t jit_stack_size;
    int jit_long, jit_warm; /* a JIT match ran over a long line in this message, in an earlier one */
    pcre2_match_context *jit_ctx, *interp_ctx;
    pcre2_general_context *heap_ctx;
    size_t heap_held;
    uint64_t retries;
    struct syslog_slice *vars;
    size_t nvars;
    struct buf out, topic, key, value, scratch[2];
    /* forward's headers (packed), one header's value being rendered, format: json's record */
    struct buf headers, hval, json_out;
    struct format_scratch fmt;
    struct format_capture *caps; /* room for the most named groups of any rule */
    int out_is_json;    /* the output buffer holds a merge's JSON (format: json embeds it) */
    size_t invalid_utf8; /* sequences {{json}}, format: json or merge replaced in this message */
    size_t default_topic_len;
    /* Each field's text parsed as JSON, at most once per message however many rules ask
     * (doc_tried; doc_ok: it is JSON), and as jansson values for a JMESPath expression that
     * is more than a field chain (json_tried). */
    struct jdoc doc[FIELD_MSGID + 1];
    unsigned doc_tried, doc_ok;
    json_t *json[FIELD_MSGID + 1];
    unsigned json_tried;
    time_t iso_sec;
    char iso[48];
    unsigned gen; /* rules_set_gen: which reload made this instance */
};

static void count(struct rules *r, enum metrics_counter c) {
    if (r->shard) metrics_add(r->shard, c, 1);
}

/* Template names resolve against the rule's regex groups first, then the built-ins. */
static int resolve(const char *name, size_t len, int *fallback, void *arg) {
    const pcre2_code *re = arg;
    int builtin = -1;
    for (int i = 0; i < RULES_VAR_COUNT; i++)
        if (strlen(var_names[i]) == len && !memcmp(var_names[i], name, len)) builtin = i;
    *fallback = -1;
    if (re && len < 128) {
        char z[128];
        memcpy(z, name, len);
        z[len] = 0;
        int g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)z);
        if (g >= 0) {
            *fallback = builtin;
            return RULES_VAR_COUNT + g;
        }
    }
    return builtin;
}

/* Where PCRE2 (10.42, UTF + UCP) and the original's Rust regex crate read the same pattern
 * differently, the pattern is rewritten before compiling:
 *  - \w, \W, \b, \B: Rust's word characters are Alphabetic, marks, decimal digits, connector
 *    punctuation and the two joiners (a combining accent or U+200C is part of a word, '²' is
 *    not); PCRE2's are letters, all numbers and '_'.
 *  - [[:alpha:]] and the other POSIX classes are ASCII-only in Rust, Unicode under UCP.
 * Other escapes, classes and groups are copied as they are (no group is added, so group
 * numbers and names stay). */
#define RUST_WORD "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}"

static const struct {
    const char *name, *ascii;
} posix_classes[] = {
    {"alnum", "0-9A-Za-z"}, {"alpha", "A-Za-z"}, {"ascii", "\\x00-\\x7F"},
    {"blank", "\\t "}, {"cntrl", "\\x00-\\x1F\\x7F"}, {"digit", "0-9"},
    {"graph", "\\x21-\\x7E"}, {"lower", "a-z"}, {"print", "\\x20-\\x7E"},
    {"punct", "\\x21-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7E"}, {"space", "\\t\\n\\x0B\\f\\r "},
    {"upper", "A-Z"}, {"word", "0-9A-Za-z_"}, {"xdigit", "0-9A-Fa-f"},
};

/* Returns the rewritten pattern (malloc'd), or NULL when nothing needs rewriting. */
char *rules_rust_pattern(const char *src) {
    if (!strstr(src, "\\w") && !strstr(src, "\\W") && !strstr(src, "\\b") &&
        !strstr(src, "\\B") && !strstr(src, "[:"))
        return NULL;
    struct buf o = {0};
    int depth = 0; /* inside a bracketed class (Rust nests them) */
    for (const char *p = src; *p;) {
        if (p[0] == '\\' && p[1]) {
            const char *rep = NULL;
            if (p[1] == 'w') rep = depth ? RUST_WORD : "[" RUST_WORD "]";
            else if (p[1] == 'W' && !depth) rep = "[^" RUST_WORD "]";
            else if (p[1] == 'b' && !depth)
                rep = "(?:(?<=[" RUST_WORD "])(?![" RUST_WORD "])|(?<![" RUST_WORD "])(?=[" RUST_WORD "]))";
            else if (p[1] == 'B' && !depth)
                rep = "(?:(?<=[" RUST_WORD "])(?=[" RUST_WORD "])|(?<![" RUST_WORD "])(?![" RUST_WORD "]))";
            if (rep) buf_append(&o, rep, strlen(rep));
            else buf_append(&o, p, 2);
            p += 2;
            continue;
        }
        if (depth && p[0] == '[' && p[1] == ':') {
            const char *end = strstr(p + 2, ":]");
            size_t k = 0, n = end ? (size_t)(end - (p + 2)) : 0;
            for (; end && k < sizeof posix_classes / sizeof posix_classes[0]; k++)
                if (strlen(posix_classes[k].name) == n && !memcmp(p + 2, posix_classes[k].name, n))
                    break;
            if (end && k < sizeof posix_classes / sizeof posix_classes[0]) {
                buf_append(&o, posix_classes[k].ascii, strlen(posix_classes[k].ascii));
                p = end + 2;
                continue;
            }
        }
        if (p[0] == '[') {
            depth++;
            buf_append(&o, p++, 1);
            /* A ']' first (after an optional '^') is a literal, not the end. */
            if (*p == '^') buf_append(&o, p++, 1);
            if (*p == ']') buf_append(&o, p++, 1);
            continue;
        }
        if (p[0] == ']' && depth) depth--;
        buf_append(&o, p++, 1);
    }
    buf_append(&o, "", 1);
    return o.p;
}

static int compile_regex(struct rule *ru, const char *path, size_t i, char *err, size_t errlen) {
    int code;
    PCRE2_SIZE off;
    char *rust = rules_rust_pattern(ru->cfg->regex);
    ru->re = pcre2_compile((PCRE2_SPTR)(rust ? rust : ru->cfg->regex), PCRE2_ZERO_TERMINATED,
                           RULES_PCRE2_OPTIONS, &code, &off, NULL);
    if (!ru->re && rust) {
        /* Report the error against what the config says, not against the translation. */
        pcre2_code *as_written = pcre2_compile((PCRE2_SPTR)ru->cfg->regex, PCRE2_ZERO_TERMINATED,
                                               RULES_PCRE2_OPTIONS, &code, &off, NULL);
        pcre2_code_free(as_written);
    }
    free(rust);
    if (!ru->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errlen, "%s:%d: 'rules[%zu].regex': %s at offset %zu", path,
                 ru->cfg->matcher_line, i, (char *)msg, (size_t)off);
        return -1;
    }
    /* JIT is an optimisation: where the platform lacks it (no executable memory, as under
     * MemoryDenyWriteExecute=), the interpreter still matches, several times slower.
     * rules_jit_fallback tells main, which warns once. */
    ru->jit_rc = pcre2_jit_compile(ru->re, PCRE2_JIT_COMPLETE);
    ru->jit = ru->jit_rc == 0;
    /* The catch-all rule: '.*' matches the empty string at offset 0 of any text, so running
     * it only walks the whole message (half of a catch-all config's time in the engine
     * profile). Only these exact spellings: '^.*$' for one does not match across a newline. */
    static const char *const all[] = {"", ".*", "^.*", "(?s).*", "^(?s).*", ".*?", "^.*?"};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        if (!strcmp(ru->cfg->regex, all[k])) ru->match_all = 1;
    /* The name table: entries of a 2-byte big-endian group number, then the name. */
    uint32_t count = 0, size = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(ru->re, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(ru->re, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(ru->re, PCRE2_INFO_NAMETABLE, &table);
    ru->names = calloc(count ? count : 1, sizeof *ru->names);
    if (!ru->names) abort();
    for (uint32_t k = 0; k < count; k++) {
        PCRE2_SPTR e = table + (size_t)k * size;
        ru->names[k].group = (uint32_t)e[0] << 8 | e[1];
        ru->names[k].name = (const char *)e + 2;
        ru->names[k].len = strlen(ru->names[k].name);
    }
    ru->nnames = count;
    return 0;
}

size_t rules_jit_fallback(const struct rules *r, size_t *first, char *why, size_t whylen) {
    size_t n = 0;
    for (size_t i = r->n; i-- > 0;) {
        const struct rule *ru = &r->v[i];
        if (!ru->re || ru->jit) continue;
        n++;
        *first = i;
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ru->jit_rc, msg, sizeof msg);
        snprintf(why, whylen, "%s", (char *)msg);
    }
    return n;
}

static int compile_jmespath(struct rule *ru, const char *path, size_t i, char *err,
                            size_t errlen) {
    char why[256];
    ru->jp = jp_compile(ru->cfg->jmespath, strlen(ru->cfg->jmespath), why, sizeof why);
    if (!ru->jp) {
        snprintf(err, errlen, "%s:%d: 'rules[%zu].jmespath': %s", path, ru->cfg->matcher_line, i, why);
        return -1;
    }
    ru->npath = jp_field_path(ru->jp, ru->path, ru->path_len, RULES_PATH_MAX);
    return 0;
}

/* line: where the template is written (0: the action's line). */
static struct tmpl *compile_tmpl(const char *src, struct rule *ru, const struct config *c,
                                 size_t i, size_t j, const char *key, int line, char *err,
                                 size_t errlen) {
    char why[256];
    const char *path = c->path;
    struct tmpl *t = tmpl_compile(src, resolve, ru->re, why, sizeof why);
    if (t) tmpl_set_html_escape(t, c->template_escape == CONFIG_ESCAPE_HTML);
    if (!t)
        snprintf(err, errlen, "%s:%d: 'rules[%zu].actions[%zu].%s': %s", path,
                 line ? line : ru->actions[j].cfg->line, i, j, key, why);
    else if (tmpl_uses(t, VAR_ISO8601))
        ru->uses_iso8601 = 1;
    return t;
}

static int compile_actions(struct rule *ru, const struct config *c, size_t i, char *err,
                           size_t errlen) {
    const char *path = c->path;
    ru->nactions = ru->cfg->nactions;
    ru->actions = calloc(ru->nactions ? ru->nactions : 1, sizeof *ru->actions);
    if (!ru->actions) abort();
    for (size_t j = 0; j < ru->nactions; j++) {
        struct action *a = &ru->actions[j];
        const struct config_action *ac = &ru->cfg->actions[j];
        a->cfg = ac;
        if (ac->topic && !(a->topic = compile_tmpl(ac->topic, ru, c, i, j, "topic", 0, err, errlen)))
            return -1;
        if (ac->key && !(a->key = compile_tmpl(ac->key, ru, c, i, j, "key", 0, err, errlen)))
            return -1;
        if (ac->template &&
            !(a->tmpl = compile_tmpl(ac->template, ru, c, i, j, "template", 0, err, errlen)))
            return -1;
        a->headers = calloc(ac->nheaders ? ac->nheaders : 1, sizeof *a->headers);
        if (!a->headers) abort();
        for (size_t h = 0; h < ac->nheaders; h++) {
            char key[300];
            snprintf(key, sizeof key, "headers.%s", ac->headers[h].name);
            if (!(a->headers[h] = compile_tmpl(ac->headers[h].value, ru, c, i, j, key,
                                               ac->headers[h].line, err, errlen)))
                return -1;
        }
        if (ac->json) {
            char why[512];
            a->merge = merge_compile(ac->json, resolve, ru->re,
                                     c->template_escape == CONFIG_ESCAPE_HTML, why, sizeof why);
            if (!a->merge) {
                snprintf(err, errlen, "%s:%d: 'rules[%zu].actions[%zu].%s", path, ac->line, i, j, why);
                return -1;
            }
            if (merge_uses(a->merge, VAR_ISO8601)) ru->uses_iso8601 = 1;
        }
    }
    return 0;
}

/* Facility and severity names with their lengths, measured once at the first rules_new (a
 * strlen of each per message showed in the engine profile). */
static struct syslog_slice facility_slices[24], severity_slices[8];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void init_names(void) {
    for (int i = 0; i < 24; i++) facility_slices[i] = (struct syslog_slice){syslog_facility_name(i), strlen(syslog_facility_name(i))};
    for (int i = 0; i < 8; i++) severity_slices[i] = (struct syslog_slice){syslog_severity_name(i), strlen(syslog_severity_name(i))};
}

static struct syslog_slice name_slice(const struct syslog_slice *tab, int n, int v) {
    return v >= 0 && v < n ? tab[v] : (struct syslog_slice){NULL, 0};
}

static void *heap_alloc(size_t n, void *arg) {
    struct rules *r = arg;
    void *p = malloc(n);
    if (p) r->heap_held += malloc_usable_size(p);
    return p;
}

static void heap_free(void *p, void *arg) {
    struct rules *r = arg;
    if (p) r->heap_held -= malloc_usable_size(p);
    free(p);
}

size_t rules_jit_stack_size(const struct config *c) {
    long longest = 0;
    for (size_t i = 0; i < c->nlisteners; i++)
        if (c->listeners[i].max_message_size > longest) longest = c->listeners[i].max_message_size;
    if ((size_t)longest > RULES_JIT_STACK_MAX / RULES_JIT_STACK_PER_BYTE) return RULES_JIT_STACK_MAX;
    size_t size = (size_t)longest * RULES_JIT_STACK_PER_BYTE;
    return size < RULES_JIT_STACK_MIN ? RULES_JIT_STACK_MIN : size;
}

/* The match data, contexts and JIT stack that r's regexes run with. The stack is only
 * address space until a match goes deep, but a system that cannot reserve it (a small
 * RLIMIT_AS, vm.overcommit_memory=2) is refused at start rather than failing matches later. */
static int regex_resources(struct rules *r, uint32_t pairs, int any_regex, int any_jit,
                           char *err, size_t errlen) {
    r->heap_ctx = pcre2_general_context_create(heap_alloc, heap_free, r);
    r->md_pairs = pairs;
    if (!r->heap_ctx || !(r->md = pcre2_match_data_create(pairs, r->heap_ctx))) abort();
    if (!any_regex) return 0;
    if (!(r->interp_ctx = pcre2_match_context_create(NULL))) abort();
    pcre2_set_match_limit(r->interp_ctx, RULES_MATCH_LIMIT);
    pcre2_set_heap_limit(r->interp_ctx, RULES_HEAP_LIMIT_KIB);
    if (!any_jit) return 0;
    size_t size = r->jit_stack_size = rules_jit_stack_size(r->cfg);
    if (!(r->jit_ctx = pcre2_match_context_create(NULL))) abort();
    pcre2_set_match_limit(r->jit_ctx, RULES_MATCH_LIMIT);
    r->jit_stack = pcre2_jit_stack_create(RULES_JIT_STACK_START, size, NULL);
    if (!r->jit_stack) {
        snprintf(err, errlen, "%s: cannot reserve %zu MiB of address space for the regex JIT's "
                 "stack (%d bytes per byte of max_message_size)", r->cfg->path, size >> 20,
                 RULES_JIT_STACK_PER_BYTE);
        return -1;
    }
    pcre2_jit_stack_assign(r->jit_ctx, NULL, r->jit_stack);
    return 0;
}

struct rules *rules_new(const struct config *c, struct metrics_shard *shard, char *err,
                        size_t errlen) {
    pthread_once(&names_once, init_names);
    struct rules *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->cfg = c;
    r->shard = shard;
    r->v = calloc(c->nrules ? c->nrules : 1, sizeof *r->v);
    if (!r->v) abort();
    uint32_t maxgroups = 0;
    size_t maxnames = 0;
    int any_regex = 0, any_jit = 0;
    for (size_t i = 0; i < c->nrules; i++) {
        struct rule *ru = &r->v[i];
        ru->cfg = &c->rules[i];
        r->n = i + 1;
        int e = ru->cfg->regex ? compile_regex(ru, c->path, i, err, errlen)
                               : compile_jmespath(ru, c->path, i, err, errlen);
        if (e < 0 || compile_actions(ru, c, i, err, errlen) < 0) goto err;
        any_regex |= ru->re && !ru->match_all;
        any_jit |= ru->jit && !ru->match_all;
        uint32_t g = 0;
        if (ru->re) pcre2_pattern_info(ru->re, PCRE2_INFO_CAPTURECOUNT, &g);
        if (g > maxgroups) maxgroups = g;
        if (ru->nnames > maxnames) maxnames = ru->nnames;
    }
    r->caps = calloc(maxnames ? maxnames : 1, sizeof *r->caps);
    if (!r->caps) abort();
    r->default_topic_len = strlen(c->kafka.topic);
    if (regex_resources(r, maxgroups + 1, any_regex, any_jit, err, errlen) < 0) goto err;
    r->nvars = RULES_VAR_COUNT + maxgroups + 1;
    r->vars = calloc(r->nvars, sizeof *r->vars);
    if (!r->vars) abort();
    return r;
err:
    rules_free(r);
    return NULL;
}

void rules_set_gen(struct rules *r, unsigned gen) { r->gen = gen; }
unsigned rules_gen(const struct rules *r) { return r->gen; }

void rules_free(struct rules *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        struct rule *ru = &r->v[i];
        pcre2_code_free(ru->re);
        jp_free(ru->jp);
        for (size_t j = 0; ru->actions && j < ru->nactions; j++) {
            tmpl_free(ru->actions[j].topic);
            tmpl_free(ru->actions[j].key);
            tmpl_free(ru->actions[j].tmpl);
            for (size_t h = 0; ru->actions[j].headers && h < ru->actions[j].cfg->nheaders; h++)
                tmpl_free(ru->actions[j].headers[h]);
            free(ru->actions[j].headers);
            merge_free(ru->actions[j].merge);
        }
        free(ru->actions);
        free(ru->names);
    }
    for (size_t f = 0; f <= FIELD_MSGID; f++) {
        json_decref(r->json[f]);
        jdoc_free(&r->doc[f]);
    }
    pcre2_match_data_free(r->md);
    pcre2_match_context_free(r->jit_ctx);
    pcre2_match_context_free(r->interp_ctx);
    pcre2_jit_stack_free(r->jit_stack);
    pcre2_general_context_free(r->heap_ctx); /* last: its allocator writes to r */
    free(r->vars);
    free(r->v);
    buf_free(&r->out);
    buf_free(&r->topic);
    buf_free(&r->key);
    buf_free(&r->value);
    buf_free(&r->scratch[0]);
    buf_free(&r->scratch[1]);
    buf_free(&r->headers);
    buf_free(&r->hval);
    buf_free(&r->json_out);
    format_scratch_free(&r->fmt);
    free(r->caps);
    free(r);
}

static struct syslog_slice field_text(const struct syslog_msg *m, enum config_field f) {
    switch (f) {
    case FIELD_MSG: return m->msg.p ? m->msg : (struct syslog_slice){"", 0};
    case FIELD_HOSTNAME: return m->hostname;
    case FIELD_APPNAME: return m->appname;
    case FIELD_PROCID: return m->procid;
    case FIELD_MSGID: return m->msgid;
    case FIELD_FACILITY: return name_slice(facility_slices, 24, m->facility);
    case FIELD_SEVERITY: return name_slice(severity_slices, 8, m->severity);
    }
    return (struct syslog_slice){NULL, 0};
}

/* The number of JSON values text would make (containers, and the items or members after a
 * comma), counted without allocating. A DOM costs about 50 times its text for small values
 * (an 8 MiB array of {"a":{"b":1}} takes 400 MB), so that many nodes from one client message
 * would let any sender exhaust memory: above RULES_JSON_MAX_NODES the text is not parsed. */
static size_t json_nodes(const char *p, size_t n) {
    size_t nodes = 1;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[' || c == ',' || c == ':') {
            nodes++;
        }
    }
    return nodes;
}

/* Parses text as a JSON value, as the original's serde_json did (so a string, a number or a
 * literal is JSON too), within the limits: NULL if it is not JSON, or is too large (more than
 * RULES_JSON_MAX_NODES values) or too deep (JSONIO_MAX_DEPTH levels, serde_json's recursion
 * limit); those two are counted in error.json_limit. */
static const unsigned char first_json_byte[256] = {
    ['{'] = 1, ['['] = 1, ['"'] = 1, ['-'] = 1, ['0' ... '9'] = 1, ['t'] = 1, ['f'] = 1, ['n'] = 1};

static int parse_json(struct rules *r, struct jdoc *d, const char *p, size_t n) {
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
    /* Most log lines start with a letter that cannot start JSON: no parse at all. */
    if (i == n || !first_json_byte[(unsigned char)p[i]]) return 0;
    /* json_nodes counts at most one value per byte after the first, so text shorter than
     * the limit (every ordinary log line) needs no count. */
    if (n - i >= RULES_JSON_MAX_NODES && json_nodes(p + i, n - i) > RULES_JSON_MAX_NODES) {
        count(r, M_JSON_LIMIT);
        log_limited(L_WARN, "rules: a JSON message with more than %d values was not parsed "
                    "(error.json_limit)", RULES_JSON_MAX_NODES);
        return 0;
    }
    enum jsonio_err e = jdoc_parse(d, p + i, n - i);
    if (e == JSONIO_DEPTH) {
        count(r, M_JSON_LIMIT);
        log_limited(L_WARN, "rules: a JSON message nested too deeply was not parsed (error.json_limit)");
    }
    return e == JSONIO_OK;
}

/* The field's text parsed as JSON, at most once per message; NULL if it is not JSON. */
static struct jdoc *field_doc(struct rules *r, enum config_field f, struct syslog_slice text) {
    if (!(r->doc_tried & (1u << f))) {
        r->doc_tried |= 1u << f;
        if (parse_json(r, &r->doc[f], text.p, text.n)) r->doc_ok |= 1u << f;
    }
    return r->doc_ok & (1u << f) ? &r->doc[f] : NULL;
}

/* The field's JSON as jansson values, built at most once per message; NULL if it is not
 * JSON (or memory ran out). */
static json_t *field_json(struct rules *r, enum config_field f, struct syslog_slice text) {
    if (!(r->json_tried & (1u << f))) {
        r->json_tried |= 1u << f;
        struct jdoc *d = field_doc(r, f, text);
        r->json[f] = d ? jdoc_to_json(d, 0) : NULL;
    }
    return r->json[f];
}

/* A document that grew past this many nodes (a huge message) gives its memory back. */
#define RULES_JDOC_KEEP 65536

static void reset_json(struct rules *r) {
    for (size_t f = 0; f <= FIELD_MSGID; f++) {
        json_decref(r->json[f]);
        r->json[f] = NULL;
        if (r->doc[f].cap > RULES_JDOC_KEEP) jdoc_free(&r->doc[f]);
    }
    r->json_tried = r->doc_tried = r->doc_ok = 0;
    jsonio_release_big();
}

/* One line per rule per interval, whichever worker fails it: a rule that fails on every
 * message does not hide another rule's failures. Shared by every thread's rules; log.h's
 * keyed limit is lock-free. */
static struct log_keyed match_log;

/* A matcher that failed (not "no match") is counted in error.match and logged with the
 * rule's FILE:LINE; the rule then does not match and later rules run, so a catch-all still
 * forwards the message. */
static void match_failed(struct rules *r, const struct rule *ru, const char *key, const char *why,
                         size_t len) {
    count(r, M_MATCH_ERROR);
    char id[64];
    int n = snprintf(id, sizeof id, "%d:%s", ru->cfg->matcher_line, key);
    log_write_keyed(&match_log, id, n > 0 ? (size_t)n : 0, L_WARN,
                    "%s:%d: 'rules[%zu].%s': %s on a %zu-byte %s: the rule does not match it, "
                    "later rules run (error.match)", r->cfg->path, ru->cfg->matcher_line,
                    (size_t)(ru - r->v), key, why, len, config_field_name(ru->cfg->field));
}

/* Runs ru's regex over f into r->md: the JIT with this thread's stack; the interpreter, whose
 * frames are on the heap, when the JIT ran out of stack or is not available. Returns PCRE2's
 * result; a resource limit in the last engine tried is a failure. */
static int run_regex(struct rules *r, struct rule *ru, struct syslog_slice f) {
    int rc = PCRE2_ERROR_JIT_STACKLIMIT, retried = 0;
    if (ru->jit) {
        r->jit_long |= f.n > RULES_JIT_KEEP_LINE;
        rc = pcre2_jit_match(ru->re, (PCRE2_SPTR)f.p, f.n, 0, 0, r->md, r->jit_ctx);
    }
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        retried = ru->jit;
        r->retries += (uint64_t)retried;
        /* PCRE2_NO_JIT: pcre2_match would otherwise run the JIT's code again. */
        rc = pcre2_match(ru->re, (PCRE2_SPTR)f.p, f.n, 0, PCRE2_NO_JIT, r->md, r->interp_ctx);
    }
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        PCRE2_UCHAR msg[128];
        char why[192];
        pcre2_get_error_message(rc, msg, sizeof msg);
        snprintf(why, sizeof why, "%s (PCRE2 %d%s)", (char *)msg, rc,
                 retried ? ", after the JIT ran out of stack" : "");
        match_failed(r, ru, "regex", why, f.n);
    }
    return rc;
}

/* After a message: gives back what a long line made this thread hold. PCRE2 keeps the
 * interpreter's frames vector in the match data between matches (up to RULES_HEAP_LIMIT_KIB): it
 * goes at once. The JIT stack's pages stay resident as deep as a match went (up to 48 bytes a
 * byte of line): they go at the first message without a long line, so that a run of long lines
 * does not fault them in again for each (20 ms for the 31 MB `^(\w|\s)+$` needs on 999,000
 * bytes; a new stack costs 9 us). If the new stack cannot be had, the old one stays. */
static void give_back(struct rules *r) {
    if (r->heap_held > RULES_HEAP_KEEP) {
        pcre2_match_data_free(r->md);
        if (!(r->md = pcre2_match_data_create(r->md_pairs, r->heap_ctx))) abort();
    }
    if (r->jit_long) {
        r->jit_warm = 1;
        r->jit_long = 0;
    } else if (r->jit_warm) {
        pcre2_jit_stack *s = pcre2_jit_stack_create(RULES_JIT_STACK_START, r->jit_stack_size, NULL);
        if (s) {
            pcre2_jit_stack_assign(r->jit_ctx, NULL, s);
            pcre2_jit_stack_free(r->jit_stack);
            r->jit_stack = s;
        }
        r->jit_warm = 0;
    }
}

static inline void trim(struct rules *r) {
    if (r->heap_held > RULES_HEAP_KEEP || r->jit_long || r->jit_warm) give_back(r);
}

/* A JMESPath rule whose expression is a field chain, looked up in the parsed document: the
 * same result as jp_search on its jansson values (a string's bytes, or other values as
 * jsonio_dump writes them), with no jansson value built. */
static int match_path(struct rules *r, const struct rule *ru, struct syslog_slice f) {
    struct jdoc *d = field_doc(r, ru->cfg->field, f);
    if (!d) return 0; /* not JSON: a JMESPath rule does not match */
    uint32_t at = 0;
    for (size_t i = 0; i < ru->npath && at != JDOC_NONE; i++)
        at = jdoc_get(d, at, ru->path[i], ru->path_len[i]);
    if (at == JDOC_NONE || d->v[at].type == JDOC_NULL) return 0;
    r->value.len = 0;
    if (d->v[at].type == JDOC_STRING) buf_append(&r->value, jdoc_str(d, &d->v[at]), d->v[at].n);
    else jdoc_dump(&r->value, d, at);
    r->vars[VAR_VALUE] = (struct syslog_slice){buf_cstr(&r->value), r->value.len};
    return 1;
}

/* Runs rule ru's matcher; on a match, sets its group variables and `value`. */
static int match(struct rules *r, struct rule *ru, const struct syslog_msg *m) {
    struct syslog_slice f = field_text(m, ru->cfg->field);
    if (!f.p) return 0; /* the field is absent from this message */
    if (ru->match_all) {
        r->vars[VAR_VALUE] = (struct syslog_slice){NULL, 0};
        return 1;
    }
    if (ru->re) {
        int rc = run_regex(r, ru, f);
        if (rc < 0) return 0;
        uint32_t groups = pcre2_get_ovector_count(r->md);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
        for (uint32_t g = 0; g < groups && RULES_VAR_COUNT + g < r->nvars; g++) {
            int set = (int)g < rc && ov[2 * g] != PCRE2_UNSET;
            r->vars[RULES_VAR_COUNT + g] = set ? (struct syslog_slice){f.p + ov[2 * g], ov[2 * g + 1] - ov[2 * g]}
                                               : (struct syslog_slice){NULL, 0};
        }
        r->vars[VAR_VALUE] = (struct syslog_slice){NULL, 0};
        return 1;
    }
    if (ru->npath) return match_path(r, ru, f);
    json_t *doc = field_json(r, ru->cfg->field, f);
    if (!doc) return 0; /* not JSON: a JMESPath rule does not match */
    json_t *res = NULL;
    char why[256];
    if (jp_search(ru->jp, doc, &res, why, sizeof why) < 0) {
        match_failed(r, ru, "jmespath", why, f.n);
        return 0;
    }
    int matched = !json_is_null(res);
    if (matched) {
        r->value.len = 0;
        if (json_is_string(res)) {
            buf_append(&r->value, json_string_value(res), json_string_length(res));
        } else {
            jsonio_dump(&r->value, res);
        }
        r->vars[VAR_VALUE] = (struct syslog_slice){buf_cstr(&r->value), r->value.len};
    }
    json_decref(res);
    return matched;
}

static void set_iso8601(struct rules *r) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != r->iso_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(r->iso, 24, "%Y-%m-%dT%H:%M:%S", &tm);
        r->iso_sec = ts.tv_sec;
    }
    /* chrono's to_rfc3339 (the original's): the fewest of 0, 3, 6 or 9 fractional digits
     * that hold the nanoseconds exactly, then "+00:00"; by hand, as snprintf cost 900
     * instructions a message (callgrind). */
    char *o = r->iso + 19;
    long ns = ts.tv_nsec, digits = 9;
    while (digits > 0 && ns % 1000 == 0) {
        ns /= 1000;
        digits -= 3;
    }
    size_t len = 19;
    if (digits) {
        o[0] = '.';
        for (long i = digits; i >= 1; i--, ns /= 10) o[i] = (char)('0' + ns % 10);
        len += (size_t)digits + 1;
    }
    memcpy(r->iso + len, "+00:00", 7);
    r->vars[VAR_ISO8601] = (struct syslog_slice){r->iso, len + 6};
}

static void set_builtins(struct rules *r, const struct syslog_msg *m) {
    r->vars[VAR_MSG] = m->msg.p ? m->msg : (struct syslog_slice){"", 0};
    r->vars[VAR_VERSION] = (struct syslog_slice){HOTDOG_VERSION, sizeof HOTDOG_VERSION - 1};
    r->vars[VAR_ISO8601] = (struct syslog_slice){NULL, 0};
    r->vars[VAR_HOSTNAME] = m->hostname;
    r->vars[VAR_APPNAME] = m->appname;
    r->vars[VAR_PROCID] = m->procid;
    r->vars[VAR_MSGID] = m->msgid;
    r->vars[VAR_FACILITY] = name_slice(facility_slices, 24, m->facility);
    r->vars[VAR_SEVERITY] = name_slice(severity_slices, 8, m->severity);
    r->vars[VAR_TIMESTAMP] = m->timestamp;
    r->vars[VAR_VALUE] = (struct syslog_slice){NULL, 0};
}

/* The merge action, as the original's: it always parses `msg` (not what an earlier action
 * of the rule left in the output buffer). Returns -1 when msg is not JSON; otherwise sets the
 * output buffer to the merged value, or to msg unchanged when the configured `json` is not a
 * map (counted in error.merge_target_not_json). */
static int do_merge(struct rules *r, struct rule *ru, const struct action *a,
                    const struct syslog_msg *m) {
    struct jdoc *doc = field_doc(r, FIELD_MSG, field_text(m, FIELD_MSG));
    if (!doc) return -1;
    r->out.len = 0;
    if (!merge_is_object(a->merge)) {
        count(r, M_MERGE_TARGET_NOT_JSON);
        log_limited(L_WARN, "rule at %s:%d: the merge's json is not a map: the message is left "
                    "as it is (error.merge_target_not_json)", r->cfg->path, ru->cfg->line);
        buf_append(&r->out, r->vars[VAR_MSG].p, r->vars[VAR_MSG].n);
        r->out_is_json = 0;
        return 0;
    }
    r->out_is_json = 1;
    if (merge_write(a->merge, doc, 0, r->vars, r->scratch, &r->invalid_utf8, &r->out) == 0)
        return 0;
    /* An array of msg takes the map's items: merge_apply compares them by value. It
     * modifies what it is given, so it gets values of its own. */
    json_t *v = jdoc_to_json(doc, 0);
    if (v) v = merge_apply(a->merge, v, r->vars, r->scratch, &r->invalid_utf8);
    if (!v) abort(); /* out of memory: hotdog's policy for small allocations */
    jsonio_dump(&r->out, v);
    json_decref(v);
    return 0;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* format: json: the whole message, the rule's named groups that took part in the match, and
 * what its actions rendered (absent when the output buffer is empty: msg is sent then). */
static void render_json(struct rules *r, const struct rule *ru, const struct syslog_msg *m) {
    size_t n = 0;
    for (size_t k = 0; k < ru->nnames; k++) {
        const struct named_group *g = &ru->names[k];
        struct syslog_slice v = r->vars[RULES_VAR_COUNT + g->group];
        /* (?J) allows a name twice (adjacent in the sorted table): the first set one counts. */
        if (!v.p || (n && r->caps[n - 1].name_len == g->len && !memcmp(r->caps[n - 1].name, g->name, g->len)))
            continue;
        r->caps[n++] = (struct format_capture){g->name, g->len, v};
    }
    struct format_input in = {.msg = m, .captures = r->caps, .ncaptures = n,
                              .payload = r->out.len ? r->out.p : NULL, .payload_len = r->out.len,
                              .payload_is_json = r->out_is_json};
    r->json_out.len = 0;
    r->invalid_utf8 += format_json(&r->json_out, &in, &r->fmt);
}

/* The forward action: fills out->rec. */
static void forward(struct rules *r, const struct rule *ru, const struct action *a,
                    const struct syslog_msg *m, struct rules_out *out) {
    struct record *rec = &out->rec;
    /* Whatever the topic renders to, as the original: one that is not a valid Kafka name
     * fails at the producer, which counts it. */
    r->topic.len = 0;
    if (a->topic) r->invalid_utf8 += tmpl_render(a->topic, r->vars, &r->topic);
    else buf_append(&r->topic, r->cfg->kafka.topic, r->default_topic_len);
    out->forward = 1;
    rec->topic = buf_cstr(&r->topic);
    rec->topic_len = r->topic.len;
    if (a->key) {
        r->key.len = 0;
        r->invalid_utf8 += tmpl_render(a->key, r->vars, &r->key);
        rec->key = buf_cstr(&r->key);
        rec->key_len = r->key.len;
    }
    if (a->cfg->nheaders) {
        r->headers.len = 0;
        for (size_t h = 0; h < a->cfg->nheaders; h++) {
            const struct config_header *ch = &a->cfg->headers[h];
            r->hval.len = 0;
            r->invalid_utf8 += tmpl_render(a->headers[h], r->vars, &r->hval);
            record_header_add(&r->headers, ch->name, strlen(ch->name), r->hval.p ? r->hval.p : "",
                              r->hval.len);
        }
        rec->headers = r->headers.p;
        rec->headers_len = r->headers.len;
    }
    if (a->cfg->timestamp == TIMESTAMP_MESSAGE && m->timestamp.p)
        rec->timestamp_ms = format_timestamp_ms(m->timestamp, now_ms());
    if (a->cfg->format == FORMAT_JSON) {
        render_json(r, ru, m);
        rec->payload = r->json_out.p;
        rec->len = r->json_out.len;
    } else if (r->out.len) { /* an empty output buffer sends msg, as in the original */
        rec->payload = buf_cstr(&r->out);
        rec->len = r->out.len;
    } else {
        rec->payload = r->vars[VAR_MSG].p;
        rec->len = r->vars[VAR_MSG].n;
    }
}

/* Runs rule ru's actions. Returns 1 if it forwarded (out is set), -1 if rule processing must
 * stop, 0 to go on with the next rule. */
static int run_actions(struct rules *r, struct rule *ru, const struct syslog_msg *m,
                       struct rules_out *out) {
    int stop = 0;
    r->out.len = 0;
    r->out_is_json = 0;
    for (size_t j = 0; j < ru->nactions; j++) {
        const struct action *a = &ru->actions[j];
        switch (a->cfg->type) {
        case ACTION_FORWARD:
            forward(r, ru, a, m, out);
            return 1;
        case ACTION_MERGE:
            if (do_merge(r, ru, a, m) < 0) {
                /* As the original: counted, no further rule runs, but this rule's remaining
                 * actions do (a forward sends the output buffer as it was, or msg). */
                count(r, M_MERGE_INVALID_JSON);
                log_limited(L_WARN, "rule at %s:%d: merge: msg is not JSON; no further rules "
                            "run for this message (error.merge_of_invalid_json)", r->cfg->path,
                            ru->cfg->line);
                stop = 1;
            }
            break;
        case ACTION_REPLACE:
            r->out.len = 0;
            r->out_is_json = 0;
            r->invalid_utf8 += tmpl_render(a->tmpl, r->vars, &r->out);
            break;
        case ACTION_STOP:
            stop = 1; /* the rule's remaining actions still run, as in the original */
            break;
        }
    }
    return stop ? -1 : 0;
}

void rules_eval(struct rules *r, const struct syslog_msg *m, struct rules_out *out) {
    memset(out, 0, sizeof *out);
    out->rule = -1;
    set_builtins(r, m);
    r->invalid_utf8 = 0;
    if (r->n == 0) {
        out->forward = 1;
        out->rec.topic = r->cfg->kafka.topic;
        out->rec.topic_len = r->default_topic_len;
        out->rec.payload = r->vars[VAR_MSG].p;
        out->rec.len = r->vars[VAR_MSG].n;
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        struct rule *ru = &r->v[i];
        if (!match(r, ru, m)) continue;
        atomic_store_explicit(&ru->matched,
                              atomic_load_explicit(&ru->matched, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        if (ru->uses_iso8601) set_iso8601(r);
        int rc = run_actions(r, ru, m, out);
        if (rc > 0) out->rule = (int)i;
        if (rc != 0) break;
    }
    reset_json(r);
    trim(r);
    if (!out->forward) count(r, M_UNMATCHED);
    else if (r->invalid_utf8) count(r, M_INVALID_UTF8);
}

size_t rules_count(const struct rules *r) { return r->n; }

int rules_matches(struct rules *r, size_t i, const struct syslog_msg *m) {
    int hit = match(r, &r->v[i], m);
    reset_json(r); /* the cache is per message, and the next call may bring another */
    trim(r);
    return hit;
}

const char *rules_pattern(const struct rules *r, size_t i) {
    return r->v[i].cfg->regex ? r->v[i].cfg->regex : r->v[i].cfg->jmespath;
}

const char *rules_matcher(const struct rules *r, size_t i) {
    return r->v[i].cfg->regex ? "regex" : "jmespath";
}

uint64_t rules_matched(const struct rules *r, size_t i) {
    return atomic_load_explicit(&r->v[i].matched, memory_order_relaxed);
}

uint64_t rules_regex_retries(const struct rules *r) { return r->retries; }
size_t rules_regex_heap(const struct rules *r) { return r->heap_held; }
