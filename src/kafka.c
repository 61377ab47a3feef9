/* kafka.c - the one librdkafka producer that all workers share, and its delivery reports. */
#include "kafka.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "clock.h"
#include "deadletter.h"
#include "log.h"
#include "spool.h"

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
    /* Produce-to-ack latency, written by the delivery-report thread only. */
    _Atomic uint64_t lat[KAFKA_LATENCY_BUCKETS + 1], lat_count, lat_sum_us;
    /* Where failed messages go: back to the spool (retriable), or the dead-letter file. */
    struct spool *spool;
    struct deadletter *dl;
    struct kafka_topics *replay_topics; /* the spool replayer's topic handles */
    int64_t t0_us; /* produce times travel in the message opaque relative to this */
    /* Invalid topic names refused so far (a hash of each, and when it was first refused); when
     * full, the oldest nearby is pushed out and counts as new again. Taken by workers, rarely. */
    pthread_mutex_t invalid_lock;
    struct {
        uint64_t hash;
        int64_t first_us;
    } invalid[KAFKA_INVALID_NAMES];
};

/* A message's opaque carries its spool slot (0: not from the spool) in the top 16 bits and
 * the time it was produced, in microseconds since t0_us + 1 (0: unknown), in the low 48 (8.9
 * years). */
#define SLOT_SHIFT 48
#define TIME_MASK ((UINT64_C(1) << SLOT_SHIFT) - 1)

static void *pack(const struct kafka *k, int64_t sent_us, unsigned slot) {
    uint64_t rel = sent_us >= k->t0_us ? ((uint64_t)(sent_us - k->t0_us) + 1) & TIME_MASK : 0;
    return (void *)(uintptr_t)((uint64_t)slot << SLOT_SHIFT | rel);
}

