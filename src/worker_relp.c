/* worker_relp.c - a worker's RELP sessions (doc/relp-design.md): each syslog message is
 * answered "rsp 200 OK" only once its fate is final (acknowledged by Kafka, in the spool or the
 * dead-letter file; at once when no rule forwards it), so that whatever hotdog had not answered
 * when it stopped is resent by the sender. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "delivery.h"
#include "listener.h"
#include "log.h"
#include "pipeline.h"
#include "relp.h"
#include "version.h"
#include "worker_internal.h"

#define RELP_SOFTWARE "hotdog," HOTDOG_VERSION ",https://github.com/hotdog"

struct relp_sess {
    struct relp_state st;
    struct buf out;    /* answers not written yet */
    unsigned pending;  /* entries in the worker's pending table for this session, not done */
    struct conn *c;    /* NULL once the connection is closed: the session is dead */
    unsigned close_txnr; /* the client's close, answered once nothing before it is pending */
    int opened, want_out, draining;
    int out_full; /* not read because RELP_OUT_MAX bytes of answers wait to be written */
    int kill; /* a message could be kept nowhere: close without answering (the sender resends) */
    int doomed; /* broken where it could not be closed (relp_conn_doom): close it */
    int dirty;
    struct relp_sess *dnext; /* the worker's dirty list */
    size_t cut; /* the buffer budget's cut: the next frame keeps at most this much data */
};

static size_t max_pending(const struct conn *c) { return (size_t)c->l->cfg->relp_max_pending; }

/* Answers the client has not read (its socket buffer is full) stop reading the session at this
 * many bytes: the window bounds unanswered messages, this bounds answered ones, so a client
 * that never reads cannot make hotdog buffer answers without end. */
#define RELP_OUT_MAX (64u << 10)

