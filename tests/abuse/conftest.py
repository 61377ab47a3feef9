"""Black-box abuse suite (issue 7): hostile input against a running hotdog while a
well-behaved client streams sequence-numbered lines.

Each case passes when
  (a) the daemon is still up (process alive, GET /healthz answers "ok") and exits 0 on SIGTERM
      without a sanitizer report,
  (b) every line of the well-behaved client reached Kafka (exact set of sequence numbers, read
      back with kcat),
  (c) the bad input was counted (the relevant counters of GET /stats grew), and
  (d) peak RSS (VmHWM; VmRSS sampled every 20 ms) stayed under the bound stated by the case.

HOTDOG=path selects the binary (default build/hotdog). The Kafka broker is the one on
KAFKA_PORT (default 9092), started for the session if it is not running (the `kafka` fixture
of tests/e2e/conftest.py, reused here). At the end the suite prints one line per case and a
summary block, and writes build/abuse-results.json.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "tests" / "e2e"

# tests/e2e/conftest.py, loaded under another name (it must not clash with this conftest):
# its `kafka` session fixture starts a private broker on KAFKA_PORT when none is running.
_spec = importlib.util.spec_from_file_location("hotdog_e2e_conftest", E2E / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)
kafka = e2e.kafka  # re-exported fixture
BOOTSTRAP = e2e.BOOTSTRAP

sys.path.insert(0, str(E2E))
import clients  # noqa: E402  (tests/e2e/clients.py: make_pki, wait_for)

HOTDOG = str(Path(os.environ.get("HOTDOG") or ROOT / "build" / "hotdog").resolve())
RESULTS_JSON = ROOT / "build" / "abuse-results.json"


def _sanitizer(path):
    """'asan' or 'tsan' if the binary is built with that sanitizer (its runtime's entry point is
    among its dynamic symbols), else None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return "asan" if b"__asan_init" in data else "tsan" if b"__tsan_init" in data else None


SANITIZER = _sanitizer(HOTDOG)
ASAN = SANITIZER is not None
# Sanitized builds are slower and carry shadow memory (and, for ASan, a 256 MB quarantine of
# freed memory): RSS bounds are scaled and timeouts stretched for them (both printed). Memory
# verdicts are meant for the plain build; sanitized runs are for crashes and reports.
SLOW = 3.0 if ASAN else 1.0

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")

RESULTS: list[dict] = []


def rss_bound_mb(mb):
    return mb * 3 + 320 if ASAN else mb


def free_port():
    return clients.free_port()


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


poll = clients.wait_for  # pred() until truthy (returned), or TimeoutError after timeout s


# --------------------------------------------------------------------------- raw senders

