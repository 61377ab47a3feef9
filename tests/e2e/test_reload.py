"""End to end: SIGHUP reloads the rules under a running stream without closing or losing."""
import collections
import re
import signal
import socket
import threading
import time

from conftest import consume, unique_topic


def rules_to(topic):
    return f"""rules:
  - regex: '^seq=(?P<n>\\d+)'
    actions:
      - type: forward
        topic: '{topic}'
"""


def start_stream(port, batch):
    """One connection sending `seq=N` lines, batch at a time, until stop is set. sent[0] is
    how many were sent so far."""
    sent = [0]
    stop = threading.Event()

    def stream():
        with socket.create_connection(("127.0.0.1", port)) as s:
            i = 0
            while not stop.is_set():
                s.sendall(b"".join(f"<13>Oct 11 22:14:15 h app: seq={i + k}\n".encode()
                                   for k in range(batch)))
                i += batch
                sent[0] = i
                time.sleep(0.002)

    t = threading.Thread(target=stream)
    t.start()
    return sent, stop, t


def test_sighup_under_a_running_stream_switches_rules_and_loses_nothing(hotdog):
    t1, t2 = unique_topic("old"), unique_topic("new")
    h = hotdog(rules=rules_to(t1))
    marks = {}
    sent, stop, t = start_stream(h.port, 50)
    try:
        while sent[0] < 5000:
            time.sleep(0.01)
        h.cfg.write_text(h.cfg.read_text().replace(t1, t2))
        h.proc.send_signal(signal.SIGHUP)
        h.wait_log("configuration reloaded")
        marks["after_ack"] = sent[0]  # everything sent from here on is read by the new rules
        while sent[0] < marks["after_ack"] + 5000:
            time.sleep(0.01)
    finally:
        stop.set()
        t.join()
    n = sent[0]
    old, new = consume(t1, 1), consume(t2, 1)
    deadline = time.monotonic() + 60
    while len(old) + len(new) < n and time.monotonic() < deadline:
        old, new = consume(t1, 1), consume(t2, 1)
    seqs = collections.Counter(int(m["payload"].split("=")[1]) for m in old + new)
    assert sum(seqs.values()) == n and set(seqs) == set(range(n))  # each exactly once
    assert len(old) > 0 and len(new) > 0
    assert min(int(m["payload"].split("=")[1]) for m in new) <= marks["after_ack"]
    assert all(int(m["payload"].split("=")[1]) < marks["after_ack"] for m in old)
    assert h.stop() == 0
    c = h.counters()
    assert c["connections.accepted"] == "1" and c["connections.closed"] == "1"
    assert "SIGHUP: reloading" in h.output()


def test_sighup_with_an_invalid_config_keeps_the_running_one(hotdog):
    t1 = unique_topic("keep")
    h = hotdog(rules=rules_to(t1))
    good = h.cfg.read_text()
    h.cfg.write_text(good + "  - regex: '(unclosed'\n    actions: [{type: stop}]\n")
    h.proc.send_signal(signal.SIGHUP)
    h.wait_log("keeping the running configuration")
    assert re.search(r"keeping the running configuration: .*:\d+: 'rules\[1\]\.regex': missing closing parenthesis",
                     h.output())
    with socket.create_connection(("127.0.0.1", h.port)) as s:
        s.sendall(b"<13>Oct 11 22:14:15 h app: seq=1\n")
    assert [m["payload"] for m in consume(t1, 1)] == ["seq=1"]
    # A listener change cannot be applied by a reload: the log says so, the rules still reload.
    t2 = unique_topic("moved")
    h.cfg.write_text(good.replace(t1, t2).replace(f"port: {h.port}", f"port: {h.port + 1}"))
    h.proc.send_signal(signal.SIGHUP)
    h.wait_log("configuration reloaded")
    assert "'global.listen[0].port' changed: restart hotdog to apply it" in h.output()
    with socket.create_connection(("127.0.0.1", h.port)) as s:
        s.sendall(b"<13>Oct 11 22:14:15 h app: seq=2\n")
    assert [m["payload"] for m in consume(t2, 1)] == ["seq=2"]
    assert h.stop() == 0


def test_forty_reloads_under_a_stream_free_the_old_configurations(hotdog):
    """Every reload compiles a new configuration whose rules borrow it. Before, each one was
    kept until exit (a few KiB per SIGHUP, forever, for configuration management that reloads
    every minute); now an older one is freed once every worker runs newer rules. Under
    `make asan` this also checks that nothing still uses a freed configuration: the stream
    keeps running through every switch."""
    topics = [unique_topic("a"), unique_topic("b")]
    h = hotdog(rules=rules_to(topics[0]))
    base = h.cfg.read_text()
    sent, stop, t = start_stream(h.port, 20)
    try:
        for r in range(1, 41):
            h.cfg.write_text(base.replace(topics[0], topics[r % 2]))
            h.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while h.output().count("configuration reloaded") < r:
                assert time.monotonic() < deadline, h.output()[-2000:]
                time.sleep(0.01)
    finally:
        stop.set()
        t.join()
    n = sent[0]
    got = []
    deadline = time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        got = consume(topics[0], 1) + consume(topics[1], 1)
    seqs = collections.Counter(int(m["payload"].split("=")[1]) for m in got)
    assert sum(seqs.values()) == n and set(seqs) == set(range(n))  # each exactly once
    lines = [l for l in h.output().splitlines() if "configuration reloaded" in l]
    assert len(lines) == 40
    assert all(l.endswith("(1 reloaded configuration(s) in memory)") for l in lines), lines[-3:]
    assert h.stop() == 0
