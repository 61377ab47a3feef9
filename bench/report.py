#!/usr/bin/env python3
"""bench/report.py - bench/results/results.json -> summary.md (the tables bench/README.md summarises)
and throughput.png (gnuplot). Run by `make bench` and `make bench-engine`; either section of
results.json may be missing."""
import argparse
import json
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TARGETS = {
    "best_peer": 2.0,         # hotdog msgs/s >= 2x the best of rsyslog and syslog-ng
    "limit": 0.85,            # hotdog msgs/s >= 0.85x kcat -P
    "limit_cpu": 0.8,         # hotdog CPU-s per message <= 0.8x kcat -P's (issue 18)
    "rss_mb": 64,             # peak RSS with 1,000 active connections
    "p99_ms": 20,             # receive->ack p99 at half of peak
    "engine_regex": 2000000,  # lines/s/core, regex routing
    "engine_jmespath": 1000000,  # lines/s/core, JMESPath + merge
}


def fmt(v, digits=0, unit=""):
    if v is None:
        return "-"
    if digits == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{digits}f}{unit}"


def mm(s, digits=0, scale=1.0):
    """'median (min-max)' of a summary dict."""
    if not s:
        return "-"
    return (f"{fmt(s['median'] * scale, digits)} ({fmt(s['min'] * scale, digits)}–"
            f"{fmt(s['max'] * scale, digits)})")


def verdict(ok):
    return "**met**" if ok else "**missed**"


