"""Abuse: JSON bombs against JMESPath rules (100,000-level nesting, arrays and objects as large
as max_message_size = 8 MiB allows), while a good client streams.

Rules: the good client's rule first, then `jmespath: 'a.b'` (forward) and `jmespath:
'[*].a.b'` (stop). A message no rule forwards is counted in `unmatched`; JSON with more than
200,000 values or nested deeper than 127 levels (serde_json's limit, as the original hotdog)
is not parsed at all and is counted in
`error.json_limit` (the size and depth limits). There is no catch-all: bombs are never
produced to Kafka.
"""
import threading

from conftest import SLOW, poll, send_raw

MAX = 8 << 20
HDR = b"<13>1 2026-11-30T00:00:00Z badhost badapp - - - "
RULES = ["  - jmespath: 'a.b'", "    actions:", "      - {type: forward}",
         "  - jmespath: '[*].a.b'", "    actions:", "      - {type: stop}"]
LISTEN = [{"max_message_size": MAX}]
WORKERS = "  workers: 2"  # the bounds below are for two workers, whatever the core count
# Two concurrent 8 MiB bombs (one per worker on this 2-core machine). Before the JSON limits
# a parsed DOM cost ~50 bytes per byte of input and this case peaked at 800 MB; now such a
# message is refused by a scan that allocates nothing: what remains is the 8 MiB messages
# themselves in the read buffers and librdkafka's baseline.
HUGE_RSS_MB = 96


def control(c, tag):
    """A small JSON message the 'a.b' rule forwards: the JMESPath rules still work."""
    send_raw(c.port, HDR + b'{"a":{"b":"' + tag.encode() + b'"}}\n')
    c.expect_bad(f"control message {tag} forwarded by the JMESPath rule",
                 lambda d: tag.encode() in d)


def send_concurrently(port, messages):
    errs = []

    def one(m):
        _, _, err = send_raw(port, [m[i:i + (1 << 20)] for i in range(0, len(m), 1 << 20)])
        if err:
            errs.append(err)
    ts = [threading.Thread(target=one, args=(m,)) for m in messages]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errs


def bombs_on_both_workers(c, bomb, workers=2):
    """Sends `workers` copies of bomb, trying to have every worker on one at the same time.
    Which worker accepts a connection is the kernel's choice (EPOLLEXCLUSIVE), but a worker
    busy with a bomb cannot accept: each next connection is opened only once /stats shows the
    previous bomb reached the rules, either still there (lines - forwarded - unmatched) or
    already finished (the bombs end in `unmatched`; the good client's lines never do). A bomb
    refused by the JSON limits is done in milliseconds and may never be seen in flight, so
    waiting for "in flight" alone timed out and the next bomb was never sent (CI, 2026-11-30).
    Every bomb is sent whatever the timing; returns the most seen in the rules at once."""
    def counts():
        v = c.counters("lines", "rule.0.matched", "rule.1.matched", "unmatched")
        return v["lines"] - v["rule.0.matched"] - v["rule.1.matched"] - v["unmatched"], v["unmatched"]

    socks, most = [], 0

    def reached(k):
        # k bombs in the rules or finished, on 3 polls in a row: a good line is in the rules
        # for microseconds.
        def check():
            nonlocal most
            for _ in range(3):
                inflight, done = counts()
                most = max(most, min(inflight, k))
                if inflight + done < k:
                    return False
            return True
        return check
    try:
        for k in range(1, workers + 1):
            _, s, err = send_raw(c.port, [bomb[i:i + (1 << 20)] for i in range(0, len(bomb), 1 << 20)],
                                 close=None)
            assert err is None, f"daemon dropped a bomb's connection: {err}"
            socks.append(s)
            poll(reached(k), 20 * SLOW, interval=0.01, what=f"bomb {k} to reach the rules")
    finally:
        for s in socks:
            s.close()
    return most


