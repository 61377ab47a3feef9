/* testmode.c - `hotdog -t FILE`: shows what the rules do with each line, without Kafka. */
#include "testmode.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "format.h"
#include "jsonio.h"
#include "log.h"
#include "merge.h"
#include "pipeline.h"
#include "rules.h"
#include "syslog.h"

static json_t *slice_json(struct syslog_slice s, struct buf *tmp) {
    return s.p ? merge_string(s.p, s.n, tmp) : json_null();
}

static json_t *name_json(const char *name) { return name ? json_string(name) : json_null(); }

/* What format: json sends as structured_data (format_sd), as a value. */
static json_t *structured_data(const struct syslog_msg *m) {
    if (!m->sd.p) return json_null();
    struct format_scratch fs = {0};
    struct buf text = {0};
    enum jsonio_err e;
    format_sd(&text, m, &fs);
    json_t *o = jsonio_parse(text.p, text.len, &e);
    format_scratch_free(&fs);
    buf_free(&text);
    return o ? o : json_null();
}

/* The forward action of rule i that sent the message: the first of its forwards, since a
 * forward ends the rule. NULL for the default route. */
static const struct config_action *forward_of(const struct config *c, int i) {
    if (i < 0) return NULL;
    for (size_t j = 0; j < c->rules[i].nactions; j++)
        if (c->rules[i].actions[j].type == ACTION_FORWARD) return &c->rules[i].actions[j];
    return NULL;
}

/* One entry of "outputs": the record that would be sent. headers and timestamp appear only
 * when the forward sets them, so that other configurations print what they always did. */
static json_t *output_json(const struct config *c, const struct rules_out *o, struct buf *tmp) {
    const struct record *rec = &o->rec;
    json_t *x = json_object();
    json_object_set_new(x, "topic", merge_string(rec->topic, rec->topic_len, tmp));
    json_object_set_new(x, "key", rec->key ? merge_string(rec->key, rec->key_len, tmp) : json_null());
    json_object_set_new(x, "payload", merge_string(rec->payload ? rec->payload : "", rec->len, tmp));
    const struct config_action *a = forward_of(c, o->rule);
    if (a && a->nheaders) {
        /* An object: the configuration refuses a header name given twice. */
        json_t *h = json_object();
        struct record_header hd;
        size_t off = 0;
        while (record_header_next(rec->headers, rec->headers_len, &off, &hd) == 1) {
            json_t *name = merge_string(hd.name, hd.name_len, tmp);
            json_object_set_new(h, json_string_value(name),
                                hd.value ? merge_string(hd.value, hd.value_len, tmp) : json_null());
            json_decref(name);
        }
        json_object_set_new(x, "headers", h);
    }
    if (a && a->timestamp == TIMESTAMP_MESSAGE)
        json_object_set_new(x, "timestamp", rec->timestamp_ms ? json_integer(rec->timestamp_ms)
                                                              : json_null());
    return x;
}

static void print_json(struct rules *r, const struct config *c, size_t lineno,
                       const struct syslog_msg *m, const struct rules_out *o, FILE *out,
                       struct buf *tmp) {
    int perr = m->format == SYSLOG_UNPARSED;
    json_t *parsed = json_object();
    json_object_set_new(parsed, "facility", name_json(syslog_facility_name(m->facility)));
    json_object_set_new(parsed, "severity", name_json(syslog_severity_name(m->severity)));
    json_object_set_new(parsed, "timestamp", slice_json(m->timestamp, tmp));
    json_object_set_new(parsed, "hostname", slice_json(m->hostname, tmp));
    json_object_set_new(parsed, "appname", slice_json(m->appname, tmp));
    json_object_set_new(parsed, "procid", slice_json(m->procid, tmp));
    json_object_set_new(parsed, "msgid", slice_json(m->msgid, tmp));
    json_object_set_new(parsed, "structured_data", structured_data(m));
    json_object_set_new(parsed, "msg", merge_string(m->msg.p ? m->msg.p : "", m->msg.n, tmp));
    json_t *matches = json_array();
    for (size_t i = 0; i < rules_count(r); i++)
        if (rules_matches(r, i, m))
            json_array_append_new(matches, json_pack("{s:I,s:s,s:s}", "rule", (json_int_t)i,
                                                     "matcher", rules_matcher(r, i), "pattern",
                                                     rules_pattern(r, i)));
    json_t *outputs = json_array();
    if (o->forward) json_array_append_new(outputs, output_json(c, o, tmp));
    json_t *line = json_object();
    json_object_set_new(line, "line", json_integer((json_int_t)lineno));
    json_object_set_new(line, "parsed", parsed);
    json_object_set_new(line, "parse_error", json_boolean(perr));
    json_object_set_new(line, "matches", matches);
    json_object_set_new(line, "outputs", outputs);
    json_dumpf(line, out, JSON_COMPACT);
    fputc('\n', out);
    json_decref(line);
}

