"""End to end (issue 15): what a forward puts in a Kafka record besides its payload, read back
with kcat from the real broker.

- `headers:` (name -> template) become the record's headers, in the order written;
- `timestamp: message` sets the record timestamp from the message's own (RFC 5424 with its
  offset, to the millisecond), falling back to the receive time; the default is the receive time;
- `format: json` sends the whole parsed message as one JSON object, always valid UTF-8;
- `{{json name}}` in a template inserts a JSON string literal (null when absent);
- a spool written by the previous version (segment magic HDSPOOL2, tests/data/spool-v2) replays.
"""
import json
import shutil
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import BOOTSTRAP, ROOT, consume, unique_topic

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None,
                                reason="kcat is not installed (Debian package kcat): these tests "
                                       "read what hotdog wrote to Kafka with it")

SPOOL_V2 = ROOT / "tests" / "data" / "spool-v2"


def send_tcp(port, lines):
    """Sends lines (str or bytes) over one TCP connection, LF-framed."""
    data = b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l in lines)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(data)


def read_once(topic):
    """One pass of kcat -J over the whole topic; [] when the topic does not exist (yet)."""
    r = subprocess.run(["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-o", "beginning", "-e",
                        "-J", "-q"], capture_output=True, text=True, timeout=60)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def read(topic, n, timeout=30):
    """kcat -J envelopes of topic, exactly n of them (waits for n, then checks none is extra)."""
    msgs = consume(topic, n, timeout=timeout)
    assert len(msgs) == n, f"{topic}: {len(msgs)} message(s), expected {n}: {msgs}"
    return msgs


def read_raw(topic, n, timeout=30):
    """The payloads of topic as bytes, exactly as stored (kcat -J would have to re-encode
    them): kcat prints `offset length\\n` then the payload's bytes, then a newline."""
    deadline = time.monotonic() + timeout
    while True:
        r = subprocess.run(["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-o", "beginning", "-e",
                            "-q", "-f", "%o %S\\n%s\\n"], capture_output=True, timeout=60)
        out, i, payloads = r.stdout, 0, []
        while i < len(out):
            nl = out.index(b"\n", i)
            _, length = (int(x) for x in out[i:nl].split())
            length = max(length, 0)  # -1: a null payload
            payloads.append(out[nl + 1:nl + 1 + length])
            assert out[nl + 1 + length:nl + 2 + length] == b"\n", out[i:]
            i = nl + 2 + length
        if len(payloads) >= n or time.monotonic() > deadline:
            assert len(payloads) == n, f"{topic}: {len(payloads)} payload(s), expected {n}"
            return payloads
        time.sleep(0.5)


def by_payload(msgs):
    out = {m["payload"]: m for m in msgs}
    assert len(out) == len(msgs), f"duplicate payloads: {msgs}"
    return out


def epoch_ms(iso):
    """Exact integer ms since the epoch (no float rounding), fractions below a ms dropped."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (dt - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


# --------------------------------------------------------------------------- headers

def test_headers_are_rendered_per_message_in_the_order_written(hotdog):
    plain = unique_topic("hdr-none")
    rules = f"""rules:
  - regex: '^no headers'
    actions:
      - type: forward
        topic: '{plain}'
  - regex: '.*'
    actions:
      - type: forward
        key: '{{{{hostname}}}}'
        headers:
          host: '{{{{hostname}}}}'
          app: '{{{{appname}}}}'
          origin: 'hotdog'
          pair: '{{{{appname}}}}-on-{{{{hostname}}}}'
"""
    h = hotdog(rules=rules)
    send_tcp(h.port, [
        "<14>1 2026-03-01T10:00:00.123+02:00 web-01 nginx 42 - - hello 5424",
        "<13>Oct 11 22:14:15 db7 postgres[99]: hello 3164",
        "<14>1 - app-host billing - - - third one",
        "<13>Oct 11 22:14:15 mymachine su: no headers here",
    ])

    got = by_payload(read(h.topic, 3))
    assert set(got) == {"hello 5424", "hello 3164", "third one"}  # raw: today's payload (msg)
    want = {
        "hello 5424": ("web-01", "nginx"),
        "hello 3164": ("db7", "postgres"),
        "third one": ("app-host", "billing"),
    }
    for payload, (host, app) in want.items():
        m = got[payload]
        assert m["key"] == host
        assert m["headers"] == ["host", host, "app", app, "origin", "hotdog",
                                "pair", f"{app}-on-{host}"], m

    # A forward without `headers:` sends none (kcat -J then prints no "headers" at all).
    [m] = read(plain, 1)
    assert m["payload"] == "no headers here"
    assert m.get("headers") in (None, []), m

    assert h.stop() == 0, h.output()
    c = h.counters()
    assert c["received"] == "4" and c["kafka.delivered"] == "4", c


# --------------------------------------------------------------------------- timestamp

def test_record_timestamp_message_receive_and_default(hotdog):
    msg_topic, recv_topic = unique_topic("ts-msg"), unique_topic("ts-recv")
    rules = f"""rules:
  - regex: '^msgts '
    actions:
      - type: forward
        topic: '{msg_topic}'
        timestamp: message
  - regex: '^recv '
    actions:
      - type: forward
        topic: '{recv_topic}'
        timestamp: receive
  - regex: '.*'
    actions:
      - type: forward
