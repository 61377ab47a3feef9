/* jmespath.h - JMESPath queries over jansson values: compile once, evaluate many times. */
#ifndef HOTDOG_JMESPATH_H
#define HOTDOG_JMESPATH_H

#include <stddef.h>

#include <jansson.h>

/* A compiled expression. It is immutable after jp_compile(), so any number of threads may
 * call jp_search() on the same one at the same time (locks: none). Literal values inside it
 * are shared with results by reference; jansson 2.14 counts references atomically. */
struct jp_expr;

/* Compiles expr[0..len) (need not be NUL-terminated). Returns NULL on error and writes a
 * one-line reason to err (if errlen > 0): it starts with the error kind as jp_strerror()
 * names it, then a colon, and gives the 1-based column, e.g.
 * "syntax: unexpected token ']' at column 5". The caller owns the result and frees it
 * with jp_free(). Limits: expressions of at most 64 KiB and nesting of at most 256. */
struct jp_expr *jp_compile(const char *expr, size_t len, char *err, size_t errlen);

/* Frees a compiled expression; NULL is allowed. No jp_search() on it may be running. */
void jp_free(struct jp_expr *e);

/* Evaluates e against data, which stays owned by the caller and is only read.
 * On success returns 0 and *result is a NEW reference (json_null() for null; never NULL),
 * which the caller releases with json_decref(). The result may share sub-values with data
 * and with e's literals, so treat it as read-only (json_deep_copy() it to modify).
 * On error returns a negative JP_E* code, *result is NULL, and err (may be NULL) gets a
 * one-line reason in the same "kind: detail" form as jp_compile().
 * Hostile data cannot exhaust the stack: values nested deeper than 2048 give JP_ELIMIT
 * where they would have to be walked, and so does a runaway amount of work.
 * runs on: any thread; locks: none. */
int jp_search(const struct jp_expr *e, json_t *data, json_t **result, char *err, size_t errlen);

/* If e is only a chain of field names (a, a.b, "x".y, a | b), sets names[i], lens[i]
 * (borrowed from e) and returns how many there are (at most max); else returns 0. Such an
 * expression is a lookup its caller may do on another form of the data: the result is the
 * last field's value, or null where a field is missing or a value on the way is not an
 * object (of duplicate keys, the last counts). */
size_t jp_field_path(const struct jp_expr *e, const char **names, size_t *lens, size_t max);

enum {
    JP_ESYNTAX = -1,
    JP_EINVALID_TYPE = -2,
    JP_EINVALID_ARITY = -3,
    JP_EUNKNOWN_FUNCTION = -4,
    JP_EINVALID_VALUE = -5,
    JP_ENOMEM = -6,
    JP_ELIMIT = -7
};

/* Names an error code the way the compliance suite does: "syntax", "invalid-type", ...
 * Returns a static string; "unknown" for codes it does not know. */
const char *jp_strerror(int code);

#endif
