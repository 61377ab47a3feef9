/* ackq.c - a worker's unanswered RELP messages and the mailbox of their fates. */
#include "ackq.h"

#include <stdlib.h>
#include <string.h>

void ack_box_init(struct ack_box *b) {
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
}

void ack_box_destroy(struct ack_box *b) {
    pthread_mutex_destroy(&b->mu);
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

int ack_box_post(struct ack_box *b, uint64_t seq, int verdict) {
    pthread_mutex_lock(&b->mu);
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        struct ack_msg *v = realloc(b->v, cap * sizeof *v);
        if (!v) abort(); /* the out-of-memory policy for small allocations */
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = (struct ack_msg){.seq = seq, .verdict = verdict};
    int was_empty = b->n == 1;
    pthread_mutex_unlock(&b->mu);
    return was_empty;
}

size_t ack_box_take(struct ack_box *b, struct ack_msg **v, size_t *cap) {
    pthread_mutex_lock(&b->mu);
    struct ack_msg *mine = b->v;
    size_t n = b->n, mcap = b->cap;
    b->v = *v;
    b->cap = *cap;
    b->n = 0;
    pthread_mutex_unlock(&b->mu);
    *v = mine;
    *cap = mcap;
    return n;
}

struct pend *pend_at(struct pend_ring *r, size_t i) { return &r->v[(r->head + i) & (r->cap - 1)]; }

struct pend *pend_push(struct pend_ring *r, uint64_t seq, void *owner, unsigned txnr, int64_t since_us) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        struct pend *v = malloc(cap * sizeof *v);
        if (!v) abort();
        for (size_t i = 0; i < r->n; i++) v[i] = *pend_at(r, i);
        free(r->v);
        r->v = v;
        r->cap = cap;
        r->head = 0;
    }
    struct pend *p = pend_at(r, r->n++);
    *p = (struct pend){.seq = seq, .owner = owner, .txnr = txnr, .since_us = since_us};
    return p;
}

struct pend *pend_find(struct pend_ring *r, uint64_t seq) {
    size_t lo = 0, hi = r->n;
    while (lo < hi) { /* the first entry not before seq */
        size_t mid = lo + (hi - lo) / 2;
        if ((int64_t)(pend_at(r, mid)->seq - seq) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == r->n) return NULL;
    struct pend *p = pend_at(r, lo);
    return p->seq == seq && !p->done ? p : NULL;
}

void pend_pop_done(struct pend_ring *r) {
    while (r->n && pend_at(r, 0)->done) {
        r->head = (r->head + 1) & (r->cap - 1);
        r->n--;
    }
}

void pend_free(struct pend_ring *r) {
    free(r->v);
    memset(r, 0, sizeof *r);
}
