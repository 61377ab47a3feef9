/* template.c - Handlebars-style templates: compiled once, rendered without allocation.
 *
 * Compilation reads the source in three passes: it is cut into tokens (text, tag, comment),
 * whitespace control (~) trims the text tokens next to a tag, and the tokens become a flat
 * program of ops: text and variable insertions, and jumps for {{#if}} / {{#unless}} /
 * {{else}}. Rendering walks that program once, so it needs no stack and allocates nothing.
 *
 * The behaviour is the one measured on handlebars-rust 3.5.5 (the original hotdog's engine)
 * with a context where every variable is a string, except that values are inserted as they
 * are instead of HTML-escaped. Where 3.5.5 is surprising it is matched, not corrected: a
 * string is true when it is not empty ("0" and "false" are true), no "standalone line"
 * whitespace removal, a ~ trims across comments, `\\{{` is a backslash and a tag. */
#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

/* OP_JSON: {{json name}}, the variable as a JSON string (null when absent). */
enum op_kind { OP_TEXT, OP_VAR, OP_VALUE, OP_JUMP, OP_JUMP_UNLESS, OP_JSON };

struct op {
    unsigned char kind;
    unsigned char negate; /* OP_JUMP_UNLESS: jump when the condition is true ({{#unless}}) */
    unsigned char escape; /* OP_VAR: written {{name}}, so HTML-escaped when t->html is on */
    int var, fallback;    /* OP_VAR, OP_JSON */
    int expr;             /* OP_VALUE, OP_JUMP_UNLESS: index in nodes */
    size_t off, len;      /* OP_TEXT: bytes of text; OP_JUMP*: off is the target op */
};

enum node_kind { N_VAR, N_STR, N_NUM, N_BOOL, N_NULL, N_CALL };
enum fn_kind { F_EQ, F_NE, F_AND, F_OR, F_NOT };

/* A condition or value expression; N_CALL nodes refer to their arguments by index. */
struct node {
    unsigned char kind, fn, b, is_float;
    int var, fallback; /* N_VAR; var < 0: a name unknown at compile time (null) */
    size_t off, len;   /* N_STR: bytes of text */
    double num;
    int arg[2];
};

struct tmpl {
    char *text; /* the literal pieces and string literals, unescaped */
    size_t tlen;
    struct op *ops;
    size_t n, cap;
    struct node *nodes;
    size_t nn, ncap;
    size_t barrier; /* ops before this index are never merged with: it is a jump target */
    int html;       /* tmpl_set_html_escape */
};

enum tok_kind { T_TEXT, T_TAG, T_COMMENT };

struct tok {
    unsigned char kind, ltilde, rtilde, triple;
    size_t off, len; /* T_TEXT: bytes of t->text; T_TAG: the body (tildes, spaces off) in src */
    size_t at, end;  /* T_TAG, T_COMMENT: the whole tag in src, for messages */
};

struct block {
    size_t jump;   /* the OP_JUMP_UNLESS at its start */
    long els;      /* the OP_JUMP ending the first branch, or -1 before {{else}} */
    int unless;
    size_t tok;
};

#define TMPL_MAX_DEPTH 64 /* nested blocks */
#define TMPL_MAX_SUBEXPR 8 /* nested subexpressions: bounds the evaluator's recursion */

struct compiler {
    struct tmpl *t;
    const char *src;
    tmpl_resolve_fn resolve;
    void *arg;
    char *err;
    size_t errlen;
    const struct tok *tok; /* the tag being compiled, for messages */
};

/* Unicode White_Space, as Rust's char::is_whitespace (what 3.5.5 trims for ~): returns the
 * length of the whitespace character at p (0: none). */
