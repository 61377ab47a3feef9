#!/usr/bin/env python3
"""bench/engine.py - `make bench-engine`: lines/s of hotdog's engine (framing + syslog parsing +
rules) on one core, per config, with build/bench/engine (bench/engine.c); then where the cycles
go, per config, with perf (cpu-clock sampling: this VM has no hardware counters) and callgrind
(exact instruction counts), into bench/results/engine-profile.md. Results go to the "engine"
section of bench/results/results.json, and summary.md is regenerated."""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = [  # name, label, config
    ("none", "no rules (framing + parsing only)", "engine-none.yml"),
    ("catchall", "catch-all (`regex: '.*'`)", "engine-catchall.yml"),
    ("regex", "regex routing (5 rules, named groups)", "engine-regex.yml"),
    ("jmespath", "JMESPath + merge (half the lines JSON)", "engine-jmespath.yml"),
]


def log(msg):
    print(f"[bench-engine] {msg}", file=sys.stderr, flush=True)


def summarise(v):
    v = sorted(v)
    n = len(v)
    return {"median": v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2, "min": v[0], "max": v[-1], "n": n}


def corpus(work, lines):
    path = os.path.join(work, f"corpus-{lines}.txt")
    if not os.path.exists(path):
        log(f"generating {path}")
        with open(path + ".tmp", "wb") as f:
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen-corpus.py"), str(lines)],
                           stdout=f, check=True)
        os.rename(path + ".tmp", path)
    return path


def subset(src, dst, pred, limit=None):
    if not os.path.exists(dst):
        with open(src, "rb") as f, open(dst + ".tmp", "wb") as out:
            k = 0
            for line in f:
                if pred(line):
                    out.write(line)
                    k += 1
                    if limit and k >= limit:
                        break
        os.rename(dst + ".tmp", dst)
    return dst


def run_engine(exe, corpus_path, cfgs, runs, passes=1):
    args = [exe, "-r", str(runs), "-p", str(passes), corpus_path] + \
        [f"{n}={os.path.join(ROOT, 'bench', 'configs', c)}" for n, c in cfgs]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def perf_profile(exe, corpus_path, name, cfg, work, top):
    """Shares of cpu-clock samples by object, and by function (self and inclusive); None if
    perf does not work here."""
    if not shutil.which("perf"):
        return None
    data = os.path.join(work, f"perf-{name}.data")
    rec = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1999", "--call-graph", "dwarf,16384",
                          "-o", data, "--", exe, "-r", "1", "-p", "3", corpus_path,
                          f"{name}={os.path.join(ROOT, 'bench', 'configs', cfg)}"],
                         capture_output=True, text=True)
    if rec.returncode != 0:
        log(f"perf record failed: {rec.stderr.strip()[:300]}")
        return None

    def report(children, sort):
        r = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", "--percent-limit", "0.3",
                            "--children" if children else "--no-children", "--sort", sort],
                           capture_output=True, text=True)
        rows = []
        for line in r.stdout.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            m = re.match(r"\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?(.+?)\s*$", line)
            if not m:
                continue
            rest = m.group(3)
            if sort == "dso":
                rows.append((float(m.group(1)), rest.strip(), ""))
                continue
            m2 = re.match(r"(\S+(?: tid \d+)?)\s+\[.\]\s+(.+)$", rest)
            if m2:
                sym = re.split(r"\s{2,}", m2.group(2).strip())[0]
                rows.append((float(m.group(1)), m2.group(1), sym))
        return rows

    dso = [(pct, "[JIT] (PCRE2 JIT code)" if obj.startswith("[JIT]") else obj, "")
           for pct, obj, _ in report(False, "dso")][:8]
    flat = [r for r in report(False, "dso,symbol") if not r[1].startswith("[JIT]")][:top]
    skip = ("_start", "__libc_start", "main", "engine_pass", "0x", "entry_SYSCALL", "do_syscall")
    incl = [r for r in report(True, "dso,symbol") if not r[2].startswith(skip)][:top]
    os.unlink(data)
    return {"dso": dso, "self": flat, "inclusive": incl}