def test_json_deep_arrays(abuse):
    with abuse.case("json_deep_arrays", rss_mb=64, listeners=LISTEN, rules=RULES, extra_global=WORKERS,
                    catch_all=False) as c:
        c.start()
        bombs = [b"[" * 100_000,                              # unbalanced
                 b"[" * 100_000 + b"]" * 100_000,             # balanced, 100,000 deep
                 b"[" * 120 + b"]" * 120,                     # deep, within the 127-level limit
                 b'[{"a":' * 50_000 + b"1" + b"}]" * 50_000]  # alternating
        errs = send_concurrently(c.port, [HDR + b + b"\n" for b in bombs])
        assert not errs, f"daemon dropped a connection: {errs}"
        control(c, "deep-arrays-control")
        c.note(f"{len(bombs)} nested arrays, 120 .. 100,000 levels deep")
        c.expect_counter("unmatched", len(bombs), exact=True)
        c.expect_counter("error.json_limit", 3, exact=True)  # all but the 120-deep one


def test_json_deep_objects(abuse):
    with abuse.case("json_deep_objects", rss_mb=96, listeners=LISTEN, rules=RULES, extra_global=WORKERS,
                    catch_all=False) as c:
        c.start()
        wide = b"{" + b",".join(b'"k%07d":0' % i for i in range(620_000)) + b"}"
        bombs = [b'{"x":' * 100_000 + b"1" + b"}" * 100_000,   # 100,000 deep
                 b'{"a":' * 100_000,                            # unbalanced, a.a.a...
                 b'{"a":' * 120 + b"{}" + b"}" * 120,           # within limits: a.b is null
                 wide]
        assert len(bombs[3]) <= MAX - len(HDR) and bombs[3].endswith(b"}")
        errs = send_concurrently(c.port, [HDR + b + b"\n" for b in bombs])
        assert not errs, f"daemon dropped a connection: {errs}"
        control(c, "deep-objects-control")
        c.note(f"objects 100,000 deep (closed and unclosed), 120 deep, and one with 620,000 "
               f"keys ({len(bombs[3]) >> 20} MiB)")
        c.expect_counter("unmatched", len(bombs), exact=True)
        c.expect_counter("error.json_limit", 3, exact=True)  # too deep twice, too many values once


def test_json_huge_array(abuse):
    n = (MAX - len(HDR) - 3) // 2
    bomb = HDR + b"[" + b"0," * (n - 1) + b"0]"
    assert len(bomb) <= MAX
    with abuse.case("json_huge_array", rss_mb=HUGE_RSS_MB, listeners=LISTEN, rules=RULES, extra_global=WORKERS,
                    catch_all=False) as c:
        c.start()
        most = bombs_on_both_workers(c, bomb + b"\n")
        control(c, "huge-array-control")
        c.note(f"2 arrays of {n:,} integers ({len(bomb) / 2**20:.2f} MiB each), "
               f"{most} parsed at the same time")
        # 4 million values: over the JSON size limit, never parsed.
        c.expect_counter("error.json_limit", 2, exact=True)
        c.expect_counter("unmatched", 2, exact=True)


def test_json_huge_array_of_objects(abuse):
    unit = b'{"a":{"b":1}},'
    k = (MAX - len(HDR) - 2) // len(unit)
    bomb = HDR + b"[" + unit * (k - 1) + unit[:-1] + b"]"
    assert len(bomb) <= MAX
    with abuse.case("json_huge_array_of_objects", rss_mb=HUGE_RSS_MB, listeners=LISTEN,
                    rules=RULES, extra_global=WORKERS, catch_all=False) as c:
        c.start()
        most = bombs_on_both_workers(c, bomb + b"\n")
        control(c, "objects-array-control")
        c.note(f"2 arrays of {k:,} objects {{\"a\":{{\"b\":1}}}} ({len(bomb) / 2**20:.2f} MiB "
               f"each), {most} parsed at the same time")
        # 1.8 million values: over the JSON size limit, never parsed (the DOM would be 400 MB).
        c.expect_counter("error.json_limit", 2, exact=True)
        c.expect_counter("unmatched", 2, exact=True)
