"""End to end: the statsd names the original hotdog sends, with its meanings, on a real broker.

The original sends one datagram per event (hotdog.lines:1|c); ours sums per interval (several
metrics per datagram). What must match is the set of names and what each counts."""
import json
import socket
import time
import urllib.request

from conftest import Statsd, consume, free_port, unique_topic


def metrics(statsd):
    return f"  metrics:\n    statsd: '127.0.0.1:{statsd.port}'\n    interval_ms: 100\n"


def test_the_originals_names_and_meanings_after_a_known_stream(hotdog):
    rx = Statsd()
    try:
        h = hotdog(extra_global=metrics(rx))
        with socket.create_connection(("127.0.0.1", h.port)) as s:
            s.sendall(b"".join(b"<13>Oct 11 22:14:15 h app: parsed %d\n" % i for i in range(40)))
            s.sendall(b"".join(b"no header at all %d\n" % i for i in range(5)))
            consume(h.topic, 45)
            time.sleep(0.4)  # a flush while the connection is still open
        assert h.stop() == 0
    finally:
        rx.close()
    sums, gauges, timers = rx.parse()
    # lines: only the lines the original would parse; the others are error.log_parse (we
    # forward them anyway) and all are in received.
    assert sums["hotdog.lines"] == 40
    assert sums["hotdog.error.log_parse"] == 5
    assert sums["hotdog.received"] == 45
    # kafka.submitted: acknowledged by the broker, as in the original (kafka.produced: queued).
    for name in ("kafka.submitted", f"kafka.submitted.{h.topic}", "kafka.delivered",
                 f"kafka.delivered.{h.topic}", "kafka.produced", f"kafka.produced.{h.topic}"):
        assert sums["hotdog." + name] == 45, name
    assert "hotdog.kafka.producer.error" not in sums
    # connections: the gauge of open connections, 1 while the client was connected.
    assert 1 in gauges["hotdog.connections"] and gauges["hotdog.connections"][-1] == 0
    # kafka.producer.sent: produce-to-ack in ms, one mean per interval whose sample rate
    # stands for the number of messages it covers.
    sent = timers["hotdog.kafka.producer.sent"]
    assert round(sum(1 / rate for _, rate in sent)) == 45
    assert all(0 < ms < 10000 for ms, _ in sent)


def test_the_last_flush_counts_what_the_shutdown_delivered(hotdog):
    """statsd's last flush comes after the workers' drain and the shutdown's Kafka flush, so the
    deliveries and closes of the shutdown are in it. A long linger.ms keeps the messages in the
    producer until SIGTERM; the interval is longer than the test, so that flush is the only one."""
    rx = Statsd()
    sport = free_port()
    n = 25
    try:
        h = hotdog(extra_kafka="      linger.ms: 30000\n",
                   extra_global=f"  status:\n    address: 127.0.0.1\n    port: {sport}\n"
                                f"  metrics:\n    statsd: '127.0.0.1:{rx.port}'\n    interval_ms: 600000\n")
        # idle is still open at SIGTERM (the drain closes it); s closes just before it.
        with socket.create_connection(("127.0.0.1", h.port)) as idle:
            with socket.create_connection(("127.0.0.1", h.port)) as s:
                s.sendall(b"".join(b"<13>Oct 11 22:14:15 h app: pending %d\n" % i for i in range(n)))
                deadline = time.monotonic() + 10
                while True:  # every line read and waiting in the producer
                    with urllib.request.urlopen(f"http://127.0.0.1:{sport}/stats", timeout=5) as r:
                        stats = json.load(r)["stats"]
                    if stats.get("received") == n and stats.get("kafka.outq") == n and stats["connections"] == 2:
                        break
                    assert time.monotonic() < deadline, stats
                    time.sleep(0.05)
                assert stats.get("kafka.delivered", 0) == 0
            assert h.stop() == 0  # at once: nothing is delivered yet, the close may not be read yet
    finally:
        rx.close()
    assert len(consume(h.topic, n)) == n
    sums, gauges, _ = rx.parse()
    assert sums["hotdog.received"] == n
    for name in ("kafka.submitted", f"kafka.submitted.{h.topic}", "kafka.delivered",
                 f"kafka.delivered.{h.topic}"):
        assert sums.get("hotdog." + name) == n, (name, h.output())
    assert sums["hotdog.connections.closed"] == 2
    assert gauges["hotdog.connections"][-1] == 0
    assert gauges["hotdog.kafka.outq"][-1] == 0


