"""Real syslog senders and throw-away test certificates, for end-to-end tests.

A plain module (no pytest fixtures): import it from tests in tests/e2e with
``import clients`` (pytest puts tests/e2e on sys.path, as for conftest).

Senders and what they put on the wire (all verified by test_clients_harness.py
against openssl s_server / socat, not against hotdog):

* ``openssl_send``  -- ``openssl s_client``: exactly the bytes you pass, over TLS.
* ``tls_connect``   -- Python ``ssl`` socket (TLS 1.2+), for fine control.
* ``Rsyslog``       -- a private rsyslogd reading lines from a file (imfile) and
  forwarding with omfwd over TCP (plain or TLS via the ossl driver) or UDP.
  Template ``RSYSLOG_SyslogProtocol23Format`` (RFC 5424)::

      <PRI>1 TIMESTAMP HOSTNAME TAG - - - LINE\\n

  where LINE is exactly the line given to ``send_lines`` (no BOM, no leading
  space), PRI = facility*8+severity (default user.notice = 13), HOSTNAME =
  ``hostname`` (default ``hdtest-host``), APP-NAME = ``tag`` (default ``hdtest``).
  TCP octet-counted: ``LEN SP <frame>`` where the frame *includes* the trailing
  LF. TCP traditional: ``<frame>`` ending in LF. UDP: one datagram per
  message, trailing LF included.
* ``loggen``        -- syslog-ng's loggen (scripts/loggen); see its docstring.
* ``logger_udp`` / ``logger_tcp`` -- util-linux logger(1).
* ``udp_send`` / ``tcp_send`` -- raw bytes, no syslog tool in between.

Receivers (used to validate the senders; also handy as fake peers): ``TlsServer``
(openssl s_server), ``TcpSink`` (socat), ``UdpSink`` (Python socket, keeps
datagram boundaries). Parsing helpers: ``split_octet_counted``, ``parse_5424``,
``LOGGEN_RE``.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOGGEN = ROOT / "scripts" / "loggen"
OPENSSL = os.environ.get("OPENSSL", "openssl")


# --------------------------------------------------------------------------- misc

def free_port(family=socket.AF_INET, kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port the kernel just handed out (bind to 0). Racy by nature, but fine locally."""
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Waits until something LISTENs on TCP host:port, without connecting to it
    (a connect would use up an `s_server -naccept 1`): probing bind() without
    SO_REUSEADDR fails with EADDRINUSE once a listener holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"listener exited early with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")
        time.sleep(0.02)


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    """Polls pred() until truthy (returns its value) or raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _hostport(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _kill(proc, sig=signal.SIGTERM, timeout=5.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def split_octet_counted(data: bytes) -> list[bytes]:
    """Splits RFC 6587 octet-counted framing ("LEN SP FRAME...") into frames.
    Raises ValueError on a malformed or truncated stream."""
    frames, i = [], 0
    while i < len(data):
        sp = data.index(b" ", i)
        n = int(data[i:sp])
        frame = data[sp + 1:sp + 1 + n]
        if len(frame) != n:
            raise ValueError(f"truncated frame at offset {i}: want {n}, have {len(frame)}")
        frames.append(frame)
        i = sp + 1 + n
    return frames


_RE_5424 = re.compile(
    rb"<(?P<pri>\d{1,3})>(?P<version>\d) (?P<timestamp>\S+) (?P<hostname>\S+) "
    rb"(?P<appname>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    rb"(?P<sd>-|(?:\[(?:[^\]\\\"]|\"(?:[^\"\\]|\\.)*\")*\])+)(?: (?P<msg>.*))?\Z", re.S)


def parse_5424(frame: bytes) -> dict:
    """Splits one RFC 5424 message (bytes) into its fields (values are bytes;
    pri/version are ints; msg keeps any BOM and trailing LF). ValueError if not 5424."""
    m = _RE_5424.match(frame)
    if not m:
        raise ValueError(f"not RFC 5424: {frame[:100]!r}")
    d = m.groupdict()
    d["pri"] = int(d["pri"])
    d["version"] = int(d["version"])
    d["msg"] = d["msg"] if d["msg"] is not None else b""
    return d


# --------------------------------------------------------------------------- PKI

@dataclass(frozen=True)
class Pki:
    """Paths of the files make_pki wrote. Every *_key is PEM; every cert is PEM."""
    dir: Path
    ca: Path                  # ca.pem: root CA (EC P-256), trusts everything below but other-*
    ca_key: Path              # ca.key
    server_cert: Path         # server.pem: CN=localhost, SAN DNS:localhost,IP:127.0.0.1,IP:::1
    server_key: Path          # server-ec.key: SEC1 "BEGIN EC PRIVATE KEY"
    server_rsa_cert: Path     # server-rsa.pem: same names, RSA 2048 key
    server_pkcs8_key: Path    # server-pkcs8.key: that RSA key, PKCS#8 "BEGIN PRIVATE KEY"
    server_pkcs1_key: Path    # server-pkcs1.key: that RSA key, PKCS#1 "BEGIN RSA PRIVATE KEY"
    intermediate: Path        # intermediate.pem: intermediate CA, signed by ca
    server_chain: Path        # server-chain.pem: leaf (signed by intermediate) + intermediate
    server_chain_key: Path    # = server-ec.key (the chain's leaf reuses the server EC key)
    client_cert: Path         # client.pem: CN=hdtest-client, clientAuth, signed by ca
    client_key: Path          # client.key (EC, PKCS#8)
    other_ca: Path            # other-ca.pem: an unrelated CA
    other_client_cert: Path   # other-client.pem: CN=hdtest-client, signed by other-ca
    other_client_key: Path    # other-client.key
    expired_cert: Path        # expired.pem: CN=localhost + SAN, signed by ca, valid 2020-01-01..2020-01-02
    expired_key: Path         # expired.key
    mismatch_key: Path        # mismatch.key: EC key that does NOT belong to server.pem


def _ossl(*args, cwd):
    r = subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n{r.stdout}{r.stderr}")
    return r


_SERVER_EXT = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""
_CLIENT_EXT = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""
_CA_EXT = """basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


