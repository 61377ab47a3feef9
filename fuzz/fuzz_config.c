/* fuzz_config.c - libFuzzer target: any bytes as hotdog.yml load or fail cleanly, never crash. */
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[1024];
    struct config *c = config_load_string("fuzz.yml", (const char *)data, size, err, sizeof err);
    if (!c) {
        /* Every failure must say where: "fuzz.yml:LINE: ..." */
        if (strncmp(err, "fuzz.yml:", 9) != 0) __builtin_trap();
        return 0;
    }
    struct rules *r = rules_new(c, NULL, err, sizeof err);
    rules_free(r);
    config_free(c);
    return 0;
}
