/* jp_lex.c - splits a JMESPath expression into tokens, decoding identifiers and literals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jp_internal.h"

/* Numbers only ever index arrays or bound slices, so saturating here keeps every later
 * computation free of overflow without changing any observable result. */
#define JP_NUM_SAT (1LL << 53)

void jp_errorf(char *err, size_t errlen, int code, const char *fmt, va_list ap) {
    if (err == NULL || errlen == 0) return;
    int n = snprintf(err, errlen, "%s: ", jp_strerror(code));
    if (n < 0 || (size_t)n >= errlen) return;
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

static int lex_fail(char *err, size_t errlen, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    jp_errorf(err, errlen, code, fmt, ap);
    va_end(ap);
    return code;
}

const char *jp_tok_name(enum jp_tok t) {
    static const char *const names[] = {
        "end of expression", "identifier", "quoted identifier", "number", "literal", "'.'",
        "'*'", "'['", "']'", "'[]'", "'[?'", "'{'", "'}'", "'('", "')'", "','", "':'", "'|'",
        "'||'", "'&&'", "'!'", "'=='", "'!='", "'<'", "'<='", "'>'", "'>='", "'@'", "'&'"};
    return (size_t)t < sizeof names / sizeof names[0] ? names[t] : "token";
}

/* Returns the length of the valid UTF-8 sequence at s, or 0 if it is not one. Overlong
 * forms and surrogates are rejected because jansson refuses them in strings and keys. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    return len;
}

static size_t utf8_put(char *out, unsigned cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hex4(const char *s, size_t n, size_t i, unsigned *out) {
    unsigned v = 0;
    if (i + 4 > n) return -1;
    for (size_t k = i; k < i + 4; k++) {
        char ch = s[k];
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') v |= (unsigned)(ch - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Decodes the JSON string body s[*pos..] up to the closing quote into a new buffer.
 * On success *pos is just past the closing quote. */
static int lex_quoted(const char *s, size_t n, size_t *pos, struct jp_token *t, char *err,
                      size_t errlen) {
    size_t i = *pos + 1, o = 0;
    char *buf = malloc(n - *pos + 1);
    int rc = JP_ENOMEM;
    if (buf == NULL) goto err;
    rc = JP_ESYNTAX;
    for (;;) {
        if (i >= n) {
            lex_fail(err, errlen, rc, "unterminated quoted identifier at column %zu", *pos + 1);
            goto err;
        }
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"') break;
        if (ch < 0x20) {
            lex_fail(err, errlen, rc, "control character in quoted identifier at column %zu",
                     i + 1);
            goto err;
        }
        if (ch != '\\') {
            buf[o++] = (char)ch;
            i++;
            continue;
        }
        if (i + 1 >= n) {
            lex_fail(err, errlen, rc, "unterminated quoted identifier at column %zu", *pos + 1);
            goto err;
        }
        char e = s[i + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple != NULL) {
            buf[o++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            i += 2;
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || hex4(s, n, i + 2, &cp) < 0) {
            lex_fail(err, errlen, rc, "invalid escape in quoted identifier at column %zu",
                     i + 1);
            goto err;
        }
        size_t start = i;
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n && s[i] == '\\' && s[i + 1] == 'u' &&
            hex4(s, n, i + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            lex_fail(err, errlen, rc, "unpaired surrogate in quoted identifier at column %zu",
                     start + 1);
            goto err;
        }
        o += utf8_put(buf + o, cp);
    }
    buf[o] = '\0';
    t->str = buf;
    t->len = o;
    *pos = i + 1;
    return 0;
err:
    free(buf);
    return rc;
}

/* Raw strings keep every character as written except the escaped quote \'. */
static int lex_raw(const char *s, size_t n, size_t *pos, struct jp_token *t, char *err,
                   size_t errlen) {
    size_t i = *pos + 1, o = 0;
    char *buf = malloc(n - *pos + 1);
    int rc = JP_ENOMEM;
    if (buf == NULL) goto err;
    for (;;) {
        if (i >= n) {
            rc = lex_fail(err, errlen, JP_ESYNTAX, "unterminated raw string at column %zu",
                          *pos + 1);
            goto err;
        }
        if (s[i] == '\'') break;
        /* Only \' is an escape, but "\\" is still a pair, so '\\' ends after it. */
        if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\'') i++;
        else if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\\') buf[o++] = s[i++];
        buf[o++] = s[i++];
    }
    t->lit = json_stringn(buf, o);
    if (t->lit == NULL) goto err;
    free(buf);
    *pos = i + 1;
    return 0;
err:
    free(buf);
    return rc;
}

/* A literal is JSON; the suite still expects the legacy form where unquoted text is taken
 * as a string, so text that is not JSON is retried as the body of a JSON string. */
static int lex_literal(const char *s, size_t n, size_t *pos, struct jp_token *t, char *err,
                       size_t errlen) {
    size_t i = *pos + 1, o = 1;
    char *buf = malloc(n - *pos + 2);
    int rc = JP_ENOMEM;
    if (buf == NULL) goto err;
    for (;;) {
        if (i >= n) {
            rc = lex_fail(err, errlen, JP_ESYNTAX, "unterminated literal at column %zu",
                          *pos + 1);
            goto err;
        }
        if (s[i] == '`') break;
        if (s[i] == '\\' && i + 1 < n && s[i + 1] == '`') i++;
        buf[o++] = s[i++];
    }
    json_error_t jerr;
    t->lit = json_loadb(buf + 1, o - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (t->lit == NULL) {
        size_t skip = 1;
        while (skip < o && buf[skip] != '\0' && strchr(" \t\n\r", buf[skip]) != NULL) skip++;
        buf[skip - 1] = '"';
        buf[o] = '"';
        t->lit = json_loadb(buf + skip - 1, o - skip + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                            &jerr);
    }
    if (t->lit == NULL) {
        rc = lex_fail(err, errlen, JP_ESYNTAX, "invalid JSON literal at column %zu: %s",
                      *pos + 1, jerr.text);
        goto err;
    }
    free(buf);
    *pos = i + 1;
    return 0;
err:
    free(buf);
    return rc;
}

void jp_tokens_free(struct jp_tokens *t) {
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].str);
        json_decref(t->v[i].lit);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

static int is_ident_start(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* Operators of one or two characters: c1 alone gives t1, c1 followed by c2 gives t2. */
static int lex_op(const char *s, size_t n, size_t *i, enum jp_tok *type) {
    static const struct {
        char c1, c2;
        enum jp_tok t1, t2;
    } ops[] = {
        {'.', 0, JP_T_DOT, JP_T_EOF},      {'*', 0, JP_T_STAR, JP_T_EOF},
        {']', 0, JP_T_RBRACKET, JP_T_EOF}, {'{', 0, JP_T_LBRACE, JP_T_EOF},
        {'}', 0, JP_T_RBRACE, JP_T_EOF},   {'(', 0, JP_T_LPAREN, JP_T_EOF},
        {')', 0, JP_T_RPAREN, JP_T_EOF},   {',', 0, JP_T_COMMA, JP_T_EOF},
        {':', 0, JP_T_COLON, JP_T_EOF},    {'@', 0, JP_T_AT, JP_T_EOF},
        {'[', ']', JP_T_LBRACKET, JP_T_FLATTEN}, {'|', '|', JP_T_PIPE, JP_T_OR},
        {'&', '&', JP_T_EXPREF, JP_T_AND}, {'!', '=', JP_T_NOT, JP_T_NE},
        {'<', '=', JP_T_LT, JP_T_LE},      {'>', '=', JP_T_GT, JP_T_GE},
        {'=', '=', JP_T_EOF, JP_T_EQ},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        if (s[*i] != ops[k].c1) continue;
        if (ops[k].c2 && *i + 1 < n && s[*i + 1] == ops[k].c2) {
            *type = ops[k].t2;
            *i += 2;
            return 0;
        }
        if (ops[k].c1 == '[' && *i + 1 < n && s[*i + 1] == '?') {
            *type = JP_T_FILTER;
            *i += 2;
            return 0;
        }
        if (ops[k].t1 == JP_T_EOF) return -1; /* a lone '=' */
        *type = ops[k].t1;
        *i += 1;
        return 0;
    }
    return -1;
}

static int lex_one(const char *s, size_t n, size_t *i, struct jp_token *t, char *err,
                   size_t errlen) {
    char ch = s[*i];
    if (is_ident_start(ch)) {
        size_t start = (*i)++;
        while (*i < n && (is_ident_start(s[*i]) || is_digit(s[*i]))) (*i)++;
        t->type = JP_T_IDENT;
        t->len = *i - start;
        t->str = malloc(t->len + 1);
        if (t->str == NULL) return JP_ENOMEM;
        memcpy(t->str, s + start, t->len);
        t->str[t->len] = '\0';
        return 0;
    }
    if (is_digit(ch) || (ch == '-' && *i + 1 < n && is_digit(s[*i + 1]))) {
        int neg = ch == '-';
        long long v = 0;
        if (neg) (*i)++;
        while (*i < n && is_digit(s[*i])) {
            if (v < JP_NUM_SAT) v = v * 10 + (s[*i] - '0');
            (*i)++;
        }
        t->type = JP_T_NUMBER;
        t->num = neg ? -v : v;
        return 0;
    }
    if (ch == '"') {
        t->type = JP_T_QIDENT;
        return lex_quoted(s, n, i, t, err, errlen);
    }
    if (ch == '\'') {
        t->type = JP_T_LITERAL;
        return lex_raw(s, n, i, t, err, errlen);
    }
    if (ch == '`') {
        t->type = JP_T_LITERAL;
        return lex_literal(s, n, i, t, err, errlen);
    }
    if (lex_op(s, n, i, &t->type) == 0) return 0;
    if ((unsigned char)ch >= 0x20 && (unsigned char)ch < 0x7F)
        return lex_fail(err, errlen, JP_ESYNTAX, "unexpected character '%c' at column %zu", ch,
                        *i + 1);
    return lex_fail(err, errlen, JP_ESYNTAX, "unexpected character 0x%02x at column %zu",
                    (unsigned char)ch, *i + 1);
}

int jp_lex(const char *s, size_t n, struct jp_tokens *out, char *err, size_t errlen) {
    size_t cap = 16, i = 0;
    int rc = JP_ENOMEM;
    out->n = 0;
    out->v = NULL;
    for (size_t k = 0; k < n;) {
        size_t l = utf8_seq((const unsigned char *)s + k, n - k);
        if (l == 0) {
            rc = lex_fail(err, errlen, JP_ESYNTAX, "invalid UTF-8 at column %zu", k + 1);
            goto err;
        }
        k += l;
    }
    out->v = malloc(cap * sizeof *out->v);
    if (out->v == NULL) goto err;
    for (;;) {
        while (i < n && s[i] != '\0' && strchr(" \t\n\r", s[i]) != NULL) i++;
        if (out->n == cap) {
            struct jp_token *nv = realloc(out->v, 2 * cap * sizeof *nv);
            if (nv == NULL) goto err;
            out->v = nv;
            cap *= 2;
        }
        struct jp_token *t = &out->v[out->n];
        memset(t, 0, sizeof *t);
        t->col = i + 1;
        out->n++;
        if (i >= n) {
            t->type = JP_T_EOF;
            return 0;
        }
        rc = lex_one(s, n, &i, t, err, errlen);
        if (rc < 0) goto err;
    }
err:
    if (rc == JP_ENOMEM) lex_fail(err, errlen, rc, "out of memory");
    jp_tokens_free(out);
    return rc;
}
