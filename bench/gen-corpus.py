#!/usr/bin/env python3
"""Writes N RFC 5424 lines of ~200 bytes (150-250), LF-framed: half plain text, half JSON.

usage: gen-corpus.py [N] [--bodies]   (--bodies: only the MSG part of each line, the bytes a
forwarder of "$MSG" produces; kcat -P sends these as the raw producer limit)
Deterministic (seeded): the same N always gives the same bytes."""
import random
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
bodies_only = "--bodies" in sys.argv
n = int(args[0]) if args else 1000000
rnd = random.Random(42)
words = ("error warning connection timeout user login request served backend upstream cache "
         "session database retry accepted closed").split()
users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
out = sys.stdout.buffer
for i in range(n):
    host = f"web{rnd.randrange(64):02d}"
    app = rnd.choice(["nginx", "sshd", "api", "worker"])
    if i % 2:
        body = (f'{{"meta":{{"topic":"bench-json"}},"seq":{i},"level":"{rnd.choice(["info", "warn", "error"])}",'
                f'"user":"{rnd.choice(users)}","path":"/api/v1/{rnd.choice(words)}","latency_ms":{rnd.randrange(1, 5000)},'
                f'"msg":"{" ".join(rnd.choice(words) for _ in range(rnd.randrange(3, 7)))}"}}')
    else:
        body = f"seq={i} " + " ".join(rnd.choice(words) for _ in range(rnd.randrange(15, 22)))
    line = f"<134>1 2026-11-24T01:02:03.{i % 1000:03d}Z {host} {app} {1000 + i % 5000} - - {body}"
    if not i % 2 and len(line) > 230:  # cut plain text at a word; JSON stays whole
        line = line[:line.rindex(" ", 0, 230)]
    if bodies_only:
        line = line.split(" ", 7)[7]
    out.write((line + "\n").encode())