static size_t ws_len(const char *p, size_t n) {
    unsigned char c = (unsigned char)p[0];
    if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
    if (c == 0xC2 && n >= 2 && ((unsigned char)p[1] == 0x85 || (unsigned char)p[1] == 0xA0))
        return 2;
    if (n < 3) return 0;
    unsigned c1 = (unsigned char)p[1], c2 = (unsigned char)p[2];
    if (c == 0xE1 && c1 == 0x9A && c2 == 0x80) return 3;                   /* U+1680 */
    if (c == 0xE2 && c1 == 0x80 && (c2 <= 0x8A || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF))
        return 3;                                                          /* U+2000.. */
    if (c == 0xE2 && c1 == 0x81 && c2 == 0x9F) return 3;                   /* U+205F */
    if (c == 0xE3 && c1 == 0x80 && c2 == 0x80) return 3;                   /* U+3000 */
    return 0;
}

/* Length of the whitespace that ends p[0..n). */
static size_t ws_len_back(const char *p, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (ws_len(p + n - k, k) == k) return k;
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int fail(struct compiler *c, const char *why) {
    const struct tok *k = c->tok;
    size_t n = k->end - k->at;
    snprintf(c->err, c->errlen, "unsupported template expression '%.*s%s' at offset %zu (%s)",
             (int)(n > 60 ? 60 : n), c->src + k->at, n > 60 ? "..." : "", k->at, why);
    return -1;
}

static void add_op(struct tmpl *t, struct op o) {
    /* Adjacent literals merge, so rendering does one memcpy per run of text. */
    if (o.kind == OP_TEXT && t->n > t->barrier && t->ops[t->n - 1].kind == OP_TEXT &&
        t->ops[t->n - 1].off + t->ops[t->n - 1].len == o.off) {
        t->ops[t->n - 1].len += o.len;
        return;
    }
    if (o.kind == OP_TEXT && !o.len) return;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->ops = realloc(t->ops, t->cap * sizeof *t->ops);
        if (!t->ops) abort();
    }
    t->ops[t->n++] = o;
}

static int add_node(struct tmpl *t, struct node nd) {
    if (t->nn == t->ncap) {
        t->ncap = t->ncap ? t->ncap * 2 : 4;
        t->nodes = realloc(t->nodes, t->ncap * sizeof *t->nodes);
        if (!t->nodes) abort();
    }
    t->nodes[t->nn] = nd;
    return (int)t->nn++;
}

/* Makes the next op a jump target. */
static void label(struct tmpl *t, size_t jump) {
    t->ops[jump].off = t->n;
    t->barrier = t->n;
}

/* ---- pass 1: tokens ---------------------------------------------------------------- */

static void push_tok(struct tok **v, size_t *n, size_t *cap, struct tok k) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = realloc(*v, *cap * sizeof **v);
        if (!*v) abort();
    }
    (*v)[(*n)++] = k;
}

/* Where the tag body starting at j ends (the offset of close), skipping double-quoted
 * strings, whose text may contain braces; 0 if never closed, or if another tag opens (or,
 * in a {{{ }}}, closes) first. */
static size_t find_close(const char *src, size_t j, size_t len, const char *close) {
    size_t cl = strlen(close);
    for (size_t k = j; k + 1 < len; k++) {
        if (src[k] == '"') {
            const char *q = memchr(src + k + 1, '"', len - k - 1);
            if (!q) return 0;
            k = (size_t)(q - src);
            continue;
        }
        if (k + cl <= len && !memcmp(src + k, close, cl)) return k;
        if ((src[k] == '{' || src[k] == '}') && src[k + 1] == src[k]) return 0;
    }
    return 0;
}