def test_invalid_topic_fails_for_good_counted_as_the_original(hotdog, tmp_path):
    """A rendered topic that is not a valid Kafka name: the original produces it, the broker
    refuses it and its statsd says kafka.producer.error.invalidtopic. Ours refuses it before
    the broker, counts it the same, dead-letters it, never spools it, and the next messages
    (valid topic) still flow."""
    good = unique_topic()
    rx = Statsd()
    dead = tmp_path / "dead.jsonl"
    spool = tmp_path / "spool"
    rules = f"""rules:
  - regex: '^topic=(?P<t>[^;]*);'
    field: msg
    actions:
      - type: forward
        topic: '{{{{t}}}}'
      - type: stop
  - regex: '.*'
    field: msg
    actions:
      - type: forward
        topic: '{good}'
"""
    bad = ["", "bad topic!", "a" * 250, "caf\u00e9", ".", ".."]
    try:
        h = hotdog(extra_global=metrics(rx), rules=rules,
                   extra_kafka=f"    dead_letter: '{dead}'\n    spool:\n      path: '{spool}'\n"
                               "      mode: always\n")
        with socket.create_connection(("127.0.0.1", h.port)) as s:
            for i, t in enumerate(bad):
                s.sendall(f"<13>Oct 11 22:14:15 h app: topic={t};x{i}\n".encode())
            s.sendall(b"".join(b"<13>Oct 11 22:14:15 h app: fine %d\n" % i for i in range(10)))
        got = consume(good, 10)
        assert len(got) == 10
        # The original's librdkafka knows a refused name as missing from about half a second
        # after the broker's first answer: it then says unknowntopic.
        time.sleep(0.7)
        with socket.create_connection(("127.0.0.1", h.port)) as s:
            s.sendall(b"<13>Oct 11 22:14:15 h app: topic=bad topic!;again\n")
        deadline = time.monotonic() + 10
        while len(dead.read_text().splitlines() if dead.exists() else []) < len(bad) + 1:
            assert time.monotonic() < deadline, h.output()
            time.sleep(0.05)
        assert h.stop() == 0  # dead-lettered, not lost
    finally:
        rx.close()
    records = [json.loads(l) for l in dead.read_text().splitlines()]
    again = records.pop()
    assert (again["topic"], again["error"], again["payload"]) == ("bad topic!", "_UNKNOWN_TOPIC",
                                                                   "topic=bad topic!;again")
    assert sorted(r["topic"] for r in records) == sorted(bad)
    assert all(r["error"] == "TOPIC_EXCEPTION" for r in records)
    assert sorted(r["payload"] for r in records) == sorted(
        f"topic={t};x{i}" for i, t in enumerate(bad))
    sums, _, _ = rx.parse()
    assert sums["hotdog.kafka.producer.error"] == len(bad) + 1
    assert sums["hotdog.kafka.producer.error.invalidtopic"] == len(bad)
    assert sums["hotdog.kafka.producer.error.unknowntopic"] == 1
    assert sums["hotdog.dead_letter.written"] == len(bad) + 1
    assert sums["hotdog.kafka.submitted"] == 10
    # Never written to the spool (mode: always spools everything else), so never retried.
    assert sums["hotdog.spool.spooled"] == 10
    assert "hotdog.error.lost" not in sums


def test_message_over_message_max_bytes_is_messagesizetoolarge(hotdog, tmp_path):
    """As the original's statsd says for a message the producer cannot send."""
    rx = Statsd()
    dead = tmp_path / "dead.jsonl"
    try:
        h = hotdog(extra_global=metrics(rx), extra_listen="    max_message_size: 2000000\n",
                   extra_kafka=f"    dead_letter: '{dead}'\n")
        with socket.create_connection(("127.0.0.1", h.port)) as s:
            s.sendall(b"<13>Oct 11 22:14:15 h app: " + b"x" * 1200000 + b"\n")
            s.sendall(b"<13>Oct 11 22:14:15 h app: small\n")
        assert [m["payload"] for m in consume(h.topic, 1)] == ["small"]
        h.wait_log("dead-lettered")
        assert h.stop() == 0
    finally:
        rx.close()
    sums, _, _ = rx.parse()
    assert sums["hotdog.kafka.producer.error"] == 1
    assert sums["hotdog.kafka.producer.error.messagesizetoolarge"] == 1
    assert sums["hotdog.kafka.submitted"] == 1
    assert json.loads(dead.read_text())["error"] == "MSG_SIZE_TOO_LARGE"
