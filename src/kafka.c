/* kafka.c - the one librdkafka producer that all workers share, and its delivery reports. */
#include "kafka.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "clock.h"
#include "delivery.h"
#include "log.h"

/* Error codes span RD_KAFKA_RESP_ERR__BEGIN (-200) to a few hundred broker codes; one slot
 * each. Both the delivery-report thread and workers (errors at produce time) count here: a
 * rare path, so a plain atomic add. */
#define ERR_BASE 200
#define ERR_SLOTS 600

/* How many invalid topic names kafka_refuse_topic remembers, and after how long a name it
 * refused before counts as known-missing (see there). */
#define KAFKA_INVALID_NAMES 1024
#define KAFKA_INVALID_KNOWN_US 500000

struct topic_entry {
    char *name;
    rd_kafka_topic_t *rkt;
    struct topic_entry *next;
    /* produced: added to by every worker (a relaxed atomic add, no lock); delivered and
     * failed: by the delivery-report thread only. */
    _Atomic uint64_t produced, delivered, failed;
    /* The partitions that have a leader, bit p for partition p, from librdkafka's statistics
     * (stats_cb); 0: not known yet, or more than 64 partitions. For keyless batches. */
    _Atomic uint64_t leaders;
};

struct kafka {
    rd_kafka_t *rk;
    struct metrics_shard *shard; /* written by the delivery-report thread only */
    pthread_t poller;
    atomic_int running;
    pthread_mutex_t topics_lock; /* guards topics: taken when a worker meets a new topic name */
    struct topic_entry *topics;
    _Atomic uint64_t errors[ERR_SLOTS];
    /* From librdkafka's statistics (statistics.interval.ms), for /readyz and metrics. */
    _Atomic int64_t brokers_up, rtt_avg_us, outbuf_msgs, stats_at_ms;
    long queue_max; /* queue.buffering.max.messages, for /readyz's high watermark */
    /* How long a worker sends its keyless batches for a topic to one partition, in produce
     * ticks: librdkafka's sticky.partitioning.linger.ms, as its own sticky partitioner does;
     * 0 where that partitioner is not in use (see kafka_produce_batch). */
    uint64_t sticky_ticks;
    /* Produce-to-ack latency, written by the delivery-report thread only. */
    _Atomic uint64_t lat[KAFKA_LATENCY_BUCKETS + 1], lat_count, lat_sum_us;
    /* The tick reports are timed against, and how many more reports may use it before the
     * clock is read again (report_now). Whichever thread serves the reports. */
    uint64_t report_tick;
    unsigned report_reuse;
    /* Where every message's fate is reported (delivery_report in the daemon). */
    kafka_report_fn report;
    void *report_arg;
    struct buf dr_headers; /* a failed message's headers, packed: delivery-report thread only */
    int64_t t0_ns; /* produce ticks travel in the message opaque relative to this */
    /* What kept the brokers down lately (authentication, TLS, transport), for /readyz and the
     * stall warning; a fatal producer error (rd_kafka_fatal_error), once raised, for good. */
    pthread_mutex_t cause_lock;
    char cause[256];
    int cause_rank;     /* cause_of's rank of cause */
    int64_t cause_ms;
    atomic_int fatal;
    char fatal_reason[256]; /* written once, before fatal is set */
    struct log_keyed broker_log; /* librdkafka's events, limited per broker and cause */
    int scram;                   /* SCRAM is configured (for the library-version hint) */
    /* The stall watch, run by the delivery-report thread (watch). reports: delivery
     * reports served; progress_ms: when one last arrived or the queue was last empty. */
    uint64_t reports, watch_reports;
    int64_t progress_ms;
    long stall_ms;
    _Atomic int64_t stalled_since_ms; /* 0: not stalled */
    /* Invalid topic names refused so far (a hash of each, and when it was first refused); when
     * full, the oldest nearby is pushed out and counts as new again. Taken by workers, rarely. */
    pthread_mutex_t invalid_lock;
    struct {
        uint64_t hash;
        int64_t first_us;
    } invalid[KAFKA_INVALID_NAMES];
};

/* A message's opaque carries its spool slot (0: not from the spool) in the top 16 bits and, in
 * the low 48, when it was produced, in ticks of 250 ns since t0_ns, plus 1 (0: unknown). On each
 * producing thread the ticks strictly increase, so they also order that thread's messages as
 * they were produced; a worker produces a connection's lines in the order it read them, so a
 * purge at shutdown can put them back in the spool in that order (delivery_shutdown) rather than in
 * librdkafka's partition-by-partition order, and the replay keeps each connection's order
 * within a partition. 48 bits of ticks last 2.2 years (they wrap, and latency is taken modulo
 * that); a thread would have to produce more than 4 million messages a second for its ticks to
 * run ahead of the clock. */
#define SLOT_SHIFT 48
#define TICK_MASK ((UINT64_C(1) << SLOT_SHIFT) - 1)
#define TICK_NS 250
/* A report's seq is the tick in the top 48 bits, so that 64-bit wrapping arithmetic orders
 * ticks across their 48-bit wrap: (int64_t)(later - earlier) > 0. */

static uint64_t tick_now(const struct kafka *k) {
    int64_t ns = clock_ns() - k->t0_ns;
    uint64_t t = ((uint64_t)(ns > 0 ? ns : 0) / TICK_NS + 1) & TICK_MASK;
    return t ? t : 1;
}

/* A record with an ack lane (record.ack: a RELP message, produced by a worker, never from the
 * spool) has bit 63 set and its ack lane in bits 48-62 instead of a slot: spool slots stay
 * under 2^15 (spool.c's MAX_SLOTS), workers under 2^15. Its tick is the one the worker took
 * for it beforehand (record.seq, see next_seq), so that the worker finds it by that. */
#define ACK_BIT (UINT64_C(1) << 63)
#define LANE_MASK 0x7fffu

static void *pack(uint64_t tick, unsigned slot, uint32_t ack) {
    uint64_t top = ack ? ACK_BIT | (uint64_t)(ack & LANE_MASK) << SLOT_SHIFT : (uint64_t)slot << SLOT_SHIFT;
    return (void *)(uintptr_t)(top | (tick & TICK_MASK));
}

static void unpack(void *opaque, uint64_t *tick, unsigned *slot, uint32_t *ack) {
    uint64_t v = (uint64_t)(uintptr_t)opaque;
    *tick = v & TICK_MASK;
    *slot = v & ACK_BIT ? 0 : (unsigned)(v >> SLOT_SHIFT);
    *ack = v & ACK_BIT ? (uint32_t)(v >> SLOT_SHIFT) & LANE_MASK : 0;
}

/* Our defaults, applied before the user's conf so that any of them can be overridden.
 * acks=all + idempotence: a message counts as delivered only once every in-sync replica has
 * it, and librdkafka's retries cannot duplicate or reorder it. linger.ms trades a few ms of
 * latency for full batches, which is what sustains hundreds of thousands of lines/s. */
static const char *const defaults[][2] = {
    {"acks", "all"},
    {"enable.idempotence", "true"},
    {"linger.ms", "5"},
    {"batch.num.messages", "10000"},
    /* lz4 is cheap for the producer and halves what the broker writes and replicates: with a
     * local broker as the limit, kcat -P went from 0.38-0.48M to 0.66-0.76M msgs/s with it and
     * hotdog from 0.26-0.65M to 0.56-0.95M (bench/results/measurements.md). */
    {"compression.codec", "lz4"},
    {"message.timeout.ms", "0"}, /* retry forever while hotdog runs: never give up silently */
    {"socket.keepalive.enable", "true"},
    {"statistics.interval.ms", "1000"}, /* broker state for /readyz and metrics */
    /* librdkafka's 60 s default left a hung broker (SIGSTOP, sockets open) stalling its
     * partitions for up to a minute with nothing said; 10 s bounds that, and a produce request
     * that times out is retried safely (idempotence). */
    {"socket.timeout.ms", "10000"},
    {"socket.connection.setup.timeout.ms", "10000"},
};

