"""Abuse: hostile RELP clients (protocol: relp, issue 16) against a listener beside the good
client's TCP one: random bytes, broken numbers and trailers, frames over max_message_size,
commands a client may not send, 5,000 idle half-frame sessions, sessions that vanish while their
messages wait for Kafka, a client that never reads its answers, TXNR edges.

RELP cannot resynchronise: a malformed frame ends the session with the serverclose hint (as
librelp's server does), counted in relp.error.frame. A frame over max_message_size is no error:
it is delivered cut and answered, its rest discarded, and the session goes on. Observed against
librelp 1.11.0's own server (rsyslog imrelp), for comparison: the same serverclose + close on
every malformed frame, on rsp / unknown commands and on a first TXNR other than 1 (or 0);
TXNR 0 and leading zeros accepted; a client's serverclose closes without a hint; a second open
answered 500 twice and closed (hotdog answers 500 once and keeps the session)."""
import random
import socket
import threading
import time

from conftest import SLOW, free_port, kcat_payloads, poll, raise_nofile, rst_close, wait_closed_by_peer

HDR = b"<13>1 2026-11-30T00:00:00Z badhost badapp - - - "
OFFERS = b"relp_version=0\nrelp_software=abuse,1\ncommands=syslog"


def has(payload):
    """Predicate: payload is one whole message of the bad topic."""
    return lambda data: b"\n" + payload + b"\n" in b"\n" + data


def has_all(prefix, n):
    def pred(data):
        lines = set(data.split(b"\n"))
        return all(f"{prefix}-{i}".encode() in lines for i in range(n))
    return pred


def frame(txnr, cmd, data=b""):
    return b"%d %s %d" % (txnr, cmd, len(data)) + ((b" " + data) if data else b"") + b"\n"


def relp_case(abuse, name, rss_mb, relp=None, **kw):
    """A case whose daemon has a RELP listener (c.relp_port) beside the good client's TCP one."""
    port = free_port()
    c = abuse.case(name, rss_mb=rss_mb, listeners=[{}, {"protocol": "relp", "port": port, **(relp or {})}],
                   **kw)
    c.relp_port = port
    return c


class Relp:
    """A RELP client on a raw socket: frames out, the server's frames parsed as they come."""

    def __init__(self, port, rcvbuf=None, timeout=30):
        s = socket.socket()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout * SLOW)
        s.connect(("127.0.0.1", port))
        self.s, self.txnr, self.buf, self.frames, self.eof = s, 0, b"", [], False

    def frame(self, cmd, data=b""):
        self.txnr += 1
        return frame(self.txnr, cmd, data)

    def send(self, cmd, data=b""):
        self.s.sendall(self.frame(cmd, data))
        return self.txnr

    def raw(self, b):
        """Sends b; False if the daemon had already closed the connection."""
        try:
            self.s.sendall(b)
            return True
        except OSError:
            return False

    def _parse(self):
        while True:
            b = self.buf
            sp1 = b.find(b" ")
            sp2 = b.find(b" ", sp1 + 1) if sp1 > 0 else -1
            if sp2 < 0:
                return
            i = sp2 + 1
            while i < len(b) and b[i:i + 1].isdigit():
                i += 1
            if i == len(b):
                return
            txnr, cmd, n = int(b[:sp1]), b[sp1 + 1:sp2], int(b[sp2 + 1:i])
            if n == 0:
                assert b[i:i + 1] == b"\n", f"bad frame from the daemon: {b[:80]!r}"
                self.frames.append((txnr, cmd, b""))
                self.buf = b[i + 1:]
                continue
            if len(b) < i + 2 + n:
                return
            assert b[i:i + 1] == b" " and b[i + 1 + n:i + 2 + n] == b"\n", f"bad frame: {b[:80]!r}"
            self.frames.append((txnr, cmd, b[i + 1:i + 1 + n]))
            self.buf = b[i + 2 + n:]

    def pump(self, timeout=0.5):
        """Reads what came within timeout; sets eof at the daemon's close (FIN or RST)."""
        if self.eof:
            return
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(1 << 20)
        except socket.timeout:
            return
        except OSError:
            d = b""
        if not d:
            self.eof = True
        self.buf += d
        self._parse()

    def until(self, pred, timeout=20, what="frames"):
        deadline = time.monotonic() + timeout * SLOW
        while not pred():
            if self.eof:
                raise AssertionError(f"closed by the daemon while waiting for {what}: {self.frames[-5:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.frames[-5:]}")
            self.pump()

    def rsps(self):
        return {t: d for t, cmd, d in self.frames if cmd == b"rsp"}

    def wait_rsps(self, txnrs, timeout=30):
        want = set(txnrs)
        self.until(lambda: want <= set(self.rsps()), timeout, f"answers to {sorted(want)[:5]}...")
        return {t: d for t, d in self.rsps().items() if t in want}

    def wait_eof(self, timeout=10):
        deadline = time.monotonic() + timeout * SLOW
        while not self.eof and time.monotonic() < deadline:
            self.pump()
        return self.eof

    def open(self):
        t = self.send(b"open", OFFERS)
        r = self.wait_rsps([t])[t]
        assert r.startswith(b"200 OK\n"), r
        return self

    def close(self):
        self.s.close()


