"""RELP input (issue 16): a Python RELP client against hotdog with a private broker that the
tests stop and start. The point of RELP in hotdog: a message is answered "rsp 200 OK" only
once Kafka has it (or the spool or the dead-letter file), never before."""
import signal
import time

import faults_helpers as fh
from conftest import unique_topic
from faults_helpers import Daemon
from relpclient import OFFERS, RelpClient, broker, kafka  # noqa: F401 (fixtures)


def make(daemons, tmp_path, kafka, **kw):
    d = Daemon(tmp_path, unique_topic("relp"), kafka.bootstrap, protocol="relp", **kw)
    daemons.append(d)
    return d


def test_no_answer_before_kafka_has_the_message(daemons, tmp_path, kafka):
    d = make(daemons, tmp_path, kafka)
    d.start()
    c = RelpClient(d.port)
    t = c.send(b"open", OFFERS)
    rsp = c.wait_rsps([t], 10)
    assert rsp[t].startswith(b"200 OK\nrelp_version=0\n"), rsp
    assert b"commands=syslog" in rsp[t]
    first = [c.send(b"syslog", b"<13>Jan  1 00:00:00 host app: before %d" % i) for i in range(5)]
    got = c.wait_rsps(first, 30)
    assert all(got[t] == b"200 OK" for t in first), got
    assert len(kafka.read(d.topic)) == 5

    kafka.stop()
    held = [c.send(b"syslog", b"<13>Jan  1 00:00:00 host app: during %d" % i) for i in range(3)]
    early = [f for f in c.frames(5) if f[1] == b"rsp"]
    assert early == [], f"answered while Kafka was down: {early}"
    st = d.stats()
    assert st["relp.unanswered"] == 3, st
    assert st["relp.oldest_unanswered_ms"] >= 4000, st
    kafka.start()
    got = c.wait_rsps(held, 120)
    assert sorted(got) == held and all(v == b"200 OK" for v in got.values()), got
    payloads = kafka.read(d.topic)
    assert len(payloads) == 8, payloads
    assert all(any(b"during %d" % i in p for p in payloads) for i in range(3))

    t = c.send(b"close")
    frames = c.frames(5)
    assert frames[:2] == [(t, b"rsp", b""), (0, b"serverclose", b"")], frames
    c.close()
    st = d.stats()
    assert st["relp.sessions"] == 1 and st["relp.messages"] == 8, st
    assert st["relp.responses.200"] == 8 and st["relp.unanswered"] == 0, st
    assert d.h.stop() == 0


def test_protocol_errors_close_the_session_with_a_serverclose(daemons, tmp_path, kafka):
    d = make(daemons, tmp_path, kafka)
    d.start()
    c = RelpClient(d.port)
    t = c.send(b"syslog", b"<13>before open")  # librelp: 500 command disabled, session stays
    assert c.wait_rsps([t], 10)[t].startswith(b"500 ")
    t = c.send(b"open", OFFERS)
    assert c.wait_rsps([t], 10)[t].startswith(b"200 OK")
    c.s.sendall(b"9 syslog 5 hello\n")  # TXNR out of sequence
    frames = c.frames(5)
    assert frames == [(0, b"serverclose", b""), (None, b"EOF", b"")], frames
    c.close()
    # an open without the syslog command
    c = RelpClient(d.port)
    t = c.send(b"open", b"relp_version=0\ncommands=foo")
    frames = c.frames(5)
    assert frames[0][0] == t and frames[0][2].startswith(b"500 "), frames
    assert frames[1:] == [(0, b"serverclose", b""), (None, b"EOF", b"")], frames
    c.close()
    st = d.stats()
    assert st["relp.error.frame"] == 2, st
    assert st["relp.responses.500"] == 2, st
    assert d.h.stop() == 0