static int tokenize(struct compiler *c, size_t len, struct tok **toks, size_t *ntok) {
    struct tmpl *t = c->t;
    const char *src = c->src;
    size_t cap = 0, i = 0;
    while (i < len) {
        /* A run of text, up to a tag. */
        struct tok txt = {.kind = T_TEXT, .off = t->tlen};
        size_t start = i;
        int tag = 0;
        while (i < len) {
            if (src[i] != '{' || i + 1 >= len || src[i + 1] != '{') {
                t->text[t->tlen++] = src[i++];
                continue;
            }
            size_t k = 0;
            while (i - k > start && src[i - k - 1] == '\\') k++;
            if (k == 1) { /* \{{ (or \{{{{) is literal text, and the text goes on */
                size_t m = i + 3 < len && src[i + 2] == '{' && src[i + 3] == '{' ? 4 : 2;
                t->tlen--;
                memset(t->text + t->tlen, '{', m);
                t->tlen += m;
                i += m;
                continue;
            }
            if (k >= 2) t->tlen--; /* \\{{ is one backslash, then a tag */
            tag = 1;
            break;
        }
        txt.len = t->tlen - txt.off;
        if (txt.len) push_tok(toks, ntok, &cap, txt);
        if (!tag) break;

        struct tok k = {.kind = T_TAG, .at = i};
        c->tok = &k;
        if (i + 3 < len && src[i + 2] == '{' && src[i + 3] == '{') {
            k.end = i + 4;
            return fail(c, "raw blocks are not supported; write \\{{ for a literal {{");
        }
        k.triple = i + 2 < len && src[i + 2] == '{';
        size_t j = i + (k.triple ? 3 : 2), close;
        if (!k.triple && j < len && src[j] == '!') {
            /* {{!-- ... --}} may hold "}}"; without its "--}}" it is a short comment. */
            const char *e = NULL;
            if (j + 2 < len && src[j + 1] == '-' && src[j + 2] == '-') e = strstr(src + j + 3, "--}}");
            if (e) {
                k.end = (size_t)(e - src) + 4;
            } else if ((e = strstr(src + j + 1, "}}"))) {
                k.end = (size_t)(e - src) + 2;
            } else {
                snprintf(c->err, c->errlen, "unclosed '{{' at offset %zu", i);
                return -1;
            }
            k.kind = T_COMMENT;
            push_tok(toks, ntok, &cap, k);
            i = k.end;
            continue;
        }
        const char *cl = k.triple ? "}}}" : "}}";
        if (!(close = find_close(src, j, len, cl))) {
            snprintf(c->err, c->errlen, "unclosed '%s' at offset %zu", k.triple ? "{{{" : "{{", i);
            return -1;
        }
        k.end = close + strlen(cl);
        size_t a = j, b = close;
        while (a < b && is_space(src[a])) a++;
        while (b > a && is_space(src[b - 1])) b--;
        if (a < b && src[a] == '~') k.ltilde = 1, a++;
        if (b > a && src[b - 1] == '~') k.rtilde = 1, b--;
        while (a < b && is_space(src[a])) a++;
        while (b > a && is_space(src[b - 1])) b--;
        if (a < b && src[a] == '!')
            return fail(c, "whitespace control on a comment does not compile in the original");
        if (a < b && src[a] == '{') return fail(c, "'{' inside a tag");
        k.off = a;
        k.len = b - a;
        push_tok(toks, ntok, &cap, k);
        i = k.end;
    }
    return 0;
}

/* ---- pass 2: whitespace control -------------------------------------------------- */

/* A tag's ~ next to its braces trims the whitespace of the text on that side. A ~ on the
 * right trims every text up to the next tag, past comments (3.5.5 trims each piece of text
 * by the last tag before it); one on the left only trims the text right before the tag. */
static void trim(struct tmpl *t, struct tok *v, size_t n) {
    int trim_next = 0;
    for (size_t i = 0; i < n; i++) {
        struct tok *k = &v[i];
        if (k->kind == T_TEXT) {
            if (!trim_next) continue;
            size_t w;
            while (k->len && (w = ws_len(t->text + k->off, k->len))) k->off += w, k->len -= w;
        } else if (k->kind == T_TAG) {
            if (k->ltilde && i && v[i - 1].kind == T_TEXT) {
                size_t w;
                while (v[i - 1].len && (w = ws_len_back(t->text + v[i - 1].off, v[i - 1].len)))
                    v[i - 1].len -= w;
            }
            trim_next = k->rtilde;
        }
    }
}

