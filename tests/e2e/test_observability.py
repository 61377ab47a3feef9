"""End to end: statsd, /stats, Prometheus /metrics, /healthz, /readyz against a real broker."""
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import clients
from conftest import BOOTSTRAP, ROOT, Hotdog, Statsd, config, consume, free_port, unique_topic


def get(port, path, timeout=5):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def status_cfg(port, statsd=None):
    s = f"  status:\n    address: 127.0.0.1\n    port: {port}\n"
    if statsd:
        s += f"  metrics:\n    statsd: '127.0.0.1:{statsd}'\n    interval_ms: 200\n"
    return s


RULES = """rules:
  - regex: '^keep'
    actions: [{type: forward}]
"""


def send_lines(port, lines):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall("".join(f"<13>Oct 11 22:14:15 h app: {l}\n" for l in lines).encode())


def test_statsd_receives_aggregated_counts(hotdog):
    rx = Statsd()
    packets = rx.packets
    try:
        h = hotdog(extra_global=status_cfg(free_port(), rx.port), rules=RULES)
        send_lines(h.port, [f"keep {i}" for i in range(300)] + [f"drop {i}" for i in range(20)])
        consume(h.topic, 300)
        assert h.stop() == 0  # a last flush at shutdown
    finally:
        rx.close()
    assert all(len(p) <= 1432 for p in packets)  # aggregated into datagrams, never one per message
    sums, gauges, timers = rx.parse()
    assert len(packets) < 60  # about one per 200 ms interval, however many messages
    assert sums["hotdog.lines"] == 320
    assert sums["hotdog.kafka.submitted"] == 300
    assert sums[f"hotdog.kafka.submitted.{h.topic}"] == 300
    assert sums[f"hotdog.kafka.delivered.{h.topic}"] == 300
    assert sums["hotdog.unmatched"] == 20
    assert sums["hotdog.rule.0.matched"] == 300
    assert sums["hotdog.connections.accepted"] == 1
    assert "hotdog.connections" in gauges and "hotdog.kafka.outq" in gauges
    # The original's timer: one mean per interval, its sample rate standing for the count.
    sent = timers["hotdog.kafka.producer.sent"]
    assert round(sum(1 / rate for _, rate in sent)) == 300
    assert all(0 < ms < 60000 for ms, _ in sent)


# A strict reader of the Prometheus text format (0.0.4): every sample belongs to the family
# announced by the HELP/TYPE lines just before it, each family appears once, names and labels
# are well-formed, values are numbers.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"

SAMPLE = re.compile(rf'^({NAME})(?:\{{({NAME})="((?:[^"\\\n]|\\[\\"n])*)"\}})? (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)$')
HIST_SUFFIXES = ("_bucket", "_sum", "_count")


def parse_prometheus(text):
    assert text.endswith("\n")
    families, current, samples = {}, None, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert re.fullmatch(NAME, name) and name not in families, line
            families[name] = None
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name == current and kind in ("counter", "gauge", "histogram"), line
            families[name] = kind
        else:
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            if families[current] == "histogram":
                assert m.group(1) in [current + x for x in HIST_SUFFIXES], f"bad histogram sample {line!r}"
                assert (m.group(2) == "le") == m.group(1).endswith("_bucket"), line
            else:
                assert m.group(1) == current, f"sample outside its family: {line!r}"
            key = (m.group(1), m.group(3))
            assert key not in samples, f"duplicate sample {line!r}"
            samples[key] = float(m.group(4))
    assert all(families.values())
    return families, samples