void relp_conn_open(struct worker *w, struct conn *c) {
    struct relp_sess *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->c = c;
    c->relp = s;
    (void)w;
    /* The client waits for answers (its window): Nagle's algorithm would hold an answer back
     * while an earlier one is unacknowledged, until the client's delayed ACK (40 ms or more). */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Answers are appended while earlier ones may wait unwritten: the write buffer moves and
     * a retried SSL_write may be given more than the first try. */
    if (c->ssl) SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

int relp_conn_waiting(const struct conn *c) { return c->relp->pending != 0; }

static void sess_free(struct relp_sess *s) {
    buf_free(&s->out);
    free(s);
}

static void mark_dirty(struct worker *w, struct relp_sess *s) {
    if (s->dirty) return;
    s->dirty = 1;
    s->dnext = w->dirty;
    w->dirty = s;
}

void relp_conn_gone(struct worker *w, struct conn *c) {
    struct relp_sess *s = c->relp;
    c->relp = NULL;
    s->c = NULL;
    buf_free(&s->out);
    /* On the dirty list, it is freed there; with messages pending, when the last fate comes. */
    if (!s->pending && !s->dirty) sess_free(s);
    (void)w;
}

/* O(1) per loop turn: the table can hold many answered entries behind one that waits (a
 * partition whose leader is away), so it is not walked. */
static void gauges(struct worker *w) {
    pend_pop_done(&w->pend);
    atomic_store_explicit(&w->relp_unanswered, (int64_t)w->relp_undone, memory_order_relaxed);
    atomic_store_explicit(&w->relp_oldest_us, w->pend.n ? pend_at(&w->pend, 0)->since_us : 0,
                          memory_order_relaxed);
}

int relp_flush(struct worker *w, struct conn *c) {
    struct relp_sess *s = c->relp;
    size_t off = 0;
    int again = 0;
    while (off < s->out.len && !again) {
        size_t want = s->out.len - off;
        if (c->ssl) {
            if (c->handshaking) break;
            ERR_clear_error();
            int r = SSL_write(c->ssl, s->out.p + off, want > INT_MAX ? INT_MAX : (int)want);
            if (r > 0) {
                off += (size_t)r;
                continue;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) again = 1;
            else goto fail;
        } else {
            ssize_t r = send(c->fd, s->out.p + off, want, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (r >= 0) off += (size_t)r;
            else if (errno == EAGAIN || errno == EINTR) again = 1;
            else goto fail;
        }
    }
    if (off) {
        memmove(s->out.p, s->out.p + off, s->out.len - off);
        s->out.len -= off;
    }
    if (s->out_full && s->out.len < RELP_OUT_MAX) { /* written down: after() reads again */
        s->out_full = 0;
        mark_dirty(w, s);
    }
    /* Writability is asked for only while answers wait (and left to TLS reads otherwise). */
    if (s->out.len) worker_want_write(w, c, 1);
    else if (s->want_out) worker_want_write(w, c, 0);
    s->want_out = s->out.len > 0;
    return 0;
fail:
    metrics_add(w->m, M_READ_ERROR, 1);
    log_limited(L_WARN, "%s: RELP write error: %s", c->peer, c->ssl ? "TLS" : strerror(errno));
    s->out.len = 0;
    return -1;
}

/* Sends the serverclose hint (best effort: the connection is closed right after). */
static void serverclose(struct worker *w, struct conn *c) {
    relp_serverclose(&c->relp->out);
    relp_flush(w, c);
}

static void answer(struct worker *w, struct relp_sess *s, unsigned txnr, int code, const char *text) {
    relp_rsp(&s->out, txnr, code, text, NULL, 0);
    metrics_add(w->m, code == 200 ? M_RELP_RSP_200 : M_RELP_RSP_500, 1);
}

/* Forwards one syslog message of session s. 0: answered already (no rule forwards it);
 * 1: pending; -ENOBUFS: pending, and the producer is full (the worker pauses). */
static int forward(struct worker *w, struct relp_sess *s, const struct relp_frame *f, int64_t recv_us) {
    struct syslog_msg m;
    struct rules_out out;
    if (!pipeline_message(w->rules, w->m, f->data, f->datalen, &m, &out)) {
        answer(w, s, f->txnr, 200, "OK");
        return 0;
    }
    struct record r = out.rec;
    r.recv_us = recv_us;
    r.source = RECORD_TCP;
    if (!r.timestamp_ms) r.timestamp_ms = w->recv_ms;
    r.ack = (uint32_t)w->id + 1;
    r.seq = delivery_lane_seq(w->lane);
    struct pend *p = pend_push(&w->pend, r.seq, s, f->txnr, recv_us);
    s->pending++;
    w->relp_undone++;
    unsigned staged = delivery_staged(w->lane);
    int e = delivery_submit(w->lane, &r, 0);
    if (delivery_staged(w->lane) > staged) { /* mode: always: final once the spool write commits */
        p->staged = 1;
        w->relp_staged++;
    }
    return e == -ENOBUFS ? -ENOBUFS : 1;
}

/* Closes the session for a protocol error: the serverclose hint, no answer (as librelp). */
static long broken(struct worker *w, struct conn *c, const char *why) {
    metrics_add(w->m, M_RELP_ERROR_FRAME, 1);
    log_limited(L_WARN, "%s: RELP: %s, closing the session", c->peer, why);
    serverclose(w, c);
    return -1;
}

long relp_process(struct worker *w, struct conn *c, const char *buf, size_t len, int64_t recv_us,
                  int *blocked) {
    struct relp_sess *s = c->relp;
    size_t off = 0, max = (size_t)c->l->cfg->max_message_size, cut_max = s->cut;
    *blocked = 0;
    s->cut = 0;
    while (off < len) {
        if (s->out.len >= RELP_OUT_MAX) s->out_full = 1;
        if (s->draining || s->close_txnr || s->pending >= max_pending(c) || s->out_full) {
            /* At the window, or closing: read nothing more until answers go out. */
            if (!c->noread) {
                c->noread = 1;
                worker_conn_events(w, c);
            }
            break;
        }
        struct relp_frame f;
        int cut = off == 0 && cut_max; /* the budget cuts the first frame only */
        int r = relp_next(&s->st, buf + off, len - off, cut ? cut_max : max, &f);
        off += f.consumed;
        if (r < 0) return broken(w, c, relp_strerror(r));
        if (r == RELP_AGAIN) {
            if (!f.consumed) break;
            continue;
        }
        switch (f.cmd) {
        case RELP_CMD_OPEN: {
            struct relp_offers o;
            if (s->opened) {
                answer(w, s, f.txnr, 500, "connection already open");
                break;
            }
            if (relp_offers_parse(f.data, f.datalen, &o) < 0) {
                answer(w, s, f.txnr, 500, "required command not supported by client");
                return broken(w, c, "open without relp_version or the syslog command");
            }
            relp_rsp_open(&s->out, f.txnr, RELP_SOFTWARE);
            s->opened = 1;
            metrics_add(w->m, M_RELP_SESSIONS, 1);
            break;
        }
        case RELP_CMD_SYSLOG:
            if (!s->opened) {
                answer(w, s, f.txnr, 500, "command disabled");
                break;
            }
            metrics_add(w->m, M_RELP_MESSAGES, 1);
            if (f.truncated && !cut) {
                metrics_add(w->m, M_TRUNCATED, 1);
                log_limited(L_WARN, "%s: RELP message longer than max_message_size (%ld bytes): "
                            "delivered truncated", c->peer, c->l->cfg->max_message_size);
            }
            if (forward(w, s, &f, recv_us) == -ENOBUFS) {
                *blocked = 1;
                relp_flush(w, c);
                return (long)off;
            }
            break;
        case RELP_CMD_CLOSE:
            s->close_txnr = f.txnr ? f.txnr : RELP_MAX_TXNR + 1u; /* answered by relp_acks_drain */
            mark_dirty(w, s);
            break;
        default: /* serverclose or rsp from a client, or a command we do not know */
            return broken(w, c, "a command a client may not send");
        }
    }
    if (relp_flush(w, c) < 0) return -1;
    return (long)off;
}

size_t relp_cut_prepare(struct conn *c) {
    struct relp_sess *s = c->relp;
    /* Not while the session is not read: its tail then holds complete frames held back. */
    if (c->noread || s->draining || s->close_txnr || s->out_full || s->out.len >= RELP_OUT_MAX ||
        s->pending >= max_pending(c))
        return 0;
    /* With no room for data, a frame whose header is here comes back cut to nothing: what it
     * consumed is its header, and the copy of the state's skip is its DATALEN. */
    struct relp_state st = s->st;
    struct relp_frame f;
    if (relp_next(&st, c->tail, c->tlen, 0, &f) != RELP_FRAME || !f.truncated) return 0;
    size_t have = c->tlen - f.consumed;
    if (!have || have >= st.skip) return 0; /* no data yet, or only the trailer missing */
    s->cut = have;
    return have;
}

void relp_conn_doom(struct worker *w, struct conn *c) {
    c->relp->doomed = 1;
    c->noread = 1;
    worker_conn_events(w, c);
    mark_dirty(w, c->relp);
}

/* What a session does once fates were answered: write, answer a close, read again. A
 * session on the dirty list is never freed by relp_conn_gone; after() frees it when its
 * connection is gone and nothing is pending (or leaves that to the last fate). */
static void after(struct worker *w, struct relp_sess *s, int64_t now) {
    struct conn *c = s->c;
    if (!c) {
        if (!s->pending && !s->dirty) sess_free(s);
        return;
    }
    if (s->doomed) { /* the serverclose hint is sent */
        s->dirty = 1; /* keeps relp_conn_gone from freeing s under us */
        worker_conn_close(w, c);
        s->dirty = 0;
        if (!s->pending) sess_free(s);
        return;
    }
    if (s->kill) {
        metrics_add(w->m, M_RELP_CLOSED_UNANSWERED, 1);
        log_limited(L_WARN, "%s: RELP: a message could be neither delivered nor kept, closing the "
                    "session so that the sender resends what is unanswered", c->peer);
        serverclose(w, c);
        s->dirty = 1; /* keeps relp_conn_gone from freeing s under us */
        worker_conn_close(w, c);
        s->dirty = 0;
        if (!s->pending) sess_free(s);
        return;
    }
    if (s->close_txnr && !s->pending) {
        unsigned t = s->close_txnr > RELP_MAX_TXNR ? 0 : s->close_txnr;
        relp_rsp(&s->out, t, 0, NULL, NULL, 0); /* "N rsp 0": librelp's answer to close */
        relp_serverclose(&s->out);
        relp_flush(w, c);
        worker_conn_close(w, c); /* frees s: nothing is pending and it is off the list */
        return;
    }
    if (relp_flush(w, c) < 0) {
        worker_conn_close(w, c); /* s lives on while messages are pending */
        return;
    }
    /* Not while the producer is full (the lane holds a message): unblock marks us again. */
    if (c->noread && !s->close_txnr && !s->draining && s->pending < max_pending(c) && !s->out_full &&
        !worker_paused(w)) {
        c->noread = 0;
        worker_conn_events(w, c);
        if (worker_conn_process(w, c, c->tail, c->tlen, now)) return;
        if (tls_conn_pending(c)) worker_ready_push(w, c);
    }
}

static void settle(struct worker *w, struct pend *p, int verdict) {
    struct relp_sess *s = p->owner;
    p->done = 1;
    if (p->staged) w->relp_staged--;
    s->pending--;
    w->relp_undone--;
    mark_dirty(w, s);
    if (!s->c) {
        metrics_add(w->m, M_RELP_ORPHANED, 1);
        return;
    }
    if (verdict == DELIVERY_ACK_OK) {
        answer(w, s, p->txnr, 200, "OK");
    } else if (verdict == DELIVERY_ACK_REFUSED) {
        answer(w, s, p->txnr, 500, "message refused by Kafka and kept nowhere");
    } else { /* kept nowhere, but could be retried: the sender resends what is unanswered */
        s->kill = 1; /* done by after(): this may run while the worker handles a connection */
    }
}

/* Runs after() for every session touched since the last call. */
static void run_dirty(struct worker *w) {
    int64_t now = clock_us();
    while (w->dirty) {
        struct relp_sess *s = w->dirty;
        w->dirty = s->dnext;
        s->dirty = 0;
        after(w, s, now);
    }
    gauges(w);
}

void relp_acks_drain(struct worker *w) {
    if (!w->has_relp) return;
    size_t n = ack_box_take(&w->acks, &w->acks_spare, &w->acks_spare_cap);
    for (size_t i = 0; i < n; i++) {
        struct pend *p = pend_find(&w->pend, w->acks_spare[i].seq);
        if (p) settle(w, p, w->acks_spare[i].verdict);
        else metrics_add(w->m, M_RELP_ORPHANED, 1);
    }
    run_dirty(w);
}

void relp_staged_settle(struct worker *w, int ok) {
    /* What was staged since the last commit is at the end of the table: walk back to it only. */
    for (size_t i = w->pend.n; i-- > 0 && w->relp_staged;) {
        struct pend *p = pend_at(&w->pend, i);
        if (p->staged && !p->done) settle(w, p, ok ? DELIVERY_ACK_OK : DELIVERY_ACK_LOST);
    }
    w->relp_staged = 0; /* the answers go out with the next relp_acks_drain */
}

void relp_drain_mark(struct worker *w, struct conn *c) {
    c->relp->draining = 1;
    c->noread = 1;
    worker_conn_events(w, c);
}

void relp_shutdown(struct worker *w, int64_t deadline) {
    if (!w->has_relp) return;
    for (;;) {
        relp_acks_drain(w);
        int waiting = 0;
        for (struct conn *c = w->conns; c; c = c->next) waiting |= c->relp && c->relp->pending;
        if (!waiting || clock_us() > deadline) break;
        struct pollfd p = {.fd = w->evfd, .events = POLLIN};
        if (poll(&p, 1, 10) > 0) {
            uint64_t v;
            ssize_t r = read(w->evfd, &v, sizeof v);
            (void)r;
        }
    }
    for (struct conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (!c->relp) continue;
        if (c->relp->pending) {
            log_warn("worker %d: %s: %u RELP message(s) not answered at shutdown: the sender "
                     "resends them", w->id, c->peer, c->relp->pending);
        }
        serverclose(w, c);
        worker_conn_close(w, c);
    }
}

void relp_resume_mark(struct worker *w) {
    if (!w->has_relp) return;
    for (struct conn *c = w->conns; c; c = c->next)
        if (c->relp && c->noread) mark_dirty(w, c->relp);
}

void relp_worker_free(struct worker *w) {
    while (w->dirty) {
        struct relp_sess *s = w->dirty;
        w->dirty = s->dnext;
        s->dirty = 0;
        if (!s->c && !s->pending) sess_free(s);
    }
    /* Sessions still referenced only by their pending messages. */
    for (size_t i = 0; i < w->pend.n; i++) {
        struct pend *p = pend_at(&w->pend, i);
        if (p->done) continue;
        struct relp_sess *s = p->owner;
        p->done = 1;
        w->relp_undone--;
        if (--s->pending == 0 && !s->c) sess_free(s);
    }
    pend_free(&w->pend);
    ack_box_destroy(&w->acks);
    free(w->acks_spare);
}
