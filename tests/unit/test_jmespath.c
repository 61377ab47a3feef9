/* test_jmespath.c - unit tests for the JMESPath API contract: errors, limits, threads, speed path. */
#include "jmespath.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>

#define DEEP 100000

/* Evaluates expr against the JSON text doc; returns the jp_search code, result in *out. */
static int eval(const char *expr, const char *doc, json_t **out, char *err, size_t errlen) {
    json_t *data = json_loads(doc, JSON_DECODE_ANY, NULL);
    ASSERT(data != NULL);
    struct jp_expr *e = jp_compile(expr, strlen(expr), err, errlen);
    ASSERT(e != NULL);
    int rc = jp_search(e, data, out, err, errlen);
    jp_free(e);
    json_decref(data);
    return rc;
}

/* Compact JSON text of a search result, for comparisons; the caller frees it. */
static char *eval_text(const char *expr, const char *doc) {
    json_t *r = NULL;
    char err[256];
    int rc = eval(expr, doc, &r, err, sizeof err);
    if (rc != 0) fprintf(stderr, "  %s: %s\n", expr, err);
    ASSERT_EQ_INT(rc, 0);
    ASSERT(r != NULL);
    char *s = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(r);
    return s;
}

static void assert_compile_error(const char *expr, const char *want_prefix) {
    char err[256] = "";
    struct jp_expr *e = jp_compile(expr, strlen(expr), err, sizeof err);
    ASSERT(e == NULL);
    ASSERT_EQ_MEM(err, strlen(want_prefix), want_prefix);
    ASSERT(strstr(err, "column") != NULL);
}

/* jansson frees nested values recursively, so a 100,000-deep value would overflow the
 * stack in json_decref(); take it apart one level at a time instead. */
static void free_deep(json_t *v) {
    while (v != NULL) {
        json_t *child = NULL;
        if (json_is_array(v) && json_array_size(v) > 0) child = json_array_get(v, 0);
        if (json_is_object(v)) child = json_object_get(v, "a");
        json_incref(child);
        if (json_is_array(v)) json_array_clear(v);
        if (json_is_object(v)) json_object_clear(v);
        json_decref(v);
        v = child;
    }
}

static json_t *make_deep(int object) {
    json_t *v = json_integer(1);
    for (int i = 0; i < DEEP; i++) {
        json_t *outer = object ? json_object() : json_array();
        ASSERT(outer != NULL);
        if (object) json_object_set_new(outer, "a", v);
        else json_array_append_new(outer, v);
        v = outer;
    }
    return v;
}

TEST(hotdog_meta_topic) {
    char *s = eval_text("meta.topic", "{\"meta\":{\"topic\":\"x\"}}");
    ASSERT_EQ_STR(s, "\"x\"");
    free(s);
}

TEST(missing_field_is_json_null) {
    json_t *r = NULL;
    ASSERT_EQ_INT(eval("meta.nope.deeper", "{\"meta\":{}}", &r, NULL, 0), 0);
    ASSERT(r == json_null());
    json_decref(r);
}

TEST(result_is_a_new_reference) {
    json_t *data = json_loads("{\"a\":{\"b\":[1,2]}}", 0, NULL);
    struct jp_expr *e = jp_compile("a.b", 3, NULL, 0);
    json_t *r = NULL;
    ASSERT(e != NULL);
    ASSERT_EQ_INT(jp_search(e, data, &r, NULL, 0), 0);
    json_decref(data); /* the result must stay valid on its own */
    ASSERT_EQ_INT(json_array_size(r), 2);
    ASSERT_EQ_INT(json_integer_value(json_array_get(r, 1)), 2);
    json_decref(r);
    jp_free(e);
}

