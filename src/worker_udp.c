/* worker_udp.c - UDP listeners (RFC 5426): one datagram is one message, received in batches. */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "listener.h"
#include "log.h"
#include "worker_internal.h"

int udp_batch_init(struct worker *w) {
    size_t max = 0;
    for (size_t i = 0; i < w->sh->nlisteners; i++) {
        const struct config_listen *c = w->sh->listeners[i].cfg;
        if (c->protocol == PROTO_UDP && (size_t)c->max_message_size > max) max = (size_t)c->max_message_size;
    }
    if (!max) return 0;
    if (max > 65535) max = 65535; /* the largest UDP payload */
    w->udp = calloc(1, sizeof *w->udp);
    if (!w->udp) return -1;
    w->udp->bufsz = max + 1;
    w->udp->bufs = malloc(UDP_BATCH * w->udp->bufsz);
    return w->udp->bufs ? 0 : -1;
}

void udp_batch_free(struct worker *w) {
    if (!w->udp) return;
    free(w->udp->bufs);
    free(w->udp);
    w->udp = NULL;
}

int udp_pending(const struct worker *w) { return w->udp ? w->udp->n - w->udp->next : 0; }

/* The kernel's drop count rides on every datagram; count what it grew by since anyone (any
 * worker reading this socket) last looked. */
static void count_kernel_drops(struct worker *w, struct listener *l, struct msghdr *h) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL) continue;
        uint32_t v;
        memcpy(&v, CMSG_DATA(c), sizeof v);
        uint32_t seen = atomic_load_explicit(&l->udp_drops, memory_order_relaxed);
        while (v > seen && !atomic_compare_exchange_weak(&l->udp_drops, &seen, v)) {
        }
        if (v > seen) {
            metrics_add(w->m, M_UDP_KERNEL_DROPS, v - seen);
            log_limited(L_WARN, "%s: the kernel dropped %u datagram(s) so far: receive buffer "
                        "full (raise recv_buffer, or add workers)", l->name, v);
        }
    }
}

int udp_process(struct worker *w, int64_t now) {
    struct udp_batch *b = w->udp;
    w->spill = w->src_udp = 1;
    while (b->next < b->n) {
        int i = b->next++;
        struct msghdr *h = &b->msgs[i].msg_hdr;
        char *p = b->bufs + (size_t)i * b->bufsz;
        size_t len = b->msgs[i].msg_len;
        size_t max = (size_t)b->l->cfg->max_message_size;
        int cut = (h->msg_flags & MSG_TRUNC) != 0; /* longer than the buffer (max + 1 bytes) */
        if (!cut) /* senders often end a datagram with LF (or NUL): not part of the message */
            while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == 0)) len--;
        if (cut || len > max) {
            char host[64] = "?", port[8] = "?";
            getnameinfo(h->msg_name, h->msg_namelen, host, sizeof host, port, sizeof port,
                        NI_NUMERICHOST | NI_NUMERICSERV);
            metrics_add(w->m, M_TRUNCATED, 1);
            log_limited(L_WARN, "%s: datagram from %s:%s longer than max_message_size (%zu "
                        "bytes): delivered truncated", b->l->name, host, port, max);
            if (len > max) len = max;
        }
        if (!len) continue;
        if (worker_forward(w, p, len, now) == -ENOBUFS) {
            worker_stage_flush(w); /* a stage of datagrams only is dropped and counted */
            w->blocked_udp = 1;
            worker_pause(w);
            return -1;
        }
    }
    /* Datagrams alone are never refused (dropped and counted); a stage that also holds a record
     * that can wait is kept, and the worker waits for the spool as for a full producer. */
    if (worker_stage_flush(w) < 0) {
        w->blocked_udp = 1;
        worker_pause(w);
        return -1;
    }
    return 0;
}

void udp_read(struct worker *w, struct listener *l, int64_t now) {
    struct udp_batch *b = w->udp;
    for (int i = 0; i < UDP_BATCH; i++) {
        b->iov[i] = (struct iovec){b->bufs + (size_t)i * b->bufsz, b->bufsz};
        b->msgs[i].msg_hdr = (struct msghdr){.msg_name = &b->addr[i], .msg_namelen = sizeof b->addr[i],
                                             .msg_iov = &b->iov[i], .msg_iovlen = 1,
                                             .msg_control = b->ctrl[i], .msg_controllen = sizeof b->ctrl[i]};
    }
    int n = recvmmsg(l->fd, b->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            metrics_add(w->m, M_READ_ERROR, 1);
            log_limited(L_WARN, "%s: recvmmsg: %s", l->name, strerror(errno));
        }
        return;
    }
    metrics_add(w->m, M_UDP_DATAGRAMS, (uint64_t)n);
    for (int i = 0; i < n; i++) count_kernel_drops(w, l, &b->msgs[i].msg_hdr);
    b->n = n;
    b->next = 0;
    b->l = l;
    udp_process(w, now);
}
