/* worker_internal.h - what worker.c and worker_udp.c share: the worker's own state. */
#ifndef HOTDOG_WORKER_INTERNAL_H
#define HOTDOG_WORKER_INTERNAL_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ackq.h"
#include "buf.h"
#include "frame.h"
#include "rules.h"
#include "worker.h"

enum ev_kind { EV_LISTENER, EV_UDP, EV_CONTROL, EV_CONN };

/* First member of everything registered with epoll, so that an event says what it is for. */
struct ev {
    enum ev_kind kind;
};

struct conn {
    struct ev ev;
    int fd;
    unsigned eof : 1, handshaking : 1, want_write : 1, ready : 1;
    unsigned noread : 1; /* not read for now (a RELP session at its window): no EPOLLIN */
    struct relp_sess *relp; /* RELP connections only (worker_relp.c) */
    struct listener *l;
    SSL *ssl;          /* TLS connections only */
    int64_t deadline;  /* handshake or idle deadline (CLOCK_MONOTONIC us), 0 = none */
    size_t drain_left; /* at shutdown: bytes received before it began, still to read */
    struct frame_state fs;
    char *tail; /* bytes read but not yet framed or forwarded; NULL when empty (idle = cheap) */
    size_t tlen, tcap;
    struct conn *prev, *next; /* all connections of the worker */
    struct conn *rnext;       /* ready list */
    char peer[64]; /* "[v6 address]:port" */
};

struct listen_ev {
    struct ev ev;
    struct listener *l;
};

/* One recvmmsg(2) batch; datagrams not forwarded yet stay here while the producer is full. */
#define UDP_BATCH 16
struct udp_batch {
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    struct sockaddr_storage addr[UDP_BATCH];
    char ctrl[UDP_BATCH][64];
    char *bufs;   /* UDP_BATCH buffers of bufsz bytes */
    size_t bufsz; /* largest max_message_size of the UDP listeners, + 1 to see truncation */
    int n, next;
    struct listener *l;
};

struct worker {
    int id;
    const struct worker_shared *sh;
    struct metrics_shard *m;
    pthread_t thread;
    int started;
    int epfd, evfd, reserve_fd;
    int timers; /* some listener has handshake or idle deadlines to watch */
    struct ev control;
    struct listen_ev *lev;
    char *rbuf; /* one read buffer for all connections of this worker */
    size_t rcap;
    struct conn *conns;
    struct conn *ready;   /* TLS connections holding decrypted bytes epoll cannot see */
    struct conn *blocked; /* the connection whose message the producer refused */
    int blocked_udp;      /* or: the UDP batch */
    int blocked_lane;     /* or: only the lane (its connection closed with records held) */
    /* The read's records, those the producer refused and those bound for the spool are the
     * lane's. */
    struct delivery_lane *lane;
    int spill;       /* the source being processed cannot wait (UDP, backpressure: false) */
    int src_udp;     /* ... and it is UDP */
    int64_t recv_ms; /* wall-clock time of the current read (ms since the epoch): timestamp: receive */
    struct udp_batch *udp; /* NULL without UDP listeners */
    struct rules *rules;          /* this worker's own compiled rules */
    _Atomic(struct rules *) next_rules; /* handed over by a reload, taken between messages */
    pthread_mutex_t rules_lock; /* held while rules is swapped or its counters are read */
    atomic_uint gen; /* rules_gen of the rules it runs: once it is the newest, older are gone */
    int64_t paused_since;
    atomic_int stop;
    /* Liveness (worker_check): main bumps ping and rings the doorbell; the loop copies it to
     * pong at its next turn. ping_us is main's alone; stalled is read by /stats. */
    atomic_uint ping, pong;
    int64_t ping_us;
    atomic_int stalled;
    /* RELP (worker_relp.c), when a listener speaks it: the messages not answered yet, the
     * fates the report thread posts for them (rung on evfd), and the sessions to write to
     * after a batch of fates. */
    int has_relp;
    struct pend_ring pend;
    struct ack_box acks;
    struct ack_msg *acks_spare;
    size_t acks_spare_cap;
    unsigned relp_staged; /* entries of pend bound for the spool, not yet committed */
    size_t relp_undone;   /* entries of pend not answered yet (the rest wait to be popped) */
    struct relp_sess *dirty;
    /* For /stats: unanswered messages and when the oldest was read (0: none). */
    _Atomic int64_t relp_unanswered, relp_oldest_us;
};

/* Whether the worker waits for the producer or the spool (reads nothing meanwhile). */
static inline int worker_paused(const struct worker *w) {
    return w->blocked || w->blocked_udp || w->blocked_lane;
}

/* Parses one message, runs the rules and queues the result; -ENOBUFS when the producer is
 * full (the message is then kept for the retry). */
int worker_forward(struct worker *w, const char *line, size_t n, int64_t recv_us);
/* Marks the worker paused (the producer refused a message). */
void worker_pause(struct worker *w);
/* At the end of a read: hands the read's batch to the producer and commits the staged spool
 * records (delivery_flush): 0, or -1 when the producer or the spool held back records of a
 * source that can wait (they stay; the caller pauses). */
