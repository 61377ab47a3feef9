/* docgen.c - writes the generated tables of doc/configuration.md and doc/metrics.md.
 *
 * `docgen configuration FILE` and `docgen metrics FILE` print FILE with the lines between its
 * "<!-- BEGIN GENERATED" and "<!-- END GENERATED" markers replaced by the table, and the
 * rest (the prose around the table) as it is; `make docs` writes that back, `make docs-check`
 * and tests/e2e/test_packaging.py compare it with the committed file. The tables come from
 * libhotdog itself: the configuration key table that loads files and prints --help
 * (config_foreach_key), and the metric definitions that every export is filled from
 * (stats_foreach_def). So a key or a metric cannot be added without its row here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "stats.h"

#define BEGIN_MARK "<!-- BEGIN GENERATED"
#define END_MARK "<!-- END GENERATED"

/* Text for a table cell: '|' would end the cell, and '<' '*' '\' '`' could start markup. */
static void cell(FILE *out, const char *s) {
    for (; *s; s++) {
        if (strchr("|<*\\`", *s)) fputc('\\', out);
        fputc(*s, out);
    }
}

/* GitHub's anchor for a heading of this text: lower case, punctuation other than '-' and
 * '_' dropped, spaces as '-'. */
static void anchor(FILE *out, const char *heading) {
    for (const char *c = heading; *c; c++) {
        if (*c == ' ') fputc('-', out);
        else if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_') fputc(*c, out);
        else if (*c >= 'A' && *c <= 'Z') fputc(*c - 'A' + 'a', out);
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* For a key of bytes (named *_bytes, *_size or *_buffer), v in the unit a person reads
 * (8388608 is "8 MiB") where it is a whole number of them. */
static void human_size(FILE *out, const char *key, long v) {
    static const char *const units[] = {"MiB", "GiB", "TiB", "PiB"};
    if (v < (1L << 20) || !(ends_with(key, "_bytes") || ends_with(key, "_size") || ends_with(key, "_buffer")))
        return;
    for (int u = 3; u >= 0; u--) {
        long unit = 1L << (20 + 10 * u);
        if (v % unit == 0) {
            fprintf(out, " (%ld %s)", v / unit, units[u]);
            return;
        }
    }
}

/* ------------------------------------------------------------------ configuration keys */

/* The rows of one section (global.kafka, rules.actions, ...), printed as one table. */
struct section {
    char path[128];
    char help[512];
    char *rows; /* the table's rows, Markdown */
    size_t len;
    FILE *f;    /* writes rows */
};

struct config_doc {
    struct section s[32];
    int n;
};

static struct section *section_of(struct config_doc *d, const char *path) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->s[i].path, path)) return &d->s[i];
    if (d->n == (int)(sizeof d->s / sizeof *d->s)) {
        fprintf(stderr, "docgen: more than %d sections\n", d->n);
        exit(1);
    }
    struct section *s = &d->s[d->n++];
    snprintf(s->path, sizeof s->path, "%s", path);
    s->f = open_memstream(&s->rows, &s->len);
    if (!s->f) abort();
    return s;
}

static void key_row(const struct config_key_doc *k, void *arg) {
    struct config_doc *d = arg;
    if (k->section) {
        struct section *s = section_of(d, k->path);
        snprintf(s->help, sizeof s->help, "%c%s", k->help[0] >= 'a' && k->help[0] <= 'z' ? k->help[0] - 'a' + 'A'
                                                                                      : k->help[0], k->help + 1);
    }
    if (!*k->parent) return; /* global and rules: the sections themselves */
    FILE *out = section_of(d, k->parent)->f;
    fprintf(out, "| `%s` | ", k->path);
    if (k->values) {
        for (int i = 0; k->values[i]; i++) fprintf(out, "%s`%s`", i ? ", " : "", k->values[i]);
    } else if (!strcmp(k->type, "integer")) {
        fprintf(out, "integer, %ld", k->min);
        human_size(out, k->path, k->min);
        fprintf(out, " to %ld", k->max);
        human_size(out, k->path, k->max);
    } else {
        fprintf(out, "%s", !strcmp(k->type, "map|list") ? "map or list" : k->type);
    }
    fprintf(out, " | ");
    if (k->required) fprintf(out, "required");
    else if (k->def) {
        fprintf(out, "`%s`", k->def);
        if (!strcmp(k->type, "integer")) human_size(out, k->path, strtol(k->def, NULL, 10));
    } else fprintf(out, "—");
    fprintf(out, " | ");
    cell(out, k->help);
    if (k->section) {
        fprintf(out, ": see [`%s`](#", k->path);
        anchor(out, k->path);
        fprintf(out, ")");
    }
    fprintf(out, " |\n");
}

