"""The status server under hundreds of stalled clients: /healthz, /metrics and statsd stay on time,
the stalled clients are closed at their deadlines (or evicted at the connection cap) and counted."""
import json
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import Statsd, free_port
from test_observability import get, status_cfg

# The numbers in src/status.c.
READ_DEADLINE = 2.0    # STATUS_READ_TIMEOUT_MS: the whole request head, from accept
WRITE_DEADLINE = 10.0  # STATUS_WRITE_TIMEOUT_MS: the whole response, from the request's end
CAP = 256              # STATUS_MAX_CONNECTIONS

# The target is 100 ms; on a noisy 2-core machine the test asserts 1 s and prints the figures.
PROBE_LIMIT = 1.0


class TimedStatsd(Statsd):
    """conftest.Statsd that also keeps each packet's arrival time."""

    def __init__(self):
        self.times = []
        super().__init__()

    def receive(self):
        while not self.stop.is_set():
            try:
                p = self.sock.recv(65536).decode()
            except socket.timeout:
                continue
            self.times.append(time.monotonic())
            self.packets.append(p)


def flush_gaps(times, start, end):
    """Gaps between statsd flushes (packets less than 50 ms apart are one flush) within [start, end]."""
    flushes = []
    for t in times:
        if not flushes or t - flushes[-1][-1] > 0.05:
            flushes.append([t])
        else:
            flushes[-1].append(t)
    starts = [start] + [f[0] for f in flushes if start <= f[0] <= end] + [end]
    return [b - a for a, b in zip(starts, starts[1:])]


def timed(port, path):
    t0 = time.monotonic()
    try:
        code = get(port, path, timeout=5)[0]
    except OSError as e:  # refused, reset or timed out: the probe failed
        code = repr(e)
    return time.monotonic() - t0, code


def counters(port):
    return json.loads(get(port, "/stats")[2])["stats"]


# 4,000 rules make /metrics about 170 KB: more than the kernel takes on behalf of a client with a
# small window and segment size (loopback's 64 KB segments would otherwise let it take megabytes).
RULES = "rules:\n" + "".join(f"  - regex: '^r{i} '\n    actions: [{{type: forward}}]\n" for i in range(4000))


def connect(port, send=b"", small_window=False):
    s = socket.socket()
    if small_window:  # so that most of a large response stays in hotdog's hands until read
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    if send:
        s.sendall(send)
    return s


def closed_by_server(s, timeout):
    """Reads whatever s has until the server closes it; returns (closed, bytes read)."""
    s.settimeout(timeout)
    got = 0
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True, got
            got += len(b)
    except ConnectionResetError:
        return True, got
    except socket.timeout:
        return False, got


