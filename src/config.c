/* config.c - loads hotdog.yml (the original hotdog's format) into a validated struct config. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* Nodes visited while loading, at most. libyaml keeps aliases as references, so a "billion
 * laughs" document is small in memory but explodes when walked; this bounds the walk. */
#define CONFIG_MAX_VISITS 100000

/* How deep below its 'json' key a merge action's value may nest (the value itself is 0). */
#define CONFIG_MAX_JSON_DEPTH 64

/* The largest configuration file read. */
#define CONFIG_MAX_FILE (16u << 20)

/* What a document may hold, checked on libyaml's events before its loader builds the document
 * (check_yaml). libyaml's scanner costs the square of the flow nesting (100,000 '[' took 10 s),
 * its loader the square of the number of anchors and anchors times aliases (1.4 million
 * anchors, more than 30 s), and each node about 160 bytes (16 MiB of "a," took 1.3 GB).
 * hotdog's schema needs 5 levels above a merge action's json, whose value may nest 65 more
 * (CONFIG_MAX_JSON_DEPTH): a limit of 100 refuses nothing that loads. A document of more
 * nodes than the walk may visit could only load with most of them under ignored keys: the
 * node limit is the walk's. Real configurations use a few anchors, if any. */
#define CONFIG_MAX_DEPTH 100
#define CONFIG_MAX_NODES CONFIG_MAX_VISITS
#define CONFIG_MAX_ANCHORS 1000
#define CONFIG_MAX_ALIASES 10000

enum ktype { K_STR, K_INT, K_MAP, K_KV, K_TLS, K_RULES, K_LISTEN, K_ENUM };

/* One row per configuration key. Offsets are from the start of the struct the table fills:
 * struct config, or struct config_listen for a listener's keys (for K_MAP and K_TLS rows, the
 * offset of the int that records the section's line, or 0). K_ENUM stores the index of the
 * value in enumv: def's, or -1 without a def (the default then depends on other keys, settled
 * after loading). The same table drives loading, defaults, --help and doc/configuration.md
 * (config_foreach_key). */
struct key {
    const char *name;
    enum ktype type;
    size_t off;
    const struct key *sub;
    long min, max;
    int required;
    const char *def;
    const char *help;
    const char *const *enumv;
};

#define OFF(member) offsetof(struct config, member)
#define LOFF(member) offsetof(struct config_listen, member)

static const char *const protocol_names[] = {"tcp", "tls", "udp", "relp", NULL};
static const char *const verify_names[] = {"none", "optional", "required", NULL};
static const char *const bool_names[] = {"false", "true", NULL};
static const char *const fsync_names[] = {"always", "interval", "never", NULL};
static const char *const spool_mode_names[] = {"overflow", "always", NULL};
static const char *const framing_names[] = {"auto", "lf", "octet", NULL};
static const char *const escape_names[] = {"html", "none", NULL}; /* enum config_escape */
static const char *const format_names[] = {"raw", "json", NULL};           /* enum config_format */
static const char *const timestamp_names[] = {"receive", "message", NULL}; /* enum config_timestamp */
static const char *const field_names[] = {"msg", "hostname", "appname", "facility", "severity",
                                          "procid", "msgid", NULL}; /* enum config_field */
static const char *const action_names[] = {"forward", "merge", "replace", "stop", NULL}; /* enum config_action_type */

