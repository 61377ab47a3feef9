/* fuzz_template.c - libFuzzer target, properties: template compile + render (blocks, helpers, ~),
 * and merge into fuzzed JSON. There is no second implementation to compare with in process (the
 * original's Handlebars is Rust; tests/compat compares with its binary, far too slow to fuzz):
 * - rendering is a pure function of the variables, a literal ignores them, output is bounded;
 * - with HTML escaping, no < > & " ' ` = of a value reaches the output but through {{{x}}} and
 *   {{&x}} (see html_check);
 * - every refusal says why; merged documents serialise to JSON that reads back (fuzz_merge
 *   compares merging itself with a reference). Values are exactly their size: ASan sees any
 *   read past one. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonio.h"
#include "merge.h"
#include "template.h"
#include "vars.h"

/* Occurrences of c in b. */
static size_t count(const struct buf *b, char c) {
    size_t k = 0;
    for (size_t i = 0; i < b->len; i++) k += b->p[i] == c;
    return k;
}

/* Renders t with every variable set to v (a copy of exactly its size). */
static void render_all(struct tmpl *t, const char *v, struct buf *out) {
    size_t n = strlen(v);
    char *copy = malloc(n);
    if (!copy) abort();
    memcpy(copy, v, n);
    struct syslog_slice vars[FUZZ_NVARS];
    for (int i = 0; i < FUZZ_NVARS; i++) vars[i] = (struct syslog_slice){copy, n};
    out->len = 0;
    tmpl_render(t, vars, out);
    free(copy);
}

/* HTML escaping: t rendered with every variable holding all seven special bytes (POISON), and
 * with every variable holding none (SAFE). Neither can equal a string literal (those hold no
 * '"' and no '\\'), both are true, and all variables are equal, so both take the same branches
 * and insert a value at the same N places: the difference in each special byte's count is
 * what the values brought. Unescaped, N of each. Escaped, the R raw insertions ({{{x}}},
 * {{&x}}) bring one of each and the N - R escaped ones none, but for the '&' of the seven
 * entities. */
static void html_check(struct tmpl *t) {
    static const char special[] = "<>\"'`=";
    static const char *const poison = "<>&\"'`=", *const safe = "S\\afe";
    struct buf p = {0}, s = {0};
    tmpl_set_html_escape(t, 0);
    render_all(t, poison, &p);
    render_all(t, safe, &s);
    size_t n = count(&p, '&') - count(&s, '&');
    for (const char *c = special; *c; c++)
        if (count(&p, *c) - count(&s, *c) != n) __builtin_trap();
    tmpl_set_html_escape(t, 1);
    render_all(t, poison, &p);
    render_all(t, safe, &s);
    size_t r = count(&p, '<') - count(&s, '<');
    if (r > n) __builtin_trap();
    for (const char *c = special; *c; c++)
        if (count(&p, *c) - count(&s, *c) != r) __builtin_trap();
    if (count(&p, '&') - count(&s, '&') != r + 7 * (n - r)) __builtin_trap();
    buf_free(&p);
    buf_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Input: TEMPLATE \0 JSON. The template also serves as a variable value. */
    const char *s = (const char *)data;
    const char *nul = memchr(s, 0, size);
    size_t tlen = nul ? (size_t)(nul - s) : size;
    char *src = malloc(tlen + 1);
    if (!src) return 0;
    memcpy(src, s, tlen);
    src[tlen] = 0;
    struct syslog_slice vars[FUZZ_NVARS] = {{src, tlen}, {NULL, 0}, {"\"quote\\", 7}, {s, size}, {"", 0}};
    static const struct syslog_slice none[FUZZ_NVARS];
    char err[256] = "";
    struct buf out = {0}, again = {0}, scratch[2] = {{0}, {0}};
    struct tmpl *t = tmpl_compile(src, fuzz_resolve, NULL, err, sizeof err);
    if (t) {
        /* Rendering is a pure function of the variables; a literal template ignores them;
         * no template renders more than its source and every value once per op. */
        tmpl_render(t, vars, &out);
        tmpl_render(t, vars, &again);
        if (out.len != again.len || (out.len && memcmp(out.p, again.p, out.len)))
            __builtin_trap();
        if (tmpl_is_literal(t)) {
            again.len = 0;
            tmpl_render(t, none, &again);
            if (out.len != again.len || (out.len && memcmp(out.p, again.p, out.len)))
                __builtin_trap();
        }
        if (out.len > (tlen + 1) * (tlen + size + 8)) __builtin_trap();
        /* HTML escaping only ever lengthens what a value inserts, and is deterministic too. */
        tmpl_set_html_escape(t, 1);
        again.len = 0;
        tmpl_render(t, vars, &again);
        if (again.len < out.len) __builtin_trap();
        size_t escaped = again.len;
        again.len = 0;
        tmpl_render(t, vars, &again);
        if (again.len != escaped) __builtin_trap();
        html_check(t);
        tmpl_free(t);
    } else if (!err[0]) {
        __builtin_trap(); /* every refusal says why */
    }
    if (nul) {
        /* A map with strings in objects and arrays (all templates), and a non-map one. */
        json_t *map = json_pack("{s:s,s:{s:s,s:i,s:[s,i]},s:s}", "x", src, "y", "t", "{{b}}{{a}}", "n",
                                1, "l", "{{msg}}", 2, "msg", "{{msg}}");
        json_t *list = json_pack("[s,{s:s}]", "{{a}}", "k", src);
        for (int k = 0; k < 2; k++) {
            json_t *cfg = k ? list : map;
            struct merge *m = cfg ? merge_compile(cfg, fuzz_resolve, NULL, k, err, sizeof err) : NULL;
            enum jsonio_err e;
            json_t *doc = jsonio_parse(nul + 1, size - tlen - 1, &e);
            if (m && doc && merge_is_object(m)) {
                size_t bad = 0;
                doc = merge_apply(m, doc, vars, scratch, &bad);
                if (!doc) __builtin_trap();
                /* Merged documents must always serialise to JSON that reads back. */
                out.len = 0;
                jsonio_dump(&out, doc);
                json_t *back = jsonio_parse(out.p, out.len, &e);
                if (!back) __builtin_trap();
                json_decref(back);
            }
            json_decref(doc);
            jsonio_release_big();
            merge_free(m);
        }
        json_decref(map);
        json_decref(list);
    }
    buf_free(&out);
    buf_free(&again);
    buf_free(&scratch[0]);
    buf_free(&scratch[1]);
    free(src);
    return 0;
}
