/* spool.c - a durable FIFO of messages on disk: segment files of CRC-checked records, one
 * replayer thread that hands them to Kafka, deletion once every record is resolved. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* Segments start with a magic that says their record format: HDSPOOL3 is written; HDSPOOL2
 * (before headers and the timestamp were kept) and HDSPOOL1 (before the partition was kept)
 * are still read. */
#define MAGIC "HDSPOOL3"
#define MAGIC_V2 "HDSPOOL2"
#define MAGIC_V1 "HDSPOOL1"
#define MAGIC_LEN 8
/* u16 topic_len + u32 key_len + i64 recv_us + u32 part + i64 timestamp_ms + u32 headers_len */
#define BODY_FIXED 30
#define BODY_FIXED_V2 18 /* u16 topic_len + u32 key_len + i64 recv_us + u32 part */
#define BODY_FIXED_V1 14 /* u16 topic_len + u32 key_len + i64 recv_us */
#define NO_KEY 0xffffffffu
#define MAX_SLOTS 32767u   /* slot numbers travel in 15 bits of the message opaque (kafka.c) */
#define ROTATE_MS 1000     /* a written segment is sealed after this, so acked data is deleted */
#define READ_BUF (1u << 20)
#define IDLE_WAIT_MS 100
/* Acknowledgements are tracked per chunk of up to CHUNK_RECS consecutive records of one
 * segment; the handle of its chunk travels with each record (16 bits of the message opaque).
 * At most NCHUNKS - 1 chunks are in flight: about 2 million records. */
#define CHUNK_RECS SPOOL_CHUNK_RECS
#define NCHUNKS 8192u
#define CURSOR_MS 25       /* while running, the cursor is rewritten this often if it moved */

/* ---- CRC32C (Castagnoli): SSE4.2 where the CPU has it, a table otherwise ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const unsigned char *p, size_t n) {
    uint64_t c64 = c;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
    }
    c = (uint32_t)c64;
    for (; n; n--) c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t spool_crc32c(const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
#if defined(__x86_64__)
    if (crc_hw) return ~crc_sse42(c, p, n);
#endif
    for (; n >= 8; p += 8, n -= 8) { /* slicing by 8 */
        c ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        c = crc_table[7][c & 0xff] ^ crc_table[6][(c >> 8) & 0xff] ^ crc_table[5][(c >> 16) & 0xff] ^
            crc_table[4][c >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
            crc_table[0][p[7]];
    }
    for (; n; n--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return ~c;
}

/* ---- record encoding (little endian, whatever the host) ---- */

static void put16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

void spool_encode(struct buf *b, const struct record *r) {
    size_t tl = r->topic_len > 0xffff ? 0xffff : r->topic_len;
    size_t kl = r->key ? r->key_len : 0;
    size_t hl = r->headers ? r->headers_len : 0;
    size_t body = BODY_FIXED + tl + kl + hl + r->len;
    unsigned char *p = (unsigned char *)buf_reserve(b, SPOOL_HEADER + body);
    unsigned char *q = p + SPOOL_HEADER;
    put16(q, (uint32_t)tl);
    put32(q + 2, r->key ? (uint32_t)kl : NO_KEY);
    put64(q + 6, (uint64_t)r->recv_us);
    put32(q + 14, r->part);
    put64(q + 18, (uint64_t)r->timestamp_ms);
    put32(q + 26, (uint32_t)hl);
    unsigned char *v = q + BODY_FIXED;
    if (tl) memcpy(v, r->topic, tl);
    v += tl;
    if (kl) memcpy(v, r->key, kl);
    v += kl;
    if (hl) memcpy(v, r->headers, hl);
    v += hl;
    if (r->len) memcpy(v, r->payload, r->len);
    put32(p, (uint32_t)body);
    put32(p + 4, spool_crc32c(q, body));
    b->len += SPOOL_HEADER + body;
}