/* The original hotdog names a failed delivery in statsd kafka.producer.error.<word>, where the
 * word is rust-rdkafka's RDKafkaErrorCode variant name, lowercased. This table holds that word
 * for every code rdkafka-sys 4.4.0+1.9.2 (the version in the original's Cargo.lock) knows. It
 * was printed by a throwaway Rust program against that crate, which looped over every code and
 * printed format!("{:?}", RDKafkaErrorCode::from(code)).to_lowercase(), then checked against
 * this librdkafka's header (same number for each constant); the original's own statsd output
 * agrees (messagesizetoolarge, invalidtopic). */
#define NAME(code, word) [(code) + ERR_BASE] = word
static const char *const err_words[ERR_SLOTS] = {
    NAME(RD_KAFKA_RESP_ERR__BAD_MSG, "badmessage"),
    NAME(RD_KAFKA_RESP_ERR__BAD_COMPRESSION, "badcompression"),
    NAME(RD_KAFKA_RESP_ERR__DESTROY, "brokerdestroy"),
    NAME(RD_KAFKA_RESP_ERR__FAIL, "fail"),
    NAME(RD_KAFKA_RESP_ERR__TRANSPORT, "brokertransportfailure"),
    NAME(RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE, "criticalsystemresource"),
    NAME(RD_KAFKA_RESP_ERR__RESOLVE, "resolve"),
    NAME(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, "messagetimedout"),
    NAME(RD_KAFKA_RESP_ERR__PARTITION_EOF, "partitioneof"),
    NAME(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, "unknownpartition"),
    NAME(RD_KAFKA_RESP_ERR__FS, "filesystem"),
    NAME(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, "unknowntopic"),
    NAME(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, "allbrokersdown"),
    NAME(RD_KAFKA_RESP_ERR__INVALID_ARG, "invalidargument"),
    NAME(RD_KAFKA_RESP_ERR__TIMED_OUT, "operationtimedout"),
    NAME(RD_KAFKA_RESP_ERR__QUEUE_FULL, "queuefull"),
    NAME(RD_KAFKA_RESP_ERR__ISR_INSUFF, "isrinsufficient"),
    NAME(RD_KAFKA_RESP_ERR__NODE_UPDATE, "nodeupdate"),
    NAME(RD_KAFKA_RESP_ERR__SSL, "ssl"),
    NAME(RD_KAFKA_RESP_ERR__WAIT_COORD, "waitingforcoordinator"),
    NAME(RD_KAFKA_RESP_ERR__UNKNOWN_GROUP, "unknowngroup"),
    NAME(RD_KAFKA_RESP_ERR__IN_PROGRESS, "inprogress"),
    NAME(RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS, "previousinprogress"),
    NAME(RD_KAFKA_RESP_ERR__EXISTING_SUBSCRIPTION, "existingsubscription"),
    NAME(RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, "assignpartitions"),
    NAME(RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, "revokepartitions"),
    NAME(RD_KAFKA_RESP_ERR__CONFLICT, "conflict"),
    NAME(RD_KAFKA_RESP_ERR__STATE, "state"),
    NAME(RD_KAFKA_RESP_ERR__UNKNOWN_PROTOCOL, "unknownprotocol"),
    NAME(RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED, "notimplemented"),
    NAME(RD_KAFKA_RESP_ERR__AUTHENTICATION, "authentication"),
    NAME(RD_KAFKA_RESP_ERR__NO_OFFSET, "nooffset"),
    NAME(RD_KAFKA_RESP_ERR__OUTDATED, "outdated"),
    NAME(RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE, "timedoutqueue"),
    NAME(RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE, "unsupportedfeature"),
    NAME(RD_KAFKA_RESP_ERR__WAIT_CACHE, "waitcache"),
    NAME(RD_KAFKA_RESP_ERR__INTR, "interrupted"),
    NAME(RD_KAFKA_RESP_ERR__KEY_SERIALIZATION, "keyserialization"),
    NAME(RD_KAFKA_RESP_ERR__VALUE_SERIALIZATION, "valueserialization"),
    NAME(RD_KAFKA_RESP_ERR__KEY_DESERIALIZATION, "keydeserialization"),
    NAME(RD_KAFKA_RESP_ERR__VALUE_DESERIALIZATION, "valuedeserialization"),
    NAME(RD_KAFKA_RESP_ERR__PARTIAL, "partial"),
    NAME(RD_KAFKA_RESP_ERR__READ_ONLY, "readonly"),
    NAME(RD_KAFKA_RESP_ERR__NOENT, "noent"),
    NAME(RD_KAFKA_RESP_ERR__UNDERFLOW, "underflow"),
    NAME(RD_KAFKA_RESP_ERR__INVALID_TYPE, "invalidtype"),
    NAME(RD_KAFKA_RESP_ERR__RETRY, "retry"),
    NAME(RD_KAFKA_RESP_ERR__PURGE_QUEUE, "purgequeue"),
    NAME(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, "purgeinflight"),
    NAME(RD_KAFKA_RESP_ERR__FATAL, "fatal"),
    NAME(RD_KAFKA_RESP_ERR__INCONSISTENT, "inconsistent"),
    NAME(RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE, "gaplessguarantee"),
    NAME(RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED, "pollexceeded"),
    NAME(RD_KAFKA_RESP_ERR__UNKNOWN_BROKER, "unknownbroker"),
    NAME(RD_KAFKA_RESP_ERR__NOT_CONFIGURED, "notconfigured"),
    NAME(RD_KAFKA_RESP_ERR__FENCED, "fenced"),
    NAME(RD_KAFKA_RESP_ERR__APPLICATION, "application"),
    NAME(RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST, "assignmentlost"),
    NAME(RD_KAFKA_RESP_ERR__NOOP, "noop"),
    NAME(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, "autooffsetreset"),
    NAME(RD_KAFKA_RESP_ERR_UNKNOWN, "unknown"),
    NAME(RD_KAFKA_RESP_ERR_NO_ERROR, "noerror"),
    NAME(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE, "offsetoutofrange"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_MSG, "invalidmessage"),
    NAME(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "unknowntopicorpartition"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE, "invalidmessagesize"),
    NAME(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, "leadernotavailable"),
    NAME(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, "notleaderforpartition"),
    NAME(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, "requesttimedout"),
    NAME(RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE, "brokernotavailable"),
    NAME(RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE, "replicanotavailable"),
    NAME(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, "messagesizetoolarge"),
    NAME(RD_KAFKA_RESP_ERR_STALE_CTRL_EPOCH, "stalecontrollerepoch"),
    NAME(RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE, "offsetmetadatatoolarge"),
    NAME(RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, "networkexception"),
    NAME(RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, "coordinatorloadinprogress"),
    NAME(RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, "coordinatornotavailable"),
    NAME(RD_KAFKA_RESP_ERR_NOT_COORDINATOR, "notcoordinator"),
    NAME(RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, "invalidtopic"),
    NAME(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, "messagebatchtoolarge"),
    NAME(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, "notenoughreplicas"),
    NAME(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, "notenoughreplicasafterappend"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS, "invalidrequiredacks"),
    NAME(RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, "illegalgeneration"),
    NAME(RD_KAFKA_RESP_ERR_INCONSISTENT_GROUP_PROTOCOL, "inconsistentgroupprotocol"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_GROUP_ID, "invalidgroupid"),
    NAME(RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, "unknownmemberid"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT, "invalidsessiontimeout"),
    NAME(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, "rebalanceinprogress"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE, "invalidcommitoffsetsize"),
    NAME(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "topicauthorizationfailed"),
    NAME(RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, "groupauthorizationfailed"),
    NAME(RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, "clusterauthorizationfailed"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP, "invalidtimestamp"),
    NAME(RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM, "unsupportedsaslmechanism"),
    NAME(RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE, "illegalsaslstate"),
    NAME(RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION, "unsupportedversion"),
    NAME(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "topicalreadyexists"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_PARTITIONS, "invalidpartitions"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR, "invalidreplicationfactor"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT, "invalidreplicaassignment"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_CONFIG, "invalidconfig"),
    NAME(RD_KAFKA_RESP_ERR_NOT_CONTROLLER, "notcontroller"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_REQUEST, "invalidrequest"),
    NAME(RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT, "unsupportedformessageformat"),
    NAME(RD_KAFKA_RESP_ERR_POLICY_VIOLATION, "policyviolation"),
    NAME(RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "outofordersequencenumber"),
    NAME(RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER, "duplicatesequencenumber"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, "invalidproducerepoch"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_TXN_STATE, "invalidtransactionalstate"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING, "invalidproduceridmapping"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT, "invalidtransactiontimeout"),
    NAME(RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, "concurrenttransactions"),
    NAME(RD_KAFKA_RESP_ERR_TRANSACTION_COORDINATOR_FENCED, "transactioncoordinatorfenced"),
    NAME(RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "transactionalidauthorizationfailed"),
    NAME(RD_KAFKA_RESP_ERR_SECURITY_DISABLED, "securitydisabled"),
    NAME(RD_KAFKA_RESP_ERR_OPERATION_NOT_ATTEMPTED, "operationnotattempted"),
    NAME(RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, "kafkastorageerror"),
    NAME(RD_KAFKA_RESP_ERR_LOG_DIR_NOT_FOUND, "logdirnotfound"),
    NAME(RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, "saslauthenticationfailed"),
    NAME(RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, "unknownproducerid"),
    NAME(RD_KAFKA_RESP_ERR_REASSIGNMENT_IN_PROGRESS, "reassignmentinprogress"),
    NAME(RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTH_DISABLED, "delegationtokenauthdisabled"),
    NAME(RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_NOT_FOUND, "delegationtokennotfound"),
    NAME(RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_OWNER_MISMATCH, "delegationtokenownermismatch"),
    NAME(RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, "delegationtokenrequestnotallowed"),
    NAME(RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED, "delegationtokenauthorizationfailed"),
    NAME(RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_EXPIRED, "delegationtokenexpired"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_PRINCIPAL_TYPE, "invalidprincipaltype"),
    NAME(RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP, "nonemptygroup"),
    NAME(RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, "groupidnotfound"),
    NAME(RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND, "fetchsessionidnotfound"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_FETCH_SESSION_EPOCH, "invalidfetchsessionepoch"),
    NAME(RD_KAFKA_RESP_ERR_LISTENER_NOT_FOUND, "listenernotfound"),
    NAME(RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED, "topicdeletiondisabled"),
    NAME(RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH, "fencedleaderepoch"),
    NAME(RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH, "unknownleaderepoch"),
    NAME(RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE, "unsupportedcompressiontype"),
    NAME(RD_KAFKA_RESP_ERR_STALE_BROKER_EPOCH, "stalebrokerepoch"),
    NAME(RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE, "offsetnotavailable"),
    NAME(RD_KAFKA_RESP_ERR_MEMBER_ID_REQUIRED, "memberidrequired"),
    NAME(RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE, "preferredleadernotavailable"),
    NAME(RD_KAFKA_RESP_ERR_GROUP_MAX_SIZE_REACHED, "groupmaxsizereached"),
    NAME(RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, "fencedinstanceid"),
    NAME(RD_KAFKA_RESP_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE, "eligibleleadersnotavailable"),
    NAME(RD_KAFKA_RESP_ERR_ELECTION_NOT_NEEDED, "electionnotneeded"),
    NAME(RD_KAFKA_RESP_ERR_NO_REASSIGNMENT_IN_PROGRESS, "noreassignmentinprogress"),
    NAME(RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC, "groupsubscribedtotopic"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_RECORD, "invalidrecord"),
    NAME(RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT, "unstableoffsetcommit"),
    NAME(RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED, "throttlingquotaexceeded"),
    NAME(RD_KAFKA_RESP_ERR_PRODUCER_FENCED, "producerfenced"),
    NAME(RD_KAFKA_RESP_ERR_RESOURCE_NOT_FOUND, "resourcenotfound"),
    NAME(RD_KAFKA_RESP_ERR_DUPLICATE_RESOURCE, "duplicateresource"),
    NAME(RD_KAFKA_RESP_ERR_UNACCEPTABLE_CREDENTIAL, "unacceptablecredential"),
    NAME(RD_KAFKA_RESP_ERR_INCONSISTENT_VOTER_SET, "inconsistentvoterset"),
    NAME(RD_KAFKA_RESP_ERR_INVALID_UPDATE_VERSION, "invalidupdateversion"),
    NAME(RD_KAFKA_RESP_ERR_FEATURE_UPDATE_FAILED, "featureupdatefailed"),
    NAME(RD_KAFKA_RESP_ERR_PRINCIPAL_DESERIALIZATION_FAILURE, "principaldeserializationfailure"),
};
#undef NAME