def closed_with_serverclose(r, timeout=10):
    """The daemon sent the serverclose hint as its last frame and closed the connection."""
    return r.wait_eof(timeout) and r.frames[-1:] == [(0, b"serverclose", b"")]


# --------------------------------------------------------------------------- garbage

def test_relp_random_bytes(abuse):
    with relp_case(abuse, "relp_random_bytes", rss_mb=64) as c:
        c.start()
        rng = random.Random(16)
        closed, opened = 0, 0
        # 16 MiB of random bytes on one opened session: RELP cannot resynchronise, so the first
        # bad byte ends it; the rest of the 16 MiB meets a closed socket.
        r = Relp(c.relp_port).open()
        opened += 1
        noise = rng.randbytes(16 << 20)
        sent = 0
        for i in range(0, len(noise), 1 << 16):
            if not r.raw(noise[i:i + (1 << 16)]):
                break
            sent += 1 << 16
        closed += r.wait_eof()
        r.close()
        c.note(f"16 MiB of random bytes after an open: the daemon closed the session after "
               f"{sent >> 10} KiB had been written by the client")
        assert sent < 16 << 20, "the daemon read 16 MiB of random bytes without closing the session"
        # 64 more sessions, 128 KiB of random bytes each, half of them after an open.
        for k in range(64):
            r = Relp(c.relp_port)
            if k % 2:
                r.open()
                opened += 1
            r.raw(rng.randbytes(128 << 10))
            closed += r.wait_eof()
            r.close()
        c.note(f"65 sessions of random bytes ({opened} opened first): {closed} closed by the daemon")
        assert closed == 65, f"{65 - closed} sessions of random bytes were left open"
        c.expect_counter("relp.error.frame", 65, exact=True)
        c.expect_counter("relp.sessions", opened, exact=True)
        c.expect_counter("relp.messages", 0, exact=True)
        c.expect_counter("connections.accepted", 65 + 1, exact=True)  # + the good client