def e2e_md(e, targets):
    out = []
    m = e["machine"]
    out.append(f"### End to end ({e['date']})\n")
    out.append(f"{e['lines']:,} RFC 5424 lines ({e['bytes'] / e['lines']:.0f} bytes each on average, half "
               f"plain text, half JSON; bodies {e['body_bytes'] / e['lines']:.0f} bytes), pre-framed, sent "
               f"over {e['conns']} TCP connections by `bench/sender.c`; each contender writes the body to "
               f"its own fresh topic on one local broker with `acks=all`, idempotence, `linger.ms=5`, "
               f"`batch.num.messages=10000`, `compression.codec=lz4`. Wall time from the first byte sent to the last message "
               f"acknowledged (sum of the topic's high watermarks = N). {e['runs']} interleaved runs: "
               f"median (min–max). Machine: {m.get('cpus')} cores ({m.get('cpu', '?')}), {m.get('os', '')}, "
               f"shared by the sender, the contender and the broker (and other jobs). Total benchmark time "
               f"{e['elapsed_s'] // 60:.0f} min" + (": " + ", ".join(f"{k} {v} s" for k, v in e["part_s"].items())
                                                    if e.get("part_s") else "") + ".\n")
    out += scenarios_md(e, targets)
    out += contenders_md(e)
    nz = e.get("noise") or {}
    if nz.get("other_cpu_s"):
        out.append(f"Noise: during a run the rest of the machine (other jobs, and kernel work not charged "
                   f"to a process) used {mm(nz['other_cpu_s'], 1)} CPU-seconds, steal "
                   f"{mm(nz.get('steal_s'), 1)}; 1-minute load average {mm(nz.get('loadavg'), 1)}.\n")
    out.append("CPU s per 1M: user+system time of the contender's process from the first byte to the last "
               "acknowledgement (kcat: to its exit), per million messages (= µs per message); msgs per "
               "CPU-s = N / CPU s, what the forwarder costs regardless of how busy the machine was. MB/s counts the bytes sent (kcat: the "
               "bodies, fed through a FIFO once it is connected). Sender CPU s: `bench/sender.c` (loggen "
               "for the loggen row, `cat` feeding kcat's FIFO for kcat; RELP rows: `sender.c` only, the sending rsyslog's is in the "
               "RELP table). The loggen row sends the first N/K lines of "
               "the corpus on each of its K connections (loggen repeats its file per connection).\n")
    out += relp_md(e)
    r = e.get("ratios", {})
    if r:
        out.append("| ratio (same repetition) | median (min–max) | target | |")
        out.append("|---|---|---|---|")
        for k, s in r.items():
            if not s:
                continue
            tgt = ""
            ok = None
            if k.endswith("/best-peer"):
                tgt, ok = f"≥ {TARGETS['best_peer']}", s["median"] >= TARGETS["best_peer"]
            elif k.endswith("/limit"):
                tgt, ok = f"≥ {TARGETS['limit']}", s["median"] >= TARGETS["limit"]
            elif k == "hotdog/limit cpu_s":
                tgt, ok = f"≤ {TARGETS['limit_cpu']}", s["median"] <= TARGETS["limit_cpu"]
            if k.startswith("hotdog/") and ok is not None:
                targets.append((f"end to end, standard bodies: {k} {tgt}", f"{s['median']:.2f}", ok))
            if k.endswith(" cpu_s"):
                out.append(f"| {k[:-len(' cpu_s')]} CPU-s per message")
            else:
                out.append(f"| {k} msgs/s" if "cpu" not in k else f"| {k.replace(' cpu-efficiency', '')} msgs per CPU-s")
            out[-1] += f" | {s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f}) | {tgt} | {verdict(ok) if ok is not None else ''} |"
        out.append("")
    lat = e.get("latency") or {}
    if lat:
        out.append("Receive→ack latency at half of peak: the sender paced at half the median msgs/s of the "
                   "runs above; hotdog's `hotdog_kafka_producer_sent_seconds` histogram (four buckets per power "
                   "of two from 64 µs: quantiles interpolated inside a bucket, so within 25%; the mean is exact). "
                   "Baseline: `bench/probe.c`, librdkafka alone with the same settings producing the same "
                   "bodies at hotdog's rate, produce()→delivery report, exact percentiles — the broker's "
                   "and the machine's share of the latency. `linger.ms=5` puts a floor of ~5 ms under p50.\n")
        out.append("| config | target rate | achieved msgs/s | p50 ms | p99 ms | mean ms |")
        out.append("|---|---|---|---|---|---|")
        for h, l in lat.items():
            out.append(f"| {e['contenders'].get(h, {}).get('label', h)} | {fmt(l['target_rate'])} | {mm(l['msgs_s'])} | "
                       f"{mm(l['p50_ms'], 2)} | {mm(l['p99_ms'], 2)} | {mm(l['mean_ms'], 2)} |")
            if l.get("p99_ms") and h != "probe":
                targets.append((f"p99 receive→ack ≤ {TARGETS['p99_ms']} ms at half of peak ({h})",
                                f"{l['p99_ms']['median']:.1f} ms", l["p99_ms"]["median"] <= TARGETS["p99_ms"]))
        out.append("")
    mc = e.get("many_conns")
    if mc:
        out.append(f"hotdog (catch-all) with {mc['conns']:,} connections all sending the same corpus "
                   f"({mc['complete']} of {mc['runs']} runs complete):\n")
        out.append("| connections | msgs/s | MB/s | CPU s | peak RSS MB |")
        out.append("|---|---|---|---|---|")
        out.append(f"| {mc['conns']:,} | {mm(mc['msgs_s'])} | {mm(mc['mb_s'], 1)} | {mm(mc['cpu_s'], 2)} | "
                   f"{mm(mc['rss_mb'], 1)} |")
        out.append("")
        if mc.get("rss_mb"):
            targets.append((f"peak RSS ≤ {TARGETS['rss_mb']} MB with {mc['conns']:,} active connections",
                            f"{mc['rss_mb']['max']:.1f} MB (max)", mc["rss_mb"]["max"] <= TARGETS["rss_mb"]))
    v = e.get("versions", {})
    out.append("Versions: " + "; ".join(f"{k} {val}" for k, val in v.items() if val) + "." +
               (f" Broker JVM: `{e['broker_jvm']}`." if e.get("broker_jvm") else "") + "\n")
    return out