def callgrind_profile(exe, corpus_path, name, cfg, work, top, lines):
    """Instructions (Ir) inside engine_pass only (warm-up + one timed pass), by function."""
    if not shutil.which("valgrind"):
        return None
    out = os.path.join(work, f"callgrind-{name}.out")
    r = subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=engine_pass",
                        f"--callgrind-out-file={out}", exe, "-r", "1", "-p", "1",
                        corpus_path, f"{name}={os.path.join(ROOT, 'bench', 'configs', cfg)}"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        log(f"callgrind failed: {r.stderr.strip()[-300:]}")
        return None

    def annotate(inclusive):
        a = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--auto=no",
                            "--threshold=99.5", out], capture_output=True, text=True).stdout
        total = re.search(r"^\s*([\d,]+) .*PROGRAM TOTALS", a, re.M)
        total = int(total.group(1).replace(",", "")) if total else 0
        # only the function summary: from its "file:function" header to the next rule
        a = a.split("file:function", 1)[-1].split("\n-----", 2)
        a = a[1] if len(a) > 1 else ""
        acc = {}
        for line in a.splitlines():
            m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(?: \[(.+)\])?$", line)
            if not m or "PROGRAM TOTALS" in line or ":" not in m.group(2):
                continue
            ir = int(m.group(1).replace(",", ""))
            fn = m.group(2).split(":", 1)[1]
            obj = os.path.basename(m.group(3) or "")
            if fn.startswith("0x") and obj in ("", "???"):
                obj, fn = "PCRE2 JIT code", "(JIT)"
            fn = re.sub(r"'\d+$", "", fn)  # recursion levels
            key = fn
            if inclusive:
                if not m.group(3) and obj != "PCRE2 JIT code":
                    continue  # an inlined body attributed to another file: its caller has it
                prev = acc.get(key)
                if not prev or ir > prev[0]:
                    acc[key] = (ir, obj)
            else:
                prev = acc.get(key, (0, obj))
                acc[key] = (prev[0] + ir, prev[1] or obj)
        rows = sorted(((100.0 * ir / total, obj, fn) for fn, (ir, obj) in acc.items()), reverse=True)
        return total, rows

    total, flat = annotate(False)
    _, incl = annotate(True)
    skip = ("(below main)", "_start", "main", "__libc_start", "engine_pass")
    incl = [r for r in incl if not r[2].startswith(skip) and r[0] < 99.5]
    os.unlink(out)
    return {"total_ir": total, "ir_per_line": total / (2 * lines) if lines else None,
            "self": flat[:top], "inclusive": incl[:top]}


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=env("B", os.path.join(ROOT, "build")))
    ap.add_argument("--lines", type=int, default=int(env("BENCH_LINES", 1000000)))
    ap.add_argument("--runs", type=int, default=int(env("ENGINE_RUNS", 7)))
    ap.add_argument("--profile-lines", type=int, default=int(env("ENGINE_PROFILE_LINES", 200000)))
    ap.add_argument("--callgrind-lines", type=int, default=int(env("ENGINE_CALLGRIND_LINES", 50000)))
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    b = os.path.abspath(a.build)
    work = os.path.join(b, "bench")
    os.makedirs(work, exist_ok=True)
    exe = os.path.join(work, "engine")
    full = corpus(work, a.lines)
    json_only = subset(full, os.path.join(work, f"corpus-{a.lines}-json.txt"), lambda l: b" - - {" in l)
    text_only = subset(full, os.path.join(work, f"corpus-{a.lines}-text.txt"), lambda l: b" - - {" not in l)

    log(f"{len(CONFIGS)} configs x {a.runs} interleaved runs over {a.lines:,} lines")
    main_run = run_engine(exe, full, [(n, c) for n, _, c in CONFIGS], a.runs)
    log("JMESPath + merge over the JSON half and the text half alone")
    split = {"json": run_engine(exe, json_only, [("jmespath", "engine-jmespath.yml")], a.runs),
             "text": run_engine(exe, text_only, [("jmespath", "engine-jmespath.yml")], a.runs)}
    labels = {n: l for n, l, _ in CONFIGS}
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from bench import git_describe, machine, save_results
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
           "commit": git_describe(), "machine": machine(),
           "lines": main_run["lines"], "bytes": main_run["bytes"], "runs": a.runs, "configs": []}
    for c in main_run["configs"]:
        res["configs"].append({"name": c["name"], "label": labels[c["name"]], "config": os.path.relpath(c["config"], ROOT),
                               "lines": main_run["lines"], "forwarded_per_pass": c["forwarded_per_pass"],
                               "lines_per_s": summarise(c["wall_runs"]), "lines_per_cpu_s": summarise(c["cpu_runs"])})
    for part, r in split.items():
        c = r["configs"][0]
        res["configs"].append({"name": f"jmespath-{part}", "label": f"JMESPath + merge, {part} lines only",
                               "config": os.path.relpath(c["config"], ROOT), "lines": r["lines"],
                               "forwarded_per_pass": c["forwarded_per_pass"],
                               "lines_per_s": summarise(c["wall_runs"]), "lines_per_cpu_s": summarise(c["cpu_runs"])})
    for c in res["configs"]:
        log(f"{c['label']:45s} {c['lines_per_s']['median']:>12,.0f} lines/s "
            f"({c['lines_per_s']['min']:,.0f}-{c['lines_per_s']['max']:,.0f}), "
            f"{c['lines_per_cpu_s']['median']:,.0f} per CPU-s")

    save_results(a.out, "engine", res)

    if a.profile:
        prof_corpus = subset(full, os.path.join(work, f"corpus-{a.profile_lines}-head.txt"), lambda l: True,
                             a.profile_lines)
        cg_corpus = subset(full, os.path.join(work, f"corpus-{a.callgrind_lines}-head.txt"), lambda l: True,
                           a.callgrind_lines)
        profiles = {}
        for n, label, cfg in CONFIGS:
            log(f"profiling {n}")
            profiles[n] = {"label": label, "cfg": cfg,
                           "perf": perf_profile(exe, prof_corpus, n, cfg, work, a.top),
                           "callgrind": callgrind_profile(exe, cg_corpus, n, cfg, work, a.top, a.callgrind_lines)}
        write_profile(os.path.join(a.out, "engine-profile.md"), profiles, res, a)
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "report.py"), "--out", a.out, "--work", work],
                   check=False)


