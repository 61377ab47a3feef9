"""Abuse: hostile configuration files. `hotdog --check -c FILE` must exit 2 with a clear
`FILE:LINE: message`, within a few seconds and in bounded memory (peak RSS of the child, from
wait4's rusage), never crash or hang."""
import os
import re
import signal
import subprocess
import time

from conftest import HOTDOG, SLOW, case_dir, record_static, rss_bound_mb

BASE = """global:
  listen:
    address: '127.0.0.1'
    port: 17514
    max_message_size: 65536
  kafka:
    conf: {bootstrap.servers: '127.0.0.1:9092', linger.ms: 5}
    topic: 'logs'
rules:
  - regex: '^hello\\s+(?P<name>\\w+)'
    field: msg
    actions:
      - type: replace
        template: 'greeting for {{name}}: {{msg}}'
      - {type: forward, topic: 'greetings', key: '{{name}}'}
  - jmespath: 'meta.topic'
    actions: [{type: forward}]
"""


TIME = "/usr/bin/time"


def check(path, timeout):
    """Runs hotdog --check -c path; returns (exit status, or 'timeout' / 'signal NAME', stderr,
    seconds, peak RSS in MB). The peak RSS comes from /usr/bin/time (%M) when installed: wait4's
    own ru_maxrss would include the RSS of the forking Python process."""
    t0 = time.monotonic()
    tfile = path.with_suffix(".time")
    cmd = [HOTDOG, "--check", "-c", str(path)]
    if os.path.exists(TIME):
        cmd = [TIME, "-f", "%M", "-o", str(tfile)] + cmd
    with open(path.with_suffix(".stderr"), "w+b") as errf:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, start_new_session=True)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            errf.seek(0)
            return "timeout", errf.read().decode(errors="replace"), time.monotonic() - t0, 0.0
        dt = time.monotonic() - t0
        errf.seek(0)
        err = errf.read().decode(errors="replace")
    rc = p.returncode
    rss = 0.0
    if os.path.exists(TIME):
        t = tfile.read_text()
        sig = re.search(r"Command terminated by signal (\d+)", t)
        if sig:
            rc = f"signal {signal.Signals(int(sig.group(1))).name}"
        rss = int(t.strip().splitlines()[-1]) / 1024
    elif rc < 0:
        rc = f"signal {signal.Signals(-rc).name}"
    return rc, err, dt, rss


def expect_refused(name, path, rss_mb, max_seconds=5.0, line=None, also=None):
    """One config case: exit 2, 'path:LINE: ' on stderr, fast, in bounded memory."""
    bound = rss_bound_mb(rss_mb)
    rc, err, dt, rss = check(path, max_seconds * SLOW * 4)
    errors = []
    crash = isinstance(rc, str) and rc.startswith("signal") or any(
        m in err for m in ("AddressSanitizer", "runtime error:", "LeakSanitizer"))
    m = re.search(re.escape(str(path)) + r":(\d+): (.*)", err)
    if rc != 2:
        errors.append(f"exit status {rc}, expected 2; stderr: {err[-2000:]!r}")
    if not m:
        errors.append(f"no '{path}:LINE: message' on stderr: {err[-2000:]!r}")
    elif line is not None and int(m.group(1)) != line:
        errors.append(f"error on line {m.group(1)}, expected {line}: {m.group(0)}")
    if dt > max_seconds * SLOW:
        errors.append(f"took {dt:.2f} s (bound {max_seconds * SLOW:.0f} s)")
    if rss > bound:
        errors.append(f"peak RSS {rss:.1f} MB over the bound {bound} MB")
    if crash:
        errors.append(f"crashed: {err[-4000:]}")
    msg = m.group(0)[:160] if m else err.strip()[:160]
    notes = [f"{path.stat().st_size:,} bytes: exit {rc} in {dt:.2f} s, peak RSS {rss:.1f} MB: {msg}"]
    if also:
        notes.append(also)
    print(f"  [{name}] {notes[0]}", flush=True)
    record_static(name, not errors, counters={"exit": rc, "line": int(m.group(1)) if m else None},
                  rss_mb=round(rss, 1), bound_mb=bound, notes=notes, errors=errors, crash=crash,
                  seconds=round(dt, 2))
    assert not errors, f"case {name}:\n  " + "\n  ".join(errors)


