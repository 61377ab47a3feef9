"""Proves tests/e2e/clients.py works, WITHOUT hotdog or Kafka: every sender is
checked against a real receiver (openssl s_server, socat, a Python UDP socket)
and the exact bytes/framing that arrive are asserted.

Run alone: python3 -m pytest tests/e2e/test_clients_harness.py   (~10 s)
"""
import re
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import clients

H = "127.0.0.1"
WIRE_5424 = re.compile(
    rb"<13>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d hdtest-host hdtest - - - ")


def _have_ossl_driver():
    return any(Path(p).exists() for p in (
        "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so", "/usr/lib/rsyslog/lmnsd_ossl.so"))


needs_rsyslog = pytest.mark.skipif(shutil.which("rsyslogd") is None, reason="rsyslog missing")
needs_ossl = pytest.mark.skipif(not _have_ossl_driver(),
                                reason="rsyslog-openssl missing (scripts/install-deps)")
needs_loggen = pytest.mark.skipif(
    subprocess.run([str(clients.LOGGEN), "--help"], capture_output=True).returncode != 0,
    reason="loggen missing (scripts/install-deps)")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return clients.make_pki(tmp_path_factory.mktemp("pki"))


# ------------------------------------------------------------------------ PKI

def test_make_pki_is_fast_and_complete(tmp_path):
    t = time.monotonic()
    p = clients.make_pki(tmp_path)
    elapsed = time.monotonic() - t
    assert elapsed < 3.0, f"make_pki took {elapsed:.2f}s"
    first = lambda f: Path(f).read_text().splitlines()[0]
    assert first(p.server_key) == "-----BEGIN EC PRIVATE KEY-----"
    assert first(p.server_pkcs8_key) == "-----BEGIN PRIVATE KEY-----"
    assert first(p.server_pkcs1_key) == "-----BEGIN RSA PRIVATE KEY-----"
    assert Path(p.server_chain).read_text().count("BEGIN CERTIFICATE") == 2

    def verify(*args):
        return subprocess.run(["openssl", "verify", *map(str, args)], capture_output=True,
                              text=True)

    assert verify("-CAfile", p.ca, p.server_cert).returncode == 0
    assert verify("-CAfile", p.ca, p.server_rsa_cert).returncode == 0
    assert verify("-CAfile", p.ca, p.client_cert).returncode == 0
    assert verify("-CAfile", p.ca, "-untrusted", p.server_chain, p.server_chain).returncode == 0
    assert verify("-CAfile", p.ca, p.server_chain).returncode != 0   # leaf needs the intermediate
    assert verify("-CAfile", p.other_ca, p.other_client_cert).returncode == 0
    assert verify("-CAfile", p.ca, p.other_client_cert).returncode != 0
    r = verify("-CAfile", p.ca, p.expired_cert)
    assert r.returncode != 0 and "expired" in r.stdout + r.stderr

    def pub(args):
        return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=True).stdout

    server_pub = pub(["x509", "-in", p.server_cert, "-noout", "-pubkey"])
    assert pub(["pkey", "-in", p.server_key, "-pubout"]) == server_pub
    assert pub(["pkey", "-in", p.mismatch_key, "-pubout"]) != server_pub
    rsa_pub = pub(["x509", "-in", p.server_rsa_cert, "-noout", "-pubkey"])
    assert pub(["pkey", "-in", p.server_pkcs8_key, "-pubout"]) == rsa_pub
    assert pub(["pkey", "-in", p.server_pkcs1_key, "-pubout"]) == rsa_pub
    san = subprocess.run(["openssl", "x509", "-in", str(p.server_cert), "-noout", "-ext",
                          "subjectAltName"], capture_output=True, text=True).stdout
    assert "DNS:localhost" in san and "IP Address:127.0.0.1" in san
    assert "IP Address:0:0:0:0:0:0:0:1" in san


# ------------------------------------------------------------------------ openssl s_client

