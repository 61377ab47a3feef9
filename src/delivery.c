/* delivery.c - the policy that makes "nothing lost" true: produce, hold, spool, retry,
 * dead-letter, count. */
#include "delivery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "deadletter.h"
#include "log.h"
#include "spool.h"

struct delivery {
    struct delivery_producer p;
    struct spool *spool;
    struct deadletter *dl;
    int spool_always;
    void *replay_ts; /* the spool replayer's producer state, made on its first record */
    delivery_ack_fn ack; /* where fates of records with an ack lane go (RELP), or NULL */
    void *ack_arg;
    /* Messages purged at shutdown, gathered by delivery_report so that delivery_shutdown writes
     * them to the spool in the order they were produced (report.seq). Report thread only. */
    int purging;
    struct purged {
        uint64_t seq;
        size_t off, len; /* the encoded spool record in purge_buf */
        unsigned slot;
    } *purged;
    size_t npurged, purged_cap;
    struct buf purge_buf;
};

/* A record the lane took and has not handed to the producer yet, copied into the lane's
 * arena (the rules reuse their buffers for the next message). */
struct qrec {
    struct record rec;                   /* pointers rebuilt from the offsets at produce time */
    size_t topic, key, payload, headers; /* offsets in the arena */
    unsigned has_key : 1;
    unsigned spill : 1; /* its source cannot wait (UDP, backpressure: false) */
    unsigned batch : 1; /* may go in a batch: stamped by the producer (see record.ts_read) */
};

/* How many records a lane gathers before it hands them over without waiting for the end of
 * the read; also the longest run the producer gets in one produce_batch call. */
#define LANE_BATCH 256u

struct delivery_lane {
    struct delivery *d;
    int id;
    struct metrics_shard *m;
    void *ts; /* the producer's state for this thread */
    /* Records taken and not yet handed to the producer, in order: gathered during one read and
     * produced in batches at delivery_flush (or every LANE_BATCH); what the producer refused
     * while full stays, in order, and is retried as is, so that rules run and counters count
     * once per message however long the producer stays full. */
    struct {
        struct qrec *e;
        unsigned head, n, cap;
        unsigned refused; /* the producer refused e[head..n) because it was full */
        struct buf arena;
        struct record *run; /* LANE_BATCH records for one produce_batch call */
    } q;
    /* Records bound for the spool, encoded, committed in one write per read. */
    struct buf stage;
    unsigned nstage;
    int stage_spill; /* all came from sources that cannot wait: dropped if the spool is full */
    int stage_ack;   /* one has a sender waiting for its fate (RELP): the commit is synced */
    uint64_t seq;    /* delivery_lane_seq without a producer's next_seq */
};

struct delivery *delivery_new(const struct delivery_opts *o) {
    struct delivery *d = calloc(1, sizeof *d);
    if (!d) abort();
    d->spool = o->spool;
    d->dl = o->dl;
    d->spool_always = o->spool && o->spool_always;
    return d;
}

void delivery_attach(struct delivery *d, const struct delivery_producer *p) { d->p = *p; }

void delivery_set_ack(struct delivery *d, delivery_ack_fn fn, void *arg) {
    d->ack = fn;
    d->ack_arg = arg;
}

static void tell(struct delivery *d, const struct delivery_report *r, enum delivery_ack v) {
    if (r->ack && d->ack) d->ack(d->ack_arg, r->ack, r->seq, v);
}

void delivery_free(struct delivery *d) {
    if (!d) return;
    if (d->replay_ts) d->p.thread_free(d->replay_ts);
    free(d->purged);
    buf_free(&d->purge_buf);
    free(d);
}

/* ---- what happens to a message Kafka did not take ---- */

/* Writes r back into the spool: 0, or -1 when the spool is full or failing. part: the
 * partition + 1 to replay it to (0: any). runs on: any thread. */
static int respool(struct delivery *d, const struct record *r, uint32_t part) {
    struct record c = *r;
    c.part = part;
    if (spool_append(d->spool, &c) < 0) return -1;
    metrics_add_any(M_RESPOOLED, 1);
    return 0;
}

