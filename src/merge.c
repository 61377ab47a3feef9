/* merge.c - the merge action: deep-merges a templated JSON value into a message's JSON value. */
#include "merge.h"

#include <stdio.h>
#include <stdlib.h>

#include "jsonio.h"

/* The templates of the map's strings, in the order a depth-first walk of the map meets them
 * (object members in jansson's insertion order, array items by index), so every walk that
 * visits each string once in that order finds its template next in t. */
struct merge {
    int html; /* the templates' {{variables}} are HTML-escaped */
    json_t *map;
    struct tmpl **t;
    size_t n;
};

static int add_template(struct merge *m, const json_t *v, tmpl_resolve_fn resolve, void *arg,
                        const char *path, char *err, size_t errlen) {
    char why[256];
    struct tmpl *t = tmpl_compile(json_string_value(v), resolve, arg, why, sizeof why);
    if (!t) {
        snprintf(err, errlen, "json%s: %s", path, why);
        return -1;
    }
    tmpl_set_html_escape(t, m->html);
    m->t = realloc(m->t, (m->n + 1) * sizeof *m->t);
    if (!m->t) abort();
    m->t[m->n++] = t;
    return 0;
}

static int compile_walk(struct merge *m, json_t *node, tmpl_resolve_fn resolve, void *arg,
                        char *path, size_t plen, char *err, size_t errlen) {
    if (json_is_string(node)) return add_template(m, node, resolve, arg, path, err, errlen);
    int rc = 0;
    if (json_is_object(node)) {
        const char *key;
        json_t *v;
        json_object_foreach(node, key, v) {
            size_t k = (size_t)snprintf(path + plen, 256 - plen, ".%s", key);
            if (plen + k >= 256) k = 255 - plen;
            rc = compile_walk(m, v, resolve, arg, path, plen + k, err, errlen);
            path[plen] = 0;
            if (rc < 0) return -1;
        }
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            size_t k = (size_t)snprintf(path + plen, 256 - plen, "[%zu]", i);
            if (plen + k >= 256) k = 255 - plen;
            rc = compile_walk(m, json_array_get(node, i), resolve, arg, path, plen + k, err, errlen);
            path[plen] = 0;
            if (rc < 0) return -1;
        }
    }
    return 0;
}

struct merge *merge_compile(const json_t *map, tmpl_resolve_fn resolve, void *arg, int html,
                            char *err, size_t errlen) {
    struct merge *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->html = html;
    m->map = json_deep_copy(map);
    if (!m->map) {
        snprintf(err, errlen, "json: out of memory");
        merge_free(m);
        return NULL;
    }
    char path[256] = "";
    if (compile_walk(m, m->map, resolve, arg, path, 0, err, errlen) < 0) {
        merge_free(m);
        return NULL;
    }
    return m;
}

void merge_free(struct merge *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) tmpl_free(m->t[i]);
    free(m->t);
    json_decref(m->map);
    free(m);
}

/* A JSON string of s[0..n). Variables hold whatever clients sent; bytes that are not UTF-8
 * become U+FFFD, since JSON text must be UTF-8 (and jansson refuses to dump anything else). */
/* merge_string, adding to *bad the number of sequences replaced. */
static json_t *string_counted(const char *s, size_t n, struct buf *tmp, size_t *bad) {
    if (jsonio_valid_utf8(s, n)) return json_stringn_nocheck(s, n);
    tmp->len = 0;
    for (size_t i = 0; i < n;) {
        size_t k = jsonio_utf8_len((const unsigned char *)s + i, n - i);
        if (k) buf_append(tmp, s + i, k);
        else {
            buf_append(tmp, "\xEF\xBF\xBD", 3);
            (*bad)++;
        }
        i += k ? k : 1;
    }
    return json_stringn(tmp->p ? tmp->p : "", tmp->len);
}

json_t *merge_string(const char *s, size_t n, struct buf *tmp) {
    size_t bad = 0;
    return string_counted(s, n, tmp, &bad);
}

int merge_is_object(const struct merge *m) { return json_is_object(m->map); }