def make_pki(dirpath) -> Pki:
    """Generates a complete throw-away PKI in dirpath with the openssl CLI
    (about 0.2 s; EC P-256 everywhere except the RSA server key). Not idempotent
    by design: call once per session into a fresh directory."""
    d = Path(dirpath)
    d.mkdir(parents=True, exist_ok=True)
    (d / "server.ext").write_text(_SERVER_EXT)
    (d / "client.ext").write_text(_CLIENT_EXT)
    (d / "ca.ext").write_text(_CA_EXT)

    def ec_key(name):
        # SEC1 ("BEGIN EC PRIVATE KEY"), which every TLS stack reads.
        _ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name, cwd=d)

    def pkcs8_ec_key(name):
        _ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name, cwd=d)

    def root(key, cert, cn):
        pkcs8_ec_key(key)
        _ossl("req", "-x509", "-new", "-key", key, "-subj", f"/CN={cn}", "-days", "3650",
              "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", cert, cwd=d)

    def sign(key, cert, cn, ca, ca_key, ext):
        csr = cert + ".csr"
        _ossl("req", "-new", "-key", key, "-subj", f"/CN={cn}", "-out", csr, cwd=d)
        _ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
              "-days", "3650", "-sha256", "-extfile", ext, "-out", cert, cwd=d)
        (d / csr).unlink()

    root("ca.key", "ca.pem", "hotdog-test-ca")
    root("other-ca.key", "other-ca.pem", "hotdog-other-ca")

    ec_key("server-ec.key")
    sign("server-ec.key", "server.pem", "localhost", "ca.pem", "ca.key", "server.ext")

    _ossl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
          "-out", "server-pkcs8.key", cwd=d)
    # OpenSSL 3 writes PKCS#8 by default; -traditional gives PKCS#1.
    _ossl("rsa", "-in", "server-pkcs8.key", "-traditional", "-out", "server-pkcs1.key", cwd=d)
    sign("server-pkcs8.key", "server-rsa.pem", "localhost", "ca.pem", "ca.key", "server.ext")

    pkcs8_ec_key("intermediate.key")
    sign("intermediate.key", "intermediate.pem", "hotdog-test-intermediate", "ca.pem", "ca.key",
         "ca.ext")
    sign("server-ec.key", "server-leaf-of-intermediate.pem", "localhost", "intermediate.pem",
         "intermediate.key", "server.ext")
    (d / "server-chain.pem").write_bytes((d / "server-leaf-of-intermediate.pem").read_bytes()
                                         + (d / "intermediate.pem").read_bytes())

    pkcs8_ec_key("client.key")
    sign("client.key", "client.pem", "hdtest-client", "ca.pem", "ca.key", "client.ext")
    pkcs8_ec_key("other-client.key")
    sign("other-client.key", "other-client.pem", "hdtest-client", "other-ca.pem", "other-ca.key",
         "client.ext")

    # Expired: OpenSSL 3.0's `x509 -req` cannot backdate (no -not_before), but
    # `openssl ca` takes -startdate/-enddate. Minimal throw-away CA database.
    cadb = d / "cadb"
    cadb.mkdir(exist_ok=True)
    (cadb / "index.txt").write_text("")
    (cadb / "serial").write_text("1000\n")
    (d / "expired-ca.cnf").write_text(
        "[ca]\ndefault_ca=tmp\n[tmp]\ndatabase=cadb/index.txt\nnew_certs_dir=cadb\n"
        "serial=cadb/serial\ndefault_md=sha256\npolicy=pol\nunique_subject=no\n"
        "[pol]\ncommonName=supplied\n")
    ec_key("expired.key")
    _ossl("req", "-new", "-key", "expired.key", "-subj", "/CN=localhost", "-out", "expired.csr",
          cwd=d)
    _ossl("ca", "-batch", "-notext", "-config", "expired-ca.cnf", "-cert", "ca.pem",
          "-keyfile", "ca.key", "-in", "expired.csr", "-out", "expired.pem",
          "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
          "-extfile", "server.ext", cwd=d)
    (d / "expired.csr").unlink()

    ec_key("mismatch.key")

    return Pki(
        dir=d, ca=d / "ca.pem", ca_key=d / "ca.key",
        server_cert=d / "server.pem", server_key=d / "server-ec.key",
        server_rsa_cert=d / "server-rsa.pem", server_pkcs8_key=d / "server-pkcs8.key",
        server_pkcs1_key=d / "server-pkcs1.key",
        intermediate=d / "intermediate.pem", server_chain=d / "server-chain.pem",
        server_chain_key=d / "server-ec.key",
        client_cert=d / "client.pem", client_key=d / "client.key",
        other_ca=d / "other-ca.pem", other_client_cert=d / "other-client.pem",
        other_client_key=d / "other-client.key",
        expired_cert=d / "expired.pem", expired_key=d / "expired.key",
        mismatch_key=d / "mismatch.key",
    )


