/* merge.h - the merge action: deep-merges a templated JSON value into a message's JSON value,
 * as the original hotdog did (serde_json values, merged the way its merge.rs merges them). */
#ifndef HOTDOG_MERGE_H
#define HOTDOG_MERGE_H

#include <stdint.h>

#include <jansson.h>

#include "template.h"

struct merge;

/* Compiles the merge value of the config (every string in it, inside objects and arrays, is
 * a template; html: its {{variables}} are HTML-escaped, see tmpl_set_html_escape). Any JSON value is accepted, as the original accepts it; one that is not an
 * object is never merged (merge_is_object). The result owns a deep copy, so it shares nothing
 * with other threads. NULL on error with the reason (naming the JSON path) in err. */
struct merge *merge_compile(const json_t *map, tmpl_resolve_fn resolve, void *arg, int html,
                            char *err, size_t errlen);
void merge_free(struct merge *m);

/* Whether the configured value is an object: only then does merge_apply merge it. */
int merge_is_object(const struct merge *m);

/* Deep-merges the rendered map into target and returns the merged value (a new reference;
 * target's reference passes to it). Objects merge key by key, recursively; an array takes
 * another array's items, or an object, at its end and then loses consecutive duplicates (as
 * Rust's Vec::dedup); anything else is replaced by the new value. String values are rendered
 * with vars and inserted as JSON strings, so whatever a variable holds ends up correctly
 * escaped (bytes that are not UTF-8 become U+FFFD; *invalid_utf8 grows by the number of
 * sequences replaced). scratch points to two reusable buffers. NULL if memory ran out
 * (target is released). */
json_t *merge_apply(const struct merge *m, json_t *target, const struct syslog_slice *vars,
                    struct buf *scratch, size_t *invalid_utf8);

struct jdoc;

/* Returned by merge_write where the merge needs merge_apply. */
#define MERGE_SLOW 1

/* Appends to out what jsonio_dump writes for merge_apply's result on jdoc_to_json(d, at),
 * without building it: the document's members are written from d and the map's rendered
 * on the way, in key order. Returns 0, or MERGE_SLOW where the map merges an array or
 * object into an array of the document (its items are then compared by value: merge_apply
 * does that), with out and *invalid_utf8 as they were. vars, scratch and invalid_utf8 as
 * for merge_apply. */
int merge_write(const struct merge *m, struct jdoc *d, uint32_t at, const struct syslog_slice *vars,
                struct buf *scratch, size_t *invalid_utf8, struct buf *out);

/* A JSON string of s[0..n), with bytes that are not UTF-8 replaced by U+FFFD (JSON text must
 * be UTF-8). tmp is a reusable buffer. Returns a new reference. */
json_t *merge_string(const char *s, size_t n, struct buf *tmp);

/* True if any template of the map refers to variable id. */
int merge_uses(const struct merge *m, int id);

#endif