# Each after an open and a good message (TXNR 2): the next frame, TXNR 3, broken this way.
BROKEN = [
    ("txnr-alpha", b"x syslog 1 a\n"),
    ("txnr-digit-then-alpha", b"3a syslog 1 a\n"),
    ("txnr-10-digits-small-value", b"0000000003 syslog 1 a\n"),
    ("txnr-10-digits", b"1234567890 syslog 1 a\n"),
    ("txnr-200-digits", b"9" * 200 + b" syslog 1 a\n"),
    ("txnr-negative", b"-3 syslog 1 a\n"),
    ("txnr-empty", b" syslog 1 a\n"),
    ("txnr-out-of-sequence", b"4 syslog 1 a\n"),
    ("txnr-repeated", b"2 syslog 1 a\n"),
    ("txnr-tab", b"3\tsyslog 1 a\n"),
    ("cmd-with-digit", b"3 sys1og 1 a\n"),
    ("cmd-33-letters", b"3 " + b"s" * 33 + b" 1 a\n"),
    ("cmd-empty", b"3  1 a\n"),
    ("cmd-nul", b"3 syslog\x00 1 a\n"),
    ("datalen-alpha", b"3 syslog abc a\n"),
    ("datalen-hex", b"3 syslog 0x1 a\n"),
    ("datalen-10-digits", b"3 syslog 1234567890 a\n"),
    ("datalen-10-digits-small-value", b"3 syslog 0000000001 a\n"),
    ("datalen-200-digits", b"3 syslog " + b"9" * 200 + b" a\n"),
    ("datalen-negative", b"3 syslog -1 a\n"),
    ("datalen-empty", b"3 syslog  a\n"),
    ("datalen-0-with-data", b"3 syslog 0 a\n"),
    ("datalen-without-data", b"3 syslog 5\n"),
    ("datalen-short-trailer-not-lf", b"3 syslog 2 abc\n"),
    ("trailer-crlf", b"3 syslog 1 a\r\n"),
    ("trailer-missing-next-frame", b"3 syslog 1 a4 syslog 1 b\n"),
    ("trailer-space", b"3 syslog 1 a \n"),
]


def test_relp_broken_numbers_and_trailers(abuse):
    with relp_case(abuse, "relp_broken_frames", rss_mb=48) as c:
        c.start()
        bad = []
        for i, (what, f) in enumerate(BROKEN):
            r = Relp(c.relp_port).open()
            # One write: the good message and the broken frame arrive together, so the session
            # ends while the good one waits for Kafka (its fate is then an orphaned ack).
            r.raw(frame(2, b"syslog", HDR + f"before-broken-{i}".encode()) + f)
            if not closed_with_serverclose(r):
                bad.append(f"{what}: {r.frames[-3:]} eof={r.eof}")
            r.close()
        n = len(BROKEN)
        c.note(f"{n} kinds of broken TXNR / command / DATALEN / trailer, each on its own session "
               f"after a good message: {n - len(bad)} closed with a serverclose")
        assert not bad, "not closed with a serverclose: " + "; ".join(bad)
        c.expect_counter("relp.error.frame", n, exact=True)
        c.expect_counter("relp.sessions", n, exact=True)
        c.expect_counter("relp.messages", n, exact=True)
        # Each good message: answered if Kafka was quicker than the broken frame, else orphaned.
        c.expect_counter(("relp.responses.200", "relp.acks_orphaned"), n, exact=True)
        c.expect_counter("relp.responses.500", 0, exact=True)
        c.expect_bad(f"the {n} good messages before the broken frames", has_all("before-broken", n))


def test_relp_lying_datalen_then_eof(abuse):
    with relp_case(abuse, "relp_datalen_lies_eof", rss_mb=48) as c:
        c.start()
        n = 20
        for i in range(n):
            r = Relp(c.relp_port).open()
            t = r.send(b"syslog", HDR + f"before-lie-{i}".encode())
            r.wait_rsps([t])
            # DATALEN larger than what comes, then FIN (half of them) or the frame's header only.
            body = HDR + f"lie-partial-{i}".encode()
            r.raw(b"3 syslog %d " % (len(body) + 100 + i) + body if i % 2 else b"3 syslog 5000")
            r.s.shutdown(socket.SHUT_WR)
            assert r.wait_eof(), f"session {i} not closed at EOF"
            r.close()
        c.note(f"{n} sessions: a good message, then a frame shorter than its DATALEN (or a header "
               "alone) and EOF: closed, nothing delivered of the partial frame")
        c.expect_counter("relp.messages", n, exact=True)
        c.expect_counter("relp.responses.200", n, exact=True)
        # An unfinished frame at EOF is no error: the client never got an answer and resends it.
        c.expect_counter("relp.error.frame", 0, exact=True)
        c.expect_counter("error.truncated", 0, exact=True)
        c.expect_bad(f"the {n} good messages", has_all("before-lie", n))
        c.expect_bad("no partial frame delivered", lambda d: b"lie-partial" not in d)


# --------------------------------------------------------------------------- over max_message_size

MAX = 65536


