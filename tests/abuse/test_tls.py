"""Abuse: hostile TLS clients (plaintext on the TLS port, truncated and stalled handshakes,
renegotiation attempts, client certificates from an unknown CA under verify: required), while a
good client streams over TLS with a valid client certificate."""
import socket
import ssl
import subprocess
import time

from conftest import SLOW, poll, wait_closed_by_peer

HDR = b"<13>1 2026-11-30T00:00:00Z badhost badapp - - - "
OPENSSL = "openssl"


def tls_listener(pki):
    return [{"handshake_timeout_ms": 1500,
             "tls": {"cert": str(pki.server_cert), "key": str(pki.server_key), "ca": str(pki.ca),
                     "verify": "required"}}]


def good_ctx(pki):
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return ctx


def client_hello():
    """The bytes of a real TLS ClientHello (Python's ssl, TLS 1.2..1.3)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def test_tls_plaintext_on_tls_port(abuse, pki):
    n = 50
    with abuse.case("tls_plaintext", rss_mb=48, listeners=tls_listener(pki)) as c:
        c.start(good_tls_ctx=good_ctx(pki))
        closed = 0
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", c.port))
            try:
                s.sendall(HDR + f"plaintext-{i}\n".encode() * 3)
            except OSError:
                pass
            closed += wait_closed_by_peer(s, 10 * SLOW)
            s.close()
        c.note(f"{n} plaintext syslog connections to the TLS port; {closed} closed by the daemon")
        assert closed == n
        c.expect_counter("error.tls_handshake", n, exact=True)


def test_tls_truncated_and_stalled_handshakes(abuse, pki):
    hello = client_hello()
    half = hello[:len(hello) // 2]
    with abuse.case("tls_truncated_handshake", rss_mb=48, listeners=tls_listener(pki)) as c:
        c.start(good_tls_ctx=good_ctx(pki))
        # Half a ClientHello (or just its record header), then close.
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", c.port))
            s.sendall(half if i % 2 else hello[:5])
            s.close()
        stalled = []
        try:
            for i in range(40):
                s = socket.create_connection(("127.0.0.1", c.port))
                if i < 20:
                    s.sendall(half)        # half a ClientHello, then nothing
                elif i < 30:
                    s.sendall(hello)       # a whole ClientHello, never the client's Finished
                # else: connect and say nothing at all
                stalled.append(s)
            c.wait_counter("error.tls_handshake_timeout", 40, timeout=30)
            closed = sum(wait_closed_by_peer(s, 5 * SLOW) for s in stalled)
        finally:
            for s in stalled:
                s.close()
        c.note(f"ClientHello of {len(hello)} bytes: 20 truncated+closed, 20 truncated+stalled, "
               f"10 whole+stalled, 10 silent; {closed}/40 stalled ones closed by the daemon")
        assert closed == 40
        c.expect_counter("error.tls_handshake", 20, exact=True)
        c.expect_counter("error.tls_handshake_timeout", 40, exact=True)


def s_client(pki, port, out, *args):
    return subprocess.Popen([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-cert",
                             str(pki.client_cert), "-key", str(pki.client_key), "-CAfile",
                             str(pki.ca), *args], stdin=subprocess.PIPE, stdout=out,
                            stderr=subprocess.STDOUT)


def test_tls_renegotiation(abuse, pki):
    with abuse.case("tls_renegotiation", rss_mb=48, listeners=tls_listener(pki)) as c:
        c.start(good_tls_ctx=good_ctx(pki))
        # (name, s_client options, command letter, what s_client prints when it obeys it)
        tries = [("reneg", ["-tls1_2"], b"R\n", "RENEGOTIATING"),
                 ("legacy-reneg", ["-tls1_2", "-legacy_renegotiation"], b"R\n", "RENEGOTIATING"),
                 # TLS 1.3 KeyUpdate (requesting the server's): legitimate, must keep working.
                 ("keyupdate", ["-tls1_3"], b"K\n", "KEYUPDATE")]
        out_path = c.workdir / "s_client.out"
        with open(out_path, "wb") as out:
            for name, args, cmd, said in tries:
                base_fwd = c.counters("rule.1.matched")["rule.1.matched"]
                base_tls = c.counters("error.tls")["error.tls"]
                p = s_client(pki, c.port, out, *args)
                try:
                    p.stdin.write(HDR + f"{name}-before\n".encode())
                    p.stdin.flush()
                    c.wait_counter("rule.1.matched", base_fwd + 1)
                    seen = out_path.read_text(errors="replace").count(said)
                    p.stdin.write(cmd)
                    p.stdin.flush()
                    # s_client only obeys a command that comes alone in one read of its stdin:
                    # wait until it says it did before writing anything else.
                    poll(lambda: out_path.read_text(errors="replace").count(said) > seen,
                         10 * SLOW, what=f"s_client to print {said}")
                    if name == "keyupdate":
                        p.stdin.write(HDR + f"{name}-after\n".encode())
                        p.stdin.flush()
                        c.wait_counter("rule.1.matched", base_fwd + 2)
                    else:
                        c.wait_counter("error.tls", base_tls + 1)
                    p.stdin.close()
                    p.wait(10 * SLOW)
                finally:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
        log = out_path.read_text(errors="replace")
        c.note(f"s_client: {log.count('RENEGOTIATING')} renegotiation attempt(s) "
               f"({log.count('no renegotiation')} refused), {log.count('KEYUPDATE')} key update(s)")
        c.expect_counter("error.tls", 2, exact=True)
        for name, *_ in tries:
            c.expect_bad(f"{name}-before", lambda d, n=name: f"\n{n}-before\n".encode() in b"\n" + d)
        c.expect_bad("keyupdate-after (a line after a TLS 1.3 KeyUpdate)",
                     lambda d: b"\nkeyupdate-after\n" in b"\n" + d)


def test_tls_client_cert_from_unknown_ca(abuse, pki):
    n = 20
    with abuse.case("tls_unknown_ca", rss_mb=48, listeners=tls_listener(pki)) as c:
        c.start(good_tls_ctx=good_ctx(pki))
        refused = 0
        for i in range(2 * n):
            ctx = ssl.create_default_context(cafile=str(pki.ca))
            if i % 4 == 0:
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            if i < n:
                ctx.load_cert_chain(str(pki.other_client_cert), str(pki.other_client_key))
            # else: no client certificate at all
            s = socket.create_connection(("127.0.0.1", c.port), timeout=10 * SLOW)
            try:
                t = ctx.wrap_socket(s, server_hostname="localhost")
                # TLS 1.3: the client finishes first; the server's refusal comes as an alert.
                t.sendall(HDR + b"must-not-arrive\n")
                if t.recv(1) == b"":
                    refused += 1
                t.close()
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                refused += 1
            finally:
                s.close()
        c.note(f"{n} clients with a certificate from another CA, {n} with none: {refused} refused")
        assert refused == 2 * n
        c.expect_counter("error.tls_handshake", 2 * n, exact=True)
        c.expect_bad("nothing from the refused clients",
                     lambda d: b"must-not-arrive" not in d)
