"""End to end (issue 14): ordinary regexes match long messages. With PCRE2's default 32 KiB JIT
stack, `^(\\w|\\s)+$` failed on a 1,500-character line and `^(?:a|b)+$` on 50,000 characters
(error -46): the rule did not match and the message was not sent. Now each worker's JIT stack
holds a max_message_size line; a match that still fails (here ReDoS patterns at PCRE2's match
limit) is counted in error.match, logged with the rule's FILE:LINE once per rule per interval,
and later rules run."""
import clients
from conftest import consume

MAX = 999000  # the default max_message_size
HDR = b"<13>Oct 11 22:14:15 h app: "

RULES = r"""rules:
  - regex: '^(a+)+$'
    actions: [{type: forward, key: redos}]
  - regex: '^(a|a)+$'
    actions: [{type: forward, key: redos2}]
  - regex: '^(?:a|b)+$'
    actions: [{type: forward, key: ab}]
  - regex: '^(\w|\s)+$'
    actions: [{type: forward, key: ws}]
  - regex: '.*'
    actions: [{type: forward, key: all}]
"""


def repeat(unit, n):
    return (unit * (n // len(unit) + 1))[:n]


def test_long_lines_match_and_a_failed_match_falls_through(hotdog):
    h = hotdog(rules=RULES)
    lines = [
        (repeat(b"a word", 1500), "ws"),
        (repeat(b"ab", 50000), "ab"),
        (repeat(b"a word", MAX - len(HDR)), "ws"),  # a whole max_message_size line
        (b"a" * 40 + b"!", "all"),                 # ReDoS: rules 0 and 1 fail (match limit)
        (b"a" * 40 + b"!", "all"),                 # again: counted, not logged again
    ]
    clients.tcp_send("127.0.0.1", h.port, b"".join(HDR + m + b"\n" for m, _ in lines), timeout=60)
    msgs = consume(h.topic, len(lines), timeout=90)
    assert len(msgs) == len(lines), f"{len(msgs)} of {len(lines)} messages arrived:\n{h.output()}"
    got = sorted((m["key"], len(m["payload"])) for m in msgs)
    assert got == sorted((key, len(m)) for m, key in lines)
    assert h.stop() == 0
    c = h.counters()
    assert c.get("error.match") == "4", c
    assert c.get("unmatched", "0") == "0", c
    log = h.output()
    for line, rule in ((11, 0), (13, 1)):
        text = (f"{h.cfg}:{line}: 'rules[{rule}].regex': match limit exceeded (PCRE2 -47) on a "
                "41-byte msg: the rule does not match it, later rules run (error.match)")
        assert log.count(text) == 1, log  # one rule's failures do not hide another's
    assert "rules[2].regex" not in log and "rules[3].regex" not in log, log
