"""End to end over UDP (RFC 5426): real senders, and loss that is counted, never silent."""
import re
import signal
import socket
import subprocess
import time

from conftest import ROOT, consume, unique_topic

UDP = "    protocol: udp\n"


def test_logger_udp(hotdog):
    h = hotdog(extra_listen=UDP)
    tag = unique_topic("u")
    for rfc in ("--rfc5424", "--rfc3164"):
        subprocess.run(["logger", "--udp", "-n", "127.0.0.1", "-P", str(h.port), rfc, "-t", "app",
                        f"udp {rfc} {tag}"], check=True, timeout=10)
    msgs = consume(h.topic, 2)
    assert sorted(m["payload"] for m in msgs) == sorted([f"udp --rfc5424 {tag}", f"udp --rfc3164 {tag}"])


def test_loggen_dgram(hotdog):
    h = hotdog(extra_listen=UDP)
    r = subprocess.run([str(ROOT / "scripts" / "loggen"), "--dgram", "--syslog-proto", "--rate", "5000",
                        "--number", "1000", "127.0.0.1", str(h.port)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    msgs = consume(h.topic, 1000)
    seqs = {int(re.search(r"seq: (\d+)", m["payload"]).group(1)) for m in msgs}
    assert len(msgs) == 1000 and len(seqs) == 1000


def test_datagram_framing_and_oversize(hotdog):
    h = hotdog(extra_listen=UDP + "    max_message_size: 100\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"<13>Oct 11 22:14:15 h app: one datagram\nis one message\n", ("127.0.0.1", h.port))
        s.sendto(b"<13>Oct 11 22:14:15 h app: " + b"x" * 200, ("127.0.0.1", h.port))
        s.sendto(b"<13>Oct 11 22:14:15 h app: after\x00", ("127.0.0.1", h.port))
    msgs = consume(h.topic, 3)
    # The long datagram arrives cut to max_message_size (100 bytes), its header parsed.
    assert sorted(m["payload"] for m in msgs) == sorted(
        ["after", "one datagram\nis one message", "x" * (100 - len("<13>Oct 11 22:14:15 h app: "))])
    assert h.stop() == 0
    assert h.counters()["error.truncated"] == "1"


def test_kernel_drops_are_counted_exactly(hotdog):
    # A tiny receive buffer and a frozen daemon: the kernel must drop, and hotdog must account
    # for every datagram, delivered or dropped.
    h = hotdog(extra_listen=UDP + "    recv_buffer: 4096\n")
    n = 2000
    h.proc.send_signal(signal.SIGSTOP)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(n):
                s.sendto(f"<13>Oct 11 22:14:15 h app: d{i}".encode(), ("127.0.0.1", h.port))
    finally:
        h.proc.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # This one is queued after the drops, so it carries their final count.
        s.sendto(b"<13>Oct 11 22:14:15 h app: marker", ("127.0.0.1", h.port))
    deadline = time.monotonic() + 30
    while not any(m["payload"] == "marker" for m in consume(h.topic, 1, timeout=1)):
        assert time.monotonic() < deadline
    assert h.stop() == 0
    c = h.counters()
    dropped, received = int(c.get("error.udp_kernel_drops", 0)), int(c["udp.datagrams"])
    assert dropped > 0
    assert received + dropped == n + 1
    assert int(c["lines"]) == received
