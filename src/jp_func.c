/* jp_func.c - the JMESPath built-in functions, their signatures and argument type checks. */
#include <float.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jp_internal.h"
#include "jsonio.h"

enum {
    T_NUM = 1,
    T_STR = 2,
    T_BOOL = 4,
    T_NULL = 8,
    T_ARR = 16,
    T_OBJ = 32,
    T_REF = 64,
    T_ANY = T_NUM | T_STR | T_BOOL | T_NULL | T_ARR | T_OBJ
};

/* An evaluated argument: a borrowed value, or for '&expr' the expression itself. */
struct arg {
    json_t *v;
    const struct jp_node *ref;
};

typedef int (*jp_fn)(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                     json_t **out);

struct jp_func {
    const char *name;
    int min, max; /* max < 0: variadic, the last type repeats */
    unsigned types[2];
    jp_fn fn;
};

static unsigned type_bit(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL: return T_NUM;
    case JSON_STRING: return T_STR;
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOL;
    case JSON_ARRAY: return T_ARR;
    case JSON_OBJECT: return T_OBJ;
    default: return T_NULL;
    }
}

static int type_error(struct jp_ctx *c, const struct jp_func *f, size_t i, const char *want,
                      const char *got) {
    return jp_fail(c, JP_EINVALID_TYPE, "%s() argument %zu must be %s, got %s", f->name, i + 1,
                   want, got);
}

/* Doubles beyond 2^52 in magnitude are already whole. */
#define JP_WHOLE_LIMIT 4503599627370496.0

/* floor() without libm, which the project's link line does not carry. */
static double jp_floor(double d) {
    if (!(d > -JP_WHOLE_LIMIT && d < JP_WHOLE_LIMIT)) return d;
    double t = (double)(long long)d;
    return t > d ? t - 1 : t;
}

/* Checks that every element of arr has a type in mask (arrays of numbers, of strings). */
static int check_elems(struct jp_ctx *c, const struct jp_func *f, size_t i, const json_t *arr,
                       unsigned mask, const char *want) {
    for (size_t k = 0; k < json_array_size(arr); k++)
        if (!(type_bit(json_array_get(arr, k)) & mask))
            return type_error(c, f, i, want, "an array holding other types");
    return 0;
}

/* min/max/sort need all numbers or all strings; returns that type bit, 0 if empty. */
static int homogeneous(struct jp_ctx *c, const struct jp_func *f, size_t i, const json_t *arr,
                       unsigned *kind) {
    *kind = json_array_size(arr) ? type_bit(json_array_get(arr, 0)) : 0;
    if (*kind != 0 && *kind != T_NUM && *kind != T_STR)
        return type_error(c, f, i, "an array of numbers or of strings", "another array");
    return check_elems(c, f, i, arr, *kind ? *kind : T_ANY, "an array of numbers or of strings");
}

static int cmp_kind(unsigned kind, const json_t *a, const json_t *b) {
    return kind == T_NUM ? jp_num_cmp(a, b) : jp_str_cmp(a, b);
}

/* abs, avg, ceil, floor and sum give doubles whatever their input, as the original's
 * JMESPath did: to_string(sum(`[1,2]`)) is "3.0" there, and so here. */
static int fn_abs(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                  json_t **out) {
    (void)f, (void)n;
    double d = json_number_value(a[0].v);
    return jp_keep(c, json_real(d <= 0 ? 0.0 - d : d), out); /* abs(-0.0) is 0.0 */
}

static int fn_avg_sum(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                      json_t **out) {
    (void)n;
    json_t *arr = a[0].v;
    size_t len = json_array_size(arr);
    int rc = check_elems(c, f, 0, arr, T_NUM, "an array of numbers");
    if (rc < 0) return rc;
    if (f->name[0] == 'a' && len == 0) { /* the specification's null (the original fails) */
        *out = json_null();
        return 0;
    }
    double dsum = 0;
    for (size_t k = 0; k < len; k++) dsum += json_number_value(json_array_get(arr, k));
    return jp_keep(c, json_real(f->name[0] == 'a' ? dsum / (double)len : dsum), out);
}