def rst_close(s):
    """Closes s with a RST instead of a FIN (SO_LINGER 0): a client that vanishes abruptly."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def send_raw(port, chunks, close="fin", timeout=60):
    """Connects, sends bytes (or an iterable of bytes), then closes ("fin": shutdown(SHUT_WR) and
    wait for the daemon's close, "rst", or None: return the open socket). A reset or EPIPE from
    the daemon (it may drop a hostile connection) ends the send quietly; returns (bytes sent,
    socket or None, error or None)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sent, err = 0, None
    try:
        for c in ([chunks] if isinstance(chunks, (bytes, bytearray)) else chunks):
            s.sendall(c)
            sent += len(c)
    except OSError as e:
        err = e
    if close is None:
        return sent, s, err
    if close == "rst":
        rst_close(s)
        return sent, None, err
    try:
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError as e:
        err = err or e
    s.close()
    return sent, None, err


def wait_closed_by_peer(s, timeout=10):
    """True when the daemon closed s (EOF or reset) within timeout; reads and drops any data."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# --------------------------------------------------------------------------- Kafka

def kcat_payloads(topic, timeout=30):
    """Every payload of topic (partition order), as raw bytes, each followed by LF."""
    r = subprocess.run(["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "%s\n", "-X", "topic.metadata.refresh.interval.ms=1000"],
                       capture_output=True, timeout=timeout)
    return r.stdout


# --------------------------------------------------------------------------- the daemon

def _yaml_str(s):
    return "'" + str(s).replace("'", "''") + "'"


class Daemon:
    """One hotdog, on its own ports and topics, with the status server on."""

    def __init__(self, workdir: Path, name: str, listeners=None, rules=None, catch_all=True,
                 extra_global="", kafka_conf=None):
        self.dir = workdir
        self.name = name
        self.port = free_port()
        self.status_port = free_port()
        tag = uuid.uuid4().hex[:10]
        self.topic_good = f"abuse-{name[:30]}-good-{tag}".replace("_", "-")
        self.topic_bad = f"abuse-{name[:30]}-bad-{tag}".replace("_", "-")
        listeners = listeners or [{}]
        lines = ["global:", "  listen:"]
        for i, l in enumerate(listeners):
            l = dict(l)
            l.setdefault("address", "127.0.0.1")
            if i == 0:
                l.setdefault("port", self.port)
            lines.append("    - " + json.dumps(l))
        lines += ["  kafka:", "    conf:", f"      bootstrap.servers: {_yaml_str(BOOTSTRAP)}"]
        # Producer settings of the case (e.g. linger.ms, to keep messages waiting for Kafka).
        lines += [f"      {k}: {_yaml_str(v)}" for k, v in (kafka_conf or {}).items()]
        lines += [f"    topic: {_yaml_str(self.topic_bad)}", "    timeout_ms: 20000",
                  "  status:", "    address: 127.0.0.1", f"    port: {self.status_port}"]
        if extra_global:
            lines.append(extra_global.rstrip("\n"))
        # The well-behaved client's lines go to their own topic; the first rule routes them.
        lines += ["rules:", "  - regex: '^goodclient '", "    actions:",
                  f"      - {{type: forward, topic: {_yaml_str(self.topic_good)}}}"]
        for r in rules or []:
            lines.append(r.rstrip("\n"))
        if catch_all:
            # Everything else to the bad topic, through a Unicode-aware regex with a named group
            # used as the key (exercises PCRE2's invalid-UTF mode and templates on bad bytes).
            lines += ["  - regex: '^(?P<first>\\w*)'", "    actions:",
                      "      - {type: forward, key: '{{first}}'}"]
        self.cfg = workdir / f"{name}.yml"
        self.cfg.write_text("\n".join(lines) + "\n")
        self.log = workdir / f"{name}.log"
        self.proc = None
        self.rc = None
        self.peak_rss_kb = 0
        self.healthz_failures = 0
        self._stop_sampler = threading.Event()
        self._sampler = None

    # -- life cycle
    def start(self):
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen([HOTDOG, "-c", str(self.cfg)], stdout=self._logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30 * SLOW
        while "listening on" not in self.output() or not self._status_up():
            if self.proc.poll() is not None:
                raise AssertionError(f"hotdog exited at start ({self.proc.returncode}):\n"
                                     f"{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"hotdog did not start:\n{self.output()[-3000:]}")
            time.sleep(0.02)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _status_up(self):
        try:
            return self.healthz(timeout=1)
        except OSError:
            return False

    def _sample(self):
        last_health = 0.0
        while not self._stop_sampler.is_set():
            self.read_rss()
            now = time.monotonic()
            if now - last_health > 0.5:
                last_health = now
                try:
                    if not self.healthz(timeout=5):
                        self.healthz_failures += 1
                except OSError:
                    if self.alive():
                        self.healthz_failures += 1
            self._stop_sampler.wait(0.02)

    def read_rss(self):
        """Updates peak_rss_kb from VmHWM/VmRSS; returns the current VmRSS in kB (0 if gone)."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                st = f.read()
        except OSError:
            return 0
        hwm = re.search(r"VmHWM:\s+(\d+) kB", st)
        rss = re.search(r"VmRSS:\s+(\d+) kB", st)
        cur = int(rss.group(1)) if rss else 0
        self.peak_rss_kb = max(self.peak_rss_kb, cur, int(hwm.group(1)) if hwm else 0)
        return cur

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout=60):
        self._stop_sampler.set()
        if self._sampler:
            self._sampler.join(5)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.read_rss()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.rc = "hung on SIGTERM (killed)"
                self._logf.close()
                return self.rc
        self.rc = self.proc.returncode
        self._logf.close()
        return self.rc

    def sanitizer_report(self):
        out = self.output()
        for m in SANITIZER_MARKS:
            i = out.find(m)
            if i >= 0:
                return out[max(0, i - 200):i + 4000]
        return None

    # -- status server
    def _get(self, path, timeout=5):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}{path}",
                                    timeout=timeout) as r:
            return r.status, r.read()

    def healthz(self, timeout=5):
        st, body = self._get("/healthz", timeout)
        return st == 200 and body.strip() == b"ok"

    def stats(self):
        return json.loads(self._get("/stats", timeout=10 * SLOW)[1])["stats"]


