/* fuzz_merge.c - libFuzzer target, differential: the merge action against a reference merge.
 *
 * The original hotdog merged with json_value_merge's merge() (its src/merge.rs): objects key by
 * key, recursively; an array takes another array's items, or an object, at its end and then
 * drops consecutive equal items (Vec::dedup); anything else is replaced. ref_merge below is
 * that function written again over jansson values, with no code of merge.c: merge_apply must
 * build the same value. The original rendered the whole map as one template and parsed the
 * result; hotdog renders each string of the map on its own (merge.h: a value holding a quote
 * stays one JSON string), so the reference renders each string with the same templates.
 *
 * Input: MAP \0 DOC \0 VALUE. MAP is the configured merge value (any JSON: only an object is
 * merged), DOC the message's JSON (read with jansson, so that no integer is past 64 bits:
 * jsonio's reader has its own differential target), VALUE what the variable msg holds.
 * Checked, with HTML escaping off and on:
 * - merge_compile refuses only with a reason that names the JSON path ("json...: why");
 * - the merged value equals the reference's;
 * - it serialises (jsonio_dump) to JSON that jansson reads back to exactly that value, keys
 *   in ascending order, and that jsonio reads back too;
 * - merge_write, from the same DOC read by jdoc, writes the same bytes (check_write). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jdoc.h"
#include "jsonio.h"
#include "merge.h"
#include "template.h"
#include "vars.h"
#include "../tests/json_check.h"

/* The map with each string rendered as the merge renders it; *bad counts the byte sequences
 * that are not UTF-8 replaced on the way ({{json}} and the JSON string itself). */
static json_t *render_map(const json_t *v, int html, const struct syslog_slice *vars,
                          struct buf *scratch, size_t *bad) {
    if (json_is_string(v)) {
        char err[256];
        struct tmpl *t = tmpl_compile(json_string_value(v), fuzz_resolve, NULL, err, sizeof err);
        if (!t) abort(); /* merge_compile compiled the same string */
        tmpl_set_html_escape(t, html);
        scratch[0].len = 0;
        *bad += tmpl_render(t, vars, &scratch[0]);
        tmpl_free(t);
        for (size_t i = 0; i < scratch[0].len;) {
            size_t k = jsonio_utf8_len((const unsigned char *)scratch[0].p + i, scratch[0].len - i);
            *bad += !k;
            i += k ? k : 1;
        }
        return merge_string(scratch[0].p ? scratch[0].p : "", scratch[0].len, &scratch[1]);
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it))
            json_object_setn_new(o, json_object_iter_key(it), json_object_iter_key_len(it),
                                 render_map(json_object_iter_value(it), html, vars, scratch, bad));
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(a, render_map(json_array_get(v, i), html, vars, scratch, bad));
        return a;
    }
    return json_deep_copy(v);
}

/* Vec::dedup: an item equal to the one kept before it goes. */
static json_t *ref_dedup(json_t *a) {
    json_t *d = json_array();
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        size_t n = json_array_size(d);
        if (!n || !json_equal(json_array_get(d, n - 1), v)) json_array_append(d, v);
    }
    json_decref(a);
    return d;
}

/* json_value_merge's merge(a, b): returns what takes a's place (a's reference passes to it). */
static json_t *ref_merge(json_t *a, const json_t *b) {
    if (json_is_object(a) && json_is_object(b)) {
        for (void *it = json_object_iter((json_t *)b); it; it = json_object_iter_next((json_t *)b, it)) {
            const char *k = json_object_iter_key(it);
            size_t kl = json_object_iter_key_len(it);
            json_t *cur = json_object_getn(a, k, kl); /* a.entry(k).or_insert(Null) */
            json_t *v = ref_merge(cur ? json_incref(cur) : json_null(), json_object_iter_value(it));
            json_object_setn_new(a, k, kl, v);
        }
        return a;
    }
    if (json_is_array(a) && json_is_array(b)) {
        for (size_t i = 0; i < json_array_size(b); i++)
            json_array_append_new(a, json_deep_copy(json_array_get(b, i)));
        return ref_dedup(a);
    }
    if (json_is_array(a) && json_is_object(b)) {
        json_array_append_new(a, json_deep_copy(b));
        return ref_dedup(a);
    }
    json_decref(a);
    return json_deep_copy(b);
}

