/* test_config.c - unit tests for loading hotdog.yml: the original format, defaults, errors. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "rules.h"
#include "syslog.h"
#include "test.h"

static char err[1024];

static struct config *load(const char *yml) {
    err[0] = 0;
    return config_load_string("t.yml", yml, strlen(yml), err, sizeof err);
}

#define BASE                                   \
    "global:\n"                                \
    "  listen:\n"                              \
    "    address: '127.0.0.1'\n"               \
    "    port: 1514\n"                         \
    "  kafka:\n"                               \
    "    conf:\n"                              \
    "      bootstrap.servers: '127.0.0.1:9092'\n" \
    "    topic: 'logs'\n"

#define MERGE_JSON BASE "rules:\n  - regex: x\n    actions:\n      - type: merge\n        json: "

/* The original hotdog's example configuration, verbatim apart from the TLS files. */
static const char *original =
    "---\n"
    "global:\n"
    "  listen:\n"
    "    address: '127.0.0.1'\n"
    "    port: 1514\n"
    "    tls:\n"
    "  kafka:\n"
    "    conf:\n"
    "      bootstrap.servers: '127.0.0.1:9092'\n"
    "      compression.codec: 'lz4'\n"
    "      linger.ms: 5\n"
    "    topic: 'test'\n"
    "    buffer: 1024\n"
    "    timeout_ms: 30000\n"
    "  metrics:\n"
    "    statsd: 'localhost:8125'\n"
    "  status:\n"
    "    address: '127.0.0.1'\n"
    "    port: 8585\n"
    "rules:\n"
    "  - jmespath: 'meta.topic'\n"
    "    field: msg\n"
    "    actions:\n"
    "      - type: merge\n"
    "        json:\n"
    "          meta:\n"
    "            hotdog:\n"
    "              version: '{{version}}'\n"
    "              timestamp: '{{iso8601}}'\n"
    "              count: 3\n"
    "      - type: forward\n"
    "        topic: '{{value}}'\n"
    "  - regex: '^hello\\s+(?P<name>\\w+)?'\n"
    "    field: msg\n"
    "    actions:\n"
    "      - type: replace\n"
    "        template: |\n"
    "          This is the total message: {{msg}}\n"
    "      - type: forward\n"
    "        topic: 'foo'\n"
    "      - type: stop\n";

TEST(loads_the_original_format) {
    struct config *c = load(original);
    if (!c) fprintf(stderr, "  %s\n", err);
    ASSERT(c != NULL);
    ASSERT_EQ_STR(c->listeners[0].address, "127.0.0.1");
    ASSERT_EQ_INT(c->listeners[0].port, 1514);
    ASSERT_EQ_INT(c->listeners[0].tls.line, 0); /* empty tls: plaintext */
    ASSERT_EQ_STR(c->kafka.topic, "test");
    ASSERT_EQ_INT(c->kafka.buffer, 1024);
    ASSERT_EQ_INT(c->kafka.timeout_ms, 30000);
    ASSERT_EQ_STR(config_kafka_get(c, "compression.codec"), "lz4");
    ASSERT_EQ_STR(config_kafka_get(c, "linger.ms"), "5"); /* numbers pass through as text */
    ASSERT_EQ_STR(c->statsd, "localhost:8125");
    ASSERT_EQ_STR(c->status_address, "127.0.0.1");
    ASSERT_EQ_INT(c->status_port, 8585);
    ASSERT_EQ_INT(c->nrules, 2);
    ASSERT_EQ_STR(c->rules[0].jmespath, "meta.topic");
    ASSERT_EQ_INT(c->rules[0].field, FIELD_MSG);
    ASSERT_EQ_INT(c->rules[0].nactions, 2);
    ASSERT_EQ_INT(c->rules[0].actions[0].type, ACTION_MERGE);
    char *js = json_dumps(c->rules[0].actions[0].json, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT_EQ_STR(js, "{\"meta\":{\"hotdog\":{\"count\":3,\"timestamp\":\"{{iso8601}}\","
                      "\"version\":\"{{version}}\"}}}");
    free(js);
    ASSERT_EQ_STR(c->rules[0].actions[1].topic, "{{value}}");
    ASSERT_EQ_STR(c->rules[1].regex, "^hello\\s+(?P<name>\\w+)?");
    ASSERT_EQ_STR(c->rules[1].actions[0].template, "This is the total message: {{msg}}\n");
    ASSERT_EQ_INT(c->rules[1].actions[2].type, ACTION_STOP);
    struct rules *r = rules_new(c, NULL, err, sizeof err);
    if (!r) fprintf(stderr, "  %s\n", err);
    ASSERT(r != NULL);
    rules_free(r);
    config_free(c);
}

TEST(defaults) {
    struct config *c = load(BASE);
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->listeners[0].max_message_size, 999000);
    ASSERT_EQ_INT(c->listeners[0].framing, FRAMING_AUTO);
    ASSERT_EQ_INT(c->nwarnings, 0); /* the defaults fit librdkafka's message.max.bytes */
    ASSERT_EQ_INT(c->kafka.timeout_ms, 30000);
    ASSERT_EQ_INT(c->kafka.shutdown_timeout_ms, 10000);
    ASSERT_EQ_INT(c->kafka.buffer, -1);
    ASSERT_EQ_INT(c->workers, 0);
    ASSERT_EQ_INT(c->status_port, 0);
    ASSERT(c->statsd == NULL);
    ASSERT_EQ_INT(c->nrules, 0);
    config_free(c);
}

