/* merge.c - the merge action: deep-merges a templated JSON value into a message's JSON value. */
#include "merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jdoc.h"
#include "jsonio.h"
#include "jsonio_internal.h"

/* The templates of the map's strings, in the order a depth-first walk of the map meets them
 * (object members in jansson's insertion order, array items by index), so every walk that
 * visits each string once in that order finds its template next in t. */
struct merge {
    int html; /* the templates' {{variables}} are HTML-escaped */
    json_t *map;
    struct tmpl **t;
    size_t n;
    struct mnode *root; /* the map as merge_write walks it */
};

/* The map for merge_write: objects' members sorted by key, as they are printed, each key
 * already written as JSON with its colon; every string with its template; numbers,
 * booleans and null already written as JSON. */
struct mnode {
    enum { MN_STRING, MN_OBJECT, MN_ARRAY, MN_SCALAR } type;
    struct tmpl *t; /* MN_STRING */
    char *json;     /* MN_SCALAR */
    size_t json_len;
    struct mnode *items;      /* MN_ARRAY */
    struct mmember *members;  /* MN_OBJECT, sorted by key */
    size_t n;
};

struct mmember {
    const char *key; /* in the map (m->map) */
    size_t len;
    char *key_json;  /* "key": */
    size_t key_json_len;
    struct mnode v;
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

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) abort();
    return p;
}

static int mmember_cmp(const void *a, const void *b) {
    const struct mmember *x = a, *y = b;
    return jdoc_key_cmp(x->key, x->len, y->key, y->len);
}

/* Builds x from the map's value v; the strings take their templates from t in compile_walk's
 * order (*ti counts them). */
static void mnode_build(struct mnode *x, const json_t *v, struct tmpl *const *t, size_t *ti) {
    if (json_is_string(v)) {
        x->type = MN_STRING;
        x->t = t[(*ti)++];
    } else if (json_is_object(v)) {
        x->type = MN_OBJECT;
        x->members = xcalloc(json_object_size(v), sizeof *x->members);
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            struct mmember *mm = &x->members[x->n++];
            mm->key = json_object_iter_key(it);
            mm->len = json_object_iter_key_len(it);
            struct buf b = {0};
            jsonio_dump_string(&b, mm->key, mm->len);
            buf_append(&b, ":", 1);
            mm->key_json = b.p;
            mm->key_json_len = b.len;
            mnode_build(&mm->v, json_object_iter_value(it), t, ti);
        }
        qsort(x->members, x->n, sizeof *x->members, mmember_cmp);
    } else if (json_is_array(v)) {
        x->type = MN_ARRAY;
        x->n = json_array_size(v);
        x->items = xcalloc(x->n, sizeof *x->items);
        for (size_t i = 0; i < x->n; i++) mnode_build(&x->items[i], json_array_get(v, i), t, ti);
    } else {
        x->type = MN_SCALAR;
        struct buf b = {0};
        jsonio_dump(&b, v);
        x->json = b.p;
        x->json_len = b.len;
    }
}

static void mnode_free(struct mnode *x) {
    for (size_t i = 0; x->type == MN_OBJECT && i < x->n; i++) {
        free(x->members[i].key_json);
        mnode_free(&x->members[i].v);
    }
    for (size_t i = 0; x->type == MN_ARRAY && i < x->n; i++) mnode_free(&x->items[i]);
    free(x->members);
    free(x->items);
    free(x->json);
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
    size_t ti = 0;
    m->root = calloc(1, sizeof *m->root);
    if (!m->root) abort();
    mnode_build(m->root, m->map, m->t, &ti);
    return m;
}

void merge_free(struct merge *m) {
    if (!m) return;
    if (m->root) mnode_free(m->root);
    free(m->root);
    for (size_t i = 0; i < m->n; i++) tmpl_free(m->t[i]);
    free(m->t);
    json_decref(m->map);
    free(m);
}

/* A JSON string of s[0..n). Variables hold whatever clients sent; bytes that are not UTF-8
 * become U+FFFD, since JSON text must be UTF-8 (and jansson refuses to dump anything else). */
/* s[0..n) with each byte sequence that is not UTF-8 replaced by U+FFFD, in tmp; adds the
 * number replaced to *bad. */
static void utf8_repair(const char *s, size_t n, struct buf *tmp, size_t *bad) {
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
}