/* merge_write (the rules' merge) writes exactly what jsonio_dump writes for merge_apply's
 * result, or says MERGE_SLOW only where the map merges an array or object into an array. */
static void check_write(const struct merge *m, const char *text, size_t n,
                        const struct syslog_slice *vars, struct buf *scratch) {
    static struct jdoc d;
    static struct buf want, got;
    if (jdoc_parse(&d, text, n) != JSONIO_OK) return;
    size_t want_bad = 0, got_bad = 0;
    json_t *v = merge_apply(m, jdoc_to_json(&d, 0), vars, scratch, &want_bad);
    if (!v) __builtin_trap();
    want.len = got.len = 0;
    jsonio_dump(&want, v);
    json_decref(v);
    size_t bigs = 0;
    for (size_t i = 0; i < d.n; i++) bigs += d.v[i].type == JDOC_UINT;
    int rc = merge_write(m, &d, 0, vars, scratch, &got_bad, &got);
    if (rc == MERGE_SLOW) {
        if (got.len || got_bad) __builtin_trap(); /* left as they were */
        if (!memchr(text, '[', n)) __builtin_trap(); /* only an array of msg needs merge_apply */
    } else if (rc != 0 || got_bad != want_bad ||
               (bigs <= JSONIO_BIG_MAX && (got.len != want.len || memcmp(got.p, want.p, got.len)))) {
        __builtin_trap();
    }
    jsonio_release_big();
}

static void check(const json_t *map, const json_t *doc, const char *text, size_t n, int html,
                  const struct syslog_slice *vars) {
    static struct buf scratch[2], out;
    char err[512] = "";
    struct merge *m = merge_compile(map, fuzz_resolve, NULL, html, err, sizeof err);
    if (!m) {
        if (strncmp(err, "json", 4) != 0) __builtin_trap(); /* the reason names the path */
        return;
    }
    if (!merge_is_object(m)) {
        merge_free(m);
        return; /* never merged (the original passes such a message on as it is) */
    }
    size_t want_bad = 0, got_bad = 0;
    json_t *rendered = render_map(map, html, vars, scratch, &want_bad);
    json_t *want = ref_merge(json_deep_copy(doc), rendered);
    json_t *got = merge_apply(m, json_deep_copy(doc), vars, scratch, &got_bad);
    if (!got || !json_equal(want, got) || got_bad != want_bad) __builtin_trap();
    check_write(m, text, n, vars, scratch);
    out.len = 0;
    jsonio_dump(&out, got);
    json_error_t e;
    json_t *back = json_loadb(out.p, out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (back ? !json_equal(back, got) || !keys_ascend(back) : !strstr(e.text, "NUL byte in object key"))
        __builtin_trap();
    json_decref(back);
    enum jsonio_err jerr;
    back = jsonio_parse(out.p, out.len, &jerr);
    if (back ? !near_equal(back, got) : jerr != JSONIO_DEPTH) __builtin_trap();
    json_decref(back);
    jsonio_release_big();
    json_decref(rendered);
    json_decref(want);
    json_decref(got);
    merge_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *end = p + size;
    const char *z1 = memchr(p, 0, size);
    const char *doc_p = z1 ? z1 + 1 : "{}", *doc_end = z1 ? end : doc_p + 2;
    const char *z2 = z1 ? memchr(doc_p, 0, (size_t)(end - doc_p)) : NULL;
    if (z2) doc_end = z2;
    json_t *map = json_loadb(p, z1 ? (size_t)(z1 - p) : size, JSON_DECODE_ANY, NULL);
    json_t *doc = json_loadb(doc_p, (size_t)(doc_end - doc_p), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (map && doc) {
        /* The value, exactly its size (ASan sees a read past it), possibly not UTF-8. */
        size_t vlen = z2 ? (size_t)(end - z2 - 1) : 1;
        char *value = malloc(vlen ? vlen : 1);
        if (!value) abort();
        memcpy(value, z2 ? z2 + 1 : "v", vlen);
        struct syslog_slice vars[FUZZ_NVARS] = {{value, vlen}, {NULL, 0}, {"\"q\\<", 4}, {"\xff\xfe", 2}, {"", 0}};
        check(map, doc, doc_p, (size_t)(doc_end - doc_p), 0, vars);
        check(map, doc, doc_p, (size_t)(doc_end - doc_p), 1, vars);
        free(value);
    }
    json_decref(map);
    json_decref(doc);
    return 0;
}
