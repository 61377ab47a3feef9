/* test_template.c - unit tests for templates: each expected rendering was measured on
 * handlebars-rust 3.5.5 (the original hotdog's engine) with the same variables, values
 * without HTML-special characters (we do not escape; the original does). */
#include <stdlib.h>

#include "template.h"
#include "test.h"

static const char *const names[] = {"msg", "e", "z", "f", "t", "sp", "n", "u", "a", "b", "num", "g"};
#define NVARS (sizeof names / sizeof names[0])
/* "g" is a regex group that did not take part in the match: absent, falls back to "a". */
static const struct syslog_slice vars[NVARS] = {
    {"hello b", 7}, {"", 0}, {"0", 1}, {"false", 5}, {"true", 4}, {" ", 1},
    {"null", 4}, {"undefined", 9}, {"x", 1}, {"y", 1}, {"5", 1}, {NULL, 0}};

static int resolve(const char *name, size_t len, int *fallback, void *arg) {
    (void)arg;
    *fallback = -1;
    for (size_t i = 0; i < NVARS; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], name, len)) {
            if (names[i][0] == 'g') *fallback = 8;
            return (int)i;
        }
    return -1;
}

static char err[256];

static const char *render(const char *src) {
    static struct buf out;
    struct tmpl *t = tmpl_compile(src, resolve, NULL, err, sizeof err);
    if (!t) {
        fprintf(stderr, "  compile %s: %s\n", src, err);
        return "(refused)";
    }
    out.len = 0;
    tmpl_render(t, vars, &out);
    tmpl_free(t);
    return buf_cstr(&out);
}

