/* pipeline.c - from bytes to records: frame, parse, rules. */
#include "pipeline.h"

int pipeline_message(struct rules *r, struct metrics_shard *m, const char *line, size_t n,
                     struct syslog_msg *msg, struct rules_out *out) {
    syslog_parse(line, n, msg);
    if (m) {
        metrics_add(m, M_RECEIVED, 1);
        /* lines and error.log_parse as the original counts them: a line it would not parse is
         * still forwarded by us, but counted as a parse error, not as a line. */
        metrics_add(m, msg->format != SYSLOG_UNPARSED ? M_LINES : M_PARSE_ERROR, 1);
    }
    rules_eval(r, msg, out);
    return out->forward;
}

long pipeline_frames(struct frame_state *fs, const char *buf, size_t len, size_t max, int eof,
                     pipeline_frame_fn fn, void *arg) {
    size_t off = 0;
    for (;;) {
        struct frame f;
        enum frame_status s = frame_next(fs, buf + off, len - off, max, eof, &f);
        off += f.consumed;
        switch (s) {
        case FRAME_MSG:
            if (fn(arg, &f)) return (long)off;
            break;
        case FRAME_BAD_COUNT:
            return PIPELINE_CORRUPT;
        case FRAME_AGAIN:
            if (!f.consumed) return (long)off;
            break;
        }
    }
}
