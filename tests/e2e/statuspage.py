"""Renders the status page in Debian's headless Chromium: a screenshot and the DOM after scripts ran.

    import statuspage
    if not statuspage.available(): pytest.skip(statuspage.MISSING)
    dom = statuspage.render("http://127.0.0.1:PORT/", tmp_path / "page.png")

One Chromium run does both (--screenshot and --dump-dom together). Waiting is done with
--virtual-time-budget: Chromium runs the page on a virtual clock that jumps over idle time, so
the page's 1 s polling timers fire wait_ms/1000 times (plus the first poll at load) in well
under a second of real time. Virtual time is held while a network fetch is pending, so each
poll really reaches the server and its answer is rendered before the next timer fires.
Consequence: the page's own clock and the server's wall clock disagree; the page computes rates
from the server's `uptime_s` for that reason (a /stats without it gives meaningless rates here).

The run is bounded by timeout_s of real time; on expiry the whole process group is killed.
"""
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MISSING = f"{CHROMIUM} not found (apt-get install chromium; scripts/install-deps installs it)"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-proxy-server", "--hide-scrollbars", "--window-size=1280,900",
]


def available():
    return os.access(CHROMIUM, os.X_OK)


class RenderError(RuntimeError):
    pass


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def render(url, png_path, wait_ms=4000, timeout_s=None):
    """Loads url, lets wait_ms of (virtual) page time pass, writes a 1280x900 PNG to png_path
    and returns the serialized DOM. Raises RenderError if Chromium fails or times out."""
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    if png_path.exists():
        png_path.unlink()
    if timeout_s is None:
        timeout_s = 30 + wait_ms / 1000
    profile = tempfile.mkdtemp(prefix="hotdog-chromium-")
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
           f"--virtual-time-budget={int(wait_ms)}", f"--screenshot={png_path}", "--dump-dom", url]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            raise RenderError(f"chromium did not finish within {timeout_s}s; stderr tail:\n"
                              + _tail(err))
        finally:
            _kill_group(proc)  # helpers (zygote, renderer) that outlived the browser
        dom = out.decode("utf-8", "replace")
        if proc.returncode != 0 or "<html" not in dom.lower():
            raise RenderError(f"chromium exited {proc.returncode}, {len(out)} bytes of DOM; "
                              "stderr tail:\n" + _tail(err))
        return dom
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _tail(err, n=15):
    lines = [l for l in err.decode("utf-8", "replace").splitlines() if "dbus" not in l]
    return "\n".join(lines[-n:])