static int fn_ceil_floor(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                         json_t **out) {
    (void)n;
    double d = json_number_value(a[0].v);
    return jp_keep(c, json_real(f->name[0] == 'c' ? -jp_floor(-d) : jp_floor(d)), out);
}

static int fn_contains(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                       json_t **out) {
    (void)f, (void)n;
    json_t *subj = a[0].v, *needle = a[1].v;
    int found = 0;
    if (json_is_string(subj)) {
        found = json_is_string(needle) &&
                memmem(json_string_value(subj), json_string_length(subj),
                       json_string_value(needle), json_string_length(needle)) != NULL;
    } else {
        for (size_t k = 0; k < json_array_size(subj) && !found; k++) {
            found = jp_equal(c, json_array_get(subj, k), needle, 0);
            if (found < 0) return found;
        }
    }
    *out = json_boolean(found);
    return 0;
}

static int fn_starts_ends(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                          json_t **out) {
    (void)c, (void)n;
    size_t ls = json_string_length(a[0].v), lp = json_string_length(a[1].v);
    const char *s = json_string_value(a[0].v);
    if (f->name[0] == 'e') s += ls >= lp ? ls - lp : 0;
    *out = json_boolean(ls >= lp && memcmp(s, json_string_value(a[1].v), lp) == 0);
    return 0;
}

static int fn_join(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                   json_t **out) {
    (void)n;
    int rc = check_elems(c, f, 1, a[1].v, T_STR, "an array of strings");
    return rc < 0 ? rc : jp_join(c, a[0].v, a[1].v, out);
}

static int fn_keys_values(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                          json_t **out) {
    (void)n;
    json_t *obj = a[0].v;
    int rc = jp_keep(c, json_array(), out);
    if (rc == 0) rc = jp_charge(c, (long)json_object_size(obj));
    for (void *it = json_object_iter(obj); it != NULL && rc == 0;
         it = json_object_iter_next(obj, it)) {
        if (f->name[0] == 'k')
            rc = json_array_append_new(*out, json_stringn_nocheck(json_object_iter_key(it),
                                                                  json_object_iter_key_len(it)));
        else
            rc = json_array_append(*out, json_object_iter_value(it));
        if (rc < 0) rc = jp_fail(c, JP_ENOMEM, "out of memory");
    }
    return rc;
}

static int fn_length(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                     json_t **out) {
    (void)f, (void)n;
    json_t *v = a[0].v;
    size_t len = 0;
    if (json_is_string(v)) {
        const unsigned char *s = (const unsigned char *)json_string_value(v);
        /* Code points: every byte that does not continue a UTF-8 sequence starts one. */
        for (size_t k = 0; k < json_string_length(v); k++) len += (s[k] & 0xC0) != 0x80;
    } else {
        len = json_is_array(v) ? json_array_size(v) : json_object_size(v);
    }
    return jp_keep(c, json_integer((json_int_t)len), out);
}

static int fn_map(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                  json_t **out) {
    (void)f, (void)n;
    json_t *arr = a[1].v, *r;
    int rc = jp_keep(c, json_array(), out);
    if (rc < 0) return rc;
    for (size_t k = 0; k < json_array_size(arr); k++) {
        rc = jp_eval(c, a[0].ref->a, json_array_get(arr, k), &r);
        if (rc < 0) return rc;
        if (json_array_append(*out, r) < 0) return jp_fail(c, JP_ENOMEM, "out of memory");
    }
    return 0;
}

static int fn_min_max(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                      json_t **out) {
    (void)n;
    unsigned kind;
    json_t *arr = a[0].v;
    int rc = homogeneous(c, f, 0, arr, &kind), want = f->name[1] == 'a' ? 1 : -1;
    if (rc < 0) return rc;
    *out = json_null();
    for (size_t k = 0; k < json_array_size(arr); k++) {
        json_t *e = json_array_get(arr, k);
        if (k == 0 || cmp_kind(kind, e, *out) == want) *out = e;
    }
    return 0;
}

