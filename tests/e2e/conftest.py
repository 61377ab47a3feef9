"""Fixtures for black-box tests: a real Kafka broker, the real hotdog binary, kcat as reader."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOTDOG = os.environ.get("HOTDOG_BIN", str(ROOT / "build" / "hotdog"))
KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "9092"))
BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"


def kafka_local(*args, check=True):
    env = dict(os.environ, KAFKA_PORT=str(KAFKA_PORT))
    return subprocess.run([str(ROOT / "scripts" / "kafka-local"), *args], env=env,
                          capture_output=True, text=True, check=check)


@pytest.fixture(scope="session")
def kafka():
    """A real single-node KRaft broker; started here (and stopped after) unless running."""
    was_running = kafka_local("status", check=False).returncode == 0
    if not was_running:
        r = kafka_local("start", check=False)
        assert r.returncode == 0, f"kafka-local start failed:\n{r.stdout}\n{r.stderr}"
    yield BOOTSTRAP
    if not was_running:
        kafka_local("stop", check=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_topic(prefix="e2e"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def consume(topic, expected, timeout=60.0):
    """Reads topic from the beginning until `expected` messages arrived or timeout.
    Returns the list of kcat JSON envelopes (key, payload, ...)."""
    deadline = time.monotonic() + timeout
    msgs = []
    while True:
        r = subprocess.run(["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-o", "beginning", "-e",
                            "-J", "-q", "-X", "topic.metadata.refresh.interval.ms=1000"],
                           capture_output=True, text=True, timeout=60)
        msgs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        if len(msgs) >= expected or time.monotonic() > deadline:
            return msgs
        time.sleep(0.5)


class Hotdog:
    def __init__(self, tmp_path, config_text, env=None):
        self.port = None
        self.cfg = tmp_path / f"hotdog-{uuid.uuid4().hex[:6]}.yml"
        self.cfg.write_text(config_text)
        self.log = tmp_path / (self.cfg.stem + ".log")
        self.env = dict(os.environ, **(env or {}))
        self.proc = None

    def start(self, wait=True):
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([HOTDOG, "-c", str(self.cfg)], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env)
        if wait:
            deadline = time.monotonic() + 30
            while "listening on" not in self.output():
                assert self.proc.poll() is None, f"hotdog exited early:\n{self.output()}"
                assert time.monotonic() < deadline, f"hotdog did not start:\n{self.output()}"
                time.sleep(0.05)
        return self

    def output(self):
        return self.log.read_text(errors="replace")

    def wait_log(self, *texts, timeout=20):
        """Waits until hotdog's log contains one of texts."""
        deadline = time.monotonic() + timeout
        while not any(t in self.output() for t in texts):
            assert time.monotonic() < deadline, f"no {texts} in the log:\n{self.output()}"
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"hotdog did not exit on {sig}:\n{self.output()}")
        if self.proc:
            self.logf.close()
        return self.proc.returncode

    def counters(self):
        """The counters hotdog logs at shutdown, as a dict."""
        for line in self.output().splitlines():
            if " counters:" in line:
                return dict(kv.split("=", 1) for kv in line.split(" counters: ", 1)[1].split())
        return {}


class Statsd:
    """A UDP statsd server: sums counters, keeps every gauge value and timer sample seen."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.receive)
        self.thread.start()

    def receive(self):
        while not self.stop.is_set():
            try:
                self.packets.append(self.sock.recv(65536).decode())
            except socket.timeout:
                pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()

    def parse(self):
        sums, gauges, timers = {}, {}, {}
        for p in list(self.packets):
            for line in p.split("\n"):
                name, rest = line.split(":", 1)
                value, kind, *rate = rest.split("|")
                if kind == "ms":
                    timers.setdefault(name, []).append((float(value), float(rate[0][1:])))
                elif kind == "c":
                    sums[name] = sums.get(name, 0) + int(value)
                else:
                    gauges.setdefault(name, []).append(int(value))
        return sums, gauges, timers


def config(port, topic, extra_listen="", extra_kafka="", extra_global="", rules=""):
    return f"""global:
  listen:
    address: '127.0.0.1'
    port: {port}
{extra_listen}  kafka:
    conf:
      bootstrap.servers: '{BOOTSTRAP}'
{extra_kafka}    topic: '{topic}'
    timeout_ms: 20000
{extra_global}{rules}"""


@pytest.fixture
def daemons():
    """A list to put faults_helpers.Daemon objects in; every run of each is killed at the end."""
    made = []
    yield made
    for d in made:
        d.stop_all()


@pytest.fixture
def hotdog(kafka, tmp_path):
    """Factory: hotdog(**config kwargs) starts the daemon on a free port with a fresh topic."""
    started = []

    def make(topic=None, env=None, wait=True, **kw):
        port = free_port()
        topic = topic or unique_topic()
        h = Hotdog(tmp_path, config(port, topic, **kw), env)
        h.port = port
        h.topic = topic
        started.append(h)
        return h.start(wait=wait)

    yield make
    for h in started:
        h.stop()
