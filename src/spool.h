/* spool.h - a durable FIFO of messages on disk, for when Kafka cannot take them (or, in
 * mode "always", for every message: a write-ahead log).
 *
 * Layout: a directory of segment files named %020llu.seg (increasing ids), each starting with
 * an 8-byte magic that says its record format, "HDSPOOL3" for the segments this version
 * writes, followed by records:
 *
 *   u32 body_len (little endian) | u32 crc32c(body) | body
 *   body = u16 topic_len | u32 key_len (0xffffffff: no key) | i64 recv_us | u32 part
 *          | i64 timestamp_ms | u32 headers_len | topic | key | headers | payload
 *
 * where headers are the record's Kafka headers packed as record.h says, and timestamp_ms its
 * Kafka timestamp (0: none). Segments left by earlier versions are still replayed:
 * "HDSPOOL2" (body = u16 topic_len | u32 key_len | i64 recv_us | u32 part | topic | key |
 * payload: no timestamp, no headers) and "HDSPOOL1" (the same without part).
 *
 * Writers (workers, the delivery-report thread) append whole batches of encoded records under
 * the spool's mutex. One reader thread (the replayer) reads records in order and hands them to
 * a produce callback; every record handed out must later be resolved (acknowledged, dead-
 * lettered, or appended again), and a segment is deleted once it is sealed, fully read and
 * every record read from it is resolved. A torn or corrupt record (short, CRC mismatch, or
 * headers that are not packed headers) ends its segment: the file is truncated there and the tear is logged and counted. At close, the
 * reader's position is kept in the file "cursor" so the next start does not replay what was
 * already acknowledged; while the replayer runs, the cursor follows the acknowledgements (see
 * SPOOL_CHUNK_RECS), so a crash replays little more than what was in flight. */
#ifndef HOTDOG_SPOOL_H
#define HOTDOG_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "record.h"

enum spool_fsync { SPOOL_FSYNC_ALWAYS, SPOOL_FSYNC_INTERVAL, SPOOL_FSYNC_NEVER };
enum spool_mode { SPOOL_OVERFLOW, SPOOL_ALWAYS };

struct spool_opts {
    const char *path;        /* directory; created if missing */
    uint64_t max_bytes;      /* all segments together; appends beyond fail with -ENOSPC */
    uint64_t segment_bytes;  /* a segment is sealed once it reaches this size */
    enum spool_fsync fsync;
    long fsync_interval_ms;  /* for SPOOL_FSYNC_INTERVAL */
    enum spool_mode mode;
};

#define SPOOL_HEADER 8          /* u32 length + u32 CRC */
#define SPOOL_MAX_RECORD (256u << 20)

/* Appends r, encoded in the current format (HDSPOOL3), to b (a caller's staging buffer). r's
 * source is not kept. r->headers must be packed headers (record_header_add): a record whose
 * headers are not is written, but read back as corrupt. Pure. */
void spool_encode(struct buf *b, const struct record *r);
/* Decodes the record at p[0..n) of a segment in the current format: returns its encoded size,
 * 0 if p holds only part of it, or -1 if it is corrupt (bad length or CRC, or headers that are
 * not well-formed packed headers). Pointers in r point into p (headers NULL when there are
 * none); r->source is RECORD_SPOOL. Pure. */
long spool_decode(const char *p, size_t n, struct record *r);
/* The same for a record of a segment written before headers and the timestamp were kept
 * (magic HDSPOOL2): r has no headers and timestamp_ms 0. */
long spool_decode_v2(const char *p, size_t n, struct record *r);
/* The same for a record of a segment written before the partition was kept (magic HDSPOOL1):
 * r->part is 0 too. */
long spool_decode_v1(const char *p, size_t n, struct record *r);
uint32_t spool_crc32c(const void *p, size_t n);

struct spool;

/* Opens (creating) the spool directory and lists the segments a previous run left, which the
 * replayer will read first. NULL with err set on failure. */
struct spool *spool_open(const struct spool_opts *o, char *err, size_t errlen);

/* Appends nrecs encoded records data[0..len) as one write (and one fsync under "always").
 * Returns 0, -ENOSPC when max_bytes would be exceeded (nothing written), or -EIO.
 * runs on: any thread; locks: the spool's mutex. */
int spool_commit(struct spool *s, const char *data, size_t len, unsigned nrecs);
/* spool_commit, and when sync, fdatasync'd (with the directory, for a new segment) before it
 * returns whatever the fsync setting: a RELP sender is answered only for what is on disk. */
int spool_commit_sync(struct spool *s, const char *data, size_t len, unsigned nrecs, int sync);
/* Encodes and commits a single record (the rare paths: delivery failures, shutdown); synced
 * when a sender waits for its fate (r->ack). */
int spool_append(struct spool *s, const struct record *r);

/* The replayer's produce callback: hands one record to Kafka. r and what it points to (the
 * replayer's read buffer) are valid during the call only: a callee that keeps the record
 * copies it. slot (1..65535) is the handle to pass to spool_resolve: it identifies the
 * record's segment and chunk. Returns 0 when taken, -ENOBUFS to be called again with the
 * same record later (the producer is full), or another negative value when the record
 * failed for good (the callee has dealt with it, e.g. dead-lettered it, and must resolve it). */
typedef int (*spool_produce_fn)(void *arg, const struct record *r, unsigned slot);

/* Starts the replayer thread. */
int spool_start(struct spool *s, spool_produce_fn produce, void *arg);
/* Stops the replayer; records not yet handed out stay in the spool. */
void spool_stop(struct spool *s);
/* A record handed out with this handle is done with. runs on: any thread; lock-free. */
void spool_resolve(struct spool *s, unsigned slot);

/* Acknowledgements are tracked per chunk of this many consecutive records of a segment.
 * While the replayer runs, the file "cursor" follows the oldest chunk not fully resolved
 * (rewritten every 25 ms when it moved), so a crash replays what was in flight, rounded
 * down to a chunk, plus at most 25 ms of acknowledgements: not whole segments. */
#define SPOOL_CHUNK_RECS 256u

/* Bytes committed and not yet handed to the producer (a relaxed read, for the hot path). */
uint64_t spool_backlog(const struct spool *s);

struct spool_stats {
    uint64_t bytes, segments, backlog;    /* gauges: bytes on disk, files, bytes not handed out */
    uint64_t appended, replayed, resolved; /* counters, records */
    uint64_t full, torn, write_errors;     /* refused commits, tears truncated, I/O errors */
    uint64_t syncs;                        /* fdatasyncs of written records (commit or interval) */
};
void spool_stats(struct spool *s, struct spool_stats *st);

/* Bytes not yet handed to the producer (the same as spool_backlog). */
uint64_t spool_pending(struct spool *s);

/* Stops the replayer if running, syncs, keeps the reader's position in "cursor", deletes the
 * segments that are done, and frees. */
void spool_close(struct spool *s);

#endif
