#!/usr/bin/env python3
"""bench/bench.py - `make bench`: hotdog side by side with rsyslog, syslog-ng and the raw
producer limit (kcat -P), end to end through one local Kafka broker with acks=all.

Every contender gets the same pre-framed corpus (bench/gen-corpus.py: N RFC 5424 lines of
~200 bytes, half plain text, half JSON) on its own port over K TCP connections from
bench/sender.c, and writes the message body to its own fresh topic. A run's wall time goes from
the sender's first write (after its connections are up) to the moment the sum of the topic's
high watermarks reaches N (bench/hwm.c polls it every 5 ms over one persistent connection).
Runs are interleaved (each repetition runs every contender, in a rotated order), so the noise
of a shared machine hits them alike; results are medians with min-max, and ratios are taken
between runs of the same repetition.

Two scenarios (--scenarios): standard, that corpus, where the local broker is the ceiling and hotdog
ties with kcat -P; short, bodies of --short-body bytes, where the broker takes more and the producer
side shows, for the contenders of --short-contenders, in the same repetitions. The original hotdog
0.5.1 (contender original, from --original-dir) replays the first --original-lines lines only.

Also measured: CPU seconds of the contender process (utime+stime from /proc/PID/stat, before
the first byte and after the last ack) and of the broker, peak RSS (VmHWM); hotdog's
receive->ack latency p50/p99 at half its peak rate (its Prometheus histogram); hotdog with
1,000 connections all sending (RSS); hotdog with syslog-ng's loggen as the sender.

RELP (hotdog-relp, rsyslog-relp): sender.c feeds a sending rsyslog (imptcp -> omrelp, one session),
which sends to hotdog's relp listener or to a second rsyslog's imrelp -> omkafka; the sending
rsyslog's CPU is measured apart, and hotdog's relp.unanswered gauge is sampled to see whether the
sender's window was full (bench/results/relp.md).

Raw per-run records go to build/bench/runs.jsonl; the summary to bench/results/ (results.json
"e2e" section, summary.md and throughput.png via bench/report.py).
"""
import argparse
import collections
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "bench", "configs")
CLK_TCK = os.sysconf("SC_CLK_TCK")

CONTENDERS = {
    "hotdog": "hotdog, catch-all rule",
    "hotdog-rules": "hotdog, rules (regex + JMESPath + merge)",
    "rsyslog": "rsyslog imptcp -> omkafka",
    "syslog-ng": "syslog-ng network() -> kafka-c()",
    "kcat": "kcat -P (raw producer limit)",
    "hotdog-loggen": "hotdog, catch-all, loggen as the sender",
    "probe": "librdkafka alone (bench/probe.c), same rate",
    "hotdog-baseline": "hotdog, catch-all rule, the BENCH_BASELINE binary (an A/B in one run)",
    "hotdog-rules-baseline": "hotdog, rules, the BENCH_BASELINE binary (an A/B in one run)",
    "original": "original hotdog 0.5.1 (Rust), catch-all rule",
    # RELP: sender.c -> rsyslog imptcp -> omrelp (configs/rsyslog-omrelp.conf, one session) -> ...
    "hotdog-relp": "rsyslog omrelp -> hotdog relp",
    "rsyslog-relp": "rsyslog omrelp -> rsyslog imrelp -> omkafka",
}
DEFAULT_ORDER = ["hotdog", "rsyslog", "syslog-ng", "kcat", "hotdog-rules", "hotdog-loggen",
                 "hotdog-relp", "rsyslog-relp", "original"]
# The short-body scenario runs what its ratios need: hotdog both ways and the raw producer.
SHORT_ORDER = ["hotdog", "kcat", "hotdog-rules"]
# A RELP contender may name its sender's omrelp windowSize (-wN), the sender's action queue
# dequeueBatchSize (-bN: omrelp's transaction, during which librelp corks the socket) and
# hotdog's relp_max_pending (-pN): hotdog-relp-w128, hotdog-relp-w8192-p8192, rsyslog-relp-w1024-b1024;
# a hotdog one ending in -baseline runs the BENCH_BASELINE binary (hotdog-relp-w1024-baseline).
# Defaults: --relp-window (BENCH_RELP_WINDOW), --relp-batch (BENCH_RELP_BATCH), --relp-max-pending
# (BENCH_RELP_MAX_PENDING). RELP contenders run in the first --relp-runs (BENCH_RELP_RUNS) repetitions.
RELP_NAME = re.compile(r"^(hotdog|rsyslog)-relp(?:-w(\d+))?(?:-b(\d+))?(?:-p(\d+))?(-baseline)?$")
Relp = collections.namedtuple("Relp", "receiver window batch max_pending baseline")
# One corpus as the runs use it: its scenario's name, lines, the framed file, the bodies alone
# (kcat, probe), loggen's file, and the sizes of the first two.
Corpus = collections.namedtuple("Corpus", "scenario lines path bodies loggen bytes body_bytes")


def relp_spec(name, a):
    """A RELP contender's Relp(receiver, windowSize, dequeueBatchSize, relp_max_pending (rsyslog:
    None), baseline binary?), or None if name is not one."""
    m = RELP_NAME.match(name)
    if not m or (m.group(1) == "rsyslog" and (m.group(4) or m.group(5))):
        return None
    return Relp(m.group(1), int(m.group(2) or a.relp_window), int(m.group(3) or a.relp_batch),
                int(m.group(4) or a.relp_max_pending) if m.group(1) == "hotdog" else None, bool(m.group(5)))


def label(name, a):
    r = relp_spec(name, a)
    if not r:
        return CONTENDERS.get(name, name)
    return (CONTENDERS[f"{r.receiver}-relp"] + f" (windowSize {r.window}, batch {r.batch}"
            + (f", relp_max_pending {r.max_pending}" if r.max_pending else "")
            + (", the BENCH_BASELINE binary" if r.baseline else "") + ")")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def proc_cpu(pid):
    """utime+stime of every thread of pid, in seconds, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu():
    """(busy, steal) CPU seconds of the whole machine since boot, all cores together."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK, v[7] / CLK_TCK


def proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])  # kB
    except OSError:
        pass
    return None


def child_cpu(p):
    """Waits for child p; its user+system CPU seconds."""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return ru.ru_utime + ru.ru_stime


def save_results(out_dir, section, res):
    """Writes res as `section` of OUT_DIR/results.json, keeping the sections other targets wrote
    there (make bench: e2e, make bench-engine: engine, make bench-scale: scale); returns the path."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "results.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        doc = {}
    doc[section] = res
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    return path


def med(v):
    return statistics.median(v) if v else None


def summarise(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": med(values), "min": min(values), "max": max(values), "n": len(values)}


def hotdog_stats(port):
    """hotdog's /stats as {name: value}, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=2) as r:
            return json.loads(r.read())["stats"]
    except (OSError, ValueError, KeyError):
        return None