/* ---- pass 3: ops ----------------------------------------------------------------- */

static int word_is(const char *p, size_t n, const char *w) {
    return strlen(w) == n && !memcmp(p, w, n);
}

/* The end of a name or literal token starting at p. */
static const char *token_end(const char *p, const char *e) {
    if (p < e && *p == '[') {
        const char *q = memchr(p, ']', (size_t)(e - p));
        if (q) p = q + 1;
    }
    while (p < e && !is_space(*p) && *p != '(' && *p != ')' && *p != '"') p++;
    return p;
}

/* A variable's name: this./@root./../ and [brackets] add nothing at the top of a context
 * where every variable is a string. */
static int path_node(struct compiler *c, const char *p, size_t n) {
    static const char *const prefixes[] = {"this.", "this/", "./", "../", "@root."};
    for (int again = 1; again;) {
        again = 0;
        for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
            size_t pl = strlen(prefixes[k]);
            if (n > pl && !memcmp(p, prefixes[k], pl)) p += pl, n -= pl, again = 1;
        }
    }
    if (word_is(p, n, "this") || word_is(p, n, "@root") || word_is(p, n, ".") ||
        word_is(p, n, "..") || word_is(p, n, "../"))
        return fail(c, "the whole context is not a value (the original renders '[object]')");
    if (n >= 2 && p[0] == '[' && p[n - 1] == ']') p++, n -= 2;
    struct node nd = {.kind = N_VAR, .fallback = -1};
    nd.var = c->resolve(p, n, &nd.fallback, c->arg);
    if (nd.var < 0) {
        nd.var = nd.fallback;
        nd.fallback = -1;
    }
    return add_node(c->t, nd);
}

static int parse_param(struct compiler *c, const char **pp, const char *e, int depth);

/* (name args...) or name args... up to e: one of the five helpers that mean something for
 * strings. */
static int call_node(struct compiler *c, const char *p, const char *e, int depth) {
    const char *h = p, *he = token_end(p, e);
    struct node nd = {.kind = N_CALL, .arg = {-1, -1}};
    int need = 2;
    if (word_is(h, (size_t)(he - h), "eq")) nd.fn = F_EQ;
    else if (word_is(h, (size_t)(he - h), "ne")) nd.fn = F_NE;
    else if (word_is(h, (size_t)(he - h), "and")) nd.fn = F_AND;
    else if (word_is(h, (size_t)(he - h), "or")) nd.fn = F_OR;
    else if (word_is(h, (size_t)(he - h), "not")) nd.fn = F_NOT, need = 1;
    else if (word_is(h, (size_t)(he - h), "gt") || word_is(h, (size_t)(he - h), "gte") ||
             word_is(h, (size_t)(he - h), "lt") || word_is(h, (size_t)(he - h), "lte"))
        return fail(c, "comparing numbers: every hotdog variable is a string, which the "
                       "original fails to render");
    else if (word_is(h, (size_t)(he - h), "lookup"))
        return fail(c, "lookup is not supported: name the variable");
    else if (word_is(h, (size_t)(he - h), "log"))
        return fail(c, "log is not supported: it writes to the original's log only");
    else if (word_is(h, (size_t)(he - h), "json"))
        return fail(c, "json is a tag of its own, {{json name}}, not a value in a condition");
    else
        return fail(c, "helper not supported: the original fails to render it");
    int nargs = 0;
    p = he;
    for (;;) {
        while (p < e && is_space(*p)) p++;
        if (p == e) break;
        int a = parse_param(c, &p, e, depth);
        if (a < 0) return -1;
        if (nargs < 2) nd.arg[nargs] = a; /* the original ignores the rest */
        nargs++;
    }
    if (nargs < need) return fail(c, "too few arguments: the original fails to render it");
    return add_node(c->t, nd);
}