def test_metrics_is_valid_prometheus_and_counts_what_was_sent(hotdog):
    sport = free_port()
    h = hotdog(extra_global=status_cfg(sport), rules=RULES)
    send_lines(h.port, [f"keep {i}" for i in range(250)] + ["drop me"] * 5 + ["\x00garbage"])
    consume(h.topic, 250)
    deadline = time.monotonic() + 10
    while True:
        code, ctype, text = get(sport, "/metrics")
        fams, samples = parse_prometheus(text)
        if samples.get(("hotdog_kafka_delivered_total", None)) == 250 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == 200 and ctype.startswith("text/plain; version=0.0.4")
    assert fams["hotdog_lines_total"] == "counter" and fams["hotdog_connections"] == "gauge"
    assert samples[("hotdog_lines_total", None)] == 256
    assert samples[("hotdog_kafka_delivered_total", None)] == 250
    assert samples[("hotdog_kafka_topic_submitted_total", h.topic)] == 250
    assert samples[("hotdog_kafka_topic_delivered_total", h.topic)] == 250
    assert samples[("hotdog_rule_matched_total", "0")] == 250
    assert samples[("hotdog_unmatched_total", None)] == 6
    assert samples[("hotdog_errors_total", "log_parse")] == 0
    assert ("hotdog_listener_connections", f"tcp 127.0.0.1:{h.port}") in samples
    # The receive-to-ack histogram: cumulative buckets ending in +Inf, and its count.
    buckets = sorted((float(le), v) for (n, le), v in samples.items()
                     if n == "hotdog_kafka_producer_sent_seconds_bucket" and le != "+Inf")
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    assert samples[("hotdog_kafka_producer_sent_seconds_bucket", "+Inf")] == 250
    assert samples[("hotdog_kafka_producer_sent_seconds_count", None)] == 250
    assert samples[("hotdog_kafka_producer_sent_seconds_sum", None)] > 0
    # The reference parser (installed by scripts/install-deps) must agree.
    from prometheus_client.parser import text_string_to_metric_families
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert parsed["hotdog_kafka_producer_sent_seconds"].type == "histogram"
    assert parsed["hotdog_lines"].type == "counter"
    code, _, body = get(sport, "/stats")
    stats = json.loads(body)
    assert code == 200 and stats["message"].startswith("hotdog ")
    assert stats["stats"]["lines"] == 256 and stats["stats"][f"kafka.submitted.{h.topic}"] == 250
    assert get(sport, "/healthz")[:1] == (200,)
    assert get(sport, "/nope")[0] == 404
    code, ctype, page = get(sport, "/")
    assert code == 200 and ctype.startswith("text/html") and "<html" in page


def doc_metrics():
    """{(family, fixed label value or None): (name template or None, kind)} from the table of
    doc/metrics.md (generated by `make docs` from the definitions /metrics is made of)."""
    rows = {}
    for line in (ROOT / "doc" / "metrics.md").read_text().splitlines():
        m = re.match(r'^\| (?:`([^`]+)`|—) \| (counter|gauge|histogram) \| `hotdog_(\w+)(?:\{\w+="([^"]*)"\})?`', line)
        if m:
            name, kind, family, value = m.groups()
            key = (family, None if value in (None, "…") else value)
            assert key not in rows, f"doc/metrics.md lists {key} twice"
            rows[key] = (name, kind)
    assert len(rows) > 80, "doc/metrics.md: the table was not found"
    return rows