# --------------------------------------------------------------------------- good client

GOOD_RE = re.compile(rb"goodclient run=([0-9a-f]+) seq=(\d+)")


class GoodClient:
    """A background thread sending sequence-numbered RFC 5424 lines over its own TCP (or TLS)
    connection at a steady rate. `sent` counts lines fully handed to the kernel."""

    def __init__(self, port, rate=200, tls_ctx=None):
        self.port = port
        self.rate = rate
        self.tls_ctx = tls_ctx
        self.run_id = uuid.uuid4().hex[:8]
        self.sent = 0
        self.error = None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self.sock = None

    def line(self, seq):
        return (f"<13>1 2026-11-30T00:00:00.000Z goodhost goodapp - - - "
                f"goodclient run={self.run_id} seq={seq:07d}\n").encode()

    def start(self):
        # A send blocked this long (the daemon stopped reading) fails the case as a hang.
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30 * SLOW)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls_ctx:
            s = self.tls_ctx.wrap_socket(s, server_hostname="localhost")
        self.sock = s
        self._t.start()
        return self

    def _run(self):
        period = 1.0 / self.rate
        nxt = time.monotonic()
        try:
            while not self._stop.is_set():
                self.sock.sendall(self.line(self.sent))
                self.sent += 1
                nxt += period
                delay = nxt - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                elif delay < -1:
                    nxt = time.monotonic()  # fell behind (a stalled daemon): do not burst
        except Exception as e:  # noqa: BLE001 - recorded, reported as a failure
            self.error = f"{type(e).__name__}: {e}"

    def wait_sent(self, n, timeout=30):
        poll(lambda: self.sent >= n or self.error or not self._t.is_alive(), timeout * SLOW,
             what=f"good client to send {n} lines")

    def stop(self):
        self._stop.set()
        if self._t.is_alive():
            self._t.join(60)
        if self.sock is None:
            return
        try:
            if isinstance(self.sock, ssl.SSLSocket):
                self.sock.unwrap()  # close_notify, then the TCP close
            else:
                self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()
        self.sock = None


# --------------------------------------------------------------------------- cases

class CaseFailed(AssertionError):
    pass


