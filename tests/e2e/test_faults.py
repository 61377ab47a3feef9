"""Fault tests (issue 6): broker outages, SIGTERM and SIGKILL of hotdog, a torn spool segment,
and dead letters, against a private broker that these tests stop and restart.

Every message carries a sequence number (seq=000000123); what kcat reads back is counted:
lost = sent - distinct, duplicated = total - distinct, printed by every test as
`sent N, delivered N, lost 0, duplicated D` (run pytest with -s to see them).
"""
import base64
import json
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import faults_helpers as fh
from conftest import ROOT, unique_topic
from faults_helpers import Daemon, broker, kafka, seq_block, tally  # noqa: F401 (fixtures)

SPOOL_DEFAULTS = {"max_bytes": 1 << 30, "segment_bytes": 8 << 20}


def make(daemons, tmp_path, kafka, **kw):
    d = Daemon(tmp_path, unique_topic("fault"), kafka.bootstrap, **kw)
    daemons.append(d)
    return d


# The figures also go to a file that tests/run_all.py prints at the end of `make test`, so
# a reader of the CI log sees them without pytest -s.
FIGURES = Path(os.environ.get("HOTDOG_FIGURES", ROOT / "build" / "test-output" / "fault-figures.txt"))


def report(t, note=""):
    print(t.line(), flush=True)
    if note:
        print(note, flush=True)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with open(FIGURES, "a") as f:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::")[-1]
        f.write(f"{test}: {t.line()}" + (f" ({note})" if note else "") + "\n")


# --------------------------------------------------------------------------- 1

def test_broker_outage_mid_tcp_stream_loses_nothing(kafka, daemons, tmp_path):
    """The broker is stopped for 20 s in the middle of a 200,000-message TCP stream; TCP
    backpressure holds the senders; after the restart everything is there, once."""
    n = 200_000
    d = make(daemons, tmp_path, kafka, buffer=20000, shutdown_timeout_ms=30000)
    d.start()
    data = seq_block(1, n, pad=100)  # 27 MiB: more than the kernel's socket buffers hold
    sender = fh.TcpStream(d.port, data, min_seconds=5)
    t0 = time.monotonic()
    sender.start()
    fh.wait_for(lambda: (d.stats() or {}).get("kafka.delivered", 0) >= n // 3
                or time.monotonic() - t0 > 1.0, 30, "a third delivered or 1 s")
    before = d.stats() or {}
    kafka.stop()
    down = fh.wait_stat(d, lambda s: True, 10, "/stats")
    time.sleep(20)  # the outage
    during = fh.wait_stat(d, lambda s: True, 10, "/stats")
    sent_while_down = sender.sent_bytes
    kafka.start()
    print(f"broker stopping at {before.get('kafka.delivered')} delivered, down at "
          f"{down.get('kafka.delivered')}; after 20 s down: {during.get('kafka.delivered')} "
          f"delivered, {during.get('lines')} read by hotdog, the sender "
          f"{sent_while_down * 100 // len(data)}% through its {len(data) >> 20} MiB", flush=True)
    assert down["kafka.delivered"] < n, "the whole stream went through before the outage"
    assert during["lines"] < n, "hotdog read the whole stream during the outage"
    sender.join(180)
    assert sender.done.is_set() and sender.error is None, sender.error
    fh.wait_delivered(d, kafka, d.topic, n, 180)
    t = tally(fh.read_until(kafka, d.topic, n), n)
    report(t)
    assert t.lost == 0, f"missing {t.missing()}"
    assert t.duplicated == 0
    assert d.h.stop() == 0, d.logs()


def test_a_corrupt_stream_while_the_queue_is_full_keeps_the_lines_before_it(kafka, daemons, tmp_path):
    """One read brings 100 lines and then a corrupt octet count while librdkafka's queue (20
    messages) is full because the broker is down: the connection is closed for the corruption,
    and the lines before it that the queue refused wait in the worker (which pauses) until the
    broker is back. Not lost, and not counted lost."""
    n = 100
    d = make(daemons, tmp_path, kafka, buffer=20, shutdown_timeout_ms=30000)
    d.start()
    kafka.stop()
    fh.send_tcp(d.port, seq_block(1, n) + b"99999999999999 <13>corrupt\n")
    s = fh.wait_stat(d, lambda s: s.get("error.bad_octet_count", 0) == 1
                     and s.get("error.full_internal_queue", 0) >= 1, 30,
                     "the connection closed for its octet count, the worker paused")
    assert s.get("received", 0) == n, s
    kafka.start()
    fh.wait_delivered(d, kafka, d.topic, n, 120)
    t = tally(fh.read_until(kafka, d.topic, n), n)
    report(t)
    assert t.lost == 0, f"missing {t.missing()}"
    assert t.duplicated == 0
    s = d.stats() or {}
    assert s.get("error.lost", 0) == 0 and s.get("error.shutdown_lost", 0) == 0, s
    assert d.h.stop() == 0, d.logs()