TEST(compile_errors_name_kind_and_column) {
    char err[256];
    ASSERT(jp_compile("foo.]", 5, err, sizeof err) == NULL);
    ASSERT_EQ_STR(err, "syntax: unexpected ']' at column 5");
    assert_compile_error("foo[", "syntax:");
    assert_compile_error("\"\\u\"", "syntax:");
    assert_compile_error("nope(@)", "unknown-function:");
    assert_compile_error("abs()", "invalid-arity:");
    assert_compile_error("abs(`1`, `2`)", "invalid-arity:");
    assert_compile_error("foo[::0]", "invalid-value:");
    /* The reason stays on one line even when the offending name holds a newline. */
    ASSERT(jp_compile("a \"x\\ny\"", 8, err, sizeof err) == NULL);
    ASSERT_EQ_STR(err, "syntax: unexpected identifier 'x?y' at column 3");
    /* errlen of 0 and a NULL err are both allowed. */
    ASSERT(jp_compile("foo.", 4, err, 0) == NULL);
    ASSERT(jp_compile("foo.", 4, NULL, 0) == NULL);
}

TEST(expression_length_is_explicit) {
    /* Not NUL-terminated: only the first 3 bytes are the expression. */
    char *s;
    json_t *data = json_loads("{\"abc\":1,\"abcdef\":2}", 0, NULL);
    struct jp_expr *e = jp_compile("abcdef", 3, NULL, 0);
    json_t *r = NULL;
    ASSERT(e != NULL);
    ASSERT_EQ_INT(jp_search(e, data, &r, NULL, 0), 0);
    s = json_dumps(r, JSON_ENCODE_ANY);
    ASSERT_EQ_STR(s, "1");
    free(s);
    json_decref(r);
    json_decref(data);
    jp_free(e);
}

TEST(runtime_errors_leave_result_null) {
    json_t *r = json_true();
    char err[256];
    ASSERT_EQ_INT(eval("abs(str)", "{\"str\":\"x\"}", &r, err, sizeof err), JP_EINVALID_TYPE);
    ASSERT(r == NULL);
    ASSERT_EQ_MEM(err, strlen("invalid-type:"), "invalid-type:");
    r = json_true();
    ASSERT_EQ_INT(eval("sort_by(@, &a)", "[{\"a\":1},{\"a\":\"x\"}]", &r, NULL, 0),
                  JP_EINVALID_TYPE);
    ASSERT(r == NULL);
}

TEST(strerror_names_match_the_suite) {
    ASSERT_EQ_STR(jp_strerror(JP_ESYNTAX), "syntax");
    ASSERT_EQ_STR(jp_strerror(JP_EINVALID_TYPE), "invalid-type");
    ASSERT_EQ_STR(jp_strerror(JP_EINVALID_ARITY), "invalid-arity");
    ASSERT_EQ_STR(jp_strerror(JP_EUNKNOWN_FUNCTION), "unknown-function");
    ASSERT_EQ_STR(jp_strerror(JP_EINVALID_VALUE), "invalid-value");
    ASSERT_EQ_STR(jp_strerror(JP_ENOMEM), "out-of-memory");
    ASSERT_EQ_STR(jp_strerror(JP_ELIMIT), "limit");
    ASSERT_EQ_STR(jp_strerror(-100), "unknown");
}

