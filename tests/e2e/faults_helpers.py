"""Helpers for test_faults.py: a private Kafka broker that tests may stop and restart, hotdog
configurations with a spool, fast senders, /stats polling, and loss/duplicate accounting.

A plain module (no fixtures); import it as ``import faults_helpers`` from tests/e2e.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT, Hotdog

KAFKA_LOCAL = ROOT / "scripts" / "kafka-local"
KAFKA_DIR = Path(os.environ.get("KAFKA_DIR", ROOT / ".kafka"))


def free_port(kind=socket.SOCK_STREAM):
    """A free TCP (or UDP) port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- private broker

class PrivateKafka:
    """A single-node broker of our own (scripts/kafka-local on free ports): stopping it
    disturbs no other test. stop() then start() on the same port reuses the data dir, so
    what was produced before the stop stays; reset() wipes it."""

    def __init__(self):
        self.port = free_port()
        self.cport = free_port()
        while self.cport == self.port:
            self.cport = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.env = dict(os.environ, KAFKA_PORT=str(self.port),
                        KAFKA_CONTROLLER_PORT=str(self.cport), KAFKA_WARMUP="0")

    def run(self, *args, timeout=240):
        return subprocess.run([str(KAFKA_LOCAL), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def start(self):
        t0 = time.monotonic()
        r = self.run("start")
        assert r.returncode == 0, f"kafka-local start failed:\n{r.stdout}\n{r.stderr}"
        return time.monotonic() - t0

    def stop(self):
        t0 = time.monotonic()
        r = self.run("stop")
        assert r.returncode == 0, f"kafka-local stop failed:\n{r.stdout}\n{r.stderr}"
        return time.monotonic() - t0

    def is_up(self):
        return self.run("status").returncode == 0

    def ensure_up(self):
        """Starts the broker if an earlier (failed) test left it stopped."""
        if not self.is_up():
            self.start()

    def reset(self):
        self.run("reset")
        for name in (f"server-{self.port}.properties", f"kafka-{self.port}.log",
                     f"kafka-{self.port}.pid"):
            try:
                (KAFKA_DIR / name).unlink()
            except FileNotFoundError:
                pass

    def read(self, topic, timeout=60):
        """Every payload in topic (one partition), from the beginning to the current end.
        An unknown topic reads as empty."""
        try:
            r = subprocess.run(
                ["kcat", "-C", "-b", self.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                 "-f", "%s\\n", "-X", "topic.metadata.refresh.interval.ms=1000",
                 "-X", "fetch.message.max.bytes=10000000"],
                capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return []
        return [l for l in r.stdout.split(b"\n") if l]


# --------------------------------------------------------------------------- hotdog

def yaml_str(s):
    return "'" + str(s).replace("'", "''") + "'"


def hotdog_config(port, topic, bootstrap, status_port, *, protocol="tcp", listen_extra=None,
                  timeout_ms=20000, shutdown_timeout_ms=None, buffer=None, conf=None,
                  spool=None, dead_letter=None, stall_timeout_ms=None, rules=""):
    """The YAML text of a one-listener hotdog with a status server (for /stats); rules: a
    `rules:` section, as written."""
    lines = ["global:", "  listen:",
             "    - address: 127.0.0.1",
             f"      port: {port}",
             f"      protocol: {protocol}"]
    for k, v in (listen_extra or {}).items():
        lines.append(f"      {k}: {v}")
    lines += ["  kafka:", f"    topic: {yaml_str(topic)}", f"    timeout_ms: {timeout_ms}"]
    if shutdown_timeout_ms is not None:
        lines.append(f"    shutdown_timeout_ms: {shutdown_timeout_ms}")
    if stall_timeout_ms is not None:
        lines.append(f"    stall_timeout_ms: {stall_timeout_ms}")
    if buffer is not None:
        lines.append(f"    buffer: {buffer}")
    lines += ["    conf:", f"      bootstrap.servers: {yaml_str(bootstrap)}"]
    for k, v in (conf or {}).items():
        lines.append(f"      {k}: {yaml_str(v)}")
    if spool is not None:
        lines.append("    spool:")
        for k, v in spool.items():
            lines.append(f"      {k}: {yaml_str(v) if k == 'path' else v}")
    if dead_letter is not None:
        lines.append(f"    dead_letter: {yaml_str(dead_letter)}")
    lines += ["  status:", "    address: 127.0.0.1", f"    port: {status_port}", ""]
    return "\n".join(lines) + rules


class Daemon:
    """One hotdog configuration that can be started several times (each run gets its own
    Hotdog object and log: run 0, run 1, ...)."""

    def __init__(self, tmp_path, topic, bootstrap, **kw):
        self.tmp_path = tmp_path
        self.topic = topic
        self.port = free_port(socket.SOCK_DGRAM) if kw.get("protocol") == "udp" else free_port()
        self.status_port = free_port()
        self.kw = kw
        self.bootstrap = bootstrap
        self.runs = []

    def config_text(self, bootstrap=None):
        return hotdog_config(self.port, self.topic, bootstrap or self.bootstrap, self.status_port,
                             **self.kw)

    def start(self, bootstrap=None, wait=True):
        if bootstrap:
            self.bootstrap = bootstrap
        h = Hotdog(self.tmp_path, self.config_text())
        h.port = self.port
        h.topic = self.topic
        self.runs.append(h)
        h.start(wait=wait)
        wait_for(lambda: stats(self.status_port) is not None, 20, what="the status server",
                 proc=h.proc)
        return h

    @property
    def h(self):
        return self.runs[-1]

    def stats(self):
        return stats(self.status_port)

    def stop_all(self):
        for h in self.runs:
            if h.proc and h.proc.poll() is None:
                h.proc.kill()
                h.proc.wait()
            if h.proc and not h.logf.closed:
                h.logf.close()

    def logs(self, tail=60):
        out = []
        for i, h in enumerate(self.runs):
            lines = h.output().splitlines()
            out.append(f"--- hotdog run {i} ({h.log}), last {tail} lines:")
            out += lines[-tail:]
        return "\n".join(out)


def stats(status_port, timeout=2):
    """hotdog's /stats as {name: value}, or None if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{status_port}/stats", timeout=timeout) as r:
            return json.loads(r.read())["stats"]
    except (OSError, ValueError, urllib.error.URLError):
        return None


def wait_for(pred, timeout, what="condition", interval=0.1, proc=None, on_timeout=None):
    """Polls pred() until it returns something truthy (returned) or raises AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"hotdog exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            extra = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{extra}")
        time.sleep(interval)


def wait_stat(d: Daemon, pred, timeout, what):
    """Polls d's /stats until pred(stats) holds; returns the stats."""
    last = {}

    def check():
        s = d.stats()
        if s is not None:
            last.clear()
            last.update(s)
            if pred(s):
                return s
        return None

    return wait_for(check, timeout, what, interval=0.2, proc=d.h.proc,
                    on_timeout=lambda: f"last /stats: {spool_view(last)}\n{d.logs()}")


def spool_view(s):
    """The stats a fault test cares about, for messages."""
    keys = ("received", "lines", "udp.datagrams", "kafka.produced", "kafka.submitted", "kafka.delivered", "kafka.failed",
            "kafka.outq", "spool.appended", "spool.replayed", "spool.torn", "spool.full",
            "spool.write_errors", "spool.bytes", "spool.segments", "spool.backlog",
            "dead_letter.written", "error.lost", "error.spool_full_dropped", "error.udp_kernel_drops",
            "error.full_internal_queue", "error.internal_push_failed")
    return {k: s[k] for k in keys if s and k in s}


# --------------------------------------------------------------------------- messages

SEQ_RE = re.compile(rb"seq=(\d{9})")


def seq_line(i, pad=0):
    return f"<13>Oct 11 22:14:15 h app: seq={i:09d}{' ' + 'x' * pad if pad else ''}\n".encode()


def seq_block(first, n, pad=0):
    return b"".join(seq_line(i, pad) for i in range(first, first + n))


def send_tcp(port, data):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(data)


class TcpStream(threading.Thread):
    """Sends pre-built bytes over one TCP connection in big sendall chunks; with min_seconds,
    no faster than that whole stream in that time (so a fault lands in its middle however
    fast the machine is)."""

    def __init__(self, port, data, chunk=256 << 10, min_seconds=0.0):
        super().__init__(daemon=True)
        self.port, self.data, self.chunk = port, data, chunk
        self.min_seconds = min_seconds
        self.sent_bytes = 0
        self.error = None
        self.done = threading.Event()

    def run(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                mv = memoryview(self.data)
                t0 = time.monotonic()
                for off in range(0, len(mv), self.chunk):
                    ahead = t0 + self.min_seconds * off / len(mv) - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                    s.sendall(mv[off:off + self.chunk])
                    self.sent_bytes = min(off + self.chunk, len(mv))
        except OSError as e:
            self.error = e
        finally:
            self.done.set()


class EndlessTcpStream(threading.Thread):
    """Streams seq_line(1), seq_line(2), ... over one TCP connection, at most `rate` lines a
    second, until stopped or the connection breaks; `sent` is how many lines sendall() took."""

    def __init__(self, port, batch=2000, pad=40, rate=100_000):
        super().__init__(daemon=True)
        self.port, self.batch, self.pad, self.rate = port, batch, pad, rate
        self.sent = 0
        self.error = None
        self.stop_event = threading.Event()

    def run(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                i = 1
                t0 = time.monotonic()
                while not self.stop_event.is_set():
                    ahead = t0 + (i - 1) / self.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                    s.sendall(seq_block(i, self.batch, self.pad))
                    i += self.batch
                    self.sent = i - 1
        except OSError as e:
            self.error = e

    def stop(self):
        self.stop_event.set()
        self.join(30)


class UdpPaced(threading.Thread):
    """Sends n sequence-numbered datagrams in batches with short sleeps (the kernel's receive
    buffer must not overflow: UDP cannot push back)."""

    def __init__(self, port, n, batch=200, pause=0.04):
        super().__init__(daemon=True)
        self.port, self.n, self.batch, self.pause = port, n, batch, pause
        self.sent = 0
        self.error = None

    def run(self):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect(("127.0.0.1", self.port))
                for first in range(1, self.n + 1, self.batch):
                    for i in range(first, min(first + self.batch, self.n + 1)):
                        s.send(seq_line(i)[:-1])
                        self.sent = i
                    time.sleep(self.pause)
        except OSError as e:
            self.error = e


# --------------------------------------------------------------------------- accounting

@dataclass
class Tally:
    sent: int
    total: int          # sequence-numbered payloads read back, duplicates included
    distinct: int
    seqs: set = field(repr=False)
    others: int = 0     # payloads without a sequence number

    @property
    def lost(self):
        return self.sent - len({s for s in self.seqs if 1 <= s <= self.sent})

    @property
    def duplicated(self):
        return self.total - self.distinct

    def line(self):
        return (f"sent {self.sent}, delivered {self.distinct}, lost {self.lost}, "
                f"duplicated {self.duplicated}")

    def missing(self, limit=20):
        return sorted(set(range(1, self.sent + 1)) - self.seqs)[:limit]


def tally(payloads, sent):
    seqs, others = [], 0
    for p in payloads:
        m = SEQ_RE.search(p)
        if m:
            seqs.append(int(m.group(1)))
        else:
            others += 1
    s = set(seqs)
    return Tally(sent=sent, total=len(seqs), distinct=len(s), seqs=s, others=others)


def read_until(kafka: PrivateKafka, topic, want_distinct, timeout=60):
    """Reads topic until at least want_distinct distinct sequence numbers are there (or
    timeout), then once more so late duplicates are counted. Returns the payloads."""
    deadline = time.monotonic() + timeout
    while True:
        payloads = kafka.read(topic)
        if len({m.group(1) for p in payloads if (m := SEQ_RE.search(p))}) >= want_distinct:
            break
        if time.monotonic() > deadline:
            return payloads
        time.sleep(1)
    return kafka.read(topic)


def wait_delivered(d: Daemon, kafka: PrivateKafka, topic, n, timeout, what=None):
    """Waits until hotdog's current run says it delivered n messages, or the topic holds n
    distinct sequence numbers (whichever shows first: replayed records may be counted
    differently), polling /stats often and the topic every few seconds."""
    deadline = time.monotonic() + timeout
    next_read = time.monotonic() + 5
    last = None
    while True:
        s = d.stats()
        if s is not None:
            last = s
            if s.get("kafka.delivered", 0) >= n:
                return s
        if time.monotonic() >= next_read:
            if tally(kafka.read(topic), n).distinct >= n:
                return last
            next_read = time.monotonic() + 5
        if d.h.proc.poll() is not None:
            raise AssertionError(f"hotdog exited ({d.h.proc.returncode}) waiting for {n} "
                                 f"deliveries\n{d.logs()}")
        if time.monotonic() > deadline:
            t = tally(kafka.read(topic), n)
            raise AssertionError(f"{what or f'{n} deliveries'} not seen within {timeout}s: "
                                 f"topic has {t.line()}; last /stats {spool_view(last)}\n"
                                 f"{d.logs()}")
        time.sleep(0.2)


def wait_idle(d: Daemon, timeout=60):
    """Waits until hotdog has nothing outstanding: empty spool backlog and producer queue."""
    return wait_stat(d, lambda s: s.get("spool.backlog", 0) == 0 and s.get("kafka.outq", 0) == 0,
                     timeout, "an empty spool backlog and producer queue")


# The shutdown summary as doc/delivery.md documents it ("P purged into the spool ... L lost"), or as
# issue 6 first worded it ("S spooled for the next start ... L not queued").
SHUTDOWN_RE = re.compile(
    r"shutdown: (?P<received>\d+) message\(s\) received, (?P<delivered>\d+) delivered, "
    r"(?P<failed>\d+) failed, (?P<dead_lettered>\d+) dead-lettered, "
    r"(?:(?P<purged>\d+) purged into the spool|(?P<spooled>\d+) spooled for the next start), "
    r"(?P<undelivered>\d+) undelivered after (?P<ms>\d+) ms, "
    r"(?:(?P<lost>\d+) lost|(?P<not_queued>\d+) not queued)")
KEPT_RE = re.compile(r"spool: (\d+) byte\(s\) in (\d+) segment\(s\) kept in (\S+) for the next start")


def shutdown_summary(h: Hotdog):
    """The shutdown line's figures as a dict (absent fields are None), plus "kept_bytes" from
    the spool's "kept ... for the next start" line; None if there is no shutdown line."""
    out = h.output()
    m = SHUTDOWN_RE.search(out)
    if not m:
        return None
    d = {k: (int(v) if v is not None else None) for k, v in m.groupdict().items()}
    k = KEPT_RE.search(out)
    d["kept_bytes"] = int(k.group(1)) if k else None
    return d


# The private-broker fixtures of the fault and RELP modules (import them into a test module:
# `from faults_helpers import broker, kafka`).
@pytest.fixture(scope="module")
def broker():
    """A private broker per module, which its tests may stop and start."""
    k = PrivateKafka()
    try:
        k.start()
        yield k
    finally:
        k.reset()


@pytest.fixture
def kafka(broker):
    broker.ensure_up()  # an earlier failed test may have left it stopped
    return broker