def write_profile(path, profiles, res, a):
    speed = {c["name"]: c for c in res["configs"]}
    md = ["# Engine profile", "",
          f"Generated by `make bench-engine` ({res['date']}): `bench/engine.c` (framing + parsing + rules, "
          "as a worker runs them) under perf over the first "
          f"{a.profile_lines:,} lines of the corpus (warm-up + 3 passes), and under callgrind over the first "
          f"{a.callgrind_lines:,} (warm-up + 1 pass, counting only inside the per-line loop), one config "
          "at a time.", "",
          "- **perf**: `perf record -e cpu-clock --call-graph dwarf`: time-based sampling (this VM exposes "
          "no hardware counters: `perf stat -e instructions` says `<not supported>`). *self*: samples in "
          "the function itself; *inclusive*: in it and everything it calls. Functions the compiler "
          "inlined appear as `(inlined)` where DWARF resolves them. Includes start-up (config, corpus "
          "load: the kernel rows).",
          "- **callgrind**: instructions executed (Ir) per function, exact and free of the machine's "
          "noise, but blind to cache misses and branch mispredictions.",
          "- jansson has no symbols in Debian's package (no dbgsym reachable here): its internal "
          "functions are addresses; the exported entry points (`json_loadb`, `json_dumpb`, ...) carry "
          "their inclusive cost. PCRE2's JIT-compiled code has no symbols either (`[JIT]`).", ""]

    def table(rows, head, with_fn=True):
        if not with_fn:
            out = [f"| {head} % | object |", "|---|---|"]
            return out + [f"| {pct:.1f} | {obj} |" for pct, obj, _ in rows]
        out = [f"| {head} % | object | function |", "|---|---|---|"]
        for pct, obj, sym in rows:
            out.append(f"| {pct:.1f} | {obj} | `{sym}` |")
        return out

    for n, p in profiles.items():
        s = speed.get(n)
        md.append(f"## {p['label']} (`bench/configs/{p['cfg']}`)\n")
        if s:
            md.append(f"{s['lines_per_s']['median']:,.0f} lines/s (median of {s['lines_per_s']['n']} runs, "
                      f"`make bench-engine`).\n")
        cg = p["callgrind"]
        if cg:
            md.append(f"callgrind: **{cg['ir_per_line']:,.0f} instructions per line**.\n")
            md.append("| callgrind self Ir % | object | function | | callgrind inclusive Ir % | object | function |")
            md.append("|---|---|---|---|---|---|---|")
            for i in range(max(len(cg["self"]), len(cg["inclusive"]))):
                a_ = cg["self"][i] if i < len(cg["self"]) else None
                b_ = cg["inclusive"][i] if i < len(cg["inclusive"]) else None
                cell = lambda r: f"{r[0]:.1f} | {r[1]} | `{r[2]}`" if r else " | | "
                md.append(f"| {cell(a_)} | | {cell(b_)} |")
            md.append("")
        pf = p["perf"]
        if pf:
            md.append("perf, by object: " + ", ".join(f"{o} {pct:.1f}%" for pct, o, _ in pf["dso"]) + ".\n")
            md.append("| perf self % | object | function | | perf inclusive % | object | function |")
            md.append("|---|---|---|---|---|---|---|")
            for i in range(max(len(pf["self"]), len(pf["inclusive"]))):
                a_ = pf["self"][i] if i < len(pf["self"]) else None
                b_ = pf["inclusive"][i] if i < len(pf["inclusive"]) else None
                cell = lambda r: f"{r[0]:.1f} | {r[1]} | `{r[2]}`" if r else " | | "
                md.append(f"| {cell(a_)} | | {cell(b_)} |")
            md.append("")
    with open(path, "w") as f:
        f.write("\n".join(md).rstrip() + "\n")
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