class UnansweredSampler:
    """Samples hotdog's relp.unanswered gauge (messages read and not yet answered) every 50 ms
    in a thread, from before the first byte to the last ack: whether the sender's window (or
    relp_max_pending) is full during a run. A /stats request costs hotdog a few microseconds."""

    def __init__(self, port, every=0.05):
        self.port, self.every, self.samples = port, every, []
        self.done = threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.done.wait(self.every):
            st = hotdog_stats(self.port)
            if st and "relp.unanswered" in st:
                self.samples.append(st["relp.unanswered"])

    def stop(self, limit=None):
        """Stops sampling; a summary of the samples taken while messages flowed (the leading and
        trailing zeros, before the first message and after the last answer, left out), with the
        share of them at limit or above ("at_limit": how often the window was full)."""
        self.done.set()
        self.t.join()
        v = self.samples
        while v and v[0] == 0:
            v = v[1:]
        while v and v[-1] == 0:
            v = v[:-1]
        s = summarise(v)
        if s and limit:
            s["at_limit"] = sum(x >= limit for x in v) / len(v)
        return s


class Hwm:
    """bench/hwm.c as a coprocess: one librdkafka handle for the whole benchmark."""

    def __init__(self, exe, broker):
        self.p = subprocess.Popen([exe, broker], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().split()
        if not line:
            raise RuntimeError(f"hwm died answering {cmd!r}")
        return line

    def create(self, topic):
        a = self.ask(f"create {topic}")
        if a[0] != "ok":
            raise RuntimeError(" ".join(a))

    def wait(self, topic, n, secs):
        a = self.ask(f"wait {topic} {n} {secs}")
        return a[0] == "done", float(a[1]), int(a[2])

    def count(self, topic):
        return int(self.ask(f"count {topic}")[1])

    def close(self):
        self.p.stdin.close()
        self.p.wait()


class Bench:
    def __init__(self, a):
        self.a = a
        self.b = os.path.abspath(a.build)
        self.work = os.path.join(self.b, "bench")
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.broker = f"127.0.0.1:{a.kafka_port}"
        self.runid = time.strftime("%H%M%S")
        self.seq = 0
        self.raw = open(os.path.join(self.work, "runs.jsonl"), "a")
        self.sng = os.path.join(self.b, "syslog-ng")
        self.records = []
        self.part_s = collections.Counter()

    # ------------------------------------------------------------------ inputs
    def corpus(self, n=None, body_bytes=0, scenario="standard"):
        """The corpus of n lines (bench/gen-corpus.py; body_bytes: its --body-bytes) as a Corpus:
        the framed lines, their bodies alone (for kcat), and the first n/K lines (for loggen, which
        sends its file on each of its K connections); generated once into build/bench/."""
        n = n or self.a.lines
        sfx = f"-b{body_bytes}" if body_bytes else ""
        path = os.path.join(self.work, f"corpus-{n}{sfx}.txt")
        if not os.path.exists(path):
            log(f"generating {path}")
            with open(path + ".tmp", "wb") as f:
                subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen-corpus.py"), str(n)]
                               + ([f"--body-bytes={body_bytes}"] if body_bytes else []), stdout=f, check=True)
            os.rename(path + ".tmp", path)
        bodies = os.path.join(self.work, f"bodies-{n}{sfx}.txt")
        if not os.path.exists(bodies):
            with open(path, "rb") as f, open(bodies + ".tmp", "wb") as out:
                out.writelines(line.split(b" ", 7)[7] for line in f)
            os.rename(bodies + ".tmp", bodies)
        k = self.a.conns
        lg = os.path.join(self.work, f"loggen-{n}-{k}{sfx}.txt")  # every loggen connection sends all of it
        if not os.path.exists(lg):
            with open(path, "rb") as f, open(lg + ".tmp", "wb") as out:
                for i, line in enumerate(f):
                    if i >= n // k:
                        break
                    out.write(line)
            os.rename(lg + ".tmp", lg)
        return Corpus(scenario, n, path, bodies, lg, os.path.getsize(path), os.path.getsize(bodies))

    def extra_conf(self):
        """--producer-conf as (key, value) pairs: the same extra settings for every contender."""
        return [tuple(kv.split("=", 1)) for kv in self.a.producer_conf.split(",") if "=" in kv]

    def render(self, template, out, **kv):
        with open(os.path.join(CONFIGS, template)) as f:
            text = f.read()
        extra = self.extra_conf()
        kv.setdefault("EXTRA_HOTDOG", "".join(f"      {k}: '{v}'\n" for k, v in extra))
        kv.setdefault("EXTRA_RSYSLOG", "".join(f', "{k}={v}"' for k, v in extra))
        kv.setdefault("EXTRA_SYSLOGNG", "".join(f' "{k}" => "{v}"' for k, v in extra))
        kv.setdefault("LISTEN_EXTRA", "")
        for k, v in kv.items():
            text = text.replace(f"@{k}@", str(v))
        with open(out, "w") as f:
            f.write(text)
        return out

    # ------------------------------------------------------------- contenders
    def start(self, name, topic, port, conns, tag, hotdog_cfg=None):
        """Starts contender name listening on port; returns (Popen, extra info). hotdog_cfg:
        (template, {placeholder: value}) instead of hotdog's usual configuration."""
        cfgdir = os.path.join(self.work, "cfg")
        os.makedirs(cfgdir, exist_ok=True)
        logf = open(os.path.join(self.logs, f"{tag}.log"), "w")
        env = dict(os.environ)
        info = {}
        relp = relp_spec(name, self.a)
        if name.startswith("hotdog"):
            sp = free_port()
            extra = ""
            if relp:
                extra = f", protocol: relp, relp_max_pending: {relp.max_pending}"
            rules = name in ("hotdog-rules", "hotdog-rules-baseline")
            template, more = hotdog_cfg or ("hotdog-rules.yml" if rules else "hotdog-catchall.yml", {})
            cfg = self.render(template, os.path.join(cfgdir, f"{tag}.yml"), PORT=port, BROKER=self.broker,
                              TOPIC=topic, STATUS_PORT=sp, LISTEN_EXTRA=extra, **more)
            baseline = name in ("hotdog-baseline", "hotdog-rules-baseline") or (relp and relp.baseline)
            cmd = [self.baseline if baseline else self.hotdog,
                   "-q", "-c", cfg]
            info["status_port"] = sp
        elif name == "rsyslog" or (relp and relp.receiver == "rsyslog"):
            wd = os.path.join(self.work, "rsyslog", tag)
            os.makedirs(wd, exist_ok=True)
            if relp:
                inp = (f'module(load="imrelp")\n'
                       f'input(type="imrelp" address="127.0.0.1" port="{port}" ruleset="kafka")')
            else:
                inp = (f'module(load="imptcp" threads="{self.a.peer_threads}")\n'
                       f'input(type="imptcp" address="127.0.0.1" port="{port}" ruleset="kafka")')
            cfg = self.render("rsyslog.conf", os.path.join(cfgdir, f"{tag}.rsyslog.conf"), INPUT=inp,
                              BROKER=self.broker, TOPIC=topic, WORKDIR=wd, THREADS=self.a.peer_threads)
            cmd = ["rsyslogd", "-n", "-f", cfg, "-i", os.path.join(wd, "pid")]
        elif name == "syslog-ng":
            wd = os.path.join(self.work, "syslog-ng", tag)
            os.makedirs(wd, exist_ok=True)
            cfg = self.render("syslog-ng.conf", os.path.join(cfgdir, f"{tag}.syslog-ng.conf"),
                              PORT=port, BROKER=self.broker, TOPIC=topic, THREADS=self.a.peer_threads,
                              MAXCONN=max(conns, 10), IWSIZE=max(100000, 1000 * conns))
            lib = ":".join(os.path.join(self.sng, d) for d in
                           ("usr/lib/syslog-ng", "usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"))
            env["LD_LIBRARY_PATH"] = lib
            cmd = [os.path.join(self.sng, "usr/sbin/syslog-ng"), "-F", "--no-caps",
                   f"--module-path={self.sng}/usr/lib/syslog-ng/3.38", "-f", cfg,
                   f"--persist-file={wd}/persist", f"--pidfile={wd}/pid", f"--control={wd}/ctl"]
        elif name == "original":
            # Its statsd client sends to a UDP socket of ours that nobody reads (the kernel drops
            # what does not fit); its environment loses what it would read as configuration
            # (HOTDOG_*, KAFKA_BROKER, SASL_SCRAM_*), and it logs errors only.
            cfg = self.render("original-catchall.yml", os.path.join(cfgdir, f"{tag}.yml"), PORT=port,
                              BROKER=self.broker, TOPIC=topic, STATSD_PORT=self.statsd_sink().getsockname()[1])
            env = {k: v for k, v in env.items() if not k.startswith(("HOTDOG_", "SASL_SCRAM_"))
                   and k != "KAFKA_BROKER"}
            env["RUST_LOG"] = "error"
            cmd = [self.original, "-c", cfg]
        else:
            raise ValueError(name)
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        deadline = time.monotonic() + 60
        while not listening(port):
            if p.poll() is not None or time.monotonic() > deadline:
                self.stop(p)
                raise RuntimeError(f"{name} did not start listening; see {logf.name}")
            time.sleep(0.05)
        if "status_port" in info:
            while not listening(info["status_port"]) and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(self.a.settle)  # let its producer connect and fetch metadata
        return p, info

    def statsd_sink(self):
        """A UDP socket on 127.0.0.1 that is never read: the original's required statsd target."""
        if not getattr(self, "_statsd", None):
            self._statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._statsd.bind(("127.0.0.1", 0))
        return self._statsd

    def start_relp_sender(self, tag, target_port, relp):
        """The sending rsyslog of a RELP contender (configs/rsyslog-omrelp.conf): imptcp on a
        port of its own, omrelp to target_port. Returns (Popen, its imptcp port, its log path).
        omrelp opens its session with the first message (inside the timed interval; one
        handshake)."""
        wd = os.path.join(self.work, "rsyslog", tag + "-omrelp")
        os.makedirs(wd, exist_ok=True)
        port = free_port()
        cfg = self.render("rsyslog-omrelp.conf", os.path.join(self.work, "cfg", f"{tag}.omrelp.conf"),
                          PORT=port, TARGET_PORT=target_port, WINDOW=relp.window, BATCH=relp.batch, WORKDIR=wd,
                          THREADS=self.a.peer_threads)
        logpath = os.path.join(self.logs, f"{tag}.omrelp.log")
        p = subprocess.Popen(["rsyslogd", "-n", "-f", cfg, "-i", os.path.join(wd, "pid")],
                             stdout=open(logpath, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not listening(port):
            if p.poll() is not None or time.monotonic() > deadline:
                self.stop(p)
                raise RuntimeError(f"the sending rsyslog did not start listening; see {logpath}")
            time.sleep(0.05)
        return p, port, logpath

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def broker_pid(self):
        try:
            with open(os.path.join(self.a.kafka_dir, f"kafka-{self.a.kafka_port}.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def metrics(self, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        buckets = []
        for m in re.finditer(r'^hotdog_kafka_producer_sent_seconds_bucket\{le="([^"]+)"\} (\d+)', text, re.M):
            buckets.append((float("inf") if m.group(1) == "+Inf" else float(m.group(1)), int(m.group(2))))
        s = re.search(r"^hotdog_kafka_producer_sent_seconds_sum (\S+)", text, re.M)
        c = re.search(r"^hotdog_kafka_producer_sent_seconds_count (\S+)", text, re.M)
        return {"buckets": buckets, "sum": float(s.group(1)) if s else 0.0,
                "count": int(c.group(1)) if c else 0}

    @staticmethod
    def quantile(q, before, after):
        """histogram_quantile over the difference of two cumulative log2 histograms (linear
        interpolation inside the bucket, as Prometheus does), in milliseconds."""
        b = [(le, a - o) for (le, a), (_, o) in zip(after["buckets"], before["buckets"])]
        total = b[-1][1] if b else 0
        if total <= 0:
            return None
        rank, lo, prev = q * total, 0.0, 0
        for le, cum in b:
            if cum >= rank:
                if le == float("inf"):
                    return lo * 1e3
                return (lo + (le - lo) * (rank - prev) / max(cum - prev, 1)) * 1e3
            lo, prev = le, cum
        return None

    # ------------------------------------------------------------------- runs
    def run(self, name, rep, conns=None, rate=0, kind="throughput", corpus=None, hotdog_cfg=None):
        """One timed run of contender name over corpus (default: the standard one) on conns
        connections (rate: lines/s, 0 = as fast as it goes); hotdog_cfg = (template, {placeholder:
        value}) gives hotdog another configuration (bench/scale.py). Returns its record."""
        t_enter = time.monotonic()
        conns = conns or self.a.conns
        c = corpus or self.std
        self.seq += 1
        tag = f"{self.runid}-{self.seq:03d}-{name}-{kind}"
        topic = f"bench-{tag}"
        n = c.lines
        self.hwm.create(topic)
        bpid = self.broker_pid()
        rec = {"contender": name, "kind": kind, "rep": rep, "conns": conns, "rate": rate,
               "topic": topic, "lines": n, "bytes": c.bytes, "scenario": c.scenario,
               "body_bytes": c.body_bytes / n}
        p = info = relay = sampler = None
        relp = relp_spec(name, self.a)
        try:
            if name == "kcat":
                # kcat reads the bodies from a FIFO: it starts, connects and gets its producer id
                # while nothing is written, like the forwarders during their settle time; then
                # the clock starts and `cat` feeds it the file.
                fifo = os.path.join(self.work, f"kcat-{tag}.fifo")
                os.mkfifo(fifo)
                cmd = ["kcat", "-P", "-q", "-b", self.broker, "-t", topic, "-X", "acks=all",
                       "-X", "enable.idempotence=true", "-X", "linger.ms=5",
                       "-X", "batch.num.messages=10000", "-X", "compression.codec=lz4", "-X", "queue.buffering.max.messages=100000",
                       *[a for k, v in self.extra_conf() for a in ("-X", f"{k}={v}")], "-l", fifo]
                p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.logs, f"{tag}.log"), "w"))
                time.sleep(self.a.settle)
                c0 = proc_cpu(p.pid)
                b0 = proc_cpu(bpid) if bpid else None
                m0 = machine_cpu()
                t0 = time.monotonic()
                w = os.open(fifo, os.O_WRONLY)
                feeder = subprocess.Popen(["cat", c.bodies], stdout=w)
                os.close(w)
                ok, t1, got = self.hwm.wait(topic, n, self.a.timeout)
                b1 = proc_cpu(bpid) if bpid else None
                m1 = machine_cpu()
                rec["sender_cpu_s"] = child_cpu(feeder)
                _, status, ru = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)
                os.unlink(fifo)
                cpu = ru.ru_utime + ru.ru_stime - c0  # its whole life minus the start
                rss_kb = ru.ru_maxrss
                rec["bytes"] = c.body_bytes
            else:
                port = free_port()
                p, info = self.start("hotdog" if name == "hotdog-loggen" else name, topic, port, conns, tag,
                                     hotdog_cfg)
                if relp:
                    # sender.c -> the sending rsyslog (imptcp -> omrelp) -> the contender's port.
                    rec.update({"relp_receiver": relp.receiver, "relp_window": relp.window, "relp_batch": relp.batch,
                                "relp_max_pending": relp.max_pending})
                    relay, port, relay_log = self.start_relp_sender(tag, port, relp)
                timed_hist = kind == "latency" or (relp and relp.receiver == "hotdog")
                before = self.metrics(info["status_port"]) if timed_hist else None
                if relp and relp.receiver == "hotdog":
                    sampler = UnansweredSampler(info["status_port"])
                r0 = proc_cpu(relay.pid) if relay else None
                c0 = proc_cpu(p.pid)
                b0 = proc_cpu(bpid) if bpid else None
                m0 = machine_cpu()
                if name == "hotdog-loggen":
                    per_conn = n // conns
                    rec["lines"] = n = per_conn * conns
                    cmd = [os.path.join(ROOT, "scripts", "loggen"), "-S", "-i", "-R", c.loggen, "-d",
                           f"--active-connections={conns}", "-r", "100000000", "-I", "3600", "-Q",
                           "127.0.0.1", str(port)]
                    t0 = time.monotonic()
                    sp = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                          stderr=open(os.path.join(self.logs, f"{tag}.loggen.log"), "w"))
                    ok, t1, got = self.hwm.wait(topic, n, self.a.timeout)
                    rec["sender_cpu_s"] = child_cpu(sp)
                else:
                    cmd = [os.path.join(self.b, "sender"), c.path, "127.0.0.1", str(port), str(conns)]
                    if rate:
                        cmd.append(str(int(rate)))
                    sp = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    ok, t1, got = self.hwm.wait(topic, n, self.a.timeout + (n / rate if rate else 0))
                    err = sp.stderr.read()
                    rec["sender_cpu_s"] = child_cpu(sp)
                    m = re.search(r"t0=([\d.]+) t1=([\d.]+)", err or "")
                    if not m:
                        raise RuntimeError(f"sender failed: {err.strip()}")
                    t0 = float(m.group(1))
                    rec["send_s"] = float(m.group(2)) - t0
                c1 = proc_cpu(p.pid)
                b1 = proc_cpu(bpid) if bpid else None
                r1 = proc_cpu(relay.pid) if relay else None
                m1 = machine_cpu()
                cpu = c1 - c0 if c0 is not None and c1 is not None else None
                rss_kb = proc_status(p.pid, "VmHWM")
                if relay:
                    rec["relay_cpu_s"] = r1 - r0 if r0 is not None and r1 is not None else None
                if sampler:
                    # What can be unanswered at most: the sender's window (0: librelp's 128) or
                    # hotdog's relp_max_pending, whichever is smaller.
                    rec["relp_unanswered"] = sampler.stop(min(relp.window or 128, relp.max_pending))
                if timed_hist:
                    after = self.metrics(info["status_port"])
                    timed = after["count"] - before["count"]
                    rec["latency"] = {
                        "p50_ms": self.quantile(0.50, before, after),
                        "p99_ms": self.quantile(0.99, before, after),
                        "mean_ms": (after["sum"] - before["sum"]) / timed * 1e3 if timed else None,
                        "timed": timed}
                if relp and relp.receiver == "hotdog":
                    st = hotdog_stats(info["status_port"]) or {}
                    rec["relp_stats"] = {k: st.get(k) for k in (
                        "relp.sessions", "relp.messages", "relp.responses.200", "relp.responses.500",
                        "relp.sessions_closed_unanswered", "relp.error.frame")}
            secs = t1 - t0
            busy, steal = m1[0] - m0[0], m1[1] - m0[1]
            mine = (cpu or 0) + ((b1 - b0) if b0 is not None and b1 is not None else 0) + rec.get("sender_cpu_s", 0) \
                + (rec.get("relay_cpu_s") or 0)
            rec.update({"machine_busy_s": busy, "steal_s": steal, "other_cpu_s": max(busy - mine, 0.0),
                        "loadavg": os.getloadavg()[0]})
            rec.update({"complete": ok, "delivered": got, "secs": secs,
                        "msgs_s": got / secs if secs > 0 else None,
                        "mb_s": rec["bytes"] * got / n / secs / 1e6 if secs > 0 else None,
                        "cpu_s": cpu, "rss_mb": rss_kb / 1024 if rss_kb else None,
                        # CPU-seconds per million messages (= microseconds per message): comparable
                        # between runs of different lengths (the original runs fewer lines)
                        "cpu_s_per_m": cpu / got * 1e6 if cpu is not None and got else None,
                        "broker_cpu_s": b1 - b0 if b0 is not None and b1 is not None else None})
        except Exception as e:  # a contender that fails is recorded, the benchmark goes on
            rec.update({"complete": False, "error": str(e)})
        finally:
            if sampler is not None:
                sampler.stop()
            if relay is not None:
                # The sending rsyslog first: it closes its session (hotdog answers the close once
                # nothing is unanswered), then the receiver.
                self.stop(relay)
                with open(relay_log, errors="replace") as f:
                    bad = [ln.strip() for ln in f if re.search(r"error|suspend|fail", ln, re.I)]
                if bad:
                    rec["relay_log"] = bad[:5]
            if p is not None and p.returncode is None:
                self.stop(p)
            fifo = os.path.join(self.work, f"kcat-{tag}.fifo")
            if os.path.exists(fifo):
                os.unlink(fifo)
        if rec.get("complete") and name != "kcat" and self.hwm.count(topic) != n:
            rec["extra_after_stop"] = self.hwm.count(topic) - n
        rec["run_wall_s"] = time.monotonic() - t_enter + self.a.pause
        self.part_s[f"{c.scenario} {name}" if kind == "throughput" else kind] += rec["run_wall_s"]
        self.raw.write(json.dumps(rec) + "\n")
        self.raw.flush()
        self.records.append(rec)
        lat = rec.get("latency") or {}
        log(f"{name:13s} {kind:10s} rep {rep} conns {conns:4d}: "
            + (f"{rec['secs']:.2f} s, {rec['msgs_s']:,.0f} msgs/s, {rec['mb_s']:.1f} MB/s, cpu "
               f"{rec['cpu_s'] if rec['cpu_s'] is not None else float('nan'):.2f} s, rss {rec['rss_mb'] or 0:.1f} MB"
               + (f", p50 {lat['p50_ms']:.2f} ms p99 {lat['p99_ms']:.2f} ms" if lat.get("p99_ms") is not None else "")
               if rec.get("secs") else "")
            + (f", sending rsyslog cpu {rec['relay_cpu_s']:.2f} s" if rec.get("relay_cpu_s") is not None else "")
            + (f", unanswered median {rec['relp_unanswered']['median']:.0f} max {rec['relp_unanswered']['max']:.0f}"
               f" at the limit {rec['relp_unanswered'].get('at_limit', 0):.0%}" if rec.get("relp_unanswered") else "")
            + (f", mean receive->ack {lat['mean_ms']:.1f} ms" if relp and lat.get("mean_ms") else "")
            + (f", sender log: {rec['relay_log'][0]}" if rec.get("relay_log") else "")
            + ("" if rec.get("complete") else f" INCOMPLETE: {rec.get('error') or rec.get('delivered')}"))
        time.sleep(self.a.pause)
        return rec

    def probe(self, rep, rate):
        """The latency baseline: bench/probe.c, a bare librdkafka producer with the same
        settings, producing the bodies at the same rate (exact percentiles)."""
        t_enter = time.monotonic()
        self.seq += 1
        topic = f"bench-{self.runid}-{self.seq:03d}-probe-latency"
        self.hwm.create(topic)
        r = subprocess.run([os.path.join(self.work, "probe"), self.broker, topic, self.std.bodies,
                            str(int(rate)), str(self.a.lines)], capture_output=True, text=True)
        f = dict(zip(r.stdout.split()[::2], r.stdout.split()[1::2]))
        rec = {"contender": "probe", "kind": "latency", "rep": rep, "rate": rate, "lines": self.a.lines,
               "complete": r.returncode == 0 and f.get("delivered") == str(self.a.lines)}
        if rec["complete"]:
            rec.update({"delivered": int(f["delivered"]), "secs": float(f["secs"]),
                        "msgs_s": int(f["delivered"]) / float(f["secs"]),
                        "latency": {"p50_ms": float(f["p50_ms"]), "p99_ms": float(f["p99_ms"]),
                                    "mean_ms": float(f["mean_ms"]), "max_ms": float(f["max_ms"])}})
            log(f"probe         latency    rep {rep}: {rec['msgs_s']:,.0f} msgs/s, p50 {f['p50_ms']} ms "
                f"p99 {f['p99_ms']} ms")
        else:
            rec["error"] = (r.stderr or r.stdout).strip()[-300:]
            log(f"probe failed: {rec['error']}")
        self.raw.write(json.dumps(rec) + "\n")
        self.raw.flush()
        self.records.append(rec)
        time.sleep(self.a.pause)
        self.part_s["latency"] += time.monotonic() - t_enter

    def profile(self, names, top=25):
        """One extra run of each hotdog config in names (catch-all, rules) with perf sampling
        the whole process: where its CPU goes end to end, by thread and by function. Not
        counted in the results."""
        md = ["# hotdog end to end: where the CPU goes", "",
              f"Generated by `make bench` ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%MZ}): "
              f"one extra run of hotdog per config ({self.a.lines:,} lines, {self.a.conns} connections), "
              "`perf record -e cpu-clock -F 1999 -p PID` (time-based sampling of every thread of hotdog, "
              "kernel included; no call graphs: neither hotdog nor librdkafka keeps frame pointers). "
              "Shares of hotdog's samples."]
        for name in names:
            md += self.profile_one(name, top)
        out_dir = os.path.join(ROOT, self.a.out)
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "e2e-profile.md"), "w") as f:
            f.write("\n".join(md) + "\n")
        log(f"wrote {os.path.join(out_dir, 'e2e-profile.md')}")

    def profile_one(self, name, top):
        """The section of e2e-profile.md for contender name, from one run under perf."""
        self.seq += 1
        tag = f"{self.runid}-{self.seq:03d}-{name}-profile"
        topic = f"bench-{tag}"
        n = self.a.lines
        self.hwm.create(topic)
        port = free_port()
        p, _ = self.start(name, topic, port, self.a.conns, tag)
        data = os.path.join(self.work, "perf-e2e.data")
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1999", "-p", str(p.pid),
                                 "-o", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        sp = subprocess.Popen([os.path.join(self.b, "sender"), self.std.path, "127.0.0.1", str(port),
                               str(self.a.conns)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ok, t1, got = self.hwm.wait(topic, n, self.a.timeout)
        t0 = float(re.search(r"t0=([\d.]+)", sp.stderr.read()).group(1))
        sp.wait()
        perf.send_signal(signal.SIGINT)
        perf.wait()
        self.stop(p)
        log(f"profile run of {name}: {n / (t1 - t0):,.0f} msgs/s under perf")

        def report(sort, limit):
            r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", sort,
                                "--percent-limit", "0.4"], capture_output=True, text=True)
            rows = []
            for line in r.stdout.splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                m = re.match(r"\s+([\d.]+)%\s+(.+?)\s*$", line)
                if m:
                    rows.append((float(m.group(1)), re.split(r"\s{2,}", m.group(2).strip())))
            return rows[:limit]
        by_thread = report("comm", 12)
        by_dso = report("dso", 10)
        by_sym = report("comm,dso,symbol", top)
        os.unlink(data)
        md = ["", f"## {CONTENDERS[name]}", "", f"{n / (t1 - t0):,.0f} msgs/s under perf.", "",
              "By thread: " + ", ".join(f"`{r[1][0]}` {r[0]:.1f}%" for r in by_thread) + ".", "",
              "By object: " + ", ".join(f"{r[1][0]} {r[0]:.1f}%" for r in by_dso) + ".", "",
              "| % | thread | object | function |", "|---|---|---|---|"]
        for pct, cols in by_sym:
            cols = cols + [""] * (3 - len(cols))
            md.append(f"| {pct:.1f} | `{cols[0]}` | {cols[1]} | `{cols[2].replace('[.] ', '').replace('[k] ', '')}` |")
        return md

    # ------------------------------------------------------------------ main
    def available(self, name):
        relp = relp_spec(name, self.a)
        if relp:
            mods = "/usr/lib/x86_64-linux-gnu/rsyslog/"
            need = ["omrelp.so"] + (["imrelp.so", "omkafka.so"] if relp.receiver == "rsyslog" else [])
            return shutil.which("rsyslogd") and all(os.path.exists(mods + m) for m in need) and \
                (relp.receiver == "rsyslog" or os.access(os.path.join(self.b, "hotdog"), os.X_OK)) and \
                (not relp.baseline or (bool(self.a.baseline) and os.access(self.a.baseline, os.X_OK)))
        if name in ("hotdog", "hotdog-rules"):
            return os.access(os.path.join(self.b, "hotdog"), os.X_OK)
        if name in ("hotdog-baseline", "hotdog-rules-baseline"):
            return bool(self.a.baseline) and os.access(self.a.baseline, os.X_OK)
        if name == "hotdog-loggen":
            return subprocess.run([os.path.join(ROOT, "scripts", "loggen"), "--help"],
                                  capture_output=True).returncode == 0
        if name == "rsyslog":
            return shutil.which("rsyslogd") and os.path.exists("/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so")
        if name == "syslog-ng":
            return os.access(os.path.join(self.sng, "usr/sbin/syslog-ng"), os.X_OK) and \
                os.path.exists(os.path.join(self.sng, "usr/lib/syslog-ng/3.38/libkafka.so"))
        if name == "kcat":
            return shutil.which("kcat") is not None
        if name == "original":
            return os.access(self.original, os.X_OK) and subprocess.run(
                [self.original, "--version"], capture_output=True).returncode == 0
        return False

    def snapshot(self):
        """Copies build/hotdog aside: the build directory is shared, and a rebuild during the
        benchmark must not change the binary under test halfway."""
        src = os.path.join(self.b, "hotdog")
        os.makedirs(os.path.join(self.work, "under-test"), exist_ok=True)
        self.hotdog = os.path.join(self.work, "under-test", "hotdog")
        shutil.copy2(src, self.hotdog)
        self.commit = git_describe()
        self.original = os.path.join(self.a.original_dir, "hotdog")
        self.baseline = None
        if self.a.baseline and os.access(self.a.baseline, os.X_OK):
            self.baseline = os.path.join(self.work, "under-test", "hotdog-baseline")
            shutil.copy2(self.a.baseline, self.baseline)

    def contenders(self, spec):
        """The contenders of a comma-separated list that can run here (the others are named)."""
        names = [c for c in spec.split(",") if c]
        unknown = [c for c in names if c not in CONTENDERS and not relp_spec(c, self.a)]
        if unknown:
            raise SystemExit(f"unknown contenders: {', '.join(unknown)} (known: {', '.join(CONTENDERS)}, "
                             "and hotdog-relp[-wN][-bN][-pN][-baseline], rsyslog-relp[-wN][-bN])")
        missing = [c for c in names if not self.available(c)]
        if "original" in missing:
            log(f"the original hotdog 0.5.1 is not at {self.original} (set HOTDOG_REFERENCE to its "
                "folder): contender original skipped")
        if set(missing) - {"original"}:
            log(f"not available, skipped: {', '.join(c for c in missing if c != 'original')} "
                "(run bench/setup-peers.sh)")
        return [c for c in names if c not in missing]

    def main(self):
        a = self.a
        self.snapshot()
        scenarios = [x for x in a.scenarios.split(",") if x]
        if set(scenarios) - {"standard", "short"}:
            raise SystemExit(f"unknown scenarios in {a.scenarios!r} (known: standard, short)")
        # standard: the corpus make bench has always used (~153-byte bodies, where the local
        # broker is the ceiling); short: bodies of --short-body bytes, where it is not, for the
        # contenders that the ratios to the raw producer need.
        self.std = self.corpus()
        names = self.contenders(a.contenders) if "standard" in scenarios else []
        short_names = self.contenders(a.short_contenders) if "short" in scenarios else []
        self.short = self.corpus(a.lines, a.short_body, "short") if short_names else None
        # The original is slow (~50,000 msgs/s): it replays the first --original-lines lines only.
        orig = self.corpus(min(a.original_lines, a.lines)) if "original" in names else None
        entries = [(n, orig if n == "original" else self.std) for n in names] + [(n, self.short) for n in short_names]
        self.hwm = Hwm(os.path.join(self.work, "hwm"), self.broker)
        t_start = time.time()
        log(f"{a.lines:,} lines ({self.std.bytes / 1e6:.0f} MB), {a.conns} connections, {a.runs} runs: "
            f"{', '.join(names)}" + (f"; short bodies ({self.short.body_bytes / a.lines:.0f} bytes): "
                                     f"{', '.join(short_names)}" if short_names else ""))
        # The first run after the broker starts meets a cold JVM (interpreted code, empty page
        # cache) and came out slowest every time, always for the same contender (the first in
        # the order). One untimed kcat run of the whole corpus warms the broker up first.
        if "kcat" in names or "kcat" in short_names:
            self.run("kcat", -1, kind="warm-up")
        # Every repetition runs every contender of both scenarios, in an order rotated by one.
        for rep in range(a.runs):
            order = entries[rep % len(entries):] + entries[:rep % len(entries)]
            for name, corpus in order:
                if rep >= a.relp_runs and relp_spec(name, a):
                    continue  # the RELP contenders take part in the first relp_runs repetitions
                self.run(name, rep, corpus=corpus)
        peak = {}
        for name in ("hotdog", "hotdog-rules"):
            v = [r["msgs_s"] for r in self.records if r["contender"] == name and r["kind"] == "throughput"
                 and r["scenario"] == "standard" and r.get("complete")]
            if v:
                peak[name] = med(v)
        if a.latency:
            for rep in range(min(a.runs, 3)):
                for name, pk in peak.items():
                    self.run(name, rep, rate=pk / 2, kind="latency")
                if "hotdog" in peak:
                    self.probe(rep, peak["hotdog"] / 2)
        if a.many_conns and "hotdog" in names:
            for rep in range(min(a.runs, 3)):
                self.run("hotdog", rep, conns=a.many_conns, kind="many-conns")
        profiled = [h for h in ("hotdog", "hotdog-rules") if h in names]
        if a.profile and profiled and shutil.which("perf"):
            t = time.monotonic()
            self.profile(profiled)
            self.part_s["profile"] += time.monotonic() - t
        self.hwm.close()
        self.write(names, short_names, peak, time.time() - t_start)

    def versions(self, names=()):
        def out(cmd, env=None):
            try:
                return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=10).stdout
            except (OSError, subprocess.TimeoutExpired):
                return ""
        v = {}
        v["hotdog"] = out([self.hotdog, "--version"]).strip().replace("hotdog ", "") + f" ({self.commit})"
        v["rsyslog"] = " ".join(out(["rsyslogd", "-v"]).split()[1:2])
        lib = ":".join(os.path.join(self.sng, d) for d in
                       ("usr/lib/syslog-ng", "usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"))
        sv = out([os.path.join(self.sng, "usr/sbin/syslog-ng"), "--version"], dict(os.environ, LD_LIBRARY_PATH=lib))
        v["syslog-ng"] = (re.findall(r"\(([\d.]+)\)", sv) or [""])[0]
        kv = out(["kcat", "-V"])
        v["kcat"] = (re.findall(r"Version (\S+)", kv) or [""])[0]
        v["librdkafka"] = out(["pkg-config", "--modversion", "rdkafka"]).strip()
        if any(relp_spec(n, self.a) for n in self.a.contenders.split(",")):
            v["librelp"] = out(["dpkg-query", "-W", "-f", "${Version}", "librelp0"]).strip()
        jars = [f for f in os.listdir(os.path.join(self.a.kafka_dir, "libs")) if f.startswith("kafka_2")] \
            if os.path.isdir(os.path.join(self.a.kafka_dir, "libs")) else []
        v["kafka"] = jars[0].replace(".jar", "") if jars else ""
        if "original" in names:
            # rdkafka-sys 4.4.0+1.9.2 in its Cargo.lock: librdkafka 1.9.2, linked into the binary
            v["original hotdog"] = out([self.original, "--version"]).strip().replace("Hotdog ", "") + \
                " (librdkafka 1.9.2 built in)"
        return v

    def section(self, recs, names, corpus):
        """One scenario's throughput runs (recs) summarised: the corpus, every contender's medians
        (min-max), and the ratios taken between runs of the same repetition."""
        a = self.a
        out = {"lines": corpus.lines, "bytes": corpus.bytes, "body_bytes": corpus.body_bytes, "contenders": {}}
        for name in names:
            rs = [r for r in recs if r["contender"] == name and r["kind"] == "throughput"]
            ok = [r for r in rs if r.get("complete")]
            out["contenders"][name] = {
                "label": label(name, a), "lines": rs[0]["lines"] if rs else corpus.lines,
                "runs": len(rs), "complete": len(ok),
                "errors": [r.get("error") or f"delivered {r.get('delivered')} of {r['lines']}"
                           for r in rs if not r.get("complete")],
                **{k: summarise([r.get(k) for r in ok])
                   for k in ("secs", "msgs_s", "mb_s", "cpu_s", "cpu_s_per_m", "rss_mb", "broker_cpu_s",
                             "sender_cpu_s", "other_cpu_s", "steal_s", "loadavg")},
                "msgs_per_cpu_s": summarise([r["delivered"] / r["cpu_s"] for r in ok if r.get("cpu_s")]),
            }
            relp = relp_spec(name, a)
            if relp:
                c = out["contenders"][name]
                c["relp"] = {"receiver": relp.receiver, "window": relp.window, "batch": relp.batch,
                             "max_pending": relp.max_pending,
                             # the sending rsyslog (imptcp -> omrelp), not counted in cpu_s
                             "relay_cpu_s": summarise([r.get("relay_cpu_s") for r in ok]),
                             "extra_after_stop": [r["extra_after_stop"] for r in rs if r.get("extra_after_stop")],
                             "sender_log": sorted({x for r in rs for x in r.get("relay_log", [])})[:5]}
                if relp.receiver == "hotdog":
                    c["relp"]["unanswered_median"] = summarise(
                        [r["relp_unanswered"]["median"] for r in ok if r.get("relp_unanswered")])
                    c["relp"]["unanswered_max"] = summarise(
                        [r["relp_unanswered"]["max"] for r in ok if r.get("relp_unanswered")])
                    c["relp"]["at_limit"] = summarise(
                        [r["relp_unanswered"].get("at_limit") for r in ok if r.get("relp_unanswered")])
                    c["relp"]["mean_ack_ms"] = summarise([(r.get("latency") or {}).get("mean_ms") for r in ok])
                    # Little's law: messages in hotdog between receive and Kafka's ack, on average
                    c["relp"]["in_flight"] = summarise(
                        [r["msgs_s"] * r["latency"]["mean_ms"] / 1e3 for r in ok
                         if (r.get("latency") or {}).get("mean_ms") and r.get("msgs_s")])
                    c["relp"]["sessions"] = summarise([(r.get("relp_stats") or {}).get("relp.sessions") for r in ok])

        # Ratios between runs of the same repetition. CPU ratios are per message (cpu_s_per_m),
        # which is the same as per run where both ran the same corpus.
        def per_rep(num, dens, key="msgs_s", higher=True):
            out = []
            for rep in range(a.runs):
                def val(n):
                    r = [x for x in recs if x["contender"] == n and x["kind"] == "throughput"
                         and x["rep"] == rep and x.get("complete")]
                    return r[0].get(key) if r else None
                x = val(num)
                ys = [val(d) for d in dens]
                ys = [y for y in ys if y]
                if x and ys:
                    out.append(x / (max(ys) if higher else min(ys)))
            return summarise(out)
        peers = [p for p in ("rsyslog", "syslog-ng") if p in names]
        ratios = out["ratios"] = {}
        for h in ("hotdog", "hotdog-rules"):
            if h not in names:
                continue
            if peers:
                ratios[f"{h}/best-peer"] = per_rep(h, peers)
            if "kcat" in names:
                ratios[f"{h}/limit"] = per_rep(h, ["kcat"])
                ratios[f"{h}/limit cpu_s"] = per_rep(h, ["kcat"], key="cpu_s_per_m", higher=False)
        if "hotdog" in names and "original" in names:
            # The original runs fewer lines: msgs/s and CPU-seconds per message compare, totals do not.
            ratios["hotdog/original"] = per_rep("hotdog", ["original"])
            ratios["hotdog/original cpu_s"] = per_rep("hotdog", ["original"], key="cpu_s_per_m", higher=False)
        if "hotdog" in names and "hotdog-baseline" in names:
            # The same config, two binaries, the same repetition: throughput and CPU-seconds.
            ratios["hotdog/baseline"] = per_rep("hotdog", ["hotdog-baseline"])
            ratios["hotdog/baseline cpu_s"] = per_rep("hotdog", ["hotdog-baseline"], key="cpu_s", higher=False)
        if "hotdog-rules" in names and "hotdog-rules-baseline" in names:
            ratios["hotdog-rules/baseline"] = per_rep("hotdog-rules", ["hotdog-rules-baseline"])
            ratios["hotdog-rules/baseline cpu_s"] = per_rep("hotdog-rules", ["hotdog-rules-baseline"],
                                                            key="cpu_s", higher=False)
        # RELP: hotdog-relp against rsyslog-relp with the same window, msgs/s and msgs per CPU-s.
        for h in names:
            rh = relp_spec(h, a)
            if not rh or rh.receiver != "hotdog" or rh.baseline:
                continue
            if f"{h}-baseline" in names:
                ratios[f"{h}/baseline"] = per_rep(h, [f"{h}-baseline"])
                ratios[f"{h}/baseline cpu_s"] = per_rep(h, [f"{h}-baseline"], key="cpu_s", higher=False)
            for r in names:
                rr = relp_spec(r, a)
                if rr and rr.receiver == "rsyslog" and (rr.window, rr.batch) == (rh.window, rh.batch):
                    ratios[f"{h}/{r}"] = per_rep(h, [r])
                    ratios[f"{h}/{r} cpu_s"] = per_rep(h, [r], key="cpu_s", higher=False)
        # CPU efficiency (messages per CPU-second of the forwarder), same repetition.
        for h in ("hotdog", "hotdog-rules"):
            if h in names and peers:
                v = []
                for rep in range(a.runs):
                    def eff(n):
                        r = [x for x in recs if x["contender"] == n and x["kind"] == "throughput"
                             and x["rep"] == rep and x.get("complete") and x.get("cpu_s")]
                        return r[0]["delivered"] / r[0]["cpu_s"] if r else None
                    x, ys = eff(h), [y for y in (eff(p) for p in peers) if y]
                    if x and ys:
                        v.append(x / max(ys))
                ratios[f"{h}/best-peer cpu-efficiency"] = summarise(v)
        return out

    def write(self, names, short_names, peak, elapsed):
        """results.json's e2e section: the standard scenario at the top level (as before the
        scenarios), the others under "scenarios"; then summary.md and the charts (report.py)."""
        a = self.a
        recs = self.records
        res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
               "elapsed_s": round(elapsed), "conns": a.conns, "runs": a.runs, "relp_runs": a.relp_runs,
               "machine": machine(), "versions": self.versions(names + short_names)}
        res.update(self.section([r for r in recs if r.get("scenario") == "standard"], names, self.std))
        if short_names:
            res["scenarios"] = {"short": self.section([r for r in recs if r.get("scenario") == "short"],
                                                      short_names, self.short)}
        # Wall seconds each part of the benchmark took (a contender's throughput runs of one
        # scenario, the latency runs, ...), starts and pauses included: what each part costs.
        res["part_s"] = {k: round(v) for k, v in self.part_s.items()}
        lat = {}
        if "hotdog" in peak:
            peak = dict(peak, probe=peak["hotdog"])
        for h, pk in peak.items():
            rs = [r for r in recs if r["contender"] == h and r["kind"] == "latency" and r.get("complete")]
            if rs:
                lat[h] = {"target_rate": pk / 2,
                          "msgs_s": summarise([r["msgs_s"] for r in rs]),
                          "p50_ms": summarise([r["latency"]["p50_ms"] for r in rs]),
                          "p99_ms": summarise([r["latency"]["p99_ms"] for r in rs]),
                          "mean_ms": summarise([r["latency"]["mean_ms"] for r in rs])}
        res["latency"] = lat
        tp = [r for r in recs if r["kind"] == "throughput" and r.get("complete")]
        res["noise"] = {k: summarise([r.get(k) for r in tp]) for k in ("other_cpu_s", "steal_s", "loadavg")}
        try:
            with open(f"/proc/{self.broker_pid()}/cmdline") as f:
                res["broker_jvm"] = " ".join(x for x in f.read().split("\0") if x.startswith("-X"))
        except (OSError, TypeError):
            res["broker_jvm"] = ""
        rs = [r for r in recs if r["kind"] == "many-conns"]
        if rs:
            ok = [r for r in rs if r.get("complete")]
            res["many_conns"] = {"conns": a.many_conns, "runs": len(rs), "complete": len(ok),
                                 **{k: summarise([r.get(k) for r in ok])
                                    for k in ("msgs_s", "mb_s", "cpu_s", "rss_mb")}}
        out_dir = os.path.join(ROOT, a.out)
        path = save_results(out_dir, "e2e", res)
        log(f"wrote {path}")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "report.py"), "--out", out_dir,
                        "--work", self.work], check=False)


