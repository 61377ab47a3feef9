/* config.h - loads hotdog.yml (the original hotdog's format) into a validated struct config. */
#ifndef HOTDOG_CONFIG_H
#define HOTDOG_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct config_kv {
    char *key, *value;
    int line;
};

/* PROTO_RELP: rsyslog's RELP (doc/relp-design.md); with a tls section, RELP over TLS from the
 * first byte (what omrelp's tls="on" speaks). */
enum config_protocol { PROTO_TCP, PROTO_TLS, PROTO_UDP, PROTO_RELP };
enum config_verify { VERIFY_NONE, VERIFY_OPTIONAL, VERIFY_REQUIRED };
/* The same order as frame.h's enum frame_mode, which the workers are handed. */
enum config_framing { FRAMING_AUTO, FRAMING_LF, FRAMING_OCTET };

struct config_tls {
    char *cert, *key, *ca;
    long verify; /* enum config_verify */
    int line;    /* 0 when no tls section: plaintext */
};

struct config_listen {
    char *address;
    long port;
    long protocol; /* enum config_protocol */
    struct config_tls tls;
    long max_message_size;
    long max_connections;
    long idle_timeout_ms;      /* 0: none */
    long handshake_timeout_ms;
    long recv_buffer;          /* UDP SO_RCVBUF in bytes */
    long backpressure;         /* 1: stop reading TCP/TLS while Kafka is full; 0: spool or drop */
    long framing;              /* enum config_framing (TCP and TLS) */
    long relp_max_pending;     /* RELP: stop reading a session with this many unanswered */
    int line;
};

/* Whether the listener's connections speak TLS: protocol tls, or relp with a tls section. */
static inline int config_listen_tls(const struct config_listen *l) {
    return l->protocol == PROTO_TLS || (l->protocol == PROTO_RELP && l->tls.line);
}

enum config_fsync { FSYNC_ALWAYS, FSYNC_INTERVAL, FSYNC_NEVER };
enum config_spool_mode { SPOOL_MODE_OVERFLOW, SPOOL_MODE_ALWAYS };

struct config_spool {
    char *path;
    long max_bytes, segment_bytes;
    long fsync; /* enum config_fsync */
    long fsync_interval_ms;
    long mode;  /* enum config_spool_mode */
    int line;   /* 0: no spool */
};

struct config_kafka {
    struct config_kv *conf; /* librdkafka properties, passed through verbatim */
    size_t nconf;
    char *topic;
    long buffer; /* -1: not set (librdkafka's own queue.buffering.max.messages) */
    long timeout_ms;
    long shutdown_timeout_ms;
    long stall_timeout_ms; /* warn, and fail /readyz, after this long with no delivery report */
    struct config_spool spool;
    char *dead_letter; /* JSON-lines file for messages that failed for good, or NULL */
    int line;
};

enum config_field { FIELD_MSG, FIELD_HOSTNAME, FIELD_APPNAME, FIELD_FACILITY, FIELD_SEVERITY,
                    FIELD_PROCID, FIELD_MSGID };
enum config_action_type { ACTION_FORWARD, ACTION_MERGE, ACTION_REPLACE, ACTION_STOP };
/* forward's format: raw sends the payload (the output buffer, or msg), json the whole parsed
 * message as one JSON object (format.h). */
enum config_format { FORMAT_RAW, FORMAT_JSON };
/* forward's timestamp: the Kafka record's time is when hotdog read the line, or the message's
 * own timestamp when it has one that can be read (else, still the receive time). */
enum config_timestamp { TIMESTAMP_RECEIVE, TIMESTAMP_MESSAGE };

/* One Kafka record header of a forward: a name and a template for its value. */
struct config_header {
    char *name;
    char *value;
    int line;
};

struct config_action {
    enum config_action_type type;
    char *topic;    /* forward: template, NULL = global.kafka.topic */
    char *key;      /* forward: template, NULL = no key */
    enum config_format format;       /* forward */
    enum config_timestamp timestamp; /* forward */
    struct config_header *headers;   /* forward: in the order written, names distinct */
    size_t nheaders;
    char *template; /* replace */
    json_t *json;   /* merge: the YAML value as JSON, string values are templates (owned).
                     * Usually an object; any other JSON type (array, string, number, true,
                     * false, null) is handed over as it is, as the original accepts it. */
    int line;
};

