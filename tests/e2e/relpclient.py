"""A RELP client for the tests (plaintext or TLS); re-exports the private-broker fixtures of
faults_helpers for the RELP test modules."""
import socket
import ssl
import time

import faults_helpers as fh
from faults_helpers import broker, kafka  # noqa: F401 (fixtures the RELP modules import from here)

OFFERS = b"relp_version=0\nrelp_software=test,1\ncommands=syslog"


class RelpClient:
    """A minimal RELP client: frames out, responses parsed as they arrive; over TLS when ca is
    given (cert, key: a client certificate; tls_max: the highest TLS version). rcvbuf: a small
    receive buffer, set before connecting, so that a client that does not read fills hotdog's
    side quickly."""

    def __init__(self, port, ca=None, cert=None, key=None, rcvbuf=None, tls_max=None):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            # A small MSS too: on loopback (MSS 65483) the kernel grows hotdog's send buffer
            # to megabytes; it sizes it in segments.
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", port))
        self.s = raw
        if ca is not None:
            ctx = ssl.create_default_context(cafile=str(ca))
            if tls_max:
                ctx.maximum_version = tls_max
            if cert:
                ctx.load_cert_chain(str(cert), str(key))
            self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.txnr = 0
        self.buf = b""
        self.unread = []  # frames wait_rsps read past what it waited for

    def frame(self, cmd, data=b""):
        self.txnr += 1
        return self.txnr, (b"%d %s %d" % (self.txnr, cmd, len(data)) +
                           ((b" " + data) if data else b"") + b"\n")

    def send(self, cmd, data=b""):
        t, f = self.frame(cmd, data)
        self.s.sendall(f)
        return t

    def frames(self, timeout):
        """Every complete frame received within timeout: (txnr, command, data); (None, b"EOF",
        b"") when the server closed."""
        out, self.unread = self.unread, []
        if out and out[-1][1] == b"EOF":
            return out
        self.s.settimeout(0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out += self._parse()
            try:
                chunk = self.s.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (ConnectionError, ssl.SSLError):
                chunk = b""
            if not chunk:
                out += self._parse()
                out.append((None, b"EOF", b""))
                return out
            self.buf += chunk
        return out + self._parse()

    def _parse(self):
        out = []
        while True:
            parts = self.buf.split(b" ", 2)
            if len(parts) < 3:
                return out
            txnr, cmd, rest = parts
            ends = [i for i in (rest.find(b" "), rest.find(b"\n")) if i >= 0]
            if not ends:
                return out
            n_end = min(ends)
            n = int(rest[:n_end])
            head = len(txnr) + len(cmd) + 2 + n_end + 1
            if n == 0:
                self.buf = self.buf[head:]
                out.append((int(txnr), cmd, b""))
                continue
            if len(self.buf) < head + n + 1:
                return out
            out.append((int(txnr), cmd, self.buf[head:head + n]))
            self.buf = self.buf[head + n + 1:]

    def wait_rsps(self, txnrs, timeout):
        """Waits for an rsp to each txnr; returns {txnr: data}. Frames that come after the last
        one wanted (another rsp, a serverclose, EOF) are kept for the next frames() call."""
        want, got = set(txnrs), {}
        deadline = time.monotonic() + timeout
        while want - set(got) and time.monotonic() < deadline:
            for t, cmd, data in self.frames(0.5):
                if not want - set(got):
                    self.unread.append((t, cmd, data))
                elif cmd == b"rsp":
                    got[t] = data
                elif cmd == b"EOF":
                    raise AssertionError(f"connection closed with {sorted(want - set(got))} unanswered")
        return got

    def open(self):
        t = self.send(b"open", OFFERS)
        rsp = self.wait_rsps([t], 20)
        assert rsp[t].startswith(b"200 OK\nrelp_version=0\n"), rsp
        return rsp[t]

    def close(self):
        self.s.close()
