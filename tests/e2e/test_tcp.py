"""End to end over TCP: real clients -> hotdog -> real Kafka broker -> kcat."""
import collections
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import BOOTSTRAP, HOTDOG, ROOT, Hotdog, config, consume, free_port, unique_topic


def line_for(kind, c, i):
    """One syslog line of the given kind and the payload hotdog must produce for it."""
    body = f"{kind} c{c} m{i}"
    if kind == "5424":
        return (f'<165>1 2003-10-11T22:14:15.003Z host{c} app{c} {i} ID47 '
                f'[ex@32473 iut="3" seq="{i}" esc="a\\"b\\]c"] {body}\n').encode(), body
    if kind == "bom":
        # The original keeps a BOM in msg (measured): so do we.
        return (f"<14>1 2003-10-11T22:14:15Z h a - - - \ufeff{body}\r\n").encode(), "\ufeff" + body
    if kind == "3164":
        return f"<13>Oct 11 22:14:15 myhost app[123]: {body}\n".encode(), body
    if kind == "octet":
        frame = f"<14>1 2003-10-11T22:14:15Z h a - - - {body}".encode()
        return str(len(frame)).encode() + b" " + frame, body
    # Neither RFC 5424 nor RFC 3164: forwarded whole and counted as a parse error.
    return f"garbage, not syslog: {body}\n".encode(), f"garbage, not syslog: {body}"


KINDS = ["5424", "3164", "octet", "garbage", "bom"]


