#!/usr/bin/env python3
"""The Debian package (debian/, `make deb`).

Always: the files of debian/ agree with each other and with the project: the packaged unit is
contrib/hotdog.service but for the changes the package means to make, and the packaged
configuration keeps its state under the directory the package creates and the unit writes to.

Only when asked, because it installs a package on this machine (root, Debian 12):
HOTDOG_DEB=build/deb/hotdog_VERSION_ARCH.deb, or `python3 tests/e2e/test_deb.py PATH.deb`, which
prints the `N passed, M failed` line CI reads (`make deb` builds the file). Then the package is
installed for real with dpkg -i, its binary checks the packaged configuration, one line goes
through the installed binary, run as the package's user, to the test broker; a reinstall keeps
a changed conffile; dpkg -r and dpkg -P leave what README.Debian says they leave. These tests
run in file order, each on the state the one before left; whatever happens, the module fixture
purges the package at the end, so that no installed hotdog is left behind.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import KAFKA_PORT, ROOT, consume, free_port

DEBIAN = ROOT / "debian"
CONTRIB_UNIT = ROOT / "contrib" / "hotdog.service"
PACKAGED_UNIT = DEBIAN / "hotdog.service"
PACKAGED_CONFIG = DEBIAN / "hotdog.yml"

DEB = os.environ.get("HOTDOG_DEB")
BIN = Path("/usr/bin/hotdog")
CONF = Path("/etc/hotdog/hotdog.yml")
STATE = Path("/var/lib/hotdog")
UNIT = Path("/lib/systemd/system/hotdog.service")

needs_deb = pytest.mark.skipif(not DEB, reason="installs the package: set HOTDOG_DEB=path/to/hotdog_*.deb")


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, LC_ALL="C.UTF-8", DEBIAN_FRONTEND="noninteractive"), **kw)
    if check:
        assert r.returncode == 0, f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout}{r.stderr}"
    return r


def directives(path):
    """{key: [values]} of a unit file, in order; comments and section headers left out."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


# ------------------------------------------------------------- debian/ itself (always)

def test_packaged_unit_is_contrib_unit_with_a_static_user():
    contrib, packaged = directives(CONTRIB_UNIT), directives(PACKAGED_UNIT)
    # What the package changes, and only that: the installed path, and the system user hotdog
    # (whose state directory is private to it) in place of a dynamic one.
    assert contrib.pop("ExecStart") == ["/usr/local/bin/hotdog -c /etc/hotdog/hotdog.yml"]
    assert packaged.pop("ExecStart") == ["/usr/bin/hotdog -c /etc/hotdog/hotdog.yml"]
    assert contrib.pop("DynamicUser") == ["yes"]
    assert packaged.pop("User") == ["hotdog"] and packaged.pop("Group") == ["hotdog"]
    assert packaged.pop("StateDirectoryMode") == ["0750"]
    # DynamicUser=yes implies RemoveIPC=yes; the static user keeps it.
    assert packaged.pop("RemoveIPC") == ["yes"]
    # Every other setting (hardening, timeouts, the watchdog, restarts) is the same, so a change
    # to contrib/hotdog.service that is not made here too fails this test.
    differ = {k: (contrib.get(k), packaged.get(k)) for k in sorted(set(contrib) | set(packaged))
              if contrib.get(k) != packaged.get(k)}
    assert not differ, f"{CONTRIB_UNIT.name} and debian/hotdog.service differ (contrib, debian): {differ}"