@pytest.mark.parametrize("which", ["ec", "rsa-pkcs8", "rsa-pkcs1", "chain"])
def test_openssl_send_every_server_key_format(tmp_path, pki, which):
    cert, key, extra = {
        "ec": (pki.server_cert, pki.server_key, ()),
        "rsa-pkcs8": (pki.server_rsa_cert, pki.server_pkcs8_key, ()),
        "rsa-pkcs1": (pki.server_rsa_cert, pki.server_pkcs1_key, ()),
        # s_server -cert reads only the first certificate; -cert_chain sends the rest.
        "chain": (pki.server_chain, pki.server_chain_key, ("-cert_chain", str(pki.server_chain))),
    }[which]
    data = b"<13>1 - - - - - - hello " + which.encode() + b"\n"
    with clients.TlsServer(tmp_path, cert, key, extra=extra) as srv:
        r = clients.openssl_send(H, srv.port, data, ca=pki.ca)
        assert r.returncode == 0, r.stderr
        assert srv.wait_bytes(len(data)) == data


def test_openssl_send_exact_bytes_with_client_cert(tmp_path, pki):
    data = b"".join(b"%d <13>1 - - - - - - line %07d\n" % (28, i) for i in range(40000))  # ~1.4 MB
    with clients.TlsServer(tmp_path, pki.server_cert, pki.server_key, ca=pki.ca) as srv:
        r = clients.openssl_send(H, srv.port, data, ca=pki.ca, cert=pki.client_cert,
                                 key=pki.client_key)
        assert r.returncode == 0, r.stderr
        got = srv.wait_bytes(len(data))
        time.sleep(0.1)
        assert srv.data() == data


@pytest.mark.parametrize("bad", ["untrusted-ca", "expired"])
def test_openssl_send_refuses_a_bad_server(tmp_path, pki, bad):
    cert, key, ca = {
        "untrusted-ca": (pki.server_cert, pki.server_key, pki.other_ca),
        "expired": (pki.expired_cert, pki.expired_key, pki.ca),
    }[bad]
    with clients.TlsServer(tmp_path, cert, key) as srv:
        r = clients.openssl_send(H, srv.port, b"secret\n", ca=ca)
        assert r.returncode != 0
        assert b"verify" in r.stderr
        time.sleep(0.2)
        assert srv.data() == b""


@pytest.mark.parametrize("client", ["none", "other-ca"])
def test_mtls_server_drops_a_bad_client(tmp_path, pki, client):
    cert, key = {"none": (None, None),
                 "other-ca": (pki.other_client_cert, pki.other_client_key)}[client]
    with clients.TlsServer(tmp_path, pki.server_cert, pki.server_key, ca=pki.ca) as srv:
        clients.openssl_send(H, srv.port, b"from a stranger\n", ca=pki.ca, cert=cert, key=key)
        time.sleep(0.2)
        assert srv.data() == b""
        assert "certificate" in srv.errors()


# ------------------------------------------------------------------------ Python ssl

@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_connect(tmp_path, pki, version):
    with clients.TlsServer(tmp_path, pki.server_cert, pki.server_key, ca=pki.ca) as srv:
        s = clients.tls_connect(H, srv.port, pki.ca, pki.client_cert, pki.client_key,
                                max_version=version)
        assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                               ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
        s.sendall(b"12 <13>1 - - -")
        s.sendall(b"\n")
        s.unwrap().close()
        assert srv.wait_bytes(15) == b"12 <13>1 - - -\n"


def test_tls_connect_verifies_server(tmp_path, pki):
    with clients.TlsServer(tmp_path, pki.server_cert, pki.server_key) as srv:
        with pytest.raises(ssl.SSLCertVerificationError):
            clients.tls_connect(H, srv.port, pki.other_ca)
    with clients.TlsServer(tmp_path, pki.expired_cert, pki.expired_key) as srv:
        with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
            clients.tls_connect(H, srv.port, pki.ca)


