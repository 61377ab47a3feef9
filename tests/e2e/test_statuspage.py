"""The status page (src/status.html) in headless Chromium against a fake /stats; no hotdog, no Kafka.

The fake daemon's clock advances exactly 1 s per /stats request, so the rates the page
computes (from uptime_s deltas) are exact whatever the real or virtual timing.
"""
import html.parser
import http.server
import json
import re
import threading
from pathlib import Path

import pytest

import statuspage

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "src" / "status.html"

TOPICS = {"logs.app": (600, 594), "audit_x-1": (400, 396)}   # produced/s, delivered/s


def fake_stats(t):
    s = {"received": 1000 * t, "lines": 997 * t, "connections": 4, "kafka.produced": 1000 * t,
         "kafka.submitted": 990 * t,
         "kafka.delivered": 990 * t, "kafka.failed": 0, "unmatched": 10 * t,
         "rule.0.matched": 700 * t, "rule.1.matched": 290 * t,
         "error.log_parse": 3, "error.never_seen": 0,
         "kafka.outq": 12, "kafka.brokers_up": 1, "kafka.rtt_avg_us": 1830,
         "something.new": 7,
         "relp.sessions": 3, "relp.messages": 50 * t, "relp.responses.200": 48 * t,
         "relp.responses.500": 2, "relp.unanswered": 17, "relp.oldest_unanswered_ms": 4200,
         "relp.error.frame": 0}
    for name, (sub, dlv) in TOPICS.items():
        s[f"kafka.produced.{name}"] = sub * t
        s[f"kafka.submitted.{name}"] = dlv * t
        s[f"kafka.delivered.{name}"] = dlv * t
    return {"message": "hotdog 0.1.0", "uptime_s": float(t), "stats": s}


class FakeDaemon:
    """Serves the page at / and a fake /stats. mode: 'ok'; '500' (always fails);
    'drop' (good for `good` requests, then closes connections without answering)."""

    def __init__(self, mode="ok", good=3):
        self.mode, self.good, self.hits = mode, good, 0
        self.page = PAGE.read_bytes()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/":
                    return self.reply(200, "text/html; charset=utf-8", outer.page)
                if self.path.split("?")[0] != "/stats":
                    return self.reply(404, "text/plain", b"not found\n")
                outer.hits += 1
                n = outer.hits
                if outer.mode == "500" or (outer.mode == "drop" and n > outer.good):
                    if outer.mode == "drop":
                        self.close_connection = True
                        return
                    return self.reply(500, "text/plain", b"boom\n")
                self.reply(200, "application/json", json.dumps(fake_stats(10 + n)).encode())

            def reply(self, code, ctype, body):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Dom(html.parser.HTMLParser):
    """Text of every element with an id, and the attributes of every element."""
    VOID = {"meta", "link", "br", "hr", "img", "input", "source", "wbr", "area", "col", "base"}

    def __init__(self, text):
        super().__init__()
        self.text, self.elements, self.stack = {}, [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag not in self.VOID:
            self.stack.append(a.get("id"))
            if a.get("id"):
                self.text[a["id"]] = ""

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for i in self.stack:
            if i:
                self.text[i] += data

    def keys(self, tag="tr"):
        return [a["data-key"] for t, a in self.elements if t == tag and "data-key" in a]

    def has_attr(self, id_, name):
        return any(name in a for _, a in self.elements if a.get("id") == id_)


def rate(text):
    m = re.fullmatch(r"\s*([0-9.]+)/s\s*", text)
    assert m, f"not a rate: {text!r}"
    return float(m.group(1))


@pytest.fixture(autouse=True)
def need_chromium():
    if not statuspage.available():
        pytest.skip(statuspage.MISSING)


def test_page_is_self_contained():
    src = PAGE.read_text()
    assert len(src.encode()) < 20 * 1024
    assert '<meta name="viewport"' in src
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", src), "external asset"
    assert not re.search(r"\beval\s*\(|new Function", src)
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", src), "inline event handler"


def test_live_page_shows_rates_topics_rules_errors(tmp_path):
    png = tmp_path / "status.png"
    with FakeDaemon() as d:
        dom = statuspage.render(d.url, png, wait_ms=4000)
        hits = d.hits
    assert hits >= 4, f"only {hits} polls of /stats in 4 s of page time"
    p = Dom(dom)
    assert p.text["conn"].strip() == "live"
    assert p.has_attr("lost", "hidden")
    assert rate(p.text["rate-lines"]) == pytest.approx(1000, rel=0.01)
    assert rate(p.text["rate-delivered"]) == pytest.approx(990, rel=0.01)
    assert p.text["connections"].strip() == "4"
    assert p.text["version"].strip() == "hotdog 0.1.0"

    assert set(TOPICS) <= set(p.keys())
    topics = p.text["topics"]
    for name in TOPICS:
        assert name in topics
    assert "594.0/s" in topics and "396.0/s" in topics
    rules = p.text["rules"]
    assert "rule.0" in rules and "rule.1" in rules and "700.0/s" in rules
    errors = p.text["errors"]
    assert "error.log_parse" in errors and "error.never_seen" not in errors
    kafka = p.text["kafka"]
    assert "brokers_up" in kafka and "rtt_avg_us" in kafka and "1.83 ms" in kafka
    assert "something.new" in p.text["other"]
    relp = p.text["relp"]  # RELP has its own table, what waits for Kafka first
    assert not p.has_attr("relp-section", "hidden")
    assert relp.index("unanswered") < relp.index("sessions"), relp
    assert "4200 ms" in relp and "responses.500" in relp and "relp." not in p.text["other"]
    assert "relp.error.frame" not in errors
    raw = json.loads(p.text["raw"])
    assert raw["stats"]["connections"] == 4
    assert p.has_attr("raw", "hidden")
    assert "<path" in dom and "series-rl" in dom, "no chart line drawn"

    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")) == (1280, 900)
    assert png.stat().st_size > 20000


def test_connection_lost_from_the_start(tmp_path):
    with FakeDaemon(mode="500") as d:
        dom = statuspage.render(d.url, tmp_path / "lost.png", wait_ms=2000)
    p = Dom(dom)
    assert p.text["conn"].strip() == "connection lost"
    assert not p.has_attr("lost", "hidden")
    assert "HTTP 500" in p.text["lost"]
    assert "no data yet" in p.text["lost"]
    assert (tmp_path / "lost.png").stat().st_size > 10000


def test_connection_lost_after_data_keeps_last_values(tmp_path):
    with FakeDaemon(mode="drop", good=3) as d:
        dom = statuspage.render(d.url, tmp_path / "dropped.png", wait_ms=5000)
    p = Dom(dom)
    assert p.text["conn"].strip() == "connection lost"
    assert not p.has_attr("lost", "hidden")
    assert "last data" in p.text["lost"]
    assert rate(p.text["rate-lines"]) == pytest.approx(1000, rel=0.01)
    assert "logs.app" in p.text["topics"]