const char *kafka_err_word(int err, char *buf, size_t len) {
    int slot = err + ERR_BASE;
    if (slot >= 0 && slot < ERR_SLOTS && err_words[slot]) return err_words[slot];
    /* A code newer than the original's librdkafka: its name in the same style. */
    const char *name = rd_kafka_err2name((rd_kafka_resp_err_t)err);
    size_t k = 0;
    for (; *name && k + 1 < len; name++)
        if (*name != '_') buf[k++] = (char)(*name >= 'A' && *name <= 'Z' ? *name - 'A' + 'a' : *name);
    buf[k] = 0;
    return buf;
}

/* Counts one failed delivery or refused produce, as the original counts them: in
 * kafka.producer.error and, by error, in kafka.producer.error.<word>. */
static void count_error(struct kafka *k, rd_kafka_resp_err_t err) {
    int slot = (int)err + ERR_BASE;
    if (slot < 0 || slot >= ERR_SLOTS) slot = ERR_SLOTS - 1;
    atomic_fetch_add_explicit(&k->errors[slot], 1, memory_order_relaxed);
    metrics_add_any(M_KAFKA_PRODUCER_ERROR, 1);
}

/* Adds to a counter only this thread writes: no locked instruction needed. */
static void owned_add(_Atomic uint64_t *c, uint64_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/* The acknowledgements of one produce request come in one burst of delivery reports, served
 * back to back within one rd_kafka_poll: the clock is read for the first report of a poll and
 * then every REPORT_CLOCK_EVERY reports (a few microseconds of reports, against the
 * histogram's buckets of 64 us and more), not once per message. */
#define REPORT_CLOCK_EVERY 32
static uint64_t report_now(struct kafka *k) {
    if (!k->report_reuse) {
        k->report_tick = tick_now(k);
        k->report_reuse = REPORT_CLOCK_EVERY;
    }
    k->report_reuse--;
    return k->report_tick;
}

/* tick is when the message was produced, kept in its opaque (see pack). */
static void record_latency(struct kafka *k, uint64_t tick) {
    uint64_t dt = (report_now(k) - tick) & TICK_MASK;
    if (!tick || dt > TICK_MASK / 2) return; /* unknown, or a tick run ahead of the clock */
    uint64_t d = dt * TICK_NS / 1000;
    int b = kafka_latency_bucket(d);
    owned_add(&k->lat[b], 1);
    owned_add(&k->lat_count, 1);
    owned_add(&k->lat_sum_us, d);
}

/* Errors that retrying cannot fix: the message goes to the dead-letter file, not back to
 * the spool (where it would fail again forever). */
static int permanent(rd_kafka_resp_err_t e) {
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        return 1;
    default:
        return 0;
    }
}

/* A message's partition as a record keeps it: + 1, 0 when librdkafka had not chosen one. */
static uint32_t part_of(const rd_kafka_message_t *m) {
    return m->partition >= 0 ? (uint32_t)m->partition + 1 : 0;
}

/* The record librdkafka gives back with a failed or purged message: its headers are packed
 * into dr_headers (reused), and its timestamp is the one it was produced with. */
