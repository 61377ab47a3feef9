/* ackq.h - what a worker needs to answer RELP messages only once their fate is final: the
 * table of messages it has not answered yet (pending), in the order it submitted them, and the
 * mailbox through which the delivery-report thread tells it their fates. */
#ifndef HOTDOG_ACKQ_H
#define HOTDOG_ACKQ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the mailbox: many posting threads, one taker (the worker) ---- */

struct ack_msg {
    uint64_t seq; /* the record's seq (record.seq) */
    int verdict;  /* enum delivery_ack */
};

struct ack_box {
    pthread_mutex_t mu;
    struct ack_msg *v;
    size_t n, cap;
};

void ack_box_init(struct ack_box *b);
void ack_box_destroy(struct ack_box *b);
/* Adds one fate. Returns 1 when the box was empty (the caller rings the taker's doorbell),
 * else 0 (a ring is already on its way). runs on: any thread; locks: b's mutex, briefly. */
int ack_box_post(struct ack_box *b, uint64_t seq, int verdict);
/* Takes everything posted so far: swaps the box's array with the caller's spare (*v, *cap,
 * which may start NULL, 0) and returns how many fates *v now holds. runs on: the taker. */
size_t ack_box_take(struct ack_box *b, struct ack_msg **v, size_t *cap);

/* ---- the pending table: one worker's unanswered messages, oldest first ---- */

struct pend {
    uint64_t seq;     /* increasing along the table, compared with (int64_t)(a - b) */
    void *owner;      /* the session the answer goes to */
    unsigned txnr;    /* the RELP transaction number to answer */
    int64_t since_us; /* when it was read (CLOCK_MONOTONIC), for the oldest-unanswered age */
    unsigned char done;   /* answered (or given up): popped once everything before it is */
    unsigned char staged; /* bound for the spool: final once the worker's spool write commits */
};

/* A ring that grows; entries stay in place until everything older is done, so that a fate
 * is found by binary search on seq. */
struct pend_ring {
    struct pend *v;
    size_t cap, head, n; /* cap: 0 or a power of two */
};

/* Appends an entry; seq must be later than the last entry's. Returns it (valid until the next
 * push). */
struct pend *pend_push(struct pend_ring *r, uint64_t seq, void *owner, unsigned txnr, int64_t since_us);
/* The entry with this seq that is not done yet, or NULL. O(log n). */
struct pend *pend_find(struct pend_ring *r, uint64_t seq);
/* Drops done entries from the front. */
void pend_pop_done(struct pend_ring *r);
/* The i-th entry from the oldest (i < r->n). */
struct pend *pend_at(struct pend_ring *r, size_t i);
void pend_free(struct pend_ring *r);

#endif
