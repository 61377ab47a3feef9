/* jp_parse.c - Pratt parser turning JMESPath tokens into an immutable AST (jp_compile). */
#include <stdlib.h>
#include <string.h>

#include "jp_internal.h"

struct parser {
    struct jp_tokens toks;
    size_t pos;
    int depth;
    int rc;
    char *err;
    size_t errlen;
};

/* Binding powers from the JMESPath grammar: higher binds tighter. Anything below 10 ends
 * the right-hand side of a projection, which is what makes '|' and '[]' stop projecting. */
static int lbp(enum jp_tok t) {
    switch (t) {
    case JP_T_PIPE: return 1;
    case JP_T_OR: return 2;
    case JP_T_AND: return 3;
    case JP_T_EQ: case JP_T_NE: case JP_T_LT: case JP_T_LE: case JP_T_GT: case JP_T_GE: return 5;
    case JP_T_FLATTEN: return 9;
    case JP_T_STAR: return 20;
    case JP_T_FILTER: return 21;
    case JP_T_DOT: return 40;
    case JP_T_NOT: return 45;
    case JP_T_LBRACE: return 50;
    case JP_T_LBRACKET: return 55;
    case JP_T_LPAREN: return 60;
    default: return 0;
    }
}

#define PROJECTION_STOP 10

static struct jp_node *parse_expr(struct parser *p, int rbp);

static struct jp_token *cur(struct parser *p) { return &p->toks.v[p->pos]; }

static struct jp_token *peek(struct parser *p, size_t k) {
    size_t i = p->pos + k;
    return &p->toks.v[i < p->toks.n ? i : p->toks.n - 1];
}

static struct jp_token *advance(struct parser *p) {
    struct jp_token *t = cur(p);
    if (t->type != JP_T_EOF) p->pos++;
    return t;
}

