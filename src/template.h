/* template.h - Handlebars-style {{name}} templates: compiled once, rendered without allocation. */
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

/* Compiles src. `{{name}}` and `{{{name}}}` insert a variable (spaces inside the braces are
 * allowed), `{{! comment }}` is dropped, `\{{` is a literal "{{". Block helpers (`{{#if}}`,
 * `{{/if}}`, `{{> partial}}`, `{{else}}`) are not supported: compiling them fails, so a config
 * that needs them is refused at start-up rather than rendered wrongly. NULL on error, with the
 * reason in err. Free with tmpl_free. */
struct tmpl *tmpl_compile(const char *src, tmpl_resolve_fn resolve, void *arg, char *err,
                          size_t errlen);
void tmpl_free(struct tmpl *t);

/* Appends the rendering to out. vars[id] is the value of variable id (p == NULL: absent).
 * Values are inserted raw, without HTML escaping. runs on: any thread; t is read-only. */
void tmpl_render(const struct tmpl *t, const struct syslog_slice *vars, struct buf *out);

/* True if the template refers to variable id (directly or as a fallback). */
int tmpl_uses(const struct tmpl *t, int id);
/* True if the template is plain text without variables. */
int tmpl_is_literal(const struct tmpl *t);

#endif