def test_packaged_config_keeps_its_state_in_the_state_directory():
    # (`hotdog --check --strict` of this file runs in the package build, dh_auto_test, and on the
    # installed file below.)
    text = PACKAGED_CONFIG.read_text()
    spool = re.search(r"^    spool:\n      path: (\S+)$", text, re.M)
    dead = re.search(r"^    dead_letter: (\S+)$", text, re.M)
    assert spool and dead, "the packaged config no longer sets global.kafka.spool.path and dead_letter"
    # The directory the package creates (tmpfiles.d) and the one the unit makes writable
    # (StateDirectory=, the only writable place under ProtectSystem=strict).
    tmpfiles = (DEBIAN / "hotdog.tmpfiles").read_text()
    assert re.search(r"^d /var/lib/hotdog 0750 hotdog hotdog -$", tmpfiles, re.M), tmpfiles
    assert directives(PACKAGED_UNIT)["StateDirectory"] == ["hotdog"]
    for path in (spool.group(1), dead.group(1)):
        assert Path(path).parent == STATE, f"{path} is outside {STATE}"
    sysusers = (DEBIAN / "hotdog.sysusers").read_text()
    assert re.search(r'^u hotdog - ".+" /var/lib/hotdog$', sysusers, re.M), sysusers


# ------------------------------------------------------------- the installed package

