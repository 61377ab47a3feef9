"""RELP over TLS (issue 16): a `protocol: relp` listener with a `tls:` section speaks RELP inside
TLS from the first byte, as librelp does (no STARTTLS). Real clients: rsyslog's omrelp with both
of librelp's TLS libraries (GnuTLS, the default, and OpenSSL), server authentication and mutual
TLS; a Python ssl client for what rsyslog cannot show (answers held while Kafka is down and
written later, through a full socket); a plaintext client on the TLS port."""
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

import clients
import faults_helpers as fh
from conftest import unique_topic
from faults_helpers import Daemon
from relpclient import OFFERS, RelpClient, broker, kafka  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return clients.make_pki(tmp_path_factory.mktemp("pki"))


def tls_section(pki, mutual=False):
    """The listener's `tls:` section (nested under the listener, as hotdog_config writes it)."""
    s = f"\n        cert: '{pki.server_cert}'\n        key: '{pki.server_key}'"
    if mutual:
        s += f"\n        ca: '{pki.ca}'\n        verify: required"
    return s


def make(daemons, tmp_path, kafka, pki, mutual=False, listen_extra=None, **kw):
    extra = {"tls": tls_section(pki, mutual), **(listen_extra or {})}
    d = Daemon(tmp_path, unique_topic("relptls"), kafka.bootstrap, protocol="relp",
               listen_extra=extra, **kw)
    daemons.append(d)
    return d


def msg(tag, i):
    return b"<13>Jan  1 00:00:00 host app: %s %06d" % (tag, i)


MSG_RE = re.compile(rb"\b((?:before|during|full|good) \d{6})")


def texts(payloads):
    """The "tag number" of each payload in Kafka (whatever the output format), sorted."""
    return sorted(m.group(1) for p in payloads if (m := MSG_RE.search(p)))


# --------------------------------------------------------------------------- rsyslog omrelp

def omrelp_tls_supported(tlslib):
    """None if Debian's omrelp/librelp here can do TLS with tlslib, else why not."""
    mod = "/usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so"
    if not shutil.which("rsyslogd"):
        return "rsyslogd is missing (Debian package rsyslog; scripts/install-deps installs it)"
    try:
        if not os.path.exists(mod):
            return f"{mod} is missing (Debian package rsyslog-relp; scripts/install-deps installs it)"
        libs = subprocess.run(["ldd", mod], capture_output=True, text=True).stdout
        relp = next((l.split("=>")[1].split()[0] for l in libs.splitlines() if "librelp" in l), None)
        if not relp:
            return "omrelp.so is not linked with librelp"
        deps = subprocess.run(["ldd", relp], capture_output=True, text=True).stdout
    except (OSError, StopIteration) as e:
        return f"cannot inspect omrelp: {e}"
    need = {"gnutls": "libgnutls", "openssl": "libssl"}[tlslib]
    if need not in deps:
        return f"{relp} is built without {tlslib} ({need} not among its libraries)"
    return None