static int parse_param(struct compiler *c, const char **pp, const char *e, int depth) {
    const char *p = *pp;
    if (*p == '(') {
        if (depth >= TMPL_MAX_SUBEXPR) return fail(c, "subexpressions nested too deep");
        int level = 0;
        const char *q = p;
        for (; q < e; q++) {
            if (*q == '"') {
                const char *r = memchr(q + 1, '"', (size_t)(e - q - 1));
                if (!r) break;
                q = r;
            } else if (*q == '(') {
                level++;
            } else if (*q == ')' && !--level) {
                break;
            }
        }
        if (q == e) return fail(c, "unclosed '('");
        const char *a = p + 1;
        while (a < q && is_space(*a)) a++;
        *pp = q + 1;
        if (a == q) return fail(c, "empty subexpression");
        return call_node(c, a, q, depth + 1);
    }
    if (*p == '"') {
        const char *q = memchr(p + 1, '"', (size_t)(e - p - 1));
        if (!q) return fail(c, "unclosed string");
        if (memchr(p + 1, '\\', (size_t)(q - p - 1)))
            return fail(c, "a backslash in a string literal");
        struct node nd = {.kind = N_STR, .off = c->t->tlen, .len = (size_t)(q - p - 1)};
        memcpy(c->t->text + c->t->tlen, p + 1, nd.len);
        c->t->tlen += nd.len;
        *pp = q + 1;
        return add_node(c->t, nd);
    }
    if (*p == '\'') return fail(c, "single quotes do not compile in the original: use \"");
    if (*p == ')') return fail(c, "unbalanced ')'");
    const char *q = token_end(p, e);
    size_t n = (size_t)(q - p);
    *pp = q;
    if (memchr(p, '=', n)) return fail(c, "hash arguments (name=value) are not supported");
    if (*p == '|') return fail(c, "block parameters (as |x|) are not supported");
    struct node nd = {.kind = N_NULL};
    if (word_is(p, n, "true") || word_is(p, n, "false")) {
        nd.kind = N_BOOL;
        nd.b = *p == 't';
        return add_node(c->t, nd);
    }
    if (word_is(p, n, "null")) return add_node(c->t, nd);
    if ((*p >= '0' && *p <= '9') || (*p == '-' && n > 1 && p[1] >= '0' && p[1] <= '9')) {
        char num[64], *end;
        if (n < sizeof num) {
            memcpy(num, p, n);
            num[n] = 0;
            nd.num = strtod(num, &end);
            if (end == num + n) {
                nd.kind = N_NUM;
                nd.is_float = strpbrk(num, ".eE") != NULL;
                return add_node(c->t, nd);
            }
        }
    }
    return path_node(c, p, n);
}

/* {{#name params}} */
static int open_block(struct compiler *c, const char *p, const char *e, struct block *stack,
                      size_t *depth, size_t ti) {
    p++;
    while (p < e && is_space(*p)) p++;
    if (p < e && (*p == '>' || *p == '*')) return fail(c, "partials are not supported");
    const char *ne = token_end(p, e);
    int unless = word_is(p, (size_t)(ne - p), "unless");
    if (!unless && !word_is(p, (size_t)(ne - p), "if")) {
        if (word_is(p, (size_t)(ne - p), "each"))
            return fail(c, "#each is not supported: every hotdog variable is a string, which "
                           "the original iterates as nothing");
        if (word_is(p, (size_t)(ne - p), "with"))
            return fail(c, "#with is not supported: use {{#if x}}{{x}}{{/if}}");
        return fail(c, "block helper not supported: only #if and #unless are");
    }
    p = ne;
    int cond = -1;
    for (;;) {
        while (p < e && is_space(*p)) p++;
        if (p == e) break;
        if (word_is(p, (size_t)(token_end(p, e) - p), "as"))
            return fail(c, "block parameters (as |x|) are not supported");
        int a = parse_param(c, &p, e, 0);
        if (a < 0) return -1;
        if (cond < 0) cond = a; /* the original ignores the rest */
    }
    if (cond < 0) return fail(c, "a block without a condition: the original fails to render it");
    if (*depth == TMPL_MAX_DEPTH) return fail(c, "blocks nested too deep");
    stack[(*depth)++] = (struct block){c->t->n, -1, unless, ti};
    add_op(c->t, (struct op){.kind = OP_JUMP_UNLESS, .negate = (unsigned char)unless, .expr = cond});
    return 0;
}