static void check_deep_data(int object) {
    json_t *deep = make_deep(object), *r = NULL;
    json_t *data = json_object();
    char err[256];
    json_object_set(data, "x", deep);
    json_object_set_new(data, "y", make_deep(object));
    /* Walking the document (equality, to_string) hits the limit instead of the stack. */
    const char *limited[] = {"to_string(x)", "x == y", "contains([x], y)", "[x] == [y]"};
    for (size_t i = 0; i < sizeof limited / sizeof limited[0]; i++) {
        struct jp_expr *e = jp_compile(limited[i], strlen(limited[i]), NULL, 0);
        ASSERT(e != NULL);
        ASSERT_EQ_INT(jp_search(e, data, &r, err, sizeof err), JP_ELIMIT);
        ASSERT(r == NULL);
        ASSERT_EQ_MEM(err, strlen("limit:"), "limit:");
        jp_free(e);
    }
    /* Whatever only looks at the top does not care how deep the rest goes. */
    const char *fine[] = {"x", "x == x", "length(x)", "type(x)", "x[0][0][0]", "x.a.a.a",
                          "[x, y][]", "x || y", "not_null(x)", "x != `1`"};
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        struct jp_expr *e = jp_compile(fine[i], strlen(fine[i]), NULL, 0);
        ASSERT(e != NULL);
        ASSERT_EQ_INT(jp_search(e, data, &r, err, sizeof err), 0);
        json_decref(r);
        jp_free(e);
    }
    json_t *y = json_incref(json_object_get(data, "y"));
    json_object_clear(data);
    json_decref(data);
    free_deep(y);
    free_deep(deep);
}

TEST(deep_array_document_hits_limit_not_stack) { check_deep_data(0); }

TEST(deep_object_document_hits_limit_not_stack) { check_deep_data(1); }

/* Builds prefix x DEEP + middle + suffix x DEEP. */
static char *nest(const char *prefix, const char *middle, const char *suffix, int n) {
    size_t lp = strlen(prefix), lm = strlen(middle), ls = strlen(suffix);
    char *s = malloc((lp + ls) * (size_t)n + lm + 1), *p = s;
    ASSERT(s != NULL);
    for (int i = 0; i < n; i++, p += lp) memcpy(p, prefix, lp);
    memcpy(p, middle, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += ls) memcpy(p, suffix, ls);
    *p = '\0';
    return s;
}

TEST(deep_expressions_are_rejected) {
    struct {
        const char *pre, *mid, *suf;
        int n;
    } cases[] = {
        {"(", "a", ")", DEEP},   {"[", "a", "]", DEEP},  {"!", "a", "", DEEP},
        {"", "a", ".a", 300},    {"", "a", "|a", 300},   {"", "a", "[0]", 300},
        {"", "a", " || a", 300}, {"{a:", "a", "}", 300}, {"abs(", "a", ")", 300},
        {"& ", "a", "", 300},    {"", "a", "[*].a", 300}, {"", "a", "[?a]", 300},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *expr = nest(cases[i].pre, cases[i].mid, cases[i].suf, cases[i].n);
        char err[256] = "";
        struct jp_expr *e = jp_compile(expr, strlen(expr), err, sizeof err);
        if (e != NULL) fprintf(stderr, "  compiled: %.40s...\n", expr);
        ASSERT(e == NULL);
        ASSERT_EQ_MEM(err, strlen("limit:"), "limit:");
        free(expr);
    }
    /* Nesting well inside the limit still works. */
    char *expr = nest("(", "a", ")", 200);
    struct jp_expr *e = jp_compile(expr, strlen(expr), NULL, 0);
    ASSERT(e != NULL);
    jp_free(e);
    free(expr);
}

TEST(exponential_work_hits_limit) {
    /* Each "[@,@][]" step doubles the array: 2^60 elements unless the budget stops it. */
    char *expr = nest("", "[@,@][]", ".[@,@][]", 60);
    json_t *data = json_string("x"), *r = NULL;
    struct jp_expr *e = jp_compile(expr, strlen(expr), NULL, 0);
    ASSERT(e != NULL);
    ASSERT_EQ_INT(jp_search(e, data, &r, NULL, 0), JP_ELIMIT);
    jp_free(e);
    free(expr);
    /* Strings that double at every step stop at the size cap. */
    expr = nest("", "join('', [@,@])", " | join('', [@,@])", 40);
    e = jp_compile(expr, strlen(expr), NULL, 0);
    ASSERT(e != NULL);
    ASSERT_EQ_INT(jp_search(e, data, &r, NULL, 0), JP_ELIMIT);
    jp_free(e);
    free(expr);
    /* So does to_string of a small but exponentially wide document. */
    expr = nest("", "[@,@]", " | [@,@]", 40);
    char *ts = malloc(strlen(expr) + 20);
    sprintf(ts, "%s | to_string(@)", expr);
    e = jp_compile(ts, strlen(ts), NULL, 0);
    ASSERT(e != NULL);
    ASSERT_EQ_INT(jp_search(e, data, &r, NULL, 0), JP_ELIMIT);
    jp_free(e);
    free(ts);
    free(expr);
    json_decref(data);
}