struct config_rule {
    enum config_field field;
    char *regex;    /* exactly one of regex and jmespath is set */
    char *jmespath;
    /* The regex of a rule that also has a jmespath: not used for matching (the original
     * hotdog checks jmespath first), kept because the original's -t prints it. Or NULL. */
    char *ignored_regex;
    struct config_action *actions;
    size_t nactions;
    int line;
    int matcher_line; /* line of the regex/jmespath key, for error messages */
};

/* global.template_escape, in the order of the config table's names. */
enum config_escape { CONFIG_ESCAPE_HTML, CONFIG_ESCAPE_NONE };

struct config {
    char *path;
    struct config_listen *listeners; /* at least one */
    size_t nlisteners;
    long workers; /* 0: one per core */
    long max_buffered_bytes; /* unfinished frames held by all connections together */
    long template_escape; /* enum config_escape: how {{variables}} are inserted */
    struct config_kafka kafka;
    char *statsd;  /* "host:port" or NULL */
    long statsd_interval_ms;
    char *status_address;
    long status_port; /* 0: no status server */
    struct config_rule *rules;
    size_t nrules;
    /* What the original hotdog accepts and we accept too, but that is probably a mistake:
     * each "FILE:LINE: message" naming the key. --check prints them; --strict refuses them. */
    char **warnings;
    size_t nwarnings;
};

/* A rule with neither regex nor jmespath never matches (as in the original): it is loaded
 * with this regex, which fails at once (anchored) and says why where the pattern is shown. */
#define CONFIG_NEVER_MATCHES "(?#no regex or jmespath: never matches)\\A(*FAIL)"

/* librdkafka's message.max.bytes when kafka.conf does not set it, and the most a record adds
 * to its key and value (RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD). */
#define CONFIG_KAFKA_MESSAGE_MAX_BYTES 1000000
#define CONFIG_KAFKA_RECORD_OVERHEAD 36

/* Loads and validates path. On error returns NULL and writes "FILE:LINE: message" naming the
 * key to err, or "FILE: reason" when the file cannot be read (not a regular file, larger than
 * 16 MiB). One YAML document, nested at most 100 levels, is accepted. Environment overrides
 * (KAFKA_BROKER, SASL_SCRAM_USERNAME, SASL_SCRAM_PASSWORD) are applied. The caller frees the
 * result with config_free. */
struct config *config_load(const char *path, char *err, size_t errlen);
/* Same, from a string (for tests and fuzzing); name is used in messages. */
struct config *config_load_string(const char *name, const char *text, size_t len, char *err,
                                  size_t errlen);
void config_free(struct config *c);

/* Compares what a reload cannot change while running (listeners, the Kafka producer, workers,
 * metrics and status): returns 1 and names the first differing key in what, or 0. */
int config_needs_restart(const struct config *running, const struct config *next, char *what,
                         size_t len);

/* Returns the value of librdkafka property key, or NULL. */
const char *config_kafka_get(const struct config *c, const char *key);

/* Prints every key with its type, default and meaning (for --help). */
void config_print_keys(FILE *out);

/* One row of the key table, as --help and doc/configuration.md show it. */
struct config_key_doc {
    const char *path;          /* "global.kafka.spool.fsync"; a rule's keys are "rules.regex" */
    const char *parent;        /* the section it is in: "global.kafka.spool"; "" at the top */
    const char *type;          /* "string", "integer", "map", "list" or "map|list" */
    int section;               /* keys whose parent is this path follow it */
    int group;                 /* a map that only holds the keys below (--help skips its row) */
    int required;              /* in its section: a listener, `spool`, `status`, a rule */
    const char *def;           /* the default as written, or NULL: none, or it depends on
                                * other keys (help says how) */
    long min, max;             /* integers: the accepted range; else 0, 0 */
    const char *const *values; /* the accepted values, NULL-terminated; else NULL */
    const char *help;
};

/* Calls fn for every row of the key table, depth first, in the order --help prints them.
 * The pointers in *k are valid during the call only. runs on: any thread. */
void config_foreach_key(void (*fn)(const struct config_key_doc *k, void *arg), void *arg);

const char *config_field_name(enum config_field f);

/* Adds a warning "FILE:LINE: message" to c->warnings (line 0: no line known). */
void config_warn(struct config *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