static void record_of(struct kafka *k, const rd_kafka_message_t *m, struct record *r) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    *r = (struct record){.topic = topic, .topic_len = strlen(topic), .key = m->key,
                         .key_len = m->key_len, .payload = m->payload, .len = m->len,
                         .part = part_of(m)};
    /* librdkafka keeps the timestamp a message was produced with (ours, or the time of the
     * produce call when it had none) but answers NOT_AVAILABLE for a message with an error.
     * The message is this thread's alone during its delivery report, so err is cleared for
     * that one call: a record that goes back into the spool keeps its timestamp. */
    rd_kafka_message_t *mm = (rd_kafka_message_t *)m;
    rd_kafka_resp_err_t err = mm->err;
    rd_kafka_timestamp_type_t tt;
    mm->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int64_t ts = rd_kafka_message_timestamp(mm, &tt);
    mm->err = err;
    if (tt == RD_KAFKA_TIMESTAMP_CREATE_TIME && ts > 0) r->timestamp_ms = ts;
    rd_kafka_headers_t *hs = NULL;
    if (rd_kafka_message_headers(m, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hs) return;
    k->dr_headers.len = 0;
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(hs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
        record_header_add(&k->dr_headers, name, strlen(name), val, size);
    r->headers = k->dr_headers.p;
    r->headers_len = k->dr_headers.len;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct kafka *k = opaque;
    struct topic_entry *t = rd_kafka_topic_opaque(m->rkt);
    uint64_t tick;
    unsigned slot;
    uint32_t ack;
    unpack(m->_private, &tick, &slot, &ack);
    k->reports++;
    if (!m->err) {
        metrics_add(k->shard, M_KAFKA_DELIVERED, 1);
        metrics_add(k->shard, M_KAFKA_SUBMITTED, 1); /* the original's name for the same */
        if (t) owned_add(&t->delivered, 1);
        record_latency(k, tick);
        if (slot || ack)
            k->report(k->report_arg, &(struct delivery_report){.slot = slot, .seq = tick << 16, .ack = ack});
        return;
    }
    /* A purge (kafka_purge at shutdown, or librdkafka's own after a fatal error) is not a
     * failure: delivery decides where those messages go. */
    int purged = m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
    if (!purged) {
        metrics_add(k->shard, M_KAFKA_FAILED, 1);
        if (t) owned_add(&t->failed, 1);
        count_error(k, m->err);
        log_limited(L_ERROR, "kafka: delivery to topic %s failed: %s (%s)", rd_kafka_topic_name(m->rkt),
                    rd_kafka_err2str(m->err), rd_kafka_err2name(m->err));
    }
    struct record r;
    record_of(k, m, &r);
    k->report(k->report_arg, &(struct delivery_report){
                                 .rec = &r, .err = m->err, .err_name = rd_kafka_err2name(m->err),
                                 .err_text = rd_kafka_err2str(m->err), .seq = tick << 16, .slot = slot,
                                 .ack = ack,
                                 .flags = (purged ? DELIVERY_PURGED : 0) | (permanent(m->err) ? DELIVERY_PERMANENT : 0)});
}

/* librdkafka needs 2.6.1 to authenticate with SCRAM to Kafka 4.x (confluentinc/librdkafka#4895:
 * older versions send a client-final message that Kafka 4 refuses as invalid credentials). */
#define SCRAM_FIXED_VERSION 0x020601ff
static const char *scram_hint(const struct kafka *k) {
    return k->scram && rd_kafka_version() < SCRAM_FIXED_VERSION
               ? "; this librdkafka is older than 2.6.1 and cannot authenticate with SCRAM to Kafka 4.x "
                 "even with the right password: build hotdog with the librdkafka scripts/install-deps "
                 "provides"
               : "";
}

/* What an error event says about why brokers are down, in the words /readyz uses; NULL for
 * events that say nothing about it. *rank: 2 names authentication or TLS, 1 a broker
 * connection that failed, 0 only that all are down (which follows the others). */
static const char *cause_of(int err, const char *reason, int *rank) {
    *rank = 2;
    switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        return "authentication failed";
    case RD_KAFKA_RESP_ERR__SSL:
        return "TLS handshake failed";
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
        if (strstr(reason, "SSL handshake") || strstr(reason, "certificate verify")) return "TLS handshake failed";
        if (strstr(reason, "SASL authentication error")) return "authentication failed";
        *rank = 1;
        return "broker connection failed";
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        *rank = 0;
        return "no Kafka broker is up";
    default:
        return NULL;
    }
}

/* The part of an event that names its source, for per-source rate limiting: librdkafka
 * starts a broker's messages with the broker's name ("sasl_ssl://host:port/2: ..."). */
static size_t source_len(const char *s) {
    const char *e = strstr(s, ": ");
    return e && e - s < 200 ? (size_t)(e - s) : 0;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    struct kafka *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[200];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        /* Counted before the flag is raised: whoever sees kafka_fatal() sees the count too. */
        metrics_add_any(M_KAFKA_FATAL, 1);
        pthread_mutex_lock(&k->cause_lock);
        if (!atomic_load(&k->fatal)) {
            snprintf(k->fatal_reason, sizeof k->fatal_reason, "fatal producer error: %s (%s)", why,
                     rd_kafka_err2name(orig));
            atomic_store(&k->fatal, 1);
        }
        pthread_mutex_unlock(&k->cause_lock);
        log_error("kafka: fatal producer error: %s (%s). The producer cannot go on: hotdog stops reading, "
                  "keeps what is queued (spool, dead-letter file) and exits with status 1, to be "
                  "restarted with a new producer", why, rd_kafka_err2name(orig));
        return;
    }
    int rank = 0;
    const char *cause = cause_of(err, reason, &rank);
    if (cause) {
        /* "All brokers down" follows the failures that caused it and must not hide them: a
         * cause gives way to a less specific one only once it has not recurred for 15 s
         * (librdkafka retries a broker at least every 10 s, reconnect.backoff.max.ms). */
        int64_t now = clock_ms();
        pthread_mutex_lock(&k->cause_lock);
        if (rank >= k->cause_rank || now - k->cause_ms > 15000) {
            snprintf(k->cause, sizeof k->cause, "%s: %s", cause, reason);
            k->cause_rank = rank;
            k->cause_ms = now;
        }
        pthread_mutex_unlock(&k->cause_lock);
    }
    char key[256];
    int n = snprintf(key, sizeof key, "%d %.*s", err, (int)source_len(reason), reason);
    log_write_keyed(&k->broker_log, key, n > 0 ? (size_t)n : 0,
                    rank == 2 ? L_ERROR : L_WARN, "kafka: %s%s%s (%s)%s", cause ? cause : "",
                    cause ? ": " : "", reason, rd_kafka_err2name(err),
                    cause && !strcmp(cause, "authentication failed") ? scram_hint(k) : "");
}

/* librdkafka's log lines, limited per facility and source (a broker), so that one broker's
 * repeated disconnects never hide another broker's. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    struct kafka *k = rd_kafka_opaque(rk);
    /* librdkafka's syslog-style levels: 0-3 errors, 4 warning, 5-6 info, 7 debug. */
    enum log_level lvl = level <= 3 ? L_ERROR : level == 4 ? L_WARN : level <= 6 ? L_INFO : L_DEBUG;
    if (!k) { /* before rd_kafka_new returned */
        log_limited(lvl, "librdkafka %s: %s", fac, buf);
        return;
    }
    /* buf is "[thrd:NAME]: NAME: text": the key is the facility and the source's name. */
    const char *src = strncmp(buf, "[thrd:", 6) == 0 && strstr(buf, "]: ") ? strstr(buf, "]: ") + 3 : buf;
    char key[256];
    int n = snprintf(key, sizeof key, "%s %.*s", fac, (int)source_len(src), src);
    log_write_keyed(&k->broker_log, key, n > 0 ? (size_t)n : 0, lvl, "librdkafka %s: %s", fac, buf);
}

/* Notes, for each topic hotdog produces to, which of its partitions have a leader (bit p for
 * partition p; 0 for a topic of more than 64 partitions, or none known). runs on: the
 * delivery-report thread, from stats_cb. */
static void note_leaders(struct kafka *k, json_t *topics) {
    if (!k->sticky_ticks) return;
    pthread_mutex_lock(&k->topics_lock);
    for (struct topic_entry *t = k->topics; t; t = t->next) {
        json_t *parts = json_object_get(json_object_get(topics, t->name), "partitions"), *pt;
        const char *id;
        uint64_t bits = 0;
        int wide = 0;
        json_object_foreach(parts, id, pt) {
            json_int_t p = json_integer_value(json_object_get(pt, "partition"));
            if (p < 0 || json_is_true(json_object_get(pt, "unknown"))) continue; /* -1: the UA queue */
            if (p >= 64) wide = 1;
            else if (json_integer_value(json_object_get(pt, "leader")) >= 0) bits |= UINT64_C(1) << p;
        }
        atomic_store_explicit(&t->leaders, wide ? 0 : bits, memory_order_relaxed);
    }
    pthread_mutex_unlock(&k->topics_lock);
}

