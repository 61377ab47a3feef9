/* template.c - Handlebars-style {{name}} templates: compiled once, rendered without allocation. */
#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct part {
    size_t off, len; /* literal: bytes of t->text */
    int var;         /* -1 for a literal */
    int fallback;
};

struct tmpl {
    char *text; /* the literal pieces, concatenated */
    struct part *parts;
    size_t n;
};

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void add_part(struct tmpl *t, size_t *cap, struct part p) {
    /* Adjacent literals merge, so rendering does one memcpy per run of text. */
    if (p.var < 0 && t->n && t->parts[t->n - 1].var < 0 &&
        t->parts[t->n - 1].off + t->parts[t->n - 1].len == p.off) {
        t->parts[t->n - 1].len += p.len;
        return;
    }
    if (t->n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        t->parts = realloc(t->parts, *cap * sizeof *t->parts);
        if (!t->parts) abort();
    }
    t->parts[t->n++] = p;
}

struct tmpl *tmpl_compile(const char *src, tmpl_resolve_fn resolve, void *arg, char *err,
                          size_t errlen) {
    struct tmpl *t = calloc(1, sizeof *t);
    size_t len = strlen(src), cap = 0, tl = 0;
    if (!t || !(t->text = malloc(len + 1))) abort();
    for (size_t i = 0; i < len;) {
        if (src[i] == '\\' && i + 2 < len && src[i + 1] == '{' && src[i + 2] == '{') {
            memcpy(t->text + tl, "{{", 2);
            add_part(t, &cap, (struct part){tl, 2, -1, -1});
            tl += 2;
            i += 3;
            continue;
        }
        if (src[i] != '{' || i + 1 >= len || src[i + 1] != '{') {
            size_t j = i + 1;
            while (j < len && src[j] != '{' && src[j] != '\\') j++;
            memcpy(t->text + tl, src + i, j - i);
            add_part(t, &cap, (struct part){tl, j - i, -1, -1});
            tl += j - i;
            i = j;
            continue;
        }
        int triple = i + 2 < len && src[i + 2] == '{';
        size_t open = triple ? 3 : 2;
        const char *close = triple ? "}}}" : "}}";
        const char *end = strstr(src + i + open, close);
        if (!end) {
            snprintf(err, errlen, "unclosed '%s' at offset %zu", triple ? "{{{" : "{{", i);
            goto err;
        }
        const char *a = src + i + open, *b = end;
        while (a < b && is_space(*a)) a++;
        while (b > a && is_space(b[-1])) b--;
        i = (size_t)(end - src) + strlen(close);
        if (a < b && *a == '!') continue; /* comment */
        if (a == b || *a == '#' || *a == '/' || *a == '>' || *a == '^' || *a == '&' ||
            (b - a == 4 && !memcmp(a, "else", 4))) {
            snprintf(err, errlen, "unsupported template expression '{{%.*s}}' (only {{name}} "
                     "variables are supported)", (int)(b - a), a);
            goto err;
        }
        for (const char *c = a; c < b; c++)
            if (is_space(*c)) {
                snprintf(err, errlen, "unsupported template expression '{{%.*s}}' (helpers "
                         "with arguments are not supported)", (int)(b - a), a);
                goto err;
            }
        int fallback = -1;
        int var = resolve(a, (size_t)(b - a), &fallback, arg);
        if (var < 0 && fallback < 0) continue; /* unknown: renders as empty */
        if (var < 0) {
            var = fallback;
            fallback = -1;
        }
        add_part(t, &cap, (struct part){0, 0, var, fallback});
    }
    return t;
err:
    tmpl_free(t);
    return NULL;
}

void tmpl_free(struct tmpl *t) {
    if (!t) return;
    free(t->text);
    free(t->parts);
    free(t);
}

void tmpl_render(const struct tmpl *t, const struct syslog_slice *vars, struct buf *out) {
    for (size_t i = 0; i < t->n; i++) {
        const struct part *p = &t->parts[i];
        if (p->var < 0) {
            buf_append(out, t->text + p->off, p->len);
            continue;
        }
        struct syslog_slice v = vars[p->var];
        if (!v.p && p->fallback >= 0) v = vars[p->fallback];
        if (v.p) buf_append(out, v.p, v.n);
    }
}

int tmpl_uses(const struct tmpl *t, int id) {
    for (size_t i = 0; i < t->n; i++)
        if (t->parts[i].var == id || t->parts[i].fallback == id) return 1;
    return 0;
}

int tmpl_is_literal(const struct tmpl *t) {
    for (size_t i = 0; i < t->n; i++)
        if (t->parts[i].var >= 0) return 0;
    return 1;
}
