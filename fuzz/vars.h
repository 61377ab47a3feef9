/* vars.h - the variables that fuzz_template and fuzz_merge compile templates against. */
#ifndef HOTDOG_FUZZ_VARS_H
#define HOTDOG_FUZZ_VARS_H

#include <string.h>

#define FUZZ_NVARS 5
static const char *const fuzz_var_names[FUZZ_NVARS] = {"msg", "a", "b", "value", "e"};

/* tmpl_resolve_fn over fuzz_var_names: "a" falls back to "msg" when absent, as a regex group
 * shadows a built-in; any other name is unknown (renders empty). */
static int fuzz_resolve(const char *name, size_t len, int *fallback, void *arg) {
    (void)arg;
    *fallback = -1;
    for (int i = 0; i < FUZZ_NVARS; i++)
        if (strlen(fuzz_var_names[i]) == len && !memcmp(fuzz_var_names[i], name, len)) {
            if (i == 1) *fallback = 0;
            return i;
        }
    return -1;
}

#endif
