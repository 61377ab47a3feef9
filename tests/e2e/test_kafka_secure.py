"""hotdog against a secured broker (issue 13): SCRAM-SHA-256 and -512 over SASL_SSL with the
credentials only in SASL_SCRAM_USERNAME / SASL_SCRAM_PASSWORD, TLS with CA verification and a
client certificate (mTLS); a wrong password, a wrong CA and an unreachable broker named in
the log and in /readyz; a wrong password corrected on the same spool loses nothing, and
corrected in the configuration file with a SIGHUP (no restart) loses nothing either.

The broker is `scripts/kafka-local secure` (one per module); what hotdog delivered is read
back through its PLAINTEXT listener and counted exactly (faults_helpers.tally).
"""
import os
import signal

import pytest

import faults_helpers as fh
import kafka_envs as ke
from conftest import unique_topic
from faults_helpers import seq_block, tally

N = 1000
SPOOL = {"max_bytes": 64 << 20, "segment_bytes": 1 << 20}
SCRAM = ((2, 6, 1), "SCRAM with Kafka 4.x (confluentinc/librdkafka#4895)")


@pytest.fixture(scope="module")
def broker():
    k = ke.SecureKafka()
    try:
        took = k.start()
        print(f"secured broker on {k.bootstrap} / {k.sasl_ssl} / {k.ssl}: start {took:.1f} s")
        yield k
    finally:
        k.stop()  # the state dir stays (logs for a post-mortem) until the next start wipes it


def make(daemons, tmp_path, bootstrap, conf, env=None, **kw):
    d = ke.EnvDaemon(tmp_path, unique_topic("secure"), bootstrap, env=env, conf=conf, **kw)
    daemons.append(d)
    return d


def scram_conf(broker, mechanism, ca=None):
    return {"security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
            "ssl.ca.location": ca or broker.ca}


def creds(broker, password=None):
    return {"SASL_SCRAM_USERNAME": broker.user,
            "SASL_SCRAM_PASSWORD": broker.password if password is None else password}


def deliver_and_count(d, broker, n=N):
    fh.send_tcp(d.port, seq_block(1, n))
    fh.wait_delivered(d, broker, d.topic, n, 60)
    t = tally(fh.read_until(broker, d.topic, n), n)
    ke.report(t.line())
    assert t.lost == 0, f"missing {t.missing()}\n{d.logs()}"
    assert t.duplicated == 0
    assert t.others == 0
    return t


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_over_sasl_ssl_with_the_environment_credentials(broker, daemons, tmp_path,
                                                              mechanism):
    d = make(daemons, tmp_path, broker.sasl_ssl, scram_conf(broker, mechanism),
             env=creds(broker))
    config = d.config_text()
    assert broker.password not in config
    d.start(needs=SCRAM)
    deliver_and_count(d, broker)
    assert d.h.stop() == 0, d.logs()
    assert broker.password not in d.h.output(), "the password is in hotdog's log"


def test_mtls_with_ca_verification(broker, daemons, tmp_path):
    """The SSL listener requires a client certificate signed by the test CA; hotdog checks
    the broker's certificate (127.0.0.1 in its SAN) against ssl.ca.location."""
    conf = {"security.protocol": "SSL", "ssl.ca.location": broker.ca,
            "ssl.certificate.location": broker.client_cert,
            "ssl.key.location": broker.client_key,
            "ssl.endpoint.identification.algorithm": "https"}
    d = make(daemons, tmp_path, broker.ssl, conf)
    d.start()
    deliver_and_count(d, broker)
    assert d.h.stop() == 0, d.logs()


# With a spool hotdog starts even when Kafka refuses it (and keeps what it receives), so
# /readyz can be asked why it is not ready.

def test_wrong_password_is_named_in_the_log_and_readyz(broker, daemons, tmp_path):
    d = make(daemons, tmp_path, broker.sasl_ssl, scram_conf(broker, "SCRAM-SHA-512"),
             env=creds(broker, "not-the-password"), timeout_ms=3000,
             spool={"path": tmp_path / "spool", **SPOOL})
    d.start()
    body = ke.wait_not_ready(d, "authentication failed")
    print(f"/readyz: {body}")
    d.h.wait_log("kafka: authentication failed")
    assert "not-the-password" not in d.h.output(), "the password is in hotdog's log"
    assert d.h.stop() == 0, d.logs()


@pytest.mark.parametrize("listener", ["sasl_ssl", "ssl"])
def test_wrong_ca_is_named_in_the_log_and_readyz(broker, daemons, tmp_path, listener):
    """ssl.ca.location names a CA that did not sign the broker's certificate."""
    if listener == "sasl_ssl":
        conf, env = scram_conf(broker, "SCRAM-SHA-512", ca=broker.other_ca), creds(broker)
    else:
        conf, env = {"security.protocol": "SSL", "ssl.ca.location": broker.other_ca,
                     "ssl.certificate.location": broker.client_cert,
                     "ssl.key.location": broker.client_key}, None
    d = make(daemons, tmp_path, getattr(broker, listener), conf, env=env, timeout_ms=3000,
             spool={"path": tmp_path / "spool", **SPOOL})
    d.start()
    body = ke.wait_not_ready(d, "TLS handshake failed")
    print(f"/readyz: {body}")
    d.h.wait_log("kafka: TLS handshake failed")
    assert d.h.stop() == 0, d.logs()


