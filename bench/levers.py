#!/usr/bin/env python3
"""bench/levers.py - `make bench-levers`: what each way of handing messages to librdkafka costs
(issue 18, goal 1), with build/bench/levers (bench/levers.c) against the private broker of
`make bench`: rd_kafka_produce() per message (what kcat -P does, and hotdog did before
batching), and rd_kafka_produce_batch() of BENCH_LEVERS_BATCH messages with the partitioner
choosing per message or with one partition per batch (its body copied by librdkafka, malloc'd
here and freed by librdkafka, or not copied at all), and keyed messages (16 keys) with the
partitioner hashing each key or with each key's partition computed here
(RD_KAFKA_MSG_F_PARTITION). Runs are interleaved (every mode once per repetition, in a rotated
order) on a fresh topic each; medians and ranges of msgs/s and CPU-seconds per million
messages (the whole producer process, librdkafka's threads included) go to
bench/results/levers.md. Only the producer is measured: no syslog, no rules."""
import argparse
import datetime
import os
import re
import subprocess
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = [
    ("single", "rd_kafka_produce() per message (kcat -P)"),
    ("batch-ua", "rd_kafka_produce_batch(), partitioner per message"),
    ("batch-sticky", "rd_kafka_produce_batch(), one partition per batch"),
    ("sticky-free", "as above, each body malloc'd here and handed over with RD_KAFKA_MSG_F_FREE"),
    ("sticky-nocopy", "as above, each body referenced in place (no copy: the most it could save)"),
    ("keyed-ua", "keyed: rd_kafka_produce_batch(), the partitioner hashing each key"),
    ("keyed-hashed", "keyed: rd_kafka_produce_batch(), each key's partition computed here"),
]


def log(msg):
    print(f"[bench-levers] {msg}", file=sys.stderr, flush=True)


def summarise(v):
    v = sorted(v)
    n = len(v)
    return {"median": v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2, "min": v[0], "max": v[-1]}


def bodies(work, lines, body_bytes):
    """The bodies of the bench corpus (gen-corpus.py), one per line."""
    tag = f"{lines}" + (f"-b{body_bytes}" if body_bytes else "")
    path = os.path.join(work, f"levers-bodies-{tag}.txt")
    if os.path.exists(path):
        return path
    args = [sys.executable, os.path.join(ROOT, "bench", "gen-corpus.py"), str(lines)]
    if body_bytes:
        args.append(f"--body-bytes={body_bytes}")
    lines_out = subprocess.run(args, check=True, capture_output=True).stdout.split(b"\n")
    with open(path + ".tmp", "wb") as out:
        for line in lines_out:
            if line:
                # <PRI>1 TS HOST APP PROCID MSGID SD BODY: the body is what the forwarders produce.
                out.write(line.split(b" ", 7)[7] + b"\n")
    os.rename(path + ".tmp", path)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--kafka-port", type=int, default=19492)
    ap.add_argument("--lines", type=int, default=int(os.environ.get("BENCH_LINES") or 1000000))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS") or 5))
    ap.add_argument("--batch", type=int, default=int(os.environ.get("BENCH_LEVERS_BATCH") or 256))
    ap.add_argument("--body-bytes", type=int, default=int(os.environ.get("BENCH_BODY_BYTES") or 0),
                    help="average body size (gen-corpus.py --body-bytes); 0: the standard corpus")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "levers.md"))
    a = ap.parse_args()
    work = os.path.join(a.build, "bench")
    os.makedirs(work, exist_ok=True)
    broker = f"127.0.0.1:{a.kafka_port}"
    path = bodies(work, a.lines, a.body_bytes)
    size = os.path.getsize(path) / a.lines - 1
    res = {m: {"rate": [], "cpu": []} for m, _ in MODES}
    version = "?"
    for rep in range(a.runs):
        order = MODES[rep % len(MODES):] + MODES[:rep % len(MODES)]
        for mode, _ in order:
            topic = f"levers-{mode}-{uuid.uuid4().hex[:8]}"
            subprocess.run([os.path.join(work, "hwm"), broker], input=f"create {topic}\n", text=True,
                           check=True, capture_output=True, timeout=60)
            r = subprocess.run([os.path.join(work, "levers"), broker, topic, path, mode, str(a.batch)],
                               capture_output=True, text=True, timeout=600)
            m = re.search(r"delivered (\d+) failed (\d+) secs \S+ cpu_s \S+ msgs_per_s (\S+) cpu_s_per_1m (\S+)",
                          r.stdout)
            if r.returncode or not m or int(m.group(1)) != a.lines:
                raise SystemExit(f"levers {mode} failed (exit {r.returncode}): {r.stdout}{r.stderr}")
            version = r.stdout.split()[1]
            res[mode]["rate"].append(float(m.group(3)))
            res[mode]["cpu"].append(float(m.group(4)))
            log(f"rep {rep} {mode:13} {float(m.group(3)):>12,.0f} msgs/s  {float(m.group(4)):.3f} CPU-s per 1M")
    base = summarise(res["single"]["cpu"])["median"]
    rows = []
    for mode, label in MODES:
        r, c = summarise(res[mode]["rate"]), summarise(res[mode]["cpu"])
        rows.append(f"| {label} | {r['median']:,.0f} ({r['min']:,.0f}–{r['max']:,.0f}) | "
                    f"{c['median']:.3f} ({c['min']:.3f}–{c['max']:.3f}) | {c['median'] / base:.2f} |")
    load = os.getloadavg()
    text = f"""# Producer levers: what handing messages to librdkafka costs

Generated by `make bench-levers` ({datetime.datetime.utcnow():%Y-%m-%dT%H:%MZ}): {a.lines:,} bodies of
{size:.0f} bytes on average produced as fast as the producer takes them by `bench/levers.c`
(librdkafka {version}, linked as hotdog links it, with
the settings of every `make bench` contender: `acks=all`, idempotence, `linger.ms=5`, lz4), batches of
{a.batch}, to a fresh single-partition topic of the bench's private broker, {a.runs} interleaved
repetitions, median (min–max). CPU is the producer process's, librdkafka's threads included. Load
average at the end: {load[0]:.2f} (2 cores; another process's load shows as noise here).

| mode | msgs/s | CPU-s per 1M | CPU vs per message |
|---|---|---|---|
""" + "\n".join(rows) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