def test_a_message_no_rule_forwards_is_answered_at_once(daemons, tmp_path, kafka):
    rules = "rules:\n  - regex: '^drop'\n    actions:\n      - type: stop\n"
    d = make(daemons, tmp_path, kafka, rules=rules)
    d.start()
    c = RelpClient(d.port)
    c.wait_rsps([c.send(b"open", OFFERS)], 10)
    kafka.stop()
    try:
        t = c.send(b"syslog", b"<13>Jan  1 00:00:00 host app: drop me")
        got = c.wait_rsps([t], 5)
        assert got[t] == b"200 OK", got
    finally:
        kafka.start()
    c.close()
    d.h.stop()


def test_rsyslog_omrelp_10000_lines_exactly(daemons, tmp_path, kafka):
    """rsyslog's omrelp (Debian rsyslog-relp, librelp) as operators run it: imfile in, omrelp
    out with an action queue that retries forever. Every line in Kafka exactly once."""
    import subprocess
    from clients import wait_for
    d = make(daemons, tmp_path, kafka)
    d.start()
    work = tmp_path / "rsyslog"
    work.mkdir()
    inp, pid, log = work / "input.log", work / "rsyslogd.pid", work / "rsyslogd.log"
    conf = work / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{work}" localHostname="relp-host")
