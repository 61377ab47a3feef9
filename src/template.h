/* template.h - Handlebars-style templates: compiled once, rendered without allocation. */
#ifndef HOTDOG_TEMPLATE_H
#define HOTDOG_TEMPLATE_H

#include <stddef.h>

#include "buf.h"
#include "syslog.h"

/* Maps a variable name to its id, or returns -1 for a name that is not known at compile time
 * (it renders as empty, as Handlebars does). *fallback receives a second id to use when the
 * first is absent at render time, or -1: a regex group shadows a built-in of the same name
 * only when the group took part in the match. */
typedef int (*tmpl_resolve_fn)(const char *name, size_t len, int *fallback, void *arg);

struct tmpl;

/* Compiles src: the subset of Handlebars (as handlebars-rust 3.5.5, the original hotdog's
 * engine, reads it) that renders something meaningful when every variable is a string:
 *   {{name}} {{{name}}} {{&name}} (also this.name, ./name, @root.name, [name]),
 *   {{#if X}} {{#unless X}} with {{else}} or {{^}}, nested, closed by {{/if}} / {{/unless}},
 *   X: a variable (true when present and not empty), a literal ("text", 12, true, false,
 *   null) or a subexpression (eq A B) (ne A B) (and A B) (or A B) (not A),
 *   {{eq A B}} and the other four as values ("true" / "false"),
 *   {{json name}} (ours): the value as a JSON string with its quotes ('"', '\\' and control
 *   characters escaped, bytes that are not UTF-8 replaced by U+FFFD), or null when absent,
 *   {{! comment }} {{!-- comment --}}, whitespace control {{~ ... ~}}, \{{ (a literal "{{").
 * Everything else (#each, #with, lookup, partials, raw blocks, other helpers, {{else if}})
 * fails to compile, so a config that needs it is refused at start-up rather than rendered
 * differently from the original. NULL on error, with the reason (naming the construct) in
 * err. Free with tmpl_free. */
struct tmpl *tmpl_compile(const char *src, tmpl_resolve_fn resolve, void *arg, char *err,
                          size_t errlen);
void tmpl_free(struct tmpl *t);

/* Appends the rendering to out. vars[id] is the value of variable id (p == NULL: absent).
 * Values are inserted raw unless tmpl_set_html_escape turned escaping on ({{json name}} is
 * JSON-escaped, never HTML-escaped). Allocates nothing beyond out's growth. Returns how many
 * byte sequences that are not UTF-8 {{json}} replaced (0 without {{json}}). runs on: any
 * thread; t is read-only. */
size_t tmpl_render(const struct tmpl *t, const struct syslog_slice *vars, struct buf *out);

/* With on, {{name}} inserts the value HTML-escaped as the original's Handlebars did
 * (& < > " ' ` = become &amp; &lt; &gt; &quot; &#x27; &#x60; &#x3D;); {{{name}}} and
 * {{&name}} stay raw, as there. Off (the default after tmpl_compile): every value raw. */
void tmpl_set_html_escape(struct tmpl *t, int on);

/* True if the template refers to variable id (directly, as a fallback or in a condition). */
int tmpl_uses(const struct tmpl *t, int id);
/* True if the template is plain text without variables or conditions. */
int tmpl_is_literal(const struct tmpl *t);

#endif
