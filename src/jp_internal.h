/* jp_internal.h - private types shared by the JMESPath lexer, parser, evaluator and functions. */
#ifndef HOTDOG_JP_INTERNAL_H
#define HOTDOG_JP_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>

#include "jmespath.h"

/* Expression nesting bound: parser recursion and AST height. The evaluator recurses over
 * the AST only, so this also bounds its stack use. */
#define JP_MAX_DEPTH 256
/* Longest expression accepted; expressions come from configuration, so this is generous. */
#define JP_MAX_EXPR_LEN (64 * 1024)
/* Deepest value the evaluator will walk (equality, to_string). Same as jansson's parser. */
#define JP_MAX_DATA_DEPTH 2048
/* Work budget per jp_search(): one unit per node evaluated, element visited or byte of
 * string produced. JMESPath can express exponential work ([@,@][*].[@,@][*]...), and
 * memory held by temporaries grows with work, so this caps both time and memory. */
#define JP_MAX_STEPS (1L << 23)
/* Units charged for each value the evaluator creates (see jp_keep). */
#define JP_KEEP_COST 8

enum jp_tok {
    JP_T_EOF,
    JP_T_IDENT,   /* unquoted identifier */
    JP_T_QIDENT,  /* quoted identifier "..." */
    JP_T_NUMBER,
    JP_T_LITERAL, /* `json` or 'raw string' */
    JP_T_DOT,
    JP_T_STAR,
    JP_T_LBRACKET,
    JP_T_RBRACKET,
    JP_T_FLATTEN, /* [] */
    JP_T_FILTER,  /* [? */
    JP_T_LBRACE,
    JP_T_RBRACE,
    JP_T_LPAREN,
    JP_T_RPAREN,
    JP_T_COMMA,
    JP_T_COLON,
    JP_T_PIPE,
    JP_T_OR,
    JP_T_AND,
    JP_T_NOT,
    JP_T_EQ,
    JP_T_NE,
    JP_T_LT,
    JP_T_LE,
    JP_T_GT,
    JP_T_GE,
    JP_T_AT,
    JP_T_EXPREF
};

struct jp_token {
    enum jp_tok type;
    size_t col;     /* 1-based byte column in the expression */
    char *str;      /* identifiers: decoded name, owned until the parser takes it */
    size_t len;
    long long num;  /* numbers, saturated far beyond any array length */
    json_t *lit;    /* literals: owned until the parser takes it */
};

struct jp_tokens {
    struct jp_token *v;
    size_t n;
};

/* Splits expr into tokens ending with JP_T_EOF. Returns 0, or JP_ESYNTAX / JP_ENOMEM with
 * a reason in err. On success the caller frees out with jp_tokens_free(). */
int jp_lex(const char *expr, size_t len, struct jp_tokens *out, char *err, size_t errlen);
void jp_tokens_free(struct jp_tokens *t);
const char *jp_tok_name(enum jp_tok t);

enum jp_ntype {
    JP_N_CURRENT,
    JP_N_FIELD,
    JP_N_SUB,      /* a then b on the result */
    JP_N_PIPE,     /* like SUB, but a projection on the left stops here */
    JP_N_INDEX,    /* leaf: index of current */
    JP_N_SLICE,    /* leaf: slice of current */
    JP_N_PROJECT,  /* list projection: b over each element of a */
    JP_N_VPROJECT, /* object projection: b over each value of a */
    JP_N_FILTER,   /* b over each element of a for which c is truthy */
    JP_N_FLATTEN,
    JP_N_OR,
    JP_N_AND,
    JP_N_NOT,
    JP_N_CMP,
    JP_N_LITERAL,
    JP_N_MSLIST,
    JP_N_MSHASH,
    JP_N_FUNC,
    JP_N_EXPREF
};

struct jp_func;

struct jp_node {
    enum jp_ntype type;
    int height;
    struct jp_node *a, *b, *c;
    struct jp_node **kids; /* multiselect items, function arguments */
    size_t nkids;
    char **keys;           /* multiselect hash keys, parallel to kids */
    size_t *keylens;
    union {
        struct {
            char *name;
            size_t len;
        } field;
        long long index;
        struct {
            long long start, stop, step;
            int has_start, has_stop;
        } slice;
        enum jp_tok cmp;
        json_t *lit;
        const struct jp_func *fn;
    } u;
};

struct jp_expr {
    struct jp_node *root;
};

void jp_node_free(struct jp_node *n);

/* Per-search state. Values the evaluator creates are kept in tmp and released when the
 * search ends, so every value passed around inside the evaluator is borrowed. */
struct jp_ctx {
    json_t **tmp;
    size_t ntmp, captmp;
    json_t *tmp_inline[16];
    long steps;
    char *err;
    size_t errlen;
};

/* Evaluates n against cur; *out is borrowed (from data, the expression, or ctx). */
int jp_eval(struct jp_ctx *c, const struct jp_node *n, json_t *cur, json_t **out);
/* Takes ownership of a new reference v (NULL = allocation failed) and keeps it alive until
 * the search ends, setting *out to it. Returns 0, or JP_ENOMEM / JP_ELIMIT (v released). */
int jp_keep(struct jp_ctx *c, json_t *v, json_t **out);
/* Records a reason in c->err and returns code. */
int jp_fail(struct jp_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Charges n units of work; JP_ELIMIT once the budget is spent. */
int jp_charge(struct jp_ctx *c, long n);

int jp_truthy(const json_t *v);
/* 1 if equal (numbers by value), 0 if not, or a negative error (depth/work limit). */
int jp_equal(struct jp_ctx *c, const json_t *a, const json_t *b, int depth);
/* Serialises v as compact JSON into a kept string. */
int jp_to_json_string(struct jp_ctx *c, json_t *v, json_t **out);
const char *jp_type_name(const json_t *v);
/* Orderings for sort, min and max: -1, 0 or 1. Both arguments must be numbers (strings). */
int jp_num_cmp(const json_t *a, const json_t *b);
int jp_str_cmp(const json_t *a, const json_t *b);
/* Joins the strings of arr with glue into a kept string. */
int jp_join(struct jp_ctx *c, const json_t *glue, const json_t *arr, json_t **out);

/* Functions (jp_func.c). */
const struct jp_func *jp_func_lookup(const char *name, size_t len);
/* Checks the argument count at compile time: 0, or JP_EINVALID_ARITY with the reason
 * (without the "kind: " prefix) in err. */
int jp_func_check_arity(const struct jp_func *f, size_t nargs, char *err, size_t errlen);
const char *jp_func_name(const struct jp_func *f);
int jp_func_call(struct jp_ctx *c, const struct jp_node *n, json_t *cur, json_t **out);

/* Formats "kind: detail" into err, tolerating err == NULL or errlen == 0. */
void jp_errorf(char *err, size_t errlen, int code, const char *fmt, va_list ap);

#endif