def test_doc_metrics_md_lists_every_metric_of_a_daemon(kafka, tmp_path):
    # Everything /metrics and /stats can show at once: TCP and TLS listeners, a spool, a
    # rule, deliveries to a topic and a producer error (an invalid topic name).
    pki = clients.make_pki(tmp_path / "pki")
    port, tls, sport, topic = free_port(), free_port(), free_port(), unique_topic()
    cfg = config(port, topic, extra_global=status_cfg(sport),
                 extra_kafka=f"    spool: {{path: '{tmp_path / 'spool'}'}}\n", rules="""rules:
  - regex: '^bad'
    actions: [{type: forward, topic: 'not a valid topic!'}]
  - regex: '^keep'
    actions: [{type: forward}]
""")
    # config() writes one listener as a map: make it a list, with a TLS listener.
    one = f"  listen:\n    address: '127.0.0.1'\n    port: {port}\n"
    assert one in cfg
    cfg = cfg.replace(one, f"  listen:\n    - {{address: '127.0.0.1', port: {port}}}\n"
                           f"    - {{address: '127.0.0.1', port: {tls}, "
                           f"tls: {{cert: '{pki.server_cert}', key: '{pki.server_key}'}}}}\n")
    h = Hotdog(tmp_path, cfg)
    h.port, h.topic = port, topic
    h.start()
    try:
        send_lines(h.port, ["keep 1", "bad 1"])
        consume(h.topic, 1)
        deadline = time.monotonic() + 10
        while True:
            fams, samples = parse_prometheus(get(sport, "/metrics")[2])
            if ("hotdog_kafka_producer_errors_total", "invalidtopic") in samples or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        doc = doc_metrics()
        doc_families = {f: kind for (f, _), (_, kind) in doc.items()}
        live = {"hotdog_" + f: k for f, k in doc_families.items()}
        assert {f: fams[f] for f in live if f in fams} == {f: live[f] for f in live if f in fams}, "kinds differ"
        assert sorted(set(fams) - set(live)) == [], "in /metrics, not in doc/metrics.md: run make docs"
        assert sorted(set(live) - set(fams)) == [], "in doc/metrics.md, not in /metrics of this daemon"
        # Where the doc names a label value (errors_total{error="log_parse"}), /metrics has it.
        fixed = {(f, v) for (f, v) in doc if v is not None}
        assert fixed <= {(n[len("hotdog_"):], v) for (n, v) in samples}
        # /stats names fit the doc's names, whose <parts> are filled in at run time.
        stats = json.loads(get(sport, "/stats")[2])["stats"]
        patterns = [re.compile("^" + re.sub(r"<\w+>", ".+", re.escape(n)) + "$") for n, _ in doc.values() if n]
        unknown = [n for n in stats if not any(p.match(n) for p in patterns)]
        assert unknown == [], f"/stats names not in doc/metrics.md: {unknown}"
        assert f"kafka.delivered.{h.topic}" in stats and "listener.tls_%d.cert_expiry_seconds" % tls in stats
    finally:
        h.stop()


def test_readyz_follows_the_broker(tmp_path):
    # A broker of this test's own, so stopping it disturbs no other test.
    kport, cport = free_port(), free_port()
    env = dict(os.environ, KAFKA_PORT=str(kport), KAFKA_CONTROLLER_PORT=str(cport), KAFKA_WARMUP="0")
    kafka = lambda *a: subprocess.run([str(ROOT / "scripts" / "kafka-local"), *a], env=env,
                                      capture_output=True, text=True, timeout=180)
    r = kafka("start")
    assert r.returncode == 0, r.stdout + r.stderr
    sport = free_port()
    h = None
    try:
        cfg = config(free_port(), unique_topic(), extra_global=status_cfg(sport)).replace(
            BOOTSTRAP, f"127.0.0.1:{kport}")
        h = Hotdog(tmp_path, cfg)
        h.start()

        def wait_ready(want, timeout):
            deadline = time.monotonic() + timeout
            while True:
                code, _, body = get(sport, "/readyz")
                if code == want or time.monotonic() > deadline:
                    return code, json.loads(body)

        code, body = wait_ready(200, 30)
        assert code == 200 and body["ready"] is True, body
        kafka("stop")
        code, body = wait_ready(503, 60)
        assert code == 503 and body["ready"] is False and body["reason"], body
        r = kafka("start")
        assert r.returncode == 0, r.stdout + r.stderr
        code, body = wait_ready(200, 90)
        assert code == 200, body
    finally:
        if h:
            h.stop()
        kafka("reset")  # stops it and removes its data dir: nothing left in .kafka/


