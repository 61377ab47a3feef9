/* jp_eval.c - evaluates a compiled JMESPath AST against jansson values (jp_search). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jp_internal.h"

const char *jp_strerror(int code) {
    switch (code) {
    case 0: return "ok";
    case JP_ESYNTAX: return "syntax";
    case JP_EINVALID_TYPE: return "invalid-type";
    case JP_EINVALID_ARITY: return "invalid-arity";
    case JP_EUNKNOWN_FUNCTION: return "unknown-function";
    case JP_EINVALID_VALUE: return "invalid-value";
    case JP_ENOMEM: return "out-of-memory";
    case JP_ELIMIT: return "limit";
    default: return "unknown";
    }
}

int jp_fail(struct jp_ctx *c, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    jp_errorf(c->err, c->errlen, code, fmt, ap);
    va_end(ap);
    return code;
}

int jp_charge(struct jp_ctx *c, long n) {
    c->steps += n;
    if (c->steps <= JP_MAX_STEPS) return 0;
    return jp_fail(c, JP_ELIMIT, "evaluation took more than %ld steps", JP_MAX_STEPS);
}

int jp_keep(struct jp_ctx *c, json_t *v, json_t **out) {
    int rc = JP_ENOMEM;
    *out = NULL;
    if (v == NULL) goto err;
    /* A temporary costs memory until the search ends; charging for it bounds that memory. */
    if ((rc = jp_charge(c, JP_KEEP_COST)) < 0) goto err;
    if (c->ntmp == c->captmp) {
        size_t cap = c->captmp * 2;
        json_t **t = malloc(cap * sizeof *t);
        rc = JP_ENOMEM;
        if (t == NULL) goto err;
        memcpy(t, c->tmp, c->ntmp * sizeof *t);
        if (c->tmp != c->tmp_inline) free(c->tmp);
        c->tmp = t;
        c->captmp = cap;
    }
    c->tmp[c->ntmp++] = v;
    *out = v;
    return 0;
err:
    json_decref(v);
    return rc == JP_ENOMEM ? jp_fail(c, rc, "out of memory") : rc;
}

static int append(struct jp_ctx *c, json_t *arr, json_t *v) {
    if (jp_charge(c, 1) < 0) return JP_ELIMIT;
    if (json_array_append(arr, v) < 0) return jp_fail(c, JP_ENOMEM, "out of memory");
    return 0;
}

static int new_array(struct jp_ctx *c, json_t **out) {
    return jp_keep(c, json_array(), out);
}

/* Python slice semantics: clamp the bounds into the array, then walk by step. */
static int eval_slice(struct jp_ctx *c, const struct jp_node *n, json_t *cur, json_t **out) {
    if (!json_is_array(cur)) {
        *out = json_null();
        return 0;
    }
    long long len = (long long)json_array_size(cur), step = n->u.slice.step;
    long long start = n->u.slice.start, stop = n->u.slice.stop;
    long long lo = step > 0 ? 0 : -1, hi = step > 0 ? len : len - 1;
    if (!n->u.slice.has_start) start = step > 0 ? 0 : len - 1;
    else if (start < 0) start = start + len < lo ? lo : start + len;
    else if (start > hi) start = hi;
    if (!n->u.slice.has_stop) stop = step > 0 ? len : -1;
    else if (stop < 0) stop = stop + len < lo ? lo : stop + len;
    else if (stop > hi) stop = hi;
    int rc = new_array(c, out);
    for (long long i = start; rc == 0 && (step > 0 ? i < stop : i > stop); i += step) {
        rc = jp_charge(c, 1);
        if (rc == 0) rc = append(c, *out, json_array_get(cur, (size_t)i));
    }
    return rc;
}

/* Applies n->b to each element of items (an array or an object's values), keeping the
 * non-null results; for filters only elements for which n->c is truthy. */