/* merge_string, adding to *bad the number of sequences replaced. */
static json_t *string_counted(const char *s, size_t n, struct buf *tmp, size_t *bad) {
    if (jsonio_valid_utf8(s, n)) return json_stringn_nocheck(s, n);
    utf8_repair(s, n, tmp, bad);
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

/* ------------------------------------------------------------------ straight to JSON text */

/* What one merge_write carries down its walk. */
struct wr {
    const struct syslog_slice *vars;
    struct buf *scratch;
    size_t *bad;
    struct buf *out;
    struct jdoc *d;
};

/* Writes the map's value x, rendered, as JSON. */
static void write_rendered(struct wr *w, const struct mnode *x) {
    switch (x->type) {
    case MN_STRING: {
        struct buf *s = &w->scratch[0];
        s->len = 0;
        *w->bad += tmpl_render(x->t, w->vars, s);
        const char *p = s->p ? s->p : "";
        size_t n = s->len;
        if (!jsonio_valid_utf8(p, n)) {
            utf8_repair(p, n, &w->scratch[1], w->bad);
            p = w->scratch[1].p ? w->scratch[1].p : "";
            n = w->scratch[1].len;
        }
        jsonio_dump_string(w->out, p, n);
        break;
    }
    case MN_SCALAR: buf_append(w->out, x->json, x->json_len); break;
    case MN_ARRAY:
        buf_append(w->out, "[", 1);
        for (size_t i = 0; i < x->n; i++) {
            if (i) buf_append(w->out, ",", 1);
            write_rendered(w, &x->items[i]);
        }
        buf_append(w->out, "]", 1);
        break;
    case MN_OBJECT:
        buf_append(w->out, "{", 1);
        for (size_t i = 0; i < x->n; i++) {
            if (i) buf_append(w->out, ",", 1);
            buf_append(w->out, x->members[i].key_json, x->members[i].key_json_len);
            write_rendered(w, &x->members[i].v);
        }
        buf_append(w->out, "}", 1);
        break;
    }
}

static int write_merged(struct wr *w, const struct mnode *src, uint32_t dst, size_t top);

/* An object of the document merged with an object of the map: both sets of members walked
 * in key order, as merge_value's result prints. top: the first free slot of d->m. */
static int write_object(struct wr *w, const struct mnode *src, uint32_t dst, size_t top) {
    struct jdoc *d = w->d;
    size_t n = jdoc_members(d, dst, top), i = 0, j = 0;
    buf_append(w->out, "{", 1);
    while (i < n || j < src->n) {
        int c;
        if (i == n) c = 1;
        else if (j == src->n) c = -1;
        else /* d->m may have moved in a nested call: read it each time */
            c = jdoc_key_cmp(d->m[top + i].key, d->m[top + i].len, src->members[j].key,
                             src->members[j].len);
        if (i || j) buf_append(w->out, ",", 1);
        if (c < 0) { /* only in the document: as it is */
            uint32_t key = (uint32_t)d->m[top + i++].ref;
            jdoc_dump_at(w->out, d, key, top + n); /* the key, */
            buf_append(w->out, ":", 1);
            jdoc_dump_at(w->out, d, key + 1, top + n); /* and its value */
            continue;
        }
        const struct mmember *mm = &src->members[j++];
        buf_append(w->out, mm->key_json, mm->key_json_len);
        if (c > 0) { /* only in the map */
            write_rendered(w, &mm->v);
            continue;
        }
        uint32_t val = (uint32_t)d->m[top + i++].ref + 1;
        if (write_merged(w, &mm->v, val, top + n) < 0) return -1;
    }
    buf_append(w->out, "}", 1);
    return 0;
}

/* merge_value's cases, written out: the document's value dst (JDOC_NONE: none) with the
 * map's src merged in. -1 where merge_apply must do it. */
static int write_merged(struct wr *w, const struct mnode *src, uint32_t dst, size_t top) {
    uint8_t t = dst == JDOC_NONE ? JDOC_NULL : w->d->v[dst].type;
    if (src->type == MN_OBJECT && t == JDOC_OBJECT) return write_object(w, src, dst, top);
    /* A scalar of the map replaces whatever is there, as merge_value's lookup-free path. */
    if (t == JDOC_ARRAY && (src->type == MN_ARRAY || src->type == MN_OBJECT)) return -1;
    write_rendered(w, src);
    return 0;
}

int merge_write(const struct merge *m, struct jdoc *d, uint32_t at, const struct syslog_slice *vars,
                struct buf *scratch, size_t *invalid_utf8, struct buf *out) {
    size_t len = out->len, bad = *invalid_utf8;
    struct wr w = {vars, scratch, invalid_utf8, out, d};
    if (write_merged(&w, m->root, at, 0) == 0) return 0;
    out->len = len;
    *invalid_utf8 = bad;
    return MERGE_SLOW;
}
