/* json_check.h - value comparisons shared by the JSON unit test and fuzz_jsonio. */
#ifndef HOTDOG_JSON_CHECK_H
#define HOTDOG_JSON_CHECK_H

#include <jansson.h>
#include <math.h>
#include <string.h>

/* Compares two values, allowing reals to differ in their last bits: jansson reads numbers with
 * strtod, jsonio as serde_json does (not always correctly rounded); an integer equals a real
 * only as -0. */
static inline int near_equal(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b) && (json_is_real(a) || json_is_real(b))) {
        if (json_is_integer(a) && json_integer_value(a) != 0) return 0; /* only -0 differs */
        double x = json_number_value(a), y = json_number_value(b);
        double m = fabs(x) > fabs(y) ? fabs(x) : fabs(y);
        return x == y || fabs(x - y) <= 1e-15 * m || fabs(x - y) < 1e-300;
    }
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!near_equal(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        for (void *it = json_object_iter((json_t *)a); it; it = json_object_iter_next((json_t *)a, it)) {
            json_t *o = json_object_getn(b, json_object_iter_key(it), json_object_iter_key_len(it));
            if (!o || !near_equal(json_object_iter_value(it), o)) return 0;
        }
        return 1;
    }
    return json_equal(a, b);
}

static inline int keys_ascend(const json_t *v) {
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!keys_ascend(json_array_get(v, i))) return 0;
    } else if (json_is_object(v)) {
        const char *prev = NULL;
        size_t plen = 0;
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            const char *k = json_object_iter_key(it);
            size_t kl = json_object_iter_key_len(it), m = kl < plen ? kl : plen;
            if (prev) {
                int c = memcmp(prev, k, m);
                if (c > 0 || (c == 0 && plen >= kl)) return 0;
            }
            if (!keys_ascend(json_object_iter_value(it))) return 0;
            prev = k;
            plen = kl;
        }
    }
    return 1;
}

#endif
