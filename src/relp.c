/* relp.c - RELP (rsyslog's Reliable Event Logging Protocol): the server's frame parser and
 * response writer, as librelp 1.11 frames them on the wire (doc/relp-design.md). */
#include "relp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ASCII only: librelp's isdigit/isalpha run in the C locale. */
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

unsigned relp_txnr_next(unsigned txnr) { return txnr >= RELP_MAX_TXNR ? 1 : txnr + 1; }

static enum relp_cmd cmd_of(const char *p, size_t n) {
    static const struct {
        const char *name;
        enum relp_cmd cmd;
    } cmds[] = {
        {"syslog", RELP_CMD_SYSLOG}, {"open", RELP_CMD_OPEN}, {"close", RELP_CMD_CLOSE},
        {"serverclose", RELP_CMD_SERVERCLOSE}, {"rsp", RELP_CMD_RSP},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strlen(cmds[i].name) == n && memcmp(cmds[i].name, p, n) == 0) return cmds[i].cmd;
    return RELP_CMD_UNKNOWN;
}

/* Reads 1..RELP_MAX_DIGITS digits at buf[*i..len). Returns 1 with *v and *i past them, 0 when
 * the input ends before a non-digit shows where they end, -1 when they are not 1..9 digits. */
static int number(const char *buf, size_t len, size_t *i, unsigned *v) {
    size_t start = *i;
    unsigned n = 0;
    while (*i < len && is_digit(buf[*i])) {
        if (*i - start == RELP_MAX_DIGITS) return -1;
        n = n * 10 + (unsigned)(buf[*i] - '0');
        (*i)++;
    }
    if (*i == len) return 0;
    if (*i == start) return -1;
    *v = n;
    return 1;
}

/* Continues discarding the rest of an over-long frame: its data, then its trailer. Returns 1
 * while doing so (out->consumed set), 0 when there is nothing to discard, or -RELP_E_TRAILER. */
static int discard(struct relp_state *st, const char *buf, size_t len, struct relp_frame *out) {
    if (!st->skip && !st->skip_trailer) return 0;
    size_t k = st->skip < len ? st->skip : len;
    st->skip -= k;
    out->consumed = k;
    if (st->skip || k == len) return 1;
    if (buf[k] != '\n') return -RELP_E_TRAILER;
    st->skip_trailer = 0;
    out->consumed = k + 1;
    return 1;
}

int relp_next(struct relp_state *st, const char *buf, size_t len, size_t max_data, struct relp_frame *out) {
    *out = (struct relp_frame){0};
    int d = discard(st, buf, len, out);
    if (d) return d < 0 ? d : RELP_AGAIN;

    size_t i = 0;
    unsigned txnr = 0, datalen = 0;
    int r = number(buf, len, &i, &txnr);
    if (r <= 0) return r ? -RELP_E_TXNR : RELP_AGAIN;
    if (buf[i++] != ' ') return -RELP_E_TXNR;
    /* Checked before the frame is complete, so that a stream out of sequence is refused at
     * once; the state moves on only when the frame is delivered. */
    if (txnr && txnr != relp_txnr_next(st->last_txnr)) return -RELP_E_TXNR_SEQ;

    size_t c0 = i;
    while (i < len && is_alpha(buf[i])) {
        if (i - c0 == RELP_MAX_CMD) return -RELP_E_CMD;
        i++;
    }
    if (i == len) return RELP_AGAIN;
    if (i == c0 || buf[i] != ' ') return -RELP_E_CMD;
    size_t c1 = i++;

    r = number(buf, len, &i, &datalen);
    if (r <= 0) return r ? -RELP_E_DATALEN : RELP_AGAIN;
    out->txnr = txnr;
    out->cmd = cmd_of(buf + c0, c1 - c0);
    out->cmd_p = buf + c0;
    out->cmd_n = c1 - c0;
    if (buf[i] == '\n') {
        /* No data: only DATALEN 0 may end here (librelp: "N close 0" LF). */
        if (datalen) return -RELP_E_DATALEN;
        out->data = buf + i;
        out->consumed = i + 1;
    } else {
        /* "0 " and data would be a frame librelp refuses too. */
        if (buf[i] != ' ' || !datalen) return -RELP_E_DATALEN;
        i++;
        out->data = buf + i;
        if (datalen > max_data) {
            if (len - i < max_data) return RELP_AGAIN;
            out->datalen = max_data;
            out->truncated = 1;
            out->consumed = i + max_data;
            st->skip = datalen - max_data;
            st->skip_trailer = 1;
        } else {
            if (len - i <= datalen) return RELP_AGAIN;
            if (buf[i + datalen] != '\n') return -RELP_E_TRAILER;
            out->datalen = datalen;
            out->consumed = i + datalen + 1;
        }
    }
    if (txnr) st->last_txnr = txnr;
    return RELP_FRAME;
}