class Case:
    """One abuse case: a fresh daemon, a good client, the bad input (the test body), then the
    four checks. Use as `with abuse.case(name, rss_mb=...) as c:`."""

    def __init__(self, name, workdir, rss_mb, **daemon_kw):
        self.name = name
        self.workdir = workdir
        self.rss_mb = rss_mb
        self.bound_mb = rss_bound_mb(rss_mb)
        self.daemon_kw = daemon_kw
        self.d = None
        self.good = None
        self.base = {}
        self.expect = []        # (counter names, min delta, exact)
        self.bad_expect = []    # (what, predicate on the bad topic's bytes)
        self.notes = []
        self.errors = []
        self.t0 = time.monotonic()
        self.final = {}

    # -- helpers for the case body
    def start(self, good_tls_ctx=None, good_port=None, rate=200):
        self.d = Daemon(self.workdir, self.name, **self.daemon_kw)
        self.d.start()
        self.base = self.d.stats()
        self.good = GoodClient(good_port or self.d.port, rate=rate, tls_ctx=good_tls_ctx)
        self.good.start()
        self.good.wait_sent(20)
        return self

    @property
    def port(self):
        return self.d.port

    def counters(self, *names):
        s = self.d.stats()
        return {n: s.get(n, 0) - self.base.get(n, 0) for n in names}

    def expect_counter(self, names, n, exact=False):
        """The sum of the deltas of `names` (one name or a tuple) must reach n (== n if exact)."""
        self.expect.append((names if isinstance(names, tuple) else (names,), n, exact))

    def wait_counter(self, names, n, timeout=30):
        names = names if isinstance(names, tuple) else (names,)
        return poll(lambda: (lambda v: v if sum(v.values()) >= n else None)(self.counters(*names)),
                    timeout * SLOW, interval=0.05,
                    what=f"{'+'.join(names)} to grow by {n} (now {self.counters(*names)})")

    def expect_bad(self, what, pred):
        """pred(bytes of the bad topic) must become true (e.g. a marker after a skipped frame)."""
        self.bad_expect.append((what, pred))

    def note(self, s):
        self.notes.append(s)
        print(f"  [{self.name}] {s}", flush=True)

    # -- the checks
    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        res = {"case": self.name, "ok": False, "crash": False, "counters": {}, "good_sent": 0,
               "good_delivered": 0, "rss_peak_mb": 0.0, "rss_bound_mb": self.bound_mb,
               "notes": self.notes, "errors": self.errors, "binary": HOTDOG, "sanitizer": SANITIZER}
        if et is not None:
            self.errors.append(f"case body: {et.__name__}: {ev}")
        try:
            self._finish(res)
        except Exception as e:  # noqa: BLE001 - a check that blew up is a failure, not a crash
            self.errors.append(f"checks: {type(e).__name__}: {e}")
        finally:
            if self.good:
                self.good.stop()
            if self.d and self.d.rc is None:
                self.d.stop()
        res["ok"] = not self.errors
        res["seconds"] = round(time.monotonic() - self.t0, 1)
        if self.d:
            res["log"] = str(self.d.log)
        RESULTS.append(res)
        if not res["ok"]:
            raise CaseFailed(f"case {self.name} failed:\n  " + "\n  ".join(self.errors)
                             + (f"\n  daemon log: {self.d.log}\n" + self.d.output()[-4000:]
                                if self.d else ""))
        return True  # the body's exception is already recorded (and turned into CaseFailed)

    def _finish(self, res):
        d = self.d
        if d is None:
            self.errors.append("daemon never started")
            return
        # Keep the good client streaming a little past the bad input.
        if self.good:
            try:
                self.good.wait_sent(self.good.sent + 40)
            except TimeoutError as e:
                self.errors.append(f"good client stalled: {e}")
        # (c) counters: wait for each expectation (the bad input may still be in flight).
        for names, n, exact in self.expect:
            try:
                self.wait_counter(names, n)
            except TimeoutError:
                pass
            except OSError as e:
                self.errors.append(f"/stats did not answer: {e}")
                break
        # (a) still up, healthz answers.
        alive = d.alive()
        if not alive:
            res["crash"] = True
            self.errors.append(f"daemon died during the case (exit {d.proc.returncode})")
        else:
            try:
                if not d.healthz():
                    self.errors.append("/healthz did not answer ok")
            except OSError as e:
                self.errors.append(f"/healthz failed: {e}")
        if d.healthz_failures:
            self.note(f"/healthz failed {d.healthz_failures} time(s) during the case")
        # (b) the good client's lines, all of them.
        if self.good:
            self.good.stop()
            if self.good.error:
                self.errors.append(f"good client failed: {self.good.error} "
                                   f"(after {self.good.sent} lines)")
            sent = self.good.sent
            res["good_sent"] = sent
            want = set(range(sent))
            got = []

            def delivered():
                nonlocal got
                got = [int(m.group(2)) for m in GOOD_RE.finditer(kcat_payloads(d.topic_good))
                       if m.group(1) == self.good.run_id.encode()]
                return want <= set(got)
            try:
                poll(delivered, 45 * SLOW, interval=0.3, what="good lines in Kafka")
            except TimeoutError:
                pass
            gs = set(got)
            res["good_delivered"] = len(want & gs)
            missing = sorted(want - gs)
            dups = len(got) - len(gs)
            if missing:
                self.errors.append(f"good client: {len(missing)} of {sent} lines missing in Kafka "
                                   f"(first {missing[:10]})")
            if gs - want:
                self.errors.append(f"good client: unexpected sequence numbers {sorted(gs - want)[:10]}")
            if dups:
                self.note(f"good client: {dups} duplicate(s) in Kafka")
        # Bad-topic expectations (markers after skipped frames, partial lines...).
        pending = list(self.bad_expect)

        def bad_seen():
            data = kcat_payloads(d.topic_bad)
            pending[:] = [(w, p) for w, p in pending if not p(data)]
            return not pending
        if pending:
            try:
                poll(bad_seen, 30 * SLOW, interval=0.3, what="bad-topic expectations")
            except TimeoutError:
                for what, _ in pending:
                    self.errors.append(f"not in Kafka: {what}")
        # (c) final counter values.
        if d.alive():
            try:
                final = d.stats()
                for names, n, exact in self.expect:
                    v = {k: final.get(k, 0) - self.base.get(k, 0) for k in names}
                    res["counters"].update(v)
                    tot = sum(v.values())
                    if tot < n or (exact and tot != n):
                        self.errors.append(f"counter {'+'.join(names)}: grew by {tot}, expected "
                                           f"{'exactly ' if exact else 'at least '}{n}")
                res["all_counters_delta"] = {k: final[k] - self.base.get(k, 0) for k in final
                                             if isinstance(final[k], (int, float))
                                             and final[k] != self.base.get(k, 0)
                                             and not k.startswith("kafka.producer.sent")}
            except OSError as e:
                self.errors.append(f"/stats failed at the end: {e}")
        # (d) memory.
        res["rss_end_mb"] = round(d.read_rss() / 1024, 1)
        rc = d.stop()
        res["rss_peak_mb"] = round(d.peak_rss_kb / 1024, 1)
        if res["rss_peak_mb"] > self.bound_mb:
            self.errors.append(f"RSS peak {res['rss_peak_mb']} MB over the bound {self.bound_mb} MB")
        res["exit"] = rc
        if rc != 0:
            if isinstance(rc, int) and rc < 0:
                res["crash"] = True
            self.errors.append(f"daemon exit status on SIGTERM: {rc}")
        rep = d.sanitizer_report()
        if rep:
            res["crash"] = True
            self.errors.append("sanitizer report:\n" + rep)


