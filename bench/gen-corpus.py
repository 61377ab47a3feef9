#!/usr/bin/env python3
"""Writes N RFC 5424 lines of ~200 bytes, LF-framed: half plain text, half JSON bodies."""
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
rnd = random.Random(42)
words = "error warning connection timeout user login request served backend upstream cache".split()
out = sys.stdout.buffer
for i in range(n):
    host = f"web{rnd.randrange(64):02d}"
    app = rnd.choice(["nginx", "sshd", "api", "worker"])
    if i % 2:
        body = (f'{{"meta":{{"topic":"bench-json"}},"seq":{i},"level":"info",'
                f'"msg":"{" ".join(rnd.choice(words) for _ in range(6))}"}}')
    else:
        body = f"seq={i} " + " ".join(rnd.choice(words) for _ in range(12))
    line = f"<134>1 2026-11-24T01:02:03.{i % 1000:03d}Z {host} {app} {1000 + i % 5000} - - {body}"
    out.write((line[:230] + "\n").encode())