def test_mismatch_key_is_refused_by_tls_stacks(tmp_path, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(ssl.SSLError):
        ctx.load_cert_chain(str(pki.server_cert), str(pki.mismatch_key))
    r = subprocess.run(["openssl", "s_server", "-accept", str(clients.free_port()), "-cert",
                        str(pki.server_cert), "-key", str(pki.mismatch_key), "-quiet"],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode != 0


# ------------------------------------------------------------------------ plain helpers

def test_tcp_send_and_udp_send(tmp_path):
    with clients.TcpSink(tmp_path) as sink:
        clients.tcp_send(H, sink.port, b"<13>one\n<13>two\n")
        assert sink.wait_bytes(16) == b"<13>one\n<13>two\n"
    with clients.UdpSink() as u:
        clients.udp_send(H, u.port, [b"<13>a", b"<13>b\n"])
        assert u.wait(2) == [b"<13>a", b"<13>b\n"]


def test_logger(tmp_path):
    with clients.UdpSink() as u:
        clients.logger_udp(H, u.port, "hello 5424", tag="hdtest")
        clients.logger_udp(H, u.port, "hello 3164", rfc="3164", tag="hdtest")
        a, b = u.wait(2)
    f = clients.parse_5424(a)
    assert (f["pri"], f["appname"], f["msg"]) == (13, b"hdtest", b"hello 5424")
    assert re.fullmatch(rb"<13>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ hdtest: hello 3164", b)
    with clients.TcpSink(tmp_path) as sink:
        clients.logger_tcp(H, sink.port, "over tcp")
        d = sink.wait_data(lambda d: d.endswith(b"\n"))
        assert clients.parse_5424(d[:-1])["msg"] == b"over tcp"
    with clients.TcpSink(tmp_path) as sink:
        clients.logger_tcp(H, sink.port, "counted", octet_count=True)
        d = sink.wait_data(lambda d: b"counted" in d)
        (frame,) = clients.split_octet_counted(d)
        assert clients.parse_5424(frame)["msg"] == b"counted"


# ------------------------------------------------------------------------ loggen

@needs_loggen
def test_loggen_tcp_3164(tmp_path):
    with clients.TcpSink(tmp_path) as sink:
        r = clients.loggen(H, sink.port, number=200, rate=100000)
        assert r.returncode == 0, r.stderr
        d = sink.wait_data(lambda d: d.count(b"\n") >= 200)
    lines = d.split(b"\n")[:-1]
    assert len(lines) == 200 and all(len(l) == 255 for l in lines)   # size 256 incl. LF
    assert re.match(rb"<38>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d localhost prg00000\[1234\]: "
                    rb"seq: 0000000000, thread: 0000, runid: \d+, stamp: \S+ PADDPADD", lines[0])
    assert clients.loggen_seqs(d) == list(range(200))


@needs_loggen
def test_loggen_tcp_5424_octet_counted(tmp_path):
    with clients.TcpSink(tmp_path) as sink:
        r = clients.loggen(H, sink.port, number=50, rate=100000, size=300, syslog_proto=True)
        assert r.returncode == 0, r.stderr
        d = sink.wait_bytes(50 * 304)
    frames = clients.split_octet_counted(d)
    assert len(frames) == 50 and all(len(f) == 300 and f.endswith(b"\n") for f in frames)
    f = clients.parse_5424(frames[7])
    assert (f["pri"], f["hostname"], f["appname"], f["procid"]) == (38, b"localhost",
                                                                      b"prg00000", b"1234")
    assert f["msg"].startswith(b"\xef\xbb\xbfseq: 0000000007, thread: 0000, runid: ")
    assert clients.loggen_seqs(d) == list(range(50))


@needs_loggen
def test_loggen_udp(tmp_path):
    with clients.UdpSink() as u:
        r = clients.loggen(H, u.port, dgram=True, number=20, rate=100000)
        assert r.returncode == 0, r.stderr
        dgs = u.wait(20)
        r = clients.loggen(H, u.port, dgram=True, number=2, rate=100000, syslog_proto=True)
        dgs5424 = u.wait(22)[20:]
    assert [clients.loggen_seqs(dg) for dg in dgs] == [[i] for i in range(20)]
    assert dgs[0].startswith(b"<38>") and dgs[0].endswith(b"\n") and len(dgs[0]) == 256
    # With -P loggen prepends the octet count even to a datagram.
    assert all(dg.startswith(b"256 <38>1 ") for dg in dgs5424)


@needs_loggen
def test_loggen_tls_does_not_verify_the_server(tmp_path, pki):
    # A server certificate from a CA loggen was never told about: accepted anyway.
    with clients.TlsServer(tmp_path, pki.other_client_cert, pki.other_client_key) as srv:
        r = clients.loggen(H, srv.port, tls=True, number=30, rate=100000)
        assert r.returncode == 0, r.stderr
        d = srv.wait_data(lambda d: d.count(b"\n") >= 30)
    assert clients.loggen_seqs(d) == list(range(30))


@needs_loggen
def test_loggen_tls_sends_no_client_cert_yet_exits_0(tmp_path, pki):
    with clients.TlsServer(tmp_path, pki.server_cert, pki.server_key, ca=pki.ca) as srv:
        r = clients.loggen(H, srv.port, tls=True, number=5, rate=100000)
        assert r.returncode == 0
        time.sleep(0.2)
        assert srv.data() == b""


def test_loggen_refuses_tiny_sizes():
    with pytest.raises(ValueError):
        clients.loggen(H, 9, size=100)


# ------------------------------------------------------------------------ rsyslog

LINES = ["hello world", "tab\there", "ünïcödé ✓", "x" * 3000, "  leading spaces kept"]


def _check_5424(frame, line):
    assert WIRE_5424.match(frame), frame[:120]
    assert frame == WIRE_5424.match(frame).group(0) + line.encode() + b"\n"
    assert clients.parse_5424(frame)["msg"] == line.encode() + b"\n"


@needs_rsyslog
@pytest.mark.parametrize("framing", ["octet-counted", "traditional"])
def test_rsyslog_plain_tcp(tmp_path, framing):
    with clients.TcpSink(tmp_path) as sink:
        with clients.Rsyslog(tmp_path / "rs", H, sink.port, framing=framing) as rs:
            rs.send_lines(LINES)
            rs.wait_idle()
            rs.send_lines(["second batch"])
        # __exit__ = stop(): drained and exited
        assert rs.proc.returncode == 0
        want = len(LINES) + 1
        if framing == "octet-counted":
            d = sink.wait_data(lambda d: d.endswith(b"second batch\n"))
            frames = clients.split_octet_counted(d)
        else:
            d = sink.wait_data(lambda d: d.count(b"\n") >= want)
            frames = [l + b"\n" for l in d.split(b"\n")[:-1]]
    assert len(frames) == want
    for frame, line in zip(frames, LINES + ["second batch"]):
        _check_5424(frame, line)


@needs_rsyslog
def test_rsyslog_many_lines_in_order(tmp_path):
    n = 5000
    with clients.TcpSink(tmp_path) as sink:
        with clients.Rsyslog(tmp_path / "rs", H, sink.port) as rs:
            rs.send_lines(f"msg {i:06d}" for i in range(n))
        d = sink.wait_data(lambda d: d.endswith(b"msg %06d\n" % (n - 1)))
    frames = clients.split_octet_counted(d)
    assert [clients.parse_5424(f)["msg"] for f in frames] == [b"msg %06d\n" % i for i in range(n)]


@needs_rsyslog
def test_rsyslog_udp(tmp_path):
    with clients.UdpSink() as u:
        with clients.Rsyslog(tmp_path / "rs", H, u.port, protocol="udp") as rs:
            rs.send_lines(["over udp", "second"])
        dgs = u.wait(2)
    assert len(dgs) == 2
    _check_5424(dgs[0], "over udp")
    _check_5424(dgs[1], "second")


@needs_rsyslog
@needs_ossl
def test_rsyslog_tls_anon(tmp_path, pki):
    with clients.TlsServer(tmp_path, pki.server_cert, pki.server_key) as srv:
        with clients.Rsyslog(tmp_path / "rs", H, srv.port, tls=True) as rs:
            rs.send_lines(LINES)
        d = srv.wait_data(lambda d: d.endswith(LINES[-1].encode() + b"\n"))
    frames = clients.split_octet_counted(d)
    for frame, line in zip(frames, LINES, strict=True):
        _check_5424(frame, line)


@needs_rsyslog
@needs_ossl
def test_rsyslog_tls_x509_name_with_client_cert(tmp_path, pki):
    with clients.TlsServer(tmp_path, pki.server_chain, pki.server_chain_key, ca=pki.ca,
                           extra=("-cert_chain", str(pki.server_chain))) as srv:
        with clients.Rsyslog(tmp_path / "rs", H, srv.port, tls=True, ca=pki.ca,
                             cert=pki.client_cert, key=pki.client_key, auth_mode="x509/name",
                             permitted_peers="localhost", framing="traditional") as rs:
            rs.send_lines(["mutual tls"])
        d = srv.wait_data(lambda d: d.endswith(b"\n"))
    _check_5424(d, "mutual tls")


@needs_rsyslog
@needs_ossl
@pytest.mark.parametrize("bad", ["wrong-peer-name", "expired-server"])
def test_rsyslog_tls_refuses_a_bad_server(tmp_path, pki, bad):
    cert, key, peer = {
        "wrong-peer-name": (pki.server_cert, pki.server_key, "not-this-host"),
        "expired-server": (pki.expired_cert, pki.expired_key, "localhost"),
    }[bad]
    with clients.TlsServer(tmp_path, cert, key) as srv:
        rs = clients.Rsyslog(tmp_path / "rs", H, srv.port, tls=True, ca=pki.ca,
                             auth_mode="x509/name", permitted_peers=peer).start()
        try:
            rs.send_lines(["must not arrive"])
            with pytest.raises(TimeoutError):
                rs.wait_idle(timeout=1.5)
        finally:
            rs.stop(drain=False)
        assert srv.data() == b""
    assert ("not permitted" if bad == "wrong-peer-name" else "EXPIRED") in rs.output()


def test_ip_sans_and_ipv6(tmp_path, pki):
    """server.pem's IP SANs verify, and the helpers work over IPv6 ([::1])."""
    with clients.TlsServer(tmp_path, pki.server_cert, pki.server_key, host="::1") as srv:
        s = clients.tls_connect("::1", srv.port, pki.ca, server_hostname="::1")
        s.sendall(b"v6\n")
        s.unwrap().close()
        assert srv.wait_bytes(3) == b"v6\n"
        r = clients.openssl_send("::1", srv.port, b"again\n", ca=pki.ca)
        assert r.returncode == 0, r.stderr
        assert srv.wait_bytes(9) == b"v6\nagain\n"
    with clients.TlsServer(tmp_path, pki.server_cert, pki.server_key) as srv:
        clients.tls_connect(H, srv.port, pki.ca, server_hostname="127.0.0.1").close()
        with pytest.raises(ssl.SSLCertVerificationError):
            clients.tls_connect(H, srv.port, pki.ca, server_hostname="example.org")


def test_tls_connect_sees_client_cert_rejection(tmp_path, pki):
    with clients.TlsServer(tmp_path, pki.server_cert, pki.server_key, ca=pki.ca) as srv:
        # TLS 1.2: the handshake itself fails.
        with pytest.raises(ssl.SSLError, match="UNKNOWN_CA"):
            clients.tls_connect(H, srv.port, pki.ca, pki.other_client_cert, pki.other_client_key,
                                max_version=ssl.TLSVersion.TLSv1_2)
        # TLS 1.3: the handshake "succeeds"; the alert comes at the next read.
        s = clients.tls_connect(H, srv.port, pki.ca, pki.other_client_cert, pki.other_client_key)
        with pytest.raises(ssl.SSLError, match="UNKNOWN_CA"):
            s.sendall(b"x\n")
            s.recv(1)
        s.close()
