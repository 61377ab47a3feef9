"""End to end: configurations the original hotdog runs, ours runs too. Unknown keys, a rule with
both matchers (jmespath wins, as in the original), a rule with neither (never matches) and an
expired certificate start, each with a FILE:LINE warning; --check lists them and exits 0,
--check --strict exits 2; the certificate's expiry shows in /stats, /metrics and statsd."""
import json
import re
import signal
import subprocess
import time

import pytest

import clients
from conftest import HOTDOG, Hotdog, Statsd, config, consume, free_port, unique_topic
from test_observability import get, status_cfg


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return clients.make_pki(tmp_path_factory.mktemp("pki"))


def tls_listen(cert, key):
    return f"    tls:\n      cert: '{cert}'\n      key: '{key}'\n"


def rules(route_topic):
    return f"""rules:
  - regex: '^never'
    jmespath: 'route'
    field: msg
    description: 'unknown to both daemons'
    actions:
      - type: forward
        topic: '{{{{value}}}}'
      - type: stop
        topic: 'ignored, as by the original'
  - field: msg
    actions:
      - type: forward
        topic: '{route_topic}-never'
  - regex: '.*'
    actions:
      - type: forward
"""


def check(cfg, *extra):
    return subprocess.run([HOTDOG, "--check", *extra, "-c", str(cfg)], capture_output=True,
                          text=True, timeout=30)


def warnings_of(text, cfg):
    return re.findall(re.escape(str(cfg)) + r":(\d+): (.*)", text)


def test_check_lists_warnings_exits_0_and_strict_exits_2(tmp_path, pki):
    cfg = tmp_path / "orig.yml"
    cfg.write_text(config(free_port(), "t", extra_listen=tls_listen(pki.expired_cert, pki.expired_key),
                          extra_kafka="    comment: 'unknown key'\n", rules=rules("r")))
    r = check(cfg)
    assert r.returncode == 0, r.stderr
    assert "OK (3 rule(s), 6 warning(s))" in r.stdout
    found = warnings_of(r.stderr, cfg)
    text = "\n".join(f"{line}: {msg}" for line, msg in found)
    assert len(found) == 6, r.stderr
    assert "5: 'global.listen.tls.cert': TLS certificate" in text and "expired on Jan  2 00:00:00 2020 GMT" in text
    assert "11: unknown key 'global.kafka.comment' ignored" in text
    assert "18: unknown key 'rules[0].description' ignored" in text
    assert "23: unknown key 'rules[0].actions[1].topic' for a stop action ignored" in text
    assert "only jmespath is used" in text and "has neither regex nor jmespath" in text
    r = check(cfg, "--strict")
    assert r.returncode == 2
    assert "6 configuration warning(s), and --strict makes them errors" in r.stderr
    # A clean configuration has nothing to warn about, strict or not.
    clean = tmp_path / "clean.yml"
    clean.write_text(config(free_port(), "t"))
    r = check(clean, "--strict")
    assert r.returncode == 0 and "0 warning(s)" in r.stdout, r.stderr


def test_strict_refuses_to_start(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text(config(free_port(), "t", extra_kafka="    linger: 5\n"))
    r = subprocess.run([HOTDOG, "--strict", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert f"{cfg}:8: unknown key 'global.kafka.linger' ignored" in r.stderr


def test_runs_with_warnings_original_precedence_and_expiry_gauge(hotdog, pki):
    route = unique_topic("route")
    sport = free_port()
    rx = Statsd()
    statsd_port, packets, close = rx.port, rx.packets, rx.close
    try:
        h = hotdog(extra_listen=tls_listen(pki.expired_cert, pki.expired_key),
                   extra_kafka="    comment: 'unknown key'\n",
                   extra_global=status_cfg(sport, statsd_port), rules=rules(route))
        out = h.output()
        assert "'global.listen.tls.cert': TLS certificate" in out and "expired on" in out
        assert "unknown key 'global.kafka.comment' ignored" in out
        # Served although expired; a client that does not check dates talks to it.
        with clients.tls_connect("127.0.0.1", h.port) as s:
            s.sendall(json.dumps({"route": route}).encode() + b"\n")  # jmespath matches
            s.sendall(b"<13>Oct 11 22:14:15 h app: never mind\n")     # the ignored regex would
            s.unwrap()
        assert [m["payload"] for m in consume(route, 1)] == [json.dumps({"route": route})]
        assert [m["payload"] for m in consume(h.topic, 1)] == ["never mind"]

        # The gauge: seconds until notAfter (2020-01-02), negative.
        want = 1577923200 - time.time()
        _, _, body = get(sport, "/stats")
        v = json.loads(body)["stats"][f"listener.tls_{h.port}.cert_expiry_seconds"]
        assert abs(v - want) < 60, v
        _, _, text = get(sport, "/metrics")
        m = re.search(r'^hotdog_tls_cert_expiry_seconds\{listener="tls 127\.0\.0\.1:%d"\} (-?\d+)$' % h.port,
                      text, re.M)
        assert m and abs(int(m.group(1)) - want) < 60, text
        assert "# TYPE hotdog_tls_cert_expiry_seconds gauge" in text

        # SIGHUP re-reads the certificate and warns again.
        h.proc.send_signal(signal.SIGHUP)
        h.wait_log(f"tls 127.0.0.1:{h.port}: TLS certificate '{pki.expired_cert}' expired on")
        h.wait_log("SIGHUP: configuration reloaded")
        assert "SIGHUP: " + str(h.cfg) + ":11: unknown key 'global.kafka.comment' ignored" in h.output()
        time.sleep(0.5)  # one more statsd interval
        assert h.stop() == 0
    finally:
        close()
    gauge = [l for p in packets for l in p.split("\n")
             if l.startswith(f"hotdog.listener.tls_{h.port}.cert_expiry_seconds:")]
    assert gauge and gauge[-1].endswith("|g"), packets[-3:]
    assert abs(int(gauge[-1].split(":")[1].split("|")[0]) - want) < 60, gauge[-1]
    # statsd reads "-N|g" as a decrement: a negative gauge is set to 0 first, every time.
    assert want < 0 and len(gauge) >= 2 and gauge[-2].endswith(":0|g"), gauge[-4:]
    assert h.counters().get("unmatched", "0") == "0"