static const struct key tls_keys[] = {
    {"cert", K_STR, LOFF(tls.cert), NULL, 0, 0, 1, NULL, "PEM certificate file (may hold a chain)", NULL},
    {"key", K_STR, LOFF(tls.key), NULL, 0, 0, 1, NULL, "PEM private key (PKCS#1, PKCS#8 or EC)", NULL},
    {"ca", K_STR, LOFF(tls.ca), NULL, 0, 0, 0, NULL, "PEM CA bundle to verify client certificates", NULL},
    {"verify", K_ENUM, LOFF(tls.verify), NULL, 0, 0, 0, NULL,
     "client certificates: none, optional (default with ca) or required", verify_names},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct key listen_keys[] = {
    {"address", K_STR, LOFF(address), NULL, 0, 0, 1, NULL, "address to listen on (IPv4 or IPv6)", NULL},
    {"port", K_INT, LOFF(port), NULL, 1, 65535, 1, NULL, "port", NULL},
    {"protocol", K_ENUM, LOFF(protocol), NULL, 0, 0, 0, NULL,
     "tcp, tls, udp or relp (default: tls with a tls section, else tcp); relp with a tls "
     "section is RELP over TLS", protocol_names},
    {"tls", K_TLS, LOFF(tls.line), tls_keys, 0, 0, 0, NULL, "TLS settings; empty or false means plaintext", NULL},
    {"max_message_size", K_INT, LOFF(max_message_size), NULL, 64, 64L << 20, 0, "999000",
     "longest message in bytes (UDP: at most 65535); a longer frame or datagram is delivered "
     "cut to this length and counted (error.truncated)", NULL},
    {"framing", K_ENUM, LOFF(framing), NULL, 0, 0, 0, "auto",
     "TCP/TLS framing: auto (octet counted only as 'COUNT <PRI', else LF), lf or octet",
     framing_names},
    {"max_connections", K_INT, LOFF(max_connections), NULL, 1, 10000000, 0, "10000",
     "connections beyond this are accepted and closed at once", NULL},
    {"idle_timeout_ms", K_INT, LOFF(idle_timeout_ms), NULL, 0, 86400000L * 7, 0, "0",
     "close connections silent this long; 0 = never", NULL},
    {"handshake_timeout_ms", K_INT, LOFF(handshake_timeout_ms), NULL, 1, 3600000, 0, "10000",
     "TLS handshakes must finish within this", NULL},
    {"recv_buffer", K_INT, LOFF(recv_buffer), NULL, 4096, 1L << 30, 0, "8388608",
     "UDP socket receive buffer in bytes", NULL},
    {"backpressure", K_ENUM, LOFF(backpressure), NULL, 0, 0, 0, "true",
     "true: stop reading TCP/TLS clients while Kafka is full; false: never, the "
     "overflow goes to the spool (dropped and counted without one)", bool_names},
    {"relp_max_pending", K_INT, LOFF(relp_max_pending), NULL, 1, 1000000, 0, "8192",
     "relp: a session with this many messages unanswered is not read until some are answered; "
     "keep it at or above the senders' windowSize (omrelp: 128 by default, 1024+ advised)", NULL},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct key spool_keys[] = {
    {"path", K_STR, OFF(kafka.spool.path), NULL, 0, 0, 1, NULL, "spool directory (created if missing)", NULL},
    {"max_bytes", K_INT, OFF(kafka.spool.max_bytes), NULL, 1L << 20, 1L << 50, 0, "1073741824",
     "disk the spool may use; when full, TCP is paused and UDP dropped (counted)", NULL},
    {"segment_bytes", K_INT, OFF(kafka.spool.segment_bytes), NULL, 65536, 1L << 30, 0, "8388608",
     "size at which a segment file is sealed and a new one started", NULL},
    {"fsync", K_ENUM, OFF(kafka.spool.fsync), NULL, 0, 0, 0, "interval",
     "always (every write), interval or never (the kernel decides)", fsync_names},
    {"fsync_interval_ms", K_INT, OFF(kafka.spool.fsync_interval_ms), NULL, 1, 3600000, 0, "1000",
     "how often fsync: interval syncs", NULL},
    {"mode", K_ENUM, OFF(kafka.spool.mode), NULL, 0, 0, 0, "overflow",
     "overflow: only what Kafka cannot take; always: every message (write-ahead log)",
     spool_mode_names},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct key kafka_keys[] = {
    {"conf", K_KV, OFF(kafka.conf), NULL, 0, 0, 0, NULL, "librdkafka properties, passed through verbatim", NULL},
    {"topic", K_STR, OFF(kafka.topic), NULL, 0, 0, 1, NULL, "default topic", NULL},
    {"buffer", K_INT, OFF(kafka.buffer), NULL, 1, 10000000, 0, "-1",
     "producer queue size in messages: queue.buffering.max.messages unless conf sets it "
     "(librdkafka's default: 100000)", NULL},
    {"timeout_ms", K_INT, OFF(kafka.timeout_ms), NULL, 1, 3600000, 0, "30000",
     "how long to wait for a broker at start-up", NULL},
    {"shutdown_timeout_ms", K_INT, OFF(kafka.shutdown_timeout_ms), NULL, 0, 3600000, 0, "10000",
     "how long to wait for deliveries on shutdown", NULL},
    {"stall_timeout_ms", K_INT, OFF(kafka.stall_timeout_ms), NULL, 1000, 3600000, 0, "10000",
     "messages waiting this long with no delivery report: a warning, kafka.stalls, /readyz fails", NULL},
    {"spool", K_MAP, OFF(kafka.spool.line), spool_keys, 0, 0, 0, NULL,
     "disk spool: Kafka outages and overflow lose nothing", NULL},
    {"dead_letter", K_STR, OFF(kafka.dead_letter), NULL, 0, 0, 0, NULL,
     "JSON-lines file for messages Kafka refused for good (e.g. too large)", NULL},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct key metrics_keys[] = {
    {"statsd", K_STR, OFF(statsd), NULL, 0, 0, 0, NULL, "statsd host:port (prefix hotdog.)", NULL},
    {"interval_ms", K_INT, OFF(statsd_interval_ms), NULL, 100, 3600000, 0, "1000",
     "how often metrics are aggregated and sent to statsd", NULL},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct key status_keys[] = {
    {"address", K_STR, OFF(status_address), NULL, 0, 0, 0, "127.0.0.1", "status server address", NULL},
    {"port", K_INT, OFF(status_port), NULL, 1, 65535, 1, NULL, "status server port", NULL},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct key global_keys[] = {
    {"listen", K_LISTEN, 0, listen_keys, 0, 0, 1, NULL, "a listener, or a list of them", NULL},
    {"kafka", K_MAP, OFF(kafka.line), kafka_keys, 0, 0, 1, NULL, "the Kafka producer", NULL},
    {"metrics", K_MAP, 0, metrics_keys, 0, 0, 0, NULL, "metrics export", NULL},
    {"status", K_MAP, 0, status_keys, 0, 0, 0, NULL, "HTTP status server", NULL},
    {"workers", K_INT, OFF(workers), NULL, 0, 1024, 0, "0", "worker threads; 0 = one per core", NULL},
    {"max_buffered_bytes", K_INT, OFF(max_buffered_bytes), NULL, 1L << 20, 1L << 40, 0, "67108864",
     "unfinished frames all connections may hold together; past it the largest is delivered cut", NULL},
    {"template_escape", K_ENUM, OFF(template_escape), NULL, 0, 0, 0, "html",
     "html: {{name}} inserts a value HTML-escaped, as the original hotdog did "
     "({{{name}}} raw); none: every value as it is",
     escape_names},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* The keys of a rule and of its actions, for --help only: load_rule and load_action read
 * them (each action type takes its own keys). */
static const struct key action_help_keys[] = {
    {"type", K_ENUM, 0, NULL, 0, 0, 1, NULL, "forward, merge, replace or stop", action_names},
    {"topic", K_STR, 0, NULL, 0, 0, 0, NULL, "forward: topic template (default global.kafka.topic)", NULL},
    {"key", K_STR, 0, NULL, 0, 0, 0, NULL, "forward: key template (default: no key)", NULL},
    {"format", K_ENUM, 0, NULL, 0, 0, 0, "raw",
     "forward: raw (the output buffer, or msg) or json (the whole parsed message as one JSON object)",
     format_names},
    {"headers", K_KV, 0, NULL, 0, 0, 0, NULL, "forward: Kafka record headers, name: template", NULL},
    {"timestamp", K_ENUM, 0, NULL, 0, 0, 0, "receive",
     "forward: the record's timestamp: receive (when hotdog read it) or message (its own, if readable)",
     timestamp_names},
    {"template", K_STR, 0, NULL, 0, 0, 0, NULL, "replace: template rendered into the output buffer", NULL},
    {"json", K_KV, 0, NULL, 0, 0, 0, NULL, "merge: value (usually a map) deep-merged into msg parsed as JSON", NULL},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct key rule_help_keys[] = {
    {"regex", K_STR, 0, NULL, 0, 0, 0, NULL, "PCRE2 pattern matched on field (or jmespath)", NULL},
    {"jmespath", K_STR, 0, NULL, 0, 0, 0, NULL, "JMESPath on field parsed as JSON; matches when not null", NULL},
    {"field", K_ENUM, 0, NULL, 0, 0, 0, "msg", "msg, hostname, appname, facility, severity, procid or msgid",
     field_names},
    {"actions", K_RULES, 0, action_help_keys, 0, 0, 1, NULL, "run in order when the rule matches", NULL},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct key root_keys[] = {
    {"global", K_MAP, 0, global_keys, 0, 0, 1, NULL, "global settings", NULL},
    {"rules", K_RULES, 0, rule_help_keys, 0, 0, 0, NULL, "ordered list of rules", NULL},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

struct loader {
    const char *name;
    yaml_document_t doc;
    struct config *cfg;
    char *err;
    size_t errlen;
    long visits;
};

static int line_of(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }

static void vwarn(struct config *c, int line, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = strlen(c->path) + strlen(msg) + 24;
    char *text = malloc(len);
    char **nw = realloc(c->warnings, (c->nwarnings + 1) * sizeof *nw);
    if (!text || !nw) abort();
    snprintf(text, len, "%s:%d: %s", c->path, line, msg);
    c->warnings = nw;
    c->warnings[c->nwarnings++] = text;
}

void config_warn(struct config *c, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwarn(c, line, fmt, ap);
    va_end(ap);
}

static void warn(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(struct loader *l, const yaml_node_t *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwarn(l->cfg, line_of(n), fmt, ap);
    va_end(ap);
}

static int fail(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct loader *l, const yaml_node_t *n, const char *fmt, ...) {
    int k = snprintf(l->err, l->errlen, "%s:%d: ", l->name, line_of(n));
    if (k < 0 || (size_t)k >= l->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err + k, l->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static yaml_node_t *node(struct loader *l, int id) {
    l->visits++;
    return yaml_document_get_node(&l->doc, id);
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static void *field_ptr(void *base, const struct key *k) { return (char *)base + k->off; }

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d) abort(); /* out-of-memory policy: small allocations abort */
    return d;
}

static int set_int(struct loader *l, void *base, const yaml_node_t *n, const char *path,
                   const struct key *k, const char *text) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno) return fail(l, n, "'%s' must be an integer (got '%s')", path, text);
    if (v < k->min || v > k->max)
        return fail(l, n, "'%s' must be between %ld and %ld (got %ld)", path, k->min, k->max, v);
    *(long *)field_ptr(base, k) = v;
    return 0;
}

/* The index of value in names, or -1 (value NULL: not given, or not one of them). */
static long enum_index(const char *const *names, const char *value) {
    for (long i = 0; names && value && names[i]; i++)
        if (!strcmp(names[i], value)) return i;
    return -1;
}

static void apply_defaults(void *base, const struct key *t) {
    for (const struct key *k = t; k->name; k++) {
        /* Listeners get theirs one by one; rules' keys are in tables for --help only. */
        if (k->type == K_MAP || k->type == K_TLS) apply_defaults(base, k->sub);
        if (k->type == K_ENUM) *(long *)field_ptr(base, k) = enum_index(k->enumv, k->def);
        if (!k->def) continue;
        if (k->type == K_STR) *(char **)field_ptr(base, k) = xstrdup(k->def);
        if (k->type == K_INT) *(long *)field_ptr(base, k) = strtol(k->def, NULL, 10);
    }
}

static int load_map(struct loader *l, const yaml_node_t *n, const struct key *t, const char *path,
                    void *base);
static int load_listen(struct loader *l, const yaml_node_t *n, const char *path);
static int load_rules(struct loader *l, const yaml_node_t *n);

static int load_kv(struct loader *l, const yaml_node_t *n, const char *path) {
    if (n->type != YAML_MAPPING_NODE) return fail(l, n, "'%s' must be a map", path);
    struct config_kafka *kc = &l->cfg->kafka;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(l, p->key), *vn = node(l, p->value);
        if (kn->type != YAML_SCALAR_NODE) return fail(l, kn, "'%s' keys must be strings", path);
        if (vn->type != YAML_SCALAR_NODE || is_null(vn))
            return fail(l, vn, "'%s.%s' must be a string or number", path, scalar(kn));
        struct config_kv *nk = realloc(kc->conf, sizeof *nk * (kc->nconf + 1));
        if (!nk) abort();
        kc->conf = nk;
        kc->conf[kc->nconf++] = (struct config_kv){xstrdup(scalar(kn)), xstrdup(scalar(vn)),
                                                   line_of(kn)};
    }
    return 0;
}

static int load_value(struct loader *l, void *base, const yaml_node_t *kn, const yaml_node_t *n,
                      const struct key *k, const char *path) {
    if (l->visits > CONFIG_MAX_VISITS)
        return fail(l, n, "document too large (more than %d nodes, alias bomb?)", CONFIG_MAX_VISITS);
    switch (k->type) {
    case K_STR:
        if (n->type != YAML_SCALAR_NODE || is_null(n))
            return fail(l, n, "'%s' must be a string", path);
        free(*(char **)field_ptr(base, k));
        *(char **)field_ptr(base, k) = xstrdup(scalar(n));
        return 0;
    case K_INT:
        if (n->type != YAML_SCALAR_NODE) return fail(l, n, "'%s' must be an integer", path);
        return set_int(l, base, n, path, k, scalar(n));
    case K_ENUM: {
        if (n->type != YAML_SCALAR_NODE) return fail(l, n, "'%s' must be a string", path);
        long i = 0;
        while (k->enumv[i] && strcmp(k->enumv[i], scalar(n))) i++;
        if (!k->enumv[i]) {
            char want[128] = "";
            for (long j = 0; k->enumv[j]; j++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", j ? ", " : "",
                         k->enumv[j]);
            return fail(l, n, "'%s' must be one of %s (got '%s')", path, want, scalar(n));
        }
        *(long *)field_ptr(base, k) = i;
        return 0;
    }
    case K_MAP:
        if (k->off) *(int *)field_ptr(base, k) = line_of(n);
        return load_map(l, n, k->sub, path, base);
    case K_KV:
        return load_kv(l, n, path);
    case K_TLS:
        /* The original accepts an empty section (or `false`) for plaintext. */
        if (is_null(n) || (n->type == YAML_SCALAR_NODE && !strcmp(scalar(n), "false"))) return 0;
        *(int *)field_ptr(base, k) = line_of(kn); /* the "tls:" line, where a person looks */
        return load_map(l, n, k->sub, path, base);
    case K_RULES:
        return load_rules(l, n);
    case K_LISTEN:
        return load_listen(l, n, path);
    }
    return 0;
}

static int load_map(struct loader *l, const yaml_node_t *n, const struct key *t, const char *path,
                    void *base) {
    if (n->type != YAML_MAPPING_NODE) return fail(l, n, "'%s' must be a map", path);
    unsigned seen = 0; /* bit i: t[i] was given */
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(l, p->key), *vn = node(l, p->value);
        if (kn->type != YAML_SCALAR_NODE) return fail(l, kn, "'%s' has a non-string key", path);
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", scalar(kn));
        const struct key *k = t;
        while (k->name && strcmp(k->name, scalar(kn))) k++;
        if (!k->name) { /* the original ignores keys it does not know: so do we, but say so */
            warn(l, kn, "unknown key '%s' ignored", sub);
            continue;
        }
        if (seen & (1u << (k - t))) return fail(l, kn, "duplicate key '%s'", sub);
        seen |= 1u << (k - t);
        if (load_value(l, base, kn, vn, k, sub) < 0) return -1;
    }
    for (const struct key *k = t; k->name; k++)
        if (k->required && !(seen & (1u << (k - t))))
            return fail(l, n, "missing required key '%s%s%s'", path, *path ? "." : "", k->name);
    return 0;
}

/* Settles what depends on several keys of one listener. */
static int finish_listen(struct loader *l, const yaml_node_t *n, struct config_listen *ls,
                         const char *path) {
    if (ls->protocol < 0) ls->protocol = ls->tls.line ? PROTO_TLS : PROTO_TCP;
    if (ls->protocol == PROTO_TLS && !ls->tls.line)
        return fail(l, n, "'%s.protocol' is tls but there is no '%s.tls' section with cert and key",
                    path, path);
    if (ls->protocol != PROTO_TLS && ls->protocol != PROTO_RELP && ls->tls.line)
        return fail(l, n, "'%s.tls' is set but '%s.protocol' is %s", path, path,
                    protocol_names[ls->protocol]);
    /* A RELP sender waits for its answers: the listener is never read past what Kafka takes. */
    if (ls->protocol == PROTO_RELP && ls->backpressure == 0)
        return fail(l, n, "'%s.backpressure' is false but '%s.protocol' is relp, whose senders "
                    "wait for each answer (always backpressure)", path, path);
    if (ls->tls.verify < 0) ls->tls.verify = ls->tls.ca ? VERIFY_OPTIONAL : VERIFY_NONE;
    if (ls->tls.verify != VERIFY_NONE && !ls->tls.ca)
        return fail(l, n, "'%s.tls.verify' is %s but '%s.tls.ca' is not set", path,
                    verify_names[ls->tls.verify], path);
    return 0;
}

/* global.listen: the original's single map, or a list of them. */
static int load_listen(struct loader *l, const yaml_node_t *n, const char *path) {
    struct config *c = l->cfg;
    size_t count = 1;
    if (n->type == YAML_SEQUENCE_NODE)
        count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    else if (n->type != YAML_MAPPING_NODE)
        return fail(l, n, "'%s' must be a map or a list of maps", path);
    if (count == 0) return fail(l, n, "'%s' needs at least one listener", path);
    if (count > 64) return fail(l, n, "'%s' has more than 64 listeners", path);
    c->listeners = calloc(count, sizeof *c->listeners);
    if (!c->listeners) abort();
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = n->type == YAML_SEQUENCE_NODE ? node(l, n->data.sequence.items.start[i]) : n;
        char sub[300];
        if (n->type == YAML_SEQUENCE_NODE) snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        else snprintf(sub, sizeof sub, "%s", path);
        struct config_listen *ls = &c->listeners[i];
        c->nlisteners = i + 1;
        apply_defaults(ls, listen_keys);
        ls->line = line_of(item);
        if (load_map(l, item, listen_keys, sub, ls) < 0 || finish_listen(l, item, ls, sub) < 0)
            return -1;
    }
    return 0;
}

/* Converts a YAML node to JSON for merge actions. Quoted scalars are strings; plain ones are
 * typed the way YAML 1.2's core schema does (null, booleans, integers, floats). Returns NULL
 * after more than CONFIG_MAX_VISITS nodes (the caller says so), or with err filled. */
static json_t *to_json(struct loader *l, const yaml_node_t *n, const char *path, int depth) {
    if (l->visits > CONFIG_MAX_VISITS) return NULL;
    if (depth > CONFIG_MAX_JSON_DEPTH) {
        fail(l, n, "'%s' nests deeper than %d levels (an alias of itself?)", path,
             CONFIG_MAX_JSON_DEPTH);
        return NULL;
    }
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = scalar(n);
        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return json_string(s);
        if (is_null(n)) return json_null();
        if (!strcmp(s, "true") || !strcmp(s, "True")) return json_true();
        if (!strcmp(s, "false") || !strcmp(s, "False")) return json_false();
        char *end;
        errno = 0;
        long long iv = strtoll(s, &end, 10);
        if (!*end && !errno) return json_integer(iv);
        double dv = strtod(s, &end);
        if (!*end && end != s && isfinite(dv)) return json_real(dv);
        /* strtod reads nan, inf and infinity, which YAML 1.2 calls strings; 1e999 is a number
         * JSON cannot hold (jansson refuses it). */
        if (!*end && end != s && !strpbrk(s, "nN")) {
            fail(l, n, "'%s': %s is not a finite number (quote it for a string)", path, s);
            return NULL;
        }
        return json_string(s);
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
            json_t *v = to_json(l, node(l, *i), path, depth + 1);
            if (!v) { json_decref(a); return NULL; }
            json_array_append_new(a, v);
        }
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(l, p->key);
        if (kn->type != YAML_SCALAR_NODE) fail(l, kn, "'%s' has a non-string key", path);
        json_t *v = kn->type == YAML_SCALAR_NODE ? to_json(l, node(l, p->value), path, depth + 1) : NULL;
        if (!v) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, scalar(kn), v);
    }
    return o;
}

const char *config_field_name(enum config_field f) { return field_names[f]; }

/* The keys each action type accepts, as a bit mask over action_keys. format, headers and
 * timestamp are ours, as key is: the original ignores every key of a forward but topic. */
enum { AK_TOPIC, AK_KEY, AK_TEMPLATE, AK_JSON, AK_FORMAT, AK_HEADERS, AK_TIMESTAMP, AK_COUNT };
static const char *const action_keys[AK_COUNT] = {"topic", "key", "template", "json",
                                                  "format", "headers", "timestamp"};
#define AK(k) (1u << (k))
static const unsigned action_allowed[] = {
    AK(AK_TOPIC) | AK(AK_KEY) | AK(AK_FORMAT) | AK(AK_HEADERS) | AK(AK_TIMESTAMP), AK(AK_JSON),
    AK(AK_TEMPLATE), 0};
static const unsigned action_required[] = {0, AK(AK_JSON), AK(AK_TEMPLATE), 0};

/* A forward's format or timestamp: one of names, as an index. */
static int load_action_enum(struct loader *l, const yaml_node_t *n, const char *path,
                            const char *const *names, int *out) {
    int i = 0;
    if (n->type == YAML_SCALAR_NODE && !is_null(n))
        while (names[i] && strcmp(names[i], scalar(n))) i++;
    if (n->type != YAML_SCALAR_NODE || is_null(n) || !names[i]) {
        const char *got = n->type == YAML_SCALAR_NODE    ? scalar(n)
                          : n->type == YAML_MAPPING_NODE ? "a map"
                                                         : "a list";
        return fail(l, n, "'%s' must be one of %s or %s (got '%s')", path, names[0], names[1], got);
    }
    *out = i;
    return 0;
}

/* A forward's headers: a map of header name to template, in the order written. A name given
 * twice is refused as any duplicate key is (YAML maps have distinct keys). */
static int load_headers(struct loader *l, const yaml_node_t *n, const char *path,
                        struct config_action *a) {
    if (n->type != YAML_MAPPING_NODE)
        return fail(l, n, "'%s' must be a map of header name to template", path);
    size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    a->headers = calloc(count ? count : 1, sizeof *a->headers);
    if (!a->headers) abort();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(l, p->key), *vn = node(l, p->value);
        if (kn->type != YAML_SCALAR_NODE || is_null(kn))
            return fail(l, kn, "'%s' has a non-string key", path);
        const char *name = scalar(kn);
        if (!*name) return fail(l, kn, "'%s' has an empty header name", path);
        if (strlen(name) > 0xffff)
            return fail(l, kn, "'%s' has a header name over 65535 bytes", path);
        for (size_t i = 0; i < a->nheaders; i++)
            if (!strcmp(a->headers[i].name, name))
                return fail(l, kn, "duplicate key '%s.%s'", path, name);
        if (vn->type != YAML_SCALAR_NODE || is_null(vn))
            return fail(l, vn, "'%s.%s' must be a string (a template)", path, name);
        a->headers[a->nheaders++] =
            (struct config_header){xstrdup(name), xstrdup(scalar(vn)), line_of(kn)};
    }
    return 0;
}

static int load_action(struct loader *l, const yaml_node_t *n, const char *path,
                       struct config_action *a) {
    if (n->type != YAML_MAPPING_NODE) return fail(l, n, "'%s' must be a map with a 'type'", path);
    a->line = line_of(n);
    const yaml_node_t *type = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(l, p->key);
        if (kn->type == YAML_SCALAR_NODE && !strcmp(scalar(kn), "type")) type = node(l, p->value);
    }
    if (!type) return fail(l, n, "missing required key '%s.type'", path);
    if (type->type != YAML_SCALAR_NODE) return fail(l, type, "'%s.type' must be a string", path);
    size_t t = 0;
    while (t < 4 && strcmp(scalar(type), action_names[t])) t++;
    if (t == 4)
        return fail(l, type, "'%s.type': unknown action '%s' (expected forward, merge, replace or stop)",
                    path, scalar(type));
    a->type = (enum config_action_type)t;
    unsigned seen = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(l, p->key), *vn = node(l, p->value);
        if (kn->type != YAML_SCALAR_NODE) return fail(l, kn, "'%s' has a non-string key", path);
        if (!strcmp(scalar(kn), "type")) continue;
        unsigned i = 0;
        while (i < AK_COUNT && strcmp(scalar(kn), action_keys[i])) i++;
        if (i == AK_COUNT || !(action_allowed[t] & (1u << i))) {
            warn(l, kn, "unknown key '%s.%s' for a %s action ignored", path, scalar(kn),
                 action_names[t]);
            continue;
        }
        if (seen & (1u << i)) return fail(l, kn, "duplicate key '%s.%s'", path, scalar(kn));
        seen |= 1u << i;
        char sub[300];
        snprintf(sub, sizeof sub, "%s.%s", path, action_keys[i]);
        if (i == AK_HEADERS) {
            if (load_headers(l, vn, sub, a) < 0) return -1;
            continue;
        }
        if (i == AK_FORMAT || i == AK_TIMESTAMP) {
            int v = 0;
            if (load_action_enum(l, vn, sub, i == AK_FORMAT ? format_names : timestamp_names, &v) < 0)
                return -1;
            if (i == AK_FORMAT) a->format = (enum config_format)v;
            else a->timestamp = (enum config_timestamp)v;
            continue;
        }
        if (i == AK_JSON) {
            /* Any YAML value, as in the original; what a non-map does at run time is the
             * rules' business (merge.c). */
            a->json = to_json(l, vn, sub, 0);
            if (!a->json && l->visits > CONFIG_MAX_VISITS)
                return fail(l, vn, "'%s' is too large (more than %d nodes, aliases expanded)", sub,
                            CONFIG_MAX_VISITS);
            if (!a->json) return -1;
            continue;
        }
        if (vn->type != YAML_SCALAR_NODE || is_null(vn))
            return fail(l, vn, "'%s.%s' must be a string", path, scalar(kn));
        char **dst = i == AK_TOPIC ? &a->topic : i == AK_KEY ? &a->key : &a->template;
        *dst = xstrdup(scalar(vn));
    }
    for (unsigned i = 0; i < AK_COUNT; i++)
        if ((action_required[t] & (1u << i)) && !(seen & (1u << i)))
            return fail(l, n, "missing required key '%s.%s' for a %s action", path, action_keys[i],
                        action_names[t]);
    return 0;
}

static int load_rule(struct loader *l, const yaml_node_t *n, const char *path,
                     struct config_rule *r) {
    if (n->type != YAML_MAPPING_NODE) return fail(l, n, "'%s' must be a map", path);
    r->line = line_of(n);
    r->field = FIELD_MSG;
    const yaml_node_t *actions = NULL;
    int seen_field = 0, regex_line = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(l, p->key), *vn = node(l, p->value);
        if (kn->type != YAML_SCALAR_NODE) return fail(l, kn, "'%s' has a non-string key", path);
        const char *k = scalar(kn);
        if ((!strcmp(k, "actions") && actions) || (!strcmp(k, "field") && seen_field++) ||
            (!strcmp(k, "regex") && r->regex) || (!strcmp(k, "jmespath") && r->jmespath))
            return fail(l, kn, "duplicate key '%s.%s'", path, k);
        if (!strcmp(k, "actions")) {
            actions = vn;
            continue;
        }
        if (strcmp(k, "regex") && strcmp(k, "jmespath") && strcmp(k, "field")) {
            warn(l, kn, "unknown key '%s.%s' ignored", path, k);
            continue;
        }
        if (vn->type != YAML_SCALAR_NODE || is_null(vn))
            return fail(l, vn, "'%s.%s' must be a string", path, k);
        if (!strcmp(k, "field")) {
            size_t f = 0;
            while (f < 7 && strcmp(scalar(vn), field_names[f])) f++;
            if (f == 7)
                return fail(l, vn, "'%s.field': unknown field '%s' (expected msg, hostname, appname, "
                            "facility, severity, procid or msgid)", path, scalar(vn));
            r->field = (enum config_field)f;
            continue;
        }
        if (k[0] == 'r') {
            r->regex = xstrdup(scalar(vn));
            regex_line = line_of(vn);
        } else {
            r->jmespath = xstrdup(scalar(vn));
            r->matcher_line = line_of(vn);
        }
    }
    /* The original's precedence: jmespath is checked first, and a rule with neither matcher
     * never matches. Both are accepted there, so here too, with a warning. */
    if (r->regex && r->jmespath) {
        warn(l, n, "'%s' has both regex (line %d) and jmespath (line %d): only jmespath is used, "
             "as in the original hotdog", path, regex_line, r->matcher_line);
        r->ignored_regex = r->regex;
        r->regex = NULL;
    } else if (r->regex) {
        r->matcher_line = regex_line;
    } else if (!r->jmespath) {
        warn(l, n, "'%s' has neither regex nor jmespath: it never matches", path);
        r->regex = xstrdup(CONFIG_NEVER_MATCHES);
        r->matcher_line = r->line;
    }
    if (!actions) return fail(l, n, "missing required key '%s.actions'", path);
    if (actions->type != YAML_SEQUENCE_NODE) return fail(l, actions, "'%s.actions' must be a list", path);
    size_t na = (size_t)(actions->data.sequence.items.top - actions->data.sequence.items.start);
    r->actions = calloc(na ? na : 1, sizeof *r->actions);
    if (!r->actions) abort();
    for (size_t i = 0; i < na; i++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.actions[%zu]", path, i);
        r->nactions = i + 1;
        if (load_action(l, node(l, actions->data.sequence.items.start[i]), sub, &r->actions[i]) < 0)
            return -1;
    }
    return 0;
}

