/* jp_value.c - JMESPath's view of JSON values: truthiness, equality, ordering, to_string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jp_internal.h"
#include "jsonio.h"

/* to_string and join refuse to build strings larger than this: a small expression can
 * describe an exponentially large document ([@,@] nested), and the data is hostile. */
#define JP_MAX_STRING (16 * 1024 * 1024)

int jp_truthy(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return json_object_size(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_INTEGER:
    case JSON_REAL:
    case JSON_TRUE: return 1;
    default: return 0;
    }
}

const char *jp_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* Numbers compare by value whether jansson holds them as integer or real; integers are
 * compared exactly so that large ones do not collapse through double rounding. */
int jp_num_cmp(const json_t *a, const json_t *b) {
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    double x = json_number_value(a), y = json_number_value(b);
    return (x > y) - (x < y);
}

/* Strings order by code point; byte order of UTF-8 is the same order. */
int jp_str_cmp(const json_t *a, const json_t *b) {
    size_t la = json_string_length(a), lb = json_string_length(b);
    int r = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
    if (r != 0) return r < 0 ? -1 : 1;
    return (la > lb) - (la < lb);
}

int jp_equal(struct jp_ctx *c, const json_t *a, const json_t *b, int depth) {
    if (a == b) return 1;
    if (depth > JP_MAX_DATA_DEPTH)
        return jp_fail(c, JP_ELIMIT, "values nested deeper than %d levels", JP_MAX_DATA_DEPTH);
    int rc = jp_charge(c, 1);
    if (rc < 0) return rc;
    if (json_is_number(a) && json_is_number(b)) return jp_num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b)) return 0;
    switch (json_typeof(a)) {
    case JSON_STRING: return jp_str_cmp(a, b) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++) {
            rc = jp_equal(c, json_array_get(a, i), json_array_get(b, i), depth + 1);
            if (rc != 1) return rc;
        }
        return 1;
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b)) return 0;
        for (void *it = json_object_iter((json_t *)a); it != NULL;
             it = json_object_iter_next((json_t *)a, it)) {
            const json_t *bv = json_object_getn(b, json_object_iter_key(it),
                                                json_object_iter_key_len(it));
            if (bv == NULL) return 0;
            rc = jp_equal(c, json_object_iter_value(it), bv, depth + 1);
            if (rc != 1) return rc;
        }
        return 1;
    default: return 1; /* true, false and null are equal to their own kind */
    }
}

struct sbuf {
    char *p;
    size_t len, cap;
    int over; /* the size cap, not a nesting or work limit, stopped it */
};

static int sb_put(struct sbuf *b, const char *s, size_t n) {
    if (n > JP_MAX_STRING - b->len) {
        b->over = 1;
        return JP_ELIMIT;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) return JP_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

/* An upper bound of v's JSON text, charged one unit a node, stopping above JP_MAX_STRING:
 * shared references make the tree exponentially larger than the memory it takes. */
static int measure(struct jp_ctx *c, const json_t *v, int depth, size_t *bytes) {
    int rc;
    if (depth > JP_MAX_DATA_DEPTH)
        return jp_fail(c, JP_ELIMIT, "values nested deeper than %d levels", JP_MAX_DATA_DEPTH);
    if ((rc = jp_charge(c, 1)) < 0) return rc;
    /* Six bytes a string byte (\u001f), 32 a number or literal, two a separator. */
    switch (json_typeof(v)) {
    case JSON_STRING: *bytes += 6 * json_string_length(v) + 2; break;
    case JSON_ARRAY:
        *bytes += 2;
        for (size_t i = 0; i < json_array_size(v) && *bytes <= JP_MAX_STRING; i++) {
            *bytes += 1;
            if ((rc = measure(c, json_array_get(v, i), depth + 1, bytes)) < 0) return rc;
        }
        break;
    case JSON_OBJECT:
        *bytes += 2;
        for (void *it = json_object_iter((json_t *)v); it && *bytes <= JP_MAX_STRING;
             it = json_object_iter_next((json_t *)v, it)) {
            *bytes += 6 * json_object_iter_key_len(it) + 4;
            if ((rc = measure(c, json_object_iter_value(it), depth + 1, bytes)) < 0) return rc;
        }
        break;
    default: *bytes += 32;
    }
    return *bytes > JP_MAX_STRING
               ? jp_fail(c, JP_ELIMIT, "to_string result larger than %d bytes", JP_MAX_STRING)
               : 0;
}

/* to_string of a non-string, as the original's JMESPath printed it (serde_json of its
 * values): keys sorted, doubles in ryu's form (1e22, 10.0), which jsonio_dump writes. */
int jp_to_json_string(struct jp_ctx *c, json_t *v, json_t **out) {
    size_t bytes = 0;
    int rc = measure(c, v, 0, &bytes);
    if (rc < 0) return rc;
    struct buf b = {0};
    jsonio_dump(&b, v);
    rc = jp_charge(c, (long)(b.len / 8));
    if (rc == 0) rc = jp_keep(c, json_stringn_nocheck(b.len ? b.p : "", b.len), out);
    buf_free(&b);
    return rc;
}

/* Concatenates strings for join(); same size cap as to_string. */
int jp_join(struct jp_ctx *c, const json_t *glue, const json_t *arr, json_t **out) {
    struct sbuf b = {NULL, 0, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < json_array_size(arr) && rc == 0; i++) {
        const json_t *s = json_array_get(arr, i);
        if (i > 0) rc = sb_put(&b, json_string_value(glue), json_string_length(glue));
        if (rc == 0) rc = sb_put(&b, json_string_value(s), json_string_length(s));
    }
    if (rc == JP_ELIMIT && b.over) rc = jp_fail(c, rc, "join result larger than %d bytes", JP_MAX_STRING);
    else if (rc == JP_ENOMEM) rc = jp_fail(c, rc, "out of memory");
    if (rc == 0) rc = jp_charge(c, (long)(b.len / 8 + json_array_size(arr)));
    if (rc < 0) goto err;
    rc = jp_keep(c, json_stringn_nocheck(b.p ? b.p : "", b.len), out);
err:
    free(b.p);
    return rc;
}