/* A message that failed: back into the spool if it may be retried and a spool takes it, else
 * into the dead-letter file, else counted as lost. Returns what became of it, as its sender
 * would be answered (DELIVERY_ACK_*). runs on: any thread. */
static enum delivery_ack rescue(struct delivery *d, const struct record *r, const char *err_name,
                                const char *err_text, int never_retry) {
    /* A full or failing spool leaves the dead-letter file as the last resort. */
    if (d->spool && !never_retry && respool(d, r, 0) == 0) return DELIVERY_ACK_OK;
    int tl = r->topic_len > 64 ? 64 : (int)r->topic_len;
    const char *more = r->topic_len > 64 ? "..." : "";
    if (d->dl) {
        if (deadletter_write(d->dl, r, err_name, err_text) == 0) {
            metrics_add_any(M_DEAD_LETTERED, 1);
            log_limited(L_WARN, "kafka: message for %.*s%s dead-lettered: %s", tl, r->topic, more, err_text);
            return DELIVERY_ACK_OK;
        }
        metrics_add_any(M_DEAD_LETTER_ERROR, 1);
    }
    metrics_add_any(M_LOST, 1);
    log_limited(L_ERROR, "kafka: message for %.*s%s lost: %s (%s)%s", tl, r->topic, more, err_text,
                err_name, d->dl ? "" : "; set global.kafka.dead_letter to keep such messages");
    return never_retry ? DELIVERY_ACK_REFUSED : DELIVERY_ACK_LOST;
}

/* At shutdown, a purged message is kept here (encoded as a spool record) until
 * delivery_shutdown has them all and writes them in the order they were produced. */
static void gather_purged(struct delivery *d, const struct delivery_report *r) {
    if (d->npurged == d->purged_cap) {
        size_t cap = d->purged_cap ? 2 * d->purged_cap : 4096;
        struct purged *p = realloc(d->purged, cap * sizeof *p);
        if (!p) abort();
        d->purged = p;
        d->purged_cap = cap;
    }
    size_t off = d->purge_buf.len;
    spool_encode(&d->purge_buf, r->rec); /* keeps rec->part: the replay goes to that partition */
    d->purged[d->npurged++] = (struct purged){.seq = r->seq, .off = off,
                                              .len = d->purge_buf.len - off, .slot = r->slot};
}

void delivery_report(void *arg, const struct delivery_report *r) {
    struct delivery *d = arg;
    if (!r->err) {
        if (r->slot) spool_resolve(d->spool, r->slot);
        tell(d, r, DELIVERY_ACK_OK);
        return;
    }
    /* A purge is our doing, not a failure: at shutdown (delivery_shutdown) the message goes to
     * the spool, in produce order. One that came from the spool is written again if there is
     * room (so that its old segment can go and the next start resumes exactly); if not, it is
     * left unresolved: its segment is kept and replayed whole at the next start (duplicates,
     * never a loss). The producer also purges what is queued when it hits a fatal error while
     * running: those are rescued at once. */
    if ((r->flags & DELIVERY_PURGED) && d->purging) {
        gather_purged(d, r);
        /* Its sender is no longer connected (the workers have stopped): it resends. */
        tell(d, r, DELIVERY_ACK_LOST);
        return;
    }
    if ((r->flags & DELIVERY_PURGED) && r->slot) {
        if (respool(d, r->rec, r->rec->part) == 0) spool_resolve(d->spool, r->slot);
        return;
    }
    enum delivery_ack v = rescue(d, r->rec, r->err_name, r->err_text,
                                 (r->flags & (DELIVERY_PERMANENT | DELIVERY_REFUSED)) != 0);
    tell(d, r, v);
    if (r->slot) spool_resolve(d->spool, r->slot); /* after rescue: a re-append comes first */
}

int delivery_replay(void *arg, const struct record *r, unsigned slot) {
    struct delivery *d = arg;
    if (!d->replay_ts) d->replay_ts = d->p.thread_new(d->p.arg);
    return d->p.produce(d->replay_ts, r, slot);
}

