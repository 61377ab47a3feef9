"""End to end: `hotdog -t FILE` prints what the original hotdog's -t prints (text format).

Each case is checked against a fixed expectation, and also against the reference binary when
../shared/reference/hotdog-0.5.1/hotdog is present (skipped with a message otherwise)."""
import os
import subprocess

import pytest

from conftest import HOTDOG, ROOT

REFERENCE = os.path.join(ROOT, "..", "shared", "reference", "hotdog-0.5.1", "hotdog")

# The original's config format; it needs `field` on every rule and a statsd address.
HEAD = """---
global:
  listen:
    address: '127.0.0.1'
    port: 19514
    tls:
  kafka:
    buffer: 1024
    conf:
      bootstrap.servers: '127.0.0.1:9092'
    topic: 'test'
  metrics:
    statsd: '127.0.0.1:9'
rules:
"""


def rule(matcher, pattern, field="msg"):
    return f"  - {matcher}: '{pattern}'\n    field: {field}\n    actions:\n      - type: stop\n"


CASES = {
    # rules on the raw line: the PRI and header are part of what '^hello' sees
    "raw_line": (
        rule("regex", r"^hello\s+(?P<name>\w+)?") + rule("regex", "world")
        + rule("regex", "app", "appname") + rule("regex", ".*", "hostname")
        + rule("regex", r"héllo|\d+"),
        b"hello world\r\n\nfoo\n<13>Oct 11 22:14:15 h app: hello bob\nhello 42\nnothing\n"
        b"h\xc3\xa9llo\nlast line hello",
        "Line 1 matches on:\n\t - Regex: ^hello\\s+(?P<name>\\w+)?\n\t - Regex: world\n"
        "Line 4 matches on:\n\t - Regex: héllo|\\d+\n"
        "Line 5 matches on:\n\t - Regex: ^hello\\s+(?P<name>\\w+)?\n\t - Regex: héllo|\\d+\n"
        "Line 7 matches on:\n\t - Regex: héllo|\\d+\n",
    ),
    # line ends: LF, CR LF (one CR only), lone CR inside, NUL, no LF at the end
    "line_ends": (
        rule("regex", "world$") + rule("regex", "^$") + rule("regex", r"\r")
        + rule("regex", "a.b") + rule("regex", "(?i)X"),
        b"hello world\r\nhello world\r\r\n\n\r\nmid\rdle\na\x00b\nend world",
        "Line 1 matches on:\n\t - Regex: world$\nLine 2 matches on:\n\t - Regex: \\r\n"
        "Line 3 matches on:\n\t - Regex: ^$\nLine 4 matches on:\n\t - Regex: ^$\n"
        "Line 5 matches on:\n\t - Regex: \\r\nLine 6 matches on:\n\t - Regex: a.b\n"
        "Line 7 matches on:\n\t - Regex: world$\n",
    ),
    # an empty pattern matches every line; a JMESPath rule on another field is skipped
    "empty_and_skipped": (
        rule("jmespath", "meta.topic", "appname") + rule("regex", r"^\{") + rule("regex", "")
        + rule("regex", r"(?P<a>x)?  two  spaces\t\."),
        b'{"meta":{"topic":"x"}}\n\nx  two  spaces\t.\n',
        "Line 1 matches on:\n\t - Regex: ^\\{\n\t - Regex: \nLine 2 matches on:\n\t - Regex: \n"
        "Line 3 matches on:\n\t - Regex: \n\t - Regex: (?P<a>x)?  two  spaces\\t\\.\n",
    ),
    "empty_file": (rule("regex", ""), b"", ""),
}


def run(binary, cfg, lines):
    return subprocess.run([binary, "-c", str(cfg), "-t", str(lines)], capture_output=True,
                          timeout=30)