/* Measured on the original's engine; the Makefile's compat suite compares whole daemons. */
static const struct {
    const char *src, *want;
} measured[] = {
    {"{{#if a}}A{{else}}B{{/if}}",
     "A"},
    {"{{#if e}}A{{else}}B{{/if}}",
     "B"},
    {"{{#if missing}}A{{else}}B{{/if}}",
     "B"},
    {"{{#if z}}A{{else}}B{{/if}}|{{#if f}}A{{else}}B{{/if}}|{{#if sp}}A{{else}}B{{/if}}|{{#if n}}A{{else}}B{{/if}}",
     "A|A|A|A"},
    {"{{#if e}}A{{^}}B{{/if}}",
     "B"},
    {"{{#unless e}}A{{else}}B{{/unless}}|{{#unless a}}A{{else}}B{{/unless}}|{{#unless missing}}M{{/unless}}",
     "A|B|M"},
    {"{{#if a}}{{#unless e}}{{#if missing}}1{{else}}2{{/if}}{{/unless}}{{/if}}",
     "2"},
    {"{{#if a}}{{#if b}}AB{{else}}A{{/if}}{{else}}{{#unless b}}nb{{/unless}}{{/if}}",
     "AB"},
    {"{{#if a }}A{{/ if }}|{{# if a}}A{{/if}}|{{#if\x09""a}}A{{/if}}|{{#if a}}A{{  else  }}B{{/if}}",
     "A|A|A|A"},
    {"{{#if a b}}A{{/if}}",
     "A"},
    {"{{#if 0}}A{{else}}B{{/if}}{{#if -1}}C{{/if}}{{#if 0.0}}D{{/if}}{{#if \"x\"}}E{{/if}}{{#if \"\"}}F{{/if}}{{#if true}}G{{/if}}{{#if false}}H{{/if}}{{#if null}}I{{/if}}",
     "BCEG"},
    {"x {{! a }} y|x {{!-- a }} b --}} y|{{!--}}|{{!-- }}|a{{!-- {{#if}} --}}b|{{#if a}}{{! {{/if}} }}A{{/if}}",
     "x  y|x  y|b| }}A"},
    {"x {{~a~}} y|{{ ~a~ }}|[\x09""\x0d""\x0a"" {{~a~}} \x0a""\x09""]|[\x0b""\x0c""{{~a~}}\x0c""\x0b""]|[\xc2""\xa0""{{~a~}}\xe2""\x80""\x83""]",
     "xxy|x|[x]|[x]|[x]"},
    {"x {{~#if a~}} y {{~/if~}} z|x {{~#if a}} y {{/if~}} z",
     "xyz|x y z"},
    {"[ {{~#if e~}} A {{~else~}} B {{~/if~}} ]|[ {{#if e}} A {{~^~}} B {{/if}} ]",
     "[B]|[ B  ]"},
    {"[{{a~}} {{!c}} {{b}}]|[{{a}} {{!c}}{{~b}}]|[{{a~}} {{!c}}  Z {{!d}} {{b}}]|[{{a}} {{!-- c --}} {{~b}}]",
     "[xy]|[x y]|[xZ y]|[x y]"},
    {"[Q {{#if a}}{{~b}}{{/if}}]|[Q {{#if a}} {{/if}}{{~b}}]|[{{#if e}}Q{{else}}  {{/if~}}  W]",
     "[Q y]|[Q  y]|[  W]"},
    {"x\x0a""  {{#if a}}\x0a""  y\x0a""  {{/if}}\x0a""z",
     "x\x0a""  \x0a""  y\x0a""  \x0a""z"},
    {"\\{{a}}|\\\\{{a}}|\\\\\\{{a}}|a\\b|\\{{{a}}}|\\{{{{a}}|\\{{{{{{a}}",
     "{{a}}|\\x|\\\\x|a\\b|{{{a}}}|{{{{a}}|{{{{x"},
    {"{{a}}{{{a}}}{{&a}}{{& a}}{{{~a~}}}",
     "xxxxx"},
    {"{{this.a}}{{./a}}{{@root.a}}{{[a]}}{{this/a}}{{../a}}|{{a.b}}|{{missing}}|{{1}}|{{true}}|{{@index}}",
     "xxxxxx|||||"},
    {"{{eq a \"x\"}} {{ne a \"x\"}} {{and a b}} {{or e a}} {{not a}} {{(eq a \"x\")}} {{& (or e z)}} {{{(not e)}}}",
     "true false true true false true true true"},
    {"{{#if (eq a \"x\")}}E{{else}}N{{/if}}{{#if (eq a b)}}E{{else}}N{{/if}}{{#if (eq e \"\")}}E{{else}}N{{/if}}{{#if (eq missing \"\")}}E{{else}}N{{/if}}",
     "ENEN"},
    {"{{#if (eq missing null)}}E{{else}}N{{/if}}{{#if (eq missing missing2)}}E{{else}}N{{/if}}{{#if (eq e missing)}}E{{else}}N{{/if}}{{#if (eq z 0)}}E{{else}}N{{/if}}",
     "EENN"},
    {"{{#if (eq 5 5)}}E{{else}}N{{/if}}{{#if (eq 5 5.0)}}E{{else}}N{{/if}}{{#if (eq true true)}}E{{else}}N{{/if}}{{#if (eq a \"x}}\")}}E{{else}}N{{/if}}",
     "ENEN"},
    {"{{#if (and a b e)}}E{{else}}N{{/if}}{{#if (or e e a)}}E{{else}}N{{/if}}{{#if (not a b)}}E{{else}}N{{/if}}{{#if (eq (not e) true)}}E{{else}}N{{/if}}",
     "ENNE"},
    {"{{#unless (eq a \"x\")}}U{{else}}NU{{/unless}}{{#if ( eq a \"x\" )}}E{{/if}}{{#if (eq @root.a \"x\")}}E{{/if}}",
     "NUEE"},
    {"{{a}}}|}}|{|{ {a}}|{{#if a}}}A{{/if}}|{{#if a}}{{else}}{{/if}}|{{#if e}}A{{else}}{{/if}}",
     "x}|}}|{|{ {a}}|}A||"},
};

TEST(renders_as_the_original) {
    for (size_t i = 0; i < sizeof measured / sizeof measured[0]; i++) {
        ASSERT_EQ_STR(render(measured[i].src), measured[i].want);
    }
}