/* Summarises librdkafka's statistics JSON: how many brokers are up, their mean round-trip
 * time, and the messages waiting in their output buffers. runs on: the delivery-report thread, once per statistics.interval.ms. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    struct kafka *k = opaque;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *brokers = json_object_get(root, "brokers"), *b;
    const char *name;
    int64_t up = 0, rtt = 0, nrtt = 0, outbuf = 0;
    json_object_foreach(brokers, name, b) {
        if (json_integer_value(json_object_get(b, "nodeid")) < 0) continue; /* bootstrap entry */
        outbuf += json_integer_value(json_object_get(b, "outbuf_msg_cnt"));
        const char *state = json_string_value(json_object_get(b, "state"));
        if (state && !strcmp(state, "UP")) up++;
        json_t *avg = json_object_get(json_object_get(b, "rtt"), "avg");
        if (json_integer_value(avg) > 0) {
            rtt += json_integer_value(avg);
            nrtt++;
        }
    }
    note_leaders(k, json_object_get(root, "topics"));
    json_decref(root);
    atomic_store(&k->brokers_up, up);
    atomic_store(&k->rtt_avg_us, nrtt ? rtt / nrtt : 0);
    atomic_store(&k->outbuf_msgs, outbuf);
    atomic_store(&k->stats_at_ms, clock_ms());
    k->report_reuse = 0; /* parsing took a while: reports after it in this poll read the clock */
    return 0; /* librdkafka frees json */
}

static int conf_set(rd_kafka_conf_t *conf, const char *file, int line, const char *key,
                    const char *value, char *err, size_t errlen) {
    char reason[256];
    if (rd_kafka_conf_set(conf, key, value, reason, sizeof reason) == RD_KAFKA_CONF_OK) return 0;
    snprintf(err, errlen, "%s:%d: 'global.kafka.conf.%s': %s", file, line, key, reason);
    return -1;
}

/* Whether hotdog may choose the partition of keyless batches itself, and for how long it keeps
 * one (in produce ticks): only where librdkafka would put them on a sticky partition anyway
 * (a random or *_random partitioner, the default, with sticky.partitioning.linger.ms > 0) and its
 * statistics tell which partitions have a leader. 0: leave every message to the partitioner. */
static uint64_t sticky_ticks(rd_kafka_t *rk) {
    char v[64];
    size_t n = sizeof v;
    const rd_kafka_conf_t *conf = rd_kafka_conf(rk);
    if (rd_kafka_conf_get(conf, "statistics.interval.ms", v, &n) != RD_KAFKA_CONF_OK || atol(v) <= 0)
        return 0;
    n = sizeof v;
    if (rd_kafka_conf_get(conf, "sticky.partitioning.linger.ms", v, &n) != RD_KAFKA_CONF_OK)
        return 0;
    long ms = atol(v);
    rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(rk);
    n = sizeof v;
    /* librdkafka sticks keyless messages to a partition unless its partitioner hashes them
     * (consistent, murmur2, fnv1a: all to the partition of the empty key). */
    int ok = tc && rd_kafka_topic_conf_get(tc, "partitioner", v, &n) == RD_KAFKA_CONF_OK &&
             (!strcmp(v, "consistent_random") || !strcmp(v, "murmur2_random") ||
              !strcmp(v, "fnv1a_random") || !strcmp(v, "random"));
    if (tc) rd_kafka_topic_conf_destroy(tc);
    return ok && ms > 0 ? (uint64_t)ms * (1000000 / TICK_NS) : 0;
}

struct kafka *kafka_new(const struct config *c, struct metrics_shard *shard, kafka_report_fn report,
                        void *report_arg, char *err, size_t errlen) {
    struct kafka *k = calloc(1, sizeof *k);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!k || !conf) abort();
    k->shard = shard;
    k->report = report;
    k->report_arg = report_arg;
    k->t0_ns = clock_ns();
    k->stall_ms = c->kafka.stall_timeout_ms > 0 ? c->kafka.stall_timeout_ms : 10000;
    pthread_mutex_init(&k->topics_lock, NULL);
    pthread_mutex_init(&k->invalid_lock, NULL);
    pthread_mutex_init(&k->cause_lock, NULL);
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (conf_set(conf, c->path, 0, defaults[i][0], defaults[i][1], err, errlen) < 0) goto err;
    if (c->kafka.buffer > 0 && !config_kafka_get(c, "queue.buffering.max.messages")) {
        char v[32];
        snprintf(v, sizeof v, "%ld", c->kafka.buffer);
        if (conf_set(conf, c->path, c->kafka.line, "queue.buffering.max.messages", v, err, errlen) < 0)
            goto err;
    }
    for (size_t i = 0; i < c->kafka.nconf; i++)
        if (conf_set(conf, c->path, c->kafka.conf[i].line, c->kafka.conf[i].key,
                     c->kafka.conf[i].value, err, errlen) < 0)
            goto err;
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    char mech[64], proto[32];
    size_t mlen = sizeof mech, plen = sizeof proto;
    k->scram = rd_kafka_conf_get(conf, "sasl.mechanisms", mech, &mlen) == RD_KAFKA_CONF_OK &&
               rd_kafka_conf_get(conf, "security.protocol", proto, &plen) == RD_KAFKA_CONF_OK &&
               !strncasecmp(mech, "SCRAM", 5) && !strncasecmp(proto, "SASL", 4);
    if (k->scram && rd_kafka_version() < SCRAM_FIXED_VERSION)
        log_warn("%s:%d: 'global.kafka.conf': %s is configured, but this librdkafka (%s) is older than "
                 "2.6.1 and cannot authenticate with SCRAM to Kafka 4.x (confluentinc/librdkafka#4895): "
                 "build hotdog with the librdkafka scripts/install-deps provides", c->path, c->kafka.line,
                 mech, rd_kafka_version_str());
    char qmax[32];
    size_t qlen = sizeof qmax;
    k->queue_max = rd_kafka_conf_get(conf, "queue.buffering.max.messages", qmax, &qlen) == RD_KAFKA_CONF_OK
                       ? strtol(qmax, NULL, 10)
                       : 100000;
    char reason[512];
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
    if (!k->rk) {
        snprintf(err, errlen, "%s:%d: cannot create the Kafka producer: %s", c->path,
                 c->kafka.line, reason);
        goto err;
    }
    k->sticky_ticks = sticky_ticks(k->rk);
    return k;
err:
    if (!k->rk) rd_kafka_conf_destroy(conf);
    pthread_mutex_destroy(&k->topics_lock);
    pthread_mutex_destroy(&k->invalid_lock);
    pthread_mutex_destroy(&k->cause_lock);
    free(k);
    return NULL;
}

int kafka_wait_ready(struct kafka *k, int timeout_ms, char *err, size_t errlen) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, NULL, &md, timeout_ms);
    if (e) {
        snprintf(err, errlen, "no Kafka broker answered within %d ms: %s", timeout_ms,
                 rd_kafka_err2str(e));
        return -1;
    }
    int nb = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (nb == 0) {
        snprintf(err, errlen, "Kafka answered with no brokers");
        return -1;
    }
    log_info("kafka: connected, %d broker(s) in the cluster", nb);
    return 0;
}

/* The stall watch: messages wait, and no delivery report (acknowledgement or failure) came
 * for stall_ms. librdkafka retries in silence meanwhile (message.timeout.ms is 0), so this is
 * where an operator learns that delivery stopped, and when it resumed. runs on: the
 * delivery-report thread, after every poll. */
static void watch(struct kafka *k, int64_t now) {
    int outq = rd_kafka_outq_len(k->rk);
    if (k->reports != k->watch_reports || outq == 0) {
        k->watch_reports = k->reports;
        k->progress_ms = now;
        int64_t since = atomic_exchange(&k->stalled_since_ms, 0);
        if (since)
            log_info("kafka: delivery resumed after %.1f s without progress (%d message(s) waiting)",
                     (double)(now - since) / 1000.0, outq);
        return;
    }
    if (now - k->progress_ms < k->stall_ms || atomic_load(&k->stalled_since_ms)) return;
    atomic_store(&k->stalled_since_ms, k->progress_ms);
    metrics_add_any(M_KAFKA_STALLS, 1);
    char cause[256];
    pthread_mutex_lock(&k->cause_lock);
    snprintf(cause, sizeof cause, "%s", k->cause_ms && now - k->cause_ms < 2 * k->stall_ms + 60000 ? k->cause : "");
    pthread_mutex_unlock(&k->cause_lock);
    log_warn("kafka: no delivery progress for %.1f s while %d message(s) wait (%lld broker(s) up%s%s); "
             "librdkafka keeps retrying, the log says when delivery resumes",
             (double)(now - k->progress_ms) / 1000.0, outq, (long long)atomic_load(&k->brokers_up),
             cause[0] ? "; last broker event: " : "", cause);
}