/* Older first; seq wraps, so they compare by difference (see struct delivery_report). */
static int by_seq(const void *a, const void *b) {
    uint64_t x = ((const struct purged *)a)->seq, y = ((const struct purged *)b)->seq;
    return x == y ? 0 : (int64_t)(x - y) < 0 ? -1 : 1;
}

/* Writes the purged messages to the spool, oldest produce first, in batches of PURGE_BATCH
 * bytes (one write each). A batch the spool refuses (full, failing) goes record by record to
 * where a failed delivery goes: the spool if it takes it, else the dead-letter file or
 * error.lost; a record that came from the spool and cannot be written again stays unresolved,
 * so its segment is kept and replayed at the next start. */
#define PURGE_BATCH (256u << 10)
static void respool_purged(struct delivery *d) {
    qsort(d->purged, d->npurged, sizeof *d->purged, by_seq);
    struct buf out = {0};
    for (size_t i = 0, j; i < d->npurged; i = j) {
        out.len = 0;
        for (j = i; j < d->npurged && (j == i || out.len + d->purged[j].len <= PURGE_BATCH); j++)
            buf_append(&out, d->purge_buf.p + d->purged[j].off, d->purged[j].len);
        /* synced: a RELP sender may be answered for these before the spool is closed */
        if (spool_commit_sync(d->spool, out.p, out.len, (unsigned)(j - i), 1) == 0) {
            metrics_add_any(M_RESPOOLED, j - i);
            for (size_t x = i; x < j; x++)
                if (d->purged[x].slot) spool_resolve(d->spool, d->purged[x].slot);
            continue;
        }
        for (size_t x = i; x < j; x++) {
            struct record r;
            if (spool_decode(d->purge_buf.p + d->purged[x].off, d->purged[x].len, &r) <= 0) abort();
            if (d->purged[x].slot) {
                if (respool(d, &r, r.part) == 0) spool_resolve(d->spool, d->purged[x].slot);
            } else {
                rescue(d, &r, "_PURGE_QUEUE", "Purged in queue", 0);
            }
        }
    }
    buf_free(&out);
    buf_free(&d->purge_buf);
    free(d->purged);
    d->purged = NULL;
    d->npurged = d->purged_cap = 0;
}

int delivery_shutdown(struct delivery *d, int timeout_ms) {
    if (!d->spool) return 0;
    d->purging = 1;
    int left = d->p.purge(d->p.arg, timeout_ms); /* serves the purged messages' reports */
    d->purging = 0;
    if (d->npurged) respool_purged(d);
    return left;
}

/* ---- a producing thread's side ---- */

struct delivery_lane *delivery_lane_new(struct delivery *d, int id, struct metrics_shard *m) {
    struct delivery_lane *l = calloc(1, sizeof *l);
    if (!l) abort();
    l->d = d;
    l->id = id;
    l->m = m;
    l->ts = d->p.thread_new(d->p.arg);
    l->q.run = malloc(LANE_BATCH * sizeof *l->q.run);
    if (!l->q.run) abort();
    return l;
}

void delivery_lane_free(struct delivery_lane *l) {
    if (!l) return;
    l->d->p.thread_free(l->ts);
    free(l->q.e);
    free(l->q.run);
    buf_free(&l->q.arena);
    buf_free(&l->stage);
    free(l);
}

uint64_t delivery_lane_seq(struct delivery_lane *l) {
    if (l->d->p.next_seq) return l->d->p.next_seq(l->ts);
    return ++l->seq << 16;
}

/* Adds r to the records bound for the spool. The stage may be dropped only if every record in
 * it may be: one record that can wait (TCP, RELP) makes the whole stage wait. */
static void stage(struct delivery_lane *l, const struct record *r, int spill) {
    spool_encode(&l->stage, r);
    l->stage_spill = l->nstage ? l->stage_spill && spill : spill;
    l->stage_ack = l->nstage ? l->stage_ack || r->ack : r->ack != 0;
    l->nstage++;
}

static size_t arena_put(struct buf *a, const char *p, size_t n) {
    size_t off = a->len;
    buf_append(a, p, n);
    return off;
}