def test_relp_oversize(abuse):
    with relp_case(abuse, "relp_oversize", rss_mb=64, relp={"max_message_size": MAX}) as c:
        c.start()
        r = Relp(c.relp_port).open()
        sizes = [MAX + 1, MAX + 2] + [MAX + 1 + 50_000 * i for i in range(1, 9)] + [1 << 20, 16 << 20, 256 << 20]
        exact = HDR + b"E" * (MAX - len(HDR))
        want = [r.send(b"syslog", exact)]
        t0 = time.monotonic()
        zeds = b"Z" * (1 << 20)
        for i, n in enumerate(sizes):
            r.txnr += 1
            want.append(r.txnr)
            head = b"%d syslog %d " % (r.txnr, n) + HDR + (b"%d-" % i) * 4
            # Streamed in odd-sized writes (the frame's boundaries fall anywhere in the daemon's
            # reads), from memory of its own size at most 1 MiB.
            step = 7919 if n < (1 << 20) else 1 << 20
            left = n - (len(head) - len(b"%d syslog %d " % (r.txnr, n)))
            r.s.sendall(head)
            while left:
                k = min(step, left)
                r.s.sendall(zeds[:k])
                left -= k
            r.s.sendall(b"\n")
            want.append(r.send(b"syslog", HDR + f"marker-oversize-{i}".encode()))
            r.pump(0.01)  # keep the answers moving
        dt = time.monotonic() - t0
        got = r.wait_rsps(want, 60)
        bad = {t: v for t, v in got.items() if v != b"200 OK"}
        c.note(f"one session: a message of exactly max ({MAX}), {len(sizes)} of max+1 .. 256 MiB "
               f"({sum(sizes) >> 20} MiB in {dt:.1f} s), each followed by a marker: "
               f"{len(got) - len(bad)}/{len(want)} answered 200")
        assert not bad, f"answered other than 200: {bad}"
        t = r.send(b"close")
        r.until(lambda: r.eof, 10, "the close")
        assert r.frames[-2:] == [(t, b"rsp", b""), (0, b"serverclose", b"")], r.frames[-3:]
        r.close()
        # A frame over max whose trailer is not LF: delivered cut (its data came first), then
        # the session ends on the trailer.
        r = Relp(c.relp_port).open()
        r.raw(b"2 syslog %d " % (MAX + 10) + HDR + b"W" * (MAX + 10 - len(HDR)) + b"X")
        assert closed_with_serverclose(r), r.frames[-3:]
        r.close()
        c.expect_counter("error.truncated", len(sizes) + 1, exact=True)
        c.expect_counter("relp.messages", 2 * len(sizes) + 2, exact=True)
        c.expect_counter(("relp.responses.200", "relp.acks_orphaned"), 2 * len(sizes) + 2, exact=True)
        c.expect_counter("relp.error.frame", 1, exact=True)
        c.expect_bad("the message of exactly max_message_size", has(exact[len(HDR):]))
        c.expect_bad("a message of max + 1, cut to max", has((b"0-" * 4 + b"Z" * MAX)[:MAX - len(HDR)]))
        c.expect_bad("the 256 MiB message, cut to max", has((b"12-" * 4 + b"Z" * MAX)[:MAX - len(HDR)]))
        for i in range(len(sizes)):
            c.expect_bad(f"marker-oversize-{i} (the session in sync after the cut frame)",
                         has(f"marker-oversize-{i}".encode()))