"""
    h = hotdog(rules=rules)  # the last rule: the global topic, no `timestamp:` (the default)
    own = {  # payload -> the message's own timestamp, as written
        "msgts offset": "2026-03-01T10:00:00.123+02:00",
        "msgts micro": "2026-03-01T10:00:00.123456Z",
        "msgts negative": "2025-12-31T23:59:59-05:30",
        "msgts zulu": "2026-02-03T04:05:06Z",
    }
    lines = [f"<14>1 {ts} host app - - - {p}" for p, ts in own.items()]
    lines += ["<14>1 - host app - - - msgts none",  # no timestamp: the receive time
              "msgts unparsed line"]                 # not syslog at all: the receive time
    # Messages with a timestamp of their own, which the default and `receive` do not use.
    old = "2020-01-02T03:04:05.678Z"
    lines += [f"<14>1 {old} host app - - - recv {i}" for i in range(3)]
    lines += [f"<14>1 {old} host app - - - default {i}" for i in range(3)]
    lines += ["<13>Oct 11 22:14:15 host app: default 3164", "default unparsed"]
    sent_ms = time.time() * 1000
    send_tcp(h.port, lines)

    got = by_payload(read(msg_topic, 6))
    assert epoch_ms("2026-03-01T08:00:00.123+00:00") == 1772352000123  # the test's own arithmetic
    for payload, ts in own.items():
        assert got[payload]["ts"] == epoch_ms(ts), (payload, ts, got[payload])
        assert got[payload]["tstype"] == "create"
    assert got["msgts offset"]["ts"] == 1772352000123
    assert got["msgts micro"]["ts"] == 1772359200123  # truncated to the millisecond
    assert got["msgts negative"]["ts"] == 1767245399000
    for payload in ("msgts none", "msgts unparsed line"):
        assert abs(got[payload]["ts"] - sent_ms) <= 60_000, (payload, got[payload], sent_ms)

    for topic, n in ((recv_topic, 3), (h.topic, 5)):
        for m in read(topic, n):
            assert m["tstype"] == "create"
            assert abs(m["ts"] - sent_ms) <= 60_000, (m, sent_ms)
    assert h.stop() == 0, h.output()


# --------------------------------------------------------------------------- format: json

BOM = b"\xef\xbb\xbf"
SD_5424 = (b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
           b'[meta@1 q="a\\"b\\\\c\\]d"]')
LINE_5424 = (b"<165>1 2026-03-01T10:00:00.123+02:00 host1 app1 1234 ID47 " + SD_5424 + b" "
             + BOM + "BOM message été".encode())
LINE_3164 = b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"
LINE_3164_PID = b"<13>Nov 30 12:00:00 host app[77]: hello pid"
LINE_UNPARSED = b"just a line that is not syslog"
BAD_MSG = b"bad \xff\xfe bytes \xc3 end"  # one U+FFFD per invalid byte, whatever the policy
LINE_BAD = b'<13>1 - badhost - - - [x@1 v="a\xffb"] ' + BAD_MSG


def absent(doc, name):
    """An absent field may be omitted or null."""
    return doc.get(name) is None


def test_format_json_records_parse_with_the_expected_fields(hotdog):
    cap_topic, rep_topic = unique_topic("json-cap"), unique_topic("json-rep")
    rules = f"""rules:
  - regex: '^order (?P<order_id>\\d+) by (?P<user>\\w+)'
    actions:
      - type: forward
        topic: '{cap_topic}'
        format: json
  - regex: '^rewrite (?P<what>\\w+)'
    actions:
      - type: replace
        template: 'rewritten {{{{what}}}} on {{{{hostname}}}}'
      - type: forward
        topic: '{rep_topic}'
        format: json
  - regex: '.*'
    actions:
      - type: forward
        format: json
