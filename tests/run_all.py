#!/usr/bin/env python3
"""Runs every test hotdog has and prints one closing line: 'N passed, M failed'.

Unit test binaries and the JMESPath compliance runner each end with '<name>: N passed, M
failed'; the end-to-end tests run under pytest (junit XML is read for the counts). A suite
that cannot run at all counts as one failure, so a broken build never looks green.
"""
import argparse
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOSING = re.compile(r"^(?:[\w.-]+: )?(\d+) passed, (\d+) failed", re.M)


def run_binary(cmd, env=None):
    print(f"== {' '.join(map(str, cmd))}", flush=True)
    r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    m = None
    for m in CLOSING.finditer(r.stdout):
        pass
    if "SKIPPED" in r.stdout and r.returncode == 0 and not m:
        return 0, 0, 1
    if not m:
        print(f"!! {cmd[0]} printed no closing line (exit {r.returncode}): counted as a failure")
        return 0, 1, 0
    passed, failed = int(m.group(1)), int(m.group(2))
    if r.returncode != 0 and failed == 0:
        print(f"!! {cmd[0]} exited {r.returncode} with no failed test: counted as a failure")
        failed = 1
    return passed, failed, 0


def run_pytest(build, extra, suite="e2e"):
    xml = Path(build) / f"{suite}-junit.xml"
    env = dict(os.environ, HOTDOG_BIN=str(Path(build).resolve() / "hotdog"),
               PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", f"--junitxml={xml}",
           str(ROOT / "tests" / suite), *extra]
    print(f"== {' '.join(cmd)}", flush=True)
    r = subprocess.run(cmd, env=env)
    if not xml.exists():
        print(f"!! pytest wrote no report (exit {r.returncode}): counted as a failure")
        return 0, 1, 0
    suite = ET.parse(xml).getroot()
    if suite.tag == "testsuites":
        suite = suite[0]
    total, fails = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
    skipped = int(suite.get("skipped"))
    if r.returncode not in (0, 1):
        print(f"!! pytest exited {r.returncode}: counted as a failure")
        fails += 1
    return total - fails - skipped, fails, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--jmespath-suite", default=str(ROOT.parent / "shared/testdata/jmespath"))
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--compat", action="store_true",
                    help="only the drop-in comparison with the original (tests/compat)")
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()
    b = Path(a.build)
    totals = [0, 0, 0]

    def add(res):
        for i in range(3):
            totals[i] += res[i]

    figures = Path(os.environ.get("HOTDOG_FIGURES", ROOT / "build" / "test-output" / "fault-figures.txt"))
    figures.unlink(missing_ok=True)
    if a.compat:
        add(run_pytest(b, a.pytest_args, suite="compat"))
        print(f"\n{totals[0]} passed, {totals[1]} failed" + (f", {totals[2]} skipped" if totals[2] else ""))
        return 1 if totals[1] else 0
    for t in sorted(b.glob("test_*")):
        if os.access(t, os.X_OK) and t.is_file():
            add(run_binary([t]))
    add(run_binary([b / "jp_compliance", a.jmespath_suite]))
    if not a.no_e2e:
        add(run_pytest(b, a.pytest_args))
    passed, failed, skipped = totals
    if figures.exists():  # written by tests/e2e/test_faults.py
        print("\nfault tests (real broker, exact counts):")
        print(figures.read_text(), end="")
    print()
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