static int load_rules(struct loader *l, const yaml_node_t *n) {
    if (is_null(n)) return 0;
    if (n->type != YAML_SEQUENCE_NODE) return fail(l, n, "'rules' must be a list");
    size_t nr = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    struct config *c = l->cfg;
    c->rules = calloc(nr ? nr : 1, sizeof *c->rules);
    if (!c->rules) abort();
    for (size_t i = 0; i < nr; i++) {
        char path[64];
        snprintf(path, sizeof path, "rules[%zu]", i);
        c->nrules = i + 1;
        if (load_rule(l, node(l, n->data.sequence.items.start[i]), path, &c->rules[i]) < 0) return -1;
    }
    return 0;
}

static void kv_set(struct config *c, const char *key, const char *value) {
    struct config_kafka *k = &c->kafka;
    for (size_t i = 0; i < k->nconf; i++)
        if (!strcmp(k->conf[i].key, key)) {
            free(k->conf[i].value);
            k->conf[i].value = xstrdup(value);
            return;
        }
    struct config_kv *nk = realloc(k->conf, sizeof *nk * (k->nconf + 1));
    if (!nk) abort();
    k->conf = nk;
    k->conf[k->nconf++] = (struct config_kv){xstrdup(key), xstrdup(value), 0};
}

const char *config_kafka_get(const struct config *c, const char *key) {
    for (size_t i = 0; i < c->kafka.nconf; i++)
        if (!strcmp(c->kafka.conf[i].key, key)) return c->kafka.conf[i].value;
    return NULL;
}

