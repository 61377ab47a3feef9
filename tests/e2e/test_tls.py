"""End to end over TLS: real clients (openssl s_client, rsyslog, loggen), mTLS, hostile input."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

import clients
from conftest import BOOTSTRAP, HOTDOG, Hotdog, config, consume, free_port, unique_topic


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return clients.make_pki(tmp_path_factory.mktemp("pki"))


def tls_listen(cert, key, ca=None, verify=None, extra=""):
    s = f"    tls:\n      cert: '{cert}'\n      key: '{key}'\n"
    if ca:
        s += f"      ca: '{ca}'\n"
    if verify:
        s += f"      verify: {verify}\n"
    return s + extra


def test_openssl_s_client_lf_and_octet_counted(hotdog, pki):
    h = hotdog(extra_listen=tls_listen(pki.server_cert, pki.server_key))
    frame = b"<13>1 2026-11-24T01:02:03Z h app - - - octet over tls"
    r = clients.openssl_send("127.0.0.1", h.port, b"<13>Oct 11 22:14:15 h app: lf over tls\n" +
                             str(len(frame)).encode() + b" " + frame, ca=pki.ca)
    assert r.returncode == 0, r.stderr
    assert sorted(m["payload"] for m in consume(h.topic, 2)) == ["lf over tls", "octet over tls"]


@pytest.mark.parametrize("framing", ["octet-counted", "traditional"])
def test_rsyslog_forwards_over_tls(hotdog, pki, tmp_path, framing):
    h = hotdog(extra_listen=tls_listen(pki.server_cert, pki.server_key))
    lines = [f"rsyslog {framing} line {i}" for i in range(200)]
    with clients.Rsyslog(tmp_path / "rs", "127.0.0.1", h.port, tls=True, ca=pki.ca,
                         auth_mode="x509/name", permitted_peers="localhost",
                         framing=framing) as rs:
        rs.send_lines(lines)
        rs.wait_idle(timeout=30)
    assert sorted(m["payload"] for m in consume(h.topic, 200)) == sorted(lines)


def test_loggen_over_tls(hotdog, pki):
    h = hotdog(extra_listen=tls_listen(pki.server_cert, pki.server_key))
    r = clients.loggen("127.0.0.1", h.port, tls=True, number=500, rate=5000)
    assert r.returncode == 0, r.stderr
    msgs = consume(h.topic, 500)
    seqs = clients.loggen_seqs("\n".join(m["payload"] for m in msgs).encode())
    assert sorted(seqs) == list(range(500))


def test_mutual_tls_required(hotdog, pki):
    h = hotdog(extra_listen=tls_listen(pki.server_cert, pki.server_key, ca=pki.ca, verify="required"))
    line = "<13>Oct 11 22:14:15 h app: {}\n"
    clients.openssl_send("127.0.0.1", h.port, line.format("no client cert").encode(), ca=pki.ca)
    clients.openssl_send("127.0.0.1", h.port, line.format("other ca").encode(), ca=pki.ca,
                         cert=pki.other_client_cert, key=pki.other_client_key)
    r = clients.openssl_send("127.0.0.1", h.port, line.format("right cert").encode(), ca=pki.ca,
                             cert=pki.client_cert, key=pki.client_key)
    assert r.returncode == 0, r.stderr
    assert [m["payload"] for m in consume(h.topic, 1)] == ["right cert"]
    time.sleep(1)
    assert [m["payload"] for m in consume(h.topic, 1)] == ["right cert"]  # nothing else came
    assert h.stop() == 0
    assert h.counters()["error.tls_handshake"] == "2"
    assert "TLS handshake failed" in h.output()


def test_optional_verification_accepts_without_and_rejects_a_bad_cert(hotdog, pki):
    h = hotdog(extra_listen=tls_listen(pki.server_cert, pki.server_key, ca=pki.ca))  # optional
    line = "<13>Oct 11 22:14:15 h app: {}\n"
    clients.openssl_send("127.0.0.1", h.port, line.format("anonymous").encode(), ca=pki.ca)
    clients.openssl_send("127.0.0.1", h.port, line.format("bad cert").encode(), ca=pki.ca,
                         cert=pki.other_client_cert, key=pki.other_client_key)
    clients.openssl_send("127.0.0.1", h.port, line.format("good cert").encode(), ca=pki.ca,
                         cert=pki.client_cert, key=pki.client_key)
    msgs = consume(h.topic, 2)
    time.sleep(1)
    assert sorted(m["payload"] for m in consume(h.topic, 2)) == ["anonymous", "good cert"]
    assert h.stop() == 0
    assert h.counters()["error.tls_handshake"] == "1"


def test_hostile_input_on_the_tls_port(hotdog, pki):
    h = hotdog(extra_listen=tls_listen(pki.server_cert, pki.server_key,
                                       extra="    handshake_timeout_ms: 700\n"))
    # Plaintext syslog, random bytes, a truncated ClientHello, and one that stalls.
    for junk in (b"<13>Oct 11 22:14:15 h app: plaintext\n", os.urandom(4096),
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
        with socket.create_connection(("127.0.0.1", h.port)) as s:
            s.settimeout(10)
            s.sendall(junk)
            try:
                s.shutdown(socket.SHUT_WR)
                while s.recv(4096):
                    pass  # the server may answer with an alert, then closes
            except socket.timeout:
                raise AssertionError(f"hotdog kept the connection open after {junk[:16]!r}")
            except OSError:
                pass  # reset, or already closed before our shutdown (ENOTCONN): closed
    stalled = socket.create_connection(("127.0.0.1", h.port))
    stalled.sendall(b"\x16\x03\x01")
    stalled.settimeout(10)
    t0 = time.monotonic()
    try:
        assert stalled.recv(4096) == b""  # closed by the handshake timeout
    except ConnectionResetError:
        pass
    assert 0.5 < time.monotonic() - t0 < 5
    stalled.close()
    # The daemon still serves a proper client.
    r = clients.openssl_send("127.0.0.1", h.port, b"<13>Oct 11 22:14:15 h app: still fine\n", ca=pki.ca)
    assert r.returncode == 0
    assert [m["payload"] for m in consume(h.topic, 1)] == ["still fine"]
    assert h.stop() == 0
    c = h.counters()
    assert int(c["error.tls_handshake"]) >= 3
    assert c["error.tls_handshake_timeout"] == "1"


@pytest.mark.parametrize("which", ["ec", "pkcs1", "pkcs8", "chain"])
def test_key_formats_and_chains(hotdog, pki, which):
    cert, key = {"ec": (pki.server_cert, pki.server_key),
                 "pkcs1": (pki.server_rsa_cert, pki.server_pkcs1_key),
                 "pkcs8": (pki.server_rsa_cert, pki.server_pkcs8_key),
                 "chain": (pki.server_chain, pki.server_chain_key)}[which]
    h = hotdog(extra_listen=tls_listen(cert, key))
    r = clients.openssl_send("127.0.0.1", h.port, f"<13>Oct 11 22:14:15 h app: {which}\n".encode(),
                             ca=pki.ca)  # verifies the chain up to the root
    assert r.returncode == 0, r.stderr
    assert [m["payload"] for m in consume(h.topic, 1)] == [which]


# An expired certificate is a warning, not an error (as in the original): test_compat_config.py.
@pytest.mark.parametrize("case", ["mismatch", "unreadable"])
def test_certificate_errors_stop_start_up_with_path_and_reason(tmp_path, pki, case):
    cert, key, want = {
        "mismatch": (pki.server_cert, pki.mismatch_key, f"TLS key '{pki.mismatch_key}' does not match "
                                                         f"certificate '{pki.server_cert}'"),
        "unreadable": (tmp_path / "nope.pem", pki.server_key, "nope.pem': No such file or directory"),
    }[case]
    cfg = tmp_path / "c.yml"
    cfg.write_text(config(free_port(), "t", extra_listen=tls_listen(cert, key)))
    r = subprocess.run([HOTDOG, "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert want in r.stderr, r.stderr


def test_session_resumption(hotdog, pki):
    h = hotdog(extra_listen=tls_listen(pki.server_cert, pki.server_key))
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", h.port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s1:
            session = s1.session
            s1.sendall(b"<13>Oct 11 22:14:15 h app: first\n")
    with socket.create_connection(("127.0.0.1", h.port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s2:
            assert s2.session_reused
            s2.sendall(b"<13>Oct 11 22:14:15 h app: resumed\n")
    assert sorted(m["payload"] for m in consume(h.topic, 2)) == ["first", "resumed"]


def test_sighup_rereads_certificates_without_dropping_connections(hotdog, pki, tmp_path):
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    h = hotdog(extra_listen=tls_listen(cert, key))
    old = clients.tls_connect("127.0.0.1", h.port, pki.ca)
    old.sendall(b"<13>Oct 11 22:14:15 h app: before reload\n")
    shutil.copy(pki.server_rsa_cert, cert)
    shutil.copy(pki.server_pkcs8_key, key)
    h.proc.send_signal(signal.SIGHUP)
    h.wait_log("TLS certificate, key and CA re-read")
    old.sendall(b"<13>Oct 11 22:14:15 h app: same connection after reload\n")
    new = clients.tls_connect("127.0.0.1", h.port, pki.ca)
    with open(pki.server_rsa_cert) as f:
        assert new.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(f.read())
    new.sendall(b"<13>Oct 11 22:14:15 h app: new connection\n")
    new.close()
    old.close()
    assert sorted(m["payload"] for m in consume(h.topic, 3)) == [
        "before reload", "new connection", "same connection after reload"]
    # A broken replacement is refused and the running certificate stays.
    shutil.copy(pki.mismatch_key, key)
    h.proc.send_signal(signal.SIGHUP)
    h.wait_log("keeping the running TLS certificate")
    r = clients.openssl_send("127.0.0.1", h.port, b"<13>Oct 11 22:14:15 h app: after bad reload\n",
                             ca=pki.ca)
    assert r.returncode == 0
    assert len(consume(h.topic, 4)) == 4


def test_three_listeners_at_once(kafka, tmp_path, pki):
    topic = unique_topic()
    tcp, tls, udp = free_port(), free_port(), free_port()
    cfg = f"""global:
  listen:
    - {{address: 127.0.0.1, port: {udp}, protocol: udp}}
    - {{address: 127.0.0.1, port: {tcp}}}
    - address: 127.0.0.1
      port: {tls}
      tls: {{cert: '{pki.server_cert}', key: '{pki.server_key}'}}
  kafka:
    conf: {{bootstrap.servers: '{BOOTSTRAP}'}}
    topic: {topic}
