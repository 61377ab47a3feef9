"""The buffer budget (global.max_buffered_bytes): what all connections hold for unfinished
frames has a bound. Past it, the largest unfinished frame is delivered cut (error.buffer_budget)
and the rest of it discarded, so the stream stays in sync; the memory comes back when
connections close. Issue 14: 3,000 connections each holding an unfinished 60 KB line took RSS
from 12 MB to 200 MB, still 122 MB after they closed."""
import json
import os
import re
import resource
import socket
import time
import urllib.request

from conftest import HOTDOG, consume, free_port

# Under ASan or TSan the RSS says more about the sanitizer (shadow memory, quarantine of freed
# blocks) than about hotdog: there the buffer figures are checked, not the RSS.
SANITIZED = os.path.basename(os.path.dirname(os.path.abspath(HOTDOG))) in ("asan", "tsan")


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.loads(r.read())["stats"]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def status_global(port):
    return f"  status:\n    address: 127.0.0.1\n    port: {port}\n"


def open_partial(port, n, size):
    """n connections, each sending an unfinished line of `size` bytes: 'conn=I ' then x's."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        head = f"<13>Oct 11 22:14:15 h app: conn={i:05d} ".encode()
        s.sendall(head + b"x" * (size - len(head)))
        socks.append(s)
    return socks


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


def test_over_the_budget_the_largest_unfinished_lines_are_cut_and_streams_stay_in_sync(hotdog):
    n, size, budget = 300, 60_000, 8 << 20  # 300 x 64 KB buffers: 19.7 MB, over 8 MiB
    sport = free_port()
    h = hotdog(extra_global=f"  max_buffered_bytes: {budget}\n" + status_global(sport))
    socks = open_partial(h.port, n, size)
    s = wait(lambda: (st := stats(sport))["received"] >= 1 and st, 30, "cut lines delivered")
    # Every connection's line has been read: each is either held (counted in buffered_bytes)
    # or was cut. Held stays within the budget plus one buffer per worker crossing it.
    s = wait(lambda: (st := stats(sport))["buffered_bytes"] + st["error.buffer_budget"] * 65536
             >= n * 65536 and st, 30, "every line read")
    cut = s["error.buffer_budget"]
    assert cut >= (n * 65536 - budget) // 65536, s
    assert s["buffered_bytes"] <= budget + 2 * 65536, s
    assert s["received"] == cut
    # Each connection finishes its line and sends a complete one after it.
    for i, sock in enumerate(socks):
        sock.sendall(b"yy\n" + f"<13>Oct 11 22:14:16 h app: conn={i:05d} done\n".encode())
    for sock in socks:
        sock.close()
    msgs = consume(h.topic, 2 * n)
    payloads = [m["payload"] for m in msgs]
    assert len(payloads) == 2 * n, len(payloads)
    done = sorted(int(m.group(1)) for p in payloads if (m := re.search(r"conn=(\d+) done$", p)))
    assert done == list(range(n)), "every connection's next line arrived intact"
    long_lines = [p for p in payloads if not p.endswith(" done")]
    # Cut lines end where they were cut (no 'yy'); the others arrived whole.
    whole = [p for p in long_lines if p.endswith("yy")]
    assert len(whole) == n - cut
    assert len(long_lines) - len(whole) == cut
    wait(lambda: stats(sport)["buffered_bytes"] == 0, 30, "buffers given back")


def test_rss_stays_within_the_budget_and_falls_back_when_connections_close(hotdog):
    n, size, budget = 3000, 60_000, 64 << 20  # the figures, the default budget
    raise_nofile(n + 512)
    sport = free_port()
    h = hotdog(extra_global=status_global(sport))
    pid = h.proc.pid
    time.sleep(1)
    base = rss_kb(pid)
    socks = open_partial(h.port, n, size)
    s = wait(lambda: (st := stats(sport))["buffered_bytes"] + st["error.buffer_budget"] * 65536
             >= n * 65536 and st, 60, "every line read")
    wait(lambda: stats(sport)["kafka.outq"] == 0, 60, "cut lines delivered")
    held = rss_kb(pid)
    for sock in socks:
        sock.close()
    wait(lambda: stats(sport)["connections"] == 0, 60, "connections closed")
    after = rss_kb(pid)
    print(f"RSS: {base} kB at rest, {held} kB holding {n} x {size} B unfinished lines "
          f"({s['buffered_bytes']} B buffered, {s['error.buffer_budget']} cut), {after} kB after they closed")
    assert s["buffered_bytes"] <= budget + 2 * 65536
    assert stats(sport)["buffered_bytes"] == 0
    if SANITIZED:
        return
    # The buffers are within the budget; the rest is the connections themselves and what the
    # ~2,000 cut lines (60 KB each, 118 MB in all) left in the worker's malloc arena: librdkafka
    # copies each line there and frees it after delivery, and glibc keeps the arena's freed
    # middle. That part varies with how many were in flight at once: 80-102 MB held over the
    # base here, 103 MB once on a CI machine (which failed a budget + 32 MiB bound). Without the
    # budget the same run holds ~200 MB over the base (the figure), far above this bound.
    assert held - base <= (budget >> 10) + 64 * 1024, (base, held)
    assert after - base <= 32 * 1024, (base, held, after)
