/* test_ackq.c - the RELP pending table and the ack mailbox. */
#include <pthread.h>
#include <stdlib.h>

#include "ackq.h"
#include "test.h"

TEST(entries_are_found_by_seq_in_any_order_and_popped_only_from_the_front) {
    struct pend_ring r = {0};
    int owner;
    for (unsigned i = 1; i <= 200; i++) pend_push(&r, (uint64_t)i << 16, &owner, i, i);
    ASSERT_EQ_INT(r.n, 200);
    ASSERT(pend_find(&r, (uint64_t)201 << 16) == NULL);
    ASSERT(pend_find(&r, ((uint64_t)5 << 16) + 1) == NULL); /* no such seq */
    struct pend *p = pend_find(&r, (uint64_t)150 << 16);
    ASSERT(p != NULL);
    ASSERT_EQ_INT(p->txnr, 150);
    p->done = 1;
    ASSERT(pend_find(&r, (uint64_t)150 << 16) == NULL); /* answered once */
    pend_pop_done(&r);
    ASSERT_EQ_INT(r.n, 200); /* the oldest is not done: nothing moves */
    for (unsigned i = 1; i <= 100; i++) pend_find(&r, (uint64_t)i << 16)->done = 1;
    pend_pop_done(&r);
    ASSERT_EQ_INT(r.n, 100);
    ASSERT_EQ_INT(pend_at(&r, 0)->txnr, 101);
    /* pushing past the capacity after the head moved keeps the order (the ring unwraps) */
    for (unsigned i = 201; i <= 400; i++) pend_push(&r, (uint64_t)i << 16, &owner, i, i);
    for (unsigned i = 101; i <= 400; i++) {
        if (i == 150) continue;
        p = pend_find(&r, (uint64_t)i << 16);
        ASSERT(p != NULL);
        ASSERT_EQ_INT(p->txnr, i);
    }
    pend_free(&r);
}

TEST(seqs_compare_across_the_wrap) {
    struct pend_ring r = {0};
    uint64_t s = UINT64_MAX - (3u << 16) + 1; /* three before the wrap, then past it */
    for (unsigned i = 0; i < 8; i++) pend_push(&r, s + ((uint64_t)i << 16), NULL, i, 0);
    for (unsigned i = 0; i < 8; i++) {
        struct pend *p = pend_find(&r, s + ((uint64_t)i << 16));
        ASSERT(p != NULL);
        ASSERT_EQ_INT(p->txnr, i);
    }
    pend_free(&r);
}

static struct ack_box box;

static void *poster(void *arg) {
    uint64_t base = (uint64_t)(uintptr_t)arg;
    for (uint64_t i = 0; i < 10000; i++) ack_box_post(&box, base + i, 1);
    return NULL;
}

TEST(the_mailbox_loses_nothing_between_posting_threads_and_the_taker) {
    ack_box_init(&box);
    ASSERT_EQ_INT(ack_box_post(&box, 7, 2), 1); /* empty: ring the bell */
    ASSERT_EQ_INT(ack_box_post(&box, 8, 3), 0);
    struct ack_msg *v = NULL;
    size_t cap = 0;
    ASSERT_EQ_INT(ack_box_take(&box, &v, &cap), 2);
    ASSERT(v[0].seq == 7 && v[0].verdict == 2 && v[1].seq == 8);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, poster, (void *)(uintptr_t)((uint64_t)i << 32));
    size_t got = 0;
    static unsigned char seen[4][10000];
    while (got < 40000) {
        size_t n = ack_box_take(&box, &v, &cap);
        for (size_t i = 0; i < n; i++) {
            unsigned th = (unsigned)(v[i].seq >> 32), k = (unsigned)(v[i].seq & 0xffffffffu);
            ASSERT(th < 4 && k < 10000 && !seen[th][k]);
            seen[th][k] = 1;
        }
        got += n;
    }
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    ASSERT_EQ_INT(ack_box_take(&box, &v, &cap), 0);
    free(v);
    ack_box_destroy(&box);
}

TEST_MAIN("test_ackq", TEST_ENTRY(entries_are_found_by_seq_in_any_order_and_popped_only_from_the_front),
          TEST_ENTRY(seqs_compare_across_the_wrap),
          TEST_ENTRY(the_mailbox_loses_nothing_between_posting_threads_and_the_taker))
