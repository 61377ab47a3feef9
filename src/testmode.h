/* testmode.h - `hotdog -t FILE`: shows what the rules do with each line, without Kafka. */
#ifndef HOTDOG_TESTMODE_H
#define HOTDOG_TESTMODE_H

#include <stdio.h>

#include "config.h"

enum testmode_format { TESTMODE_TEXT, TESTMODE_JSON };

/* Runs every line of path ("-" for stdin) through the rules, without Kafka.
 * TEXT prints exactly what the original hotdog's -t prints: each `field: msg` rule is tried on
 * the raw line (no syslog parsing; other fields are skipped with a warning), and a line with
 * matches gives "Line N matches on:" then one "\t - Regex: PATTERN" or "\t - JMESPath: EXPR"
 * per matching rule. Like the original it stops, with an error, at a line that is not UTF-8.
 * JSON (ours) runs exactly the daemon's path after framing, syslog parsing then the rules, and
 * prints one object per line with the parsed fields, the matches and the outputs the daemon
 * would send. Returns 0, or -1 with err set when the file cannot be read. */
int testmode_run(const struct config *c, const char *path, enum testmode_format fmt, FILE *out,
                 char *err, size_t errlen);

#endif