/* The original hotdog's environment overrides, applied after the file. */
static void apply_env(struct config *c) {
    static const char *const env[][2] = {{"KAFKA_BROKER", "bootstrap.servers"},
                                          {"SASL_SCRAM_USERNAME", "sasl.username"},
                                          {"SASL_SCRAM_PASSWORD", "sasl.password"}};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++) {
        const char *v = getenv(env[i][0]);
        if (v && *v) kv_set(c, env[i][1], v);
    }
}

/* A message the producer cannot send fails in Kafka (dead-lettered, or lost): say so before a
 * message does. librdkafka itself refuses a message.max.bytes it cannot use. */
static void check_message_max(struct config *c) {
    const char *v = config_kafka_get(c, "message.max.bytes");
    long mmb = v ? strtol(v, NULL, 10) : CONFIG_KAFKA_MESSAGE_MAX_BYTES;
    if (mmb <= 0) return;
    for (size_t i = 0; i < c->nlisteners; i++) {
        const struct config_listen *ls = &c->listeners[i];
        long max = ls->max_message_size;
        if (ls->protocol == PROTO_UDP && max > 65507) max = 65507; /* the largest datagram */
        if (max + CONFIG_KAFKA_RECORD_OVERHEAD <= mmb) continue;
        char path[48] = "global.listen";
        if (c->nlisteners > 1) snprintf(path, sizeof path, "global.listen[%zu]", i);
        config_warn(c, ls->line, "'%s.max_message_size' (%ld) is more than the producer can "
                    "send: message.max.bytes is %ld%s and a record adds up to %d bytes to its key "
                    "and value, so longer messages fail (kafka.producer.error.messagesizetoolarge; "
                    "dead-lettered if dead_letter is set). Lower max_message_size or raise "
                    "message.max.bytes (and the topic's max.message.bytes)", path, max, mmb,
                    v ? "" : " (librdkafka's default)", CONFIG_KAFKA_RECORD_OVERHEAD);
    }
}