def test_relp_buffer_budget(abuse):
    """Sessions each holding most of a big frame take the unfinished frames of all connections
    over global.max_buffered_bytes: the largest are delivered cut (error.buffer_budget), as a
    frame over max_message_size is, with RELP's own framing: answered once Kafka has them, the
    rest of each frame discarded as it comes, the session in sync for its next message."""
    n, size, part = 6, 800_000, 700_000
    with relp_case(abuse, "relp_buffer_budget", rss_mb=64, relp={"max_message_size": 900_000},
                   extra_global="  max_buffered_bytes: 1048576") as c:
        c.start()
        sessions = []
        for i in range(n):
            r = Relp(c.relp_port).open()
            f = frame(2, b"syslog", (HDR + f"budget-{i}-".encode() + b"B" * size)[:size])
            r.raw(f[:part])
            sessions.append((r, f))
        cut = c.wait_counter("error.buffer_budget", 1)["error.buffer_budget"]
        for i, (r, f) in enumerate(sessions):
            r.raw(f[part:])
            r.txnr = 2
            t = r.send(b"syslog", HDR + f"marker-budget-{i}".encode())
            got = r.wait_rsps([2, t])
            assert got == {2: b"200 OK", t: b"200 OK"}, f"session {i}: {got}"
            r.close()
        c.note(f"{n} sessions, each with {part} bytes of a {size}-byte frame (budget 1 MiB): "
               f"{cut} cut at once; every frame and the marker after it answered 200")
        c.expect_counter("relp.error.frame", 0, exact=True)
        c.expect_counter("relp.messages", 2 * n, exact=True)
        c.expect_counter("relp.responses.200", 2 * n, exact=True)
        c.expect_counter("error.truncated", 0, exact=True)
        c.expect_counter("error.log_parse", 0, exact=True)
        c.expect_counter("error.buffer_budget", 1)
        c.expect_bad(f"the {n} markers", has_all("marker-budget", n))
        c.expect_bad(f"{2 * n} messages, no more",
                     lambda d: sum(1 for p in d.split(b"\n") if b"budget-" in p) == 2 * n)


def test_relp_buffer_budget_cuts_other_commands(abuse):
    """One session at a time holding 1.2 MB of a 1.5 MB open (max_message_size 4 MiB): its tail
    alone is over the 1 MiB budget, so it is cut, and the cut command is handled as such: an
    open whose offers came first is accepted (the rest discarded, the session goes on), one
    without them is refused and the session closed, an unknown command closes it."""
    size, part = 1_500_000, 1_200_000
    with relp_case(abuse, "relp_budget_commands", rss_mb=64, relp={"max_message_size": 4 << 20},
                   extra_global="  max_buffered_bytes: 1048576") as c:
        c.start()
        r = Relp(c.relp_port)
        f = frame(1, b"open", (OFFERS + b"\n" + b"pad=" + b"p" * size)[:size])
        r.raw(f[:part])
        assert r.wait_rsps([1])[1].startswith(b"200 OK\n"), r.frames
        r.raw(f[part:])
        r.txnr = 1
        t = r.send(b"syslog", HDR + b"after-cut-open")
        assert r.wait_rsps([t])[t] == b"200 OK", r.frames
        r.close()
        for cmd, data in ((b"open", b"relp_version=0\n" + b"q" * size), (b"junk", b"j" * size)):
            r = Relp(c.relp_port)
            r.raw(frame(1, cmd, data)[:part])
            assert closed_with_serverclose(r), (cmd, r.frames)
            r.close()
        c.note("a cut open with its offers first: accepted, the session went on; a cut open "
               "without commands=syslog: 500 and closed; a cut unknown command: closed")
        c.expect_counter("error.buffer_budget", 3, exact=True)
        c.expect_counter("relp.error.frame", 2, exact=True)
        c.expect_counter("relp.responses.500", 1, exact=True)
        c.expect_counter("relp.responses.200", 1, exact=True)
        c.expect_bad("the message after the cut open", has(b"after-cut-open"))


# --------------------------------------------------------------------------- commands

