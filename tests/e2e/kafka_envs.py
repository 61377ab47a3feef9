"""Kafka set-ups beyond the single PLAINTEXT broker, for test_kafka_secure.py and
test_kafka_cluster.py: a secured broker (SASL_SSL with SCRAM, mTLS) and a three-node KRaft
cluster, both started by `scripts/kafka-local secure|cluster` from the same jars; hotdog
daemons with their own environment (SASL_SCRAM_USERNAME / SASL_SCRAM_PASSWORD); /readyz; the
librdkafka version hotdog logs; per-connection numbered lines and their order per partition.

A plain module (no fixtures); import it as ``import kafka_envs`` from tests/e2e.

Ports: the secured broker takes four from KAFKA_SECURE_PORT (default 19300), the cluster six
from KAFKA_CLUSTER_PORT (default 19310). When the variable is not set and a default port is
busy or claimed by another test run (a lock file in $KAFKA_DIR), the next block 20 ports up
is tried, so two runs on one machine do not meet.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import faults_helpers as fh
from conftest import ROOT, Hotdog

# --------------------------------------------------------------------------- ports


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def claim_ports(kind, env_name, default, span):
    """(base, lock): KAFKA_SECURE_PORT / KAFKA_CLUSTER_PORT if set, else the first block of
    `span` free ports at default, default + 20, ... The block is locked (flock on
    $KAFKA_DIR/<kind>-<base>.lock, held while `lock` stays open), so that two test runs at
    once never share ports or a state dir: `reset` of one would kill the other's brokers."""
    fh.KAFKA_DIR.mkdir(parents=True, exist_ok=True)
    fixed = os.environ.get(env_name)
    bases = [int(fixed)] if fixed else range(default, default + 20 * 40, 20)
    for base in bases:
        lock = open(fh.KAFKA_DIR / f"{kind}-{base}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        if fixed or all(port_free(p) for p in range(base, base + span)):
            return base, lock
        lock.close()
    raise AssertionError(f"no {span} free ports for a {kind} broker from {fixed or default} "
                         f"(another test run holds them?); set {env_name}")


def kafka_local(env, *args, timeout=240):
    r = subprocess.run([str(fh.KAFKA_LOCAL), *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    return r


def parse_env(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def kcat_read(bootstrap, topic, fmt, timeout=60):
    """kcat's output for every message of topic from the beginning to the current end, one
    line a message in format fmt; an unknown topic reads as empty."""
    try:
        r = subprocess.run(
            ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
             "-f", fmt, "-X", "topic.metadata.refresh.interval.ms=1000"],
            capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return []
    return [l for l in r.stdout.split(b"\n") if l]


# --------------------------------------------------------------------------- secured broker

class SecureKafka:
    """scripts/kafka-local secure: PLAINTEXT (the tests read with it), SASL_SSL (SCRAM-SHA-256
    and -512), SSL with client certificates required; the test CA, a client certificate and
    an unrelated CA. Attributes: bootstrap (PLAINTEXT), sasl_ssl, ssl, ca, other_ca,
    client_cert, client_key, user, password."""

    def __init__(self):
        self.base, self.lock = claim_ports("secure", "KAFKA_SECURE_PORT", 19300, 4)
        self.env = dict(os.environ, KAFKA_SECURE_PORT=str(self.base))

    def run(self, *args, timeout=240):
        return kafka_local(self.env, "secure", *args, timeout=timeout)

    def start(self):
        """Starts it (from a wiped state dir); returns the seconds `start` took."""
        self.run("reset")
        t0 = time.monotonic()
        r = self.run("start")
        took = time.monotonic() - t0
        assert r.returncode == 0, f"kafka-local secure start failed:\n{r.stdout}\n{r.stderr}"
        e = parse_env(self.run("env").stdout)
        self.bootstrap = e["KAFKA_SECURE_PLAINTEXT"]
        self.sasl_ssl = e["KAFKA_SECURE_SASL_SSL"]
        self.ssl = e["KAFKA_SECURE_SSL"]
        self.ca = e["KAFKA_SECURE_CA"]
        self.other_ca = e["KAFKA_SECURE_OTHER_CA"]
        self.client_cert = e["KAFKA_SECURE_CLIENT_CERT"]
        self.client_key = e["KAFKA_SECURE_CLIENT_KEY"]
        self.log = e["KAFKA_SECURE_LOG"]
        self.user = e["KAFKA_SCRAM_USER"]
        self.password = e["KAFKA_SCRAM_PASSWORD"]
        return took

    def reset(self):
        self.run("reset")

    def stop(self):
        self.run("stop")

    def read(self, topic, timeout=60):
        """Every payload in topic, read through the PLAINTEXT listener."""
        return kcat_read(self.bootstrap, topic, "%s\\n", timeout)


# --------------------------------------------------------------------------- cluster

class KafkaCluster:
    """scripts/kafka-local cluster: three KRaft nodes (1..3), replication 3, min.insync 2,
    topics of 6 partitions."""

    NODES = (1, 2, 3)

    def __init__(self):
        self.base, self.lock = claim_ports("cluster", "KAFKA_CLUSTER_PORT", 19310, 6)
        self.env = dict(os.environ, KAFKA_CLUSTER_PORT=str(self.base), KAFKA_STOP_TIMEOUT="30")
        self.bootstrap = ",".join(f"127.0.0.1:{self.base + 2 * (n - 1)}" for n in self.NODES)

    def run(self, *args, check=True, timeout=240):
        r = kafka_local(self.env, "cluster", *map(str, args), timeout=timeout)
        if check:
            assert r.returncode == 0, f"kafka-local cluster {' '.join(map(str, args))} " \
                                      f"failed:\n{r.stdout}\n{r.stderr}"
        return r

    def start(self):
        """Starts all three nodes (from wiped state dirs); returns the seconds it took."""
        self.run("reset", check=False)
        t0 = time.monotonic()
        self.run("start")
        return time.monotonic() - t0

    def reset(self):
        self.run("reset", check=False)

    def stop(self):
        self.run("stop", check=False)

    def kill(self, n):
        self.run("kill", n)

    def term(self, n):
        """SIGTERM to node n; returns when it has exited."""
        self.run("term", n)

    def pause(self, n):
        self.run("pause", n)

    def resume(self, n):
        self.run("resume", n)

    def start_node(self, n):
        """Starts node n; returns when it answers metadata requests."""
        self.run("start", n)

    def ensure_all_up(self):
        """Resumes and starts whatever an earlier (failed) test left paused or stopped."""
        for n in self.NODES:
            self.run("resume", n, check=False)
            self.run("start", n)

    def leaders(self, topic):
        """{partition: leader node id} (-1: none) from a metadata request."""
        r = self.run("leaders", topic)
        return {int(p): int(l) for p, l in (line.split() for line in r.stdout.splitlines())}

    def wait_leaders(self, topic, pred, timeout, what):
        """Polls the leaders of topic until pred(leaders) holds; returns them."""
        last = {}

        def check():
            r = self.run("leaders", topic, check=False)
            if r.returncode == 0 and r.stdout.strip():
                last.clear()
                last.update({int(p): int(l) for p, l in
                             (line.split() for line in r.stdout.splitlines())})
                if pred(last):
                    return dict(last)
            return None

        return fh.wait_for(check, timeout, what, interval=0.5,
                           on_timeout=lambda: f"last leaders: {last}")

    def read(self, topic, timeout=60):
        """Every payload in topic, all partitions (for faults_helpers.read_until)."""
        return [p.split(b"\t", 1)[1] for p in self.read_partitions(topic, timeout)]

    def read_partitions(self, topic, timeout=60):
        """b"PARTITION\\tPAYLOAD" for every message, in offset order within each partition."""
        return kcat_read(self.bootstrap, topic, "%p\\t%s\\n", timeout)


# --------------------------------------------------------------------------- hotdog

class EnvDaemon(fh.Daemon):
    """faults_helpers.Daemon whose runs get `env` (on top of the test's environment, without
    any KAFKA_BROKER or SASL_SCRAM_* of the caller's); start() reads the librdkafka version
    hotdog logs and, with `needs` set, skips or fails (see require_rdkafka) before waiting
    for the listener."""

    def __init__(self, tmp_path, topic, bootstrap, env=None, **kw):
        super().__init__(tmp_path, topic, bootstrap, **kw)
        self.env = env or {}

    def start(self, bootstrap=None, wait=True, env=None, needs=None, start_timeout=60):
        if bootstrap:
            self.bootstrap = bootstrap
        if env is not None:
            self.env = env
        h = Hotdog(self.tmp_path, self.config_text())
        h.env = {k: v for k, v in os.environ.items()
                 if k not in ("KAFKA_BROKER", "SASL_SCRAM_USERNAME", "SASL_SCRAM_PASSWORD")}
        h.env.update(self.env)
        h.port = self.port
        h.topic = self.topic
        self.runs.append(h)
        h.start(wait=False)
        if needs:
            require_rdkafka(h, needs)
        if wait:
            fh.wait_for(lambda: "listening on" in h.output(), start_timeout, "'listening on'",
                        proc=h.proc, on_timeout=self.logs)
            fh.wait_for(lambda: fh.stats(self.status_port) is not None, 20,
                        what="the status server", proc=h.proc, on_timeout=self.logs)
        return h


RDKAFKA_RE = re.compile(r"librdkafka (\d+)\.(\d+)\.(\d+)")


def rdkafka_version(h: Hotdog, timeout=10):
    """The librdkafka version in hotdog's start-up line ("hotdog 0.1.0 (librdkafka 2.8.0):
    waiting up to ..."), as a tuple; None if this hotdog does not log it."""
    deadline = time.monotonic() + timeout
    while True:
        out = h.output()
        m = RDKAFKA_RE.search(out)
        if m:
            return tuple(int(x) for x in m.groups())
        if "waiting up to" in out or h.proc.poll() is not None or time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def require_rdkafka(h: Hotdog, needs):
    """needs = (min_version, why). When hotdog says it runs an older librdkafka, the test
    cannot pass: it is skipped with the reason, except in CI (CI set), where it fails, so a
    CI built against the wrong library cannot look green. A hotdog that does not log its
    librdkafka version is tested as it is."""
    want, why = needs
    have = rdkafka_version(h)
    if have is None or have >= want:
        return
    msg = (f"hotdog runs librdkafka {'.'.join(map(str, have))}; {why} needs "
           f"{'.'.join(map(str, want))} or newer (scripts/install-deps builds it into "
           f"build/deps/librdkafka; then make)")
    h.proc.kill()
    h.proc.wait()
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def readyz(status_port, timeout=2):
    """(HTTP status, parsed JSON body) of /readyz; (None, None) if it does not answer."""
    url = f"http://127.0.0.1:{status_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, {"body": body.decode(errors="replace")}
    except (OSError, ValueError):
        return None, None


def wait_not_ready(d: fh.Daemon, prefix, timeout=60):
    """Polls /readyz until it is 503 with a reason that begins with prefix; returns the
    body. On timeout the assertion shows the last answer and the log."""
    last = {}

    def check():
        code, body = readyz(d.status_port)
        last["answer"] = (code, body)
        if code == 503 and str((body or {}).get("reason", "")).startswith(prefix):
            return body
        return None

    return fh.wait_for(check, timeout, f"/readyz 503 with a reason beginning {prefix!r}",
                       interval=0.25, proc=d.h.proc,
                       on_timeout=lambda: f"last /readyz: {last.get('answer')}\n{d.logs()}")


# --------------------------------------------------------------------------- numbered lines

LINE_RE = re.compile(rb"conn=(\d+) seq=(\d{9})")


def conn_block(conn, first, n):
    """Lines "conn=C seq=000000123" for seq first..first+n-1, as one TCP client sends them."""
    return b"".join(f"<13>Oct 11 22:14:15 h app: conn={conn} seq={i:09d}\n".encode()
                    for i in range(first, first + n))


@dataclass
class Order:
    """What came back of several connections' numbered lines, per partition."""
    sent: dict                       # conn -> lines sent (seq 1..n)
    total: int = 0                   # numbered payloads read back, duplicates included
    distinct: int = 0
    lost: int = 0
    duplicated: int = 0
    others: int = 0                  # payloads without a conn/seq
    inversions: int = 0              # a line after a later line of its connection, same
                                     # partition (first copies: a duplicate is counted as such)
    examples: list = field(default_factory=list)
    per_partition: Counter = field(default_factory=Counter)
    missing: list = field(default_factory=list)

    def line(self):
        return (f"sent {sum(self.sent.values())}, delivered {self.distinct}, lost {self.lost}, "
                f"duplicated {self.duplicated}, out of connection order within a partition "
                f"{self.inversions}")


def check_order(rows, sent):
    """rows: b"PARTITION\\tPAYLOAD" in offset order per partition (KafkaCluster
    .read_partitions); sent: {conn: n}. Counts lost and duplicated lines, and inversions: a
    line (its first copy) that comes after a higher sequence number of its own connection in
    its partition."""
    o = Order(sent=dict(sent))
    seen = Counter()
    last = defaultdict(int)  # (partition, conn) -> highest seq so far
    for row in rows:
        part, _, payload = row.partition(b"\t")
        m = LINE_RE.search(payload)
        if not m:
            o.others += 1
            continue
        conn, seq = int(m.group(1)), int(m.group(2))
        o.total += 1
        o.per_partition[int(part)] += 1
        seen[(conn, seq)] += 1
        if seen[(conn, seq)] > 1:
            continue
        key = (int(part), conn)
        if seq < last[key]:
            o.inversions += 1
            if len(o.examples) < 5:
                o.examples.append((int(part), conn, seq, last[key]))
        last[key] = max(last[key], seq)
    # Whether the line an inverted one came after is there twice says how it got there.
    o.examples = [f"partition {p}: conn={c} seq={s} after seq={h}"
                  f"{' (which is there twice)' if seen[(c, h)] > 1 else ''}"
                  for p, c, s, h in o.examples]
    o.distinct = len(seen)
    o.duplicated = o.total - o.distinct
    want = {(c, s) for c, n in sent.items() for s in range(1, n + 1)}
    missing = sorted(want - seen.keys())
    o.lost = len(missing)
    o.missing = missing[:10]
    return o


def wait_lines(kafka: KafkaCluster, d: fh.Daemon, sent, timeout=180):
    """Reads d's topic every few seconds until every (conn, seq) of sent ({conn: n}) is
    there, then once more so that late duplicates count; returns check_order's Order. On
    timeout the assertion shows what is there, hotdog's /stats and its log."""
    deadline = time.monotonic() + timeout
    while True:
        o = check_order(kafka.read_partitions(d.topic), sent)
        if o.lost == 0:
            return check_order(kafka.read_partitions(d.topic), sent)
        if d.h.proc.poll() is not None:
            raise AssertionError(f"hotdog exited ({d.h.proc.returncode}) while the topic has "
                                 f"{o.line()}\n{d.logs()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not all lines within {timeout}s: {o.line()}, missing for "
                                 f"example {o.missing}; last /stats "
                                 f"{fh.spool_view(d.stats() or {})}\n{d.logs()}")
        time.sleep(2)


# The same file test_faults.py writes its figures to; tests/run_all.py prints it at the end of
# `make test`, so that a reader of the CI log sees them without pytest -s.
FIGURES = Path(os.environ.get("HOTDOG_FIGURES",
                              ROOT / "build" / "test-output" / "fault-figures.txt"))


def report(line):
    print(line, flush=True)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::")[-1]
    with open(FIGURES, "a") as f:
        f.write(f"{test}: {line}\n")