def contenders_md(sec):
    """The table of one scenario's contenders."""
    out = ["| contender | msgs/s | MB/s | wall s | CPU s per 1M | msgs per CPU-s | peak RSS MB | broker CPU s | sender CPU s |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, c in sec["contenders"].items():
        note = "" if c["complete"] == c["runs"] else f" ({c['runs'] - c['complete']} of {c['runs']} runs incomplete)"
        if c.get("lines", sec["lines"]) != sec["lines"]:
            note += f" ({c['lines']:,} lines)"
        out.append(f"| {c['label']}{note} | {mm(c['msgs_s'])} | {mm(c['mb_s'], 1)} | {mm(c['secs'], 2)} | "
                   f"{mm(c.get('cpu_s_per_m'), 2)} | {mm(c['msgs_per_cpu_s'])} | {mm(c['rss_mb'], 1)} | "
                   f"{mm(c['broker_cpu_s'], 1)} | {mm(c.get('sender_cpu_s'), 2)} |")
    out.append("")
    return out


def scenarios_md(e, targets):
    """Both scenarios side by side: hotdog against the raw producer, as ratios taken within a
    repetition; then the short scenario's own table. Issue 18's targets for the raw-producer ratios."""
    secs = [("standard", e)] + list((e.get("scenarios") or {}).items())
    if len(secs) < 2:
        return []
    out = ["Two corpora in the same run, interleaved: *standard* (the bodies above; the local broker "
           "has been the ceiling there, with hotdog tied with `kcat -P`) and *short* (shorter bodies: more "
           "messages per byte, so what each message costs the producer side weighs more; `kcat -P` against "
           "body size is in [scale.md](scale.md)). Ratios are taken between runs of the same repetition, "
           "median (min–max); CPU per message is the contender's CPU-seconds over the messages it "
           "delivered, the figure that carries over to a bigger machine.\n",
           "| scenario | body bytes | kcat -P msgs/s | hotdog catch-all msgs/s | catch-all / kcat msgs/s | "
           "catch-all / kcat CPU per msg | hotdog rules msgs/s | rules / kcat msgs/s | rules / kcat CPU per msg |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, sec in secs:
        c, r = sec["contenders"], sec.get("ratios") or {}

        def rt(k):
            v = r.get(k)
            return f"{v['median']:.2f} ({v['min']:.2f}–{v['max']:.2f})" if v else "-"
        out.append(f"| {name} | {sec['body_bytes'] / sec['lines']:.0f} | {mm((c.get('kcat') or {}).get('msgs_s'))} | "
                   f"{mm((c.get('hotdog') or {}).get('msgs_s'))} | {rt('hotdog/limit')} | {rt('hotdog/limit cpu_s')} | "
                   f"{mm((c.get('hotdog-rules') or {}).get('msgs_s'))} | {rt('hotdog-rules/limit')} | "
                   f"{rt('hotdog-rules/limit cpu_s')} |")
        if name != "standard":
            for k, tgt, ok in (("hotdog/limit", f"≥ {TARGETS['limit']}", lambda v: v >= TARGETS["limit"]),
                               ("hotdog/limit cpu_s", f"≤ {TARGETS['limit_cpu']}", lambda v: v <= TARGETS["limit_cpu"]),
                               ("hotdog-rules/limit", f"≥ {TARGETS['limit']}", lambda v: v >= TARGETS["limit"])):
                if r.get(k):
                    targets.append((f"end to end, {name} bodies: {k} {tgt}", f"{r[k]['median']:.2f}",
                                    ok(r[k]["median"])))
    out.append("")
    for name, sec in secs[1:]:
        out.append(f"**{name.capitalize()} bodies**: {sec['lines']:,} lines of {sec['bytes'] / sec['lines']:.0f} bytes "
                   f"on average (bodies {sec['body_bytes'] / sec['lines']:.0f} bytes, ±10 %, half JSON, half text: "
                   f"`gen-corpus.py --body-bytes`), the same settings and repetitions:\n")
        out += contenders_md(sec)
    out.append("**Standard bodies**, every contender:\n")
    return out


def relp_md(e):
    """The RELP contenders: the sender's window and what filled it."""
    rows = [(n, c) for n, c in e["contenders"].items() if c.get("relp")]
    if not rows:
        return []
    out = ["RELP contenders: `bench/sender.c` → a sending rsyslog (`imptcp` → `omrelp`, "
           "`configs/rsyslog-omrelp.conf`: one RELP session, the action queue's dequeue batch is "
           "omrelp's transaction) → the receiver. Receiver CPU is the contender's process only, per "
           "million messages; the sending rsyslog's CPU is counted apart (it is the same program in "
           "every RELP row). Unanswered: hotdog's `relp.unanswered` gauge sampled every 50 ms while "
           "messages flowed: median of the per-run medians (largest sample), and the share of samples at the "
           "limit, min(windowSize, relp_max_pending): how often the window was full. In flight: msgs/s × hotdog's mean receive→Kafka-ack time (Little's law). "
           + (f"The RELP rows ran in the first {e['relp_runs']} of the {e['runs']} repetitions (`BENCH_RELP_RUNS`). "
            if (e.get("relp_runs") or e["runs"]) < e["runs"] else "") + "See [relp.md](relp.md).\n",
           "| contender | windowSize | batch | relp_max_pending | msgs/s | receiver CPU s per 1M | "
           "sending rsyslog CPU s per 1M | unanswered (max) | window full | mean receive→ack ms | in flight |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    per_m = 1e6 / e["lines"]
    for name, c in rows:
        r = c["relp"]
        um, ux, al = r.get("unanswered_median"), r.get("unanswered_max"), r.get("at_limit")
        out.append(f"| {name} | {r['window']} | {r['batch']} | {r['max_pending'] or '-'} | {mm(c['msgs_s'])} | "
                   f"{mm(c['cpu_s'], 2, per_m)} | {mm(r.get('relay_cpu_s'), 2, per_m)} | "
                   f"{fmt(um['median']) if um else '-'} ({fmt(ux['max']) if ux else '-'}) | "
                   f"{mm(al, 0, 100) + ' %' if al else '-'} | "
                   f"{mm(r.get('mean_ack_ms'), 1)} | {mm(r.get('in_flight'))} |")
        if r.get("extra_after_stop") or r.get("sender_log"):
            out.append(f"| ↳ {name}: duplicates {r.get('extra_after_stop')}, sender log: "
                       f"{'; '.join(r.get('sender_log') or [])[:200]} ||||||||||")
    out.append("")
    return out


def engine_md(g, targets):
    out = [f"### Engine, one core ({g['date']}, hotdog {g.get('commit', '?')})\n"]
    out.append(f"`bench/engine.c` runs what a worker runs per read — `frame_next` over reads of 64 KiB, "
               f"`syslog_parse`, `rules_eval` — over the {g['lines']:,}-line corpus in memory, no sockets, "
               f"no Kafka; {g['runs']} interleaved runs after a warm-up pass, median (min–max). lines/s by "
               f"wall clock; lines per CPU-second by the thread's CPU time (the two differ when the shared "
               f"machine takes the core away). Configs in `bench/configs/engine-*.yml`.\n")
    out.append("| config | lines/s | lines per CPU-s | forwarded | target | |")
    out.append("|---|---|---|---|---|---|")
    for c in g["configs"]:
        tgt = TARGETS.get(f"engine_{c['name'].split('-')[0]}") if c["name"] in ("regex", "jmespath") else None
        ok = c["lines_per_s"]["median"] >= tgt if tgt else None
        out.append(f"| {c['label']} | {mm(c['lines_per_s'])} | {mm(c['lines_per_cpu_s'])} | "
                   f"{c['forwarded_per_pass'] / c['lines'] * 100:.0f}% | {('≥ ' + fmt(tgt)) if tgt else ''} | "
                   f"{verdict(ok) if ok is not None else ''} |")
        if tgt:
            targets.append((f"engine {c['label']} ≥ {fmt(tgt)} lines/s/core",
                            fmt(c["lines_per_s"]["median"]), ok))
    out.append("")
    if os.path.exists(os.path.join(ROOT, "bench", "results", "engine-profile.md")):
        out.append("Where the cycles go: [engine-profile.md](engine-profile.md).\n")
    return out


def chart(e, sec, out_dir, work, png_name, what):
    """A PNG of one scenario's contenders: msgs/s and CPU-seconds per million messages."""
    if not shutil.which("gnuplot"):
        print("report: gnuplot not found, no chart")
        return
    dat = os.path.join(work, f"chart-{png_name}.dat")
    short = {"hotdog": "hotdog\\ncatch-all", "hotdog-rules": "hotdog\\nrules", "rsyslog": "rsyslog",
             "syslog-ng": "syslog-ng", "kcat": "kcat -P\\n(limit)", "hotdog-loggen": "hotdog\\n(loggen)",
             "hotdog-relp": "omrelp ->\\nhotdog relp", "rsyslog-relp": "omrelp ->\\nrsyslog imrelp",
             "original": "original\\n0.5.1"}
    rows = []
    for name in ("kcat", "hotdog", "hotdog-rules", "hotdog-loggen", "rsyslog", "syslog-ng", "hotdog-relp",
                 "rsyslog-relp", "original"):
        c = sec["contenders"].get(name)
        if not c or not c.get("msgs_s"):
            continue
        t = c["msgs_s"]
        eff = c.get("cpu_s_per_m")
        cpu_m = [eff["median"], eff["min"], eff["max"]] if eff else [0, 0, 0]
        rows.append(f"\"{short[name]}\" {t['median'] / 1e3:.1f} {t['min'] / 1e3:.1f} {t['max'] / 1e3:.1f} "
                    f"{cpu_m[0]:.3f} {cpu_m[1]:.3f} {cpu_m[2]:.3f}")
    with open(dat, "w") as f:
        f.write("\n".join(rows) + "\n")
    png = os.path.join(out_dir, png_name)
    title = (f"{sec['lines']:,} syslog lines ({what}) -> Kafka (acks=all), {e['conns']} TCP connections, "
             f"{e['machine'].get('cpus')} cores, median of {e['runs']} (bars: min-max)")
    subprocess.run(["gnuplot", "-e", f"dat='{dat}'; out='{png}'; ttl='{title}'",
                    os.path.join(ROOT, "bench", "chart.gp")], check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench"))
    a = ap.parse_args()
    with open(os.path.join(a.out, "results.json")) as f:
        doc = json.load(f)
    md = ["# hotdog benchmark results",
          "",
          "Generated by `make bench` (end to end) and `make bench-engine` (engine) from "
          "`results.json`; see `bench/` for the harness and the exact configurations.",
          ""]
    targets = []
    body = []
    if "e2e" in doc:
        e = doc["e2e"]
        body += e2e_md(e, targets)
        charts = [(e, "throughput.png", f"bodies {e['body_bytes'] / e['lines']:.0f} bytes")]
        charts += [(sec, f"throughput-{name}.png", f"{name} bodies, {sec['body_bytes'] / sec['lines']:.0f} bytes")
                   for name, sec in (e.get("scenarios") or {}).items()]
        for sec, png, what in charts:
            chart(e, sec, a.out, a.work, png, what)
            if os.path.exists(os.path.join(a.out, png)):
                body.append(f"![throughput, {what}]({png})\n")
    if "engine" in doc:
        body += engine_md(doc["engine"], targets)
    if os.path.exists(os.path.join(a.out, "scale.md")):
        body.append("How the cost grows with message size, connections and regex rules (`make bench-scale`): "
                    "[scale.md](scale.md).\n")
    if targets:
        md.append("### Targets\n")
        md.append("| target | measured (median) | |")
        md.append("|---|---|---|")
        for name, val, ok in targets:
            md.append(f"| {name} | {val} | {verdict(ok)} |")
        md.append("")
    md += body
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write("\n".join(md).rstrip() + "\n")
    print(f"report: wrote {os.path.join(a.out, 'summary.md')}")


if __name__ == "__main__":
    main()