def test_relp_commands_a_client_may_not_send(abuse):
    with relp_case(abuse, "relp_commands", rss_mb=48) as c:
        c.start()
        errors, refused = 0, 0

        def ends(what, r, data):
            nonlocal errors
            r.raw(data)
            assert closed_with_serverclose(r), f"{what}: {r.frames[-3:]} eof={r.eof}"
            r.close()
            errors += 1

        ends("rsp from the client", Relp(c.relp_port).open(), b"2 rsp 6 200 OK\n")
        ends("serverclose hint from the client", Relp(c.relp_port).open(), b"0 serverclose 0\n")
        ends("serverclose with a TXNR", Relp(c.relp_port).open(), b"2 serverclose 0\n")
        ends("an unknown command", Relp(c.relp_port).open(), b"2 starttls 0\n")
        ends("an unknown command of 32 letters", Relp(c.relp_port).open(), b"2 " + b"q" * 32 + b" 1 x\n")
        ends("rsp before open", Relp(c.relp_port), b"1 rsp 6 200 OK\n")
        # An open without the syslog command, or without relp_version: 500, then closed.
        for what, offers in (("open without commands=syslog", b"relp_version=0\ncommands=foo"),
                             ("open without relp_version", b"commands=syslog"),
                             ("open with garbage offers", b"\x00\xff=\n=\n,,,=\n" * 1000)):
            r = Relp(c.relp_port)
            t = r.send(b"open", offers)
            assert closed_with_serverclose(r), f"{what}: {r.frames[-3:]}"
            assert r.rsps()[t].startswith(b"500 "), f"{what}: {r.frames}"
            r.close()
            errors += 1
            refused += 1
        # syslog before open: 500 "command disabled" (librelp's answer); the session goes on.
        r = Relp(c.relp_port)
        t = r.send(b"syslog", HDR + b"before-open")
        assert r.wait_rsps([t])[t].startswith(b"500 "), r.frames
        refused += 1
        r.open()
        t = r.send(b"syslog", HDR + b"after-late-open")
        assert r.wait_rsps([t])[t] == b"200 OK"
        # A second open: 500, the session goes on (librelp 1.11 closes it).
        t = r.send(b"open", OFFERS)
        assert r.wait_rsps([t])[t].startswith(b"500 "), r.frames
        refused += 1
        t = r.send(b"syslog", HDR + b"after-second-open")
        assert r.wait_rsps([t])[t] == b"200 OK"
        # close, and frames after it in the same write: answered "N rsp 0", serverclose, closed;
        # what followed the close is not read.
        tc = r.txnr + 1
        r.raw(frame(tc, b"close") + frame(tc + 1, b"syslog", HDR + b"after-close"))
        assert r.wait_eof() and r.frames[-2:] == [(tc, b"rsp", b""), (0, b"serverclose", b"")], r.frames[-3:]
        r.close()
        # An open with 60 KiB of offers around the two that matter: accepted.
        r = Relp(c.relp_port)
        big = b"\n".join(b"x%d=%s" % (i, b"v," * 100) for i in range(300))
        t = r.send(b"open", big + b"\n" + OFFERS)
        assert r.wait_rsps([t])[t].startswith(b"200 OK"), r.frames
        t = r.send(b"syslog", HDR + b"after-big-offers")
        assert r.wait_rsps([t])[t] == b"200 OK"
        r.close()
        c.note(f"{errors} sessions closed for a command or open a client may not send; "
               f"{refused} commands answered 500; late open, second open, close followed by data, "
               "60 KiB of offers")
        c.expect_counter("relp.error.frame", errors, exact=True)
        c.expect_counter("relp.responses.500", refused, exact=True)
        c.expect_counter("relp.responses.200", 3, exact=True)
        c.expect_counter("relp.messages", 3, exact=True)  # before-open and after-close are not
        c.expect_counter("relp.sessions", 5 + 1 + 1, exact=True)
        for m in (b"after-late-open", b"after-second-open", b"after-big-offers"):
            c.expect_bad(m.decode(), has(m))
        c.expect_bad("nothing of before-open, after-close",
                     lambda d: b"before-open" not in d and b"after-close" not in d)