struct worker {
    const struct jp_expr *e;
    json_t *data;
    int ok;
};

static void *work(void *arg) {
    struct worker *w = arg;
    w->ok = 1;
    for (int i = 0; i < 20000; i++) {
        json_t *r = NULL;
        if (jp_search(w->e, w->data, &r, NULL, 0) != 0 || json_array_size(r) != 2 ||
            strcmp(json_string_value(json_array_get(r, 1)), "lit") != 0)
            w->ok = 0;
        json_decref(r);
    }
    return NULL;
}

TEST(two_threads_share_one_expression) {
    const char *expr = "[meta.topic, `\"lit\"`] | sort(@)";
    struct jp_expr *e = jp_compile(expr, strlen(expr), NULL, 0);
    struct worker w[2];
    pthread_t t[2];
    ASSERT(e != NULL);
    for (int i = 0; i < 2; i++) {
        w[i].e = e;
        w[i].data = json_loads(i ? "{\"meta\":{\"topic\":\"a\"}}" : "{\"meta\":{\"topic\":\"b\"}}",
                               0, NULL);
        ASSERT_EQ_INT(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        json_decref(w[i].data);
        ASSERT(w[i].ok);
    }
    jp_free(e);
}

static size_t n_allocs;

static void *counting_malloc(size_t n) {
    n_allocs++;
    return malloc(n);
}

TEST(simple_lookup_does_not_allocate) {
    json_t *data = json_loads("{\"a\":{\"b\":{\"c\":\"v\"}}}", 0, NULL), *r = NULL;
    struct jp_expr *e = jp_compile("a.b.c", 5, NULL, 0);
    ASSERT(e != NULL);
    json_set_alloc_funcs(counting_malloc, free);
    n_allocs = 0;
    int rc = jp_search(e, data, &r, NULL, 0);
    json_set_alloc_funcs(malloc, free);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(n_allocs, 0);
    ASSERT_EQ_STR(json_string_value(r), "v");
    json_decref(r);
    json_decref(data);
    jp_free(e);
}

TEST(semantics_spot_checks) {
    struct {
        const char *expr, *doc, *want;
    } cases[] = {
        {"length('\xe2\x9c\x93x')", "null", "2"},
        {"reverse('a\xe2\x9c\x93')", "null", "\"\xe2\x9c\x93" "a\""},
        {"to_string(`1.2`)", "null", "\"1.2\""},
        {"to_string(@)", "{\"a\":[1,2.5,\"q\\\"\"]}", "\"{\\\"a\\\":[1,2.5,\\\"q\\\\\\\"\\\"]}\""},
        {"`1` == `1.0`", "null", "true"},
        {"sort_by(@, &k)[*].i", "[{\"k\":2,\"i\":0},{\"k\":1,\"i\":1},{\"k\":2,\"i\":2}]",
         "[1,0,2]"},
        {"\"\\ud834\\udd1e\"", "{\"\xf0\x9d\x84\x9e\":1}", "1"},
        {"a < 'b'", "{\"a\":\"a\"}", "null"},
        {"[::-2]", "[0,1,2,3,4]", "[4,2,0]"},
        {"to_string(sum(@))", "[1,2]", "\"3.0\""},
        {"to_string(abs(`-9007199254740993`))", "null", "\"9007199254740992.0\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = eval_text(cases[i].expr, cases[i].doc);
        ASSERT_EQ_STR(s, cases[i].want);
        free(s);
    }
}

/* Measured on the original hotdog (its JMESPath crate over serde_json values): abs, avg,
 * ceil, floor and sum give doubles; to_number reads a string as JSON text; to_string writes
 * serde_json's form (keys sorted, ryu doubles). (The original's avg of [] fails; ours keeps
 * the specification's null, which its compliance suite checks.) */
TEST(numbers_and_to_string_as_the_original) {
    struct {
        const char *expr, *doc, *want;
    } cases[] = {
        {"join(' ', [to_string(sum(n)), to_string(avg(n)), to_string(length(n)), "
         "to_string(max(n)), to_string(abs(neg)), to_string(ceil(f)), to_string(floor(f))])",
         "{\"n\":[1,2,3,4],\"neg\":-5,\"f\":2.5}", "\"10.0 2.5 4 4 5.0 3.0 2.0\""},
        {"join(' ', [to_string(sum(n)), to_string(avg(n)), to_string(abs(neg)), to_string(ceil(f))])",
         "{\"n\":[1e22,1],\"neg\":-1e-7,\"f\":1e21}", "\"1e22 5e21 1e-7 1e21\""},
        {"to_string(sum(`[]`))", "null", "\"0.0\""},
        {"to_string(abs(`-0.0`))", "null", "\"0.0\""},
        {"to_string(ceil(`-0.5`))", "null", "\"-0.0\""},
        {"to_string(ceil(`3`))", "null", "\"3.0\""},
        {"to_string(to_number('42'))", "null", "\"42\""},
        {"to_string(to_number(' 42 '))", "null", "\"42\""},
        {"to_string(to_number('1e3'))", "null", "\"1000.0\""},
        {"to_string(to_number('-0'))", "null", "\"-0.0\""},
        {"to_string(to_number('18446744073709551615'))", "null", "\"18446744073709551615\""},
        {"to_number('true')", "null", "true"},
        {"to_number('{}')", "null", "{}"},
        {"to_number('+5')", "null", "null"},
        {"to_number('5.')", "null", "null"},
        {"to_number('1e400')", "null", "null"},
        {"to_number('abc')", "null", "null"},
        {"to_string(@)", "{\"z\":1,\"a\":[{\"y\":2,\"b\":3}],\"f\":[0.1,-0.0,1e20]}",
         "\"{\\\"a\\\":[{\\\"b\\\":3,\\\"y\\\":2}],\\\"f\\\":[0.1,-0.0,1e20],\\\"z\\\":1}\""},
        {"to_string(@)", "1.2345678901234568e29", "\"1.2345678901234568e29\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = eval_text(cases[i].expr, cases[i].doc);
        if (strcmp(s, cases[i].want)) fprintf(stderr, "  %s\n", cases[i].expr);
        ASSERT_EQ_STR(s, cases[i].want);
        free(s);
    }
}

TEST_MAIN("jmespath", TEST_ENTRY(hotdog_meta_topic), TEST_ENTRY(missing_field_is_json_null),
          TEST_ENTRY(result_is_a_new_reference), TEST_ENTRY(compile_errors_name_kind_and_column),
          TEST_ENTRY(expression_length_is_explicit), TEST_ENTRY(runtime_errors_leave_result_null),
          TEST_ENTRY(strerror_names_match_the_suite),
          TEST_ENTRY(deep_array_document_hits_limit_not_stack),
          TEST_ENTRY(deep_object_document_hits_limit_not_stack),
          TEST_ENTRY(deep_expressions_are_rejected), TEST_ENTRY(exponential_work_hits_limit),
          TEST_ENTRY(two_threads_share_one_expression),
          TEST_ENTRY(simple_lookup_does_not_allocate), TEST_ENTRY(semantics_spot_checks),
          TEST_ENTRY(numbers_and_to_string_as_the_original))
