"""Drop-in compatibility: the original hotdog 0.5.1 and ours, side by side, on one broker.

For every configuration (the original's own examples, unpacked from the reference tarball, and
ours in tests/compat/configs/, all in the original's format) both daemons get the same corpus
(tests/compat/corpus.txt) over one connection, one after the other. What each one produced is
read back from Kafka (every topic whose end offset moved during its run) and compared per topic
as the ordered list of (key, payload); so are the statsd names each one sent, and the `-t`
output for every configuration the original's `-t` can run.

Every difference we allow is in ALLOWED below, with its reason; doc/migrating.md's "Where this hotdog
differs from the original" lists the same ones. Skips with a clear message where the reference
binary is missing (it lives outside the repository, in ../shared/reference/hotdog-0.5.1/).
"""
import difflib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OURS = Path(os.environ.get("HOTDOG_BIN", ROOT / "build" / "hotdog"))
REF_DIR = Path(os.environ.get("HOTDOG_REFERENCE", ROOT.parent / "shared" / "reference" / "hotdog-0.5.1"))
REF = REF_DIR / "hotdog"
REF_SRC = REF_DIR / "hotdog-0.5.1-src.tar.gz"
KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "9092"))
BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"
CORPUS = HERE / "corpus.txt"

if not (REF.is_file() and os.access(REF, os.X_OK) and REF_SRC.is_file()):
    pytest.skip(f"SKIPPED: the original hotdog is not at {REF_DIR} (set HOTDOG_REFERENCE): "
                "the drop-in comparison needs it", allow_module_level=True)

# ---------------------------------------------------------------------------------------------
# The allowed differences, each with its reason (doc/migrating.md repeats them). Each is a predicate
# over one message pair or one extra message; nothing else may differ.
# ---------------------------------------------------------------------------------------------

ALLOWED = {
    "{{version}} is our version":
        "the variable names the program that processed the message; the original says 0.5.1",
    "JSON payloads equal as JSON values":
        "allowed by the issue; reported, and none are expected (we write serde_json's form)",
    "lines the original cannot parse are forwarded":
        "a line with no syslog timestamp is dropped by the original (error.log_parse); we never "
        "drop a line: it goes through the rules with the whole line as msg",
}

# Topics only we produce to, per configuration, and why.
EXTRA_TOPICS = {
    "orig:hotdog.yml": {
        "5": "a JMESPath result that is not a string (meta.topic = 5): the original leaves "
             "{{value}} unset, renders the topic empty and loses the message (invalidtopic); "
             "ours renders the value as JSON and delivers it",
    },
}

# statsd names only the original sends, per configuration, and why.
MISSING_NAMES = {
    "orig:hotdog.yml": {
        "kafka.producer.error": "the same message: the original fails it on the empty topic",
        "kafka.producer.error.invalidtopic": "the same message: the original fails it on the empty topic",
    },
}

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(?:\d{3}|\d{6}|\d{9}))?\+00:00")


def normalise(payload):
    """The processing-time variable differs by nature; its form must not."""
    return ISO.sub("<iso8601>", payload) if payload is not None else None


# ---------------------------------------------------------------------------------------------
# Kafka: which topics moved, and what was appended to them.
# ---------------------------------------------------------------------------------------------

OTHER_SUITES = re.compile(r"^[a-z]+-[0-9a-f]{12}$")