def test_relp_txnr_edges(abuse):
    """RELP TXNRs run 1..999999999, then 1 (the spec). A session must start at 1: librelp's
    server (its session's txnr starts at 1) closes one that opens with 999999998, and so does
    hotdog, so no client can start near the wrap; reaching it takes 10^9 commands on one session,
    and librelp can do neither side of it (its next TXNR after 999999999 is 1000000000, which no
    frame can carry). The wrap itself is unit-tested (tests/unit/test_relp.c)."""
    with relp_case(abuse, "relp_txnr_edges", rss_mb=48) as c:
        c.start()
        # Opening near the wrap: closed, as by librelp.
        for first in (999999998, 999999999, 2):
            r = Relp(c.relp_port)
            r.raw(frame(first, b"open", OFFERS))
            assert closed_with_serverclose(r), f"open with TXNR {first}: {r.frames}"
            r.close()
        # TXNR 1 then 999999999: out of sequence.
        r = Relp(c.relp_port).open()
        r.raw(frame(999999999, b"syslog", HDR + b"x"))
        assert closed_with_serverclose(r), r.frames
        r.close()
        # Leading zeros (librelp accepts them), answered with the number.
        r = Relp(c.relp_port)
        r.raw(b"000000001 open %d " % len(OFFERS) + OFFERS + b"\n")
        r.wait_rsps([1])
        m = HDR + b"leading-zeros"
        r.raw(b"000000002 syslog %d " % len(m) + m + b"\n")
        assert r.wait_rsps([2])[2] == b"200 OK"
        # TXNR 0 is a hint outside the sequence: a syslog with it is answered "0 rsp", and the
        # sequence goes on at 3 (as librelp).
        r.raw(frame(0, b"syslog", HDR + b"txnr-zero"))
        r.until(lambda: any(f == (0, b"rsp", b"200 OK") for f in r.frames), 30, "0 rsp 200")
        r.txnr = 2
        t = r.send(b"syslog", HDR + b"after-txnr-zero")
        assert r.wait_rsps([t])[t] == b"200 OK"
        r.close()
        c.note("open with TXNR 999999998, 999999999, 2 and a jump 1 -> 999999999: closed; "
               "TXNRs with leading zeros and TXNR 0 (a hint) accepted and answered")
        c.expect_counter("relp.error.frame", 4, exact=True)
        c.expect_counter("relp.responses.200", 3, exact=True)
        for m in (b"leading-zeros", b"txnr-zero", b"after-txnr-zero"):
            c.expect_bad(m.decode(), has(m))


# --------------------------------------------------------------------------- sessions