# --------------------------------------------------------------------------- 2

def test_udp_broker_outage_goes_to_the_spool_and_is_replayed(kafka, daemons, tmp_path):
    """UDP cannot push back: while the broker is down, datagrams the producer queue cannot
    take go to the spool, and are replayed once the broker is back."""
    n = 50_000
    spool = tmp_path / "spool"
    d = make(daemons, tmp_path, kafka, protocol="udp", buffer=5000,
             spool={"path": spool, "mode": "overflow", **SPOOL_DEFAULTS})
    d.start()
    sender = fh.UdpPaced(d.port, n, batch=200, pause=0.04)  # ~5,000/s, ~10 s
    t0 = time.monotonic()
    sender.start()
    fh.wait_for(lambda: (d.stats() or {}).get("kafka.delivered", 0) >= 3000
                or time.monotonic() - t0 > 1.0, 30, "3,000 delivered or 1 s")
    kafka.stop()
    stopped_at = sender.sent
    sender.join(120)
    assert sender.error is None, sender.error
    # Everything sent has been read (or counted as dropped by the kernel) while still down.
    s = fh.wait_stat(d, lambda s: s.get("udp.datagrams", 0) + s.get("error.udp_kernel_drops", 0)
                     >= n, 60, f"{n} datagrams read or dropped")
    assert stopped_at < n, "the whole stream was sent before the broker stopped"
    assert s.get("spool.appended", 0) > 0, f"nothing went to the spool: {fh.spool_view(s)}"
    down_view = fh.spool_view(s)
    kafka.start()
    drops = s.get("error.udp_kernel_drops", 0)
    fh.wait_delivered(d, kafka, d.topic, n - drops, 120)
    s = fh.wait_idle(d, 120)
    t = tally(fh.read_until(kafka, d.topic, n - drops), n)
    report(t, f"broker down from datagram {stopped_at}; while down: {down_view}; "
              f"after: {fh.spool_view(s)}")
    if drops:
        print(f"the host's kernel dropped {drops} datagram(s) (error.udp_kernel_drops)")
        assert t.lost == drops
    else:
        assert t.lost == 0, f"missing {t.missing()}"
    assert s.get("spool.replayed", 0) > 0
    assert t.duplicated == 0
    assert d.h.stop() == 0, d.logs()


# --------------------------------------------------------------------------- 3