module(load="imfile" mode="inotify")
module(load="omrelp")
input(type="imfile" file="{inp}" tag="relptest" ruleset="fwd" freshStartTail="off")
ruleset(name="fwd") {{
  action(type="omrelp" target="127.0.0.1" port="{d.port}" windowSize="1024"
         queue.type="LinkedList" queue.timeoutShutdown="20000"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
""")
    n = 10000
    inp.write_bytes(b"".join(b"relp-line-%05d\n" % i for i in range(n)))
    with open(log, "wb") as lf:
        p = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf), "-i", str(pid)], stdout=lf,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            wait_for(lambda: (d.stats() or {}).get("relp.responses.200", 0) >= n, 120,
                     what=f"hotdog to answer {n} RELP messages")
            payloads = kafka.read(d.topic)
            seqs = [int(x.split(b"relp-line-")[1][:5]) for x in payloads if b"relp-line-" in x]
            assert sorted(seqs) == list(range(n)), (len(seqs), len(set(seqs)))
            st = d.stats()
            assert st["relp.messages"] == n and st["relp.responses.200"] == n, st
            assert st["relp.unanswered"] == 0 and st["relp.error.frame"] == 0, st
        finally:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert d.h.stop() == 0
    out = log.read_text(errors="replace")
    assert "suspended" not in out and "omrelp" not in out, out  # no error, no reconnect


def test_a_session_at_relp_max_pending_is_not_read_until_answers_go_out(daemons, tmp_path, kafka):
    d = make(daemons, tmp_path, kafka, listen_extra={"relp_max_pending": 2})
    d.start()
    c = RelpClient(d.port)
    c.wait_rsps([c.send(b"open", OFFERS)], 10)
    kafka.stop()
    try:
        ts = [c.send(b"syslog", b"<13>Jan  1 00:00:00 host app: w %d" % i) for i in range(6)]
        fh.wait_for(lambda: (d.stats() or {}).get("relp.messages") == 2, 10, what="2 read")
        time.sleep(1)
        st = d.stats()
        assert st["relp.messages"] == 2 and st["relp.unanswered"] == 2, st  # the rest unread
    finally:
        kafka.start()
    got = c.wait_rsps(ts, 120)
    assert sorted(got) == ts and all(v == b"200 OK" for v in got.values()), got
    assert len(kafka.read(d.topic)) == 6
    c.close()
    assert d.h.stop() == 0


def test_a_session_waiting_for_kafka_is_not_idle(daemons, tmp_path, kafka):
    """idle_timeout_ms closes a silent sender; a RELP session whose messages wait for Kafka is
    not silent: closing it would make the sender resend what Kafka may still acknowledge."""
    d = make(daemons, tmp_path, kafka, listen_extra={"idle_timeout_ms": 2000})
    d.start()
    kafka.stop()
    try:
        c = RelpClient(d.port)  # opened after the broker stopped: the session is never idle
        c.wait_rsps([c.send(b"open", OFFERS)], 10)
        t = c.send(b"syslog", b"<13>Jan  1 00:00:00 host app: waits")
        early = c.frames(6)  # three idle timeouts
        assert early == [], early
        assert d.stats()["connections.idle_timeout"] == 0
    finally:
        kafka.start()
    assert c.wait_rsps([t], 120)[t] == b"200 OK"
    frames = c.frames(8)  # answered and silent again: now it is idle
    assert frames == [(None, b"EOF", b"")], frames
    assert d.stats()["connections.idle_timeout"] == 1
    c.close()
    assert d.h.stop() == 0


def test_a_client_that_never_reads_its_answers_is_not_read_either(daemons, tmp_path, kafka):
    """Answers hotdog cannot write (the client does not read them) stop it from reading that
    session, so a hostile client cannot make hotdog buffer answers without bound. Messages no
    rule forwards are answered at once: the answers pile up at memory speed."""
    import threading
    rules = "rules:\n  - regex: '.'\n    actions:\n      - type: stop\n"
    d = make(daemons, tmp_path, kafka, rules=rules)
    d.start()
    c = RelpClient(d.port)
    c.wait_rsps([c.send(b"open", OFFERS)], 10)
    n = 1_500_000  # ~25 MB of answers: more than the kernel's socket buffers (~10 MB) hold
    blob = b"".join(b"%d syslog 1 x\n" % (i + 2) for i in range(n))
    c.txnr = n + 1
    sender = threading.Thread(target=lambda: c.s.sendall(blob), daemon=True)
    c.s.settimeout(None)
    sender.start()
    plateau = None
    for _ in range(60):  # until hotdog stops reading: relp.messages stops moving
        time.sleep(1)
        m = d.stats()["relp.messages"]
        if plateau is not None and m == plateau:
            break
        plateau = m
    assert plateau < n, f"hotdog read all {n} messages without their answers being read"
    time.sleep(2)
    assert d.stats()["relp.messages"] == plateau
    # the client reads: hotdog writes, reads again, and every message is answered
    got = 0
    c.s.settimeout(60)
    buf = b""
    while got < n:
        chunk = c.s.recv(1 << 20)
        assert chunk, f"EOF after {got} answers"
        buf += chunk
        lines = buf.split(b"\n")
        buf = lines.pop()
        got += sum(1 for x in lines if b" rsp 6 200 OK" in x)
    sender.join(60)
    st = d.stats()
    assert st["relp.messages"] == n and st["relp.responses.200"] == n, st  # the open is not one
    c.close()
    assert d.h.stop() == 0


def test_with_a_write_ahead_spool_a_message_is_answered_once_synced_there(daemons, tmp_path, kafka):
    """spool mode: always: the answer comes when the worker's spool write is synced (fsync:
    never here, and it is synced anyway for a RELP sender), so senders are answered while
    Kafka is down, and a hotdog killed after answering still delivers from its spool."""
    spool = {"path": tmp_path / "spool", "mode": "always", "fsync": "never"}
    d = make(daemons, tmp_path, kafka, spool=spool)
    d.start()
    c = RelpClient(d.port)
    c.wait_rsps([c.send(b"open", OFFERS)], 10)
    kafka.stop()
    try:
        ts = [c.send(b"syslog", b"<13>Jan  1 00:00:00 host app: spooled %d" % i) for i in range(20)]
        got = c.wait_rsps(ts, 30)
        assert sorted(got) == ts and all(v == b"200 OK" for v in got.values()), got
        st = d.stats()
        assert st["spool.appended"] == 20 and st["spool.syncs"] >= 1, st
        assert st["kafka.delivered"] == 0 and st["relp.unanswered"] == 0, st
        c.close()
        d.h.stop(signal.SIGKILL)  # answered means kept: the next start delivers the spool
    finally:
        kafka.start()
    d.start()
    fh.wait_for(lambda: len(kafka.read(d.topic)) >= 20, 120, what="the spooled messages in Kafka")
    payloads = kafka.read(d.topic)
    assert sorted(p.split(b"spooled ")[1] for p in payloads) == sorted(b"%d" % i for i in range(20))
    assert d.h.stop() == 0