static void config_table(FILE *out) {
    struct config_doc d = {.n = 0};
    config_foreach_key(key_row, &d);
    for (int i = 0; i < d.n; i++) {
        struct section *s = &d.s[i];
        fclose(s->f);
        if (*s->path) {
            fprintf(out, "\n### %s\n\n", s->path);
            cell(out, s->help);
            fprintf(out, ".\n\n| key | type | default | meaning |\n|---|---|---|---|\n%s", s->rows);
        }
        free(s->rows);
    }
    fprintf(out, "\n");
}

/* ------------------------------------------------------------------------------ metrics */

struct metrics_doc {
    const struct stat_def *v[256];
    int n;
};

static void collect_def(const struct stat_def *d, void *arg) {
    struct metrics_doc *m = arg;
    if (m->n == (int)(sizeof m->v / sizeof *m->v)) {
        fprintf(stderr, "docgen: more than %d metrics\n", m->n);
        exit(1);
    }
    m->v[m->n++] = d;
}

/* A histogram has no dotted name: it sorts under its family's. */
static const char *sort_name(const struct stat_def *d) { return d->name ? d->name : d->family; }

static int by_name(const void *a, const void *b) {
    const struct stat_def *x = *(const struct stat_def *const *)a, *y = *(const struct stat_def *const *)b;
    char kx[256], ky[256];
    /* "kafka.producer.sent.count" and the histogram "kafka_producer_sent_seconds" sit together. */
    snprintf(kx, sizeof kx, "%s", sort_name(x));
    snprintf(ky, sizeof ky, "%s", sort_name(y));
    for (char *c = kx; *c; c++) if (*c == '_' && !x->name) *c = '.';
    for (char *c = ky; *c; c++) if (*c == '_' && !y->name) *c = '.';
    return strcmp(kx, ky);
}

static void metrics_table(FILE *out) {
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    struct metrics_doc m = {.n = 0};
    stats_foreach_def(collect_def, &m);
    qsort(m.v, (size_t)m.n, sizeof *m.v, by_name);
    fprintf(out, "\n| name | kind | Prometheus | meaning |\n|---|---|---|---|\n");
    for (int i = 0; i < m.n; i++) {
        const struct stat_def *d = m.v[i];
        if (d->name) fprintf(out, "| `%s` | ", d->name);
        else fprintf(out, "| — | ");
        fprintf(out, "%s | `hotdog_%s", kinds[d->kind], d->family);
        if (d->kind == STAT_HISTOGRAM) fprintf(out, "` (`_bucket{%s=\"…\"}`, `_sum`, `_count`)", d->label);
        else if (d->label) fprintf(out, "{%s=\"%s\"}`", d->label, d->label_value ? d->label_value : "…");
        else fprintf(out, "`");
        fprintf(out, " | ");
        cell(out, d->meaning ? d->meaning : d->help);
        if (d->when) {
            fprintf(out, "; *");
            cell(out, d->when);
            fprintf(out, "*");
        }
        fprintf(out, " |\n");
    }
    fprintf(out, "\n");
}

/* ------------------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    void (*table)(FILE *) = argc == 3 && !strcmp(argv[1], "configuration") ? config_table
                            : argc == 3 && !strcmp(argv[1], "metrics")       ? metrics_table
                                                                       : NULL;
    if (!table) {
        fprintf(stderr, "usage: docgen configuration|metrics FILE  (FILE with its generated table redone, to stdout)\n");
        return 2;
    }
    FILE *in = fopen(argv[2], "r");
    if (!in) {
        perror(argv[2]);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    int state = 0; /* 0: before the table, 1: in it (skipped), 2: after it */
    while (getline(&line, &cap, in) > 0) {
        if (state == 1 && !strncmp(line, END_MARK, strlen(END_MARK))) state = 2;
        if (state != 1) fputs(line, stdout);
        if (state == 0 && !strncmp(line, BEGIN_MARK, strlen(BEGIN_MARK))) {
            table(stdout);
            state = 1;
        }
    }
    free(line);
    fclose(in);
    if (state != 2) {
        fprintf(stderr, "%s: no \"%s ... -->\" line followed by a \"%s -->\" line\n", argv[2], BEGIN_MARK,
                END_MARK);
        return 1;
    }
    return fflush(stdout) ? 1 : 0;
}