"""
    h = Hotdog(tmp_path, cfg)
    h.start()
    try:
        clients.logger_udp("127.0.0.1", udp, "via udp")
        clients.tcp_send("127.0.0.1", tcp, b"<13>Oct 11 22:14:15 h app: via tcp\n")
        clients.openssl_send("127.0.0.1", tls, b"<13>Oct 11 22:14:15 h app: via tls\n", ca=pki.ca)
        assert sorted(m["payload"] for m in consume(topic, 3)) == ["via tcp", "via tls", "via udp"]
    finally:
        assert h.stop() == 0
    assert h.output().count("listening on") == 3


def test_data_and_close_notify_in_one_segment_get_our_close_notify(hotdog, pki):
    # Found with rsyslog: it sends its last records and close_notify together, then waits for
    # ours. Memory BIOs put both in one write, so the server reads them in one go.
    h = hotdog(extra_listen=tls_listen(pki.server_cert, pki.server_key))
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", h.port)) as sock:
        sock.settimeout(5)
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(out.read())
                inc.write(sock.recv(65536))
        sock.sendall(out.read())
        obj.write(b"<13>Oct 11 22:14:15 h app: last words\n")
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        sock.sendall(out.read())  # the record and close_notify, in one write
        got_eof = False
        while not got_eof:
            data = sock.recv(65536)  # raises socket.timeout if the server never answers
            got_eof = data == b""
    assert [m["payload"] for m in consume(h.topic, 1)] == ["last words"]
    assert h.stop() == 0


def test_one_way_client_that_never_reads_loses_nothing(hotdog, pki):
    # Found with loggen --use-ssl: a sender that never reads, closing with unread TLS 1.3
    # session tickets in its receive buffer, makes the kernel send RST, which discards what
    # hotdog had not read yet. hotdog is frozen while the client writes and closes, so the
    # unread data is certainly there when the close happens.
    h = hotdog(extra_listen=tls_listen(pki.server_cert, pki.server_key))
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", h.port)), server_hostname="localhost")
    time.sleep(0.2)  # the server has sent whatever it sends after the handshake
    h.proc.send_signal(signal.SIGSTOP)
    try:
        s.sendall(b"".join(f"<13>Oct 11 22:14:15 h app: one way {i}\n".encode() for i in range(2000)))
        s.close()  # no close_notify, nothing ever read: as loggen does
    finally:
        h.proc.send_signal(signal.SIGCONT)
    msgs = consume(h.topic, 2000)
    assert sorted(int(m["payload"].split()[2]) for m in msgs) == list(range(2000))
