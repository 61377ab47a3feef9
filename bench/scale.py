#!/usr/bin/env python3
"""bench/scale.py - `make bench-scale`: how hotdog's cost grows with the work, for sizing a machine.

Three sweeps of hotdog with one catch-all rule (configs/hotdog-catchall.yml), end to end through
the same private broker and with the same clock as make bench (bench/bench.py's Bench.run):
  size   bodies of 64 B to 16 KiB (7 sizes, 110 and 150 near make bench's two scenarios) (gen-corpus.py --body-bytes), 4 connections, with kcat -P on the
         same bodies at every size: where the broker and the raw producer, not hotdog, set the pace;
         each size sends --scale-bytes (256 MB) or --lines lines, whichever is fewer
  conns  the standard corpus split over 1 to 10,000 connections, all sending at once
  rules  the standard corpus through 1 to 100 regex rules: the first N-1 are routing rules that
         match no line (`service=svcNNN\\b`, unanchored, so every message is tried against every
         one of them), the last the catch-all (configs/hotdog-scale-rules.yml)
Every repetition runs every point of every sweep, in an order rotated by one (the noise of a
shared machine hits them alike); results are medians with min-max. Writes results.json's "scale"
section, scale.md and scale-{size,conns,rules}.png in bench/results/ (BENCH_OUT).
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (bench/bench.py: the harness this reuses)

ROOT = B.ROOT


def ints(s):
    return [int(x) for x in s.split(",") if x]


def rules_yaml(n):
    """N-1 routing rules that match no line of the corpus, as YAML list items (the catch-all
    follows them in the template). Single-quoted YAML keeps the backslash for PCRE2."""
    return "".join(f"  - regex: 'service=svc{i:03d}\\b'\n    actions:\n      - type: forward\n"
                   for i in range(1, n))


class Scale:
    def __init__(self, a):
        self.a = a
        self.b = B.Bench(a)
        self.points = []  # (sweep, x, contender, corpus, conns, hotdog_cfg)

    def lines_for(self, size):
        """Lines of the size sweep's corpus at bodies of size bytes: --scale-bytes of them at most."""
        return min(self.a.lines, max(10000, self.a.scale_bytes // (size + 56)))

    def main(self):
        a, b = self.a, self.b
        b.snapshot()
        b.std = b.corpus()
        for size in ints(a.sizes):
            c = b.corpus(self.lines_for(size), size, f"size-{size}")
            self.points.append(("size", size, "hotdog", c, None, None))
            if shutil.which("kcat"):
                self.points.append(("size", size, "kcat", c, None, None))
        for k in ints(a.conn_counts):
            self.points.append(("conns", k, "hotdog", b.std, k, None))
        for n in ints(a.rule_counts):
            self.points.append(("rules", n, "hotdog", b.std, None,
                                ("hotdog-scale-rules.yml", {"RULES": rules_yaml(n)})))
        b.hwm = B.Hwm(os.path.join(b.work, "hwm"), b.broker)
        t_start = time.time()
        B.log(f"bench-scale: {len(self.points)} points x {a.scale_runs} runs")
        if shutil.which("kcat"):
            b.run("kcat", -1, kind="warm-up")  # a cold broker is slow (bench.py says why)
        recs = []
        for rep in range(a.scale_runs):
            order = self.points[rep % len(self.points):] + self.points[:rep % len(self.points)]
            for sweep, x, name, corpus, conns, cfg in order:
                rec = b.run(name, rep, conns=conns, corpus=corpus, hotdog_cfg=cfg, kind=f"scale-{sweep}")
                rec.update({"sweep": sweep, "x": x})
                recs.append(rec)
        b.hwm.close()
        self.write(recs, time.time() - t_start)

    def write(self, recs, elapsed):
        a, b = self.a, self.b
        sweeps = {}
        for sweep, x, name, corpus, conns, _ in self.points:
            rs = [r for r in recs if r["sweep"] == sweep and r["x"] == x and r["contender"] == name]
            ok = [r for r in rs if r.get("complete")]
            pts = sweeps.setdefault(sweep, [])
            if not pts or pts[-1]["x"] != x:
                pts.append({"x": x, "lines": corpus.lines, "line_bytes": corpus.bytes / corpus.lines,
                            "body_bytes": corpus.body_bytes / corpus.lines, "conns": conns or a.conns})
            pts[-1][name] = {"runs": len(rs), "complete": len(ok),
                             "errors": [r.get("error") or f"delivered {r.get('delivered')} of {r['lines']}"
                                        for r in rs if not r.get("complete")],
                             **{k: B.summarise([r.get(k) for r in ok])
                                for k in ("msgs_s", "mb_s", "cpu_s_per_m", "rss_mb", "broker_cpu_s", "secs")}}
        res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
               "elapsed_s": round(elapsed), "runs": a.scale_runs, "conns": a.conns, "scale_bytes": a.scale_bytes,
               "machine": B.machine(), "versions": b.versions(),
               "rules_form": "N-1 rules `regex: 'service=svcNNN\\b'` that match nothing, then `regex: '.*'`",
               "part_s": {k: round(v) for k, v in b.part_s.items()},
               "noise": {k: B.summarise([r.get(k) for r in recs if r.get("complete")])
                         for k in ("other_cpu_s", "steal_s", "loadavg")},
               "sweeps": sweeps}
        out_dir = os.path.join(ROOT, a.out)
        path = B.save_results(out_dir, "scale", res)
        B.log(f"wrote {path}")
        md = markdown(res, out_dir, b.work)
        with open(os.path.join(out_dir, "scale.md"), "w") as f:
            f.write("\n".join(md).rstrip() + "\n")
        B.log(f"wrote {os.path.join(out_dir, 'scale.md')}")


def mm(s, digits=0, scale=1.0):
    if not s:
        return "-"
    f = f"{{:,.{digits}f}}"
    return (f"{f.format(s['median'] * scale)} ({f.format(s['min'] * scale)}–{f.format(s['max'] * scale)})")


def plot(sweep, pts, out_dir, work, title, xlabel, logy=False):
    """scale-SWEEP.png: msgs/s and CPU per million messages against x, hotdog (and kcat)."""
    if not shutil.which("gnuplot"):
        print("scale: gnuplot not found, no plot")
        return None
    kcat = any(p.get("kcat", {}).get("msgs_s") for p in pts)
    dat = os.path.join(work, f"scale-{sweep}.dat")
    with open(dat, "w") as f:
        for p in pts:
            row = [str(p["x"])]
            for name in ("hotdog", "kcat") if kcat else ("hotdog",):
                c = p.get(name) or {}
                t, u = c.get("msgs_s"), c.get("cpu_s_per_m")
                row += [f"{t[k] / 1e3:.2f}" if t else "NaN" for k in ("median", "min", "max")]
                row += [f"{u[k]:.3f}" if u else "NaN" for k in ("median", "min", "max")]
            f.write(" ".join(row) + "\n")
    png = f"scale-{sweep}.png"
    subprocess.run(["gnuplot", "-e", f"dat='{dat}'; out='{os.path.join(out_dir, png)}'; ttl='{title}'; "
                    f"xl='{xlabel}'; kcat={int(kcat)}; logy={int(logy)}", os.path.join(ROOT, "bench", "scale.gp")], check=False)
    return png if os.path.exists(os.path.join(out_dir, png)) else None


def markdown(r, out_dir, work):
    m = r["machine"]
    sw = r["sweeps"]
    md = ["# hotdog: how the cost grows with the work",
          "",
          f"Generated by `make bench-scale` ({r['date']}, hotdog {r['versions'].get('hotdog', '?')}): hotdog with a "
          f"catch-all rule, end to end into one local Kafka broker with the same producer settings and clock "
          f"as `make bench` (`acks=all`, idempotence, `linger.ms=5`, lz4; from the first byte sent to the last "
          f"acknowledgement). {r['runs']} interleaved runs of every point, median (min–max). Machine: "
          f"{m.get('cpus')} cores ({m.get('cpu', '?')}), {m.get('mem_gb', '?')} GB, shared by the sender, "
          f"hotdog and the broker. Took {r['elapsed_s'] / 60:.1f} min"
          + (": " + ", ".join(f"{k[6:] if k.startswith('scale-') else k} {v} s" for k, v in r["part_s"].items())
             if r.get("part_s") else "") + ".",
          "",
          "**Sizing.** CPU-seconds per million messages is hotdog's own CPU (its process, every thread, "
          "user + system) per message delivered; it is what carries over to another machine: hotdog at R "
          "messages/s needs about R × (CPU-s per 1M) / 1,000,000 cores, plus the broker's and the senders' "
          "share, which run elsewhere in production. msgs/s is what this 2-core machine reached with the "
          "broker on it: a ceiling for the whole pipeline here, not hotdog's alone.",
          ""]
    nz = r.get("noise") or {}
    if nz.get("other_cpu_s"):
        md += [f"Noise: the rest of the machine used {mm(nz['other_cpu_s'], 1)} CPU-seconds during a run, "
               f"steal {mm(nz.get('steal_s'), 1)}, 1-minute load average {mm(nz.get('loadavg'), 1)}.", ""]
    if sw.get("size"):
        pts = sw["size"]
        md += ["## Message size",
               "",
               f"Bodies of the given size on average (±10 %; half JSON, half text, `gen-corpus.py --body-bytes`; "
               f"the syslog header adds ~52 bytes), {r['conns']} connections; each size sends at most "
               f"{r['scale_bytes'] / 2**20:.0f} MiB and {max(p['lines'] for p in pts):,} lines (the lines column). `kcat -P` produces the same bodies with the same settings: where it "
               f"is faster than hotdog the broker is not the ceiling.",
               "",
               "| body bytes | lines | hotdog msgs/s | hotdog MB/s | hotdog CPU s per 1M | hotdog CPU s per GB | "
               "peak RSS MB | kcat -P msgs/s | kcat CPU s per 1M | hotdog / kcat msgs/s |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for p in pts:
            h, k = p.get("hotdog") or {}, p.get("kcat") or {}
            ratio = (f"{h['msgs_s']['median'] / k['msgs_s']['median']:.2f}"
                     if h.get("msgs_s") and k.get("msgs_s") else "-")
            per_gb = (f"{h['cpu_s_per_m']['median'] / p['line_bytes'] * 1e3:.1f}" if h.get("cpu_s_per_m") else "-")
            md.append(f"| {p['x']:,} | {p['lines']:,} | {mm(h.get('msgs_s'))} | {mm(h.get('mb_s'), 1)} | "
                      f"{mm(h.get('cpu_s_per_m'), 2)} | {per_gb} | {mm(h.get('rss_mb'), 1)} | {mm(k.get('msgs_s'))} | "
                      f"{mm(k.get('cpu_s_per_m'), 2)} | {ratio} |")
        md.append("")
        png = plot("size", pts, out_dir, work, "hotdog (catch-all) against message size, "
                   f"{r['conns']} connections, {m.get('cpus')} cores", "body bytes (log scale)", logy=True)
        if png:
            md += [f"![message size]({png})", ""]
    if sw.get("conns"):
        pts = sw["conns"]
        md += ["## Connections",
               "",
               f"The standard corpus ({pts[0]['lines']:,} lines of {pts[0]['line_bytes']:.0f} bytes) split over "
               "K connections, all connected first and then all sending at once (`bench/sender.c`: 4 threads, "
               "each an epoll loop over its share).",
               "",
               "| connections | msgs/s | MB/s | CPU s per 1M | peak RSS MB |",
               "|---|---|---|---|---|"]
        for p in pts:
            h = p.get("hotdog") or {}
            md.append(f"| {p['x']:,} | {mm(h.get('msgs_s'))} | {mm(h.get('mb_s'), 1)} | "
                      f"{mm(h.get('cpu_s_per_m'), 2)} | {mm(h.get('rss_mb'), 1)} |")
        md.append("")
        png = plot("conns", pts, out_dir, work, "hotdog (catch-all) against connections sending at once, "
                   f"{m.get('cpus')} cores", "connections (log scale)")
        if png:
            md += [f"![connections]({png})", ""]
    if sw.get("rules"):
        pts = sw["rules"]
        md += ["## Regex rules",
               "",
               f"The standard corpus, {r['conns']} connections, through N rules: N-1 routing rules "
               "`regex: 'service=svcNNN\\b'` (NNN = 001, 002, ...) that match no line, then the catch-all "
               "`regex: '.*'` that forwards (`configs/hotdog-scale-rules.yml`). Every message is tried "
               "against every rule, unanchored, over its whole body: the worst case of a routing table, "
               "where the common messages are the ones no specific rule wants.",
               "",
               "| rules | msgs/s | CPU s per 1M | peak RSS MB |",
               "|---|---|---|---|"]
        for p in pts:
            h = p.get("hotdog") or {}
            md.append(f"| {p['x']:,} | {mm(h.get('msgs_s'))} | {mm(h.get('cpu_s_per_m'), 2)} | "
                      f"{mm(h.get('rss_mb'), 1)} |")
        md.append("")
        ends = [p for p in pts if (p.get("hotdog") or {}).get("cpu_s_per_m")]
        if len(ends) >= 2 and ends[-1]["x"] > ends[0]["x"]:
            lo, hi = ends[0], ends[-1]
            slope = ((hi["hotdog"]["cpu_s_per_m"]["median"] - lo["hotdog"]["cpu_s_per_m"]["median"])
                     / (hi["x"] - lo["x"]))
            md += [f"From {lo['x']} to {hi['x']} rules the CPU per message grows by {slope:.3f} CPU-seconds per "
                   f"million messages per rule (medians), i.e. {slope * 1e3:.0f} ns per message and rule "
                   f"over bodies of {lo['body_bytes']:.0f} bytes on average.", ""]
        png = plot("rules", pts, out_dir, work, "hotdog against the number of regex rules (N-1 not matching, "
                   f"then a catch-all), {m.get('cpus')} cores", "rules (log scale)")
        if png:
            md += [f"![regex rules]({png})", ""]
    v = r.get("versions", {})
    md.append("Versions: " + "; ".join(f"{k} {val}" for k, val in v.items() if val and k in
                                       ("hotdog", "kcat", "kafka")) + ".")
    return md


def rerender(out_dir, work):
    """scale.md and the PNGs again from results.json's scale section (no runs)."""
    with open(os.path.join(out_dir, "results.json")) as f:
        res = json.load(f)["scale"]
    with open(os.path.join(out_dir, "scale.md"), "w") as f:
        f.write("\n".join(markdown(res, out_dir, work)).rstrip() + "\n")


def main():
    env = os.environ.get
    ap = B.arg_parser(__doc__.split("\n")[0])
    ap.add_argument("--scale-runs", type=int, default=int(env("BENCH_SCALE_RUNS", 3)),
                    help="interleaved repetitions of every point")
    ap.add_argument("--sizes", default=env("BENCH_SCALE_SIZES", "64,110,150,256,1024,4096,16384"),
                    help="body bytes of the size sweep")
    ap.add_argument("--scale-bytes", type=int, default=int(env("BENCH_SCALE_BYTES", 256 << 20)),
                    help="at most this many bytes per size point (fewer lines for large bodies)")
    ap.add_argument("--conn-counts", default=env("BENCH_SCALE_CONNS", "1,10,100,1000,10000"),
                    help="connections of the connection sweep")
    ap.add_argument("--rule-counts", default=env("BENCH_SCALE_RULES", "1,10,25,50,100"),
                    help="rules of the rules sweep (the last is the catch-all)")
    ap.add_argument("--report-only", action="store_true",
                    help="write scale.md and the plots again from results.json, without measuring")
    a = ap.parse_args()
    if a.report_only:
        rerender(os.path.join(ROOT, a.out), os.path.join(os.path.abspath(a.build), "bench"))
    else:
        Scale(a).main()


if __name__ == "__main__":
    main()
