/* merge.h - the merge action: deep-merges a templated JSON map into a message's JSON object. */
#ifndef HOTDOG_MERGE_H
#define HOTDOG_MERGE_H

#include <jansson.h>

#include "template.h"

struct merge;

/* Compiles the merge map (a JSON object from the config; every string value is a template).
 * The result owns a deep copy of map, so it shares nothing with other threads. NULL on error
 * with the reason (naming the JSON path) in err. */
struct merge *merge_compile(const json_t *map, tmpl_resolve_fn resolve, void *arg, char *err,
                            size_t errlen);
void merge_free(struct merge *m);

/* Deep-merges the rendered map into target, which must be a JSON object: objects merge
 * recursively, any other value replaces. String values are rendered with vars and inserted as
 * JSON strings, so whatever a variable holds ends up correctly escaped (bytes that are not
 * UTF-8 become U+FFFD). scratch points to two reusable buffers. Returns 0, or -1 if target is
 * not an object. */
int merge_apply(const struct merge *m, json_t *target, const struct syslog_slice *vars,
                struct buf *scratch);

/* A JSON string of s[0..n), with bytes that are not UTF-8 replaced by U+FFFD (JSON text must
 * be UTF-8). tmp is a reusable buffer. Returns a new reference. */
json_t *merge_string(const char *s, size_t n, struct buf *tmp);

/* True if any template of the map refers to variable id. */
int merge_uses(const struct merge *m, int id);

#endif