def run_omrelp(tmp_path, port, n, tlslib, action_tls, timeout_what, until, graceful=True):
    """Runs rsyslogd: imfile reads n lines, omrelp sends them over TLS to port with librelp's
    tlslib and the given extra action parameters; polls until(rsyslog's output so far) before
    stopping rsyslog. Returns rsyslog's own output. graceful: give omrelp time to close its
    session at the end (rsyslog's default for an action queue is 10 ms, after which it cancels
    omrelp mid-close on a busy machine: "need to do cooperative cancellation"); not for
    sessions that never opened, whose queue would then wait it out in vain."""
    work = tmp_path / "rsyslog"
    work.mkdir()
    inp, pid, log = work / "input.log", work / "rsyslogd.pid", work / "rsyslogd.log"
    (work / "rsyslog.conf").write_text(f"""
global(workDirectory="{work}" localHostname="relp-tls-host")
module(load="imfile" mode="inotify")
module(load="omrelp" tls.tlslib="{tlslib}")
input(type="imfile" file="{inp}" tag="relptls" ruleset="fwd" freshStartTail="off")
ruleset(name="fwd") {{
  action(type="omrelp" target="127.0.0.1" port="{port}" windowSize="1024" tls="on"
         {action_tls}
         queue.type="LinkedList" {'queue.timeoutShutdown="20000"' if graceful else ''}
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
""")
    inp.write_bytes(b"".join(b"relp-tls-line-%05d\n" % i for i in range(n)))
    with open(log, "wb") as lf:
        p = subprocess.Popen(["rsyslogd", "-n", "-f", str(work / "rsyslog.conf"), "-i", str(pid)],
                             stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            fh.wait_for(lambda: until(log.read_text(errors="replace")), 180, what=timeout_what,
                        on_timeout=lambda: "rsyslog said:\n" + log.read_text(errors="replace"))
        finally:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return log.read_text(errors="replace")


# omrelp's TLS parameters per case, always with a certificate of omrelp's own: without
# tls.myCert librelp is "anonymous" (test_rsyslog_omrelp_without_its_own_certificate). "name"
# checks hotdog's certificate and its name (hotdog asks for no client certificate);
# "certvalid-mutual" checks hotdog's chain only, and hotdog requires omrelp's certificate
# (ca + verify: required).
OMRELP_CASES = {
    "name": 'tls.authMode="name" tls.permittedPeer="localhost" tls.caCert="{ca}" '
            'tls.myCert="{cert}" tls.myPrivKey="{key}"',
    "certvalid-mutual": 'tls.authMode="certvalid" tls.caCert="{ca}" tls.myCert="{cert}" '
                        'tls.myPrivKey="{key}"',
}


@pytest.mark.parametrize("auth", list(OMRELP_CASES))
@pytest.mark.parametrize("tlslib", ["gnutls", "openssl"])
def test_rsyslog_omrelp_over_tls_every_line_once(daemons, tmp_path, kafka, pki, tlslib, auth):
    why = omrelp_tls_supported(tlslib)
    if why:
        pytest.skip(why)
    mutual = auth.endswith("mutual")
    d = make(daemons, tmp_path, kafka, pki, mutual=mutual)
    d.start()
    params = OMRELP_CASES[auth].format(ca=pki.ca, cert=pki.client_cert, key=pki.client_key)
    n = 5000
    out = run_omrelp(tmp_path, d.port, n, tlslib, params, f"hotdog to answer {n} RELP messages over TLS",
                     lambda out: (d.stats() or {}).get("relp.responses.200", 0) >= n)
    payloads = kafka.read(d.topic)
    seqs = [int(x.split(b"relp-tls-line-")[1][:5]) for x in payloads if b"relp-tls-line-" in x]
    assert sorted(seqs) == list(range(n)), (len(seqs), len(set(seqs)))
    # rsyslog has stopped: omrelp closed its session (close, answered, serverclose) cleanly.
    st = fh.wait_stat(d, lambda s: s["connections"] == 0, 30, "omrelp's session closed")
    assert st["relp.sessions"] == 1 and st["relp.messages"] == n, st
    assert st["relp.responses.200"] == n and st["relp.responses.500"] == 0, st
    assert st["relp.unanswered"] == 0 and st["relp.error.frame"] == 0, st
    assert st["error.tls_handshake"] == 0 and st["error.tls"] == 0 and st["error.read"] == 0, st
    assert d.h.stop() == 0
    # rsyslog said nothing about omrelp: no TLS error, no reconnect, and the library asked
    # for was used (else "tlslib ... not accepted as valid by librelp").
    assert "omrelp" not in out and "suspended" not in out, out


def handshakes_failed(d, n):
    return lambda out: (d.stats() or {}).get("error.tls_handshake", 0) >= n


# Connections that must not carry a message: (omrelp parameters, hotdog requires a client
# certificate, when to look: a function of the daemon giving until() for run_omrelp).
OMRELP_REFUSED = {
    # hotdog checks omrelp's certificate against its CA: a handshake failure on every retry.
    "client-of-other-ca": ('tls.authMode="certvalid" tls.caCert="{ca}" tls.myCert="{other_cert}" '
                           'tls.myPrivKey="{other_key}"', True, lambda d: handshakes_failed(d, 2)),
    # omrelp checks hotdog's name against tls.permittedPeer; on a mismatch rsyslog disables
    # the action for good ("no permited name found", librelp's spelling): one try.
    "wrong-name": ('tls.authMode="name" tls.permittedPeer="not-hotdog" tls.caCert="{ca}" '
                   'tls.myCert="{cert}" tls.myPrivKey="{key}"', False,
                   lambda d: lambda out: "no permited name found" in out),
}


@pytest.mark.parametrize("case", list(OMRELP_REFUSED))
@pytest.mark.parametrize("tlslib", ["gnutls", "openssl"])
def test_rsyslog_omrelp_tls_refused(daemons, tmp_path, kafka, pki, tlslib, case):
    why = omrelp_tls_supported(tlslib)
    if why:
        pytest.skip(why)
    params, mutual, when = OMRELP_REFUSED[case]
    d = make(daemons, tmp_path, kafka, pki, mutual=mutual)
    d.start()
    params = params.format(ca=pki.ca, cert=pki.client_cert, key=pki.client_key,
                           other_cert=pki.other_client_cert, other_key=pki.other_client_key)
    out = run_omrelp(tmp_path, d.port, 10, tlslib, params, f"omrelp refused ({case})", when(d),
                     graceful=False)
    st = d.stats()
    assert st["relp.sessions"] == 0 and st["relp.messages"] == 0, st
    assert kafka.read(d.topic) == []
    assert d.h.stop() == 0
    assert "omrelp" in out, out


def test_rsyslog_omrelp_without_its_own_certificate(daemons, tmp_path, kafka, pki):
    """librelp without tls.myCert is "anonymous" TLS. With GnuTLS (the default) that is
    ANON-DH, which hotdog's OpenSSL listener does not offer: no connection ever. With
    tls.tlslib="openssl" it connects, but checks no name (librelp: "anon mode - success"):
    a wrong tls.permittedPeer is not noticed. Hence doc/delivery.md: always give omrelp a
    certificate. What librelp 1.11 does, pinned so that a change shows."""
    if omrelp_tls_supported("gnutls") or omrelp_tls_supported("openssl"):
        pytest.skip(omrelp_tls_supported("gnutls") or omrelp_tls_supported("openssl"))
    d = make(daemons, tmp_path, kafka, pki)
    d.start()
    out = run_omrelp(tmp_path, d.port, 10, "gnutls",
                     f'tls.authMode="name" tls.permittedPeer="localhost" tls.caCert="{pki.ca}"',
                     "GnuTLS anonymous handshakes refused", handshakes_failed(d, 2), graceful=False)
    assert "TLS handshake failed" in out, out
    st = d.stats()
    assert st["relp.sessions"] == 0 and st["relp.messages"] == 0, st
    assert d.h.stop() == 0
    assert "no shared cipher" in d.h.output()

    (tmp_path / "openssl").mkdir()
    d = make(daemons, tmp_path / "openssl", kafka, pki)
    d.start()
    out = run_omrelp(tmp_path / "openssl", d.port, 10, "openssl",
                     f'tls.authMode="name" tls.permittedPeer="not-hotdog" tls.caCert="{pki.ca}"',
                     "OpenSSL anonymous mode to deliver",
                     lambda out: (d.stats() or {}).get("relp.responses.200", 0) >= 10)
    assert "no permited name" not in out, out
    assert len(kafka.read(d.topic)) == 10
    assert d.h.stop() == 0


# --------------------------------------------------------------------------- Python TLS client

def test_tls_answers_wait_for_kafka_and_go_out_later(daemons, tmp_path, kafka, pki):
    """While the broker is down nothing is answered; once it is back every held message is
    answered over TLS, written by the worker long after it read them (the SSL_write path)."""
    d = make(daemons, tmp_path, kafka, pki)
    d.start()
    c = RelpClient(d.port, pki.ca)
    c.open()
    first = [c.send(b"syslog", msg(b"before", i)) for i in range(5)]
    got = c.wait_rsps(first, 60)
    assert sorted(got) == first and set(got.values()) == {b"200 OK"}, got

    kafka.stop()
    held = [c.send(b"syslog", msg(b"during", i)) for i in range(50)]
    early = [f for f in c.frames(5) if f[1] == b"rsp"]
    assert early == [], f"answered while Kafka was down: {early[:5]}"
    st = fh.wait_stat(d, lambda s: s["relp.messages"] == 55, 30, "55 messages read")
    assert st["relp.unanswered"] == 50 and st["relp.responses.200"] == 5, st
    kafka.start()
    got = c.wait_rsps(held, 180)
    assert sorted(got) == held and set(got.values()) == {b"200 OK"}, got
    payloads = kafka.read(d.topic)
    assert len(payloads) == 55, len(payloads)
    assert texts(payloads) == sorted([b"before %06d" % i for i in range(5)] +
                                     [b"during %06d" % i for i in range(50)]), payloads

    t = c.send(b"close")
    frames = c.frames(10)
    assert frames[:2] == [(t, b"rsp", b""), (0, b"serverclose", b"")], frames
    c.close()
    st = d.stats()
    assert st["relp.responses.200"] == 55 and st["relp.unanswered"] == 0, st
    assert st["error.tls"] == 0 and st["error.read"] == 0, st
    assert d.h.stop() == 0


def socket_queues(port):
    """(Recv-Q, Send-Q) of every TCP socket on 127.0.0.1 with `port` at either end, from ss:
    {(local, peer): (recvq, sendq)}."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} or dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    q = {}
    for line in out.splitlines():
        f = line.split()
        q[(f[2], f[3])] = (int(f[0]), int(f[1]))
    return q


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2],
                         ids=["tls1.3", "tls1.2"])
def test_tls_answers_through_a_full_socket(daemons, tmp_path, kafka, pki, version):
    """A client that sends many messages and reads nothing: hotdog's answers fill the socket
    (the client's receive buffer and hotdog's send buffer), SSL_write wants to write, more
    answers are appended meanwhile (the retry is given a moved, longer buffer) until 64 KiB
    wait and hotdog stops reading the session; all of them are written, each exactly once and
    intact, once the client reads (EPOLLOUT), and reading resumes."""
    d = make(daemons, tmp_path, kafka, pki)
    d.start()
    c = RelpClient(d.port, pki.ca, rcvbuf=4096, tls_max=version)
    c.open()
    assert c.s.version() == {ssl.TLSVersion.TLSv1_3: "TLSv1.3", ssl.TLSVersion.TLSv1_2: "TLSv1.2"}[version]
    n = 40000
    # All at once, from a thread: hotdog answers as Kafka acknowledges, the answers fill the
    # socket, and once 64 KiB of them wait in hotdog it stops reading the session, so the
    # sender blocks until we read.
    frames, txnrs = [], []
    for i in range(n):
        t, f = c.frame(b"syslog", msg(b"full", i))
        txnrs.append(t)
        frames.append(f)
    c.s.settimeout(300)
    blob = b"".join(frames)
    sender = threading.Thread(target=lambda: c.s.sendall(blob), daemon=True)
    sender.start()
    plateau = None
    for _ in range(120):  # until hotdog stops reading: relp.messages stops moving
        time.sleep(1)
        m = d.stats()["relp.messages"]
        if plateau is not None and m == plateau and d.stats()["relp.unanswered"] == 0:
            break
        plateau = m
    st = d.stats()
    assert st["relp.messages"] == plateau < n and st["relp.responses.200"] == plateau, st
    # The kernel's buffers are full (SSL_write wants to write) and answers wait in hotdog:
    # it stopped reading at 64 KiB of them, short of the n messages sent.
    queues = socket_queues(d.port)
    assert any(s for _, s in queues.values()), queues  # hotdog's send queue holds answers
    rsps = []
    deadline = time.monotonic() + 300
    while len(rsps) < n and time.monotonic() < deadline:
        fs = c.frames(1)
        assert (None, b"EOF", b"") not in fs, "hotdog closed the session"
        rsps += [(t, data) for t, cmd, data in fs if cmd == b"rsp"]
    sender.join(60)
    assert sorted(t for t, _ in rsps) == txnrs, len(rsps)  # each answered once
    assert {data for _, data in rsps} == {b"200 OK"}
    assert texts(kafka.read(d.topic)) == sorted(b"full %06d" % i for i in range(n))
    t = c.send(b"close")
    frames = c.frames(10)
    assert frames[:2] == [(t, b"rsp", b""), (0, b"serverclose", b"")], frames
    c.close()
    st = d.stats()
    assert st["relp.responses.200"] == n and st["error.tls"] == 0 and st["error.read"] == 0, st
    assert d.h.stop() == 0


def test_plaintext_on_the_tls_port_is_refused_and_harms_no_session(daemons, tmp_path, kafka, pki):
    d = make(daemons, tmp_path, kafka, pki)
    d.start()
    good = RelpClient(d.port, pki.ca)
    good.open()
    t1 = good.send(b"syslog", msg(b"good", 1))
    assert good.wait_rsps([t1], 60) == {t1: b"200 OK"}

    plain = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    plain.sendall(b"1 open %d %s\n" % (len(OFFERS), OFFERS))
    got = b""
    while True:
        try:
            chunk = plain.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    plain.close()
    assert b"rsp" not in got, got  # never a RELP answer: at most a TLS alert, then closed
    st = fh.wait_stat(d, lambda s: s["error.tls_handshake"] == 1, 20, "the failed handshake")
    assert st["relp.sessions"] == 1 and st["relp.error.frame"] == 0, st

    t2 = good.send(b"syslog", msg(b"good", 2))
    assert good.wait_rsps([t2], 60) == {t2: b"200 OK"}
    t = good.send(b"close")
    frames = good.frames(10)
    assert frames[:2] == [(t, b"rsp", b""), (0, b"serverclose", b"")], frames
    good.close()
    payloads = kafka.read(d.topic)
    assert texts(payloads) == [b"good 000001", b"good 000002"], payloads
    assert d.h.stop() == 0
    assert "TLS handshake failed" in d.h.output()


@pytest.mark.parametrize("transport", ["tls", "plaintext"])
def test_a_reset_session_at_its_window_is_closed_while_kafka_is_down(daemons, tmp_path, kafka, pki,
                                                                      transport):
    """A session at relp_max_pending is not read (no EPOLLIN). When its peer resets the
    connection, epoll still reports EPOLLHUP|EPOLLERR: hotdog must close it then, not leave it
    open until Kafka answers (it did: and the level-triggered event, which nothing consumed,
    woke the worker again at once, a core at 100% for as long as Kafka was down). The same
    code for RELP with and without TLS."""
    extra = {"relp_max_pending": 2}
    if transport == "tls":
        d = make(daemons, tmp_path, kafka, pki, listen_extra=extra)
    else:
        d = Daemon(tmp_path, unique_topic("relp"), kafka.bootstrap, protocol="relp",
                   listen_extra=extra)
        daemons.append(d)
    d.start()
    c = RelpClient(d.port, pki.ca if transport == "tls" else None)
    c.open()
    kafka.stop()
    try:
        for i in range(6):
            c.send(b"syslog", msg(b"during", i))
        st = fh.wait_stat(d, lambda s: s["relp.messages"] == 2 and s["relp.unanswered"] == 2, 30,
                          "2 messages read, the session at its window")
        assert st["connections"] == 1 and st["error.read"] == 0, st
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.s.close()  # an RST, no close_notify
        st = fh.wait_stat(d, lambda s: s["connections"] == 0, 30, "the reset session closed")
        assert st["error.read"] == 1 and st["relp.unanswered"] == 2, st
    finally:
        kafka.start()
    # The two read were produced; their fates find the session gone (the sender resends them).
    st = fh.wait_stat(d, lambda s: s["relp.unanswered"] == 0, 120, "the fates of the two")
    assert st["relp.acks_orphaned"] == 2 and st["relp.responses.200"] == 0, st
    assert texts(kafka.read(d.topic)) == [b"during 000000", b"during 000001"]
    assert d.h.stop() == 0


def test_tls13_key_updates_from_the_client_while_answers_wait(daemons, tmp_path, kafka, pki):
    """TLS 1.3 KeyUpdate with update_requested (openssl s_client's "K" command) makes the
    server send a KeyUpdate of its own: the one case where hotdog's reads make it write TLS
    records besides its answers. One arrives while answers wait for Kafka (stopped): they go
    out later under the new keys, and s_client decrypts every one. (OpenSSL sends that
    KeyUpdate before the next application data, as RFC 8446 4.6.3 asks: here, with the
    answers, seconds after it read the request.)"""
    d = make(daemons, tmp_path, kafka, pki)
    d.start()
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{d.port}", "-tls1_3",
                          "-CAfile", str(pki.ca), "-verify_return_error", "-msg"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True)
    reader.start()

    def rsps():
        return [l for l in list(lines) if re.match(rb"\d+ rsp ", l)]

    def server_key_updates():
        return sum(l.startswith(b"<<< TLS 1.3, Handshake") and b"KeyUpdate" in l for l in list(lines))

    def write(b):
        p.stdin.write(b)
        p.stdin.flush()
        time.sleep(1)  # s_client takes a command ("K") only at the start of what it reads

    try:
        write(b"1 open %d %s\n" % (len(OFFERS), OFFERS))
        fh.wait_for(lambda: len(rsps()) == 1, 20, "the open answered")
        write(b"K\n")
        write(b"".join(b"%d syslog %d %s\n" % (t, len(msg(b"before", t)), msg(b"before", t))
                       for t in range(2, 5)))
        fh.wait_for(lambda: len(rsps()) == 4, 60, "3 answers")
        assert server_key_updates() == 1, b"".join(lines).decode(errors="replace")
        kafka.stop()
        try:
            write(b"".join(b"%d syslog %d %s\n" % (t, len(msg(b"during", t)), msg(b"during", t))
                           for t in range(5, 8)))
            write(b"K\n")
            fh.wait_stat(d, lambda s: s["relp.unanswered"] == 3, 30, "3 messages waiting")
            assert len(rsps()) == 4
        finally:
            kafka.start()
        fh.wait_for(lambda: len(rsps()) == 7, 120, "the 3 held answered after the broker is back")
        assert server_key_updates() == 2, b"".join(lines).decode(errors="replace")
        assert sorted(int(l.split()[0]) for l in rsps()) == list(range(1, 8))
        assert all(l.rstrip() == b"%d rsp 6 200 OK" % t for t, l in enumerate(sorted(
            rsps()[1:], key=lambda l: int(l.split()[0])), 2)), rsps()
        st = d.stats()
        assert st["relp.responses.200"] == 6 and st["error.tls"] == 0 and st["error.read"] == 0, st
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    assert texts(kafka.read(d.topic)) == sorted([b"before %06d" % t for t in range(2, 5)] +
                                                [b"during %06d" % t for t in range(5, 8)])
    assert d.h.stop() == 0