# --------------------------------------------------------------------------- TLS senders

def openssl_send(host, port, data: bytes, ca=None, cert=None, key=None, timeout=10,
                 servername="localhost", extra=()) -> subprocess.CompletedProcess:
    """Sends `data` over TLS with `openssl s_client` and closes (close_notify) once
    all of it is written. Returns the CompletedProcess (stdout: what the server
    sent back, bytes; stderr: s_client's diagnostics).

    With `ca`, the server certificate is verified against it and its name against
    `servername` (-verify_return_error -verify_hostname): a bad server makes
    returncode != 0 and nothing is sent. Without `ca` nothing is verified.

    Gotchas (tested): `-quiet` implies `-ign_eof`, which makes s_client wait for
    the *server* to close after stdin's EOF (hangs against a syslog server), so
    `-no_ign_eof` is passed: s_client writes everything it read, then shuts down.
    Without -verify_return_error s_client sends data to an unverified server.
    With TLS 1.3 a server that rejects the client certificate does so after the
    client's handshake finished, so returncode may be 0 although the server
    dropped the connection (tested: no client cert -> 1, "certificate required"
    alert read in time; a cert from another CA -> 0): assert on what the server got.
    """
    cmd = [OPENSSL, "s_client", "-connect", _hostport(host, port), "-quiet", "-no_ign_eof",
           "-servername", servername]
    if ca:
        cmd += ["-CAfile", str(ca), "-verify_return_error", "-verify_hostname", servername]
    if cert:
        cmd += ["-cert", str(cert)]
    if key:
        cmd += ["-key", str(key)]
    cmd += list(extra)
    return subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)