static void syntax_error(const yaml_parser_t *p, const char *name, char *err, size_t errlen) {
    snprintf(err, errlen, "%s:%zu: YAML syntax error: %s%s%s", name, p->problem_mark.line + 1,
             p->problem ? p->problem : "unknown", p->context ? " " : "", p->context ? p->context : "");
}

/* A first pass over the document's events, which libyaml produces in time linear in the text
 * while the nesting is bounded (its scanner looks at most 1,024 characters ahead): refuses,
 * at the line where it starts, what would make libyaml's loader slow or large (see
 * CONFIG_MAX_DEPTH), and a second document, which the loader would silently ignore. The
 * original hotdog refuses a second document, even an empty one ("Got 2 YAML documents,
 * expected 1"): so do we, since rules in it would be lost without a word. Returns 0, or -1
 * with "FILE:LINE: reason" in err. */
static int check_yaml(const char *name, const char *text, size_t len, char *err, size_t errlen) {
    yaml_parser_t p;
    yaml_event_t ev;
    long depth = 0, nodes = 0, anchors = 0, aliases = 0, docs = 0;
    int rc = 1;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (rc > 0) {
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(&p, name, err, errlen);
            rc = -1;
            break;
        }
        const yaml_char_t *anchor = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: rc = 0; break;
        case YAML_DOCUMENT_START_EVENT: docs++; break;
        case YAML_ALIAS_EVENT: aliases++; break;
        case YAML_SCALAR_EVENT: nodes++, anchor = ev.data.scalar.anchor; break;
        case YAML_SEQUENCE_START_EVENT: depth++, nodes++, anchor = ev.data.sequence_start.anchor; break;
        case YAML_MAPPING_START_EVENT: depth++, nodes++, anchor = ev.data.mapping_start.anchor; break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        default: break;
        }
        anchors += anchor != NULL;
        const char *why = NULL;
        int limit = 0;
        if (depth > CONFIG_MAX_DEPTH)
            why = "nested deeper than %d levels", limit = CONFIG_MAX_DEPTH;
        else if (nodes > CONFIG_MAX_NODES)
            why = "more than %d nodes (scalars, lists and maps)", limit = CONFIG_MAX_NODES;
        else if (anchors > CONFIG_MAX_ANCHORS)
            why = "more than %d anchors (&name)", limit = CONFIG_MAX_ANCHORS;
        else if (aliases > CONFIG_MAX_ALIASES)
            why = "more than %d aliases (*name)", limit = CONFIG_MAX_ALIASES;
        else if (docs > 1)
            why = "the configuration is one YAML document; a second one starts here";
        if (why) {
            int k = snprintf(err, errlen, "%s:%zu: ", name, ev.start_mark.line + 1);
            if (k >= 0 && (size_t)k < errlen) snprintf(err + k, errlen - (size_t)k, why, limit);
            rc = -1;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

struct config *config_load_string(const char *name, const char *text, size_t len, char *err,
                                  size_t errlen) {
    if (check_yaml(name, text, len, err, errlen) < 0) return NULL;
    struct loader l = {.name = name, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    int have_doc = 0;
    l.cfg = calloc(1, sizeof *l.cfg);
    if (!l.cfg) abort();
    l.cfg->path = xstrdup(name);
    apply_defaults(l.cfg, root_keys);
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &l.doc)) {
        syntax_error(&parser, name, err, errlen);
        goto err;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&l.doc);
    if (!root) {
        snprintf(err, errlen, "%s:1: the file is empty", name);
        goto err;
    }
    if (load_map(&l, root, root_keys, "", l.cfg) < 0) goto err;
    apply_env(l.cfg);
    struct config_spool *sp = &l.cfg->kafka.spool;
    if (sp->line && sp->segment_bytes > sp->max_bytes) {
        snprintf(err, errlen, "%s:%d: 'global.kafka.spool.segment_bytes' (%ld) is larger than "
                 "'global.kafka.spool.max_bytes' (%ld)", name, sp->line, sp->segment_bytes, sp->max_bytes);
        goto err;
    }
    if (!config_kafka_get(l.cfg, "bootstrap.servers")) {
        snprintf(err, errlen, "%s:%d: 'global.kafka.conf' has no 'bootstrap.servers' "
                 "(set it there or in the KAFKA_BROKER environment variable)", name,
                 l.cfg->kafka.line ? l.cfg->kafka.line : 1);
        goto err;
    }
    check_message_max(l.cfg);
    yaml_document_delete(&l.doc);
    yaml_parser_delete(&parser);
    return l.cfg;
err:
    if (have_doc) yaml_document_delete(&l.doc);
    yaml_parser_delete(&parser);
    config_free(l.cfg);
    return NULL;
}