/* {{json name}}: ours (the original has no such helper and fails to render it). The value is
 * JSON-escaped with its quotes, so that a template may build JSON by hand; an absent
 * variable, or a name unknown at compile time, is null. */
static int json_tag(struct compiler *c, const char *p, const char *e) {
    if (*p == '(' || *p == '"') return fail(c, "json takes a variable name: {{json name}}");
    int ni = parse_param(c, &p, e, 0);
    if (ni < 0) return -1;
    while (p < e && is_space(*p)) p++;
    if (p != e) return fail(c, "json takes one variable name: {{json name}}");
    const struct node *nd = &c->t->nodes[ni];
    if (nd->kind != N_VAR)
        return fail(c, "json takes a variable name, not a literal: {{json name}}");
    add_op(c->t, (struct op){.kind = OP_JSON, .var = nd->var, .fallback = nd->fallback});
    return 0;
}

static int compile_tag(struct compiler *c, const struct tok *toks, size_t ti,
                       struct block *stack, size_t *depth) {
    struct tmpl *t = c->t;
    const char *p = c->src + c->tok->off, *e = p + c->tok->len;
    size_t n = c->tok->len;
    if (n == 0) return fail(c, "an empty tag");
    if (c->tok->triple && strchr("&#/^>", *p)) return fail(c, "does not compile in the original");
    if (!c->tok->triple && *p == '#') return open_block(c, p, e, stack, depth, ti);
    if (!c->tok->triple && *p == '/') {
        p++;
        while (p < e && is_space(*p)) p++;
        if (!*depth) return fail(c, "a close without an open block");
        struct block *b = &stack[*depth - 1];
        if (!word_is(p, (size_t)(e - p), b->unless ? "unless" : "if")) {
            const struct tok *o = &toks[b->tok];
            snprintf(c->err, c->errlen, "'%.*s' at offset %zu closes '%.*s' at offset %zu",
                     (int)(c->tok->end - c->tok->at), c->src + c->tok->at, c->tok->at,
                     (int)(o->end - o->at > 60 ? 60 : o->end - o->at), c->src + o->at, o->at);
            return -1;
        }
        label(t, b->els >= 0 ? (size_t)b->els : b->jump);
        (*depth)--;
        return 0;
    }
    if (!c->tok->triple && (word_is(p, n, "else") || word_is(p, n, "^"))) {
        if (!*depth) return fail(c, "an else outside an #if or #unless block");
        struct block *b = &stack[*depth - 1];
        if (b->els >= 0) return fail(c, "a second else in one block");
        b->els = (long)t->n;
        add_op(t, (struct op){.kind = OP_JUMP});
        label(t, b->jump);
        return 0;
    }
    if (!c->tok->triple && n > 4 && !memcmp(p, "else", 4) && is_space(p[4]))
        return fail(c, "{{else if}} chains: the original's Handlebars 3.5.5 does not chain "
                       "them (it renders only the last branch); nest #if blocks");
    if (!c->tok->triple && *p == '^') return fail(c, "inverted sections do not compile in the original");
    if (!c->tok->triple && *p == '>') return fail(c, "partials are not supported");
    int raw = !c->tok->triple && *p == '&';
    if (raw) {
        p++;
        while (p < e && is_space(*p)) p++;
    }
    if (p == e) return fail(c, "an empty tag");
    /* A value: one name or literal, a subexpression, or a helper with arguments. */
    const char *q = p;
    if (*p != '(' && *p != '"') q = token_end(p, e);
    const char *r = q;
    while (r < e && is_space(*r)) r++;
    int ni;
    if (r < e && *p != '(' && *p != '"' && (c->tok->triple || raw))
        return fail(c, "a helper call in {{{ }}} or {{& }} does not compile in the original");
    if (r < e && word_is(p, (size_t)(q - p), "json")) return json_tag(c, r, e);
    if (r < e && *p != '(' && *p != '"') {
        ni = call_node(c, p, e, 0);
    } else {
        ni = parse_param(c, &p, e, 0);
        while (p < e && is_space(*p)) p++;
        if (ni >= 0 && p != e) ni = fail(c, "text after the value");
    }
    if (ni < 0) return -1;
    const struct node *nd = &t->nodes[ni];
    if (nd->kind == N_STR) return fail(c, "a string literal alone does not compile in the original");
    if (nd->kind == N_CALL) add_op(t, (struct op){.kind = OP_VALUE, .expr = ni});
    else if (nd->kind == N_VAR && nd->var >= 0)
        add_op(t, (struct op){.kind = OP_VAR, .var = nd->var, .fallback = nd->fallback,
                              .escape = (unsigned char)!(c->tok->triple || raw)});
    /* Unknown names and other literals render as nothing, as in the original. */
    return 0;
}