def tls_connect(host, port, ca=None, cert=None, key=None, server_hostname="localhost",
                timeout=10.0, min_version=ssl.TLSVersion.TLSv1_2,
                max_version=None) -> ssl.SSLSocket:
    """A connected, handshaken TLS socket (Python ssl, TLS 1.2+). With `ca` the
    server certificate and its name (`server_hostname`) are verified; without,
    nothing is. Close with sock.close() (or use as a context manager); call
    sock.unwrap() first to send close_notify.

    TLS 1.3: a server refusing our client certificate does so after the handshake
    returned here; the alert (ssl.SSLError TLSV13_ALERT_CERTIFICATE_REQUIRED,
    TLSV1_ALERT_UNKNOWN_CA, ...) surfaces at the next recv(). Use
    max_version=ssl.TLSVersion.TLSv1_2 to get it from the handshake itself."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if ca:
        ctx.load_verify_locations(cafile=str(ca))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


# --------------------------------------------------------------------------- plain senders

def tcp_send(host, port, data: bytes, timeout=10.0):
    """Sends bytes over one TCP connection and closes it (after shutdown(SHUT_WR))."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)


def udp_send(host, port, datagrams, interval=0.0):
    """Sends each element of `datagrams` (bytes) as one UDP datagram."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        for dg in datagrams:
            s.sendto(dg, (host, port))
            if interval:
                time.sleep(interval)


def _logger(host, port, msg, transport, rfc, tag, priority, octet_count, extra):
    cmd = ["logger", transport, "-n", host, "-P", str(port), "-t", tag, "-p", priority]
    cmd.append("--rfc5424" if rfc == "5424" else "--rfc3164")
    if octet_count:
        cmd.append("--octet-count")
    cmd += list(extra)
    cmd += ["--", msg]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True)


def logger_udp(host, port, msg, rfc="5424", tag="hdtest", priority="user.notice", extra=()):
    """util-linux logger(1) --udp: one datagram, no trailing LF.
    5424: `<13>1 TIMESTAMP HOST TAG - - [timeQuality tzKnown="1" isSynced="0"] MSG`; 3164:
    `<13>MMM DD HH:MM:SS HOST TAG: MSG` (HOST is the machine's hostname)."""
    return _logger(host, port, msg, "--udp", rfc, tag, priority, False, extra)


def logger_tcp(host, port, msg, rfc="5424", tag="hdtest", priority="user.notice",
               octet_count=False, extra=()):
    """util-linux logger(1) --tcp: one connection, message + LF, or octet-counted."""
    return _logger(host, port, msg, "--tcp", rfc, tag, priority, octet_count, extra)


# --------------------------------------------------------------------------- loggen

LOGGEN_RE = re.compile(rb"seq: (\d{10}), thread: (\d{4}), runid: (\d+), stamp: (\S+) (PADD)*P?A?D?D?")
"""Matches the body loggen puts in every message; group 1 is the 0-based sequence number."""


def loggen(host, port, *, tls=False, dgram=False, number=1000, rate=1000, size=None,
           syslog_proto=False, framing=True, interval=None, timeout=120, extra=()):
    """Runs syslog-ng's loggen (scripts/loggen) to completion and returns the
    CompletedProcess (text; stderr has loggen's `average rate = ... count=N` line).

    What loggen sends (tested, syslog-ng 3.38 loggen):
      * 3164 (default): `<38>2026-11-24T01:36:09 localhost prg00000[1234]: seq:
        0000000000, thread: 0000, runid: 1795484169, stamp: 2026-11-24T01:36:09 PADD...`
        then LF, over TCP. `size` (default 256) is the line length *with* the LF.
        Sequence numbers start at 0 and are 10 digits.
      * syslog_proto=True (-P): `<38>1 TS localhost prg00000 1234 - - \\xef\\xbb\\xbfseq:
        ...PADD\\n`, octet-counted (`256 <38>1 ...`; the count includes the LF)
        unless framing=False (-F). The octet count is also prepended on UDP!
      * dgram=True: one message per datagram.
      * tls=True: TLS 1.3 without verifying the server certificate at all (any
        self-signed cert is accepted) and without a client certificate.
    Gotchas: `--use-ssl` must NOT be combined with `--stream`: loggen then says "2
    plugins activated", sends nothing and still exits 0 -- this function never
    combines them. loggen exits 0 even when the server refused the TLS handshake
    or the connection; check what the receiver got. Sizes below 140 are raised
    to ~144 bytes but the octet count still says `size` (broken framing), so they
    are refused here. It takes at least ~0.5 s even for one message.
    """
    if size is not None and size < 140:
        raise ValueError("loggen cannot make messages shorter than 140 bytes (its framing breaks)")
    cmd = [str(LOGGEN)]
    if tls:
        if dgram:
            raise ValueError("loggen has no DTLS")
        cmd.append("--use-ssl")
    elif dgram:
        cmd.append("--dgram")
    else:
        cmd.append("--stream")
    if ":" in host:
        cmd.append("--ipv6")
    if syslog_proto:
        cmd.append("--syslog-proto")
        if not framing:
            cmd.append("--no-framing")
    if number is not None:
        cmd += ["--number", str(number)]
    if rate is not None:
        cmd += ["--rate", str(rate)]
    if size is not None:
        cmd += ["--size", str(size)]
    if interval is not None:
        cmd += ["--interval", str(interval)]
    cmd += list(extra)
    cmd += [host, str(port)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def loggen_seqs(data: bytes) -> list[int]:
    """The sequence numbers found in loggen output, in arrival order."""
    return [int(m.group(1)) for m in re.finditer(rb"seq: (\d{10}),", data)]


# --------------------------------------------------------------------------- rsyslog

RSYSLOG_TEMPLATE = "RSYSLOG_SyslogProtocol23Format"


class Rsyslog:
    """A private rsyslogd that forwards lines you give it to host:port.

    Input: imfile on `<workdir>/input.log`; send_lines() appends to it. Each line
    becomes one message whose MSG is exactly the line (no parsing, no escaping of
    printable UTF-8; avoid control characters and empty lines). Output: omfwd,
    protocol tcp (plain, or TLS with the ossl driver) or udp, in the template
    RSYSLOG_SyslogProtocol23Format (see the module docstring for the bytes).

    Progress: a second action (omfile, `<workdir>/forwarded.log`) runs after the
    omfwd action in the same ruleset, so a line appears there only once omfwd
    took it; wait_idle() waits until every line sent is there. stop() waits for
    that, then SIGTERMs rsyslogd and waits for it to exit, which flushes omfwd's
    connection. omfwd retries forever (action.resumeRetryCount=-1): a sender
    whose receiver refuses it never becomes idle (wait_idle raises TimeoutError).

    rsyslogd's own messages go to a separate (empty) default ruleset, never to
    the receiver; its stderr/stdout is in `<workdir>/rsyslogd.log` (self.output()).
    """

    def __init__(self, workdir, host, port, *, protocol="tcp", tls=False, ca=None, cert=None,
                 key=None, auth_mode="anon", permitted_peers=None, framing="octet-counted",
                 template=RSYSLOG_TEMPLATE, hostname="hdtest-host", tag="hdtest",
                 facility="user", severity="notice", max_message_size=65536, extra_action=""):
        if protocol not in ("tcp", "udp"):
            raise ValueError("protocol must be tcp or udp")
        if framing not in ("octet-counted", "traditional"):
            raise ValueError("framing must be 'octet-counted' or 'traditional'")
        if tls and protocol != "tcp":
            raise ValueError("TLS needs protocol=tcp")
        if auth_mode not in ("anon", "x509/name", "x509/certvalid", "x509/fingerprint"):
            raise ValueError(f"unknown auth_mode {auth_mode!r}")
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.protocol, self.tls, self.framing = protocol, tls, framing
        self.hostname, self.tag = hostname, tag
        self.conf = self.dir / "rsyslog.conf"
        self.pidfile = self.dir / "rsyslogd.pid"
        self.input = self.dir / "input.log"
        self.forwarded = self.dir / "forwarded.log"
        self.log = self.dir / "rsyslogd.log"
        self.sent = 0
        self.proc = None
        self._logf = None

        glob = [f'workDirectory="{self.dir}"', f'localHostname="{hostname}"',
                f'maxMessageSize="{max_message_size}"']
        action = [f'type="omfwd"', f'target="{host}"', f'port="{port}"',
                  f'protocol="{protocol}"', f'template="{template}"',
                  'action.resumeRetryCount="-1"', 'action.resumeInterval="1"']
        if protocol == "tcp":
            action.append(f'TCP_Framing="{framing}"')
        if tls:
            glob.append('defaultNetstreamDriver="ossl"')
            # anon needs no CA (tested); x509/* do.
            if ca:
                glob.append(f'defaultNetstreamDriverCAFile="{ca}"')
                action.append(f'StreamDriver.CAFile="{ca}"')
            if cert:
                action.append(f'StreamDriver.CertFile="{cert}"')
            if key:
                action.append(f'StreamDriver.KeyFile="{key}"')
            action += ['StreamDriver="ossl"', 'StreamDriverMode="1"',
                       f'StreamDriverAuthMode="{auth_mode}"']
            if permitted_peers:
                peers = [permitted_peers] if isinstance(permitted_peers, str) else permitted_peers
                action.append('StreamDriverPermittedPeers="%s"' % ",".join(peers))
        if extra_action:
            action.append(extra_action)

        self.conf.write_text(f"""# generated by tests/e2e/clients.py
global({' '.join(glob)})
main_queue(queue.timeoutShutdown="10000")
module(load="imfile" mode="inotify")
template(name="hd_line" type="string" string="%msg%\\n")
input(type="imfile" file="{self.input}" tag="{tag}" facility="{facility}"
      severity="{severity}" ruleset="fwd" freshStartTail="off")
ruleset(name="fwd" queue.type="Direct") {{
  action({' '.join(action)})
  action(type="omfile" file="{self.forwarded}" template="hd_line" flushOnTXEnd="on")
}}
""")

    def check_config(self):
        """rsyslogd -N1 on the generated config; raises RuntimeError if rejected."""
        r = subprocess.run(["rsyslogd", "-N1", "-f", str(self.conf)], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"rsyslogd -N1 rejected the config:\n{r.stdout}{r.stderr}")

    def start(self, timeout=10.0):
        self.input.touch()
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["rsyslogd", "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
            stdout=self._logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        try:
            wait_for(lambda: self.pidfile.exists() or self.proc.poll() is not None,
                     timeout, what="rsyslogd pidfile")
            if self.proc.poll() is not None:
                raise RuntimeError(f"rsyslogd exited with {self.proc.returncode}:\n{self.output()}")
        except BaseException:
            self.kill()
            raise
        return self

    def output(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def send_lines(self, lines):
        """Appends lines (str or bytes, without LF) to the input file in one write."""
        out = []
        for line in lines:
            b = line.encode() if isinstance(line, str) else bytes(line)
            if b"\n" in b:
                raise ValueError("a line must not contain LF")
            out.append(b + b"\n")
        with open(self.input, "ab") as f:
            f.write(b"".join(out))
        self.sent += len(out)

    def forwarded_count(self):
        try:
            with open(self.forwarded, "rb") as f:
                return f.read().count(b"\n")
        except FileNotFoundError:
            return 0

    def wait_idle(self, timeout=10.0):
        """Waits until omfwd took every line sent so far."""
        def done():
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"rsyslogd died ({self.proc.returncode}):\n{self.output()}")
            return self.forwarded_count() >= self.sent
        wait_for(done, timeout, what=f"rsyslog to forward {self.sent} lines "
                 f"(forwarded {self.forwarded_count()})")

    def stop(self, timeout=15.0, drain=True):
        """wait_idle() (if drain), then SIGTERM and wait for exit. Returns the exit
        status. rsyslogd is killed if it does not exit in time (and TimeoutError raised)."""
        if self.proc is None:
            return None
        try:
            if drain and self.proc.poll() is None:
                self.wait_idle(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
                    raise TimeoutError(f"rsyslogd did not exit on SIGTERM:\n{self.output()}")
            if self._logf:
                self._logf.close()
                self._logf = None
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._logf:
            self._logf.close()
            self._logf = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is None:
            self.stop()
        else:
            self.kill()


# --------------------------------------------------------------------------- receivers

class _Proc:
    proc = None

    def stop(self):
        _kill(self.proc)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def data(self) -> bytes:
        return self.out.read_bytes() if self.out.exists() else b""

    def wait_bytes(self, n, timeout=10.0):
        """Waits until at least n bytes arrived; returns them all."""
        return wait_for(lambda: (lambda d: d if len(d) >= n else None)(self.data()), timeout,
                        what=f"{n} bytes in {self.out}")

    def wait_data(self, pred, timeout=10.0):
        """Waits until pred(data) is true; returns data."""
        return wait_for(lambda: (lambda d: d if pred(d) else None)(self.data()), timeout,
                        what=f"expected data in {self.out}")


class TlsServer(_Proc):
    """`openssl s_server -quiet`: accepts TLS connections one after the other on
    127.0.0.1:port (or naccept of them) and appends everything received to
    self.out. With `ca`, a client certificate is required and verified (-Verify 1).
    Gotcha: s_server closes the connection when ITS stdin reaches EOF, so stdin is
    a pipe kept open until stop()."""

    def __init__(self, tmpdir, cert, key, ca=None, port=None, host="127.0.0.1", naccept=None,
                 extra=()):
        self.tmpdir, self.host, self.fixed_port = Path(tmpdir), host, port is not None
        self.args = ["-cert", str(cert), "-key", str(key), "-quiet"]
        if ca:
            self.args += ["-Verify", "1", "-CAfile", str(ca), "-verify_return_error"]
        if naccept:
            self.args += ["-naccept", str(naccept)]
        self.args += list(extra)
        self._on_port(port or free_port())

    def _on_port(self, port):
        self.port = port
        self.out = self.tmpdir / f"s_server-{port}.out"
        self.err = self.tmpdir / f"s_server-{port}.err"
        self.cmd = [OPENSSL, "s_server", "-accept", _hostport(self.host, port)] + self.args

    def start(self):
        # free_port's port is free when it answers, not later: another process (a client's
        # ephemeral port, another test's listener) can take it first, and s_server then exits
        # (with status 0) instead of listening. A port of our own choosing is chosen again.
        for attempt in range(3):
            with open(self.out, "wb") as o, open(self.err, "wb") as e:
                self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=o, stderr=e,
                                             start_new_session=True)
            try:
                wait_listening(self.port, self.host, proc=self.proc)
                return self
            except RuntimeError:
                if self.fixed_port or attempt == 2:
                    raise
                self._on_port(free_port())
        return self

    def stop(self):
        if self.proc and self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        _kill(self.proc)

    def errors(self):
        return self.err.read_text(errors="replace") if self.err.exists() else ""


class TcpSink(_Proc):
    """socat TCP-LISTEN (fork): appends what every connection sends to self.out.
    With tls=True (cert/key, optional ca => client cert required) socat
    OPENSSL-LISTEN instead."""

    def __init__(self, tmpdir, port=None, host="127.0.0.1", tls=False, cert=None, key=None,
                 ca=None):
        self.port = port or free_port()
        self.host = host
        self.out = Path(tmpdir) / f"socat-{self.port}.out"
        self.err = Path(tmpdir) / f"socat-{self.port}.err"
        pf = "6" if ":" in host else "4"
        addr = f"bind={host},reuseaddr,fork"
        if tls:
            addr += f",cert={cert},key={key}"
            addr += f",cafile={ca},verify=1" if ca else ",verify=0"
            listen = f"OPENSSL-LISTEN:{self.port},pf=ip{pf},{addr}"
        else:
            listen = f"TCP{pf}-LISTEN:{self.port},{addr}"
        self.cmd = ["socat", "-u", listen, f"OPEN:{self.out},creat,append"]

    def start(self):
        self.out.write_bytes(b"")
        with open(self.err, "wb") as e:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stderr=e,
                                         start_new_session=True)
        wait_listening(self.port, self.host, proc=self.proc)
        return self

    def stop(self):
        # start_new_session: the forked children are in the same process group.
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        _kill(self.proc)


class UdpSink:
    """A Python UDP receiver on host:port keeping datagram boundaries:
    self.datagrams is the list of payloads (bytes) in arrival order."""

    def __init__(self, host="127.0.0.1", port=0, rcvbuf=4 << 20):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((host, port))
        self.sock.settimeout(0.1)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.datagrams = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                dg = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.datagrams.append(dg)

    def start(self):
        self._t.start()
        return self

    def wait(self, n, timeout=10.0):
        """Waits for at least n datagrams; returns a copy of the list."""
        wait_for(lambda: len(self.datagrams) >= n, timeout, what=f"{n} datagrams")
        return list(self.datagrams)

    def stop(self):
        self._stop.set()
        if self._t.is_alive():
            self._t.join(5)
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
