/* test.h - a tiny unit-test harness: typed assertions and one runner per test binary. */
#ifndef HOTDOG_TEST_H
#define HOTDOG_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

/* A failed assertion prints both values and longjmps back to the runner, which marks the
 * test failed and goes on with the next one. Test bodies therefore never see a failed
 * assertion return, and need no cleanup discipline beyond "leaks in a failed test are fine". */
struct test_case {
    const char *name;
    void (*fn)(void);
};

static jmp_buf test__jmp;

static void test__fail(const char *file, int line) {
    fprintf(stderr, "  at %s:%d\n", file, line);
    longjmp(test__jmp, 1);
}

#define TEST(name) static void name(void)
#define TEST_ENTRY(name) { #name, name }

#define ASSERT(cond)                                                  \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "  assertion failed: %s\n", #cond);      \
            test__fail(__FILE__, __LINE__);                           \
        }                                                             \
    } while (0)

#define ASSERT_EQ_INT(a, b)                                                            \
    do {                                                                               \
        long long test__a = (long long)(a), test__b = (long long)(b);                 \
        if (test__a != test__b) {                                                      \
            fprintf(stderr, "  %s == %s: got %lld, expected %lld\n", #a, #b, test__a, \
                    test__b);                                                          \
            test__fail(__FILE__, __LINE__);                                            \
        }                                                                              \
    } while (0)

#define ASSERT_EQ_STR(a, b)                                                               \
    do {                                                                                  \
        const char *test__a = (a), *test__b = (b);                                        \
        if (test__a == NULL || test__b == NULL || strcmp(test__a, test__b) != 0) {        \
            fprintf(stderr, "  %s == %s:\n    got      \"%s\"\n    expected \"%s\"\n", #a, \
                    #b, test__a ? test__a : "(null)", test__b ? test__b : "(null)");      \
            test__fail(__FILE__, __LINE__);                                               \
        }                                                                                 \
    } while (0)

/* Compare a (pointer, length) slice with a NUL-terminated string. */
#define ASSERT_EQ_MEM(p, n, s)                                                                \
    do {                                                                                      \
        const char *test__p = (const char *)(p), *test__s = (s);                              \
        size_t test__n = (size_t)(n);                                                         \
        if (test__n != strlen(test__s) || (test__n && memcmp(test__p, test__s, test__n))) {   \
            fprintf(stderr, "  %s == %s:\n    got      \"%.*s\" (%zu bytes)\n    expected \"%s\"\n", \
                    #p, #s, (int)test__n, test__p ? test__p : "", test__n, test__s);          \
            test__fail(__FILE__, __LINE__);                                                   \
        }                                                                                     \
    } while (0)

/* Runs every test (or only those named on the command line) and prints the closing line
 * "<binary>: N passed, M failed" that tests/run_all.py sums up. */
static int test_run(const char *suite, int argc, char **argv, const struct test_case *tests,
                    size_t ntests) {
    volatile size_t passed = 0, failed = 0;
    for (volatile size_t i = 0; i < ntests; i++) {
        if (argc > 1) {
            int wanted = 0;
            for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], tests[i].name) == 0;
            if (!wanted) continue;
        }
        if (setjmp(test__jmp) == 0) {
            tests[i].fn();
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", tests[i].name);
        }
        fflush(stdout);
    }
    printf("%s: %zu passed, %zu failed\n", suite, passed, failed);
    return failed ? 1 : 0;
}

#define TEST_MAIN(suite, ...)                                                   \
    int main(int argc, char **argv) {                                           \
        static const struct test_case test__all[] = {__VA_ARGS__};              \
        return test_run(suite, argc, argv, test__all,                           \
                        sizeof test__all / sizeof test__all[0]);               \
    }

#endif