/* Evaluates the key expression for every element: all numbers or all strings. */
static int eval_keys(struct jp_ctx *c, const struct jp_func *f, struct arg *a, json_t **keys,
                     unsigned *kind) {
    json_t *arr = a[0].v;
    *kind = 0;
    for (size_t k = 0; k < json_array_size(arr); k++) {
        int rc = jp_eval(c, a[1].ref->a, json_array_get(arr, k), &keys[k]);
        if (rc < 0) return rc;
        unsigned t = type_bit(keys[k]);
        if (k == 0) *kind = t;
        if ((t != T_NUM && t != T_STR) || t != *kind)
            return jp_fail(c, JP_EINVALID_TYPE,
                           "%s() expression must give all numbers or all strings, got %s",
                           f->name, jp_type_name(keys[k]));
    }
    return 0;
}

static int fn_min_max_by(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                         json_t **out) {
    (void)n;
    json_t *arr = a[0].v, *best = NULL, *k;
    unsigned kind = 0;
    int want = f->name[1] == 'a' ? 1 : -1;
    *out = json_null();
    for (size_t i = 0; i < json_array_size(arr); i++) {
        int rc = jp_eval(c, a[1].ref->a, json_array_get(arr, i), &k);
        if (rc < 0) return rc;
        unsigned t = type_bit(k);
        if (i == 0) kind = t;
        if ((t != T_NUM && t != T_STR) || t != kind)
            return jp_fail(c, JP_EINVALID_TYPE,
                           "%s() expression must give all numbers or all strings, got %s",
                           f->name, jp_type_name(k));
        if (i == 0 || cmp_kind(kind, k, best) == want) {
            best = k;
            *out = json_array_get(arr, i);
        }
    }
    return 0;
}

static int fn_merge(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                    json_t **out) {
    (void)f;
    int rc = jp_keep(c, json_object(), out);
    if (rc < 0) return rc;
    for (size_t k = 0; k < n; k++) {
        rc = jp_charge(c, (long)json_object_size(a[k].v));
        if (rc < 0) return rc;
        if (json_object_update(*out, a[k].v) < 0) return jp_fail(c, JP_ENOMEM, "out of memory");
    }
    return 0;
}

static int fn_not_null(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                       json_t **out) {
    (void)c, (void)f;
    *out = json_null();
    for (size_t k = 0; k < n; k++) {
        if (!json_is_null(a[k].v)) {
            *out = a[k].v;
            break;
        }
    }
    return 0;
}