def test_readyz_says_shutting_down_while_the_shutdown_flushes(tmp_path):
    """From SIGTERM on, /readyz is 503 "shutting down" (a load balancer stops sending) while
    the status server keeps answering until the shutdown's flush ends. Nothing listens at the
    broker's address, so the flush waits its whole shutdown_timeout_ms; the spool takes the
    line."""
    port, sport, nobody = free_port(), free_port(), free_port()
    cfg = config(port, unique_topic(), extra_global=status_cfg(sport),
                 extra_kafka=f"    spool: {{path: '{tmp_path / 'spool'}'}}\n"
                             "    shutdown_timeout_ms: 3000\n")
    cfg = cfg.replace("    timeout_ms: 20000\n", "    timeout_ms: 500\n")
    h = Hotdog(tmp_path, cfg, env={"KAFKA_BROKER": f"127.0.0.1:{nobody}"})
    h.port = port
    h.start()
    try:
        send_lines(port, ["waits"])
        deadline = time.monotonic() + 10
        while json.loads(get(sport, "/stats")[2])["stats"].get("received") != 1:
            assert time.monotonic() < deadline, h.output()
            time.sleep(0.05)
        assert get(sport, "/readyz")[0] == 503  # no broker: not ready, for another reason
        h.proc.terminate()
        answers = []
        while h.proc.poll() is None:
            try:
                code, _, body = get(sport, "/readyz", timeout=1)
                answers.append((code, json.loads(body).get("reason")))
                answers.append(get(sport, "/healthz", timeout=1)[0])
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # after status_stop, the server is gone
            time.sleep(0.1)
        assert h.stop() == 0, h.output()  # the line went to the spool
    finally:
        h.stop()
    assert "purged into the spool" in h.output()
    ready = [a for a in answers if isinstance(a, tuple)]
    assert (503, "shutting down") in ready, answers
    ready = ready[ready.index((503, "shutting down")):]  # those before the signal's turn may differ
    assert len(ready) >= 10, answers  # about 3 s of answers
    assert set(ready) == {(503, "shutting down")}, answers
    assert set(a for a in answers if not isinstance(a, tuple)) == {200}, answers


def test_status_page_shows_live_throughput_in_chromium(hotdog, tmp_path):
    import pytest
    import statuspage
    if not statuspage.available():
        pytest.skip(statuspage.MISSING)
    sport = free_port()
    h = hotdog(extra_global=status_cfg(sport), rules=RULES)
    stop = threading.Event()

    def stream():
        with socket.create_connection(("127.0.0.1", h.port)) as s:
            i = 0
            # A steady trickle, not bursts: Chromium's virtual clock can make two polls of
            # /stats a few real milliseconds apart, and both must see the count move.
            while not stop.is_set():
                s.sendall(b"".join(f"<13>Oct 11 22:14:15 h app: keep {i + k}\n".encode() for k in range(10)))
                i += 10
                time.sleep(0.0005)

    t = threading.Thread(target=stream)
    t.start()
    try:
        time.sleep(1)
        out = ROOT / "build" / "test-output"
        out.mkdir(parents=True, exist_ok=True)
        png = out / "status-page.png"
        dom = statuspage.render(f"http://127.0.0.1:{sport}/", str(png), wait_ms=4000)
    finally:
        stop.set()
        t.join()
    rate = float(re.search(r'id="rate-lines"[^>]*data-value="([0-9.]+)"', dom).group(1))
    # The rate shown last is over the last two polls, which Chromium's virtual clock makes a
    # few real milliseconds apart: under TSan, with Chromium taking the CPU, the workers can
    # stand still for that long (seen once in a CI run: 0.0). The chart keeps every rate the
    # page computed: some point of the received series must lie above its 0/s line.
    zero = float(re.search(r'<text[^>]*y="([0-9.]+)"[^>]*>0/s</text>', dom).group(1)) - 4
    path = re.search(r'<path d="([^"]+)"[^>]*class="series-rl"', dom)
    ys = [float(y) for y in re.findall(r"[ML][0-9.]+ ([0-9.]+)", path.group(1))] if path else []
    assert rate > 0 or any(y < zero - 1 for y in ys), f"no throughput shown (rate {rate}, chart {ys})"
    assert h.topic in dom and "rule.0" in dom
    assert 'id="conn" class="ok"' in dom or ">live<" in dom
    assert png.stat().st_size > 20000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
