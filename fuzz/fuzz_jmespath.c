/* fuzz_jmespath.c - libFuzzer target: compile an expression and evaluate it on a JSON document. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jmespath.h"

/* A reason must always name its kind first, so callers can classify it. */
static void check_reason(const char *err) {
    static const char *const kinds[] = {"syntax:",        "invalid-type:", "invalid-arity:",
                                        "unknown-function:", "invalid-value:", "out-of-memory:",
                                        "limit:"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strncmp(err, kinds[i], strlen(kinds[i])) == 0) return;
    abort();
}

/* Input: the expression, then the first NUL or newline, then the JSON document. Parsing
 * the document with jansson is depth-safe: its parser stops at 2048 levels. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data;
    size_t elen = 0;
    while (elen < size && p[elen] != '\0' && p[elen] != '\n') elen++;
    char err[256];
    struct jp_expr *e = jp_compile(p, elen, err, sizeof err);
    if (e == NULL) {
        check_reason(err);
        return 0;
    }
    if (elen < size) {
        json_t *doc = json_loadb(p + elen + 1, size - elen - 1,
                                 JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (doc != NULL) {
            json_t *r = NULL;
            int rc = jp_search(e, doc, &r, err, sizeof err);
            if ((rc == 0) != (r != NULL)) abort();
            if (rc < 0) check_reason(err);
            json_decref(r);
            json_decref(doc);
        }
    }
    jp_free(e);
    return 0;
}
