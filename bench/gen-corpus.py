#!/usr/bin/env python3
"""Writes N RFC 5424 lines, LF-framed: half plain text, half JSON bodies.

usage: gen-corpus.py [N] [--bodies] [--body-bytes=S]
  default         lines of ~205 bytes (150-250), bodies of ~153: the corpus make bench has
                  always used
  --body-bytes=S  bodies of S bytes on average (uniform within +-10 %), for the short-body
                  scenario and the message-size sweep of make bench-scale; a body too short
                  for the JSON head with meta.topic (60-70 bytes) is plain text
  --bodies        only the MSG part of each line, the bytes a forwarder of "$MSG" produces;
                  kcat -P sends these as the raw producer limit
Deterministic (seeded): the same arguments always give the same bytes, and the first M lines
of N are the lines of M."""
import random
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
opts = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "") for a in sys.argv[1:] if a.startswith("--"))
bodies_only = "bodies" in opts
body_bytes = int(opts["body-bytes"]) if opts.get("body-bytes") else 0
n = int(args[0]) if args else 1000000
rnd = random.Random(42)
words = ("error warning connection timeout user login request served backend upstream cache "
         "session database retry accepted closed").split()
users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


def filler(k):
    """k characters of words, not ending in a space."""
    s = ""
    while len(s) < k:
        s += rnd.choice(words) + " "
    s = s[:k]
    return s[:-1] + "x" if s.endswith(" ") else s


def sized_body(i):
    """A body of about body_bytes: the JSON ones keep meta.topic (the rules config's JMESPath
    rule) and the plain ones start with seq=N and a word (its regex rule)."""
    size = rnd.randint(body_bytes * 9 // 10, body_bytes * 11 // 10)
    if i % 2:
        head = f'{{"meta":{{"topic":"bench-json"}},"seq":{i},"level":"{rnd.choice(["info", "warn", "error"])}","msg":"'
        if size >= len(head) + 3:
            return head + filler(size - len(head) - 2) + '"}'
    head = f"seq={i} "
    return head + filler(max(size - len(head), 1))


out = sys.stdout.buffer
for i in range(n):
    host = f"web{rnd.randrange(64):02d}"
    app = rnd.choice(["nginx", "sshd", "api", "worker"])
    if body_bytes:
        body = sized_body(i)
    elif i % 2:
        body = (f'{{"meta":{{"topic":"bench-json"}},"seq":{i},"level":"{rnd.choice(["info", "warn", "error"])}",'
                f'"user":"{rnd.choice(users)}","path":"/api/v1/{rnd.choice(words)}","latency_ms":{rnd.randrange(1, 5000)},'
                f'"msg":"{" ".join(rnd.choice(words) for _ in range(rnd.randrange(3, 7)))}"}}')
    else:
        body = f"seq={i} " + " ".join(rnd.choice(words) for _ in range(rnd.randrange(15, 22)))
    line = f"<134>1 2026-11-24T01:02:03.{i % 1000:03d}Z {host} {app} {1000 + i % 5000} - - {body}"
    if not body_bytes and not i % 2 and len(line) > 230:  # cut plain text at a word; JSON stays whole
        line = line[:line.rindex(" ", 0, 230)]
    if bodies_only:
        line = line.split(" ", 7)[7]
    out.write((line + "\n").encode())
