/* rules.c - compiles the configured rules (regex with PCRE2 JIT, JMESPath) once at start-up. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rules.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "jmespath.h"

struct rule {
    const struct config_rule *cfg;
    pcre2_code *re;
    struct jp_expr *jp;
};

struct rules {
    const struct config *cfg;
    struct rule *v;
    size_t n;
};

/* The original hotdog used Rust's regex crate: Unicode-aware classes and UTF-8 text. PCRE2
 * matches that with UTF + UCP; MATCH_INVALID_UTF keeps hostile bytes from failing a match. */
#define RULES_PCRE2_OPTIONS (PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF)

static int compile_regex(struct rule *r, const struct config *c, size_t i, char *err,
                         size_t errlen) {
    int code;
    PCRE2_SIZE off;
    r->re = pcre2_compile((PCRE2_SPTR)r->cfg->regex, PCRE2_ZERO_TERMINATED, RULES_PCRE2_OPTIONS,
                          &code, &off, NULL);
    if (!r->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errlen, "%s:%d: 'rules[%zu].regex': %s at offset %zu", c->path,
                 r->cfg->matcher_line, i, (char *)msg, (size_t)off);
        return -1;
    }
    /* JIT is an optimisation: if the platform lacks it, the interpreter still matches. */
    pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE);
    return 0;
}

static int compile_jmespath(struct rule *r, const struct config *c, size_t i, char *err,
                            size_t errlen) {
    char why[256];
    r->jp = jp_compile(r->cfg->jmespath, strlen(r->cfg->jmespath), why, sizeof why);
    if (!r->jp) {
        snprintf(err, errlen, "%s:%d: 'rules[%zu].jmespath': %s", c->path, r->cfg->matcher_line,
                 i, why);
        return -1;
    }
    return 0;
}

struct rules *rules_new(const struct config *c, char *err, size_t errlen) {
    struct rules *rs = calloc(1, sizeof *rs);
    if (!rs) abort();
    rs->cfg = c;
    rs->v = calloc(c->nrules ? c->nrules : 1, sizeof *rs->v);
    if (!rs->v) abort();
    for (size_t i = 0; i < c->nrules; i++) {
        struct rule *r = &rs->v[i];
        r->cfg = &c->rules[i];
        rs->n = i + 1;
        int e = r->cfg->regex ? compile_regex(r, c, i, err, errlen)
                              : compile_jmespath(r, c, i, err, errlen);
        if (e < 0) goto err;
    }
    return rs;
err:
    rules_free(rs);
    return NULL;
}

void rules_free(struct rules *rs) {
    if (!rs) return;
    for (size_t i = 0; i < rs->n; i++) {
        pcre2_code_free(rs->v[i].re);
        jp_free(rs->v[i].jp);
    }
    free(rs->v);
    free(rs);
}