WORK = ROOT / "build" / "abuse-work"


def case_dir(name):
    """build/abuse-work/<case>/: the case's config, daemon log and inputs (kept for evidence)."""
    d = WORK / name
    d.mkdir(parents=True, exist_ok=True)
    for f in d.iterdir():
        if f.is_file():
            f.unlink()
    return d


class Abuse:
    def case(self, name, rss_mb, **daemon_kw):
        return Case(name, case_dir(name), rss_mb, **daemon_kw)


@pytest.fixture
def abuse(kafka):
    return Abuse()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return clients.make_pki(tmp_path_factory.mktemp("pki"))


def record_static(name, ok, counters=None, rss_mb=0.0, bound_mb=0, notes=(), errors=(),
                  crash=False, seconds=0.0):
    """For cases without a daemon (config checks)."""
    RESULTS.append({"case": name, "ok": ok, "crash": crash, "counters": counters or {},
                    "good_sent": None, "good_delivered": None, "rss_peak_mb": rss_mb,
                    "rss_bound_mb": bound_mb, "notes": list(notes), "errors": list(errors),
                    "binary": HOTDOG, "sanitizer": SANITIZER, "seconds": seconds})


# --------------------------------------------------------------------------- report

def _case_line(r):
    c = ", ".join(f"{k}={v}" for k, v in r["counters"].items()) or "-"
    good = "n/a" if r["good_sent"] is None else f"{r['good_sent']}/{r['good_delivered']}"
    return (f"case {r['case']}: {'ok' if r['ok'] else 'FAIL'}, bad input counted {c}, "
            f"good client {good}, RSS peak {r['rss_peak_mb']} MB (bound {r['rss_bound_mb']} MB)")


def pytest_unconfigure(config):
    """The summary block, printed last (after pytest's own closing line)."""
    if not RESULTS:
        return
    out = ["", "=" * 30 + " abuse suite " + "=" * 30,
           f"binary: {HOTDOG}" + (f" ({SANITIZER} build: RSS bounds x3 + 320 MB, timeouts x3)"
                              if ASAN else "")]
    for r in RESULTS:
        out.append(_case_line(r))
        out += ["    " + e.splitlines()[0] for e in r["errors"]]
    n = len(RESULTS)
    passed = sum(r["ok"] for r in RESULTS)
    crashes = sum(r["crash"] for r in RESULTS)
    max_rss = max((r["rss_peak_mb"] for r in RESULTS), default=0)
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps({"binary": HOTDOG, "sanitizer": SANITIZER, "cases_tried": n,
                                        "passed": passed, "crashes": crashes,
                                        "max_rss_mb": max_rss, "cases": RESULTS}, indent=2))
    out += [f"results: {RESULTS_JSON}", "",
            f"abuse: cases tried {n}, passed {passed}, crashes {crashes}, max RSS seen {max_rss} MB"]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