"""
    h = hotdog(rules=rules)
    send_tcp(h.port, [LINE_5424, LINE_3164, LINE_3164_PID, LINE_UNPARSED, LINE_BAD,
                      b"<14>1 2026-03-01T10:00:00Z shop web - - - order 12345 by alice",
                      b"<14>1 2026-03-01T10:00:00Z shop web - - - rewrite cart"])

    docs = []
    for raw in read_raw(h.topic, 5):
        text = raw.decode("utf-8")  # strict: the record is valid UTF-8
        doc = json.loads(text)
        assert isinstance(doc, dict), text
        assert "\n" not in text, "one compact object"
        docs.append(doc)
    by_msg = {d["msg"].lstrip("\ufeff"): d for d in docs}
    assert len(by_msg) == 5, docs

    d = by_msg["BOM message été"]
    assert d["msg"] in ("BOM message été", "\ufeffBOM message été")
    assert (d["facility"], d["severity"]) == ("local4", "notice")
    assert d["timestamp"] == "2026-03-01T10:00:00.123+02:00"
    assert (d["hostname"], d["appname"], d["procid"], d["msgid"]) == ("host1", "app1", "1234", "ID47")
    assert d["structured_data"] == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "meta@1": {"q": 'a"b\\c]d'},  # \" \\ \] unescaped
    }
    assert absent(d, "captures") or d["captures"] == {}  # the '.*' rule has no named group
    assert absent(d, "payload")

    d = by_msg["'su root' failed for lonvick on /dev/pts/8"]
    assert (d["facility"], d["severity"]) == ("auth", "crit")
    assert d["timestamp"] == "Oct 11 22:14:15"
    assert (d["hostname"], d["appname"]) == ("mymachine", "su")
    assert absent(d, "procid") and absent(d, "msgid")
    assert absent(d, "structured_data") or d["structured_data"] == {}
    assert absent(d, "payload")

    d = by_msg["hello pid"]
    assert (d["facility"], d["severity"]) == ("user", "notice")
    assert (d["timestamp"], d["hostname"], d["appname"], d["procid"]) == (
        "Nov 30 12:00:00", "host", "app", "77")

    d = by_msg[LINE_UNPARSED.decode()]
    for f in ("facility", "severity", "timestamp", "hostname", "appname", "procid", "msgid"):
        assert absent(d, f), (f, d)
    assert absent(d, "structured_data") or d["structured_data"] == {}

    want_bad = BAD_MSG.decode("utf-8", "replace")
    assert want_bad == "bad \ufffd\ufffd bytes \ufffd end"
    d = by_msg[want_bad]
    assert (d["facility"], d["severity"], d["hostname"]) == ("user", "notice", "badhost")
    assert absent(d, "timestamp") and absent(d, "appname")
    assert d["structured_data"] == {"x@1": {"v": "a\ufffdb"}}

    [raw] = read_raw(cap_topic, 1)
    d = json.loads(raw.decode("utf-8"))
    assert d["msg"] == "order 12345 by alice"
    assert (d["hostname"], d["appname"], d["timestamp"]) == ("shop", "web", "2026-03-01T10:00:00Z")
    assert (d["facility"], d["severity"]) == ("user", "info")
    assert d["captures"] == {"order_id": "12345", "user": "alice"}
    assert absent(d, "payload")  # no action rendered one

    [raw] = read_raw(rep_topic, 1)
    d = json.loads(raw.decode("utf-8"))
    assert d["msg"] == "rewrite cart"  # the parsed field, not the rendered payload
    assert d["captures"] == {"what": "cart"}
    assert d["payload"] == "rewritten cart on shop"

    assert h.stop() == 0, h.output()
    c = h.counters()
    assert c["received"] == "7" and c["kafka.delivered"] == "7", c


# --------------------------------------------------------------------------- {{json name}}

def test_json_template_tag_makes_valid_json_of_any_msg(hotdog):
    # {{json msg}}}: the tag, then the object's closing brace.
    rules = """rules:
  - regex: '.*'
    actions:
      - type: replace
        template: '{"m": {{json msg}}}'
      - type: forward
"""
    h = hotdog(rules=rules)
    msgs = {  # what is sent as MSG -> what msg is
        b'say "hi" \\ back\\slash \x01 ctl\tand tab': 'say "hi" \\ back\\slash \x01 ctl\tand tab',
        b'{"already": "json"} </script> &amp;': '{"already": "json"} </script> &amp;',
        "ünïcödé ✓".encode(): "ünïcödé ✓",
        b"bad \xff byte": "bad \ufffd byte",
    }
    send_tcp(h.port, [b"<13>1 - h a - - - " + m for m in msgs])
    got = []
    for raw in read_raw(h.topic, len(msgs)):
        doc = json.loads(raw.decode("utf-8"))
        assert list(doc) == ["m"], doc
        got.append(doc["m"])
    assert sorted(got) == sorted(msgs.values())

    h2 = hotdog(rules="""rules:
  - regex: '.*'
    actions:
      - type: replace
        template: '{"m":{{json msg}},"p":{{json procid}},"h":{{json hostname}}}'
      - type: forward