TEST(spool_dead_letter_and_backpressure) {
    struct config *c = load(BASE);
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->kafka.spool.line, 0); /* no spool unless configured */
    ASSERT(c->kafka.dead_letter == NULL);
    ASSERT_EQ_INT(c->listeners[0].backpressure, 1);
    config_free(c);
    c = load(BASE "    spool:\n      path: /var/lib/hotdog/spool\n"
                  "    dead_letter: /var/lib/hotdog/dl.jsonl\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->kafka.spool.line, 10); /* the section's first key */
    ASSERT_EQ_STR(c->kafka.spool.path, "/var/lib/hotdog/spool");
    ASSERT_EQ_INT(c->kafka.spool.max_bytes, 1073741824);
    ASSERT_EQ_INT(c->kafka.spool.segment_bytes, 8388608);
    ASSERT_EQ_INT(c->kafka.spool.fsync, FSYNC_INTERVAL);
    ASSERT_EQ_INT(c->kafka.spool.fsync_interval_ms, 1000);
    ASSERT_EQ_INT(c->kafka.spool.mode, SPOOL_MODE_OVERFLOW);
    ASSERT_EQ_STR(c->kafka.dead_letter, "/var/lib/hotdog/dl.jsonl");
    config_free(c);
    c = load(BASE "    spool: {path: s, max_bytes: 2097152, segment_bytes: 65536, fsync: always, mode: always}\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->kafka.spool.fsync, FSYNC_ALWAYS);
    ASSERT_EQ_INT(c->kafka.spool.mode, SPOOL_MODE_ALWAYS);
    ASSERT_EQ_INT(c->kafka.spool.max_bytes, 2097152);
    config_free(c);
    ASSERT(load(BASE "    spool: {max_bytes: 2097152}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:9: missing required key 'global.kafka.spool.path'");
    ASSERT(load(BASE "    spool: {path: s, fsync: sometimes}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:9: 'global.kafka.spool.fsync' must be one of always, interval, never (got 'sometimes')");
    ASSERT(load(BASE "    spool: {path: s, max_bytes: 2097152, segment_bytes: 4194304}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:9: 'global.kafka.spool.segment_bytes' (4194304) is larger than "
                       "'global.kafka.spool.max_bytes' (2097152)");
    c = load("global:\n  listen:\n    - {address: a, port: 1, backpressure: false}\n"
             "    - {address: a, port: 2, backpressure: true}\n"
             "  kafka: {topic: t, conf: {bootstrap.servers: b}}\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->listeners[0].backpressure, 0);
    ASSERT_EQ_INT(c->listeners[1].backpressure, 1);
    config_free(c);
    ASSERT(load("global:\n  listen: {address: a, port: 1, backpressure: maybe}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:2: 'global.listen.backpressure' must be one of false, true (got 'maybe')");
}

TEST(tls_false_and_tls_map) {
    struct config *c = load(BASE "    max_message_size: 1024\n");
    ASSERT(c != NULL); /* max_message_size belongs to listen, not kafka: ignored, said */
    ASSERT_EQ_INT(c->nwarnings, 1);
    ASSERT_EQ_STR(c->warnings[0], "t.yml:9: unknown key 'global.kafka.max_message_size' ignored");
    ASSERT_EQ_INT(c->listeners[0].max_message_size, 999000);
    config_free(c);
    c = load("global:\n  listen:\n    address: '::1'\n    port: 1\n    tls: false\n"
             "  kafka: {conf: {bootstrap.servers: x}, topic: t}\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->listeners[0].tls.line, 0);
    config_free(c);
    c = load("global:\n  listen:\n    address: '::1'\n    port: 1\n    tls:\n      cert: c.pem\n"
             "      key: k.pem\n  kafka: {conf: {bootstrap.servers: x}, topic: t}\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->listeners[0].tls.line, 5);
    ASSERT_EQ_STR(c->listeners[0].tls.cert, "c.pem");
    config_free(c);
}

TEST(listen_as_a_list_with_protocols_and_limits) {
    struct config *c = load("global:\n"
                            "  listen:\n"
                            "    - {address: 0.0.0.0, port: 514, protocol: udp, recv_buffer: 1048576}\n"
                            "    - {address: '::', port: 1514, max_connections: 5, idle_timeout_ms: 60000}\n"
                            "    - address: 127.0.0.1\n"
                            "      port: 6514\n"
                            "      handshake_timeout_ms: 2000\n"
                            "      tls: {cert: c.pem, key: k.pem, ca: ca.pem, verify: required}\n"
                            "    - address: 127.0.0.1\n"
                            "      port: 6515\n"
                            "      tls: {cert: c.pem, key: k.pem, ca: ca.pem}\n"
                            "  kafka: {conf: {bootstrap.servers: b}, topic: t}\n");
    if (!c) fprintf(stderr, "  %s\n", err);
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->nlisteners, 4);
    ASSERT_EQ_INT(c->listeners[0].protocol, PROTO_UDP);
    ASSERT_EQ_INT(c->listeners[0].recv_buffer, 1048576);
    ASSERT_EQ_INT(c->listeners[1].protocol, PROTO_TCP);
    ASSERT_EQ_INT(c->listeners[1].max_connections, 5);
    ASSERT_EQ_INT(c->listeners[1].idle_timeout_ms, 60000);
    ASSERT_EQ_INT(c->listeners[2].protocol, PROTO_TLS); /* implied by the tls section */
    ASSERT_EQ_INT(c->listeners[2].tls.verify, VERIFY_REQUIRED);
    ASSERT_EQ_INT(c->listeners[2].handshake_timeout_ms, 2000);
    ASSERT_EQ_INT(c->listeners[3].tls.verify, VERIFY_OPTIONAL); /* default with a ca */
    ASSERT_EQ_INT(c->listeners[3].max_connections, 10000);    /* defaults per listener */
    ASSERT_EQ_INT(c->listeners[3].handshake_timeout_ms, 10000);
    ASSERT_EQ_INT(c->listeners[0].tls.verify, VERIFY_NONE);
    config_free(c);
}

TEST(relp_listeners_plain_and_over_tls) {
    struct config *c = load("global:\n"
                            "  listen:\n"
                            "    - {address: 127.0.0.1, port: 2514, protocol: relp}\n"
                            "    - address: 127.0.0.1\n"
                            "      port: 2515\n"
                            "      protocol: relp\n"
                            "      relp_max_pending: 4096\n"
                            "      tls: {cert: c.pem, key: k.pem}\n"
                            "    - {address: 127.0.0.1, port: 2516, tls: {cert: c.pem, key: k.pem}}\n"
                            "    - {address: 127.0.0.1, port: 2517}\n"
                            "  kafka: {conf: {bootstrap.servers: b}, topic: t}\n");
    if (!c) fprintf(stderr, "  %s\n", err);
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->listeners[0].protocol, PROTO_RELP);
    ASSERT_EQ_INT(c->listeners[0].relp_max_pending, 8192); /* the default */
    ASSERT_EQ_INT(c->listeners[0].backpressure, 1);
    ASSERT(!config_listen_tls(&c->listeners[0]));
    ASSERT_EQ_INT(c->listeners[1].protocol, PROTO_RELP); /* a tls section does not make it tls */
    ASSERT_EQ_INT(c->listeners[1].relp_max_pending, 4096);
    ASSERT(config_listen_tls(&c->listeners[1]));
    ASSERT(config_listen_tls(&c->listeners[2]));
    ASSERT(!config_listen_tls(&c->listeners[3]));
    config_free(c);
    ASSERT(load("global:\n  listen: {address: a, port: 1, protocol: relp, backpressure: false}\n"
                "  kafka: {conf: {bootstrap.servers: b}, topic: t}\n") == NULL);
    ASSERT(strstr(err, "'global.listen.backpressure' is false but 'global.listen.protocol' is relp") != NULL);
    ASSERT(load("global:\n  listen: {address: a, port: 1, protocol: relp, relp_max_pending: 0}\n"
                "  kafka: {conf: {bootstrap.servers: b}, topic: t}\n") == NULL);
}

TEST(listener_errors) {
    ASSERT(load("global:\n  listen:\n    - {address: a, port: 1, protocol: tls}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:3: 'global.listen[0].protocol' is tls but there is no "
                       "'global.listen[0].tls' section with cert and key");
    ASSERT(load("global:\n  listen:\n    address: a\n    port: 1\n    protocol: udp\n"
                "    tls: {cert: c, key: k}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:3: 'global.listen.tls' is set but 'global.listen.protocol' is udp");
    ASSERT(load("global:\n  listen: {address: a, port: 1, protocol: sctp}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:2: 'global.listen.protocol' must be one of tcp, tls, udp, relp (got 'sctp')");
    ASSERT(load("global:\n  listen:\n    address: a\n    port: 1\n"
                "    tls: {cert: c, key: k, verify: required}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:3: 'global.listen.tls.verify' is required but 'global.listen.tls.ca' is not set");
    ASSERT(load("global:\n  listen: []\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:2: 'global.listen' needs at least one listener");
    ASSERT(load("global:\n  listen:\n    - {address: a}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:3: missing required key 'global.listen[0].port'");
    ASSERT(load("global:\n  listen:\n    - {address: a, port: 1, max_connections: 0}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:3: 'global.listen[0].max_connections' must be between 1 and 10000000 (got 0)");
}

/* The original hotdog (serde) ignores keys it does not know, so configs written for it may
 * carry some: start, and warn with file, line and key. */
TEST(unknown_key_is_a_warning_with_file_line_and_key) {
    struct config *c = load(BASE "    linger: 5\n"
                            "rulez: []\n"
                            "rules:\n  - regex: a\n    comment: hi\n    actions:\n"
                            "      - {type: stop, topic: x}\n"
                            "      - {type: merge, json: {a: 1}, key: k}\n");
    if (!c) fprintf(stderr, "  %s\n", err);
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->nwarnings, 5);
    ASSERT_EQ_STR(c->warnings[0], "t.yml:9: unknown key 'global.kafka.linger' ignored");
    ASSERT_EQ_STR(c->warnings[1], "t.yml:10: unknown key 'rulez' ignored");
    ASSERT_EQ_STR(c->warnings[2], "t.yml:13: unknown key 'rules[0].comment' ignored");
    ASSERT_EQ_STR(c->warnings[3], "t.yml:15: unknown key 'rules[0].actions[0].topic' for a stop action ignored");
    ASSERT_EQ_STR(c->warnings[4], "t.yml:16: unknown key 'rules[0].actions[1].key' for a merge action ignored");
    ASSERT(c->rules[0].actions[0].topic == NULL);
    ASSERT(c->rules[0].actions[1].key == NULL);
    config_free(c);
}

TEST(framing_key) {
    struct config *c = load("global:\n  listen:\n    - {address: a, port: 1, framing: lf}\n"
                            "    - {address: a, port: 2, framing: octet}\n    - {address: a, port: 3}\n"
                            "  kafka: {topic: t, conf: {bootstrap.servers: b}}\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->listeners[0].framing, FRAMING_LF);
    ASSERT_EQ_INT(c->listeners[1].framing, FRAMING_OCTET);
    ASSERT_EQ_INT(c->listeners[2].framing, FRAMING_AUTO);
    config_free(c);
    ASSERT(load("global:\n  listen: {address: a, port: 1, framing: cr}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:2: 'global.listen.framing' must be one of auto, lf, octet (got 'cr')");
}

TEST(framing_change_needs_a_restart) {
    struct config *a = load(BASE), *b = load(BASE "    comment: x\n");
    ASSERT(a != NULL && b != NULL);
    char what[128] = "";
    ASSERT_EQ_INT(config_needs_restart(a, b, what, sizeof what), 0);
    config_free(b);
    b = load("global:\n  listen: {address: '127.0.0.1', port: 1514, framing: lf}\n"
             "  kafka: {conf: {bootstrap.servers: '127.0.0.1:9092'}, topic: logs}\n");
    ASSERT(b != NULL);
    ASSERT_EQ_INT(config_needs_restart(a, b, what, sizeof what), 1);
    ASSERT_EQ_STR(what, "global.listen[0].framing");
    config_free(a);
    config_free(b);
}

TEST(max_message_size_over_what_kafka_takes_is_a_warning) {
    struct config *c = load("global:\n  listen:\n    address: a\n    port: 1\n"
                            "    max_message_size: 2000000\n"
                            "  kafka: {topic: t, conf: {bootstrap.servers: b}}\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->nwarnings, 1);
    ASSERT(strstr(c->warnings[0], "t.yml:3: 'global.listen.max_message_size' (2000000) is more than "
                  "the producer can send: message.max.bytes is 1000000 (librdkafka's default)") ==
           c->warnings[0]);
    config_free(c);
    /* Raised in kafka.conf: no warning. The record overhead counts: 36 bytes. */
    c = load("global:\n  listen: {address: a, port: 1, max_message_size: 2000000}\n"
             "  kafka: {topic: t, conf: {bootstrap.servers: b, message.max.bytes: 2000036}}\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->nwarnings, 0);
    config_free(c);
    c = load("global:\n  listen:\n    - {address: a, port: 1}\n"
             "    - {address: a, port: 2, max_message_size: 2000000, protocol: udp}\n"
             "  kafka: {topic: t, conf: {bootstrap.servers: b, message.max.bytes: 65000}}\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->nwarnings, 2); /* UDP counts as its largest datagram, 65507 */
    ASSERT(strstr(c->warnings[1], "t.yml:4: 'global.listen[1].max_message_size' (65507) is more") ==
           c->warnings[1]);
    config_free(c);
}

/* The original checks jmespath first; a rule with neither never matches. Both start. */
TEST(both_matchers_use_jmespath_and_none_never_matches) {
    struct config *c = load(BASE "rules:\n  - regex: a\n    jmespath: b\n    actions: []\n"
                            "  - field: msg\n    actions: [{type: forward}]\n");
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->nwarnings, 2);
    ASSERT_EQ_STR(c->warnings[0], "t.yml:10: 'rules[0]' has both regex (line 10) and jmespath "
                                  "(line 11): only jmespath is used, as in the original hotdog");
    ASSERT_EQ_STR(c->warnings[1], "t.yml:13: 'rules[1]' has neither regex nor jmespath: it never matches");
    ASSERT(c->rules[0].regex == NULL);
    ASSERT_EQ_STR(c->rules[0].jmespath, "b");
    ASSERT_EQ_STR(c->rules[0].ignored_regex, "a");
    ASSERT_EQ_INT(c->rules[0].matcher_line, 11);
    ASSERT_EQ_STR(c->rules[1].regex, CONFIG_NEVER_MATCHES);
    struct rules *r = rules_new(c, NULL, err, sizeof err);
    if (!r) fprintf(stderr, "  %s\n", err);
    ASSERT(r != NULL);
    struct syslog_msg m;
    const char *line = "{\"b\": 1} a";
    syslog_parse(line, strlen(line), &m);
    ASSERT_EQ_INT(rules_matches(r, 1, &m), 0);
    line = "a";
    syslog_parse(line, 1, &m);
    ASSERT_EQ_INT(rules_matches(r, 0, &m), 0); /* the regex would match: it is not used */
    ASSERT_EQ_INT(rules_matches(r, 1, &m), 0);
    line = "{\"b\": 1}";
    syslog_parse(line, strlen(line), &m);
    ASSERT_EQ_INT(rules_matches(r, 0, &m), 1);
    rules_free(r);
    config_free(c);
}

/* As in the original, `json:` may be any value; rules.c decides what merging it does. */
TEST(merge_json_may_be_any_value) {
    static const char *const v[] = {"[1, two]", "hello", "42", "true", "~"};
    static const int types[] = {JSON_ARRAY, JSON_STRING, JSON_INTEGER, JSON_TRUE, JSON_NULL};
    for (int i = 0; i < 5; i++) {
        char yml[512];
        snprintf(yml, sizeof yml, BASE "rules:\n  - regex: a\n    actions:\n"
                 "      - type: merge\n        json: %s\n", v[i]);
        struct config *c = load(yml);
        if (!c) fprintf(stderr, "  %s\n", err);
        ASSERT(c != NULL);
        ASSERT_EQ_INT(c->nwarnings, 0);
        ASSERT_EQ_INT(json_typeof(c->rules[0].actions[0].json), types[i]);
        config_free(c);
    }
}

TEST(wrong_type) {
    ASSERT(load("global:\n  listen:\n    address: a\n    port: http\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:4: 'global.listen.port' must be an integer (got 'http')");
    ASSERT(load("global:\n  listen:\n    address: a\n    port: 70000\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:4: 'global.listen.port' must be between 1 and 65535 (got 70000)");
    ASSERT(load("global:\n  listen:\n    address: [a]\n    port: 1\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:3: 'global.listen.address' must be a string");
    ASSERT(load(BASE "    timeout_ms: {a: 1}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:9: 'global.kafka.timeout_ms' must be an integer");
}

TEST(missing_required_key) {
    ASSERT(load("global:\n  listen:\n    address: a\n    port: 1\n"
                "  kafka:\n    conf: {bootstrap.servers: b}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:6: missing required key 'global.kafka.topic'");
    ASSERT(load("global:\n  listen:\n    port: 1\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:3: missing required key 'global.listen.address'");
    ASSERT(load("rules: []\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:1: missing required key 'global'");
    ASSERT(load("global:\n  listen: {address: a, port: 1}\n  kafka:\n    topic: t\n") == NULL);
    ASSERT(strstr(err, "t.yml:4: 'global.kafka.conf' has no 'bootstrap.servers'") == err);
}

TEST(env_overrides) {
    setenv("KAFKA_BROKER", "k1:9092,k2:9092", 1);
    setenv("SASL_SCRAM_USERNAME", "alice", 1);
    setenv("SASL_SCRAM_PASSWORD", "s3cret", 1);
    struct config *c = load(BASE);
    unsetenv("KAFKA_BROKER");
    unsetenv("SASL_SCRAM_USERNAME");
    unsetenv("SASL_SCRAM_PASSWORD");
    ASSERT(c != NULL);
    ASSERT_EQ_STR(config_kafka_get(c, "bootstrap.servers"), "k1:9092,k2:9092");
    ASSERT_EQ_STR(config_kafka_get(c, "sasl.username"), "alice");
    ASSERT_EQ_STR(config_kafka_get(c, "sasl.password"), "s3cret");
    config_free(c);
    /* KAFKA_BROKER alone is enough when the file has no bootstrap.servers. */
    setenv("KAFKA_BROKER", "k3:9092", 1);
    c = load("global:\n  listen: {address: a, port: 1}\n  kafka: {topic: t}\n");
    unsetenv("KAFKA_BROKER");
    ASSERT(c != NULL);
    ASSERT_EQ_STR(config_kafka_get(c, "bootstrap.servers"), "k3:9092");
    config_free(c);
}

TEST(rule_errors) {
    ASSERT(load(BASE "rules:\n  - regex: a\n    field: body\n    actions: []\n") == NULL);
    ASSERT(strstr(err, "t.yml:11: 'rules[0].field': unknown field 'body'") == err);
    ASSERT(load(BASE "rules:\n  - regex: a\n    actions:\n      - type: drop\n") == NULL);
    ASSERT(strstr(err, "t.yml:12: 'rules[0].actions[0].type': unknown action 'drop'") == err);
    ASSERT(load(BASE "rules:\n  - regex: a\n    actions:\n      - type: replace\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:12: missing required key 'rules[0].actions[0].template' for a replace action");
    ASSERT(load(BASE "rules:\n  - regex: a\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:10: missing required key 'rules[0].actions'");
}

TEST(duplicate_keys_in_rules_and_actions) {
    /* Found by fuzz_config: the second value silently replaced (and leaked) the first. */
    ASSERT(load(BASE "rules:\n  - regex: a\n    actions:\n      - type: forward\n"
                "        topic: x\n        topic: y\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:14: duplicate key 'rules[0].actions[0].topic'");
    ASSERT(load(BASE "rules:\n  - regex: a\n    field: msg\n    field: hostname\n"
                "    actions: []\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:12: duplicate key 'rules[0].field'");
    ASSERT(load(BASE "rules:\n  - regex: a\n    actions: []\n    actions: []\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:12: duplicate key 'rules[0].actions'");
    ASSERT(load(BASE "rules:\n  - regex: a\n    actions:\n      - type: merge\n"
                "        json: {a: 1}\n        json: {b: 2}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:14: duplicate key 'rules[0].actions[0].json'");
}

TEST(bad_regex_names_line) {
    struct config *c = load(BASE "rules:\n  - regex: 'a(b'\n    actions:\n      - type: stop\n");
    ASSERT(c != NULL);
    ASSERT(rules_new(c, NULL, err, sizeof err) == NULL);
    ASSERT(strstr(err, "t.yml:10: 'rules[0].regex': missing closing parenthesis") == err);
    config_free(c);
    /* A pattern with \w is translated to Rust's word class before PCRE2 compiles it; an
     * error's offset is still the one in what the config says. */
    c = load(BASE "rules:\n  - regex: '\\w+(abc'\n    actions:\n      - type: stop\n");
    ASSERT(c != NULL);
    ASSERT(rules_new(c, NULL, err, sizeof err) == NULL);
    ASSERT_EQ_STR(err, "t.yml:10: 'rules[0].regex': missing closing parenthesis at offset 7");
    config_free(c);
}

TEST(bad_jmespath_names_line) {
    struct config *c = load(BASE "rules:\n  - field: msg\n    jmespath: 'meta.[['\n"
                                 "    actions:\n      - type: stop\n");
    ASSERT(c != NULL);
    ASSERT(rules_new(c, NULL, err, sizeof err) == NULL);
    ASSERT(strstr(err, "t.yml:11: 'rules[0].jmespath': ") == err);
    config_free(c);
}

TEST(yaml_syntax_error_has_line) {
    ASSERT(load("global:\n  listen:\n    address: 'a\n    port: 1\n") == NULL);
    ASSERT(strstr(err, "t.yml:") == err);
    ASSERT(strstr(err, "YAML syntax error") != NULL);
    ASSERT(load("") == NULL);
    ASSERT_EQ_STR(err, "t.yml:1: the file is empty");
}

TEST(alias_bomb_is_refused) {
    /* Each anchor holds two references to the previous one: walking l29 naively would
     * visit 2^30 nodes, although the document is tiny. */
    char yml[8192];
    int n = snprintf(yml, sizeof yml, BASE "rules:\n  - regex: x\n    actions:\n"
                     "      - type: merge\n        json:\n          l0: &a0 [x, x]\n");
    for (int i = 1; i < 30; i++)
        n += snprintf(yml + n, sizeof yml - (size_t)n, "          l%d: &a%d [*a%d, *a%d]\n", i,
                      i, i - 1, i - 1);
    ASSERT(load(yml) == NULL);
    ASSERT_EQ_STR(err, "t.yml:14: 'rules[0].actions[0].json' is too large (more than 100000 nodes, "
                       "aliases expanded)");
}

TEST(merge_json_errors_say_why) {
    /* An anchor whose value holds an alias of itself is a cycle: walked as deep as allowed. */
    ASSERT(load(MERGE_JSON "&j {a: [1, {b: *j}]}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:13: 'rules[0].actions[0].json' nests deeper than 64 levels (an alias of itself?)");
    ASSERT(load(MERGE_JSON "{a: {[k]: 1}}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:13: 'rules[0].actions[0].json' has a non-string key");
    /* Found by fuzz_config: jansson refuses an infinite real, and the error said nothing. */
    ASSERT(load(MERGE_JSON "{a: [1, 1E6000]}\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:13: 'rules[0].actions[0].json': 1E6000 is not a finite number "
                       "(quote it for a string)");
    struct config *c = load(MERGE_JSON "{a: '1E6000', b: 2.5e3, c: nan, d: -Infinity}\n");
    ASSERT(c != NULL);
    char *js = json_dumps(c->rules[0].actions[0].json, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT_EQ_STR(js, "{\"a\":\"1E6000\",\"b\":2500.0,\"c\":\"nan\",\"d\":\"-Infinity\"}");
    free(js);
    config_free(c);
}

/* Every test below that builds a large input keeps it within config_load's 16 MiB cap: what
 * the file reader accepts must be refused or loaded quickly by the YAML loader too. */
static char *big;
static size_t bign;

static void big_put(const char *s, size_t times) {
    size_t k = strlen(s);
    char *nb = realloc(big, bign + k * times + 1);
    if (!nb) abort();
    big = nb;
    for (size_t i = 0; i < times; i++, bign += k) memcpy(big + bign, s, k);
    big[bign] = 0;
}

static struct config *load_big(void) {
    err[0] = 0;
    struct config *c = config_load_string("t.yml", big, bign, err, sizeof err);
    free(big);
    big = NULL;
    bign = 0;
    return c;
}

/* head, then rep repeated times times, is refused with the error want. */
static void refused(const char *head, const char *rep, size_t times, const char *want) {
    big_put(head, 1);
    big_put(rep, times);
    ASSERT(load_big() == NULL);
    ASSERT_EQ_STR(err, want);
}

/* libyaml's scanner costs the square of the flow nesting: 100,000 '[' took 10 s (68 s in the
 * issue's run) before its own error. A first pass over libyaml's events stops at level 101. */
TEST(deep_flow_nesting_is_refused_at_its_line) {
    static const char *const open[] = {"[", "{", "[{a: ", "[\n", "{? "};
    static const int line[] = {13, 13, 13, 108, 13}; /* level 6 is the first "[" */
    for (int i = 0; i < 5; i++) {
        char want[128];
        snprintf(want, sizeof want, "t.yml:%d: nested deeper than 100 levels", line[i]);
        refused(MERGE_JSON, open[i], 100000, want);
    }
    /* 16 MiB of '[' is refused as soon. */
    refused(MERGE_JSON, "[", (16u << 20) - 200, "t.yml:13: nested deeper than 100 levels");
}

TEST(deep_block_nesting_is_refused_at_its_line) {
    /* "- - - ..." and "? ? ? ..." nest without indentation: 8 million levels in 16 MiB took
     * 7 s and 2.6 GB, and loaded (under an unknown key). */
    refused(BASE "x:\n", "- ", 100000, "t.yml:10: nested deeper than 100 levels");
    refused(BASE "x:\n", "? ", 100000, "t.yml:10: nested deeper than 100 levels");
    /* By indentation: the map at level L (the root map is level 1) starts on line 8 + L. */
    big_put(BASE "x:\n", 1);
    for (int d = 1; d < 200; d++) {
        big_put(" ", (size_t)d);
        big_put("a:\n", 1);
    }
    ASSERT(load_big() == NULL);
    ASSERT_EQ_STR(err, "t.yml:109: nested deeper than 100 levels");
}

/* hotdog's schema needs 5 levels above a merge action's json, which may nest 65 more (to_json's
 * limit): everything that loaded before still does; level 101 is the first refused. */
TEST(nesting_up_to_the_limit_loads) {
    big_put(MERGE_JSON, 1);
    big_put("[", 65);
    big_put("]", 65);
    big_put("\n", 1);
    struct config *c = load_big();
    if (!c) fprintf(stderr, "  %s\n", err);
    ASSERT(c != NULL);
    config_free(c);
    big_put(BASE "x: ", 1); /* an unknown key: the root map and 99 lists */
    big_put("[", 99);
    big_put("]", 99);
    c = load_big();
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->nwarnings, 1);
    config_free(c);
    refused(BASE "x: ", "[", 100, "t.yml:9: nested deeper than 100 levels");
}

/* Brackets in strings, block scalars, comments and plain scalars are text, not nesting. */
TEST(brackets_in_text_do_not_count) {
    static const char *const pre[] = {MERGE_JSON "\"", MERGE_JSON "'", BASE "# ",
                                      BASE "rules:\n  - regex: a"};
    static const char *const post[] = {"\"\n", "'\n", "\n", "\n    actions: [{type: stop}]\n"};
    for (int i = 0; i < 4; i++) {
        big_put(pre[i], 1);
        big_put(i == 3 ? "[" : "[{", 1000000);
        big_put(post[i], 1);
        struct config *c = load_big();
        if (!c) fprintf(stderr, "  case %d: %s\n", i, err);
        ASSERT(c != NULL);
        config_free(c);
    }
    big_put(MERGE_JSON "|\n", 1);
    big_put("          [[[[{{{{\n", 100000);
    struct config *c = load_big();
    ASSERT(c != NULL);
    ASSERT_EQ_INT(strlen(json_string_value(c->rules[0].actions[0].json)), 900000);
    config_free(c);
}

/* 16 MiB of "a," made 8 million nodes: 1.3 GB; of "- &aN x", 1.4 million anchors, which
 * libyaml's loader compares pairwise: more than 30 s. */
TEST(node_anchor_and_alias_counts_are_bounded) {
    refused(BASE "x: [", "a, ", 100001, "t.yml:9: more than 100000 nodes (scalars, lists and maps)");
    big_put(BASE "x:\n", 1);
    char a[32];
    for (int i = 0; i <= 1000; i++) {
        snprintf(a, sizeof a, "- &a%d x\n", i);
        big_put(a, 1);
    }
    ASSERT(load_big() == NULL);
    ASSERT_EQ_STR(err, "t.yml:1010: more than 1000 anchors (&name)");
    refused(BASE "x: &a x\ny:\n", "- *a\n", 10001, "t.yml:10011: more than 10000 aliases (*name)");
    /* Within the bounds, anchors and aliases work. */
    big_put(BASE "rules:\n  - regex: x\n    actions: &acts [{type: stop}]\n"
                 "  - regex: y\n    actions: *acts\n", 1);
    struct config *c = load_big();
    ASSERT(c != NULL);
    ASSERT_EQ_INT(c->nrules, 2);
    ASSERT_EQ_INT(c->rules[1].actions[0].type, ACTION_STOP);
    config_free(c);
}

/* The original hotdog refuses a file of two documents ("Got 2 YAML documents, expected 1"),
 * even when the second is empty; we used to load the first and ignore the rest. */
TEST(a_second_document_is_refused_at_its_line) {
    ASSERT(load(BASE "---\nrules:\n  - regex: a\n    actions: [{type: stop}]\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:9: the configuration is one YAML document; a second one starts here");
    ASSERT(load("---\n" BASE "--- # nothing more\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:10: the configuration is one YAML document; a second one starts here");
    ASSERT(load(BASE "...\n---\n") == NULL);
    ASSERT_EQ_STR(err, "t.yml:10: the configuration is one YAML document; a second one starts here");
    /* A leading "---" (as in the original's example) and a closing "..." are one document. */
    struct config *c = load("---\n" BASE "...\n");
    ASSERT(c != NULL);
    config_free(c);
    /* A syntax error after the first document is found, not ignored. */
    ASSERT(load(BASE "...\n]\n") == NULL);
    ASSERT(strstr(err, "t.yml:10: YAML syntax error") == err);
}

static char tmpdir[] = "/tmp/test_config.XXXXXX";

static const char *tmp_path(const char *name) {
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

TEST(file_errors) {
    ASSERT(mkdtemp(tmpdir) != NULL);
    char want[256];
    err[0] = 0;
    ASSERT(config_load("/nonexistent/hotdog.yml", err, sizeof err) == NULL);
    ASSERT_EQ_STR(err, "/nonexistent/hotdog.yml: cannot open: No such file or directory");
    /* A directory used to say "read error". */
    ASSERT(config_load(tmpdir, err, sizeof err) == NULL);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", tmpdir);
    ASSERT_EQ_STR(err, want);
    /* A FIFO with no writer used to block the start (and a SIGHUP reload) for ever. */
    ASSERT_EQ_INT(mkfifo(tmp_path("fifo"), 0600), 0);
    alarm(10);
    struct config *c = config_load(tmp_path("fifo"), err, sizeof err);
    alarm(0);
    ASSERT(c == NULL);
    snprintf(want, sizeof want, "%s: cannot read: a FIFO, not a regular file", tmp_path("fifo"));
    ASSERT_EQ_STR(err, want);
    ASSERT(config_load("/dev/null", err, sizeof err) == NULL);
    ASSERT_EQ_STR(err, "/dev/null: cannot read: a character device, not a regular file");
    /* Larger than the cap: refused from its size, without reading it. */
    int fd = open(tmp_path("big.yml"), O_WRONLY | O_CREAT, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ_INT(ftruncate(fd, (16 << 20) + 1), 0);
    close(fd);
    ASSERT(config_load(tmp_path("big.yml"), err, sizeof err) == NULL);
    snprintf(want, sizeof want, "%s: larger than 16 MiB, not a configuration file", tmp_path("big.yml"));
    ASSERT_EQ_STR(err, want);
    /* Exactly the cap is read (and then found not to be YAML: all NUL bytes). */
    fd = open(tmp_path("big.yml"), O_WRONLY | O_TRUNC);
    ASSERT(fd >= 0);
    ASSERT_EQ_INT(ftruncate(fd, 16 << 20), 0);
    close(fd);
    ASSERT(config_load(tmp_path("big.yml"), err, sizeof err) == NULL);
    snprintf(want, sizeof want, "%s:1: YAML syntax error", tmp_path("big.yml"));
    ASSERT(strstr(err, want) == err);
    /* A file hotdog's user may not read (as root, checked from a child that drops to nobody). */
    fd = open(tmp_path("secret.yml"), O_WRONLY | O_CREAT, 0600);
    ASSERT(fd >= 0);
    close(fd);
    int pfd[2];
    ASSERT_EQ_INT(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char e[512] = "";
        if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0)) _exit(1);
        config_load(tmp_path("secret.yml"), e, sizeof e);
        ssize_t w = write(pfd[1], e, strlen(e));
        _exit(w < 0);
    }
    close(pfd[1]);
    char got[512] = "";
    ssize_t k = read(pfd[0], got, sizeof got - 1);
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    if (k > 0) got[k] = 0;
    snprintf(want, sizeof want, "%s: cannot open: Permission denied", tmp_path("secret.yml"));
    ASSERT_EQ_STR(got, want);
    unlink(tmp_path("secret.yml"));
    unlink(tmp_path("big.yml"));
    unlink(tmp_path("fifo"));
    rmdir(tmpdir);
}

/* forward's format, headers and timestamp: ours, like key (the original ignores them all). */
TEST(forward_format_headers_and_timestamp) {
    struct config *c = load(BASE "rules:\n  - regex: x\n    actions:\n"
                                 "      - type: forward\n"
                                 "        format: json\n"
                                 "        timestamp: message\n"
                                 "        headers:\n"
                                 "          host: '{{hostname}}'\n"
                                 "          n: 5\n"
                                 "  - regex: y\n    actions:\n      - {type: forward}\n"
                                 "  - regex: z\n    actions:\n"
                                 "      - {type: replace, template: t, format: json, headers: {a: b}}\n");
    if (!c) fprintf(stderr, "  %s\n", err);
    ASSERT(c != NULL);
    const struct config_action *a = &c->rules[0].actions[0];
    ASSERT_EQ_INT(a->format, FORMAT_JSON);
    ASSERT_EQ_INT(a->timestamp, TIMESTAMP_MESSAGE);
    ASSERT_EQ_INT(a->nheaders, 2);
    ASSERT_EQ_STR(a->headers[0].name, "host");
    ASSERT_EQ_STR(a->headers[0].value, "{{hostname}}");
    ASSERT_EQ_INT(a->headers[0].line, 16);
    ASSERT_EQ_STR(a->headers[1].value, "5");
    a = &c->rules[1].actions[0];
    ASSERT(a->format == FORMAT_RAW && a->timestamp == TIMESTAMP_RECEIVE && a->nheaders == 0);
    /* On another action type they are unknown keys, warned about as before. */
    ASSERT_EQ_INT(c->nwarnings, 2);
    ASSERT_EQ_STR(c->warnings[0], "t.yml:23: unknown key 'rules[2].actions[0].format' for a replace action ignored");
    config_free(c);
#define FWD BASE "rules:\n  - regex: x\n    actions:\n      - type: forward\n"
    static const struct {
        const char *yml, *want;
    } bad[] = {
        {FWD "        format: xml\n",
         "t.yml:13: 'rules[0].actions[0].format' must be one of raw or json (got 'xml')"},
        {FWD "        format: [json]\n",
         "t.yml:13: 'rules[0].actions[0].format' must be one of raw or json (got 'a list')"},
        {FWD "        timestamp:\n",
         "t.yml:13: 'rules[0].actions[0].timestamp' must be one of receive or message (got '')"},
        {FWD "        headers: 'host'\n",
         "t.yml:13: 'rules[0].actions[0].headers' must be a map of header name to template"},
        {FWD "        headers: [a, b]\n",
         "t.yml:13: 'rules[0].actions[0].headers' must be a map of header name to template"},
        {FWD "        headers:\n          a: {b: c}\n",
         "t.yml:14: 'rules[0].actions[0].headers.a' must be a string (a template)"},
        {FWD "        headers:\n          a: [x]\n",
         "t.yml:14: 'rules[0].actions[0].headers.a' must be a string (a template)"},
        {FWD "        headers:\n          a: ~\n",
         "t.yml:14: 'rules[0].actions[0].headers.a' must be a string (a template)"},
        {FWD "        headers:\n          a: x\n          a: y\n",
         "t.yml:15: duplicate key 'rules[0].actions[0].headers.a'"},
        {FWD "        headers:\n          '': x\n",
         "t.yml:14: 'rules[0].actions[0].headers' has an empty header name"},
        {FWD "        format: raw\n        format: json\n",
         "t.yml:14: duplicate key 'rules[0].actions[0].format'"},
    };
#undef FWD
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = load(bad[i].yml);
        ASSERT(c == NULL);
        ASSERT_EQ_STR(err, bad[i].want);
    }
}

TEST_MAIN("config", TEST_ENTRY(loads_the_original_format), TEST_ENTRY(defaults),
          TEST_ENTRY(spool_dead_letter_and_backpressure),
          TEST_ENTRY(tls_false_and_tls_map), TEST_ENTRY(listen_as_a_list_with_protocols_and_limits),
          TEST_ENTRY(relp_listeners_plain_and_over_tls),
          TEST_ENTRY(listener_errors), TEST_ENTRY(unknown_key_is_a_warning_with_file_line_and_key),
          TEST_ENTRY(framing_key), TEST_ENTRY(framing_change_needs_a_restart),
          TEST_ENTRY(max_message_size_over_what_kafka_takes_is_a_warning),
          TEST_ENTRY(both_matchers_use_jmespath_and_none_never_matches),
          TEST_ENTRY(merge_json_may_be_any_value),
          TEST_ENTRY(wrong_type), TEST_ENTRY(missing_required_key), TEST_ENTRY(env_overrides),
          TEST_ENTRY(rule_errors), TEST_ENTRY(duplicate_keys_in_rules_and_actions),
          TEST_ENTRY(bad_regex_names_line),
          TEST_ENTRY(bad_jmespath_names_line), TEST_ENTRY(yaml_syntax_error_has_line),
          TEST_ENTRY(alias_bomb_is_refused), TEST_ENTRY(merge_json_errors_say_why),
          TEST_ENTRY(deep_flow_nesting_is_refused_at_its_line),
          TEST_ENTRY(deep_block_nesting_is_refused_at_its_line), TEST_ENTRY(nesting_up_to_the_limit_loads),
          TEST_ENTRY(brackets_in_text_do_not_count), TEST_ENTRY(node_anchor_and_alias_counts_are_bounded),
          TEST_ENTRY(a_second_document_is_refused_at_its_line), TEST_ENTRY(file_errors),
          TEST_ENTRY(forward_format_headers_and_timestamp))
