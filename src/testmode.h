/* testmode.h - `hotdog -t FILE`: shows what the rules do with each line, without Kafka. */
#ifndef HOTDOG_TESTMODE_H
#define HOTDOG_TESTMODE_H

#include <stdio.h>

#include "config.h"

enum testmode_format { TESTMODE_TEXT, TESTMODE_JSON };

/* Runs every line of path ("-" for stdin) through exactly the daemon's path after framing:
 * syslog parsing, then the rules. TEXT prints, like the original hotdog, "Line N matches on:"
 * and one "\t - PATTERN" per rule whose matcher matches; JSON prints one object per line with
 * the parsed fields, the matches and the outputs the daemon would send. Returns 0, or -1 with
 * err set when the file cannot be read. */
int testmode_run(const struct config *c, const char *path, enum testmode_format fmt, FILE *out,
                 char *err, size_t errlen);

#endif