static int project(struct jp_ctx *c, const struct jp_node *n, json_t *items, json_t **out) {
    int rc = new_array(c, out);
    json_t *v, *r;
    void *it = json_is_object(items) ? json_object_iter(items) : NULL;
    for (size_t i = 0; rc == 0; i++) {
        if (json_is_array(items)) {
            if (i >= json_array_size(items)) break;
            v = json_array_get(items, i);
        } else {
            if (it == NULL) break;
            v = json_object_iter_value(it);
            it = json_object_iter_next(items, it);
        }
        if (n->c != NULL) {
            rc = jp_eval(c, n->c, v, &r);
            if (rc < 0 || !jp_truthy(r)) continue;
        }
        rc = jp_eval(c, n->b, v, &r);
        if (rc == 0 && !json_is_null(r)) rc = append(c, *out, r);
    }
    return rc;
}

static int eval_flatten(struct jp_ctx *c, json_t *v, json_t **out) {
    if (!json_is_array(v)) {
        *out = json_null();
        return 0;
    }
    int rc = new_array(c, out);
    for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (json_is_array(e)) {
            rc = jp_charge(c, (long)json_array_size(e));
            if (rc == 0 && json_array_extend(*out, e) < 0)
                rc = jp_fail(c, JP_ENOMEM, "out of memory");
        } else {
            rc = append(c, *out, e);
        }
    }
    return rc;
}

/* Ordering comparisons are defined on numbers only; anything else compares to null. */
static int eval_cmp(struct jp_ctx *c, const struct jp_node *n, json_t *l, json_t *r,
                    json_t **out) {
    int res;
    if (n->u.cmp == JP_T_EQ || n->u.cmp == JP_T_NE) {
        res = jp_equal(c, l, r, 0);
        if (res < 0) return res;
        if (n->u.cmp == JP_T_NE) res = !res;
    } else if (json_is_number(l) && json_is_number(r)) {
        int d = jp_num_cmp(l, r);
        res = n->u.cmp == JP_T_LT ? d < 0 : n->u.cmp == JP_T_LE ? d <= 0
            : n->u.cmp == JP_T_GT ? d > 0 : d >= 0;
    } else {
        *out = json_null();
        return 0;
    }
    *out = json_boolean(res);
    return 0;
}

static int eval_multiselect(struct jp_ctx *c, const struct jp_node *n, json_t *cur,
                            json_t **out) {
    json_t *v;
    int rc;
    if (json_is_null(cur)) {
        *out = json_null();
        return 0;
    }
    rc = jp_keep(c, n->type == JP_N_MSLIST ? json_array() : json_object(), out);
    if (rc < 0) return rc;
    for (size_t i = 0; i < n->nkids; i++) {
        if ((rc = jp_eval(c, n->kids[i], cur, &v)) < 0) return rc;
        if ((rc = jp_charge(c, 1)) < 0) return rc;
        if (n->type == JP_N_MSLIST) rc = json_array_append(*out, v);
        else rc = json_object_setn(*out, n->keys[i], n->keylens[i], v);
        if (rc < 0) return jp_fail(c, JP_ENOMEM, "out of memory");
    }
    return 0;
}