static void *pfail(struct parser *p, int code, const struct jp_token *t, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records the first error only: later ones are consequences of it. */
static void *pfail(struct parser *p, int code, const struct jp_token *t, const char *fmt, ...) {
    if (p->rc == 0) {
        char msg[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        p->rc = code;
        if (p->err != NULL && p->errlen > 0)
            snprintf(p->err, p->errlen, "%s: %s at column %zu", jp_strerror(code), msg, t->col);
    }
    return NULL;
}

static void *unexpected(struct parser *p, const struct jp_token *t) {
    if (t->type == JP_T_IDENT || t->type == JP_T_QIDENT) {
        /* The reason must stay one printable line whatever a quoted name holds. */
        char name[41];
        size_t k = 0;
        for (; t->str != NULL && k < t->len && k < sizeof name - 1; k++)
            name[k] = t->str[k] >= 0x20 && t->str[k] < 0x7F ? t->str[k] : '?';
        name[k] = '\0';
        return pfail(p, JP_ESYNTAX, t, "unexpected identifier '%s'", name);
    }
    return pfail(p, JP_ESYNTAX, t, "unexpected %s", jp_tok_name(t->type));
}

static int expect(struct parser *p, enum jp_tok type) {
    if (cur(p)->type != type) {
        unexpected(p, cur(p));
        return -1;
    }
    advance(p);
    return 0;
}

void jp_node_free(struct jp_node *n) {
    if (n == NULL) return;
    jp_node_free(n->a);
    jp_node_free(n->b);
    jp_node_free(n->c);
    for (size_t i = 0; i < n->nkids; i++) {
        jp_node_free(n->kids[i]);
        if (n->keys != NULL) free(n->keys[i]);
    }
    free(n->kids);
    free(n->keys);
    free(n->keylens);
    if (n->type == JP_N_FIELD) free(n->u.field.name);
    if (n->type == JP_N_LITERAL) json_decref(n->u.lit);
    free(n);
}

static int height(const struct jp_node *n) { return n != NULL ? n->height : 0; }

static int check_height(struct parser *p, struct jp_node *n) {
    if (n->height <= JP_MAX_DEPTH) return 0;
    pfail(p, JP_ELIMIT, cur(p), "expression nested deeper than %d levels", JP_MAX_DEPTH);
    return -1;
}

/* Makes a node owning a, b and c; frees them if it cannot. */
static struct jp_node *mk(struct parser *p, enum jp_ntype type, struct jp_node *a,
                          struct jp_node *b, struct jp_node *c) {
    struct jp_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        jp_node_free(a);
        jp_node_free(b);
        jp_node_free(c);
        return pfail(p, JP_ENOMEM, cur(p), "out of memory");
    }
    n->type = type;
    n->a = a;
    n->b = b;
    n->c = c;
    int h = height(a);
    if (height(b) > h) h = height(b);
    if (height(c) > h) h = height(c);
    n->height = h + 1;
    if (check_height(p, n) < 0) {
        jp_node_free(n);
        return NULL;
    }
    return n;
}

static int add_kid(struct parser *p, struct jp_node *n, struct jp_node *kid, char *key,
                   size_t keylen) {
    size_t k = n->nkids;
    struct jp_node **kids = realloc(n->kids, (k + 1) * sizeof *kids);
    if (kids != NULL) n->kids = kids;
    if (kids != NULL && key != NULL) {
        char **keys = realloc(n->keys, (k + 1) * sizeof *keys);
        if (keys != NULL) n->keys = keys;
        size_t *lens = keys != NULL ? realloc(n->keylens, (k + 1) * sizeof *lens) : NULL;
        if (lens != NULL) n->keylens = lens;
        if (lens == NULL) kids = NULL;
    }
    if (kids == NULL) {
        jp_node_free(kid);
        free(key);
        pfail(p, JP_ENOMEM, cur(p), "out of memory");
        return -1;
    }
    n->kids[k] = kid;
    if (key != NULL) {
        n->keys[k] = key;
        n->keylens[k] = keylen;
    }
    n->nkids = k + 1;
    if (kid->height + 1 > n->height) n->height = kid->height + 1;
    return check_height(p, n);
}

static struct jp_node *parse_projection_rhs(struct parser *p, int rbp);

/* After '[': an index "[n]" or a slice "[a:b:c]". */
static struct jp_node *parse_index(struct parser *p) {
    struct jp_token *start = cur(p);
    if (peek(p, 0)->type != JP_T_COLON && peek(p, 1)->type != JP_T_COLON) {
        long long idx = cur(p)->num;
        if (expect(p, JP_T_NUMBER) < 0 || expect(p, JP_T_RBRACKET) < 0) return NULL;
        struct jp_node *n = mk(p, JP_N_INDEX, NULL, NULL, NULL);
        if (n != NULL) n->u.index = idx;
        return n;
    }
    long long parts[3] = {0, 0, 1};
    int has[3] = {0, 0, 0}, i = 0;
    while (cur(p)->type != JP_T_RBRACKET && i < 3) {
        if (cur(p)->type == JP_T_COLON && i < 2) {
            i++;
        } else if (cur(p)->type == JP_T_NUMBER && !has[i]) {
            parts[i] = cur(p)->num;
            has[i] = 1;
        } else {
            return unexpected(p, cur(p));
        }
        advance(p);
    }
    if (expect(p, JP_T_RBRACKET) < 0) return NULL;
    if (has[2] && parts[2] == 0)
        return pfail(p, JP_EINVALID_VALUE, start, "slice step cannot be 0");
    struct jp_node *n = mk(p, JP_N_SLICE, NULL, NULL, NULL);
    if (n == NULL) return NULL;
    n->u.slice.start = parts[0];
    n->u.slice.stop = parts[1];
    n->u.slice.step = parts[2];
    n->u.slice.has_start = has[0];
    n->u.slice.has_stop = has[1];
    return n;
}

/* left[index] is a sub-expression; left[slice] also starts a projection. */
static struct jp_node *project_if_slice(struct parser *p, struct jp_node *left) {
    struct jp_node *idx = parse_index(p), *n;
    if (idx == NULL) {
        jp_node_free(left);
        return NULL;
    }
    int slice = idx->type == JP_N_SLICE;
    if (left->type == JP_N_CURRENT) {
        jp_node_free(left);
        n = idx;
    } else {
        n = mk(p, JP_N_SUB, left, idx, NULL);
    }
    if (n == NULL || !slice) return n;
    struct jp_node *rhs = parse_projection_rhs(p, lbp(JP_T_STAR));
    if (rhs == NULL) {
        jp_node_free(n);
        return NULL;
    }
    return mk(p, JP_N_PROJECT, n, rhs, NULL);
}

/* After '[' in a position where it starts a multi-select list. */
static struct jp_node *parse_mslist(struct parser *p) {
    struct jp_node *n = mk(p, JP_N_MSLIST, NULL, NULL, NULL);
    while (n != NULL) {
        struct jp_node *item = parse_expr(p, 0);
        if (item == NULL || add_kid(p, n, item, NULL, 0) < 0) break;
        if (cur(p)->type == JP_T_RBRACKET) {
            advance(p);
            return n;
        }
        if (expect(p, JP_T_COMMA) < 0) break;
    }
    jp_node_free(n);
    return NULL;
}

/* After '{': one or more "key: expression" pairs. */
static struct jp_node *parse_mshash(struct parser *p) {
    struct jp_node *n = mk(p, JP_N_MSHASH, NULL, NULL, NULL);
    while (n != NULL) {
        struct jp_token *k = cur(p);
        if (k->type != JP_T_IDENT && k->type != JP_T_QIDENT) {
            unexpected(p, k);
            break;
        }
        advance(p);
        if (expect(p, JP_T_COLON) < 0) break;
        struct jp_node *v = parse_expr(p, 0);
        if (v == NULL) break;
        char *key = k->str;
        k->str = NULL;
        if (add_kid(p, n, v, key, k->len) < 0) break;
        if (cur(p)->type == JP_T_RBRACE) {
            advance(p);
            return n;
        }
        if (expect(p, JP_T_COMMA) < 0) break;
    }
    jp_node_free(n);
    return NULL;
}

static struct jp_node *parse_dot_rhs(struct parser *p, int rbp) {
    switch (cur(p)->type) {
    case JP_T_IDENT:
    case JP_T_QIDENT:
    case JP_T_STAR: return parse_expr(p, rbp);
    case JP_T_LBRACKET: advance(p); return parse_mslist(p);
    case JP_T_LBRACE: advance(p); return parse_mshash(p);
    default: return unexpected(p, cur(p));
    }
}

/* What follows a projection: nothing (a weaker token), or more that applies per element. */
static struct jp_node *parse_projection_rhs(struct parser *p, int rbp) {
    enum jp_tok t = cur(p)->type;
    if (lbp(t) < PROJECTION_STOP) return mk(p, JP_N_CURRENT, NULL, NULL, NULL);
    if (t == JP_T_LBRACKET || t == JP_T_FILTER) return parse_expr(p, rbp);
    if (t == JP_T_DOT) {
        advance(p);
        return parse_dot_rhs(p, rbp);
    }
    return unexpected(p, cur(p));
}

/* Builds a projection node of the given type over left with the rhs that follows. */
static struct jp_node *projection(struct parser *p, enum jp_ntype type, struct jp_node *left,
                                  int rbp) {
    if (left == NULL) return NULL;
    struct jp_node *rhs = parse_projection_rhs(p, rbp);
    if (rhs == NULL) {
        jp_node_free(left);
        return NULL;
    }
    return mk(p, type, left, rhs, NULL);
}

static struct jp_node *parse_filter(struct parser *p, struct jp_node *left) {
    struct jp_node *cond = parse_expr(p, 0), *rhs = NULL;
    if (cond == NULL || expect(p, JP_T_RBRACKET) < 0) goto err;
    if (cur(p)->type == JP_T_FLATTEN) rhs = mk(p, JP_N_CURRENT, NULL, NULL, NULL);
    else rhs = parse_projection_rhs(p, lbp(JP_T_FILTER));
    if (rhs == NULL) goto err;
    return mk(p, JP_N_FILTER, left, rhs, cond);
err:
    jp_node_free(left);
    jp_node_free(cond);
    return NULL;
}

static struct jp_node *parse_function(struct parser *p, struct jp_node *name,
                                      const struct jp_token *at) {
    struct jp_node *n = NULL;
    if (name->type != JP_N_FIELD) {
        jp_node_free(name);
        return pfail(p, JP_ESYNTAX, at, "only a plain identifier can name a function");
    }
    const struct jp_func *fn = jp_func_lookup(name->u.field.name, name->u.field.len);
    if (fn == NULL) {
        pfail(p, JP_EUNKNOWN_FUNCTION, at, "unknown function %.40s()", name->u.field.name);
        goto err;
    }
    n = mk(p, JP_N_FUNC, NULL, NULL, NULL);
    if (n == NULL) goto err;
    n->u.fn = fn;
    if (cur(p)->type == JP_T_RPAREN) {
        advance(p);
    } else {
        for (;;) {
            struct jp_node *arg = parse_expr(p, 0);
            if (arg == NULL || add_kid(p, n, arg, NULL, 0) < 0) goto err;
            if (cur(p)->type == JP_T_RPAREN) {
                advance(p);
                break;
            }
            if (expect(p, JP_T_COMMA) < 0) goto err;
        }
    }
    if (p->rc == 0 && jp_func_check_arity(fn, n->nkids, NULL, 0) < 0) {
        char why[120];
        jp_func_check_arity(fn, n->nkids, why, sizeof why);
        pfail(p, JP_EINVALID_ARITY, at, "%s", why);
        goto err;
    }
    jp_node_free(name);
    return n;
err:
    jp_node_free(name);
    jp_node_free(n);
    return NULL;
}

static struct jp_node *nud(struct parser *p) {
    struct jp_token *t = advance(p);
    struct jp_node *n, *cur_node;
    switch (t->type) {
    case JP_T_LITERAL:
        n = mk(p, JP_N_LITERAL, NULL, NULL, NULL);
        if (n != NULL) {
            n->u.lit = t->lit;
            t->lit = NULL;
        }
        return n;
    case JP_T_QIDENT:
        if (cur(p)->type == JP_T_LPAREN)
            return pfail(p, JP_ESYNTAX, t, "a quoted identifier cannot name a function");
        /* fall through */
    case JP_T_IDENT:
        n = mk(p, JP_N_FIELD, NULL, NULL, NULL);
        if (n != NULL) {
            n->u.field.name = t->str;
            n->u.field.len = t->len;
            t->str = NULL;
        }
        return n;
    case JP_T_STAR:
        return projection(p, JP_N_VPROJECT, mk(p, JP_N_CURRENT, NULL, NULL, NULL),
                          lbp(JP_T_STAR));
    case JP_T_FILTER:
        cur_node = mk(p, JP_N_CURRENT, NULL, NULL, NULL);
        return cur_node != NULL ? parse_filter(p, cur_node) : NULL;
    case JP_T_LBRACE: return parse_mshash(p);
    case JP_T_FLATTEN:
        cur_node = mk(p, JP_N_CURRENT, NULL, NULL, NULL);
        return projection(p, JP_N_PROJECT,
                          cur_node ? mk(p, JP_N_FLATTEN, cur_node, NULL, NULL) : NULL,
                          lbp(JP_T_FLATTEN));
    case JP_T_LBRACKET:
        if (cur(p)->type == JP_T_NUMBER || cur(p)->type == JP_T_COLON) {
            cur_node = mk(p, JP_N_CURRENT, NULL, NULL, NULL);
            return cur_node != NULL ? project_if_slice(p, cur_node) : NULL;
        }
        if (cur(p)->type == JP_T_STAR && peek(p, 1)->type == JP_T_RBRACKET) {
            advance(p);
            advance(p);
            return projection(p, JP_N_PROJECT, mk(p, JP_N_CURRENT, NULL, NULL, NULL),
                              lbp(JP_T_STAR));
        }
        return parse_mslist(p);
    case JP_T_AT: return mk(p, JP_N_CURRENT, NULL, NULL, NULL);
    case JP_T_EXPREF:
        n = parse_expr(p, 0);
        return n != NULL ? mk(p, JP_N_EXPREF, n, NULL, NULL) : NULL;
    case JP_T_NOT:
        n = parse_expr(p, lbp(JP_T_NOT));
        return n != NULL ? mk(p, JP_N_NOT, n, NULL, NULL) : NULL;
    case JP_T_LPAREN:
        n = parse_expr(p, 0);
        if (n != NULL && expect(p, JP_T_RPAREN) < 0) {
            jp_node_free(n);
            return NULL;
        }
        return n;
    default: return unexpected(p, t);
    }
}

/* Consumes an infix token; takes ownership of left in every case. */
static struct jp_node *led(struct parser *p, struct jp_node *left) {
    struct jp_token *t = advance(p);
    struct jp_node *right = NULL;
    enum jp_ntype type;
    switch (t->type) {
    case JP_T_DOT:
        if (cur(p)->type == JP_T_STAR) {
            advance(p);
            return projection(p, JP_N_VPROJECT, left, lbp(JP_T_DOT));
        }
        right = parse_dot_rhs(p, lbp(JP_T_DOT));
        type = JP_N_SUB;
        break;
    case JP_T_PIPE:
        right = parse_expr(p, lbp(t->type));
        type = JP_N_PIPE;
        break;
    case JP_T_OR:
        right = parse_expr(p, lbp(t->type));
        type = JP_N_OR;
        break;
    case JP_T_AND:
        right = parse_expr(p, lbp(t->type));
        type = JP_N_AND;
        break;
    case JP_T_EQ: case JP_T_NE: case JP_T_LT: case JP_T_LE: case JP_T_GT: case JP_T_GE:
        right = parse_expr(p, lbp(t->type));
        if (right == NULL) break;
        left = mk(p, JP_N_CMP, left, right, NULL);
        if (left != NULL) left->u.cmp = t->type;
        return left;
    case JP_T_LPAREN: return parse_function(p, left, t);
    case JP_T_FILTER: return parse_filter(p, left);
    case JP_T_FLATTEN:
        return projection(p, JP_N_PROJECT, mk(p, JP_N_FLATTEN, left, NULL, NULL),
                          lbp(JP_T_FLATTEN));
    case JP_T_LBRACKET:
        if (cur(p)->type == JP_T_NUMBER || cur(p)->type == JP_T_COLON)
            return project_if_slice(p, left);
        if (expect(p, JP_T_STAR) < 0 || expect(p, JP_T_RBRACKET) < 0) break;
        return projection(p, JP_N_PROJECT, left, lbp(JP_T_STAR));
    default:
        unexpected(p, t);
        break;
    }
    if (right == NULL) {
        jp_node_free(left);
        return NULL;
    }
    return mk(p, type, left, right, NULL);
}

static struct jp_node *parse_expr(struct parser *p, int rbp) {
    if (++p->depth > JP_MAX_DEPTH) {
        p->depth--;
        return pfail(p, JP_ELIMIT, cur(p), "expression nested deeper than %d levels",
                     JP_MAX_DEPTH);
    }
    struct jp_node *left = nud(p);
    while (left != NULL && rbp < lbp(cur(p)->type)) left = led(p, left);
    p->depth--;
    return left;
}

struct jp_expr *jp_compile(const char *expr, size_t len, char *err, size_t errlen) {
    struct parser p = {.err = err, .errlen = errlen};
    struct jp_expr *e = NULL;
    struct jp_node *root = NULL;
    if (err != NULL && errlen > 0) err[0] = '\0';
    if (len > JP_MAX_EXPR_LEN) {
        struct jp_token at = {.col = JP_MAX_EXPR_LEN + 1};
        pfail(&p, JP_ELIMIT, &at, "expression longer than %d bytes", JP_MAX_EXPR_LEN);
        goto err;
    }
    if (jp_lex(expr, len, &p.toks, err, errlen) < 0) goto err;
    root = parse_expr(&p, 0);
    if (root == NULL) goto err;
    if (cur(&p)->type != JP_T_EOF) {
        unexpected(&p, cur(&p));
        goto err;
    }
    e = malloc(sizeof *e);
    if (e == NULL) {
        pfail(&p, JP_ENOMEM, cur(&p), "out of memory");
        goto err;
    }
    e->root = root;
    jp_tokens_free(&p.toks);
    return e;
err:
    jp_node_free(root);
    jp_tokens_free(&p.toks);
    return NULL;
}

void jp_free(struct jp_expr *e) {
    if (e == NULL) return;
    jp_node_free(e->root);
    free(e);
}