@pytest.mark.parametrize("name", sorted(CASES))
def test_text_is_the_originals(tmp_path, name):
    rules, data, expected = CASES[name]
    cfg = tmp_path / "c.yml"
    cfg.write_text(HEAD + rules)
    lines = tmp_path / "lines.log"
    lines.write_bytes(data)
    r = run(HOTDOG, cfg, lines)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == expected
    if not os.access(REFERENCE, os.X_OK):
        pytest.skip(f"reference hotdog not found at {REFERENCE}: compared with the fixed text only")
    ref = run(REFERENCE, cfg, lines)
    assert ref.returncode == 0, ref.stderr
    assert r.stdout == ref.stdout


def test_stops_at_a_line_that_is_not_utf8_as_the_original(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text(HEAD + rule("regex", "(?i)X"))
    lines = tmp_path / "lines.log"
    lines.write_bytes(b"x line\nbad \xff byte\nx after\n")
    r = run(HOTDOG, cfg, lines)
    assert r.returncode == 1
    assert r.stdout == b"Line 1 matches on:\n\t - Regex: (?i)X\n"
    assert b"lines.log: line 2 is not valid UTF-8" in r.stderr
    if os.access(REFERENCE, os.X_OK):
        ref = run(REFERENCE, cfg, lines)
        assert (ref.returncode, ref.stdout) == (1, r.stdout)


def test_jmespath_rules_match_the_raw_line(tmp_path):
    # The original's -t aborts on a `field: msg` JMESPath rule; ours evaluates it on the raw
    # line, as it does the regexes, and names it the way the original names it.
    cfg = tmp_path / "c.yml"
    cfg.write_text(HEAD + rule("jmespath", "meta.topic") + rule("regex", "topic"))
    lines = tmp_path / "lines.log"
    lines.write_bytes(b'{"meta":{"topic":"x"}}\n<13>Oct 11 22:14:15 h app: {"meta":{"topic":"x"}}\n'
                      b'{"meta":{}}\n')
    r = run(HOTDOG, cfg, lines)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == ("Line 1 matches on:\n\t - JMESPath: meta.topic\n\t - Regex: topic\n"
                                 "Line 2 matches on:\n\t - Regex: topic\n")


def test_json_outputs_show_headers_and_timestamp_only_when_configured(tmp_path):
    # `--format json`: an output shows "headers" and "timestamp" when its forward sets them
    # (timestamp: message; null when the message has none that can be read); other outputs
    # keep the keys they always had. format: json's payload parses with the expected fields.
    import json
    cfg = tmp_path / "c.yml"
    cfg.write_text(HEAD + "  - regex: 'user=(?P<user>\\w+)'\n    field: msg\n    actions:\n"
                   "      - type: forward\n        format: json\n        timestamp: message\n"
                   "        headers: {host: '{{hostname}}', who: '{{user}}'}\n"
                   "  - regex: '.*'\n    field: msg\n    actions:\n      - type: forward\n")
    lines = tmp_path / "lines.log"
    lines.write_bytes(b'<165>1 2003-10-11T22:14:15.003Z web1 app - - [a@1 k="v"] user=bob\n'
                      b"user=al\nplain\n")
    r = subprocess.run([HOTDOG, "-c", str(cfg), "-t", str(lines), "--format", "json"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line)["outputs"][0] for line in r.stdout.decode().splitlines()]
    assert out[0]["headers"] == {"host": "web1", "who": "bob"}
    assert out[0]["timestamp"] == 1065910455003
    rec = json.loads(out[0]["payload"])
    assert rec["hostname"] == "web1" and rec["msg"] == "user=bob"
    assert rec["structured_data"] == {"a@1": {"k": "v"}} and rec["captures"] == {"user": "bob"}
    assert out[1]["headers"] == {"host": "", "who": "al"} and out[1]["timestamp"] is None
    assert json.loads(out[1]["payload"]) == {"msg": "user=al", "captures": {"user": "al"}}
    assert sorted(out[2]) == ["key", "payload", "topic"] and out[2]["payload"] == "plain"