struct tmpl *tmpl_compile(const char *src, tmpl_resolve_fn resolve, void *arg, char *err,
                          size_t errlen) {
    struct tmpl *t = calloc(1, sizeof *t);
    size_t len = strlen(src), ntok = 0, depth = 0;
    struct tok *toks = NULL;
    struct block stack[TMPL_MAX_DEPTH];
    /* Text and string literals are never longer than the source they come from. */
    if (!t || !(t->text = malloc(len + 1))) abort();
    struct compiler c = {t, src, resolve, arg, err, errlen, NULL};
    if (tokenize(&c, len, &toks, &ntok) < 0) goto err;
    trim(t, toks, ntok);
    for (size_t i = 0; i < ntok; i++) {
        c.tok = &toks[i];
        if (toks[i].kind == T_TEXT)
            add_op(t, (struct op){.kind = OP_TEXT, .off = toks[i].off, .len = toks[i].len});
        else if (toks[i].kind == T_TAG && compile_tag(&c, toks, i, stack, &depth) < 0)
            goto err;
    }
    if (depth) {
        c.tok = &toks[stack[depth - 1].tok];
        fail(&c, "a block that is never closed");
        goto err;
    }
    free(toks);
    return t;
err:
    free(toks);
    tmpl_free(t);
    return NULL;
}

void tmpl_free(struct tmpl *t) {
    if (!t) return;
    free(t->text);
    free(t->ops);
    free(t->nodes);
    free(t);
}

/* A JSON-like value, as the original's helpers see it: a variable is a string or, when
 * absent, null. */
struct val {
    int kind; /* enum node_kind, without N_VAR and N_CALL */
    const char *p;
    size_t n;
    double num;
    int is_float, b;
};

static int truthy(const struct val *v) {
    switch (v->kind) {
    case N_STR: return v->n > 0;
    case N_NUM: return v->num != 0;
    case N_BOOL: return v->b;
    default: return 0;
    }
}

static int equal(const struct val *a, const struct val *b) {
    if (a->kind != b->kind) return 0;
    switch (a->kind) {
    case N_STR: return a->n == b->n && !memcmp(a->p, b->p, a->n);
    case N_NUM: return a->is_float == b->is_float && a->num == b->num;
    case N_BOOL: return a->b == b->b;
    default: return 1;
    }
}

