"""End to end: big messages are never lost silently. With the default max_message_size (999000),
a line the original hotdog delivers (it forwards whatever it reads, up to what Kafka takes)
arrives whole; a longer one arrives cut to max_message_size, counted and logged with its
sender, and the next frame is intact, over TCP (LF and octet counted) and TLS."""
import re

import clients
import pytest
from conftest import consume
from test_hardening import rss_kb

MAX = 999000  # the default max_message_size
HDR = b"<13>Oct 11 22:14:15 h app: "


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return clients.make_pki(tmp_path_factory.mktemp("pki"))


def payloads(topic, n):
    msgs = consume(topic, n, timeout=90)
    assert len(msgs) == n, f"{len(msgs)} of {n} messages arrived"
    return [m["payload"] for m in msgs]


def test_2mb_line_arrives_truncated_and_the_next_line_intact(hotdog):
    h = hotdog()
    before = rss_kb(h.proc.pid)
    big = HDR + b"B" * (2 << 20)                 # 2 MiB after the header
    near = HDR + b"N" * (MAX - len(HDR))          # exactly max_message_size: whole
    octet = HDR + b"O" * (1_500_000)              # octet counted, over max
    data = (big + b"\n" + HDR + b"after big\n" + near + b"\n" + HDR + b"after near\n" +
            f"{len(octet)} ".encode() + octet + HDR + b"after octet\n")
    clients.tcp_send("127.0.0.1", h.port, data, timeout=60)
    got = payloads(h.topic, 6)
    # Cut at max_message_size of the frame (header included), then parsed as usual.
    assert got[0] == "B" * (MAX - len(HDR))
    assert got[1] == "after big"
    assert got[2] == "N" * (MAX - len(HDR))
    assert got[3] == "after near"
    assert got[4] == "O" * (MAX - len(HDR))
    assert got[5] == "after octet"
    after = rss_kb(h.proc.pid)
    print(f"\nRSS {before} kB -> {after} kB after 2 MiB + 1 MB + 1.5 MB frames")
    assert h.stop() == 0
    c = h.counters()
    assert c["error.truncated"] == "2"
    assert c.get("kafka.failed", "0") == "0" and c.get("error.lost", "0") == "0"
    assert re.search(r"127\.0\.0\.1:\d+: frame longer than max_message_size \(999000 bytes\): "
                     r"delivered truncated", h.output())


def test_big_line_over_tls(hotdog, pki):
    h = hotdog(extra_listen=f"    tls:\n      cert: '{pki.server_cert}'\n      key: '{pki.server_key}'\n")
    with clients.tls_connect("127.0.0.1", h.port, ca=pki.ca) as s:
        s.sendall(HDR + b"T" * 1_200_000 + b"\n" + HDR + b"after tls\n" + HDR + b"W" * 600_000 + b"\n")
        s.unwrap()
    got = payloads(h.topic, 3)
    assert got == ["T" * (MAX - len(HDR)), "after tls", "W" * 600_000]
    assert h.stop() == 0
    assert h.counters()["error.truncated"] == "1"