/* runs on: the delivery-report thread. */
static void *poll_main(void *arg) {
    struct kafka *k = arg;
    k->progress_ms = clock_ms();
    while (atomic_load(&k->running)) {
        rd_kafka_poll(k->rk, 100);
        k->report_reuse = 0; /* the next poll may have waited: its first report reads the clock */
        watch(k, clock_ms());
    }
    return NULL;
}

int kafka_start(struct kafka *k) {
    atomic_store(&k->running, 1);
    int e = pthread_create(&k->poller, NULL, poll_main, k);
    if (e) atomic_store(&k->running, 0);
    return -e;
}

void kafka_stop(struct kafka *k) {
    if (!atomic_exchange(&k->running, 0)) return;
    pthread_join(k->poller, NULL);
    k->report_reuse = 0; /* reports are served by whoever flushes now (rd_kafka_flush may
                          * wait between bursts: a few reports after a wait can be timed a
                          * little early; only at shutdown) */
}

struct kafka_topic *kafka_topic(struct kafka *k, const char *name) {
    pthread_mutex_lock(&k->topics_lock);
    struct topic_entry *t = k->topics;
    while (t && strcmp(t->name, name)) t = t->next;
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) abort();
        t->name = strdup(name);
        /* A copy of the default topic configuration: the topic-level settings of hotdog's
         * defaults and of the user's conf (message.timeout.ms, partitioner, ...) are there.
         * An empty one of our own would drop them all. */
        rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(k->rk);
        if (!tc) abort();
        rd_kafka_topic_conf_set_opaque(tc, t); /* delivery reports find the counters */
        t->rkt = rd_kafka_topic_new(k->rk, name, tc);
        if (!t->name || !t->rkt) abort();
        t->next = k->topics;
        k->topics = t;
    }
    pthread_mutex_unlock(&k->topics_lock);
    return (struct kafka_topic *)t->rkt;
}

struct kafka_topics {
    struct kafka *k;
    rd_kafka_message_t *msgs; /* kafka_produce_batch's, reused */
    unsigned msgs_cap;
    const char *last;           /* the name looked up last (a key of slot), and its handle: */
    struct kafka_topic *last_t; /* most messages go where the previous one went */
    long last_slot;             /* and its slot; -1: not cached (the cache is full) */
    /* The last produce tick this thread took from this producer (see tick_take). Per producer
     * and thread, not per thread: a second producer's ticks start again from its creation. */
    uint64_t last_tick;
    size_t n, cap; /* open addressing, cap a power of two */
    struct {
        char *name;
        uint32_t hash;
        struct kafka_topic *t;
        /* This thread's sticky partition for keyless batches to the topic, and until when
         * (a produce tick); picked: 0 until one was chosen. */
        int32_t part;
        int picked;
        uint64_t until;
    } *slot;
};

/* The first of n ticks for n messages produced now on tc's thread, one after the other: later
 * than the thread's previous one. */
static uint64_t tick_take(struct kafka_topics *tc, unsigned n) {
    uint64_t t = tick_now(tc->k), last = tc->last_tick;
    if (t <= last && last - t < TICK_MASK / 2) t = (last + 1) & TICK_MASK ? (last + 1) & TICK_MASK : 1;
    tc->last_tick = (t + n - 1) & TICK_MASK;
    return t;
}

static uint64_t tick_next(struct kafka_topics *tc) { return tick_take(tc, 1); }

struct kafka_topics *kafka_topics_new(struct kafka *k) {
    struct kafka_topics *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->k = k;
    c->last_slot = -1;
    c->cap = 16;
    c->slot = calloc(c->cap, sizeof *c->slot);
    if (!c->slot) abort();
    return c;
}

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static size_t topics_insert(struct kafka_topics *c, char *name, uint32_t h, struct kafka_topic *t) {
    size_t i = h & (c->cap - 1);
    while (c->slot[i].name) i = (i + 1) & (c->cap - 1);
    c->slot[i].name = name;
    c->slot[i].hash = h;
    c->slot[i].t = t;
    c->n++;
    return i;
}

struct kafka_topic *kafka_topics_get(struct kafka_topics *c, const char *name) {
    if (c->last && !strcmp(c->last, name)) return c->last_t;
    uint32_t h = fnv1a(name);
    for (size_t i = h & (c->cap - 1); c->slot[i].name; i = (i + 1) & (c->cap - 1))
        if (c->slot[i].hash == h && !strcmp(c->slot[i].name, name)) {
            c->last = c->slot[i].name;
            c->last_t = c->slot[i].t;
            c->last_slot = (long)i;
            return c->last_t;
        }
    if (!kafka_topic_valid(name)) return NULL; /* never a handle, never cached */
    struct kafka_topic *t = kafka_topic(c->k, name);
    if (c->n >= KAFKA_TOPIC_CACHE) {
        c->last = NULL;
        c->last_slot = -1;
        return t;
    }
    if ((c->n + 1) * 2 > c->cap) { /* keep the load under one half */
        struct kafka_topics old = *c;
        c->cap *= 2;
        c->n = 0;
        c->slot = calloc(c->cap, sizeof *c->slot);
        if (!c->slot) abort();
        for (size_t i = 0; i < old.cap; i++)
            if (old.slot[i].name) /* with its sticky partition */
                c->slot[topics_insert(c, old.slot[i].name, old.slot[i].hash, old.slot[i].t)] = old.slot[i];
        free(old.slot);
    }
    char *copy = strdup(name);
    if (!copy) abort();
    c->last_slot = (long)topics_insert(c, copy, h, t);
    c->last = copy;
    c->last_t = t;
    return t;
}

void kafka_topics_free(struct kafka_topics *c) {
    if (!c) return;
    for (size_t i = 0; i < c->cap; i++) free(c->slot[i].name);
    free(c->slot);
    free(c->msgs);
    free(c);
}

int kafka_topic_valid(const char *name) {
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-') || n >= KAFKA_TOPIC_MAX)
            return 0;
    }
    return n > 0 && strcmp(name, ".") && strcmp(name, "..");
}

/* Reports r, which the producer did not queue, as failed for good. */
static void refused(struct kafka *k, const struct record *r, rd_kafka_resp_err_t e, unsigned slot) {
    k->report(k->report_arg, &(struct delivery_report){
                                 .rec = r, .err = e, .err_name = rd_kafka_err2name(e),
                                 .err_text = rd_kafka_err2str(e), .slot = slot,
                                 .ack = r->ack, .seq = r->seq,
                                 .flags = DELIVERY_REFUSED | DELIVERY_PERMANENT});
}

/* Fails a record whose topic is not a valid name, for good, as the original's producer does:
 * counted as kafka.producer.error.invalidtopic (TOPIC_EXCEPTION) or, for a name refused more
 * than half a second before, .unknowntopic (_UNKNOWN_TOPIC); never retried. Returns -EINVAL.
 * runs on: any thread; locks: a mutex of its own (a rare path). */