/* Recursion is bounded by TMPL_MAX_SUBEXPR. */
static struct val eval(const struct tmpl *t, int ni, const struct syslog_slice *vars) {
    const struct node *nd = &t->nodes[ni];
    struct val v = {.kind = nd->kind};
    switch (nd->kind) {
    case N_VAR: {
        struct syslog_slice s = {NULL, 0};
        if (nd->var >= 0) s = vars[nd->var];
        if (!s.p && nd->fallback >= 0) s = vars[nd->fallback];
        v.kind = s.p ? N_STR : N_NULL;
        v.p = s.p;
        v.n = s.n;
        break;
    }
    case N_STR:
        v.p = t->text + nd->off;
        v.n = nd->len;
        break;
    case N_NUM:
        v.num = nd->num;
        v.is_float = nd->is_float;
        break;
    case N_BOOL:
        v.b = nd->b;
        break;
    case N_CALL: {
        struct val a = eval(t, nd->arg[0], vars), b = {.kind = N_NULL};
        if (nd->arg[1] >= 0) b = eval(t, nd->arg[1], vars);
        v.kind = N_BOOL;
        switch (nd->fn) {
        case F_EQ: v.b = equal(&a, &b); break;
        case F_NE: v.b = !equal(&a, &b); break;
        case F_AND: v.b = truthy(&a) && truthy(&b); break;
        case F_OR: v.b = truthy(&a) || truthy(&b); break;
        default: v.b = !truthy(&a); break;
        }
        break;
    }
    default:
        break;
    }
    return v;
}

void tmpl_set_html_escape(struct tmpl *t, int on) { t->html = on; }

/* Handlebars 3.5.5's html_escape: runs without these bytes are copied whole. */
static void append_html(struct buf *out, const char *p, size_t n) {
    static const char *const ent[256] = {['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;",
                                         ['"'] = "&quot;", ['\''] = "&#x27;", ['`'] = "&#x60;",
                                         ['='] = "&#x3D;"};
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = ent[(unsigned char)p[i]];
        if (!e) continue;
        buf_append(out, p + run, i - run);
        buf_append(out, e, strlen(e));
        run = i + 1;
    }
    buf_append(out, p + run, n - run);
}

size_t tmpl_render(const struct tmpl *t, const struct syslog_slice *vars, struct buf *out) {
    size_t bad = 0;
    for (size_t pc = 0; pc < t->n;) {
        const struct op *o = &t->ops[pc++];
        switch (o->kind) {
        case OP_TEXT:
            buf_append(out, t->text + o->off, o->len);
            break;
        case OP_VAR: {
            struct syslog_slice v = vars[o->var];
            if (!v.p && o->fallback >= 0) v = vars[o->fallback];
            if (!v.p) break;
            if (o->escape && t->html) append_html(out, v.p, v.n);
            else buf_append(out, v.p, v.n);
            break;
        }
        case OP_VALUE: {
            struct val v = eval(t, o->expr, vars);
            if (v.b) buf_append(out, "true", 4);
            else buf_append(out, "false", 5);
            break;
        }
        case OP_JSON: {
            struct syslog_slice v = {NULL, 0};
            if (o->var >= 0) v = vars[o->var];
            if (!v.p && o->fallback >= 0) v = vars[o->fallback];
            if (v.p) bad += format_json_string(out, v.p, v.n);
            else buf_append(out, "null", 4);
            break;
        }
        case OP_JUMP:
            pc = o->off;
            break;
        default: {
            struct val v = eval(t, o->expr, vars);
            if (truthy(&v) == o->negate) pc = o->off;
            break;
        }
        }
    }
    return bad;
}

int tmpl_uses(const struct tmpl *t, int id) {
    for (size_t i = 0; i < t->n; i++)
        if ((t->ops[i].kind == OP_VAR || t->ops[i].kind == OP_JSON) &&
            (t->ops[i].var == id || t->ops[i].fallback == id))
            return 1;
    for (size_t i = 0; i < t->nn; i++)
        if (t->nodes[i].kind == N_VAR && (t->nodes[i].var == id || t->nodes[i].fallback == id))
            return 1;
    return 0;
}

int tmpl_is_literal(const struct tmpl *t) {
    for (size_t i = 0; i < t->n; i++)
        if (t->ops[i].kind != OP_TEXT) return 0;
    return 1;
}