/* Takes a copy of r into the lane's queue, behind what it holds. */
static void take(struct delivery_lane *l, const struct record *r, int spill, int batch) {
    if (l->q.n == l->q.cap) {
        unsigned cap = l->q.cap ? 2 * l->q.cap : LANE_BATCH;
        struct qrec *e = realloc(l->q.e, cap * sizeof *e);
        if (!e) abort();
        l->q.e = e;
        l->q.cap = cap;
    }
    struct buf *a = &l->q.arena;
    struct qrec *q = &l->q.e[l->q.n++];
    q->rec = *r;
    q->topic = arena_put(a, r->topic, r->topic_len);
    buf_append(a, "", 1); /* NUL-terminated, as the rules make it */
    q->key = arena_put(a, r->key, r->key_len);
    q->payload = arena_put(a, r->payload, r->len);
    q->headers = arena_put(a, r->headers, r->headers_len);
    q->has_key = r->key != NULL;
    q->spill = spill != 0;
    q->batch = batch != 0;
}

/* e's record, pointing into the arena (valid until the arena next grows). */
static const struct record *rec_at(struct delivery_lane *l, struct qrec *e, struct record *out) {
    const char *a = l->q.arena.p;
    *out = e->rec;
    out->topic = a + e->topic;
    out->key = e->has_key ? a + e->key : NULL;
    out->payload = a + e->payload;
    out->headers = e->rec.headers_len ? a + e->headers : NULL;
    return out;
}

/* What becomes of a record the producer refused because it is full: staged for the spool
 * if its source cannot wait and there is a spool, dropped and counted if it cannot wait and
 * is not a datagram, else kept (1) for delivery_retry while its source waits. */
static int refused_full(struct delivery_lane *l, const struct record *r, int spill) {
    if (spill && l->d->spool) {
        stage(l, r, spill);
        return 0;
    }
    if (spill && r->source != RECORD_UDP) {
        metrics_add(l->m, M_OVERFLOW_DROPPED, 1);
        metrics_add(l->m, M_LOST, 1);
        log_limited(L_ERROR, "worker %d: Kafka queue full: message from a backpressure: false "
                    "listener dropped (configure global.kafka.spool to keep such messages)", l->id);
        return 0;
    }
    return 1;
}

/* Empties the queue (handed over, or given up). */
static void queue_clear(struct delivery_lane *l) {
    l->q.head = l->q.n = l->q.refused = 0;
    l->q.arena.len = 0;
}

/* Hands the queue to the producer, in order: runs of records that may be batched in one
 * produce_batch call each, the others one by one. Stops where the producer is full; of
 * what it refused, a record whose source waits stays queued (then -1: the caller pauses),
 * the others go where refused_full sends them. */
static int produce_queue(struct delivery_lane *l) {
    const struct delivery_producer *p = &l->d->p;
    while (l->q.head < l->q.n) {
        struct qrec *e = &l->q.e[l->q.head];
        unsigned n = 1, taken, failed = 0;
        if (e->batch) { /* set only with a produce_batch, and cleared once refused */
            while (l->q.head + n < l->q.n && n < LANE_BATCH && e[n].batch) n++;
            for (unsigned i = 0; i < n; i++) rec_at(l, &e[i], &l->q.run[i]);
            taken = p->produce_batch(l->ts, l->q.run, n, &failed);
        } else {
            /* Refused once: produced alone, with the timestamp it was read at. */
            struct record r;
            int rc = p->produce(l->ts, rec_at(l, e, &r), 0);
            taken = rc != -ENOBUFS;
            failed = rc < 0 && rc != -ENOBUFS;
        }
        metrics_add(l->m, M_KAFKA_PRODUCED, taken - failed);
        if (failed) metrics_add(l->m, M_KAFKA_PRODUCE_ERROR, failed);
        l->q.head += taken;
        if (taken < n) break;
    }
    if (l->q.head == l->q.n) {
        queue_clear(l);
        return 0;
    }
    /* The producer is full. What can wait stays, in order, at the front of the queue. */
    unsigned kept = 0;
    for (unsigned i = l->q.head; i < l->q.n; i++) {
        struct qrec *e = &l->q.e[i];
        struct record r;
        if (l->q.refused || refused_full(l, rec_at(l, e, &r), e->spill)) {
            e->batch = 0;
            l->q.e[kept++] = *e;
        }
    }
    if (!kept) {
        queue_clear(l);
        return 0;
    }
    l->q.head = 0;
    l->q.n = kept;
    l->q.refused = 1;
    return -1;
}