static void unpack(const struct kafka *k, void *opaque, int64_t *sent_us, unsigned *slot) {
    uint64_t v = (uint64_t)(uintptr_t)opaque;
    *slot = (unsigned)(v >> SLOT_SHIFT);
    *sent_us = v & TIME_MASK ? k->t0_us + (int64_t)(v & TIME_MASK) - 1 : 0;
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
     * hotdog from 0.26-0.65M to 0.56-0.95M (README, Benchmarks). */
    {"compression.codec", "lz4"},
    {"message.timeout.ms", "0"}, /* retry forever while hotdog runs: never give up silently */
    {"socket.keepalive.enable", "true"},
    {"statistics.interval.ms", "1000"}, /* broker state for /readyz and metrics */
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

/* sent_us is the time the message was produced (CLOCK_MONOTONIC), kept in its opaque. */
static void record_latency(struct kafka *k, int64_t sent_us) {
    int64_t d = clock_us() - sent_us;
    if (sent_us <= 0 || d < 0) return;
    int b = kafka_latency_bucket((uint64_t)d);
    owned_add(&k->lat[b], 1);
    owned_add(&k->lat_count, 1);
    owned_add(&k->lat_sum_us, (uint64_t)d);
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

/* Writes a message that Kafka did not take back into the spool: 0, or -1 when the spool is
 * full or failing. runs on: any thread. */
static int respool(struct kafka *k, const char *topic, const void *key, size_t keylen,
                   const void *payload, size_t len) {
    struct spool_rec r = {.topic = topic, .topic_len = strlen(topic), .key = key,
                          .key_len = keylen, .payload = payload, .len = len};
    if (spool_append(k->spool, &r) < 0) return -1;
    metrics_add_any(M_RESPOOLED, 1);
    return 0;
}

/* A message that failed: back into the spool if the error is retriable and there is one,
 * else into the dead-letter file, else counted as lost. runs on: any thread. */
static void rescue(struct kafka *k, const char *topic, const void *key, size_t keylen,
                   const void *payload, size_t len, rd_kafka_resp_err_t err, int never_retry) {
    /* A full or failing spool leaves the dead-letter file as the last resort. */
    if (k->spool && !never_retry && !permanent(err) && respool(k, topic, key, keylen, payload, len) == 0)
        return;
    if (k->dl) {
        if (deadletter_write(k->dl, topic, key, keylen, payload, len, rd_kafka_err2name(err),
                             rd_kafka_err2str(err)) == 0) {
            metrics_add_any(M_DEAD_LETTERED, 1);
            log_limited(L_WARN, "kafka: message for %s dead-lettered: %s", topic, rd_kafka_err2str(err));
            return;
        }
        metrics_add_any(M_DEAD_LETTER_ERROR, 1);
    }
    metrics_add_any(M_LOST, 1);
    log_limited(L_ERROR, "kafka: message for %s lost: %s (%s)%s", topic, rd_kafka_err2str(err),
                rd_kafka_err2name(err), k->dl ? "" : "; set global.kafka.dead_letter to keep such messages");
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct kafka *k = opaque;
    struct topic_entry *t = rd_kafka_topic_opaque(m->rkt);
    int64_t sent_us;
    unsigned slot;
    unpack(k, m->_private, &sent_us, &slot);
    if (!m->err) {
        metrics_add(k->shard, M_KAFKA_DELIVERED, 1);
        metrics_add(k->shard, M_KAFKA_SUBMITTED, 1); /* the original's name for the same */
        if (t) owned_add(&t->delivered, 1);
        record_latency(k, sent_us);
    } else {
        /* A purge at shutdown is our doing, not a failure: the message goes to the spool. One
         * that came from the spool is written again if there is room (so that its old segment
         * can go and the next start resumes exactly); if not, it is left unresolved: its
         * segment is kept and replayed whole at the next start (duplicates, never a loss). */
        int purged = m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
        if (purged && slot) {
            if (respool(k, rd_kafka_topic_name(m->rkt), m->key, m->key_len, m->payload, m->len) == 0)
                spool_resolve(k->spool, slot);
            return;
        }
        if (!purged) {
            metrics_add(k->shard, M_KAFKA_FAILED, 1);
            if (t) owned_add(&t->failed, 1);
            count_error(k, m->err);
            log_limited(L_ERROR, "kafka: delivery to topic %s failed: %s (%s)", rd_kafka_topic_name(m->rkt),
                        rd_kafka_err2str(m->err), rd_kafka_err2name(m->err));
        }
        rescue(k, rd_kafka_topic_name(m->rkt), m->key, m->key_len, m->payload, m->len, m->err, 0);
    }
    if (slot) spool_resolve(k->spool, slot); /* after rescue: a re-append comes first */
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    (void)opaque;
    log_limited(L_WARN, "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    /* librdkafka's syslog-style levels: 0-3 errors, 4 warning, 5-6 info, 7 debug. */
    enum log_level lvl = level <= 3 ? L_ERROR : level == 4 ? L_WARN : level <= 6 ? L_INFO : L_DEBUG;
    log_limited(lvl, "librdkafka %s: %s", fac, buf);
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
    json_decref(root);
    atomic_store(&k->brokers_up, up);
    atomic_store(&k->rtt_avg_us, nrtt ? rtt / nrtt : 0);
    atomic_store(&k->outbuf_msgs, outbuf);
    atomic_store(&k->stats_at_ms, clock_ms());
    return 0; /* librdkafka frees json */
}

static int conf_set(rd_kafka_conf_t *conf, const char *file, int line, const char *key,
                    const char *value, char *err, size_t errlen) {
    char reason[256];
    if (rd_kafka_conf_set(conf, key, value, reason, sizeof reason) == RD_KAFKA_CONF_OK) return 0;
    snprintf(err, errlen, "%s:%d: 'global.kafka.conf.%s': %s", file, line, key, reason);
    return -1;
}

struct kafka *kafka_new(const struct config *c, struct metrics_shard *shard, char *err,
                        size_t errlen) {
    struct kafka *k = calloc(1, sizeof *k);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!k || !conf) abort();
    k->shard = shard;
    k->t0_us = clock_us();
    pthread_mutex_init(&k->topics_lock, NULL);
    pthread_mutex_init(&k->invalid_lock, NULL);
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
    return k;
err:
    if (!k->rk) rd_kafka_conf_destroy(conf);
    pthread_mutex_destroy(&k->topics_lock);
    pthread_mutex_destroy(&k->invalid_lock);
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

/* runs on: the delivery-report thread. */
static void *poll_main(void *arg) {
    struct kafka *k = arg;
    while (atomic_load(&k->running)) rd_kafka_poll(k->rk, 100);
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
}

struct kafka_topic *kafka_topic(struct kafka *k, const char *name) {
    pthread_mutex_lock(&k->topics_lock);
    struct topic_entry *t = k->topics;
    while (t && strcmp(t->name, name)) t = t->next;
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) abort();
        t->name = strdup(name);
        rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
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
    const char *last;           /* the name looked up last (a key of slot), and its handle: */
    struct kafka_topic *last_t; /* most messages go where the previous one went */
    size_t n, cap; /* open addressing, cap a power of two */
    struct {
        char *name;
        uint32_t hash;
        struct kafka_topic *t;
    } *slot;
};

struct kafka_topics *kafka_topics_new(struct kafka *k) {
    struct kafka_topics *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->k = k;
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

static void topics_insert(struct kafka_topics *c, char *name, uint32_t h, struct kafka_topic *t) {
    size_t i = h & (c->cap - 1);
    while (c->slot[i].name) i = (i + 1) & (c->cap - 1);
    c->slot[i].name = name;
    c->slot[i].hash = h;
    c->slot[i].t = t;
    c->n++;
}

struct kafka_topic *kafka_topics_get(struct kafka_topics *c, const char *name) {
    if (c->last && !strcmp(c->last, name)) return c->last_t;
    uint32_t h = fnv1a(name);
    for (size_t i = h & (c->cap - 1); c->slot[i].name; i = (i + 1) & (c->cap - 1))
        if (c->slot[i].hash == h && !strcmp(c->slot[i].name, name)) {
            c->last = c->slot[i].name;
            c->last_t = c->slot[i].t;
            return c->last_t;
        }
    if (!kafka_topic_valid(name)) return NULL; /* never a handle, never cached */
    struct kafka_topic *t = kafka_topic(c->k, name);
    if (c->n >= KAFKA_TOPIC_CACHE) return t;
    if ((c->n + 1) * 2 > c->cap) { /* keep the load under one half */
        struct kafka_topics old = *c;
        c->cap *= 2;
        c->n = 0;
        c->slot = calloc(c->cap, sizeof *c->slot);
        if (!c->slot) abort();
        for (size_t i = 0; i < old.cap; i++)
            if (old.slot[i].name) topics_insert(c, old.slot[i].name, old.slot[i].hash, old.slot[i].t);
        free(old.slot);
    }
    char *copy = strdup(name);
    if (!copy) abort();
    topics_insert(c, copy, h, t);
    c->last = copy;
    c->last_t = t;
    return t;
}

void kafka_topics_free(struct kafka_topics *c) {
    if (!c) return;
    for (size_t i = 0; i < c->cap; i++) free(c->slot[i].name);
    free(c->slot);
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

int kafka_refuse_topic(struct kafka *k, const char *topic, const char *payload, size_t len,
                       const char *key, size_t keylen, unsigned slot) {
    /* Counted as the original counts it (measured): its librdkafka fails the messages for a
     * new invalid name with the broker's answer, TOPIC_EXCEPTION (invalidtopic); from about
     * half a second after that answer it knows the topic as missing and fails the next ones at
     * once with _UNKNOWN_TOPIC (unknowntopic). Both are permanent: dead-lettered. */
    uint64_t h = 1469598103934665603ull;
    for (const char *c = topic; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
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
    log_limited(L_ERROR, "kafka: cannot queue a message for topic '%.*s%s': not a valid Kafka "
                "topic name (1 to %d of a-z A-Z 0-9 . _ -)", 64, topic,
                strlen(topic) > 64 ? "..." : "", KAFKA_TOPIC_MAX);
    rescue(k, topic, key, keylen, payload, len, e, 1);
    if (slot) spool_resolve(k->spool, slot);
    return -EINVAL;
}

int kafka_produce(struct kafka *k, struct kafka_topic *t, const char *payload, size_t len,
                  const char *key, size_t keylen, unsigned slot) {
    /* Timed from here, as the original times kafka.producer.sent: from produce to ack. */
    if (rd_kafka_produce((rd_kafka_topic_t *)t, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                         (void *)payload, len, key, keylen, pack(k, clock_us(), slot)) == 0) {
        struct topic_entry *te = rd_kafka_topic_opaque((rd_kafka_topic_t *)t);
        atomic_fetch_add_explicit(&te->produced, 1, memory_order_relaxed);
        return 0;
    }
    rd_kafka_resp_err_t e = rd_kafka_last_error();
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) return -ENOBUFS;
    count_error(k, e);
    log_limited(L_ERROR, "kafka: cannot queue a message for %s: %s",
                rd_kafka_topic_name((rd_kafka_topic_t *)t), rd_kafka_err2str(e));
    /* Refused before it was queued (too large, invalid): retrying would fail the same way. */
    rescue(k, rd_kafka_topic_name((rd_kafka_topic_t *)t), key, keylen, payload, len, e, 1);
    if (slot) spool_resolve(k->spool, slot);
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? -EMSGSIZE : -EINVAL;
}

void kafka_set_rescue(struct kafka *k, struct spool *s, struct deadletter *dl) {
    k->spool = s;
    k->dl = dl;
    if (s && !k->replay_topics) k->replay_topics = kafka_topics_new(k);
}

int kafka_spool_produce(void *arg, const struct spool_rec *r, unsigned slot) {
    struct kafka *k = arg;
    char topic[KAFKA_TOPIC_MAX + 2]; /* one more byte than a valid name can have, and the NUL */
    size_t n = r->topic_len < sizeof topic - 1 ? r->topic_len : sizeof topic - 1;
    memcpy(topic, r->topic, n);
    topic[n] = 0;
    /* Workers spool no invalid name, but a spool from an older version may hold one. */
    struct kafka_topic *t = n == r->topic_len && !memchr(r->topic, 0, r->topic_len)
                                ? kafka_topics_get(k->replay_topics, topic)
                                : NULL;
    if (!t) return kafka_refuse_topic(k, topic, r->payload, r->len, r->key, r->key_len, slot);
    return kafka_produce(k, t, r->payload, r->len, r->key, r->key_len, slot);
}

int kafka_purge(struct kafka *k, int timeout_ms) {
    int n = rd_kafka_outq_len(k->rk);
    if (!n) return 0;
    rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(k->rk, timeout_ms); /* serves the purged messages' delivery reports */
    return rd_kafka_outq_len(k->rk);
}

int kafka_outq_len(struct kafka *k) { return rd_kafka_outq_len(k->rk); }

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
}

void kafka_free(struct kafka *k) {
    if (!k) return;
    kafka_stop(k);
    kafka_topics_free(k->replay_topics);
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
    free(k);
}
