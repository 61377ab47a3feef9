/* metrics.h - lock-free counters: one shard per thread, summed when read. */
#ifndef HOTDOG_METRICS_H
#define HOTDOG_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Every counter hotdog keeps. The names are the original hotdog's statsd names where it had
 * one, so existing dashboards keep working. */
#define METRICS_COUNTERS(X)                                                      \
    X(M_RECEIVED, "received", "messages framed and accepted from clients, parsed or not") \
    X(M_LINES, "lines", "messages that parsed as syslog (the original hotdog's meaning)") \
    X(M_PARSE_ERROR, "error.log_parse", "lines the original could not parse, forwarded whole") \
    X(M_TRUNCATED, "error.truncated",                                          \
      "frames or datagrams over max_message_size, delivered cut to it")         \
    X(M_BAD_COUNT, "error.bad_octet_count", "connections closed on a bad octet count") \
    X(M_CONN_ACCEPTED, "connections.accepted", "TCP connections accepted")       \
    X(M_CONN_CLOSED, "connections.closed", "TCP connections closed")             \
    X(M_READ_ERROR, "error.read", "connections closed on a socket error")        \
    X(M_ACCEPT_ERROR, "error.accept", "accept(2) failures")                      \
    X(M_KAFKA_PRODUCED, "kafka.produced", "messages handed to the producer")     \
    X(M_KAFKA_SUBMITTED, "kafka.submitted",                                      \
      "messages acknowledged by a broker (the original hotdog's name)")          \
    X(M_KAFKA_DELIVERED, "kafka.delivered", "messages acknowledged by a broker") \
    X(M_KAFKA_FAILED, "kafka.failed", "messages whose delivery failed")          \
    X(M_KAFKA_STALLS, "kafka.stalls",                                            \
      "times messages waited global.kafka.stall_timeout_ms with no delivery report") \
    X(M_KAFKA_FATAL, "kafka.fatal", "fatal producer errors (hotdog then shuts down)") \
    X(M_KAFKA_PRODUCER_ERROR, "kafka.producer.error",                            \
      "failed deliveries and messages the producer refused, all errors")         \
    X(M_KAFKA_PRODUCE_ERROR, "error.internal_push_failed",                       \
      "messages the producer refused (not queue-full)")                          \
    X(M_QUEUE_FULL, "error.full_internal_queue",                                 \
      "times the producer queue was full (reading paused, nothing dropped)")    \
    X(M_BACKPRESSURE_US, "backpressure.us", "microseconds workers spent paused")     \
    X(M_SHUTDOWN_LOST, "error.shutdown_lost",                                    \
      "messages read but not queued before the shutdown deadline")              \
    X(M_CONN_REJECTED, "error.max_connections",                                  \
      "connections closed at once because the listener had max_connections")    \
    X(M_IDLE_TIMEOUT, "connections.idle_timeout", "connections closed after idle_timeout_ms") \
    X(M_TLS_HANDSHAKE_FAILED, "error.tls_handshake", "failed TLS handshakes")     \
    X(M_TLS_HANDSHAKE_TIMEOUT, "error.tls_handshake_timeout",                    \
      "TLS handshakes not finished within handshake_timeout_ms")                 \
    X(M_TLS_ERROR, "error.tls", "TLS errors after the handshake")                \
    X(M_UDP_DATAGRAMS, "udp.datagrams", "datagrams received")                    \
    X(M_UDP_KERNEL_DROPS, "error.udp_kernel_drops",                              \
      "datagrams the kernel dropped because the receive buffer was full")       \
    X(M_UNMATCHED, "unmatched", "messages no rule forwarded (not sent)")        \
    X(M_MERGE_TARGET_NOT_JSON, "error.merge_target_not_json",                    \
      "merge actions whose json was not a map (the message left as it is)")      \
    X(M_MERGE_INVALID_JSON, "error.merge_of_invalid_json",                       \
      "merge actions whose message was not JSON (no further rule ran)")          \
    X(M_TOPIC_PARSE_FAILED, "error.topic_parse_failed",                          \
      "topic templates that failed to render (the original's name; ours always render, "  \
      "and an invalid name is kafka.producer.error.invalidtopic)")               \
    X(M_MATCH_ERROR, "error.match", "regex or JMESPath evaluations that failed (limits)") \
    X(M_JSON_LIMIT, "error.json_limit",                                          \
      "JSON messages not parsed for JMESPath or merge: too many values or too deep") \
    X(M_INVALID_UTF8, "error.invalid_utf8",                                      \
      "forwarded messages whose JSON (format: json, {{json name}}, a merge) had bytes " \
      "that are not UTF-8, sent replaced by U+FFFD")                             \
    X(M_BUFFER_BUDGET, "error.buffer_budget",                                    \
      "unfinished frames delivered cut because all connections held global.max_buffered_bytes") \
    X(M_SHUTDOWN_PARTIAL, "error.shutdown_partial",                              \
      "unfinished lines dropped when hotdog closed a connection at shutdown")    \
    X(M_RESPOOLED, "spool.respooled",                                            \
      "deliveries that failed retriably or were purged at shutdown, put back in the spool") \
    X(M_SPOOLED, "spool.spooled", "messages the workers wrote to the spool")     \
    X(M_DEAD_LETTERED, "dead_letter.written", "messages written to the dead-letter file") \
    X(M_DEAD_LETTER_ERROR, "error.dead_letter_write", "dead-letter writes that failed (message lost)") \
    X(M_SPOOL_FULL_DROPPED, "error.spool_full_dropped",                          \
      "UDP (or backpressure: false) messages dropped because the spool was full") \
    X(M_OVERFLOW_DROPPED, "error.overflow_dropped",                              \
      "backpressure: false messages dropped because Kafka was full and there is no spool") \
    X(M_LOST, "error.lost",                                                      \
      "messages hotdog gave up on while running (failed, not spooled, not dead-lettered)") \
    X(M_RELP_SESSIONS, "relp.sessions", "RELP sessions opened (open answered 200)") \
    X(M_RELP_MESSAGES, "relp.messages", "RELP syslog messages received")        \
    X(M_RELP_RSP_200, "relp.responses.200",                                      \
      "RELP messages answered 200 OK: in Kafka, the spool or the dead-letter file, or not forwarded") \
    X(M_RELP_RSP_500, "relp.responses.500",                                      \
      "RELP commands answered 500 (a message refused for good and kept nowhere, or a command "  \
      "before open)")                                                             \
    X(M_RELP_ERROR_FRAME, "relp.error.frame",                                    \
      "RELP sessions closed on a malformed frame or a command a client may not send") \
    X(M_RELP_CLOSED_UNANSWERED, "relp.sessions_closed_unanswered",               \
      "RELP sessions closed so that the sender resends: a message could be kept nowhere")  \
    X(M_RELP_ORPHANED, "relp.acks_orphaned",                                     \
      "fates of RELP messages whose session had closed: not answered, the sender resends") \
    X(M_STATUS_EVICTED, "status.connections_evicted",                            \
      "status connections closed to make room for a new one at the cap (the oldest stalled first)") \
    X(M_STATUS_READ_TIMEOUT, "status.read_timeouts",                             \
      "status connections closed because their request was not complete within 2 s") \
    X(M_STATUS_WRITE_TIMEOUT, "status.write_timeouts",                           \
      "status connections closed because their response was not read within 10 s")

enum metrics_counter {
#define METRICS_ENUM(id, name, help) id,
    METRICS_COUNTERS(METRICS_ENUM)
#undef METRICS_ENUM
        M_COUNT
};

/* One shard per writing thread, cache-line aligned so that threads never share a line. Only
 * its owner writes a shard (a relaxed load+store, no locked instruction); readers sum. */
struct metrics_shard {
    _Atomic uint64_t c[M_COUNT];
} __attribute__((aligned(64)));

/* Allocates n shards, plus the shared one (call once, before threads start). */
int metrics_init(int nshards);
void metrics_free(void);
struct metrics_shard *metrics_shard(int i);

static inline void metrics_add(struct metrics_shard *s, enum metrics_counter c, uint64_t n) {
    atomic_store_explicit(&s->c[c], atomic_load_explicit(&s->c[c], memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* For rare paths on threads without a shard of their own: an atomic add to a shared shard.
 * A no-op before metrics_init. runs on: any thread. */
void metrics_add_any(enum metrics_counter c, uint64_t n);

/* Sum over all shards; runs on any thread. */
uint64_t metrics_get(enum metrics_counter c);
const char *metrics_name(enum metrics_counter c);
const char *metrics_help(enum metrics_counter c);

#endif