static const char *file_kind(mode_t m) {
    return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
           : S_ISSOCK(m) ? "a socket" : "a special file";
}

/* Reads the regular file path, at most CONFIG_MAX_FILE bytes, into a buffer the caller frees.
 * O_NONBLOCK: a FIFO or a device is refused after fstat instead of blocking the start, or a
 * SIGHUP reload, on it. */
static char *read_config(const char *path, size_t *len, char *err, size_t errlen) {
    char *buf = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto err;
    }
    if (S_ISDIR(st.st_mode)) { /* open() succeeds on a directory; read() would fail */
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(EISDIR));
        goto err;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: cannot read: %s, not a regular file", path, file_kind(st.st_mode));
        goto err;
    }
    /* Refused from its size unread, and checked again while reading: it may grow meanwhile. */
    const off_t max = CONFIG_MAX_FILE;
    size_t cap = 0;
    *len = 0;
    while (st.st_size <= max && *len <= CONFIG_MAX_FILE) {
        if (*len == cap) {
            cap = cap ? cap * 2 : (size_t)st.st_size + 1; /* + 1: room to see the end at once */
            if (cap > CONFIG_MAX_FILE + 1) cap = CONFIG_MAX_FILE + 1;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
        ssize_t k = read(fd, buf + *len, cap - *len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
            goto err;
        }
        if (k == 0) break;
        *len += (size_t)k;
    }
    if (st.st_size > max || *len > CONFIG_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %u MiB, not a configuration file", path,
                 CONFIG_MAX_FILE >> 20);
        goto err;
    }
    close(fd);
    return buf;