def end_offsets():
    r = subprocess.run(["kcat", "-L", "-J", "-b", BOOTSTRAP], capture_output=True, text=True,
                       timeout=60, check=True)
    meta = json.loads(r.stdout)
    out = {}
    for t in meta["topics"]:
        # Internal topics, and the per-test topics of other suites (unique_topic() in
        # tests/e2e) that may share this broker while we run.
        if t["topic"].startswith("__") or OTHER_SUITES.match(t["topic"]):
            continue
        for p in t["partitions"]:
            out[(t["topic"], p["partition"])] = None
    if not out:
        return {}
    args = ["kcat", "-Q", "-b", BOOTSTRAP]
    for (topic, part) in out:
        args += ["-t", f"{topic}:{part}:-1"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    for line in r.stdout.splitlines():
        m = re.match(r"^(.*) \[(\d+)\] offset (-?\d+)$", line)
        if m:
            out[(m.group(1), int(m.group(2)))] = int(m.group(3))
    return {k: v for k, v in out.items() if v is not None}


def read_new(before, after):
    """{topic: [(key, payload), ...]} of what was appended between two end_offsets()."""
    got = {}
    for (topic, part), end in sorted(after.items()):
        start = before.get((topic, part), 0)
        if end <= start:
            continue
        r = subprocess.run(["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-p", str(part), "-o",
                            str(start), "-c", str(end - start), "-e", "-J", "-q"],
                           capture_output=True, text=True, timeout=60)
        # split("\n"), not splitlines(): payloads may hold U+0085 or U+2028, which kcat
        # writes as they are.
        msgs = [json.loads(l) for l in r.stdout.split("\n") if l.strip()]
        got.setdefault(topic, []).extend((m.get("key"), m.get("payload")) for m in msgs)
    return got


def wait_settled(before, quiet=3.0, timeout=90.0):
    """Waits until no end offset moved for `quiet` seconds (and something moved, or the
    whole quiet period passed twice)."""
    deadline = time.monotonic() + timeout
    last, since = end_offsets(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = end_offsets()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet and (now != before or time.monotonic() - since >= 2 * quiet):
            return now
    return last


# ---------------------------------------------------------------------------------------------
# statsd: a UDP socket that keeps every name it hears.
# ---------------------------------------------------------------------------------------------

class Statsd:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            self.lines += [l for l in data.decode(errors="replace").splitlines() if l.strip()]

    def names(self):
        out = {}
        for l in self.lines:
            m = re.match(r"^hotdog\.(.+):(-?[\d.]+)\|(c|g|ms|h|t)(?:\|@[\d.]+)?$", l)
            if m:
                out.setdefault(m.group(1), m.group(3))
        return out

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


# ---------------------------------------------------------------------------------------------
# Configurations and daemons.
# ---------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", autouse=True)
def kafka():
    """The broker on KAFKA_PORT; started here (and stopped after) unless it is running."""
    env = dict(os.environ, KAFKA_PORT=str(KAFKA_PORT))
    script = str(ROOT / "scripts" / "kafka-local")
    running = subprocess.run([script, "status"], env=env, capture_output=True).returncode == 0
    if not running:
        r = subprocess.run([script, "start"], env=env, capture_output=True, text=True)
        assert r.returncode == 0, f"kafka-local start failed:\n{r.stdout}\n{r.stderr}"
    yield BOOTSTRAP
    if not running:
        subprocess.run([script, "stop"], env=env, capture_output=True)


@pytest.fixture(scope="module")
def original_tree(tmp_path_factory):
    """The original's source tree (its example configs and contrib/ certificates), unpacked
    for this run only."""
    d = tmp_path_factory.mktemp("orig")
    with tarfile.open(REF_SRC) as t:
        t.extractall(d, filter="data")
    return next(d.iterdir())


ORIGINAL_CONFIGS = ["hotdog.yml", "examples/simple-plaintext/hotdog.yml",
                    "test/configs/single-rule-with-merge.yml",
                    "test/configs/single-rule-with-replace.yml",
                    "test/configs/single-rule-with-hostname-field.yml"]
OUR_CONFIGS = sorted(p.name for p in (HERE / "configs").glob("*.yml"))
CASES = [f"orig:{c}" for c in ORIGINAL_CONFIGS] + [f"ours:{c}" for c in OUR_CONFIGS]


def load_case(case, original_tree):
    kind, name = case.split(":", 1)
    path = (original_tree / name) if kind == "orig" else (HERE / "configs" / name)
    return path, yaml.safe_load(path.read_text())


def rewrite(cfg, port, statsd_port, base_dir):
    """The same configuration pointed at this run's ports and broker; nothing else changes."""
    g = cfg["global"]
    g["listen"]["address"] = "127.0.0.1"
    g["listen"]["port"] = port
    tls = g["listen"].get("tls")
    if isinstance(tls, dict):
        for k in ("cert", "key", "ca"):
            if tls.get(k):
                tls[k] = str((base_dir / tls[k]).resolve())
    g["kafka"]["conf"]["bootstrap.servers"] = BOOTSTRAP
    g["metrics"] = dict(g.get("metrics") or {}, statsd=f"127.0.0.1:{statsd_port}")
    g.pop("status", None)
    return cfg


class Daemon:
    def __init__(self, which, cfg, tmp, env=None):
        self.which = which
        self.cfgfile = tmp / f"{which}.yml"
        self.cfgfile.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.log = tmp / f"{which}.log"
        self.logf = open(self.log, "wb")
        binary = REF if which == "original" else OURS
        self.proc = subprocess.Popen([str(binary), "-c", str(self.cfgfile)], cwd=tmp,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, RUST_LOG="warn", **(env or {})))

    def output(self):
        return self.log.read_text(errors="replace")

    def wait_listening(self, port, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"{self.which} exited:\n{self.output()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{self.which} never listened on {port}:\n{self.output()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


# The original hands every message to a task of its own on its way to Kafka, so two messages
# read in the same instant can reach librdkafka (and a partition) in either order; lines paced
# this far apart arrive in the order they were sent. Ours keeps a connection's order by
# construction (one worker reads it and produces in order), so it gets the corpus at once.
ORIGINAL_PACE_S = 0.004


def send_corpus(port, use_tls, data, pace=0.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    if use_tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s)
    if pace:
        for line in data.splitlines(keepends=True):
            s.sendall(line)
            time.sleep(pace)
    else:
        s.sendall(data)
    if use_tls:
        # close_notify; the original never answers it, so do not wait for its reply.
        s.settimeout(1.0)
        try:
            s = s.unwrap()
        except (OSError, ssl.SSLError):
            pass
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    s.close()


def run_one(which, cfg_text_base, cfg_path, tmp, corpus):
    """Starts one daemon on the configuration, sends the corpus, returns what it produced."""
    statsd = Statsd()
    port = free_port()
    cfg = rewrite(yaml.safe_load(cfg_text_base), port, statsd.port, cfg_path.parent)
    use_tls = isinstance(cfg["global"]["listen"].get("tls"), dict)
    before = end_offsets()
    d = Daemon(which, cfg, tmp)
    try:
        d.wait_listening(port)
        time.sleep(1.0)  # the original connects to Kafka before it accepts; give both a moment
        send_corpus(port, use_tls, corpus, ORIGINAL_PACE_S if which == "original" else 0.0)
        after = wait_settled(before)
    finally:
        d.stop()
        time.sleep(1.5)  # our last statsd flush happens at shutdown
        statsd.close()
    return read_new(before, after), statsd.names(), d.output()


def rejected_lines(original_log):
    """Lines the original could not parse, from its own log."""
    return {m.group(1) for m in re.finditer(r"Message received we cannot parse: (.*)", original_log)}


def reorder_corpus(data, rejected):
    """The corpus for our run: the lines the original accepted, in order, then the ones it
    rejected. Whatever we forward from the latter then comes last on every topic, where the
    comparison can tell it apart from everything else."""
    lines = data.split(b"\n")[:-1]
    keep = [l for l in lines if l.decode(errors="replace") not in rejected]
    tail = [l for l in lines if l.decode(errors="replace") in rejected]
    return b"".join(l + b"\n" for l in keep + tail), len(tail)


def our_version():
    r = subprocess.run([str(OURS), "--version"], capture_output=True, text=True)
    m = re.search(r"(\d+\.\d+\.\d+)", r.stdout + r.stderr)
    assert m, f"no version in `hotdog --version`: {r.stdout!r} {r.stderr!r}"
    return m.group(1)


def key_of(msg, version):
    """What two messages must share to be the same message, allowed differences folded away:
    the processing time and {{version}} (the original's is 0.5.1)."""
    k, p = msg
    if p is not None:
        p = normalise(p).replace("0.5.1", version)
    return (k, p)


def align(a, b, version):
    """(pairs, only_a, only_b): a and b, lists of (position, message), aligned in order by
    difflib over key_of."""
    ka = [key_of(m, version) for _, m in a]
    kb = [key_of(m, version) for _, m in b]
    pairs, only_a, only_b = [], [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=ka, b=kb, autojunk=False).get_opcodes():
        if op == "equal":
            pairs += zip(a[i1:i2], b[j1:j2])
        else:
            only_a += a[i1:i2]
            only_b += b[j1:j2]
    return pairs, only_a, only_b


def compare(orig, ours, n_rejected, version, extra_topics):
    """Returns (problems, allowed) as lists of text. Messages are aligned per topic in order;
    what is left over on either side is a problem, except our messages from the lines the
    original rejected (sent to us last, so they are the tail of a topic: at most
    n_rejected of them over all topics) and topics listed in extra_topics."""
    n_extra = 0
    problems, allowed = [], []
    for topic in sorted(set(orig) | set(ours)):
        a, b = orig.get(topic, []), ours.get(topic, [])
        if topic in extra_topics and not a:
            allowed.append(f"{topic}: {len(b)} message(s): {extra_topics[topic]}")
            continue
        pairs, only_a, only_b = align(list(enumerate(a)), list(enumerate(b)), version)
        last = max((j for _, (j, _) in pairs), default=-1)
        pairs = [(x, y) for (_, x), (_, y) in pairs]
        for x, y in pairs:
            if normalise(x[1]) != normalise(y[1]):
                allowed.append(f"{topic}: version: {x[1]!r} / {y[1]!r}")
        if len(only_a) == len(only_b) and all(x[0] == y[0] and json_equal(x[1], y[1])
                                              for (_, x), (_, y) in zip(only_a, only_b)):
            allowed += [f"{topic}: equal as JSON values: {x[1]!r} / {y[1]!r}"
                        for (_, x), (_, y) in zip(only_a, only_b)]
            only_a, only_b = [], []
        # Ours from rejected lines: after every message both produced on this topic.
        extra = [m for j, m in only_b if j > last]
        if extra:
            n_extra += len(extra)
            allowed.append(f"{topic}: {len(extra)} message(s) from lines the original rejects")
        only_a = [m for _, m in only_a]
        only_b = [m for j, m in only_b if j <= last]
        if only_a or only_b:
            problems.append(f"{topic}: original {len(a)} message(s), ours {len(b)}; "
                            f"{len(only_a)} only in the original, {len(only_b)} only in ours\n" +
                            "".join(f"  original only: {m!r}\n" for m in only_a[:8]) +
                            "".join(f"  ours only:     {m!r}\n" for m in only_b[:8]))
    if n_extra > n_rejected:
        problems.append(f"{n_extra} message(s) at the end of our topics, but only {n_rejected} "
                        "line(s) were rejected by the original")
    return problems, allowed


def json_equal(a, b):
    try:
        return json.loads(a) == json.loads(b)
    except (TypeError, ValueError):
        return False


@pytest.mark.parametrize("case", CASES)
def test_same_kafka_output_and_statsd_names(case, original_tree, tmp_path):
    cfg_path, _ = load_case(case, original_tree)
    base = cfg_path.read_text()
    (tmp_path / "o").mkdir()
    (tmp_path / "n").mkdir()
    # The original's own hotdog.yml reads ./contrib/*.pem relative to its directory.
    if (cfg_path.parent / "contrib").is_dir():
        for t in ("o", "n"):
            shutil.copytree(cfg_path.parent / "contrib", tmp_path / t / "contrib")
    data = CORPUS.read_bytes()  # once: both runs get the same lines
    orig, orig_names, orig_log = run_one("original", base, cfg_path, tmp_path / "o", data)
    corpus, n_rejected = reorder_corpus(data, rejected_lines(orig_log))
    ours, our_names, our_log = run_one("ours", base, cfg_path, tmp_path / "n", corpus)
    problems, allowed = compare(orig, ours, n_rejected, our_version(), EXTRA_TOPICS.get(case, {}))
    print(f"{case}: original produced {sum(map(len, orig.values()))} message(s) to "
          f"{len(orig)} topic(s); ours {sum(map(len, ours.values()))}; "
          f"allowed differences: {len(allowed)}")
    for a in allowed[:20]:
        print("  allowed:", a)
    missing = sorted(set(orig_names) - set(our_names) - set(MISSING_NAMES.get(case, {})))
    if missing:
        problems.append(f"statsd names the original sent and we did not: {missing}")
    assert not problems, "\n".join(problems) + f"\n--- our log:\n{our_log[-3000:]}"


TEST_MODE_CASES = [c for c in CASES]


@pytest.mark.parametrize("case", TEST_MODE_CASES)
def test_same_test_mode_text(case, original_tree, tmp_path):
    cfg_path, cfg = load_case(case, original_tree)
    if any("jmespath" in r for r in cfg.get("rules") or []):
        pytest.skip("the original's -t aborts on a configuration with a JMESPath rule")
    cfg = rewrite(cfg, free_port(), free_port(), cfg_path.parent)
    f = tmp_path / "t.yml"
    f.write_text(yaml.safe_dump(cfg, sort_keys=False))
    if (cfg_path.parent / "contrib").is_dir():
        shutil.copytree(cfg_path.parent / "contrib", tmp_path / "contrib")
    out = {}
    for which, binary in (("original", REF), ("ours", OURS)):
        r = subprocess.run([str(binary), "-c", str(f), "-t", str(CORPUS)], cwd=tmp_path,
                           capture_output=True, timeout=120, env=dict(os.environ, RUST_LOG="error"))
        assert r.returncode == 0, f"{which} -t exited {r.returncode}:\n{r.stderr.decode(errors='replace')[-2000:]}"
        out[which] = r.stdout.decode(errors="replace")
    assert out["ours"] == out["original"]
