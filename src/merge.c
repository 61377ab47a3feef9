/* merge.c - the merge action: deep-merges a templated JSON map into a message's JSON object. */
#include "merge.h"

#include <stdio.h>
#include <stdlib.h>

#include "jsonio.h"

/* The templates of the map's string values, in the order a depth-first walk of the map meets
 * them; jansson keeps object keys in insertion order, so every walk meets them the same way. */
struct merge {
    json_t *map;
    struct tmpl **t;
    size_t n;
};

static int compile_walk(struct merge *m, json_t *node, tmpl_resolve_fn resolve, void *arg,
                        char *path, size_t plen, char *err, size_t errlen) {
    const char *key;
    json_t *v;
    json_object_foreach(node, key, v) {
        size_t k = (size_t)snprintf(path + plen, 256 - plen, ".%s", key);
        if (plen + k >= 256) k = 255 - plen;
        if (json_is_object(v)) {
            if (compile_walk(m, v, resolve, arg, path, plen + k, err, errlen) < 0) return -1;
        } else if (json_is_string(v)) {
            char why[256];
            struct tmpl *t = tmpl_compile(json_string_value(v), resolve, arg, why, sizeof why);
            if (!t) {
                snprintf(err, errlen, "json%s: %s", path, why);
                return -1;
            }
            m->t = realloc(m->t, (m->n + 1) * sizeof *m->t);
            if (!m->t) abort();
            m->t[m->n++] = t;
        }
        path[plen] = 0;
    }
    return 0;
}

struct merge *merge_compile(const json_t *map, tmpl_resolve_fn resolve, void *arg, char *err,
                            size_t errlen) {
    struct merge *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->map = json_deep_copy(map);
    if (!m->map || !json_is_object(m->map)) {
        snprintf(err, errlen, "json: must be a map");
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
json_t *merge_string(const char *s, size_t n, struct buf *tmp) {
    if (jsonio_valid_utf8(s, n)) return json_stringn_nocheck(s, n);
    tmp->len = 0;
    for (size_t i = 0; i < n;) {
        size_t k = jsonio_utf8_len((const unsigned char *)s + i, n - i);
        if (k) buf_append(tmp, s + i, k);
        else buf_append(tmp, "\xEF\xBF\xBD", 3);
        i += k ? k : 1;
    }
    return json_stringn(tmp->p ? tmp->p : "", tmp->len);
}

static void apply_walk(const struct merge *m, json_t *src, json_t *dst, size_t *ti,
                       const struct syslog_slice *vars, struct buf *scratch) {
    for (void *it = json_object_iter(src); it; it = json_object_iter_next(src, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        json_t *v = json_object_iter_value(it);
        if (json_is_object(v)) {
            json_t *d = json_object_getn(dst, key, klen);
            if (!json_is_object(d)) {
                d = json_object();
                json_object_setn_new_nocheck(dst, key, klen, d);
            }
            apply_walk(m, v, d, ti, vars, scratch);
        } else if (json_is_string(v)) {
            scratch[0].len = 0;
            tmpl_render(m->t[(*ti)++], vars, &scratch[0]);
            json_object_setn_new_nocheck(dst, key, klen, merge_string(scratch[0].p ? scratch[0].p : "",
                                                                      scratch[0].len, &scratch[1]));
        } else {
            json_object_setn_new_nocheck(dst, key, klen, json_deep_copy(v));
        }
    }
}

int merge_apply(const struct merge *m, json_t *target, const struct syslog_slice *vars,
                struct buf *scratch) {
    if (!json_is_object(target)) return -1;
    size_t ti = 0;
    apply_walk(m, m->map, target, &ti, vars, scratch);
    return 0;
}

int merge_uses(const struct merge *m, int id) {
    for (size_t i = 0; i < m->n; i++)
        if (tmpl_uses(m->t[i], id)) return 1;
    return 0;
}