def installed_status():
    r = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "hotdog"], check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def processes_of(exe):
    """PIDs whose executable is exe (a deleted one too: /proc shows it as 'PATH (deleted)')."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if os.readlink(p / "exe").split(" (deleted)")[0] == str(exe):
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def deb():
    path = Path(DEB).resolve()
    assert path.is_file(), f"HOTDOG_DEB={DEB}: no such file"
    assert os.geteuid() == 0, "installing a package needs root"
    assert installed_status() is None, \
        "hotdog is installed on this machine already: these tests would replace it (dpkg -P hotdog first)"
    yield path
    # Whatever failed above: no hotdog of the package keeps running, and none stays installed.
    for pid in processes_of(BIN):
        os.kill(pid, signal.SIGKILL)
    if installed_status() is not None:
        run(["dpkg", "--purge", "hotdog"], check=False)


@needs_deb
def test_package_fields_and_files(deb):
    fields = run(["dpkg-deb", "-f", str(deb)]).stdout
    # librdkafka is linked statically (Built-Using names the source it came from), so no
    # librdkafka package is a dependency, but the libraries it uses are.
    assert re.search(r"^Built-Using: librdkafka \(= 2\.8\.0-\S+\)$", fields, re.M), fields
    depends = re.search(r"^Depends: (.*)$", fields, re.M).group(1)
    assert "rdkafka" not in depends
    for lib in ("libyaml-0-2", "libpcre2-8-0", "libjansson4", "libssl3", "libsystemd0", "libsasl2-2",
                "libzstd1", "liblz4-1", "zlib1g"):
        assert re.search(rf"(^|, ){lib}\b", depends), f"{lib} not in Depends: {depends}"
    files = {m.group(1) for m in re.finditer(r" \./(\S*)", run(["dpkg-deb", "-c", str(deb)]).stdout)}
    for f in ("usr/bin/hotdog", "etc/hotdog/hotdog.yml", "lib/systemd/system/hotdog.service",
              "usr/lib/sysusers.d/hotdog.conf", "usr/lib/tmpfiles.d/hotdog.conf",
              "usr/share/man/man1/hotdog.1.gz", "usr/share/doc/hotdog/copyright",
              "usr/share/doc/hotdog/README.Debian"):
        assert f in files or f + ".gz" in files, f"{f} not in the package"
    # The package does not own the state directory: dpkg would try to remove it, with the spool in
    # it, on dpkg -r; the postinst makes it (tmpfiles.d) and the postrm deletes it on purge.
    assert not any(f.startswith("var/lib/hotdog") for f in files)


@needs_deb
def test_install(deb):
    r = run(["dpkg", "-i", str(deb)], check=False)
    if r.returncode != 0 and "dependency problems" in r.stderr:
        # dpkg -i does not fetch dependencies; apt completes them (and configures hotdog).
        run(["apt-get", "install", "-f", "-y", "-q", "--no-install-recommends"])
    elif r.returncode != 0:
        raise AssertionError(f"dpkg -i exited {r.returncode}:\n{r.stdout}{r.stderr}")
    assert installed_status() == "ii"
    assert run(["dpkg-query", "-W", "-f=${Conffiles}", "hotdog"]).stdout.split()[0] == str(CONF)
    # The system user: below the first UID of people, no login shell, home in the state directory.
    pw = run(["getent", "passwd", "hotdog"]).stdout.strip().split(":")
    uid = int(pw[2])
    assert 0 < uid < 1000 and pw[5] == str(STATE) and pw[6] == "/usr/sbin/nologin", pw
    st = STATE.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, int(pw[3]), 0o750)
    # Installed, not enabled, not started (README.Debian says why).
    assert UNIT.is_file()
    assert not list(Path("/etc/systemd/system").glob("*.wants/hotdog.service"))
    assert processes_of(BIN) == []
    if Path("/run/systemd/system").is_dir():  # booted with systemd
        assert run(["systemctl", "is-active", "hotdog"], check=False).stdout.strip() == "inactive"


@needs_deb
def test_installed_binary_checks_the_packaged_config():
    assert "rdkafka" not in run(["ldd", str(BIN)]).stdout  # the static backport, not Debian's 2.0.2
    version = run(["dpkg-query", "-W", "-f=${Version}", "hotdog"]).stdout
    assert run([str(BIN), "--version"]).stdout.strip() == f"hotdog {version.rsplit('-', 1)[0]}"
    r = run([str(BIN), "--check", "--strict", "-c", str(CONF)])
    assert r.stdout.strip() == f"{CONF}: OK (1 rule(s), 0 warning(s))", r.stdout + r.stderr
    # As the user the unit runs it as: it can read its configuration.
    r = run(["setpriv", "--reuid=hotdog", "--regid=hotdog", "--clear-groups", str(BIN), "--check",
             "-c", str(CONF)])
    assert "OK" in r.stdout


@needs_deb
def test_installed_unit_verifies():
    # systemd-analyze checks the unit's settings, that ExecStart= exists and that man:hotdog(1)
    # is installed; it needs no running systemd.
    r = run(["systemd-analyze", "verify", str(UNIT)], check=False)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


@needs_deb
def test_one_line_through_the_installed_binary(kafka):
    # The packaged configuration as installed, but for the listening port (free here) and the
    # topic (new); the broker comes from KAFKA_BROKER, as /etc/hotdog/hotdog.env would give it.
    port, topic = free_port(), f"deb-{uuid.uuid4().hex[:12]}"
    text, n1 = re.subn(r"^    port: 1514$", f"    port: {port}", CONF.read_text(), flags=re.M)
    text, n2 = re.subn(r"^    topic: 'logs'$", f"    topic: '{topic}'", text, flags=re.M)
    assert n1 == n2 == 1, "the packaged config no longer has port 1514 and topic 'logs'"
    tmp = Path(tempfile.mkdtemp(prefix="hotdog-deb-"))
    try:
        tmp.chmod(0o755)  # the hotdog user reads the copy
        cfg = tmp / "hotdog.yml"
        cfg.write_text(text)
        log = open(tmp / "hotdog.log", "w+")
        proc = subprocess.Popen(
            ["setpriv", "--reuid=hotdog", "--regid=hotdog", "--clear-groups", str(BIN), "-c", str(cfg)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, KAFKA_BROKER=f"127.0.0.1:{KAFKA_PORT}"))
        try:
            deadline = time.monotonic() + 30
            while "listening on" not in (tmp / "hotdog.log").read_text():
                assert proc.poll() is None, f"hotdog exited:\n{(tmp / 'hotdog.log').read_text()}"
                assert time.monotonic() < deadline, f"hotdog did not start:\n{(tmp / 'hotdog.log').read_text()}"
                time.sleep(0.05)
            line = f"deb {uuid.uuid4().hex}"
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(f"<14>1 2026-01-01T00:00:00Z host deb - - - {line}\n".encode())
            got = consume(topic, 1, timeout=30)
            assert [m["payload"] for m in got] == [line], got
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=30)
            log.close()
        out = (tmp / "hotdog.log").read_text()
        assert rc == 0, out
        assert "1 delivered, 0 failed" in out and "0 lost" in out, out
    finally:
        shutil.rmtree(tmp)
    # hotdog made its spool, as the hotdog user, in the state directory the package made.
    spool = STATE / "spool"
    assert spool.is_dir() and spool.stat().st_uid == STATE.stat().st_uid


@needs_deb
def test_reinstall_keeps_a_changed_conffile(deb):
    marker = f"# changed by test_deb {uuid.uuid4().hex}\n"
    with open(CONF, "a") as f:
        f.write(marker)
    # The same version again goes through the upgrade path of the maintainer scripts; dpkg keeps
    # a conffile the administrator changed without asking when the package's own did not change
    # (stdin is /dev/null: a question would fail the install).
    run(["dpkg", "-i", str(deb)])
    assert installed_status() == "ii"
    assert CONF.read_text().endswith(marker)
    run([str(BIN), "--check", "-c", str(CONF)])
    assert processes_of(BIN) == []  # a disabled, stopped unit is not started by the upgrade


@needs_deb
def test_remove_keeps_configuration_state_and_user():
    assert installed_status() == "ii"
    run(["dpkg", "--remove", "hotdog"])
    assert installed_status() == "rc"
    assert not BIN.exists() and not UNIT.exists()
    assert CONF.is_file() and "# changed by test_deb" in CONF.read_text()
    assert (STATE / "spool").is_dir()
    run(["getent", "passwd", "hotdog"])


@needs_deb
def test_purge_leaves_only_the_user():
    uid = int(run(["getent", "passwd", "hotdog"]).stdout.split(":")[2])
    run(["dpkg", "--purge", "hotdog"])
    assert installed_status() is None
    assert run(["dpkg", "-L", "hotdog"], check=False).returncode != 0
    assert not Path("/etc/hotdog").exists()
    assert not STATE.exists()
    assert not list(Path("/var/lib/systemd/deb-systemd-helper-enabled").rglob("hotdog.service*"))
    # The user stays (Debian does not delete system users), owning nothing left behind.
    run(["getent", "passwd", "hotdog"])
    r = run(["find", "/etc", "/var", "/usr", "/opt", "/srv", "-xdev", "-uid", str(uid)], check=False)
    assert r.stdout == "", r.stdout


# ------------------------------------------------------------- as a script (CI)

def main(argv):
    """`python3 tests/e2e/test_deb.py PATH.deb`: every test of this file, then the closing line."""
    if len(argv) != 1 or not argv[0].endswith(".deb"):
        print(f"usage: {sys.argv[0]} PATH.deb (one file; got {argv})\n0 passed, 1 failed")
        return 2
    os.environ["HOTDOG_DEB"] = argv[0]

    class Totals:
        counts = None

        def pytest_terminal_summary(self, terminalreporter):
            s = terminalreporter.stats
            self.counts = (len(s.get("passed", [])), len(s.get("failed", [])) + len(s.get("error", [])),
                           len(s.get("skipped", [])))

    totals = Totals()
    rc = pytest.main(["-v", "-p", "no:cacheprovider", "-rfEs", str(Path(__file__).resolve())],
                     plugins=[totals])
    passed, failed, skipped = totals.counts or (0, 1, 0)
    if rc not in (0, 1) and failed == 0:
        failed = 1
    # Skipped here means not run: counted as failed.
    print(f"\n{passed} passed, {failed + skipped} failed")
    return 0 if rc == 0 and not skipped else 1


if __name__ == "__main__":
    # conftest is imported above from tests/e2e; pytest finds it there too.
    sys.exit(main(sys.argv[1:]))