TEST(string_truthiness_is_not_empty) {
    /* "0", "false", " " and "null" are true: they are strings, not numbers or booleans. */
    ASSERT_EQ_STR(render("{{#if z}}1{{/if}}{{#if f}}2{{/if}}{{#if sp}}3{{/if}}{{#if n}}4{{/if}}"), "1234");
    ASSERT_EQ_STR(render("{{#if e}}1{{else}}empty{{/if}} {{#if nosuch}}1{{else}}unknown{{/if}}"),
                  "empty unknown");
    /* An absent regex group falls back to the built-in of the same name, in conditions too. */
    ASSERT_EQ_STR(render("{{#if g}}{{g}}{{/if}}"), "x");
}

TEST(unless_else_and_nesting) {
    ASSERT_EQ_STR(render("{{#unless e}}a{{else}}b{{/unless}}{{#unless a}}a{{^}}b{{/unless}}"), "ab");
    ASSERT_EQ_STR(render("{{#if a}}<{{#unless e}}[{{#if z}}{{z}}{{else}}-{{/if}}]{{/unless}}>{{/if}}"),
                  "<[0]>");
    ASSERT_EQ_STR(render("{{#if e}}{{#if a}}no{{/if}}{{else}}{{#if a}}{{a}}{{else}}no{{/if}}{{/if}}!"),
                  "x!");
}

TEST(whitespace_control) {
    ASSERT_EQ_STR(render("[ {{~#if a~}} \n yes \n {{~else~}} no {{~/if~}} ]"), "[yes]");
    ASSERT_EQ_STR(render("a \n{{~! comments keep no ~ }}\n b"), "(refused)");
    ASSERT(strstr(err, "whitespace control on a comment") != NULL);
    ASSERT_EQ_STR(render("[{{a~}} {{! c }} \t{{!-- d --}}\n{{b}}]"), "[xy]");
}

TEST(comments) {
    ASSERT_EQ_STR(render("a{{! short }}b{{!-- long }} with braces --}}c{{!--}}d"), "abcd");
    ASSERT_EQ_STR(render("{{#if e}}{{!-- {{/if}} --}}no{{else}}yes{{/if}}"), "yes");
}

TEST(values_are_raw) {
    static const struct syslog_slice html[1] = {{"<a href=\"x\">&'`=", 16}};
    struct tmpl *t = tmpl_compile("{{msg}}|{{{msg}}}|{{&msg}}", resolve, NULL, err, sizeof err);
    struct buf out = {0};
    ASSERT(t != NULL);
    tmpl_render(t, html, &out);
    ASSERT_EQ_MEM(out.p, out.len, "<a href=\"x\">&'`=|<a href=\"x\">&'`=|<a href=\"x\">&'`=");
    tmpl_free(t);
    buf_free(&out);
}

/* As handlebars-rust 3.5.5 (the original's engine) escapes: {{x}} escaped, {{{x}}} and {{&x}}
 * raw; literal text and helper results never. Measured on the original end to end too
 * (tests/compat, a replace template over lines holding these characters). */
TEST(html_escape_as_the_original) {
    static const struct syslog_slice html[1] = {{"<a href=\"x\">&'`=", 16}};
    struct tmpl *t = tmpl_compile("{{msg}}|{{{msg}}}|{{&msg}}|<&>|{{eq msg \"=\"}}", resolve, NULL,
                                  err, sizeof err);
    struct buf out = {0};
    ASSERT(t != NULL);
    tmpl_set_html_escape(t, 1);
    tmpl_render(t, html, &out);
    ASSERT_EQ_MEM(out.p, out.len,
                  "&lt;a href&#x3D;&quot;x&quot;&gt;&amp;&#x27;&#x60;&#x3D;|<a href=\"x\">&'`=|"
                  "<a href=\"x\">&'`=|<&>|false");
    tmpl_free(t);
    buf_free(&out);
}

