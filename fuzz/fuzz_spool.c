/* fuzz_spool.c - libFuzzer target: spool records read back from disk (a crash, a bad disk or
 * a hand-edited file can put anything there). A record that decodes must re-encode to the
 * same bytes; nothing may be read outside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data;
    size_t off = 0;
    struct buf again = {0};
    while (off < size) {
        struct spool_rec r;
        long n = spool_decode(p + off, size - off, &r);
        if (n <= 0) break; /* incomplete or corrupt: the replayer truncates there */
        if ((size_t)n > size - off) abort();
        again.len = 0;
        spool_encode(&again, &r);
        if (again.len != (size_t)n || memcmp(again.p, p + off, (size_t)n)) abort();
        off += (size_t)n;
    }
    buf_free(&again);
    return 0;
}