def git_describe():
    """The commit of the tree being measured, with -dirty when src/ has uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src"], capture_output=True,
                               text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except OSError:
        return ""


def machine():
    m = {"cpus": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            m["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as f:
            m["mem_gb"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        m["os"] = next(l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                       if l.startswith("PRETTY_NAME="))
    except (OSError, StopIteration):
        pass
    return m


def arg_parser(description=__doc__.split("\n")[0]):
    """The options of make bench, which bench/scale.py shares (broker, build, timing)."""
    env = os.environ.get
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--lines", type=int, default=int(env("BENCH_LINES", 1000000)))
    ap.add_argument("--runs", type=int, default=int(env("BENCH_RUNS", 7)),
                    help="interleaved repetitions of every contender (latency and 1,000-connection "
                         "runs: at most 3)")
    ap.add_argument("--conns", type=int, default=int(env("BENCH_CONNS", 4)))
    ap.add_argument("--contenders", default=env("BENCH_CONTENDERS", ",".join(DEFAULT_ORDER)))
    ap.add_argument("--many-conns", type=int, default=int(env("BENCH_MANY_CONNS", 1000)),
                    help="hotdog run with this many connections, all sending (0: skip)")
    ap.add_argument("--no-latency", dest="latency", action="store_false")
    ap.add_argument("--no-profile", dest="profile", action="store_false",
                    help="skip the extra hotdog runs under perf, catch-all and rules (bench/results/e2e-profile.md)")
    ap.add_argument("--peer-threads", type=int, default=int(env("BENCH_PEER_THREADS", 2)),
                    help="worker threads of rsyslog and syslog-ng (hotdog: one per core)")
    ap.add_argument("--producer-conf", default=env("BENCH_PRODUCER_CONF", ""),
                    help="extra librdkafka settings for every contender, K=V,K=V (e.g. "
                         "compression.type=zstd)")
    ap.add_argument("--relp-window", type=int, default=int(env("BENCH_RELP_WINDOW", 8192)),
                    help="windowSize of the sending rsyslog's omrelp for hotdog-relp and rsyslog-relp "
                         "(hotdog-relp-wN names its own; bench/results/relp.md)")
    ap.add_argument("--relp-max-pending", type=int, default=int(env("BENCH_RELP_MAX_PENDING", 8192)),
                    help="hotdog's relp_max_pending for hotdog-relp (hotdog-relp-...-pN names its own; "
                         "hotdog's default is 1024)")
    ap.add_argument("--relp-runs", type=int, default=int(env("BENCH_RELP_RUNS", 3)),
                    help="the RELP contenders run in the first this many repetitions only")
    ap.add_argument("--relp-batch", type=int, default=int(env("BENCH_RELP_BATCH", 128)),
                    help="queue.dequeueBatchSize of the sending rsyslog's omrelp action (rsyslog's default "
                         "for an action queue: 128); hotdog-relp-...-bN names its own")
    ap.add_argument("--scenarios", default=env("BENCH_SCENARIOS", "standard,short"),
                    help="standard (the ~153-byte bodies, where the local broker is the ceiling), "
                         "short (bodies of --short-body bytes, where it is not), or both")
    ap.add_argument("--short-body", type=int, default=int(env("BENCH_SHORT_BODY", 110)),
                    help="average body bytes of the short scenario")
    ap.add_argument("--short-contenders", default=env("BENCH_SHORT_CONTENDERS", ",".join(SHORT_ORDER)))
    ap.add_argument("--original-dir", default=env("HOTDOG_REFERENCE", os.path.join(
                        os.path.dirname(ROOT), "shared", "reference", "hotdog-0.5.1")),
                    help="folder of the original hotdog 0.5.1 binary (contender original; skipped "
                         "when it is missing)")
    ap.add_argument("--original-lines", type=int, default=int(env("BENCH_ORIGINAL_LINES", 200000)),
                    help="the original replays the first this many lines of the corpus (it is slow)")
    ap.add_argument("--kafka-port", type=int, default=int(env("BENCH_KAFKA_PORT", 19492)))
    ap.add_argument("--baseline", default=env("BENCH_BASELINE", ""),
                    help="another hotdog binary, run as contender hotdog-baseline (same config as hotdog)")
    ap.add_argument("--kafka-dir", default=env("KAFKA_DIR", os.path.join(ROOT, ".kafka")))
    ap.add_argument("--build", default=env("B", os.path.join(ROOT, "build")))
    ap.add_argument("--out", default=env("BENCH_OUT", "bench/results"),
                    help="where results.json and summary.md go (relative to the repository)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds between start and first byte")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    ap.add_argument("--timeout", type=float, default=float(env("BENCH_TIMEOUT", 180)))
    return ap


def main():
    Bench(arg_parser().parse_args()).main()


if __name__ == "__main__":
    main()
