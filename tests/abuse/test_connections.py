"""Abuse: connection-level attacks (10,000 slowloris connections, 50,000 connects/closes,
half-open and vanishing clients, a client sending one byte per second), while a good client
streams."""
import socket
import threading
import time

from conftest import SLOW, poll, raise_nofile, rst_close, wait_closed_by_peer

HDR = b"<13>1 2026-11-30T00:00:00Z badhost badapp - - - "


def has_all(prefix, n):
    """Predicate: the bad topic holds prefix-0 .. prefix-(n-1), each as a whole message."""
    def pred(data):
        lines = set(data.split(b"\n"))
        return all(f"{prefix}-{i}".encode() in lines for i in range(n))
    return pred


def test_slowloris_10000_idle_connections(abuse):
    n = 10_000
    limit = raise_nofile()
    assert limit >= n + 500, f"RLIMIT_NOFILE hard limit {limit} is too low for {n} connections"
    with abuse.case("slowloris_10k", rss_mb=64,
                    listeners=[{"max_connections": 20000, "idle_timeout_ms": 4000}]) as c:
        c.start()
        socks = []
        t0 = time.monotonic()
        try:
            for i in range(n):
                s = socket.socket()
                s.connect(("127.0.0.1", c.port))
                # Slowloris: start a line and never finish it.
                s.send(HDR + f"slowloris-{i}".encode())
                socks.append(s)
            opened = time.monotonic() - t0
            peak = poll(lambda: (lambda v: v if v >= n else None)(c.d.stats()["connections"]),
                        30 * SLOW, interval=0.1, what=f"{n} open connections in /stats")
            c.note(f"{n} connections opened in {opened:.1f} s, each with an unfinished line; "
                   f"/stats connections={peak}; RSS then {c.d.read_rss() / 1024:.0f} MB")
            # The idle timeout closes all of them; their unfinished lines are delivered.
            c.wait_counter("connections.idle_timeout", n, timeout=60)
            c.note(f"all {n} closed by idle_timeout_ms after {time.monotonic() - t0:.1f} s")
        finally:
            for s in socks:
                s.close()
        c.expect_counter("connections.idle_timeout", n, exact=True)
        c.expect_bad(f"the {n} unfinished lines, delivered at the idle timeout",
                     has_all("slowloris", n))


def test_connection_churn_50000(abuse):
    total, nthreads = 50_000, 4
    raise_nofile()
    with abuse.case("churn_50k", rss_mb=48) as c:
        c.start()
        errors = []
        done = [0] * nthreads

        def churn(k):
            try:
                for i in range(total // nthreads):
                    s = socket.socket()
                    s.connect(("127.0.0.1", c.port))
                    if i % 2:
                        rst_close(s)   # vanish with a RST
                    else:
                        s.close()      # orderly FIN
                    done[k] += 1
            except OSError as e:
                errors.append(f"thread {k} after {done[k]}: {e}")

        t0 = time.monotonic()
        ts = [threading.Thread(target=churn, args=(k,)) for k in range(nthreads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        dt = time.monotonic() - t0
        c.note(f"{sum(done)} connects+closes (half FIN, half RST) from {nthreads} threads in "
               f"{dt:.1f} s ({sum(done) / dt:.0f}/s)")
        assert not errors, f"client-side errors: {errors}"
        # Accepted and closed: every one of them, and none left open (only the good client).
        c.wait_counter("connections.accepted", total + 1, timeout=60)
        c.wait_counter("connections.closed", total, timeout=60)
        left = poll(lambda: (lambda v: v if v == 1 else None)(c.d.stats()["connections"]),
                    30 * SLOW, interval=0.1, what="connections gauge back to 1 (the good client)")
        c.note(f"connections gauge after the churn: {left}")
        c.expect_counter("connections.accepted", total + 1, exact=True)
        c.expect_counter("connections.closed", total)   # + the good client's, if closed by then
        c.expect_counter("error.read", total // 2, exact=True)  # the RSTs


def test_half_open_and_vanishing_clients(abuse):
    n = 100
    with abuse.case("half_open", rss_mb=48, listeners=[{"idle_timeout_ms": 2000}]) as c:
        c.start()
        keep = []
        try:
            for i in range(n):
                # Half a line, then shutdown(SHUT_WR): FIN, but never reads nor closes.
                s = socket.create_connection(("127.0.0.1", c.port))
                s.sendall(HDR + f"half-shut-{i}".encode())
                s.shutdown(socket.SHUT_WR)
                keep.append(s)
                # Half a line, then silence forever (a peer that vanished without a FIN).
                s = socket.create_connection(("127.0.0.1", c.port))
                s.sendall(HDR + f"half-vanish-{i}".encode())
                keep.append(s)
                # Half a line, then a RST.
                s = socket.create_connection(("127.0.0.1", c.port))
                s.sendall(HDR + f"half-rst-{i}".encode())
                rst_close(s)
            c.wait_counter("connections.idle_timeout", n, timeout=30)
            closed = sum(wait_closed_by_peer(s, 5 * SLOW) for s in keep)
            c.note(f"{n} half-closed, {n} vanished, {n} reset after half a line; "
                   f"{closed}/{2 * n} of the kept sockets closed by the daemon")
            assert closed == 2 * n, f"the daemon kept {2 * n - closed} half-open sockets open"
        finally:
            for s in keep:
                s.close()
        c.expect_counter("connections.idle_timeout", n, exact=True)
        c.expect_counter("connections.closed", 3 * n)
        c.expect_counter("error.read", n, exact=True)  # the RSTs
        c.expect_bad("the half lines of the half-closed clients (delivered at EOF)",
                     has_all("half-shut", n))
        c.expect_bad("the half lines of the vanished clients (delivered at the idle timeout)",
                     has_all("half-vanish", n))
        c.expect_bad("the half lines of the reset clients (what arrived before the RST)",
                     has_all("half-rst", n))


def test_one_byte_per_second(abuse):
    with abuse.case("one_byte_per_second", rss_mb=48, listeners=[{"idle_timeout_ms": 3000}]) as c:
        c.start()
        line = b"<13>trickle\n"          # 12 bytes, one per second (~11 s)
        slow = socket.create_connection(("127.0.0.1", c.port))
        slow.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A second client, slower than the idle timeout: one byte, then 4 s of silence.
        slower = socket.create_connection(("127.0.0.1", c.port))
        slower.sendall(b"<")
        t0 = time.monotonic()
        good_at_start = c.good.sent
        for i, b in enumerate(line):
            slow.send(bytes([b]))
            # Paced against the start time, so that the rate does not drift.
            time.sleep(max(0.0, t0 + (i + 1) * 1.0 - time.monotonic()) if i < len(line) - 1 else 0)
        dt = time.monotonic() - t0
        still_open = not wait_closed_by_peer(slow, 0.2)
        c.note(f"sent {len(line)} bytes at 1 byte/s over {dt:.1f} s while the good client sent "
               f"{c.good.sent - good_at_start} lines; the slow connection stayed open: {still_open}")
        assert still_open, "the daemon closed a client that sends one byte per second (idle 3 s)"
        assert wait_closed_by_peer(slower, 10 * SLOW), "a client silent for 4 s was not closed"
        slow.close()
        slower.close()
        c.expect_counter("connections.idle_timeout", 1, exact=True)
        c.expect_counter("received", c.good.sent + 1)
        # No timestamp: the original would have rejected it; we forward the whole line.
        c.expect_bad("the trickled line", lambda d: b"\n<13>trickle\n" in b"\n" + d)