/* A new value for src with its strings rendered (the next templates in order). */
static json_t *render(const struct merge *m, const json_t *src, size_t *ti,
                      const struct syslog_slice *vars, struct buf *scratch, size_t *bad) {
    switch (json_typeof(src)) {
    case JSON_STRING:
        scratch[0].len = 0;
        *bad += tmpl_render(m->t[(*ti)++], vars, &scratch[0]);
        return string_counted(scratch[0].p ? scratch[0].p : "", scratch[0].len, &scratch[1], bad);
    case JSON_OBJECT: {
        json_t *o = json_object();
        for (void *it = json_object_iter((json_t *)src); o && it;
             it = json_object_iter_next((json_t *)src, it)) {
            json_t *v = render(m, json_object_iter_value(it), ti, vars, scratch, bad);
            if (!v || json_object_setn_new_nocheck(o, json_object_iter_key(it),
                                                   json_object_iter_key_len(it), v) < 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    case JSON_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < json_array_size(src); i++)
            if (json_array_append_new(a, render(m, json_array_get(src, i), ti, vars, scratch, bad)) < 0) {
                json_decref(a);
                return NULL;
            }
        return a;
    }
    default: return json_incref((json_t *)src); /* numbers, booleans, null: never modified */
    }
}

/* Drops every item of a equal to the one before it, keeping the first (Vec::dedup): one
 * pass moving the kept items down, then the tail cut from the end (each removal O(1)). */
static void dedup(json_t *a) {
    size_t n = json_array_size(a), w = 1;
    if (n < 2) return;
    for (size_t i = 1; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (jsonio_equal(json_array_get(a, w - 1), v)) continue;
        if (w != i) json_array_set(a, w, v);
        w++;
    }
    while (n > w) json_array_remove(a, --n);
}

/* Merges src (rendered on the way) into dst; returns the value to keep in dst's place: dst
 * itself (merged in place, same reference) or a new value. NULL if memory ran out. */
static json_t *merge_value(const struct merge *m, json_t *dst, const json_t *src, size_t *ti,
                           const struct syslog_slice *vars, struct buf *scratch, size_t *bad) {
    if (json_is_object(dst) && json_is_object(src)) {
        for (void *it = json_object_iter((json_t *)src); it;
             it = json_object_iter_next((json_t *)src, it)) {
            const char *key = json_object_iter_key(it);
            size_t klen = json_object_iter_key_len(it);
            const json_t *v = json_object_iter_value(it);
            /* A string or other scalar replaces whatever is there: no lookup needed. */
            json_t *cur = json_is_object(v) || json_is_array(v) ? json_object_getn(dst, key, klen) : NULL;
            json_t *nv = cur ? merge_value(m, cur, v, ti, vars, scratch, bad)
                             : render(m, v, ti, vars, scratch, bad);
            if (!nv) return NULL;
            if (nv != cur && json_object_setn_new_nocheck(dst, key, klen, nv) < 0) return NULL;
        }
        return dst;
    }
    if (json_is_array(dst) && (json_is_array(src) || json_is_object(src))) {
        if (json_is_array(src)) {
            for (size_t i = 0; i < json_array_size(src); i++)
                if (json_array_append_new(dst, render(m, json_array_get(src, i), ti, vars, scratch, bad)) < 0)
                    return NULL;
        } else if (json_array_append_new(dst, render(m, src, ti, vars, scratch, bad)) < 0) {
            return NULL;
        }
        dedup(dst);
        return dst;
    }
    return render(m, src, ti, vars, scratch, bad);
}

json_t *merge_apply(const struct merge *m, json_t *target, const struct syslog_slice *vars,
                    struct buf *scratch, size_t *invalid_utf8) {
    size_t ti = 0;
    json_t *r = merge_value(m, target, m->map, &ti, vars, scratch, invalid_utf8);
    if (r != target) json_decref(target);
    return r;
}

int merge_uses(const struct merge *m, int id) {
    for (size_t i = 0; i < m->n; i++)
        if (tmpl_uses(m->t[i], id)) return 1;
    return 0;
}