/* The value of one offer line, from after its '=' to the end of the line. */
static void offer(const char *name, size_t nn, const char *v, size_t vn, struct relp_offers *out) {
    if (nn == 12 && !memcmp(name, "relp_version", 12)) {
        /* One number; a value like "1,x" is not one (librelp reads it as -1, invalid). */
        unsigned ver = 0;
        size_t k = 0;
        while (k < vn && k < RELP_MAX_DIGITS && is_digit(v[k])) ver = ver * 10 + (unsigned)(v[k++] - '0');
        out->version = vn && k == vn ? (int)ver : -1;
    } else if (nn == 8 && !memcmp(name, "commands", 8)) {
        for (size_t a = 0; a <= vn;) {
            const char *comma = memchr(v + a, ',', vn - a);
            size_t b = comma ? (size_t)(comma - v) : vn;
            if (b - a == 6 && !memcmp(v + a, "syslog", 6)) out->syslog = 1;
            a = b + 1;
        }
    } else if (nn == 13 && !memcmp(name, "relp_software", 13)) {
        out->software = v;
        out->software_n = vn;
    }
}

int relp_offers_parse(const char *data, size_t n, struct relp_offers *out) {
    *out = (struct relp_offers){.version = -1};
    for (size_t a = 0; a < n;) {
        const char *lf = memchr(data + a, '\n', n - a);
        size_t e = lf ? (size_t)(lf - data) : n;
        const char *eq = memchr(data + a, '=', e - a);
        size_t ne = eq ? (size_t)(eq - data) : e;
        const char *v = eq ? eq + 1 : data + e;
        offer(data + a, ne - a, v, (size_t)(data + e - v), out);
        a = e + 1;
    }
    return out->version >= 0 && out->syslog ? 0 : -RELP_E_OFFERS;
}

int relp_rsp(struct buf *out, unsigned txnr, int code, const char *text, const char *data, size_t datalen) {
    if (txnr > RELP_MAX_TXNR) return -EINVAL;
    if (!code) {
        char hdr[32];
        int h = snprintf(hdr, sizeof hdr, "%u rsp 0\n", txnr);
        buf_append(out, hdr, (size_t)h);
        return 0;
    }
    size_t tn = text ? strlen(text) : 0;
    if (code < 100 || code > 999 || tn > RELP_MAX_TEXT || (tn && memchr(text, '\n', tn))) return -EINVAL;
    /* STATUS SP TEXT [LF DATA]: librelp's client reads three digits and one SP even when the
     * text is empty. */
    size_t n = 4 + tn + (datalen ? 1 + datalen : 0);
    if (n > 999999999) return -EINVAL;
    char hdr[48];
    int h = snprintf(hdr, sizeof hdr, "%u rsp %zu %03d ", txnr, n, code);
    buf_append(out, hdr, (size_t)h);
    buf_append(out, text, tn);
    if (datalen) {
        buf_append(out, "\n", 1);
        buf_append(out, data, datalen);
    }
    buf_append(out, "\n", 1);
    return 0;
}

int relp_rsp_open(struct buf *out, unsigned txnr, const char *software) {
    char offers[512];
    if (strchr(software, '\n')) return -EINVAL;
    int n = snprintf(offers, sizeof offers, "relp_version=%d\nrelp_software=%s\ncommands=syslog", RELP_VERSION,
                     software);
    if (n < 0 || (size_t)n >= sizeof offers) return -EINVAL;
    return relp_rsp(out, txnr, 200, "OK", offers, (size_t)n);
}

void relp_serverclose(struct buf *out) { buf_append(out, "0 serverclose 0\n", 16); }

const char *relp_strerror(int err) {
    switch (err < 0 ? -err : err) {
    case RELP_E_TXNR:
        return "TXNR is not 1 to 9 digits and a space";
    case RELP_E_TXNR_SEQ:
        return "TXNR is not the one after the previous command's";
    case RELP_E_CMD:
        return "command is not 1 to 32 letters and a space";
    case RELP_E_DATALEN:
        return "DATALEN is not 1 to 9 digits and a space, or 0 and LF";
    case RELP_E_TRAILER:
        return "the byte after the data is not LF";
    case RELP_E_OFFERS:
        return "open without relp_version or without the syslog command";
    default:
        return "unknown RELP error";
    }
}