TEST(helpers_for_strings) {
    ASSERT_EQ_STR(render("{{#if (eq a \"x\")}}A{{/if}}{{#if (ne msg \"hello b\")}}B{{/if}}"
                         "{{#if (and a (not e))}}C{{/if}}{{#if (or e nosuch)}}D{{/if}}"), "AC");
    ASSERT_EQ_STR(render("{{#unless (eq nosuch null)}}no{{else}}absent is null{{/unless}}"), "absent is null");
    ASSERT_EQ_STR(render("{{#if (eq e nosuch)}}no{{else}}empty is not null{{/if}}"), "empty is not null");
    ASSERT_EQ_STR(render("{{eq num 5}} {{eq num \"5\"}}"), "false true");
}

/* Every construct that fails or means nothing in the original is refused, naming it. */
TEST(refused_with_the_construct_named) {
    static const struct {
        const char *src, *why;
    } bad[] = {
        {"{{#each a}}x{{/each}}", "'{{#each a}}' at offset 0 (#each"},
        {"{{#with a}}{{this}}{{/with}}", "'{{#with a}}' at offset 0 (#with"},
        {"a{{lookup this \"a\"}}", "'{{lookup this \"a\"}}' at offset 1 (lookup"},
        {"{{> part}}", "'{{> part}}' at offset 0 (partials"},
        {"{{#> part}}x{{/part}}", "(partials"},
        {"{{{{raw}}}}x{{{{/raw}}}}", "(raw blocks"},
        {"{{#if e}}a{{else if a}}b{{/if}}", "'{{else if a}}' at offset 10 ({{else if}} chains"},
        {"{{upper a}}", "'{{upper a}}' at offset 0 (helper not supported"},
        {"{{#if (gt num 3)}}x{{/if}}", "(comparing numbers"},
        {"{{log a}}", "(log is not supported"},
        {"{{#if a}}x", "'{{#if a}}' at offset 0 (a block that is never closed)"},
        {"{{#if a}}x{{/unless}}", "'{{/unless}}' at offset 10 closes '{{#if a}}' at offset 0"},
        {"{{else}}", "(an else outside"},
        {"{{#if a}}{{else}}{{else}}{{/if}}", "(a second else"},
        {"{{#if}}x{{/if}}", "(a block without a condition"},
        {"{{#if (eq a)}}x{{/if}}", "(too few arguments"},
        {"{{#if (eq a 'x')}}x{{/if}}", "(single quotes"},
        {"{{#if a x=1}}x{{/if}}", "(hash arguments"},
        {"{{#if a as |v|}}x{{/if}}", "(block parameters"},
        {"{{this}}", "(the whole context"},
        {"{{^a}}x{{/a}}", "(inverted sections"},
        {"{{\"text\"}}", "(a string literal alone"},
        {"{{{or a b}}}", "(a helper call in {{{ }}}"},
        {"{{a", "unclosed '{{' at offset 0"},
        {"{{{a}}", "unclosed '{{{' at offset 0"},
        {"{{#if (not (not (not (not (not (not (not (not (not a)))))))))}}x{{/if}}", "(subexpressions nested too deep"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        struct tmpl *t = tmpl_compile(bad[i].src, resolve, NULL, err, sizeof err);
        if (t || !strstr(err, bad[i].why))
            fprintf(stderr, "  %s: got \"%s\", want \"%s\"\n", bad[i].src, err, bad[i].why);
        ASSERT(t == NULL);
        ASSERT(strstr(err, bad[i].why) != NULL);
    }
}

TEST(uses_and_literal) {
    struct tmpl *t = tmpl_compile("{{#if (eq z \"0\")}}{{#unless g}}{{b}}{{/unless}}{{/if}}", resolve,
                                  NULL, err, sizeof err);
    ASSERT(t != NULL);
    ASSERT(tmpl_uses(t, 2) && tmpl_uses(t, 11) && tmpl_uses(t, 8) && tmpl_uses(t, 9));
    ASSERT(!tmpl_uses(t, 0) && !tmpl_is_literal(t));
    tmpl_free(t);
    t = tmpl_compile("plain {{! note }}\\{{text}} {{nosuch}}", resolve, NULL, err, sizeof err);
    ASSERT(t != NULL && tmpl_is_literal(t));
    tmpl_free(t);
    t = tmpl_compile("{{#if true}}x{{/if}}", resolve, NULL, err, sizeof err);
    ASSERT(t != NULL && !tmpl_is_literal(t));
    tmpl_free(t);
}

/* Rendering reuses the output buffer: once it is big enough, no allocation happens. */
TEST(render_does_not_allocate) {
    struct tmpl *t = tmpl_compile("{{#if a}}{{msg}}{{else}}no{{/if}} {{eq a \"x\"}}", resolve, NULL,
                                  err, sizeof err);
    struct buf out = {0};
    ASSERT(t != NULL);
    tmpl_render(t, vars, &out);
    const char *p = out.p;
    size_t cap = out.cap;
    for (int i = 0; i < 1000; i++) {
        out.len = 0;
        tmpl_render(t, vars, &out);
    }
    ASSERT(out.p == p && out.cap == cap);
    ASSERT_EQ_MEM(out.p, out.len, "hello b true");
    tmpl_free(t);
    buf_free(&out);
}

/* {{json name}}: ours. A JSON string with its quotes, or null; never HTML-escaped. */
TEST(json_form_escapes_for_json) {
    ASSERT_EQ_STR(render("{\"m\":{{json msg}},\"e\":{{json e}},\"x\":{{json nosuch}},\"g\":{{ json g }}}"),
                  "{\"m\":\"hello b\",\"e\":\"\",\"x\":null,\"g\":\"x\"}");
    const struct syslog_slice hostile[] = {{"a\"b\\c\n</x>&\x01\xff", 13}};
    struct tmpl *t = tmpl_compile("{{json msg}}|{{msg}}", resolve, NULL, err, sizeof err);
    ASSERT(t != NULL);
    tmpl_set_html_escape(t, 1);
    struct buf out = {0};
    ASSERT_EQ_INT(tmpl_render(t, hostile, &out), 1); /* \xff replaced */
    ASSERT_EQ_MEM(out.p, out.len, "\"a\\\"b\\\\c\\n</x>&\\u0001\xEF\xBF\xBD\"|a&quot;b\\c\n&lt;/x&gt;&amp;\x01\xff");
    ASSERT(tmpl_uses(t, 0) && !tmpl_is_literal(t));
    tmpl_free(t);
    buf_free(&out);
    /* Inside a condition the variable is what it always was. */
    ASSERT_EQ_STR(render("{{#if msg}}{{json a}}{{/if}}"), "\"x\"");
    /* Only a variable, alone, and not in a condition. */
    static const char *const refused[] = {"{{json}}x{{json \"lit\"}}", "{{json a b}}", "{{json (eq a b)}}",
                                          "{{#if (json a)}}x{{/if}}", "{{{json a}}}", "{{json 12}}"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct tmpl *r = tmpl_compile(refused[i], resolve, NULL, err, sizeof err);
        if (r) fprintf(stderr, "  compiled: %s\n", refused[i]);
        ASSERT(r == NULL);
        ASSERT(strstr(err, "json") != NULL || strstr(err, "helper") != NULL);
    }
    /* {{json}} alone is a variable named json, unknown here: nothing, as before. */
    ASSERT_EQ_STR(render("[{{json}}]"), "[]");
}

TEST_MAIN("template", TEST_ENTRY(renders_as_the_original), TEST_ENTRY(string_truthiness_is_not_empty),
          TEST_ENTRY(unless_else_and_nesting), TEST_ENTRY(whitespace_control), TEST_ENTRY(comments),
          TEST_ENTRY(values_are_raw), TEST_ENTRY(html_escape_as_the_original), TEST_ENTRY(helpers_for_strings),
          TEST_ENTRY(refused_with_the_construct_named), TEST_ENTRY(uses_and_literal),
          TEST_ENTRY(render_does_not_allocate), TEST_ENTRY(json_form_escapes_for_json))