static int fn_reverse(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                      json_t **out) {
    (void)f, (void)n;
    json_t *v = a[0].v;
    if (json_is_array(v)) {
        size_t len = json_array_size(v);
        int rc = jp_keep(c, json_array(), out);
        if (rc < 0) return rc;
        for (size_t k = len; k > 0; k--)
            if (json_array_append(*out, json_array_get(v, k - 1)) < 0)
                return jp_fail(c, JP_ENOMEM, "out of memory");
        return jp_charge(c, (long)len);
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    char *buf = malloc(len + 1);
    if (buf == NULL) return jp_fail(c, JP_ENOMEM, "out of memory");
    /* Reverse code points, not bytes, so multi-byte characters stay intact. */
    for (size_t i = 0; i < len;) {
        size_t l = 1;
        while (i + l < len && l < 4 && ((unsigned char)s[i + l] & 0xC0) == 0x80) l++;
        memcpy(buf + len - i - l, s + i, l);
        i += l;
    }
    int rc = jp_keep(c, json_stringn_nocheck(buf, len), out);
    free(buf);
    return rc < 0 ? rc : jp_charge(c, (long)(len / 8));
}

struct item {
    json_t *key, *val;
};

/* Stable merge sort: JMESPath requires equal keys to keep their order. */
static void merge_sort(struct item *v, struct item *tmp, size_t n, unsigned kind) {
    if (n < 2) return;
    size_t h = n / 2, i = 0, j = h, o = 0;
    merge_sort(v, tmp, h, kind);
    merge_sort(v + h, tmp, n - h, kind);
    while (i < h && j < n) tmp[o++] = cmp_kind(kind, v[j].key, v[i].key) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[o++] = v[i++];
    while (j < n) tmp[o++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static int fn_sort(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                   json_t **out) {
    json_t *arr = a[0].v;
    size_t len = json_array_size(arr);
    struct item *items = calloc(len ? 2 * len : 1, sizeof *items);
    json_t **keys = n > 1 ? calloc(len ? len : 1, sizeof *keys) : NULL;
    unsigned kind = 0;
    int rc = JP_ENOMEM;
    if (items == NULL || (n > 1 && keys == NULL)) {
        jp_fail(c, rc, "out of memory");
        goto err;
    }
    rc = n > 1 ? eval_keys(c, f, a, keys, &kind) : homogeneous(c, f, 0, arr, &kind);
    if (rc < 0) goto err;
    for (size_t k = 0; k < len; k++) {
        items[k].val = json_array_get(arr, k);
        items[k].key = keys ? keys[k] : items[k].val;
    }
    merge_sort(items, items + len, len, kind);
    if ((rc = jp_keep(c, json_array(), out)) < 0) goto err;
    for (size_t k = 0; k < len; k++) {
        if (json_array_append(*out, items[k].val) < 0) {
            rc = jp_fail(c, JP_ENOMEM, "out of memory");
            goto err;
        }
    }
    rc = jp_charge(c, (long)len);
err:
    free(items);
    free(keys);
    return rc;
}

static int fn_to_array(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                       json_t **out) {
    (void)f, (void)n;
    if (json_is_array(a[0].v)) {
        *out = a[0].v;
        return 0;
    }
    int rc = jp_keep(c, json_array(), out);
    if (rc < 0) return rc;
    return json_array_append(*out, a[0].v) < 0 ? jp_fail(c, JP_ENOMEM, "out of memory") : 0;
}

static int fn_to_string(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                        json_t **out) {
    (void)f, (void)n;
    if (json_is_string(a[0].v)) {
        *out = a[0].v;
        return 0;
    }
    return jp_to_json_string(c, a[0].v, out);
}

/* The original's to_number: a number as it is; a string read as JSON text (serde_json's
 * grammar, surrounding whitespace allowed), giving whatever value it holds ("true" gives
 * true, " 42 " 42, "-0" -0.0); null for anything else, or text that is not JSON. */
static int fn_to_number(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                        json_t **out) {
    (void)f, (void)n;
    json_t *v = a[0].v;
    *out = json_is_number(v) ? v : json_null();
    if (!json_is_string(v)) return 0;
    enum jsonio_err e;
    json_t *r = jsonio_parse(json_string_value(v), json_string_length(v), &e);
    if (!r) return e == JSONIO_NOMEM ? jp_fail(c, JP_ENOMEM, "out of memory") : 0;
    return jp_keep(c, r, out);
}

static int fn_type(struct jp_ctx *c, const struct jp_func *f, struct arg *a, size_t n,
                   json_t **out) {
    (void)f, (void)n;
    return jp_keep(c, json_string(jp_type_name(a[0].v)), out);
}

/* Sorted by name for bsearch. */
static const struct jp_func funcs[] = {
    {"abs", 1, 1, {T_NUM}, fn_abs},
    {"avg", 1, 1, {T_ARR}, fn_avg_sum},
    {"ceil", 1, 1, {T_NUM}, fn_ceil_floor},
    {"contains", 2, 2, {T_ARR | T_STR, T_ANY}, fn_contains},
    {"ends_with", 2, 2, {T_STR, T_STR}, fn_starts_ends},
    {"floor", 1, 1, {T_NUM}, fn_ceil_floor},
    {"join", 2, 2, {T_STR, T_ARR}, fn_join},
    {"keys", 1, 1, {T_OBJ}, fn_keys_values},
    {"length", 1, 1, {T_STR | T_ARR | T_OBJ}, fn_length},
    {"map", 2, 2, {T_REF, T_ARR}, fn_map},
    {"max", 1, 1, {T_ARR}, fn_min_max},
    {"max_by", 2, 2, {T_ARR, T_REF}, fn_min_max_by},
    {"merge", 1, -1, {T_OBJ}, fn_merge},
    {"min", 1, 1, {T_ARR}, fn_min_max},
    {"min_by", 2, 2, {T_ARR, T_REF}, fn_min_max_by},
    {"not_null", 1, -1, {T_ANY}, fn_not_null},
    {"reverse", 1, 1, {T_ARR | T_STR}, fn_reverse},
    {"sort", 1, 1, {T_ARR}, fn_sort},
    {"sort_by", 2, 2, {T_ARR, T_REF}, fn_sort},
    {"starts_with", 2, 2, {T_STR, T_STR}, fn_starts_ends},
    {"sum", 1, 1, {T_ARR}, fn_avg_sum},
    {"to_array", 1, 1, {T_ANY}, fn_to_array},
    {"to_number", 1, 1, {T_ANY}, fn_to_number},
    {"to_string", 1, 1, {T_ANY}, fn_to_string},
    {"type", 1, 1, {T_ANY}, fn_type},
    {"values", 1, 1, {T_OBJ}, fn_keys_values},
};

const struct jp_func *jp_func_lookup(const char *name, size_t len) {
    size_t lo = 0, hi = sizeof funcs / sizeof funcs[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2, fl = strlen(funcs[mid].name);
        int r = memcmp(name, funcs[mid].name, len < fl ? len : fl);
        if (r == 0) r = (len > fl) - (len < fl);
        if (r == 0) return &funcs[mid];
        if (r < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *jp_func_name(const struct jp_func *f) { return f->name; }

int jp_func_check_arity(const struct jp_func *f, size_t nargs, char *err, size_t errlen) {
    if (nargs >= (size_t)f->min && (f->max < 0 || nargs <= (size_t)f->max)) return 0;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s() takes %s%d argument%s, got %zu", f->name,
                 f->max < 0 ? "at least " : "", f->min, f->min == 1 ? "" : "s", nargs);
    return JP_EINVALID_ARITY;
}

static const char *type_names(unsigned mask) {
    switch (mask) {
    case T_NUM: return "a number";
    case T_STR: return "a string";
    case T_ARR: return "an array";
    case T_OBJ: return "an object";
    case T_REF: return "an expression (&expr)";
    case T_ARR | T_STR: return "an array or a string";
    case T_STR | T_ARR | T_OBJ: return "a string, an array or an object";
    default: return "any value";
    }
}

int jp_func_call(struct jp_ctx *c, const struct jp_node *n, json_t *cur, json_t **out) {
    const struct jp_func *f = n->u.fn;
    struct arg small[4], *args = small;
    int rc = 0;
    if (n->nkids > sizeof small / sizeof small[0]) {
        args = malloc(n->nkids * sizeof *args);
        if (args == NULL) return jp_fail(c, JP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n->nkids && rc == 0; i++) {
        unsigned want = f->types[i < 2 ? i : 1];
        if (f->max < 0 || i >= 2) want = f->types[0];
        const struct jp_node *k = n->kids[i];
        args[i].ref = k->type == JP_N_EXPREF ? k : NULL;
        args[i].v = NULL;
        if (args[i].ref == NULL) rc = jp_eval(c, k, cur, &args[i].v);
        if (rc < 0) break;
        unsigned got = args[i].ref ? T_REF : type_bit(args[i].v);
        if (!(got & want))
            rc = type_error(c, f, i, type_names(want),
                            args[i].ref ? "an expression" : jp_type_name(args[i].v));
    }
    if (rc == 0) rc = f->fn(c, f, args, n->nkids, out);
    if (args != small) free(args);
    return rc;
}