int worker_stage_flush(struct worker *w);

/* Processes buf (the tail plus what was just read) as conn_process does; 1 if c was closed. */
int worker_conn_process(struct worker *w, struct conn *c, const char *buf, size_t len, int64_t recv_us);
/* Sets c's epoll interest from c->noread and c->want_write. */
void worker_conn_events(struct worker *w, struct conn *c);

/* worker_relp.c */
/* Makes c a RELP session. */
void relp_conn_open(struct worker *w, struct conn *c);
/* 1 while c's session has messages waiting for their fates (answers the client does not read
 * do not count: a client that stops reading is as idle as one that stops sending). */
int relp_conn_waiting(const struct conn *c);
/* c is being closed: its session lives on, dead, until its pending messages have their fates. */
void relp_conn_gone(struct worker *w, struct conn *c);
/* Handles the RELP frames in buf[0..len): answers, forwards syslog messages. Returns the bytes
 * used up, or -1 when the session must be closed (the serverclose hint has been sent). Sets
 * *blocked when the producer is full. Stops early (c->noread) at the window. */
long relp_process(struct worker *w, struct conn *c, const char *buf, size_t len, int64_t recv_us,
                  int *blocked);
/* The buffer budget cuts c's unfinished frame (worker.c tail_cut): returns the bytes of data
 * it holds, which the next relp_process, given c's tail, delivers as the frame cut, as one over
 * max_message_size (its rest is discarded as it comes, its trailer checked); 0 when there is
 * nothing to cut (no data yet, or c is not being read: its tail holds complete frames). */
size_t relp_cut_prepare(struct conn *c);
/* relp_process said c must be closed where the caller cannot close it: c reads nothing more
 * and is closed between event batches (relp_acks_drain). */
void relp_conn_doom(struct worker *w, struct conn *c);
/* Writes what c's session has to say. 0, or -1 on a write error (the caller closes c). */
int relp_flush(struct worker *w, struct conn *c);
/* Answers the fates posted since the last call. Closes connections: call between event
 * batches only. */
void relp_acks_drain(struct worker *w);
/* The worker's spool write committed (ok) or its staged records were given up (!ok). */
void relp_staged_settle(struct worker *w, int ok);
/* At shutdown: c reads nothing more. */
void relp_drain_mark(struct worker *w, struct conn *c);
/* At shutdown: stops reading RELP sessions, waits until deadline for the fates of what they
 * sent, answers them, and closes them with a serverclose hint. */
void relp_shutdown(struct worker *w, int64_t deadline);
/* The producer took the held message again: sessions stopped meanwhile may read again (at
 * the next relp_acks_drain). */
void relp_resume_mark(struct worker *w);
void relp_worker_free(struct worker *w);

/* At most this much is read from one connection per loop turn: the bound on the work one
 * connection can do before every other ready connection gets its turn. */
#define READ_CHUNK (64 * 1024)
/* What a receive returns besides a byte count (> 0) or 0 at the end of the stream. */
enum { RECV_AGAIN = -1, RECV_ERROR = -2 };

/* worker.c, for worker_tls.c */
/* Puts c on the ready list: bytes wait inside OpenSSL that epoll cannot see. */
void worker_ready_push(struct worker *w, struct conn *c);
/* Closes c and frees it. */
void worker_conn_close(struct worker *w, struct conn *c);
/* Asks epoll for c's writability too (on) or not: OpenSSL wants to write. */
void worker_want_write(struct worker *w, struct conn *c, int on);
/* Reads once behind c's tail and processes it. Returns 1 if c was closed. */
int worker_conn_read(struct worker *w, struct conn *c, int64_t now);

/* worker_tls.c */
/* Makes c's SSL and starts the handshake deadline. 0, or -1 (logged) when OpenSSL cannot. */
int tls_conn_open(struct conn *c, int64_t now);
/* Sends close_notify if the handshake was done (never waits) and frees the SSL. */
void tls_conn_close(struct conn *c);
/* Advances the handshake; once done, reads what came with it. Returns 1 if c was closed. */
int tls_conn_handshake(struct worker *w, struct conn *c, int64_t now);
/* Receives up to cap decrypted bytes (at most READ_CHUNK per call): > 0, 0 at the end of the
 * stream, RECV_AGAIN, or RECV_ERROR (counted and logged; what came before is delivered). */
ssize_t tls_conn_recv(struct worker *w, struct conn *c, char *buf, size_t cap);
/* Whether OpenSSL holds decrypted bytes of c that epoll cannot see, and how many. */
int tls_conn_pending(const struct conn *c);
size_t tls_conn_buffered(const struct conn *c);

/* worker_udp.c */
int udp_batch_init(struct worker *w);
void udp_batch_free(struct worker *w);
/* Receives one batch from l and forwards it. */
void udp_read(struct worker *w, struct listener *l, int64_t now);
/* Forwards what is left of the batch; -1 if the producer is still full. */
int udp_process(struct worker *w, int64_t now);
/* Datagrams received and not forwarded (counted as lost at shutdown). */
int udp_pending(const struct worker *w);

#endif