def test_10000_mixed_messages_over_4_connections_arrive_exactly_once(hotdog):
    h = hotdog()
    expected = collections.Counter()
    streams = []
    for c in range(4):
        data = bytearray()
        for i in range(2500):
            raw, payload = line_for(KINDS[(i + c) % len(KINDS)], c, i)
            data += raw
            expected[payload] += 1
        streams.append(bytes(data))

    def send(data):
        with socket.create_connection(("127.0.0.1", h.port)) as s:
            # Odd-sized writes, so frames straddle reads.
            for off in range(0, len(data), 7919):
                s.sendall(data[off:off + 7919])

    threads = [threading.Thread(target=send, args=(d,)) for d in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    msgs = consume(h.topic, 10000)
    got = collections.Counter(m["payload"] for m in msgs)
    assert sum(got.values()) == 10000, f"got {sum(got.values())} messages"
    assert got == expected
    assert all(m["key"] is None for m in msgs)
    assert h.stop() == 0
    counters = h.counters()
    assert counters["received"] == "10000"
    assert counters["lines"] == "8000"  # as the original counts: lines that parsed
    assert counters["kafka.delivered"] == "10000"
    assert counters["error.log_parse"] == "2000"  # the "garbage" fifth


def test_logger_tcp_lf_and_octet_counting(hotdog):
    h = hotdog()
    tag = unique_topic("tag")
    cmds = [
        ["logger", "--tcp", "-n", "127.0.0.1", "-P", str(h.port), "--rfc5424", "-t", "app",
         f"hello 5424 {tag}"],
        ["logger", "--tcp", "-n", "127.0.0.1", "-P", str(h.port), "--rfc3164", "-t", "app",
         f"hello 3164 {tag}"],
        ["logger", "--tcp", "-n", "127.0.0.1", "-P", str(h.port), "--octet-count", "--rfc5424",
         "-t", "app", f"hello octet {tag}"],
    ]
    for cmd in cmds:
        subprocess.run(cmd, check=True, timeout=10)
    msgs = consume(h.topic, 3)
    assert sorted(m["payload"] for m in msgs) == sorted(
        [f"hello 5424 {tag}", f"hello 3164 {tag}", f"hello octet {tag}"])


def test_loggen_as_a_real_client(hotdog):
    h = hotdog()
    loggen = ROOT / "scripts" / "loggen"
    r = subprocess.run([str(loggen), "--stream", "--syslog-proto", "--rate", "5000",
                        "--number", "2000", "--interval", "10", "127.0.0.1", str(h.port)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    msgs = consume(h.topic, 2000)
    seqs = sorted(int(re.search(r"seq: (\d+)", m["payload"]).group(1)) for m in msgs)
    assert len(seqs) == 2000
    assert len(set(seqs)) == 2000  # no duplicates


def test_sigterm_mid_stream_loses_nothing_that_was_read(hotdog):
    h = hotdog()
    stop_sending = threading.Event()
    sent = [0, 0]

    def send(c):
        try:
            with socket.create_connection(("127.0.0.1", h.port)) as s:
                i = 0
                while not stop_sending.is_set():
                    batch = b"".join(f"<13>Oct 11 22:14:15 h app: c{c} seq={i + k}\n".encode()
                                     for k in range(100))
                    s.sendall(batch)
                    i += 100
                    sent[c] = i
        except OSError:
            pass  # hotdog closed the connection on shutdown

    threads = [threading.Thread(target=send, args=(c,)) for c in range(2)]
    for t in threads:
        t.start()
    while min(sent) < 20000:
        time.sleep(0.01)
    rc = h.stop(signal.SIGTERM)
    stop_sending.set()
    for t in threads:
        t.join()
    assert rc == 0, h.output()
    received = int(h.counters()["lines"])
    assert received > 0
    assert re.search(rf"shutdown: {received} message\(s\) received, {received} delivered, 0 failed, "
                     r"0 dead-lettered, 0 purged into the spool, 0 undelivered after \d+ ms, 0 lost",
                     h.output()), h.output()
    msgs = consume(h.topic, received, timeout=30)
    assert len(msgs) == received
    # Per connection, what landed is exactly a prefix of what was sent: no gap, no duplicate.
    per_conn = collections.defaultdict(list)
    for m in msgs:
        c, seq = re.fullmatch(r"c(\d) seq=(\d+)", m["payload"]).groups()
        per_conn[c].append(int(seq))
    for c, seqs in per_conn.items():
        assert seqs == list(range(len(seqs))), f"connection {c} has gaps or reordering"


def test_long_frames_are_truncated_and_bad_octet_count(hotdog):
    h = hotdog(extra_listen="    max_message_size: 100\n")
    with socket.create_connection(("127.0.0.1", h.port)) as good:
        good.sendall(b"<13>Oct 11 22:14:15 h app: before\n" + b"x" * 5000 + b"\n" +
                     b"<13>Oct 11 22:14:15 h app: after\n" + b"300 <" + b"y" * 299 +
                     b"<13>Oct 11 22:14:15 h app: after octet\n" +
                     b"5 apples and pears\n")  # a line, not an octet count (no PRI after it)
        with socket.create_connection(("127.0.0.1", h.port)) as bad:
            bad.sendall(b"<13>Oct 11 22:14:15 h app: last good\n12345678901 <13>oops\n")
            bad.settimeout(10)
            assert bad.recv(1) == b""  # hotdog closed this connection, and only this one
        good.sendall(b"<13>Oct 11 22:14:15 h app: still alive\n")
        msgs = consume(h.topic, 8)
    # Each long frame arrives cut to max_message_size, and the next frame is intact.
    assert sorted(m["payload"] for m in msgs) == sorted(
        ["before", "x" * 100, "after", "<" + "y" * 99, "after octet", "5 apples and pears",
         "last good", "still alive"])
    assert h.stop() == 0
    c = h.counters()
    assert c["error.truncated"] == "2"
    assert c["error.bad_octet_count"] == "1"
    assert "frame longer than max_message_size (100 bytes): delivered truncated" in h.output()


def test_backpressure_when_the_producer_queue_is_full_drops_nothing(hotdog):
    # A 50-message producer queue fills at once: reading must pause, and nothing be lost.
    h = hotdog(extra_kafka="    buffer: 50\n")
    n = 20000
    data = b"".join(f"<13>Oct 11 22:14:15 h app: bp {i}\n".encode() for i in range(n))
    with socket.create_connection(("127.0.0.1", h.port)) as s:
        s.sendall(data)
    msgs = consume(h.topic, n)
    assert sorted(int(m["payload"].split()[1]) for m in msgs) == list(range(n))
    assert h.stop() == 0
    assert int(h.counters()["error.full_internal_queue"]) > 0


def test_ipv6_listener(kafka, tmp_path):
    port = free_port()
    topic = unique_topic()
    h = Hotdog(tmp_path, config(port, topic).replace("'127.0.0.1'\n    port", "'::1'\n    port"))
    h.start()
    try:
        with socket.create_connection(("::1", port)) as s:
            s.sendall(b"<13>Oct 11 22:14:15 h app: over ipv6\n")
        assert [m["payload"] for m in consume(topic, 1)] == ["over ipv6"]
    finally:
        assert h.stop() == 0


def test_broker_unreachable_at_startup_is_a_clear_error(tmp_path):
    port = free_port()
    cfg = config(port, "t").replace(BOOTSTRAP, "127.0.0.1:1").replace("timeout_ms: 20000",
                                                                       "timeout_ms: 2000")
    p = tmp_path / "down.yml"
    p.write_text(cfg)
    t0 = time.monotonic()
    r = subprocess.run([HOTDOG, "-c", str(p)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert time.monotonic() - t0 < 20
    assert "no Kafka broker answered within 2000 ms" in r.stderr, r.stderr


def test_check_mode(tmp_path):
    good = tmp_path / "good.yml"
    good.write_text(config(1514, "t"))
    r = subprocess.run([HOTDOG, "--check", "-c", str(good)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(config(1514, "t") + "rules:\n  - regex: '(unclosed'\n    actions:\n"
                   "      - type: forward\n")
    r = subprocess.run([HOTDOG, "--check", "-c", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{bad}:11: 'rules[0].regex': missing closing parenthesis" in r.stderr, r.stderr
    r = subprocess.run([HOTDOG, "-V"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("hotdog ")
    r = subprocess.run([HOTDOG, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "global.kafka.timeout_ms" in r.stdout


def deny_write_execute():
    """preexec_fn: the child may not map memory both writable and executable, as under
    systemd's MemoryDenyWriteExecute= (prctl PR_SET_MDWE, Linux 6.3+; kept across exec)."""
    import ctypes
    if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_MDWE_REFUSE_EXEC_GAIN
        os._exit(99)


def test_regex_without_jit_is_warned_once_with_file_and_line(tmp_path):
    cfg = tmp_path / "nojit.yml"
    cfg.write_text(config(1514, "t") + "rules:\n  - jmespath: 'a'\n    actions: [{type: stop}]\n"
                   "  - regex: 'a+b'\n    actions: [{type: forward}]\n"
                   "  - regex: 'c'\n    actions: [{type: forward}]\n")
    r = subprocess.run([HOTDOG, "--check", "-c", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0 and "JIT" not in r.stderr, r.stderr
    r = subprocess.run([HOTDOG, "--check", "-c", str(cfg)], capture_output=True, text=True,
                       preexec_fn=deny_write_execute)
    if r.returncode == 99:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert r.returncode == 0, r.stderr  # still valid: the interpreter matches
    assert r.stderr.count("JIT") == 1, r.stderr
    assert (f"{cfg}:13: 'rules[1].regex': 2 regex rule(s) run without PCRE2's JIT (no more "
            "memory)") in r.stderr, r.stderr
    # And it still matches what the JIT would: test mode over the same rules, JIT denied.
    # (Test mode runs the rules on the raw line, as the original's does.)
    r = subprocess.run([HOTDOG, "-c", str(cfg), "--test", "-"], input="xaab\n",
                       capture_output=True, text=True, preexec_fn=deny_write_execute)
    assert r.returncode == 0 and r.stdout == "Line 1 matches on:\n\t - Regex: a+b\n", (r.stdout, r.stderr)


def test_unreadable_tls_certificate_stops_start_up_with_path_and_reason(tmp_path):
    cfg = tmp_path / "tls.yml"
    cfg.write_text(config(free_port(), "t").replace(
        "    port:", "    tls:\n      cert: /nonexistent/c.pem\n      key: k.pem\n    port:"))
    for args in (["-c", str(cfg)], ["--check", "-c", str(cfg)]):
        r = subprocess.run([HOTDOG, *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2
        assert (f"{cfg}:4: 'global.listen': TLS certificate '/nonexistent/c.pem': "
                "No such file or directory") in r.stderr, r.stderr


def test_delivery_failure_is_counted_by_error_name_and_fails_the_exit_status(hotdog):
    h = hotdog(topic="not a valid topic!")
    with socket.create_connection(("127.0.0.1", h.port)) as s:
        s.sendall(b"<13>Oct 11 22:14:15 h app: doomed\n")
    h.wait_log("cannot queue a message", "delivery to topic")
    assert h.stop() == 1
    assert re.search(r"shutdown: 1 message\(s\) received, 0 delivered, 1 failed, 0 dead-lettered, "
                     r"0 purged into the spool, 0 undelivered after \d+ ms, 1 lost", h.output()), h.output()
    c = h.counters()
    # Refused before the broker, under the original's name for what a broker answers.
    assert c.get("kafka.producer.error.invalidtopic") == "1", c
    assert c.get("kafka.producer.error") == "1", c
    assert c.get("error.lost") == "1", c  # no dead-letter file: the message is counted as lost