/* Decodes a record of a segment of the given format version (1, 2 or 3). */
static long decode(const char *buf, size_t n, struct record *r, int version) {
    uint32_t fixed = version == 3 ? BODY_FIXED : version == 2 ? BODY_FIXED_V2 : BODY_FIXED_V1;
    const unsigned char *p = (const unsigned char *)buf;
    if (n < SPOOL_HEADER) return 0;
    uint32_t body = get32(p);
    if (body < fixed || body > SPOOL_MAX_RECORD) return -1;
    if (n < SPOOL_HEADER + (size_t)body) return 0;
    const unsigned char *q = p + SPOOL_HEADER;
    if (spool_crc32c(q, body) != get32(p + 4)) return -1;
    uint32_t tl = get16(q), kl = get32(q + 2);
    size_t klen = kl == NO_KEY ? 0 : kl;
    size_t hlen = version == 3 ? get32(q + 26) : 0;
    /* Each length is at most body (<= SPOOL_MAX_RECORD), so the sum cannot wrap. */
    if (klen > body || hlen > body || (size_t)fixed + tl + klen + hlen > body) return -1;
    const char *v = (const char *)q + fixed;
    const char *headers = hlen ? v + tl + klen : NULL;
    if (hlen && record_header_count(headers, hlen) < 0) return -1;
    /* Every field: what the spool does not store (ack, seq) is 0, no sender waits for it. */
    *r = (struct record){.topic = v,
                         .topic_len = tl,
                         .key = kl == NO_KEY ? NULL : v + tl,
                         .key_len = klen,
                         .headers = headers,
                         .headers_len = hlen,
                         .payload = v + tl + klen + hlen,
                         .len = body - fixed - tl - klen - hlen,
                         .recv_us = (int64_t)get64(q + 6),
                         .part = version >= 2 ? get32(q + 14) : 0,
                         .timestamp_ms = version == 3 ? (int64_t)get64(q + 18) : 0,
                         .source = RECORD_SPOOL};
    return (long)(SPOOL_HEADER + body);
}

long spool_decode(const char *buf, size_t n, struct record *r) { return decode(buf, n, r, 3); }

long spool_decode_v2(const char *buf, size_t n, struct record *r) { return decode(buf, n, r, 2); }

long spool_decode_v1(const char *buf, size_t n, struct record *r) { return decode(buf, n, r, 1); }

/* ---- the spool ---- */

/* Records handed out from one segment, consecutively, starting at offset off. */
struct chunk {
    _Atomic unsigned slot;   /* the segment's slot: read by spool_resolve on other threads */
    uint64_t seg_id, off;    /* replayer thread only */
    uint32_t produced;       /* replayer thread only */
    _Atomic uint32_t resolved;
};

struct seg {
    int used;
    uint64_t id;
    uint64_t bytes;    /* valid bytes in the file, magic included (under lock) */
    uint64_t start;    /* where reading starts: after the magic, or the saved cursor */
    int wfd, rfd;      /* writer (the current segment only) and reader descriptors, or -1 */
    int sealed;        /* no more appends (under lock) */
    int read_done;     /* the reader has handed out every record (under lock) */
    int old;           /* left by an earlier run: its recv_us mean nothing now */
    int version;       /* its record format, from its magic: 3 (HDSPOOL3), 2 or 1 */
    int64_t opened_ms;
    uint64_t produced; /* records handed out (reader thread) */
    _Atomic uint64_t resolved;
};

struct spool {
    struct spool_opts o;
    char *dir;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a commit happened, or stop */
    struct seg *segs;    /* slots 1..nslots-1; slot 0 means "not from the spool" */
    unsigned nslots;
    unsigned cur;        /* slot being written, 0 = none yet */
    uint64_t next_id;
    uint64_t bytes;      /* all segment files (under lock) */
    unsigned nused;      /* slots in use (under lock) */
    int dirty;           /* written since the last fsync (interval policy) */
    int64_t synced_ms;
    /* reader */
    pthread_t thread;
    atomic_int running;
    int started;
    spool_produce_fn produce;
    void *arg;
    unsigned rd;         /* slot being read, 0 = none */
    uint64_t rd_off;
    /* The chunks in flight, oldest first: a ring of handles 1..NCHUNKS-1 (replayer thread;
     * spool_resolve touches only their resolved counts). ccur: the one being filled. */
    struct chunk *chunks;
    unsigned ctail, ccount, ccur;
    /* Where the reader is (or stopped): everything before it was handed out. */
    uint64_t pos_id, pos_off;
    int have_pos;
    uint64_t cur_id_written, cur_off_written; /* the cursor file's content, 0 0: none yet */
    int64_t cursor_ms;
    char *rbuf;
    size_t rcap;
    /* figures */
    _Atomic uint64_t backlog; /* bytes committed and not yet handed out */
    _Atomic uint64_t bytes_gauge, segments_gauge;
    _Atomic uint64_t appended, replayed, resolved, full, torn, write_errors, syncs;
};