/* The original hotdog's -t: each rule is tried on the raw line, not on a parsed message (no
 * syslog parsing), so only `field: msg` rules can run; the others are skipped (warned once, in
 * testmode_run). A rule with no matcher never matches. */
static void print_text(struct rules *r, const struct config *c, size_t lineno, const char *line,
                       size_t n, FILE *out) {
    struct syslog_msg m = {.format = SYSLOG_UNPARSED, .pri = -1, .facility = -1, .severity = -1,
                           .msg = {line, n}};
    int any = 0;
    for (size_t i = 0; i < rules_count(r); i++) {
        const char *pattern = rules_pattern(r, i);
        if (c->rules[i].field != FIELD_MSG || !pattern || !rules_matches(r, i, &m)) continue;
        if (!any++) fprintf(out, "Line %zu matches on:\n", lineno);
        /* The original names a rule by its regex whenever it has one, even when (both
         * matchers given) the JMESPath expression is what matched. */
        if (c->rules[i].ignored_regex)
            fprintf(out, "\t - Regex: %s\n", c->rules[i].ignored_regex);
        else
            fprintf(out, "\t - %s: %s\n", strcmp(rules_matcher(r, i), "regex") ? "JMESPath" : "Regex",
                    pattern);
    }
}

int testmode_run(const struct config *c, const char *path, enum testmode_format fmt, FILE *out,
                 char *err, size_t errlen) {
    FILE *in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!in) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct rules *r = rules_new(c, NULL, err, errlen);
    if (!r) {
        if (in != stdin) fclose(in);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    struct buf tmp = {0};
    if (fmt == TESTMODE_TEXT)
        for (size_t i = 0; i < c->nrules; i++)
            if (c->rules[i].field != FIELD_MSG)
                log_warn("%s:%d: test mode only runs `field: msg` rules; this `field: %s` rule is "
                         "skipped", c->path, c->rules[i].line, config_field_name(c->rules[i].field));
    int bad = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (fmt == TESTMODE_JSON) {
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
            /* The daemon's own path from a line to a record (not its framing: test mode reads
             * a file line by line, as the original's -t does, and numbers every line). */
            struct syslog_msg m;
            struct rules_out o;
            pipeline_message(r, NULL, line, (size_t)n, &m, &o);
            print_json(r, c, lineno, &m, &o, out, &tmp);
            continue;
        }
        /* Line ends as the original reads them: LF, or CR LF (one CR only). */
        if (n && line[n - 1] == '\n' && --n && line[n - 1] == '\r') n--;
        /* The original reads its test file as UTF-8 text and stops at the first line that is
         * not; stopping there too keeps the output the same. */
        if (!jsonio_valid_utf8(line, (size_t)n)) {
            snprintf(err, errlen, "%s: line %zu is not valid UTF-8; test mode stops there", path,
                     lineno);
            bad = 1;
            break;
        }
        print_text(r, c, lineno, line, (size_t)n, out);
    }
    int rerr = !bad && ferror(in);
    if (rerr) snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
    free(line);
    buf_free(&tmp);
    rules_free(r);
    if (in != stdin) fclose(in);
    return rerr || bad ? -1 : 0;
}