static int refuse_topic(struct kafka *k, const struct record *r, unsigned slot) {
    /* Counted as the original counts it (measured): its librdkafka fails the messages for a
     * new invalid name with the broker's answer, TOPIC_EXCEPTION (invalidtopic); from about
     * half a second after that answer it knows the topic as missing and fails the next ones at
     * once with _UNKNOWN_TOPIC (unknowntopic). Both are permanent: dead-lettered. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < r->topic_len; i++) h = (h ^ (unsigned char)r->topic[i]) * 1099511628211ull;
    h |= 1; /* 0 marks a free slot */
    int64_t now = clock_us();
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
    pthread_mutex_lock(&k->invalid_lock);
    /* The name's slot is one of 8 from its hash: its own, else a free one, else the oldest. */
    size_t base = (size_t)(h >> 7), pick = base % KAFKA_INVALID_NAMES;
    int found = 0;
    for (size_t j = 0; j < 8 && !found; j++) {
        size_t i = (base + j) % KAFKA_INVALID_NAMES;
        if (k->invalid[i].hash == h) found = 1;
        if (found || !k->invalid[i].hash || (k->invalid[pick].hash &&
                                             k->invalid[i].first_us < k->invalid[pick].first_us))
            pick = i;
        if (!k->invalid[i].hash) break;
    }
    if (!found) {
        k->invalid[pick].hash = h;
        k->invalid[pick].first_us = now;
    } else if (now - k->invalid[pick].first_us >= KAFKA_INVALID_KNOWN_US) {
        e = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    }
    pthread_mutex_unlock(&k->invalid_lock);
    count_error(k, e);
    int shown = r->topic_len > 64 ? 64 : (int)r->topic_len;
    log_limited(L_ERROR, "kafka: cannot queue a message for topic '%.*s%s': not a valid Kafka "
                "topic name (1 to %d of a-z A-Z 0-9 . _ -)", shown, r->topic,
                r->topic_len > 64 ? "..." : "", KAFKA_TOPIC_MAX);
    refused(k, r, e, slot);
    return -EINVAL;
}

/* The topic handle for r, from the thread's cache; NULL for a name Kafka would refuse. The
 * name is copied: a record from the spool has a topic that is not NUL-terminated, and may
 * (from an older version) hold any bytes. */
static struct kafka_topic *topic_of(struct kafka_topics *tc, const struct record *r) {
    char topic[KAFKA_TOPIC_MAX + 1];
    if (r->topic_len > KAFKA_TOPIC_MAX || memchr(r->topic, 0, r->topic_len)) return NULL;
    memcpy(topic, r->topic, r->topic_len);
    topic[r->topic_len] = 0;
    return kafka_topics_get(tc, topic);
}

/* Queues r on partition (RD_KAFKA_PARTITION_UA: the partitioner chooses). */
static int produce(struct kafka_topics *tc, struct kafka_topic *t, int32_t partition, const struct record *r,
                   unsigned slot) {
    struct kafka *k = tc->k;
    rd_kafka_topic_t *rkt = (rd_kafka_topic_t *)t;
    /* Timed from here, as the original times kafka.producer.sent: from produce to ack. */
    void *opaque = pack(r->ack ? r->seq >> 16 : tick_next(tc), slot, r->ack);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!r->headers_len && !r->timestamp_ms) {
        if (rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, (void *)r->payload, r->len, r->key,
                             r->key_len, opaque) != 0)
            e = rd_kafka_last_error();
    } else {
        rd_kafka_headers_t *hs = NULL;
        if (r->headers_len) {
            hs = rd_kafka_headers_new(8);
            struct record_header h;
            size_t off = 0;
            while (record_header_next(r->headers, r->headers_len, &off, &h) == 1)
                rd_kafka_header_add(hs, h.name, (ssize_t)h.name_len, h.value, (ssize_t)h.value_len);
        }
        e = rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_VALUE((void *)r->payload, r->len),
                              RD_KAFKA_V_KEY(r->key, r->key_len), RD_KAFKA_V_OPAQUE(opaque),
                              RD_KAFKA_V_TIMESTAMP(r->timestamp_ms),
                              RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_END);
        if (e && hs) rd_kafka_headers_destroy(hs); /* librdkafka owns them only once queued */
    }
    if (!e) {
        struct topic_entry *te = rd_kafka_topic_opaque(rkt);
        atomic_fetch_add_explicit(&te->produced, 1, memory_order_relaxed);
        return 0;
    }
    /* After a fatal error the producer takes nothing more: the caller holds the message as
     * for a full queue (TCP pauses, UDP goes to the spool) until hotdog has shut down, which
     * keeps it in the spool or counts it. */
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL || e == RD_KAFKA_RESP_ERR__FATAL) return -ENOBUFS;
    /* A replayed message's partition that the topic no longer has: any partition will do. */
    if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && partition != RD_KAFKA_PARTITION_UA)
        return produce(tc, t, RD_KAFKA_PARTITION_UA, r, slot);
    count_error(k, e);
    log_limited(L_ERROR, "kafka: cannot queue a message for %s: %s", rd_kafka_topic_name(rkt),
                rd_kafka_err2str(e));
    /* Refused before it was queued (too large, invalid): retrying would fail the same way. */
    refused(k, r, e, slot);
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? -EMSGSIZE : -EINVAL;
}

int kafka_produce(struct kafka_topics *tc, const struct record *r, unsigned slot) {
    struct kafka_topic *t = topic_of(tc, r);
    if (!t) return refuse_topic(tc->k, r, slot);
    /* A message purged at shutdown goes back to the partition it was on: a line that reached
     * Kafka unacknowledged (a broker lost quorum) and is replayed as a duplicate then stays
     * behind the lines that were before it in that partition. */
    return produce(tc, t, r->part ? (int32_t)(r->part - 1) : RD_KAFKA_PARTITION_UA, r, slot);
}

/* The partition for a batch of keyless messages to t, produced at tick: this thread's sticky
 * partition for t, as librdkafka's sticky partitioner would choose it (a random partition
 * that has a leader, kept for sticky.partitioning.linger.ms, changed when the statistics say
 * it lost its leader), so that librdkafka need not run its partitioner, read the clock twice and check the
 * partition's leader for every message. RD_KAFKA_PARTITION_UA (the partitioner per message)
 * when that partitioner is not in use, the leaders are not known yet (the first statistics,
 * statistics.interval.ms after the topic's first message), the topic has more than 64
 * partitions, or it is not in this thread's topic cache. */
static int32_t sticky_partition(struct kafka_topics *tc, struct kafka_topic *t, uint64_t tick) {
    struct kafka *k = tc->k;
    if (!k->sticky_ticks || tc->last_slot < 0) return RD_KAFKA_PARTITION_UA;
    struct topic_entry *te = rd_kafka_topic_opaque((rd_kafka_topic_t *)t);
    uint64_t bits = te ? atomic_load_explicit(&te->leaders, memory_order_relaxed) : 0;
    if (!bits) return RD_KAFKA_PARTITION_UA;
    __typeof__(&tc->slot[0]) sl = &tc->slot[tc->last_slot];
    int expired = !sl->picked || ((tick - sl->until) & TICK_MASK) < TICK_MASK / 2;
    if (expired || !(bits >> sl->part & 1)) {
        static _Thread_local uint64_t rnd;
        if (!rnd) rnd = tick ^ (uint64_t)(uintptr_t)&rnd ^ UINT64_C(0x9e3779b97f4a7c15);
        rnd ^= rnd << 13; /* xorshift64 */
        rnd ^= rnd >> 7;
        rnd ^= rnd << 17;
        unsigned pick = (unsigned)(rnd % (uint64_t)__builtin_popcountll(bits));
        while (pick--) bits &= bits - 1; /* drop the lowest set bits */
        sl->part = __builtin_ctzll(bits);
        sl->picked = 1;
        sl->until = (tick + k->sticky_ticks) & TICK_MASK;
    }
    return sl->part;
}

/* Whether a and b go to the same topic. */
static int same_topic(const struct record *a, const struct record *b) {
    return a->topic_len == b->topic_len && !memcmp(a->topic, b->topic, a->topic_len);
}