/* Whether r may wait in the lane for a batch: nothing the batch call cannot carry (headers,
 * a timestamp other than the read's, a partition), no sender waiting for its own answer. */
static int batchable(const struct record *r) {
    return !r->headers_len && !r->ack && !r->part && (!r->timestamp_ms || r->ts_read);
}

int delivery_submit(struct delivery_lane *l, const struct record *r, int spill) {
    struct delivery *d = l->d;
    struct spool *sp = d->spool;
    /* Under mode: always everything goes through the spool; otherwise what cannot wait does,
     * as long as the spool holds older messages (so that they stay in order). A topic the
     * producer would refuse is refused here, never spooled: it would fail at every replay. */
    if (sp && (d->spool_always || (spill && spool_backlog(sp)))) {
        if (d->p.check_topic(l->ts, r, 0) < 0) {
            metrics_add(l->m, M_KAFKA_PRODUCE_ERROR, 1);
            return 0;
        }
        stage(l, r, spill);
        return 0;
    }
    /* Behind what the producer refused: queued, and the source waits. */
    if (l->q.refused) {
        take(l, r, spill, 0);
        return -ENOBUFS;
    }
    if (d->p.produce_batch && batchable(r)) {
        take(l, r, spill, 1);
        if (l->q.n - l->q.head < LANE_BATCH) return 0;
        return produce_queue(l) < 0 ? -ENOBUFS : 0;
    }
    if (l->q.n && produce_queue(l) < 0) { /* what came before goes first */
        take(l, r, spill, 0);
        return -ENOBUFS;
    }
    int e = d->p.produce(l->ts, r, 0);
    if (e == -ENOBUFS) {
        if (!refused_full(l, r, spill)) return 0;
        take(l, r, spill, 0); /* the source waits: TCP and TLS pause, a UDP batch stops */
        l->q.refused = 1;
        return e;
    }
    metrics_add(l->m, e == 0 ? M_KAFKA_PRODUCED : M_KAFKA_PRODUCE_ERROR, 1);
    return 0;
}

int delivery_flush(struct delivery_lane *l) {
    int held = l->q.n ? produce_queue(l) : 0;
    if (!l->nstage) return held;
    unsigned n = l->nstage;
    int r = spool_commit_sync(l->d->spool, l->stage.p, l->stage.len, n, l->stage_ack);
    if (r == 0) {
        metrics_add(l->m, M_SPOOLED, n);
    } else if (l->stage_spill) {
        metrics_add(l->m, M_SPOOL_FULL_DROPPED, n);
        metrics_add(l->m, M_LOST, n);
        log_limited(L_ERROR, "worker %d: spool %s: %u message(s) from UDP or a backpressure: false "
                    "listener dropped", l->id, r == -ENOSPC ? "full" : "write failed", n);
    } else {
        if (r != -ENOSPC)
            log_limited(L_ERROR, "worker %d: spool write failed (%s), pausing reads", l->id, strerror(-r));
        return -1; /* the caller pauses, or is already paused and retries */
    }
    l->stage.len = 0;
    l->nstage = 0;
    return held;
}

int delivery_retry(struct delivery_lane *l) { return delivery_flush(l); }

unsigned delivery_staged(const struct delivery_lane *l) { return l->nstage; }

unsigned delivery_held(const struct delivery_lane *l) { return l->q.refused ? l->q.n - l->q.head : 0; }

uint64_t delivery_discard(struct delivery_lane *l) {
    uint64_t n = (uint64_t)(l->q.n - l->q.head) + l->nstage;
    queue_clear(l);
    l->stage.len = 0;
    l->nstage = 0;
    return n;
}
