"""End to end: many idle connections, connection limits, idle timeout, hostile clients."""
import os
import re
import resource
import socket
import time

from conftest import HOTDOG, consume


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def open_idle(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def test_10000_idle_connections_and_one_active_sender(hotdog):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 30000), hard))
    # 10,000 idle + 1 active is one more than the default max_connections.
    h = hotdog(extra_listen="    max_connections: 20000\n")
    n = min(10000, min(hard, 30000) - 200)
    before = rss_kb(h.proc.pid)
    idle = open_idle(h.port, n)
    try:
        # Every idle connection has said one line, so each has been accepted and read.
        for s in idle:
            s.sendall(b"<13>Oct 11 22:14:15 h app: hello from idle\n")
        deadline = time.monotonic() + 60
        while len(consume(h.topic, n, timeout=1)) < n:
            assert time.monotonic() < deadline, "idle connections' first lines did not all arrive"
        after = rss_kb(h.proc.pid)
        per_conn = (after - before) * 1024 / n
        print(f"\n{n} idle connections: RSS {before} kB -> {after} kB, {per_conn:.0f} bytes each")
        with open(os.environ.get("HOTDOG_MEASURE", "/dev/null"), "a") as f:
            f.write(f"idle_connections={n} rss_before_kb={before} rss_after_kb={after} "
                    f"bytes_per_connection={per_conn:.0f}\n")
        with socket.create_connection(("127.0.0.1", h.port)) as active:
            active.sendall(b"".join(f"<13>Oct 11 22:14:15 h app: active {i}\n".encode()
                                    for i in range(1000)))
        msgs = consume(h.topic, n + 1000)
        active_msgs = sorted(int(m["payload"].split()[1]) for m in msgs if m["payload"].startswith("active"))
        assert active_msgs == list(range(1000))
        # Generous bound: the point is that an idle connection costs no read buffer (64 KiB).
        # ThreadSanitizer's allocator adds its own per-allocation overhead.
        bound = 8192 if os.path.basename(os.path.dirname(os.path.abspath(HOTDOG))) == "tsan" else 4096
        assert per_conn < bound, f"{per_conn:.0f} bytes per idle connection"
    finally:
        for s in idle:
            s.close()
    assert h.stop() == 0


def test_max_connections_closes_the_excess_and_serves_the_rest(hotdog):
    h = hotdog(extra_listen="    max_connections: 3\n")
    keep = open_idle(h.port, 3)
    # Two workers accept from one queue: until each of the three has been read, a fourth
    # connected now could be counted before the third and the third be the one refused.
    for i, s in enumerate(keep):
        s.sendall(f"<13>Oct 11 22:14:15 h app: keep {i}\n".encode())
    assert sorted(m["payload"] for m in consume(h.topic, 3)) == ["keep 0", "keep 1", "keep 2"]
    extra = socket.create_connection(("127.0.0.1", h.port))
    extra.settimeout(10)
    try:
        assert extra.recv(1) == b""  # closed at once
        keep[0].sendall(b"<13>Oct 11 22:14:15 h app: still served\n")
        assert "still served" in [m["payload"] for m in consume(h.topic, 4)]
    finally:
        extra.close()
        for s in keep:
            s.close()
    assert h.stop() == 0
    assert h.counters()["error.max_connections"] == "1"


def test_idle_timeout_closes_silent_connections_and_delivers_their_last_line(hotdog):
    h = hotdog(extra_listen="    idle_timeout_ms: 500\n")
    s = socket.create_connection(("127.0.0.1", h.port))
    s.settimeout(10)
    s.sendall(b"<13>Oct 11 22:14:15 h app: first\nunterminated last")
    t0 = time.monotonic()
    assert s.recv(1) == b""
    assert 0.4 < time.monotonic() - t0 < 5
    s.close()
    assert sorted(m["payload"] for m in consume(h.topic, 2)) == ["first", "unterminated last"]
    assert h.stop() == 0
    assert h.counters()["connections.idle_timeout"] == "1"


def test_half_open_and_slow_clients_do_not_block_others(hotdog):
    import threading
    h = hotdog()
    half = socket.create_connection(("127.0.0.1", h.port))
    half.shutdown(socket.SHUT_WR)  # half-closed at once, never reads
    stalled = socket.create_connection(("127.0.0.1", h.port))
    stalled.sendall(b"<13>Oct 11 22:14:15 h app: never finished")  # and then nothing
    slow_line = b"<13>Oct 11 22:14:15 h app: one byte at a time\n"
    slow = socket.create_connection(("127.0.0.1", h.port))
    slow.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    done = threading.Event()

    def trickle():
        for b in slow_line:
            slow.send(bytes([b]))
            time.sleep(0.1)
        done.set()

    t = threading.Thread(target=trickle)
    t.start()
    with socket.create_connection(("127.0.0.1", h.port)) as good:
        good.sendall(b"<13>Oct 11 22:14:15 h app: good one\n")
    first = consume(h.topic, 1)
    assert not done.is_set()  # served while the slow client was still trickling (~4.6 s)
    assert [m["payload"] for m in first] == ["good one"]
    t.join()
    assert sorted(m["payload"] for m in consume(h.topic, 2)) == ["good one", "one byte at a time"]
    for sock in (half, stalled, slow):
        sock.close()
    assert h.stop() == 0
