/* jp_compliance.c - runs the official JMESPath compliance suite (a directory of .json files). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jmespath.h"

/* The suite compares numbers by value (1 == 1.0) and objects regardless of key order,
 * which json_equal() does not do for numbers. Suite data is small, so recursion is fine. */
static int same(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b)) return 0;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (w == NULL || !same(v, w)) return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static void print_json(const char *label, const json_t *v) {
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    printf("    %-10s %s\n", label, s ? s : "(none)");
    free(s);
}

/* Runs one case; returns 1 if it passed. An error passes when its kind (the prefix of the
 * compile reason, or jp_strerror() of the search code) is the one the case names; a bench
 * case passes when it evaluates without error. */
static int run_case(const json_t *given, const json_t *tc) {
    const char *expr = json_string_value(json_object_get(tc, "expression"));
    const json_t *want = json_object_get(tc, "result");
    const char *want_err = json_string_value(json_object_get(tc, "error"));
    int bench = json_object_get(tc, "bench") != NULL;
    char err[256] = "", kind[64] = "";
    json_t *got = NULL;
    int ok;
    if (expr == NULL) {
        printf("  malformed case (no expression)\n");
        return 0;
    }
    struct jp_expr *e = jp_compile(expr, strlen(expr), err, sizeof err);
    if (e == NULL) {
        size_t n = strcspn(err, ":");
        snprintf(kind, sizeof kind, "%.*s", (int)n, err);
    } else {
        int rc = jp_search(e, (json_t *)given, &got, err, sizeof err);
        if (rc < 0) snprintf(kind, sizeof kind, "%s", jp_strerror(rc));
        jp_free(e);
    }
    if (want_err != NULL) ok = kind[0] != '\0' && strcmp(kind, want_err) == 0;
    else if (want != NULL) ok = kind[0] == '\0' && same(want, got);
    else ok = bench && kind[0] == '\0';
    if (!ok) {
        printf("  FAIL expression: %s\n", expr);
        print_json("given:", given);
        if (want_err != NULL) printf("    %-10s error %s\n", "expected:", want_err);
        else print_json("expected:", want);
        if (kind[0] != '\0') printf("    %-10s error: %s\n", "got:", err);
        else print_json("got:", got);
    }
    json_decref(got);
    return ok;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/work/shared/testdata/jmespath";
    char **names = NULL;
    size_t nnames = 0, passed = 0, failed = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        printf("jmespath-compliance: SKIPPED: %s not found\n", dir);
        return 0;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0) continue;
        char **nn = realloc(names, (nnames + 1) * sizeof *nn);
        if (nn == NULL) abort();
        names = nn;
        names[nnames] = strdup(de->d_name);
        if (names[nnames++] == NULL) abort();
    }
    closedir(d);
    qsort(names, nnames, sizeof *names, cmp_names);
    for (size_t f = 0; f < nnames; f++) {
        char path[4096];
        json_error_t jerr;
        size_t fp = 0, ff = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        json_t *suites = json_load_file(path, JSON_DECODE_ANY, &jerr);
        if (!json_is_array(suites)) {
            printf("%s: cannot load: %s (line %d)\n", names[f], jerr.text, jerr.line);
            failed++;
        }
        for (size_t s = 0; s < json_array_size(suites); s++) {
            json_t *suite = json_array_get(suites, s);
            json_t *given = json_object_get(suite, "given"), *cases = json_object_get(suite, "cases");
            for (size_t i = 0; i < json_array_size(cases); i++) {
                if (run_case(given, json_array_get(cases, i))) fp++;
                else ff++;
            }
        }
        printf("%s: %zu passed, %zu failed\n", names[f], fp, ff);
        passed += fp;
        failed += ff;
        json_decref(suites);
        free(names[f]);
    }
    free(names);
    printf("jmespath-compliance: %zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}