def test_healthz_metrics_and_statsd_stay_on_time_with_500_stalled_clients(hotdog):
    rx = TimedStatsd()
    sport = free_port()
    clients = []
    try:
        hotdog(extra_global=status_cfg(sport, rx.port), rules=RULES)
        full_page = len(get(sport, "/metrics")[2].encode())
        before = counters(sport)
        start = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=50)
        # 250 that send nothing and 250 that send half a request, then 50 that ask for /metrics
        # and never read it.
        stalled = [pool.submit(connect, sport, b"" if i % 2 else b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                   for i in range(500)]
        readers = [f.result(timeout=60) for f in stalled]
        clients += readers
        never = [f.result(timeout=60) for f in
                 [pool.submit(connect, sport, b"GET /metrics HTTP/1.1\r\n\r\n", True) for _ in range(50)]]
        clients += never
        pool.shutdown()
        connected = time.monotonic()

        # While the cap is full of stalled clients: a probe every 50 ms, /metrics now and then.
        health, metrics = [], []
        while time.monotonic() < connected + 1.5:
            health.append(timed(sport, "/healthz"))
            if len(health) % 5 == 0:
                metrics.append(timed(sport, "/metrics"))
            time.sleep(0.05)
        end = time.monotonic()
        lat = sorted(t for t, _ in health)
        print(f"\n/healthz under {len(clients)} stalled clients: n={len(lat)} "
              f"median={statistics.median(lat) * 1000:.1f} ms max={lat[-1] * 1000:.1f} ms; "
              f"/metrics max={max(t for t, _ in metrics) * 1000:.1f} ms; connecting took "
              f"{(connected - start) * 1000:.0f} ms")
        assert all(code == 200 for _, code in health + metrics), health + metrics
        assert lat[-1] < PROBE_LIMIT, lat
        assert max(t for t, _ in metrics) < PROBE_LIMIT, metrics
        gaps = flush_gaps(rx.times, start, end)
        print(f"statsd (every 200 ms): largest gap between flushes {max(gaps) * 1000:.0f} ms")
        assert max(gaps) < 1.0, gaps

        # Every stalled client is closed by the server: the oldest readers at once to make room,
        # the rest at the read deadline; those that never read at the write deadline, their page
        # cut short.
        t0 = time.monotonic()
        for s in readers:
            assert closed_by_server(s, READ_DEADLINE + 5)[0], "a stalled reader was never closed"
        readers_closed = time.monotonic() - t0
        # Reading would let the server go on writing: wait for the deadline to pass first.
        while counters(sport)["status.write_timeouts"] - before["status.write_timeouts"] < 50:
            assert time.monotonic() < connected + WRITE_DEADLINE + 5, counters(sport)
            time.sleep(0.2)
        for s in never:
            closed, got = closed_by_server(s, 5)
            assert closed and got < full_page, (closed, got, full_page)
        print(f"stalled readers all closed {readers_closed:.1f} s after the probes; "
              f"non-reading clients {time.monotonic() - connected:.1f} s after connecting")
        after = counters(sport)
        delta = {k: after[k] - before[k] for k in
                 ("status.connections_evicted", "status.read_timeouts", "status.write_timeouts")}
        print(delta)
        assert delta["status.connections_evicted"] + delta["status.read_timeouts"] == 500, delta
        assert delta["status.connections_evicted"] >= 500 + 50 - CAP, delta
        assert delta["status.write_timeouts"] == 50, delta
        assert get(sport, "/healthz")[:1] == (200,)
        gaps = flush_gaps(rx.times, start, time.monotonic())
        assert max(gaps) < 1.0, gaps
    finally:
        for s in clients:
            s.close()
        rx.close()


def test_a_trickling_request_is_cut_at_the_read_deadline(hotdog):
    # A deadline for the whole request, not an idle timer: one byte every 200 ms never finishes.
    sport = free_port()
    hotdog(extra_global=status_cfg(sport))
    before = counters(sport).get("status.read_timeouts", 0)
    s = connect(sport)
    t0 = time.monotonic()
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n"
    try:
        for b in req:
            s.send(bytes([b]))
            time.sleep(0.2)
            if time.monotonic() - t0 > READ_DEADLINE + 1:
                break
        closed, got = closed_by_server(s, 1.0)
    except (BrokenPipeError, ConnectionResetError):
        closed, got = True, 0
    finally:
        s.close()
    waited = time.monotonic() - t0
    assert closed and got == 0 and waited < READ_DEADLINE + 2, (closed, got, waited)
    assert counters(sport)["status.read_timeouts"] == before + 1


def test_a_slow_reader_gets_the_whole_response(hotdog):
    # Partial writes resume when the client makes room: /metrics arrives whole.
    sport = free_port()
    hotdog(extra_global=status_cfg(sport), rules=RULES)
    s = connect(sport, b"GET /metrics HTTP/1.0\r\n\r\n", small_window=True)
    data = b""
    try:
        time.sleep(0.3)
        while True:
            b = s.recv(1024)
            if not b:
                break
            data += b
            time.sleep(0.005)
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and len(body) > 150000
    assert b"Content-Length: %d\r\n" % len(body) in head
    assert b'\nhotdog_rule_matched_total{rule="3999"} 0\n' in body and body.endswith(b"\n")


def test_methods_bad_requests_and_head(hotdog):
    sport = free_port()
    hotdog(extra_global=status_cfg(sport))

    def ask(req):
        with connect(sport, req) as s:
            s.settimeout(5)
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return out
                out += b

    assert ask(b"GET /healthz HTTP/1.1\r\n\r\n").endswith(b"\r\n\r\nok\n")
    assert ask(b"GET /healthz?x=1 HTTP/1.0\n\n").startswith(b"HTTP/1.1 200 OK\r\n")
    head = ask(b"HEAD /healthz HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n") and b"Content-Length: 3" in head
    assert ask(b"POST /healthz HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert ask(b"GET\r\n\r\n").startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert ask(b"GET /nope HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 Not Found\r\n")
    # Ended by the client's half-close instead of a blank line, as the old server accepted.
    with connect(sport, b"GET /healthz HTTP/1.0\r\n") as s:
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
    # A request head over 8 KB is answered from its first line, as before.
    big = b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    with connect(sport) as s:
        s.sendall(big[:8192])
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
    # A client that connects and closes (a TCP check) costs nothing and breaks nothing.
    for _ in range(20):
        connect(sport).close()
    assert get(sport, "/healthz")[:1] == (200,)
