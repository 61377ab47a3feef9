"""End to end: rules route, rewrite and key messages on a real broker; test mode (-t)."""
import json
import re
import socket
import subprocess
import uuid

from conftest import HOTDOG, config, consume, free_port, unique_topic


def rules_config(t):
    return f"""rules:
  - regex: '^hello\\s+(?P<name>\\w+)'
    field: msg
    actions:
      - type: replace
        template: 'greeting for {{{{name}}}} from {{{{hostname}}}}: {{{{msg}}}}'
      - type: forward
        topic: '{t["greet"]}'
        key: '{{{{name}}}}'
  - jmespath: 'meta.topic'
    field: msg
    actions:
      - type: merge
        json:
          meta:
            hotdog:
              version: '{{{{version}}}}'
              timestamp: '{{{{iso8601}}}}'
      - type: forward
        topic: '{{{{value}}}}'
  - regex: '^db\\d+$'
    field: hostname
    actions:
      - type: forward
        topic: '{t["db"]}'
        key: '{{{{hostname}}}}'
  - regex: '^drop me'
    actions:
      - type: stop
  - regex: '.*'
    actions:
      - type: forward
"""


def test_rules_route_rewrite_and_key_on_the_real_broker(hotdog):
    t = {k: unique_topic(k) for k in ("greet", "x", "db", "default")}
    h = hotdog(topic=t["default"], rules=rules_config(t))
    lines = [
        "<13>Oct 11 22:14:15 web1 app: hello alice",
        '<13>Oct 11 22:14:15 web1 app: {"meta":{"topic":"%s"},"n":1}' % t["x"],
        "<13>Oct 11 22:14:15 db42 postgres[7]: checkpoint complete",
        "<13>Oct 11 22:14:15 web1 app: drop me please",
        "<13>Oct 11 22:14:15 web1 app: anything else",
        '<14>1 2026-11-24T01:02:03Z web2 api - - - {"meta":{"topic":"%s"},"n":2}' % t["x"],
    ]
    with socket.create_connection(("127.0.0.1", h.port)) as s:
        s.sendall("".join(l + "\n" for l in lines).encode())

    greet = consume(t["greet"], 1)
    assert [(m["key"], m["payload"]) for m in greet] == [
        ("alice", "greeting for alice from web1: hello alice")]

    xs = consume(t["x"], 2)
    assert len(xs) == 2
    for m, n in zip(xs, (1, 2)):
        doc = json.loads(m["payload"])
        assert m["key"] is None
        assert doc["n"] == n and doc["meta"]["topic"] == t["x"]
        assert re.fullmatch(r"\d+\.\d+\.\d+", doc["meta"]["hotdog"]["version"])
        # chrono's to_rfc3339, as the original: 0, 3, 6 or 9 fractional digits, "+00:00"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?\+00:00",
                            doc["meta"]["hotdog"]["timestamp"])

    db = consume(t["db"], 1)
    assert [(m["key"], m["payload"]) for m in db] == [("db42", "checkpoint complete")]

    default = consume(t["default"], 1)
    assert [m["payload"] for m in default] == ["anything else"]

    assert h.stop() == 0
    c = h.counters()
    assert c["lines"] == "6"
    assert c["kafka.delivered"] == "5"
    assert c["unmatched"] == "1"  # "drop me" stopped before any forward
    assert [c.get(f"rule.{i}.matched") for i in range(5)] == ["1", "2", "1", "1", "1"]


def test_test_mode_text_and_json(tmp_path):
    t = {k: "t-" + k for k in ("greet", "x", "db", "default")}
    cfg = tmp_path / "rules.yml"
    cfg.write_text(config(1514, "default-topic", rules=rules_config(t)))
    lines = tmp_path / "lines.log"
    lines.write_text("<13>Oct 11 22:14:15 db7 app: hello bob\n"
                     '{"meta":{"topic":"routed"}}\n'
                     "nothing special\r\n")
    r = subprocess.run([HOTDOG, "-c", str(cfg), "-t", str(lines)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    # As the original's -t: rules run on the raw line (so '^hello' does not match a line that
    # starts with its PRI), and the `field: hostname` rule is skipped with a warning.
    assert r.stdout == ("Line 1 matches on:\n"
                        "\t - Regex: .*\n"
                        "Line 2 matches on:\n"
                        "\t - JMESPath: meta.topic\n"
                        "\t - Regex: .*\n"
                        "Line 3 matches on:\n"
                        "\t - Regex: .*\n")
    assert re.search(r"rules\.yml:\d+: test mode only runs `field: msg` rules; this `field: "
                     r"hostname` rule is skipped", r.stderr)

    r = subprocess.run([HOTDOG, "-c", str(cfg), "-t", "-", "--format", "json"],
                       input=lines.read_text() + "<165>1 2003-10-11T22:14:15.003Z h a 1 m "
                       '[id@1 k="v\\"q"][x@2] drop me\n'
                       # structured data the loose (RFC 3164) reading finds after the tag
                       '<13>Nov 30 12:00:00 host app: [a b="1"] hello sd\n',
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(out) == 5
    first = out[0]
    assert first["line"] == 1 and first["parse_error"] is False
    assert first["parsed"] == {"facility": "user", "severity": "notice", "timestamp": "Oct 11 22:14:15",
                               "hostname": "db7", "appname": "app", "procid": None, "msgid": None,
                               "structured_data": None, "msg": "hello bob"}
    assert [m["rule"] for m in first["matches"]] == [0, 2, 4]
    assert first["matches"][1] == {"rule": 2, "matcher": "regex", "pattern": "^db\\d+$"}
    assert first["outputs"] == [{"topic": "t-greet", "key": "bob",
                                 "payload": "greeting for bob from db7: hello bob"}]
    second = out[1]
    assert second["parse_error"] is True and second["parsed"]["facility"] is None
    assert second["matches"][0]["matcher"] == "jmespath"
    assert second["outputs"][0]["topic"] == "routed"
    assert json.loads(second["outputs"][0]["payload"])["meta"]["hotdog"]["version"]
    assert out[2]["outputs"] == [{"topic": "default-topic", "key": None, "payload": "nothing special"}]
    fourth = out[3]
    assert fourth["parsed"]["structured_data"] == {"id@1": {"k": 'v"q'}, "x@2": {}}
    assert fourth["parsed"]["facility"] == "local4"
    assert fourth["outputs"] == []  # stop before any forward: not sent
    assert out[4]["parsed"]["structured_data"] == {"a": {"b": "1"}}
    assert out[4]["parsed"]["msg"] == "hello sd"


def test_test_mode_missing_file(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text(config(1514, "t"))
    r = subprocess.run([HOTDOG, "-c", str(cfg), "-t", str(tmp_path / "nope.log")],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "nope.log: cannot open: No such file or directory" in r.stderr
