/* record.h - one message as the rules made it, carried unchanged to Kafka, the spool and the
 * dead-letter file. */
#ifndef HOTDOG_RECORD_H
#define HOTDOG_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Where a record came from: what the delivery policy may do with it when Kafka is full (a TCP
 * or TLS connection can be paused; a datagram cannot wait; a spooled record is already safe). */
enum record_source { RECORD_TCP, RECORD_UDP, RECORD_SPOOL };

/* Pointers refer to memory the record's maker owns: the rules' output buffers (valid until the
 * next rules_eval on the same instance), the spool replayer's read buffer (during its produce
 * callback only), or a caller's stack. Whoever keeps a record past that copies it (delivery's
 * held message is a copy; librdkafka copies what it queues). */
struct record {
    const char *topic; /* topic[0..topic_len); NUL-terminated when made by the rules, not when
                        * decoded from the spool */
    size_t topic_len;
    const char *key; /* NULL: no key (an empty key is "", 0) */
    size_t key_len;
    const char *payload;
    size_t len;
    /* Kafka record headers, packed (record_header_add); NULL or headers_len 0: none. */
    const char *headers;
    size_t headers_len;
    /* The Kafka record timestamp, ms since the epoch: when hotdog read the line (forward's
     * timestamp: receive, the default) or the message's own time (timestamp: message). 0: none
     * known, librdkafka stamps it when produced. */
    int64_t timestamp_ms;
    /* 1: timestamp_ms is the time of the read that brought the line (timestamp: receive), and
     * a producer that queues the record within that read may stamp it with its own clock
     * instead (a batch is stamped once). A record that waits longer keeps timestamp_ms. */
    uint8_t ts_read;
    int64_t recv_us; /* CLOCK_MONOTONIC receive time, for latency; 0 when unknown */
    enum record_source source;
    /* The partition + 1 to produce to: set for a message librdkafka gave back at shutdown, so
     * that its replay keeps that partition's order; 0: the partitioner chooses. */
    uint32_t part;
    /* Set by a source that answers its sender per message (RELP): 0, or the ack lane (the
     * worker id + 1) to which delivery reports this record's fate, success included
     * (delivery_set_ack), with seq, which the lane gave it (delivery_lane_seq) and which
     * the producer uses as its produce tick. Never written to the spool. */
    uint32_t ack;
    uint64_t seq;
};

/* Packed headers, one after the other: u16 name_len | u32 value_len (little endian; 0xffffffff:
 * a null value) | name | value. Kafka allows several headers of one name; order is kept. */
#define RECORD_HEADER_FIXED 6
#define RECORD_HEADER_NULL 0xffffffffu
#define RECORD_HEADER_NAME_MAX 0xffffu

struct record_header {
    const char *name;
    size_t name_len;
    const char *value; /* NULL: a null value */
    size_t value_len;
};

/* Appends one header to b. A name longer than RECORD_HEADER_NAME_MAX is cut there. */
void record_header_add(struct buf *b, const char *name, size_t name_len, const char *value,
                       size_t value_len);

/* Reads the header at p[*off..n): 1 with *h filled (pointing into p) and *off advanced, 0 at the
 * end, -1 when the bytes are not packed headers (a corrupt spool record). Pure. */
int record_header_next(const char *p, size_t n, size_t *off, struct record_header *h);

/* How many headers p[0..n) holds, or -1 when corrupt. */
long record_header_count(const char *p, size_t n);

#endif