def test_relp_slowloris_5000_sessions(abuse):
    n = 5000
    limit = raise_nofile()
    assert limit >= n + 500, f"RLIMIT_NOFILE hard limit {limit} is too low for {n} sessions"
    with relp_case(abuse, "relp_slowloris_5k", rss_mb=64,
                   relp={"max_connections": 20000, "idle_timeout_ms": 4000}) as c:
        c.start()
        socks = []
        t0 = time.monotonic()
        open_f = frame(1, b"open", OFFERS)
        try:
            for i in range(n):
                s = socket.socket()
                s.connect(("127.0.0.1", c.relp_port))
                body = HDR + f"slowloris-{i}".encode()
                if i % 2:  # opened, then half a syslog frame
                    s.send(open_f + b"2 syslog %d " % (len(body) + 200) + body)
                else:      # half an open
                    s.send(open_f[:len(open_f) // 2])
                socks.append(s)
            opened = time.monotonic() - t0
            peak = poll(lambda: (lambda v: v if v >= n + 1 else None)(c.d.stats()["connections"]),
                        30 * SLOW, interval=0.1, what=f"{n} open sessions in /stats")
            c.note(f"{n} RELP sessions opened in {opened:.1f} s (half with an open and half a "
                   f"syslog frame, half with half an open); /stats connections={peak}; "
                   f"RSS then {c.d.read_rss() / 1024:.0f} MB")
            c.wait_counter("connections.idle_timeout", n, timeout=60)
            c.note(f"all {n} closed by idle_timeout_ms after {time.monotonic() - t0:.1f} s")
            closed = sum(wait_closed_by_peer(s, 5 * SLOW) for s in socks)
            assert closed == n, f"{n - closed} sessions still open after the idle timeout"
        finally:
            for s in socks:
                s.close()
        c.expect_counter("connections.idle_timeout", n, exact=True)
        c.expect_counter("relp.sessions", n // 2, exact=True)
        c.expect_counter("relp.messages", 0, exact=True)
        c.expect_counter("relp.error.frame", 0, exact=True)
        c.expect_bad("no half frame delivered", lambda d: b"slowloris-" not in d)


def test_relp_sessions_vanish_while_kafka_has_their_messages(abuse):
    """linger.ms 3000 keeps every message waiting for Kafka: the sessions are gone (RST or FIN)
    long before their fates come, which are then orphaned; the messages still reach Kafka."""
    n_rst, n_fin, per = 150, 50, 10
    with relp_case(abuse, "relp_vanish", rss_mb=48, kafka_conf={"linger.ms": 3000}) as c:
        c.start()
        for i in range(n_rst + n_fin):
            r = Relp(c.relp_port).open()
            r.raw(b"".join(r.frame(b"syslog", HDR + f"vanish-{i * per + j}".encode()) for j in range(per)))
            if i < n_rst:
                rst_close(r.s)
            else:
                r.s.close()
        total = (n_rst + n_fin) * per
        c.wait_counter("relp.messages", total)
        unanswered = c.d.stats()["relp.unanswered"]
        c.wait_counter("relp.acks_orphaned", total, timeout=60)
        left = c.d.stats()["relp.unanswered"]
        c.note(f"{n_rst} sessions reset and {n_fin} closed right after {per} messages each: "
               f"{unanswered} unanswered at once, all {total} fates orphaned, {left} left")
        assert left == 0, f"relp.unanswered is {left} after every fate came"
        c.expect_counter("relp.acks_orphaned", total, exact=True)
        c.expect_counter("relp.responses.200", 0, exact=True)
        c.expect_counter("relp.sessions", n_rst + n_fin, exact=True)
        c.expect_counter("relp.messages", total, exact=True)
        c.expect_counter("error.read", n_rst, exact=True)
        c.expect_counter("connections.closed", n_rst + n_fin)
        c.expect_bad(f"all {total} messages of the vanished sessions", has_all("vanish", total))


def test_relp_client_that_never_reads(abuse):
    """The client sends and never reads its answers: once 64 KiB of answers wait unwritten the
    session is not read any more (besides relp_max_pending unanswered), so what hotdog holds for
    it is bounded whatever the client sends; once it reads, everything is answered. The kernel
    keeps some answers too: the daemon's send buffer grows up to net.ipv4.tcp_wmem's maximum
    (4 MiB, ~200,000 answers), so n is twice that."""
    n = 400_000
    with relp_case(abuse, "relp_never_reads", rss_mb=48) as c:
        c.start()
        r = Relp(c.relp_port, rcvbuf=4096).open()
        blob = b"".join(frame(i + 2, b"syslog", HDR + b"nr-%07d" % i) for i in range(n))
        r.txnr = n + 1
        r.s.settimeout(None)
        sender = threading.Thread(target=lambda: r.s.sendall(blob), daemon=True)
        sender.start()
        plateau, steady = -1, 0
        for _ in range(int(60 * SLOW)):
            time.sleep(0.5)
            m = c.d.stats()["relp.messages"]
            steady = steady + 1 if m == plateau else 0
            plateau = m
            if steady >= 4:  # 2 s without a message read
                break
        st = c.d.stats()
        c.note(f"{n} messages ({len(blob) >> 20} MiB) sent, answers never read: hotdog stopped "
               f"reading at {plateau} messages ({st['relp.responses.200']} answered, "
               f"{st['relp.unanswered']} unanswered); RSS {c.d.read_rss() / 1024:.0f} MB")
        assert plateau < n, f"hotdog read all {n} messages while none of the answers was read"
        # Now the client reads: every message answered 200, in order of TXNR or not.
        got = set()
        r.s.settimeout(60 * SLOW)
        while len(got) < n + 1:
            r.pump(60 * SLOW)
            assert not r.eof, f"closed after {len(got)} answers"
            got.update(t for t, cmd, d in r.frames if cmd == b"rsp" and d.startswith(b"200 OK"))
            r.frames.clear()
        sender.join(60)
        r.close()
        c.note(f"then read: all {n} answered 200")
        c.expect_counter("relp.messages", n, exact=True)
        c.expect_counter("relp.responses.200", n, exact=True)
        c.expect_counter("relp.error.frame", 0, exact=True)