err:
    close(fd);
    free(buf);
    return NULL;
}

struct config *config_load(const char *path, char *err, size_t errlen) {
    size_t len;
    char *buf = read_config(path, &len, err, errlen);
    if (!buf) return NULL;
    struct config *c = config_load_string(path, buf, len, err, errlen);
    free(buf);
    return c;
}

void config_free(struct config *c) {
    if (!c) return;
    free(c->path);
    for (size_t i = 0; i < c->nlisteners; i++) {
        free(c->listeners[i].address);
        free(c->listeners[i].tls.cert);
        free(c->listeners[i].tls.key);
        free(c->listeners[i].tls.ca);
    }
    free(c->listeners);
    for (size_t i = 0; i < c->kafka.nconf; i++) {
        free(c->kafka.conf[i].key);
        free(c->kafka.conf[i].value);
    }
    free(c->kafka.conf);
    free(c->kafka.topic);
    free(c->kafka.spool.path);
    free(c->kafka.dead_letter);
    free(c->statsd);
    free(c->status_address);
    for (size_t i = 0; i < c->nrules; i++) {
        struct config_rule *r = &c->rules[i];
        free(r->regex);
        free(r->jmespath);
        free(r->ignored_regex);
        for (size_t j = 0; j < r->nactions; j++) {
            free(r->actions[j].topic);
            free(r->actions[j].key);
            free(r->actions[j].template);
            json_decref(r->actions[j].json);
            for (size_t h = 0; h < r->actions[j].nheaders; h++) {
                free(r->actions[j].headers[h].name);
                free(r->actions[j].headers[h].value);
            }
            free(r->actions[j].headers);
        }
        free(r->actions);
    }
    free(c->rules);
    for (size_t i = 0; i < c->nwarnings; i++) free(c->warnings[i]);
    free(c->warnings);
    free(c);
}