""")
    send_tcp(h2.port, ["<13>Oct 11 22:14:15 web1 app: no pid here",
                       "<13>Oct 11 22:14:15 web2 app[12]: with a pid"])
    docs = sorted((json.loads(r.decode("utf-8")) for r in read_raw(h2.topic, 2)),
                  key=lambda d: d["h"])
    assert docs == [{"m": "no pid here", "p": None, "h": "web1"},
                    {"m": "with a pid", "p": "12", "h": "web2"}]
    assert h.stop() == 0, h.output()
    assert h2.stop() == 0, h2.output()


# --------------------------------------------------------------------------- old spool

V2_TOPIC = "v2-topic"  # fixed: written in the fixture's records
V2_RECORDS = [(f"user{i:02d}", f"hello user{i:02d} line {i} of the v2 fixture") for i in range(20)]


def test_spool_written_by_the_previous_version_replays(hotdog, tmp_path):
    segs = sorted(SPOOL_V2.glob("*.seg"))
    assert segs, f"no spool segment in {SPOOL_V2}"
    for s in segs:
        assert s.read_bytes()[:8] == b"HDSPOOL2", s
    spool = tmp_path / "spool"
    spool.mkdir()
    for s in segs:
        shutil.copy(s, spool / s.name)

    # The topic's name is in the fixture: earlier runs left their copies; only what comes
    # after the current end of each partition is this run's.
    end = {}
    for m in read_once(V2_TOPIC):
        end[m["partition"]] = max(end.get(m["partition"], 0), m["offset"] + 1)
    before = sum(end.values())

    h = hotdog(extra_kafka=f"""    spool:
      path: '{spool}'
""")
    deadline = time.monotonic() + 30
    while True:
        new = [m for m in read_once(V2_TOPIC) if m["offset"] >= end.get(m["partition"], 0)]
        if len(new) >= len(V2_RECORDS) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(new) == len(V2_RECORDS), (before, new, h.output())
    new.sort(key=lambda m: (m["partition"], m["offset"]))
    assert sorted((m["key"], m["payload"]) for m in new) == V2_RECORDS
    for p in {m["partition"] for m in new}:  # replayed in the order they were spooled
        in_p = [(m["key"], m["payload"]) for m in new if m["partition"] == p]
        assert in_p == [r for r in V2_RECORDS if r in in_p]
    for m in new:
        assert m.get("headers") in (None, []), m  # a version 2 record has no headers

    assert h.stop() == 0, h.output()
    c = h.counters()
    assert c.get("spool.replayed") == str(len(V2_RECORDS)), c
    # The replayed segment, fully acknowledged, is gone; nothing else is left to replay.
    assert not any((spool / s.name).exists() for s in segs), sorted(spool.iterdir())


# --------------------------------------------------------------------------- through the spool

def test_headers_and_timestamps_survive_the_spool(hotdog, tmp_path):
    """mode: always sends every record through the spool (encoded by the worker, decoded by the
    replayer): what reaches Kafka carries the same headers and the same timestamp, whether the
    message's own or the time hotdog read it (not the time of the replay)."""
    spool = tmp_path / "spool"
    rules = """rules:
  - regex: '^own '
    actions:
      - type: forward
        timestamp: message
        headers: {host: '{{hostname}}', kind: own}
  - regex: '.*'
    actions:
      - type: forward
        headers: {host: '{{hostname}}', kind: received}
"""
    h = hotdog(rules=rules, extra_kafka=f"""    spool:
      path: '{spool}'
      mode: always
""")
    sent_ms = time.time() * 1000
    n = 50
    send_tcp(h.port, [f"<14>1 2026-03-01T10:00:00.{i:03d}Z h{i} app - - - own {i}" for i in range(n)]
             + [f"<14>1 2020-01-01T00:00:00Z r{i} app - - - recv {i}" for i in range(n)])
    got = by_payload(read(h.topic, 2 * n))
    for i in range(n):
        m = got[f"own {i}"]
        assert m["headers"] == ["host", f"h{i}", "kind", "own"], m
        assert m["ts"] == epoch_ms(f"2026-03-01T10:00:00.{i:03d}Z"), m
        m = got[f"recv {i}"]
        assert m["headers"] == ["host", f"r{i}", "kind", "received"], m
        assert abs(m["ts"] - sent_ms) <= 60_000, (m, sent_ms)
    assert h.stop() == 0, h.output()
    c = h.counters()
    assert c.get("spool.spooled") == str(2 * n) and c.get("spool.replayed") == str(2 * n), c