def test_config_truncated_yaml():
    d = case_dir("config_truncated_yaml")
    base = BASE.encode()
    # Every truncation: never a crash or hang; an error always says FILE:LINE.
    bad = []
    refused = past_end = 0
    t0 = time.monotonic()
    for cut in range(len(base)):
        p = d / "cut.yml"
        p.write_bytes(base[:cut])
        rc, err, dt, rss = check(p, 5 * SLOW)
        lines = base[:cut].count(b"\n") + 1
        m = re.search(re.escape(str(p)) + r":(\d+): ", err)
        # libyaml puts the end of a file without a final LF on the line after it: allowed.
        if rc == 2 and m and 1 <= int(m.group(1)) <= lines + 1:
            refused += 1
            past_end += int(m.group(1)) == lines + 1
        elif rc != 0:  # 0 is fine: some prefixes are valid configs ("port: 175")
            bad.append((cut, rc, err.strip()[:200]))
    also = (f"all {len(base)} truncations of a {len(base)}-byte config checked in "
            f"{time.monotonic() - t0:.1f} s: {refused} refused with FILE:LINE, "
            f"{len(base) - refused - len(bad)} valid prefixes, {len(bad)} bad; "
            f"{past_end} errors name the line after the last (a file without a final LF)")
    print(f"  [config_truncated_yaml] {also}")
    # And the typical one: cut inside a quoted scalar.
    p = d / "truncated.yml"
    p.write_bytes(base[:base.index(b"(?P<name>")])
    try:
        expect_refused("config_truncated_yaml", p, rss_mb=32, line=10, also=also)
    finally:
        assert not bad, f"truncations that crashed, hung or gave no FILE:LINE: {bad[:5]}"


def test_config_billion_laughs():
    d = case_dir("config_billion_laughs")
    lines = ["global:", "  listen: {address: 127.0.0.1, port: 17514}", "  kafka:",
             "    conf: {bootstrap.servers: '127.0.0.1:9092'}", "    topic: t", "rules:",
             "  - regex: 'x'", "    actions:", "      - type: merge", "        json:",
             "          l0: &a0 {a: lol, b: lol, c: lol, d: lol, e: lol, f: lol, g: lol, h: lol, i: lol}"]
    for i in range(1, 10):
        lines.append(f"          l{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(9)) + "}")
    lines.append("      - type: forward")
    p = d / "laughs.yml"
    p.write_text("\n".join(lines) + "\n")
    # 9^10 = 3.5 billion nodes once the aliases are expanded.
    expect_refused("config_billion_laughs", p, rss_mb=32)


def test_config_10mb_regex():
    d = case_dir("config_10mb_regex")
    p = d / "regex.yml"
    head = BASE.split("rules:")[0] + "rules:\n"
    p.write_text(head + "  - regex: '" + "a" * (10 << 20) + "'\n    actions: [{type: forward}]\n")
    expect_refused("config_10mb_regex", p, rss_mb=128, line=10)


def test_config_10mb_regex_alternation():
    d = case_dir("config_10mb_regex_alternation")
    p = d / "regex-alt.yml"
    head = BASE.split("rules:")[0] + "rules:\n"
    p.write_text(head + "  - regex: '(?:" + "|".join(["x[a-z]+y"] * ((10 << 20) // 9)) + ")'\n"
                 "    actions: [{type: forward}]\n")
    expect_refused("config_10mb_regex_alternation", p, rss_mb=128, line=10)


def test_config_10mb_jmespath():
    d = case_dir("config_10mb_jmespath")
    p = d / "jmespath.yml"
    head = BASE.split("rules:")[0] + "rules:\n"
    p.write_text(head + "  - jmespath: '" + "||".join(["a.b"] * ((10 << 20) // 5)) + "'\n"
                 "    actions: [{type: forward}]\n")
    expect_refused("config_10mb_jmespath", p, rss_mb=128, line=10)


def test_config_100k_nested_flow():
    # libyaml's cost grows with the square of the nesting: 100,000 '[' took 10 s (68 s on the
    # machine that found it) before the syntax error. Refused by the depth limit at once.
    d = case_dir("config_100k_nested_flow")
    p = d / "nested.yml"
    head = BASE.split("rules:")[0] + "rules:\n"
    p.write_text(head + "  - regex: 'x'\n    actions: [{type: merge, json: {a: " + "[" * 100_000 + "\n")
    expect_refused("config_100k_nested_flow", p, rss_mb=32, max_seconds=1.0, line=11)


def test_config_second_document():
    d = case_dir("config_second_document")
    p = d / "two.yml"
    p.write_text(BASE + "---\nrules:\n  - regex: 'lost'\n    actions: [{type: forward}]\n")
    expect_refused("config_second_document", p, rss_mb=32, max_seconds=1.0,
                   line=BASE.count("\n") + 1)


def test_config_not_a_regular_file(tmp_path):
    # A directory, a FIFO (opening one for reading would block for ever) and a device: each
    # refused at once, with the reason.
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    for path, reason in ((tmp_path, "Is a directory"), (fifo, "a FIFO, not a regular file"),
                         ("/dev/null", "a character device, not a regular file")):
        p = subprocess.run([HOTDOG, "--check", "-c", str(path)], capture_output=True, text=True,
                           timeout=10 * SLOW)
        assert p.returncode == 2, (path, p.returncode, p.stderr)
        assert f"{path}: cannot read: {reason}" in p.stderr, (path, p.stderr)