static void walk_keys(const struct key *t, const char *parent,
                      void (*fn)(const struct config_key_doc *, void *), void *arg) {
    static const char *const tn[] = {"string", "integer", "map", "map", "map", "list", "map|list", "string"};
    for (const struct key *k = t; k->name; k++) {
        char full[128];
        snprintf(full, sizeof full, "%s%s%s", parent, *parent ? "." : "", k->name);
        /* kafka.buffer's "-1" is not a value: it leaves librdkafka's own default. */
        struct config_key_doc d = {
            .path = full, .parent = parent, .type = tn[k->type], .section = k->sub != NULL,
            .group = k->type == K_MAP, .required = k->required,
            .def = k->def && strcmp(k->def, "-1") ? k->def : NULL,
            .min = k->type == K_INT ? k->min : 0, .max = k->type == K_INT ? k->max : 0,
            .values = k->enumv, .help = k->help};
        fn(&d, arg);
        if (k->sub) walk_keys(k->sub, full, fn, arg);
    }
}

void config_foreach_key(void (*fn)(const struct config_key_doc *k, void *arg), void *arg) {
    walk_keys(root_keys, "", fn, arg);
}

static void print_key(const struct config_key_doc *k, void *arg) {
    if (k->group) return;
    char dflt[48] = "";
    if (k->required) snprintf(dflt, sizeof dflt, "required");
    else if (k->def) snprintf(dflt, sizeof dflt, "default %s", k->def);
    fprintf(arg, "  %-36s %-8s %-16s %s\n", k->path, k->type, dflt, k->help);
}

void config_print_keys(FILE *out) { config_foreach_key(print_key, out); }

static int str_differs(const char *a, const char *b) {
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

int config_needs_restart(const struct config *a, const struct config *b, char *what, size_t len) {
    if (a->nlisteners != b->nlisteners) {
        snprintf(what, len, "global.listen");
        return 1;
    }
    for (size_t i = 0; i < a->nlisteners; i++) {
        const struct config_listen *x = &a->listeners[i], *y = &b->listeners[i];
        const char *key = str_differs(x->address, y->address) ? "address"
                          : x->port != y->port ? "port"
                          : x->protocol != y->protocol ? "protocol"
                          : x->max_message_size != y->max_message_size ? "max_message_size"
                          : x->max_connections != y->max_connections ? "max_connections"
                          : x->idle_timeout_ms != y->idle_timeout_ms ? "idle_timeout_ms"
                          : x->handshake_timeout_ms != y->handshake_timeout_ms ? "handshake_timeout_ms"
                          : x->recv_buffer != y->recv_buffer ? "recv_buffer"
                          : x->backpressure != y->backpressure ? "backpressure"
                          : x->relp_max_pending != y->relp_max_pending ? "relp_max_pending"
                          : x->framing != y->framing ? "framing"
                          : str_differs(x->tls.cert, y->tls.cert) || str_differs(x->tls.key, y->tls.key) ||
                                    str_differs(x->tls.ca, y->tls.ca) || x->tls.verify != y->tls.verify
                              ? "tls"
                              : NULL;
        if (key) {
            snprintf(what, len, "global.listen[%zu].%s", i, key);
            return 1;
        }
    }
    const char *key = a->workers != b->workers ? "global.workers"
                      : a->max_buffered_bytes != b->max_buffered_bytes ? "global.max_buffered_bytes"
                      : a->kafka.buffer != b->kafka.buffer ? "global.kafka.buffer"
                      : a->kafka.timeout_ms != b->kafka.timeout_ms ? "global.kafka.timeout_ms"
                      : a->kafka.shutdown_timeout_ms != b->kafka.shutdown_timeout_ms ? "global.kafka.shutdown_timeout_ms"
                      : a->kafka.stall_timeout_ms != b->kafka.stall_timeout_ms ? "global.kafka.stall_timeout_ms"
                      : a->kafka.nconf != b->kafka.nconf ? "global.kafka.conf"
                      : str_differs(a->kafka.spool.path, b->kafka.spool.path) ||
                              a->kafka.spool.max_bytes != b->kafka.spool.max_bytes ||
                              a->kafka.spool.segment_bytes != b->kafka.spool.segment_bytes ||
                              a->kafka.spool.fsync != b->kafka.spool.fsync ||
                              a->kafka.spool.fsync_interval_ms != b->kafka.spool.fsync_interval_ms ||
                              a->kafka.spool.mode != b->kafka.spool.mode
                          ? "global.kafka.spool"
                      : str_differs(a->kafka.dead_letter, b->kafka.dead_letter) ? "global.kafka.dead_letter"
                      : str_differs(a->statsd, b->statsd) ? "global.metrics.statsd"
                      : a->statsd_interval_ms != b->statsd_interval_ms ? "global.metrics.interval_ms"
                      : str_differs(a->status_address, b->status_address) || a->status_port != b->status_port
                          ? "global.status"
                          : NULL;
    /* SASL credentials are the exception: a reload hands them to the running producer. */
    for (size_t i = 0; !key && i < a->kafka.nconf; i++)
        if (strcmp(a->kafka.conf[i].key, "sasl.username") && strcmp(a->kafka.conf[i].key, "sasl.password") &&
            str_differs(config_kafka_get(b, a->kafka.conf[i].key), a->kafka.conf[i].value))
            key = "global.kafka.conf";
    if (!key) return 0;
    snprintf(what, len, "%s", key);
    return 1;
}