@pytest.mark.parametrize("variant", ["queued", "overflow"])
def test_sigterm_while_broker_down_spools_then_next_start_delivers(kafka, daemons, tmp_path,
                                                                   variant):
    """SIGTERM while the broker is down: what hotdog holds goes to the spool (exit 0), and the
    next start on the same spool delivers it, once. "queued": everything waits in librdkafka's
    queue and is purged into the spool at shutdown; "overflow": a listener without
    backpressure and a small producer queue, so most of it is spooled while running."""
    first, later = 1000, 20000
    n = first + later
    spool = tmp_path / "spool"
    kw = {} if variant == "queued" else {"buffer": 5000,
                                         "listen_extra": {"backpressure": "false"}}
    d = make(daemons, tmp_path, kafka, shutdown_timeout_ms=1000,
             spool={"path": spool, **SPOOL_DEFAULTS}, **kw)
    d.start()
    fh.send_tcp(d.port, seq_block(1, first))
    fh.wait_delivered(d, kafka, d.topic, first, 60)
    kafka.stop()
    fh.send_tcp(d.port, seq_block(first + 1, later))
    s = fh.wait_stat(d, lambda s: s.get("lines", 0) >= n, 60, f"{n} lines read")
    print(f"broker down, before SIGTERM: {fh.spool_view(s)}")
    spooled_before = s.get("spool.appended", 0)
    if variant == "overflow":
        assert s.get("spool.appended", 0) > 0, "nothing spooled while running"
    rc = d.h.stop()
    summary = fh.shutdown_summary(d.h)
    line = next((l for l in d.h.output().splitlines() if "message(s) received" in l), None)
    print(f"first run: exit {rc}: {line}")
    assert rc == 0, d.logs()
    assert any(spool.glob("*.seg")), list(spool.iterdir())
    kafka.start()
    d.start()
    fh.wait_delivered(d, kafka, d.topic, later, 120)
    s = fh.wait_idle(d, 60)
    t = tally(fh.read_until(kafka, d.topic, n), n)
    report(t, f"second run: {fh.spool_view(s)}")
    assert t.lost == 0, f"missing {t.missing()}"
    assert t.duplicated == 0
    assert d.h.stop() == 0, d.logs()
    # Checked last, so a wording problem does not hide how delivery went.
    assert summary, f"first run's shutdown line is not in the documented form: {line}"
    assert summary["received"] == n and summary["delivered"] == first, line
    assert summary["kept_bytes"], "no 'spool: ... kept in DIR for the next start' line"
    if summary["purged"] is not None:  # doc/delivery.md: what was purged from librdkafka at shutdown
        assert summary["purged"] + spooled_before == later, (line, spooled_before)
        assert summary["lost"] == 0, line
    else:
        assert summary["spooled"] == later, line


