"""End to end: the systemd notification protocol (Type=notify), spoken to a socket of ours."""
import signal
import socket
import time

from conftest import Hotdog, config, free_port, unique_topic
from faults_helpers import stats


def test_ready_watchdog_reloading_stopping(kafka, tmp_path):
    path = str(tmp_path / "notify.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(10)
    sport = free_port()
    h = Hotdog(tmp_path, config(free_port(), unique_topic(),
                                extra_global=f"  status:\n    address: 127.0.0.1\n    port: {sport}\n"),
               env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    h.start()
    got = []

    def until(word):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = rx.recv(4096).decode()
            got.append(msg)
            if word in msg.split("\n"):
                return
        raise AssertionError(f"no {word} in {got}")

    try:
        until("READY=1")
        t0 = time.monotonic()
        until("WATCHDOG=1")
        until("WATCHDOG=1")
        assert time.monotonic() - t0 < 2  # pinged at half of the 400 ms interval
        # The pings above were sent because every worker's loop answered its own ping.
        st = stats(sport)
        assert st is not None and st["workers.stalled"] == 0, st
        h.proc.send_signal(signal.SIGHUP)
        until("RELOADING=1")
        until("READY=1")
        h.proc.send_signal(signal.SIGTERM)
        until("STOPPING=1")
    finally:
        assert h.stop() == 0
        rx.close()
    assert any(m.startswith("READY=1\nSTATUS=1 listener(s)") for m in got), got
