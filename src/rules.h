/* rules.h - compiles the configured rules (regex with PCRE2 JIT, JMESPath) once at start-up. */
#ifndef HOTDOG_RULES_H
#define HOTDOG_RULES_H

#include <stddef.h>

#include "config.h"

struct rules;

/* Compiles every matcher of c->rules. On error returns NULL with "FILE:LINE: rules[N].regex:
 * reason" in err. The result borrows c, which must outlive it; free with rules_free. */
struct rules *rules_new(const struct config *c, char *err, size_t errlen);
void rules_free(struct rules *r);

#endif