int jp_eval(struct jp_ctx *c, const struct jp_node *n, json_t *cur, json_t **out) {
    json_t *l, *r;
    int rc;
    if (++c->steps > JP_MAX_STEPS) return jp_charge(c, 0);
    switch (n->type) {
    case JP_N_CURRENT: *out = cur; return 0;
    case JP_N_FIELD:
        *out = json_is_object(cur) ? json_object_getn(cur, n->u.field.name, n->u.field.len)
                                   : NULL;
        if (*out == NULL) *out = json_null();
        return 0;
    case JP_N_SUB:
    case JP_N_PIPE:
        if ((rc = jp_eval(c, n->a, cur, &l)) < 0) return rc;
        return jp_eval(c, n->b, l, out);
    case JP_N_INDEX: {
        long long i = n->u.index, len = (long long)json_array_size(cur);
        if (i < 0) i += len;
        *out = i >= 0 && i < len ? json_array_get(cur, (size_t)i) : json_null();
        return 0;
    }
    case JP_N_SLICE: return eval_slice(c, n, cur, out);
    case JP_N_PROJECT:
    case JP_N_FILTER:
    case JP_N_VPROJECT:
        if ((rc = jp_eval(c, n->a, cur, &l)) < 0) return rc;
        if (n->type == JP_N_VPROJECT ? !json_is_object(l) : !json_is_array(l)) {
            *out = json_null();
            return 0;
        }
        return project(c, n, l, out);
    case JP_N_FLATTEN:
        if ((rc = jp_eval(c, n->a, cur, &l)) < 0) return rc;
        return eval_flatten(c, l, out);
    case JP_N_OR:
    case JP_N_AND:
        if ((rc = jp_eval(c, n->a, cur, &l)) < 0) return rc;
        if (jp_truthy(l) == (n->type == JP_N_OR)) {
            *out = l;
            return 0;
        }
        return jp_eval(c, n->b, cur, out);
    case JP_N_NOT:
        if ((rc = jp_eval(c, n->a, cur, &l)) < 0) return rc;
        *out = json_boolean(!jp_truthy(l));
        return 0;
    case JP_N_CMP:
        if ((rc = jp_eval(c, n->a, cur, &l)) < 0) return rc;
        if ((rc = jp_eval(c, n->b, cur, &r)) < 0) return rc;
        return eval_cmp(c, n, l, r, out);
    case JP_N_LITERAL: *out = n->u.lit; return 0;
    case JP_N_MSLIST:
    case JP_N_MSHASH: return eval_multiselect(c, n, cur, out);
    case JP_N_FUNC: return jp_func_call(c, n, cur, out);
    case JP_N_EXPREF:
        /* An expression reference only means something as a function argument, where
         * jp_func_call() takes the node itself; evaluated on its own it is null. */
        *out = json_null();
        return 0;
    }
    return jp_fail(c, JP_ESYNTAX, "corrupt expression");
}

int jp_search(const struct jp_expr *e, json_t *data, json_t **result, char *err,
              size_t errlen) {
    struct jp_ctx c;
    json_t *r = NULL;
    int rc;
    c.tmp = c.tmp_inline;
    c.ntmp = 0;
    c.captmp = sizeof c.tmp_inline / sizeof c.tmp_inline[0];
    c.steps = 0;
    c.err = err;
    c.errlen = errlen;
    if (err != NULL && errlen > 0) err[0] = '\0';
    rc = jp_eval(&c, e->root, data != NULL ? data : json_null(), &r);
    /* Take our reference before the temporaries go: the result may be one of them. */
    if (rc == 0) json_incref(r);
    for (size_t i = 0; i < c.ntmp; i++) json_decref(c.tmp[i]);
    if (c.tmp != c.tmp_inline) free(c.tmp);
    *result = rc == 0 ? r : NULL;
    return rc;
}

/* Field nodes joined by '.' or '|' are a chain of lookups; anything else is not. Returns the
 * number of names so far, or SIZE_MAX. */
static size_t field_chain(const struct jp_node *n, const char **names, size_t *lens, size_t max,
                          size_t k) {
    switch (n->type) {
    case JP_N_FIELD:
        if (k == max) return SIZE_MAX;
        names[k] = n->u.field.name;
        lens[k] = n->u.field.len;
        return k + 1;
    case JP_N_SUB:
    case JP_N_PIPE:
        k = field_chain(n->a, names, lens, max, k);
        return k == SIZE_MAX ? k : field_chain(n->b, names, lens, max, k);
    default: return SIZE_MAX;
    }
}

size_t jp_field_path(const struct jp_expr *e, const char **names, size_t *lens, size_t max) {
    size_t k = field_chain(e->root, names, lens, max, 0);
    return k == SIZE_MAX ? 0 : k;
}