unsigned kafka_produce_batch(struct kafka_topics *tc, const struct record *rs, unsigned n,
                             unsigned *failed) {
    struct kafka *k = tc->k;
    unsigned done = 0;
    *failed = 0;
    if (n > tc->msgs_cap) {
        rd_kafka_message_t *m = realloc(tc->msgs, n * sizeof *m);
        if (!m) abort();
        tc->msgs = m;
        tc->msgs_cap = n;
    }
    /* Timed from here, as kafka_produce times them; one clock read for all. */
    uint64_t tick = tick_take(tc, n);
    while (done < n) {
        const struct record *r = &rs[done];
        struct kafka_topic *t = topic_of(tc, r);
        if (!t) {
            refuse_topic(k, r, 0);
            ++*failed;
            done++;
            tick++;
            continue;
        }
        unsigned m = 1;
        int keyed = r->key != NULL;
        while (done + m < n && same_topic(&rs[done + m], r)) keyed |= rs[done + m++].key != NULL;
        int32_t partition = keyed ? RD_KAFKA_PARTITION_UA : sticky_partition(tc, t, tick);
        rd_kafka_message_t *ms = tc->msgs;
        for (unsigned i = 0; i < m; i++, tick++) {
            const struct record *x = &rs[done + i];
            uint64_t tk = tick & TICK_MASK;
            ms[i] = (rd_kafka_message_t){.payload = (void *)x->payload, .len = x->len,
                                         .key = (void *)x->key, .key_len = x->key_len,
                                         ._private = pack(tk ? tk : 1, 0, 0)};
        }
        rd_kafka_topic_t *rkt = (rd_kafka_topic_t *)t;
        rd_kafka_produce_batch(rkt, partition, RD_KAFKA_MSG_F_COPY, ms, (int)m);
        if (partition != RD_KAFKA_PARTITION_UA && ms[0].err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
            /* The statistics ran ahead of the topic's metadata: the partitioner chooses. */
            for (unsigned i = 0; i < m; i++) ms[i].err = 0;
            rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, ms, (int)m);
        }
        /* librdkafka gives up on the rest of a batch at the first message the queue has no
         * room for: what was refused is a tail, and the order holds. */
        unsigned ok = 0, i = 0;
        for (; i < m; i++) {
            rd_kafka_resp_err_t e = ms[i].err;
            if (!e) {
                ok++;
                continue;
            }
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL || e == RD_KAFKA_RESP_ERR__FATAL) break;
            count_error(k, e);
            log_limited(L_ERROR, "kafka: cannot queue a message for %s: %s", rd_kafka_topic_name(rkt),
                        rd_kafka_err2str(e));
            refused(k, &rs[done + i], e, 0);
            ++*failed;
        }
        if (ok) {
            struct topic_entry *te = rd_kafka_topic_opaque(rkt);
            atomic_fetch_add_explicit(&te->produced, ok, memory_order_relaxed);
        }
        done += i;
        if (i < m) break;
    }
    return done;
}

int kafka_check_topic(struct kafka_topics *tc, const struct record *r, unsigned slot) {
    return topic_of(tc, r) ? 0 : refuse_topic(tc->k, r, slot);
}

int kafka_purge(struct kafka *k, int timeout_ms) {
    if (!rd_kafka_outq_len(k->rk)) return 0;
    rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(k->rk, timeout_ms); /* serves the purged messages' delivery reports */
    return rd_kafka_outq_len(k->rk);
}

static void *producer_thread_new(void *k) { return kafka_topics_new(k); }
static void producer_thread_free(void *tc) { kafka_topics_free(tc); }
static int producer_produce(void *tc, const struct record *r, unsigned slot) { return kafka_produce(tc, r, slot); }
static unsigned producer_produce_batch(void *tc, const struct record *rs, unsigned n, unsigned *failed) {
    return kafka_produce_batch(tc, rs, n, failed);
}
static int producer_check(void *tc, const struct record *r, unsigned slot) { return kafka_check_topic(tc, r, slot); }
static int producer_purge(void *k, int timeout_ms) { return kafka_purge(k, timeout_ms); }
static uint64_t producer_next_seq(void *tc) { return tick_next(tc) << 16; }

void kafka_producer(struct kafka *k, struct delivery_producer *p) {
    *p = (struct delivery_producer){.arg = k, .thread_new = producer_thread_new,
                                    .thread_free = producer_thread_free, .produce = producer_produce,
                                    .produce_batch = producer_produce_batch,
                                    .check_topic = producer_check, .purge = producer_purge,
                                    .next_seq = producer_next_seq};
}

int kafka_outq_len(struct kafka *k) { return rd_kafka_outq_len(k->rk); }

int kafka_topic_leaders(struct kafka *k, const char *name) {
    int n = -1;
    pthread_mutex_lock(&k->topics_lock);
    for (struct topic_entry *t = k->topics; t; t = t->next)
        if (!strcmp(t->name, name)) {
            uint64_t bits = atomic_load(&t->leaders);
            n = bits ? __builtin_popcountll(bits) : -1;
        }
    pthread_mutex_unlock(&k->topics_lock);
    return n;
}

int kafka_flush(struct kafka *k, int timeout_ms) {
    rd_kafka_flush(k->rk, timeout_ms);
    return rd_kafka_outq_len(k->rk);
}

void kafka_foreach_error(struct kafka *k, void (*fn)(const char *name, uint64_t n, void *arg),
                         void *arg) {
    char buf[64];
    for (int i = 0; i < ERR_SLOTS; i++) {
        uint64_t n = atomic_load_explicit(&k->errors[i], memory_order_relaxed);
        if (n) fn(kafka_err_word(i - ERR_BASE, buf, sizeof buf), n, arg);
    }
}

void kafka_foreach_topic(struct kafka *k, void (*fn)(const char *topic, uint64_t produced,
                                                     uint64_t delivered, uint64_t failed, void *arg),
                         void *arg) {
    pthread_mutex_lock(&k->topics_lock);
    for (struct topic_entry *t = k->topics; t; t = t->next)
        fn(t->name, atomic_load(&t->produced), atomic_load(&t->delivered), atomic_load(&t->failed), arg);
    pthread_mutex_unlock(&k->topics_lock);
}

void kafka_latency(struct kafka *k, struct kafka_latency *out) {
    for (int i = 0; i <= KAFKA_LATENCY_BUCKETS; i++) out->bucket[i] = atomic_load(&k->lat[i]);
    out->count = atomic_load(&k->lat_count);
    out->sum_us = atomic_load(&k->lat_sum_us);
}

void kafka_state(struct kafka *k, struct kafka_state *st) {
    int64_t now = clock_ms(), at = atomic_load(&k->stats_at_ms);
    st->outq = rd_kafka_outq_len(k->rk);
    st->queue_max = k->queue_max;
    st->brokers_up = atomic_load(&k->brokers_up);
    st->rtt_avg_us = atomic_load(&k->rtt_avg_us);
    st->outbuf_msgs = atomic_load(&k->outbuf_msgs);
    st->stats_age_ms = at ? now - at : -1;
    int64_t since = atomic_load(&k->stalled_since_ms);
    st->stalled_ms = since ? now - since : 0;
    st->fatal = atomic_load(&k->fatal);
    pthread_mutex_lock(&k->cause_lock);
    /* librdkafka suppresses repeats of an identical error for a while, so a cause stays
     * current for minutes; older than 5 it no longer explains anything. */
    int fresh = k->cause_ms && now - k->cause_ms < 300000;
    snprintf(st->cause, sizeof st->cause, "%s", st->fatal ? k->fatal_reason : fresh ? k->cause : "");
    st->cause_names_it = st->fatal || (fresh && k->cause_rank == 2);
    pthread_mutex_unlock(&k->cause_lock);
}

int kafka_fatal(struct kafka *k, char *why, size_t len) {
    if (!atomic_load(&k->fatal)) return 0;
    pthread_mutex_lock(&k->cause_lock);
    snprintf(why, len, "%s", k->fatal_reason);
    pthread_mutex_unlock(&k->cause_lock);
    return 1;
}

int kafka_set_credentials(struct kafka *k, const char *user, const char *password, char *err,
                          size_t errlen) {
    rd_kafka_error_t *e = rd_kafka_sasl_set_credentials(k->rk, user, password);
    if (!e) return 0;
    snprintf(err, errlen, "%s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
}

const char *kafka_version(void) { return rd_kafka_version_str(); }

void *kafka_handle(struct kafka *k) { return k->rk; }

void kafka_free(struct kafka *k) {
    if (!k) return;
    kafka_stop(k);
    while (k->topics) {
        struct topic_entry *t = k->topics;
        k->topics = t->next;
        rd_kafka_topic_destroy(t->rkt);
        free(t->name);
        free(t);
    }
    rd_kafka_destroy(k->rk);
    pthread_mutex_destroy(&k->topics_lock);
    pthread_mutex_destroy(&k->invalid_lock);
    pthread_mutex_destroy(&k->cause_lock);
    buf_free(&k->dr_headers);
    free(k);
}