static void seg_path(const struct spool *s, uint64_t id, char *out, size_t n) {
    snprintf(out, n, "%s/%020" PRIu64 ".seg", s->dir, id);
}

static void sync_dir(const struct spool *s) {
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static unsigned free_slot(struct spool *s) {
    for (unsigned i = 1; i < s->nslots; i++)
        if (!s->segs[i].used) return i;
    return 0;
}

static void gauges(struct spool *s) {
    unsigned n = 0;
    for (unsigned i = 1; i < s->nslots; i++) n += (unsigned)s->segs[i].used;
    s->nused = n;
    atomic_store(&s->bytes_gauge, s->bytes);
    atomic_store(&s->segments_gauge, n);
}

/* Sealing a segment early (on time, so that acknowledged data is deleted soon) is only done
 * while slots are plentiful: unacknowledged small segments must not use them all up and make
 * the spool "full" far below max_bytes. Locked. */
static int slots_plentiful(const struct spool *s) { return s->nused + 1 < s->nslots / 2; }

/* Writes p[0..n) whole: 0, or the negative errno of the write that failed. */
static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Seals the current segment. Locked. */
static void seal_current(struct spool *s) {
    if (!s->cur) return;
    struct seg *g = &s->segs[s->cur];
    if (s->o.fsync != SPOOL_FSYNC_NEVER) fdatasync(g->wfd);
    close(g->wfd);
    g->wfd = -1;
    g->sealed = 1;
    s->cur = 0;
    s->dirty = 0;
}

/* Starts a new segment. Locked. Returns 0 or -ENOSPC / -EIO. */
static int open_segment(struct spool *s) {
    unsigned i = free_slot(s);
    if (!i) return -ENOSPC;
    char path[4096];
    seg_path(s, s->next_id, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
    int e = fd < 0 ? -errno : write_all(fd, MAGIC, MAGIC_LEN);
    if (e < 0) {
        atomic_fetch_add(&s->write_errors, 1);
        log_limited(L_ERROR, "spool: cannot create %s: %s", path, strerror(-e));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return -EIO;
    }
    if (s->o.fsync == SPOOL_FSYNC_ALWAYS) sync_dir(s);
    s->segs[i] = (struct seg){.used = 1, .id = s->next_id++, .bytes = MAGIC_LEN, .start = MAGIC_LEN,
                              .wfd = fd, .rfd = -1, .version = 3, .opened_ms = clock_ms()};
    s->cur = i;
    s->bytes += MAGIC_LEN;
    gauges(s);
    return 0;
}

int spool_commit(struct spool *s, const char *data, size_t len, unsigned nrecs) {
    return spool_commit_sync(s, data, len, nrecs, 0);
}

int spool_commit_sync(struct spool *s, const char *data, size_t len, unsigned nrecs, int sync) {
    if (!len) return 0;
    sync |= s->o.fsync == SPOOL_FSYNC_ALWAYS;
    pthread_mutex_lock(&s->lock);
    struct seg *g = s->cur ? &s->segs[s->cur] : NULL;
    /* Full segments are sealed; so are segments older than ROTATE_MS, so that acknowledged
     * data is deleted soon and a crash replays (duplicates) about a second of traffic, not a
     * whole segment. */
    int rotate = g && g->bytes > MAGIC_LEN &&
                 (g->bytes + len > s->o.segment_bytes ||
                  (clock_ms() - g->opened_ms >= ROTATE_MS && slots_plentiful(s)));
    if (rotate && s->nused + 1 >= s->nslots) rotate = 0; /* no slot: grow this one (max_bytes holds) */
    if (s->bytes + len + (rotate || !g ? MAGIC_LEN : 0) > s->o.max_bytes) {
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_add(&s->full, 1);
        return -ENOSPC;
    }
    if (rotate) seal_current(s);
    int opened = !s->cur;
    int r = opened ? open_segment(s) : 0;
    if (r < 0) {
        pthread_mutex_unlock(&s->lock);
        if (r == -ENOSPC) atomic_fetch_add(&s->full, 1);
        return r;
    }
    g = &s->segs[s->cur];
    int e = write_all(g->wfd, data, len);
    if (e < 0) {
        if (ftruncate(g->wfd, (off_t)g->bytes) < 0) { /* undo a partial write */
        }
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_add(&s->write_errors, 1);
        log_limited(L_ERROR, "spool: write to %s failed: %s", s->dir, strerror(-e));
        return -EIO;
    }
    if (sync) {
        fdatasync(g->wfd);
        atomic_fetch_add(&s->syncs, 1);
        if (opened && s->o.fsync != SPOOL_FSYNC_ALWAYS) sync_dir(s); /* open_segment did under always */
    } else {
        s->dirty = 1;
    }
    g->bytes += len;
    s->bytes += len;
    atomic_store(&s->bytes_gauge, s->bytes);
    atomic_fetch_add(&s->backlog, len);
    atomic_fetch_add(&s->appended, nrecs);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int spool_append(struct spool *s, const struct record *r) {
    struct buf b = {0};
    spool_encode(&b, r);
    int rc = spool_commit_sync(s, b.p, b.len, 1, r->ack != 0);
    buf_free(&b);
    return rc;
}

void spool_resolve(struct spool *s, unsigned handle) {
    if (!handle || handle >= NCHUNKS) return;
    struct chunk *c = &s->chunks[handle];
    unsigned slot = atomic_load_explicit(&c->slot, memory_order_relaxed);
    if (!slot || slot >= s->nslots) return;
    atomic_fetch_add_explicit(&s->segs[slot].resolved, 1, memory_order_release);
    atomic_fetch_add_explicit(&c->resolved, 1, memory_order_release);
    atomic_fetch_add_explicit(&s->resolved, 1, memory_order_relaxed);
}

static unsigned ring_handle(unsigned pos) { return pos % (NCHUNKS - 1) + 1; }

/* Frees the oldest chunks whose every record is resolved, except the one being filled.
 * runs on: the replayer thread (or spool_close once it has stopped). */
static void chunks_advance(struct spool *s) {
    while (s->ccount) {
        unsigned h = ring_handle(s->ctail);
        struct chunk *c = &s->chunks[h];
        if (h == s->ccur || atomic_load_explicit(&c->resolved, memory_order_acquire) != c->produced)
            break;
        atomic_store_explicit(&c->slot, 0, memory_order_relaxed);
        atomic_store_explicit(&c->resolved, 0, memory_order_relaxed);
        c->produced = 0;
        s->ctail = (s->ctail + 1) % (NCHUNKS - 1);
        s->ccount--;
    }
}

/* The chunk for the next record of the segment in slot, at offset off (the reader's
 * position): the one being filled, or a new one. 0 when all NCHUNKS - 1 are in flight.
 * runs on: the replayer thread. */
static unsigned chunk_for(struct spool *s, unsigned slot, uint64_t seg_id, uint64_t off) {
    if (s->ccur) {
        struct chunk *c = &s->chunks[s->ccur];
        if (atomic_load_explicit(&c->slot, memory_order_relaxed) == slot && c->produced < CHUNK_RECS)
            return s->ccur;
        s->ccur = 0;
    }
    chunks_advance(s);
    if (s->ccount == NCHUNKS - 1) return 0;
    unsigned h = ring_handle(s->ctail + s->ccount);
    s->ccount++;
    struct chunk *c = &s->chunks[h];
    c->seg_id = seg_id;
    c->off = off;
    c->produced = 0;
    atomic_store_explicit(&c->resolved, 0, memory_order_relaxed);
    atomic_store_explicit(&c->slot, slot, memory_order_relaxed);
    s->ccur = h;
    return h;
}

/* The low watermark: segment id and offset before which every record handed out was
 * resolved (and, in that segment, every record before it was handed out). 0 when unknown
 * (nothing handed out in this run). runs on: the replayer thread (or close, once stopped). */
static int watermark(struct spool *s, uint64_t *id, uint64_t *off) {
    chunks_advance(s);
    if (s->ccount) {
        struct chunk *c = &s->chunks[ring_handle(s->ctail)];
        if (ring_handle(s->ctail) != s->ccur ||
            atomic_load_explicit(&c->resolved, memory_order_acquire) != c->produced) {
            *id = c->seg_id;
            *off = c->off;
            return 1;
        }
    }
    if (!s->have_pos) return 0;
    *id = s->pos_id;
    *off = s->pos_off;
    return 1;
}

uint64_t spool_backlog(const struct spool *s) {
    return atomic_load_explicit(&s->backlog, memory_order_relaxed);
}

/* Deletes what is done: sealed, read to the end, every record resolved. Locked. */
static void collect(struct spool *s) {
    int deleted = 0;
    for (unsigned i = 1; i < s->nslots; i++) {
        struct seg *g = &s->segs[i];
        if (!g->used || !g->sealed || !g->read_done ||
            atomic_load_explicit(&g->resolved, memory_order_acquire) != g->produced)
            continue;
        char path[4096];
        seg_path(s, g->id, path, sizeof path);
        if (unlink(path) < 0 && errno != ENOENT)
            log_limited(L_ERROR, "spool: cannot delete %s: %s", path, strerror(errno));
        if (g->rfd >= 0) close(g->rfd);
        s->bytes -= g->bytes;
        memset(g, 0, sizeof *g);
        deleted = 1;
    }
    if (deleted) gauges(s);
}

/* The oldest segment with records still to hand out, or 0. Locked. */
static unsigned next_to_read(struct spool *s) {
    unsigned best = 0;
    for (unsigned i = 1; i < s->nslots; i++) {
        struct seg *g = &s->segs[i];
        if (g->used && !g->read_done && (!best || g->id < s->segs[best].id)) best = i;
    }
    return best;
}

/* Bytes that left the backlog (handed out, or dropped by a tear). Only the reader thread
 * subtracts, so the clamp (against a count from a previous run's files) cannot race. */
static void backlog_sub(struct spool *s, uint64_t n) {
    uint64_t bl = atomic_load(&s->backlog);
    atomic_fetch_sub(&s->backlog, n < bl ? n : bl);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The reader met a record it cannot use at rd_off: everything from there on is dropped. */
static void tear(struct spool *s, struct seg *g) {
    char path[4096];
    seg_path(s, g->id, path, sizeof path);
    pthread_mutex_lock(&s->lock);
    uint64_t dropped = g->bytes - s->rd_off; /* now, not when read: the live one grows */
    pthread_mutex_unlock(&s->lock);
    log_error("spool: segment %s: torn record at offset %" PRIu64 " (%" PRIu64 " bytes dropped), truncated",
              path, s->rd_off, dropped);
    if (g->rfd < 0) /* errno would be stale here: say what is known */
        log_error("spool: cannot truncate %s: no descriptor open on it", path);
    else if (ftruncate(g->rfd, (off_t)s->rd_off) < 0)
        log_error("spool: cannot truncate %s: %s", path, strerror(errno));
    atomic_fetch_add(&s->torn, 1);
    pthread_mutex_lock(&s->lock);
    s->bytes -= dropped;
    g->bytes = s->rd_off;
    backlog_sub(s, dropped);
    if (s->cur == (unsigned)(g - s->segs)) s->cur = 0; /* never append behind a tear */
    if (g->wfd >= 0) close(g->wfd);
    g->wfd = -1;
    g->sealed = 1;
    gauges(s);
    pthread_mutex_unlock(&s->lock);
}

static void cursor_tick(struct spool *s);

/* Hands out the records of [rd_off, avail) of the segment being read. Returns 1 if it made
 * progress, 0 if not, -1 when stopping. */
static int read_some(struct spool *s, struct seg *g, uint64_t avail, int sealed) {
    if (g->rfd < 0) {
        char path[4096];
        seg_path(s, g->id, path, sizeof path);
        g->rfd = open(path, O_RDWR | O_CLOEXEC);
        if (g->rfd < 0) {
            log_limited(L_ERROR, "spool: cannot open %s: %s", path, strerror(errno));
            sleep_ms(IDLE_WAIT_MS); /* do not spin; the operator may fix permissions */
            return 0;
        }
    }
    size_t want = (size_t)(avail - s->rd_off < s->rcap ? avail - s->rd_off : s->rcap);
    ssize_t n = pread(g->rfd, s->rbuf, want, (off_t)s->rd_off);
    if (n < 0) {
        log_limited(L_ERROR, "spool: read error: %s", strerror(errno));
        return 0;
    }
    size_t off = 0;
    int progress = 0;
    while (off < (size_t)n) {
        struct record r;
        long used = decode(s->rbuf + off, (size_t)n - off, &r, g->version);
        if (used == 0) {
            /* Part of a record: fetch the rest with a larger read, unless nothing more can come. */
            if (s->rd_off + ((size_t)n - off) < avail) {
                uint32_t body = get32((const unsigned char *)s->rbuf + off);
                if (off == 0 && (size_t)n - off >= SPOOL_HEADER && SPOOL_HEADER + (size_t)body > s->rcap) {
                    size_t cap = s->rcap;
                    while (cap < SPOOL_HEADER + (size_t)body) cap *= 2;
                    char *nb = realloc(s->rbuf, cap);
                    if (!nb) abort();
                    s->rbuf = nb;
                    s->rcap = cap;
                }
                return 1;
            }
            if (!sealed) return progress; /* cannot happen: commits are whole, but be safe */
            used = -1;
        }
        if (used < 0) {
            tear(s, g);
            return 1;
        }
        if (g->old) r.recv_us = 0;
        unsigned h;
        while (!(h = chunk_for(s, (unsigned)(g - s->segs), g->id, s->rd_off))) {
            if (!atomic_load(&s->running)) return -1;
            sleep_ms(5); /* two million records in flight: wait for acknowledgements */
            cursor_tick(s);
        }
        for (;;) {
            int rc = s->produce(s->arg, &r, h);
            if (rc != -ENOBUFS) break;
            if (!atomic_load(&s->running)) return -1;
            sleep_ms(5); /* the producer is full: it drains in batches */
            cursor_tick(s); /* acknowledgements keep coming meanwhile */
        }
        s->chunks[h].produced++;
        g->produced++;
        atomic_fetch_add(&s->replayed, 1);
        backlog_sub(s, (uint64_t)used);
        off += (size_t)used;
        s->rd_off += (uint64_t)used;
        s->pos_id = g->id;
        s->pos_off = s->rd_off;
        s->have_pos = 1;
        progress = 1;
    }
    return progress;
}

static void sync_interval(struct spool *s) {
    int64_t now = clock_ms();
    if (s->o.fsync != SPOOL_FSYNC_INTERVAL || now - s->synced_ms < s->o.fsync_interval_ms) return;
    s->synced_ms = now;
    pthread_mutex_lock(&s->lock);
    int fd = s->dirty && s->cur ? dup(s->segs[s->cur].wfd) : -1;
    s->dirty = 0;
    pthread_mutex_unlock(&s->lock);
    if (fd >= 0) {
        fdatasync(fd);
        atomic_fetch_add(&s->syncs, 1);
        close(fd);
    }
}

static void put_cursor(struct spool *s, uint64_t id, uint64_t off, int sync);

/* While running, the cursor follows the low watermark, so that a crash (kill -9) replays
 * what was in flight and at most CURSOR_MS of acknowledgements, not whole segments. Not
 * synced: after a power failure an older cursor (or none) only means more duplicates. */
static void cursor_tick(struct spool *s) {
    int64_t now = clock_ms();
    if (now - s->cursor_ms < CURSOR_MS) return;
    s->cursor_ms = now;
    uint64_t id, off;
    if (!watermark(s, &id, &off) || off <= MAGIC_LEN) return;
    if (id == s->cur_id_written && off == s->cur_off_written) return;
    put_cursor(s, id, off, 0);
}

/* runs on: the replayer thread. */
static void *replay_main(void *arg) {
    struct spool *s = arg;
    while (atomic_load(&s->running)) {
        sync_interval(s);
        cursor_tick(s);
        pthread_mutex_lock(&s->lock);
        /* Seal a quiet current segment once read, so that it can be deleted when acked. */
        if (s->cur && s->rd == s->cur && s->rd_off == s->segs[s->cur].bytes &&
            clock_ms() - s->segs[s->cur].opened_ms >= ROTATE_MS && slots_plentiful(s))
            seal_current(s);
        collect(s);
        if (!s->rd) {
            s->rd = next_to_read(s);
            if (s->rd) s->rd_off = s->segs[s->rd].start;
        }
        struct seg *g = s->rd ? &s->segs[s->rd] : NULL;
        uint64_t avail = g ? g->bytes : 0;
        int sealed = g ? g->sealed : 0;
        if (g && s->rd_off >= avail && sealed) {
            g->read_done = 1;
            if (g->rfd >= 0) close(g->rfd);
            g->rfd = -1;
            s->rd = 0;
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        if (!g || s->rd_off >= avail) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += IDLE_WAIT_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (atomic_load(&s->running)) pthread_cond_timedwait(&s->cond, &s->lock, &ts);
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        if (read_some(s, g, avail, sealed) < 0) break;
    }
    return NULL;
}

int spool_start(struct spool *s, spool_produce_fn produce, void *arg) {
    s->produce = produce;
    s->arg = arg;
    atomic_store(&s->running, 1);
    int e = pthread_create(&s->thread, NULL, replay_main, s);
    if (e) {
        atomic_store(&s->running, 0);
        return -e;
    }
    s->started = 1;
    return 0;
}

void spool_stop(struct spool *s) {
    if (!s->started) return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->running, 0);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->started = 0;
}

/* Reads "cursor": the segment id and offset the last clean stop had read up to. */
static void read_cursor(struct spool *s, uint64_t *id, uint64_t *off) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cursor", s->dir);
    FILE *f = fopen(path, "r");
    *id = *off = 0;
    if (!f) return;
    if (fscanf(f, "%" SCNu64 " %" SCNu64, id, off) != 2) *id = *off = 0;
    fclose(f);
    /* It stays: what it says (records before off in segment id are resolved) stays true, and
     * ids are never reused. spool_close replaces it. */
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct spool *spool_open(const struct spool_opts *o, char *err, size_t errlen) {
    struct spool *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->o = *o;
    s->dir = strdup(o->path);
    if (!s->dir) abort();
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->rcap = READ_BUF;
    s->rbuf = malloc(s->rcap);
    s->chunks = calloc(NCHUNKS, sizeof *s->chunks);
    if (!s->rbuf || !s->chunks) abort();
    s->next_id = 1;
    s->synced_ms = clock_ms();
    if (mkdir(o->path, 0750) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the spool directory %s: %s", o->path, strerror(errno));
        goto fail;
    }
    DIR *d = opendir(o->path);
    if (!d) {
        snprintf(err, errlen, "cannot open the spool directory %s: %s", o->path, strerror(errno));
        goto fail;
    }
    uint64_t *ids = NULL;
    size_t nids = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* Exactly what seg_path writes: 20 digits and ".seg". Anything else is not ours. */
        if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".seg") ||
            strspn(e->d_name, "0123456789") != 20)
            continue;
        unsigned long long id = strtoull(e->d_name, NULL, 10);
        if (!id || id == ULLONG_MAX) continue;
        if (nids == cap) {
            cap = cap ? cap * 2 : 64;
            ids = realloc(ids, cap * sizeof *ids);
            if (!ids) abort();
        }
        ids[nids++] = id;
    }
    closedir(d);
    if (nids) qsort(ids, nids, sizeof *ids, cmp_u64);
    uint64_t want = o->max_bytes / o->segment_bytes + 16 + nids;
    s->nslots = (unsigned)(want + 1 < MAX_SLOTS ? want + 1 : MAX_SLOTS);
    s->segs = calloc(s->nslots, sizeof *s->segs);
    if (!s->segs) abort();
    uint64_t cur_id, cur_off;
    read_cursor(s, &cur_id, &cur_off);
    if (cur_id >= s->next_id) s->next_id = cur_id + 1; /* ids are never reused */
    uint64_t pending = 0;
    unsigned kept = 0;
    for (size_t k = 0; k < nids; k++) {
        char path[4096], magic[MAGIC_LEN];
        seg_path(s, ids[k], path, sizeof path);
        if (ids[k] >= s->next_id) s->next_id = ids[k] + 1;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
            if (fd >= 0) close(fd);
            free(ids);
            goto fail;
        }
        ssize_t got = pread(fd, magic, MAGIC_LEN, 0);
        close(fd);
        if (got < MAGIC_LEN && st.st_size <= MAGIC_LEN) { /* created, never written */
            unlink(path);
            continue;
        }
        int version = got != MAGIC_LEN                       ? 0
                      : !memcmp(magic, MAGIC, MAGIC_LEN)    ? 3
                      : !memcmp(magic, MAGIC_V2, MAGIC_LEN) ? 2
                      : !memcmp(magic, MAGIC_V1, MAGIC_LEN) ? 1
                                                            : 0;
        if (!version) {
            char bad[4200];
            snprintf(bad, sizeof bad, "%s.bad", path);
            rename(path, bad);
            log_error("spool: %s is not a spool segment: renamed to %s, not replayed", path, bad);
            continue;
        }
        if (kept + 1 >= s->nslots) {
            log_error("spool: more than %u segments in %s: the rest wait for the next start",
                      s->nslots - 1, o->path);
            break;
        }
        struct seg *g = &s->segs[++kept];
        *g = (struct seg){.used = 1, .id = ids[k], .bytes = (uint64_t)st.st_size, .start = MAGIC_LEN,
                          .wfd = -1, .rfd = -1, .sealed = 1, .old = 1, .version = version};
        if (ids[k] == cur_id && cur_off >= MAGIC_LEN && cur_off <= g->bytes) g->start = cur_off;
        s->bytes += g->bytes;
        pending += g->bytes - g->start;
    }
    free(ids);
    atomic_store(&s->backlog, pending);
    gauges(s);
    if (kept)
        log_info("spool: %u segment(s), %" PRIu64 " bytes left by the last run: replaying them", kept, pending);
    return s;
fail:
    free(s->rbuf);
    free(s->chunks);
    free(s->dir);
    free(s->segs);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    return NULL;
}