def test_purged_at_sigterm_keeps_headers_and_timestamps(kafka, daemons, tmp_path):
    """Messages still in librdkafka at SIGTERM (broker down) go back to the spool from what
    librdkafka gives back, and the next start delivers them with the headers and record
    timestamps the rules gave them, not new ones (issue 15: one record through the spool)."""
    first, later = 100, 2000
    n = first + later
    base_ms = (int(time.time()) - 3600) * 1000  # within any retention
    rules = """rules:
  - regex: '.*'
    actions:
      - type: forward
        timestamp: message
        headers: {app: '{{appname}}', host: '{{hostname}}'}
"""

    def line(i):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((base_ms + i) // 1000))
        return f"<14>1 {ts}.{(base_ms + i) % 1000:03d}Z h{i % 7} app{i % 3} - - - seq={i:09d}\n".encode()

    spool = tmp_path / "spool"
    d = make(daemons, tmp_path, kafka, shutdown_timeout_ms=1000, spool={"path": spool, **SPOOL_DEFAULTS},
             rules=rules)
    d.start()
    fh.send_tcp(d.port, b"".join(line(i) for i in range(1, first + 1)))
    fh.wait_delivered(d, kafka, d.topic, first, 60)
    kafka.stop()
    fh.send_tcp(d.port, b"".join(line(i) for i in range(first + 1, n + 1)))
    fh.wait_stat(d, lambda s: s.get("lines", 0) >= n, 60, f"{n} lines read")
    assert d.h.stop() == 0, d.logs()
    kafka.start()
    d.start()
    fh.wait_delivered(d, kafka, d.topic, later, 120)
    fh.wait_idle(d, 60)
    r = subprocess.run(["kcat", "-C", "-b", kafka.bootstrap, "-t", d.topic, "-o", "beginning", "-e", "-q",
                        "-J"], capture_output=True, text=True, timeout=120)
    got = {}
    for m in (json.loads(l) for l in r.stdout.splitlines() if l.strip()):
        i = int(re.search(r"seq=(\d+)", m["payload"]).group(1))
        got.setdefault(i, m)
    assert sorted(got) == list(range(1, n + 1)), f"missing {sorted(set(range(1, n + 1)) - set(got))[:10]}"
    wrong = [(i, m.get("ts"), m.get("headers")) for i, m in got.items()
             if m.get("ts") != base_ms + i or m.get("headers") != ["app", f"app{i % 3}", "host", f"h{i % 7}"]]
    print(f"purged and replayed with their headers and timestamps: {n - len(wrong)} of {n}")
    assert not wrong, wrong[:5]
    assert d.h.stop() == 0, d.logs()


# --------------------------------------------------------------------------- 4

WAL = {"mode": "always", "fsync": "always", **SPOOL_DEFAULTS}


def test_kill_9_under_load_with_write_ahead_spool(kafka, daemons, tmp_path):
    """SIGKILL in the middle of a stream, spool in mode always + fsync always: after a
    restart on the same spool, Kafka holds exactly 1..K, K >= what hotdog had written to the
    spool (spool.appended: counted once the write and its fdatasync returned). Lines counted
    as read but still in the read being processed are not yet in the spool: a crash may lose
    them (doc/delivery.md). Under TSan that read took long enough for the kill to
    land in it: 2,834 lines of one 64 KiB read were counted in `lines` and lost."""
    spool = tmp_path / "spool"
    d = make(daemons, tmp_path, kafka, spool={"path": spool, **WAL})
    d.start()
    sender = fh.EndlessTcpStream(d.port)
    t0 = time.monotonic()
    sender.start()
    # Kill once Kafka has acknowledged some (so the spool's cursor lags behind what Kafka has)
    # while the stream still runs.
    s = fh.wait_stat(d, lambda s: s.get("kafka.delivered", 0) >= 10000, 60, "10,000 delivered")
    assert not sender.stop_event.is_set() and sender.error is None, sender.error
    received = s["spool.appended"]  # written and synced: what the spool promises to keep
    d.h.proc.send_signal(signal.SIGKILL)
    d.h.proc.wait()
    sender.stop()
    print(f"killed after {received} lines written to the spool ({s['lines']} read, "
          f"{s.get('kafka.delivered')} delivered, "
          f"{time.monotonic() - t0:.1f} s into the stream); the client wrote {sender.sent} "
          f"({sender.error!r})", flush=True)
    assert received > 0
    d.start()
    fh.wait_delivered(d, kafka, d.topic, received, 120, f"{received} (in the spool before the kill)")
    s = fh.wait_idle(d, 120)
    payloads = kafka.read(d.topic)
    t = tally(payloads, max(tally(payloads, 0).seqs or {0}))
    report(t, f"K = {t.sent}, hotdog had written {received} to the spool before the kill; "
              f"after restart: {fh.spool_view(s)}")
    assert t.lost == 0, f"gaps in 1..{t.sent}: {t.missing()}"
    assert t.sent >= received, f"K = {t.sent} < {received} written to the spool before the kill"
    assert d.h.stop() == 0, d.logs()


def test_kill_9_while_broker_down_with_write_ahead_spool(kafka, daemons, tmp_path):
    n = 10000
    spool = tmp_path / "spool"
    kafka.stop()
    d = make(daemons, tmp_path, kafka, timeout_ms=2000, spool={"path": spool, **WAL})
    d.start()
    assert "starting anyway" in d.h.output(), d.logs()
    fh.send_tcp(d.port, seq_block(1, n))
    s = fh.wait_stat(d, lambda s: s.get("lines", 0) >= n, 60, f"{n} lines read")
    assert s["lines"] == n
    d.h.proc.send_signal(signal.SIGKILL)
    d.h.proc.wait()
    kafka.start()
    d.start()
    fh.wait_delivered(d, kafka, d.topic, n, 120)
    s = fh.wait_idle(d, 60)
    t = tally(fh.read_until(kafka, d.topic, n), n)
    report(t, f"after restart: {fh.spool_view(s)}")
    assert t.lost == 0, f"missing {t.missing()}"
    assert d.h.stop() == 0, d.logs()


# --------------------------------------------------------------------------- 5

TORN_RE = re.compile(r"spool: segment (\S+): torn record at offset (\d+) \((\d+) bytes dropped\), "
                     r"truncated")


def test_torn_segment_is_truncated_and_the_rest_delivered(kafka, daemons, tmp_path):
    n = 100
    spool = tmp_path / "spool"
    closed = f"127.0.0.1:{fh.free_port()}"  # nothing listens there
    d = make(daemons, tmp_path, kafka, timeout_ms=2000, shutdown_timeout_ms=1000,
             spool={"path": spool, **SPOOL_DEFAULTS})
    d.start(bootstrap=closed)
    assert "starting anyway" in d.h.output(), d.logs()
    fh.send_tcp(d.port, seq_block(1, n))
    fh.wait_stat(d, lambda s: s.get("lines", 0) >= n, 30, f"{n} lines read")
    rc = d.h.stop()
    assert rc == 0, d.logs()
    segs = sorted(p for p in spool.glob("*.seg") if p.stat().st_size > 8 + 20)
    assert segs, f"no segment with records in {list(spool.iterdir())}\n{d.logs()}"
    last = segs[-1]
    size = last.stat().st_size
    os.truncate(last, size - 20)
    print(f"cut {last.name} from {size} to {size - 20} bytes")
    d.start(bootstrap=kafka.bootstrap)
    fh.wait_delivered(d, kafka, d.topic, n - 1, 60)
    d.h.wait_log("torn record")
    s = fh.wait_idle(d, 60)
    payloads = fh.read_until(kafka, d.topic, n - 1)
    # The test cut record n in half, so the records that exist whole are 1..n-1: those are
    # the ones "sent" to the replay, and every one of them must arrive.
    t = tally(payloads, n - 1)
    whole = tally(payloads, n)
    report(t, f"record {n} torn by the test and not replayed; after restart: {fh.spool_view(s)}")
    m = TORN_RE.search(d.h.output())
    assert m, d.logs()
    assert Path(m.group(1)).name == last.name
    assert t.lost == 0, f"missing {t.missing()}"
    assert whole.missing() == [n], "the torn record was replayed"
    assert t.duplicated == 0
    assert d.h.stop() == 0, d.logs()
    assert d.h.counters().get("spool.torn") == "1", d.h.counters()


# --------------------------------------------------------------------------- 6

BIG = 2_000_000
# Incompressible, so that it is still larger than the broker's limit after lz4 (the broker
# checks the compressed batch, the client the message).
BIG_BODY = base64.b64encode(random.Random(6).randbytes(BIG * 3 // 4))


def big_line():
    return b"<13>Oct 11 22:14:15 h app: big=" + BIG_BODY + b"\n"


def check_dead_letter(d, kafka, dead, n_before, n_after, expect_error="MSG_SIZE_TOO_LARGE"):
    fh.send_tcp(d.port, seq_block(1, n_before))
    fh.wait_delivered(d, kafka, d.topic, n_before, 60)
    fh.send_tcp(d.port, big_line())
    s = fh.wait_stat(d, lambda s: s.get("dead_letter.written", 0) >= 1, 60,
                     "dead_letter.written = 1")
    fh.send_tcp(d.port, seq_block(n_before + 1, n_after))
    n = n_before + n_after
    fh.wait_delivered(d, kafka, d.topic, n, 60)
    t = tally(fh.read_until(kafka, d.topic, n), n)
    report(t, f"big message: {fh.spool_view(s)}")
    assert t.lost == 0, f"missing {t.missing()}"
    assert t.duplicated == 0
    assert t.others == 0, "the big message reached Kafka"
    assert d.h.stop() == 0, d.logs()
    assert d.h.counters().get("dead_letter.written") == "1", d.h.counters()
    lines = dead.read_text().splitlines()
    assert len(lines) == 1, lines[:3]
    rec = json.loads(lines[0])
    assert {"time", "topic", "key", "error"} <= rec.keys(), rec.keys()
    assert expect_error in rec["error"], rec["error"]
    assert rec["topic"] == d.topic and rec["key"] is None
    payload = (rec["payload"].encode() if "payload" in rec
               else base64.b64decode(rec["payload_base64"]))
    assert payload == b"big=" + BIG_BODY, f"payload of {len(payload)} bytes"
    print(f"dead letter: error {rec['error']!r}, payload {len(payload)} bytes")


def test_too_large_for_the_client_is_dead_lettered(kafka, daemons, tmp_path):
    dead = tmp_path / "dead.jsonl"
    d = make(daemons, tmp_path, kafka, listen_extra={"max_message_size": 4 << 20},
             dead_letter=dead)
    d.start()
    check_dead_letter(d, kafka, dead, 100, 100)


def test_too_large_for_the_broker_is_dead_lettered(kafka, daemons, tmp_path):
    dead = tmp_path / "dead.jsonl"
    d = make(daemons, tmp_path, kafka, listen_extra={"max_message_size": 4 << 20},
             conf={"message.max.bytes": 5000000}, dead_letter=dead,
             spool={"path": tmp_path / "spool", **SPOOL_DEFAULTS})
    d.start()
    check_dead_letter(d, kafka, dead, 100, 100)