def test_unreachable_broker_is_named_in_the_log_and_readyz(broker, daemons, tmp_path):
    closed = f"127.0.0.1:{fh.free_port()}"  # nothing listens there
    d = make(daemons, tmp_path, closed, scram_conf(broker, "SCRAM-SHA-512"), env=creds(broker),
             timeout_ms=3000, spool={"path": tmp_path / "spool", **SPOOL})
    d.start()
    body = ke.wait_not_ready(d, "no Kafka broker is up")
    print(f"/readyz: {body}")
    d.h.wait_log("no Kafka broker")
    assert d.h.stop() == 0, d.logs()


def test_wrong_password_then_the_right_one_on_the_same_spool_loses_nothing(broker, daemons,
                                                                           tmp_path):
    """A first run with a wrong password receives N lines it cannot deliver and keeps them in
    the spool at SIGTERM; a second run on the same spool with the right password delivers
    them all, once."""
    spool = tmp_path / "spool"
    d = make(daemons, tmp_path, broker.sasl_ssl, scram_conf(broker, "SCRAM-SHA-512"),
             env=creds(broker, "not-the-password"), timeout_ms=3000, shutdown_timeout_ms=1000,
             spool={"path": spool, **SPOOL})
    d.start(needs=SCRAM)
    fh.send_tcp(d.port, seq_block(1, N))
    s = fh.wait_stat(d, lambda s: s.get("lines", 0) >= N, 60, f"{N} lines read")
    print(f"wrong password, before SIGTERM: {fh.spool_view(s)}")
    assert s.get("kafka.delivered", 0) == 0, fh.spool_view(s)
    assert d.h.stop() == 0, d.logs()
    assert "kafka: authentication failed" in d.h.output(), d.logs()
    assert any(spool.glob("*.seg")), list(spool.iterdir())
    assert tally(broker.read(d.topic), N).distinct == 0

    d.start(env=creds(broker), needs=SCRAM)
    fh.wait_delivered(d, broker, d.topic, N, 120)
    s = fh.wait_idle(d, 60)
    t = tally(fh.read_until(broker, d.topic, N), N)
    ke.report(t.line())
    print(f"second run: {fh.spool_view(s)}")
    assert t.lost == 0, f"missing {t.missing()}\n{d.logs()}"
    assert t.duplicated == 0
    assert d.h.stop() == 0, d.logs()


def test_sighup_replaces_the_sasl_password_without_a_restart(broker, daemons, tmp_path):
    """A password rotation without a restart: the credentials are in global.kafka.conf (not
    the environment, which would override the file) and the password there is wrong, so N
    lines wait in the producer queue while /readyz names the failed authentication (the
    spool lets hotdog start without Kafka, after timeout_ms). The right password written
    into the same file and a SIGHUP to the same process deliver all N, once; the process
    never exits. Fails if a reload only re-reads rules and templates: librdkafka keeps the
    credentials it was created with."""
    n = 500
    conf = {**scram_conf(broker, "SCRAM-SHA-512"), "sasl.username": broker.user,
            "sasl.password": "not-the-password"}
    d = make(daemons, tmp_path, broker.sasl_ssl, conf, timeout_ms=3000,
             spool={"path": tmp_path / "spool", **SPOOL})
    h = d.start(needs=SCRAM)
    pid = h.proc.pid
    fh.send_tcp(d.port, seq_block(1, n))
    fh.wait_stat(d, lambda s: s.get("lines", 0) >= n, 60, f"{n} lines read")
    body = ke.wait_not_ready(d, "authentication failed")
    print(f"/readyz with the wrong password: {body}")
    h.wait_log("kafka: authentication failed")
    s = d.stats()
    print(f"wrong password, before SIGHUP: {fh.spool_view(s)}")
    assert s.get("kafka.delivered", 0) == 0, fh.spool_view(s)
    assert tally(broker.read(d.topic), n).distinct == 0

    # The new file replaces the old one at once (a rename), as a deployment tool would.
    d.kw["conf"] = {**conf, "sasl.password": broker.password}
    new = h.cfg.with_suffix(".new")
    new.write_text(d.config_text())
    os.replace(new, h.cfg)
    before = len(h.output())
    h.proc.send_signal(signal.SIGHUP)
    h.wait_log("SIGHUP: configuration reloaded")
    reload_log = h.output()[before:]
    assert f"SIGHUP: SASL credentials for user '{broker.user}' replaced" in reload_log, d.logs()
    assert "restart hotdog to apply it" not in reload_log, d.logs()

    # Every connection made after the reload authenticates with the new password: once one
    # delivery has been made, no further authentication fails. (A connection attempt under
    # way at the SIGHUP may still fail with the old password.)
    fh.wait_stat(d, lambda s: s.get("kafka.delivered", 0) > 0, 120, "a first delivery")
    failed = h.output().lower().count("authentication failed")
    fh.wait_delivered(d, broker, d.topic, n, 120)
    s = fh.wait_idle(d, 60)
    t = tally(fh.read_until(broker, d.topic, n), n)
    ke.report(t.line())
    print(f"after SIGHUP: {fh.spool_view(s)}")
    assert t.lost == 0, f"missing {t.missing()}\n{d.logs()}"
    assert t.duplicated == 0
    assert t.others == 0
    fh.wait_for(lambda: ke.readyz(d.status_port)[0] == 200, 60, "/readyz 200", proc=h.proc,
                on_timeout=lambda: f"last /readyz: {ke.readyz(d.status_port)}\n{d.logs()}")
    assert h.output().lower().count("authentication failed") == failed, d.logs()

    # The same process throughout: one run, one start-up, never exited.
    assert len(d.runs) == 1 and h.proc.pid == pid and h.proc.poll() is None, d.logs()
    assert h.output().count("listening on") == 1, d.logs()
    out = h.output()
    assert "not-the-password" not in out and broker.password not in out, \
        "a password is in hotdog's log"
    assert h.stop() == 0, d.logs()