void spool_stats(struct spool *s, struct spool_stats *st) {
    st->bytes = atomic_load(&s->bytes_gauge);
    st->segments = atomic_load(&s->segments_gauge);
    st->backlog = atomic_load(&s->backlog);
    st->appended = atomic_load(&s->appended);
    st->replayed = atomic_load(&s->replayed);
    st->resolved = atomic_load(&s->resolved);
    st->full = atomic_load(&s->full);
    st->torn = atomic_load(&s->torn);
    st->write_errors = atomic_load(&s->write_errors);
    st->syncs = atomic_load(&s->syncs);
}

uint64_t spool_pending(struct spool *s) { return atomic_load(&s->backlog); }

/* Keeps, for the next start, where reading must resume in the oldest unfinished segment:
 * the reader's position if it is in that segment and everything it handed out there is
 * resolved, else where this run started reading it (else that segment is replayed whole:
 * duplicates rather than a loss). Locked. */
static void write_cursor(struct spool *s) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cursor", s->dir);
    struct seg *g = NULL;
    for (unsigned i = 1; i < s->nslots; i++)
        if (s->segs[i].used && !s->segs[i].read_done && (!g || s->segs[i].id < g->id)) g = &s->segs[i];
    uint64_t off = 0;
    if (g) {
        off = g->start;
        if (s->rd && g == &s->segs[s->rd] && atomic_load(&g->resolved) == g->produced) off = s->rd_off;
    }
    /* Within that segment, the watermark may be further on: acknowledged records in flight
     * when the reader stopped, or a reader that stopped mid-segment waiting for Kafka. */
    uint64_t wid, woff;
    if (g && watermark(s, &wid, &woff) && wid == g->id && woff > off && woff <= g->bytes) off = woff;
    if (off <= MAGIC_LEN) {
        unlink(path);
        return;
    }
    put_cursor(s, g->id, off, 1);
}

