"""Outages an operator can see: a hung broker (SIGSTOP, sockets open) and an unreachable one,
against a private broker of our own. hotdog must say that delivery stalled (log, kafka.stalls,
/readyz with the reason), say when it resumed, and lose nothing."""
import json
import os
import signal
import urllib.error
import urllib.request

import pytest

import faults_helpers as fh
from conftest import unique_topic


@pytest.fixture(scope="module")
def broker():
    k = fh.PrivateKafka()
    k.start()
    yield k
    pid = broker_pid(k)
    if pid:
        os.kill(pid, signal.SIGCONT)  # a failed test may have left it stopped
    k.stop()
    k.reset()


def broker_pid(k):
    try:
        return int((fh.KAFKA_DIR / f"kafka-{k.port}.pid").read_text())
    except (OSError, ValueError):
        return None


def readyz(status_port):
    """(HTTP status, JSON body) of /readyz."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{status_port}/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_new_log(d, since, text, timeout):
    """Waits until hotdog's log, past offset since, contains text."""
    return fh.wait_for(lambda: text in d.h.output()[since:], timeout, f"{text!r} in the log",
                       proc=d.h.proc, on_timeout=d.logs)


def test_a_hung_broker_is_reported_as_a_stall_and_its_end_as_resumed(broker, tmp_path):
    topic = unique_topic("stall")
    d = fh.Daemon(tmp_path, topic, broker.bootstrap, stall_timeout_ms=2000)
    d.start()
    try:
        fh.send_tcp(d.port, fh.seq_block(1, 1000))
        fh.wait_delivered(d, broker, topic, 1000, 60)
        fh.wait_for(lambda: readyz(d.status_port)[0] == 200, 30, "/readyz 200")
        # A fresh broker can stall the first messages (the idempotent producer waits for its
        # PID while the coordinator loads): count from here.
        since = len(d.h.output())
        stalls = d.stats()["kafka.stalls"]
        pid = broker_pid(broker)
        assert pid, "no pid file for the private broker"
        os.kill(pid, signal.SIGSTOP)
        try:
            fh.send_tcp(d.port, fh.seq_block(1001, 1000))
            wait_new_log(d, since, "kafka: no delivery progress for", 30)
            s = fh.wait_stat(d, lambda s: s.get("kafka.stalls", 0) > stalls, 10, "kafka.stalls")
            assert s["kafka.stalls"] == stalls + 1
            # /readyz names the stall (until librdkafka's socket timeout marks the broker down,
            # when it says so instead).
            code, body = fh.wait_for(
                lambda: (r := readyz(d.status_port))[0] == 503 and r, 15, "/readyz 503")
            assert body["reason"].startswith(("no delivery progress for", "no Kafka broker is up")), body
            assert "delivery resumed" not in d.h.output()[since:]
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_new_log(d, since, "kafka: delivery resumed after", 60)
        fh.wait_delivered(d, broker, topic, 2000, 120)
        fh.wait_for(lambda: readyz(d.status_port)[0] == 200, 30, "/readyz 200 again")
        t = fh.tally(fh.read_until(broker, topic, 2000), 2000)
        print(t.line())
        assert t.lost == 0, t.missing()
        assert t.duplicated == 0
        s = d.stats()
        assert s["kafka.stalls"] == stalls + 1, "one stall, counted once"
        assert s["kafka.stalled_ms"] == 0
    finally:
        d.stop_all()


def test_an_unreachable_broker_is_named_in_readyz_and_the_log(tmp_path):
    # Nothing listens on this port: connection refused. A spool lets hotdog start anyway.
    port = fh.free_port()
    topic = unique_topic("unreach")
    d = fh.Daemon(tmp_path, topic, f"127.0.0.1:{port}", timeout_ms=1000,
                  spool={"path": str(tmp_path / "spool")})
    d.start()
    try:
        code, body = fh.wait_for(
            lambda: (r := readyz(d.status_port))[0] == 503 and "broker event" in r[1].get("reason", "") and r,
            30, "/readyz 503 with the last broker event")
        assert body["reason"].startswith("no Kafka broker is up (last broker event: broker connection failed: "), body
        assert "Connection refused" in body["reason"], body
        d.h.wait_log("kafka: broker connection failed: ")
    finally:
        d.stop_all()