static void put_cursor(struct spool *s, uint64_t id, uint64_t off, int sync) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/cursor", s->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        log_limited(L_ERROR, "spool: cannot write %s: %s (the next start replays more than needed)", tmp,
                    strerror(errno));
        return;
    }
    fprintf(f, "%" PRIu64 " %" PRIu64 "\n", id, off);
    fflush(f);
    if (sync) fsync(fileno(f));
    fclose(f);
    if (rename(tmp, path) == 0) {
        s->cur_id_written = id;
        s->cur_off_written = off;
        if (sync) sync_dir(s);
    }
}

void spool_close(struct spool *s) {
    if (!s) return;
    spool_stop(s);
    pthread_mutex_lock(&s->lock);
    seal_current(s);
    if (s->rd && s->rd_off >= s->segs[s->rd].bytes) s->segs[s->rd].read_done = 1;
    /* Segments with nothing left to read (magic only, or read to the end) are done too. */
    for (unsigned i = 1; i < s->nslots; i++) {
        struct seg *g = &s->segs[i];
        if (g->used && i != s->rd && g->bytes <= g->start) g->read_done = 1;
    }
    write_cursor(s);
    collect(s);
    uint64_t left = s->bytes;
    unsigned n = 0;
    for (unsigned i = 1; i < s->nslots; i++) {
        if (s->segs[i].used) n++;
        if (s->segs[i].rfd >= 0 && s->segs[i].used) close(s->segs[i].rfd);
    }
    pthread_mutex_unlock(&s->lock);
    if (n) log_info("spool: %" PRIu64 " byte(s) in %u segment(s) kept in %s for the next start", left, n, s->dir);
    else log_info("spool: empty");
    sync_dir(s);
    free(s->rbuf);
    free(s->chunks);
    free(s->segs);
    free(s->dir);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}
