"""hotdog against a three-node KRaft cluster (issue 13): replication 3, min.insync.replicas 2,
topics of 6 partitions, all from `scripts/kafka-local cluster` (started once for the module).

Several TCP connections each send numbered lines "conn=C seq=000000123". Read back with the
partition of every message, they are counted exactly (lost, duplicated) and checked for
order: within a partition, each connection's lines must come in the order it sent them.
"""

import pytest

import faults_helpers as fh
import kafka_envs as ke
from conftest import unique_topic

CONNS = 4
SPOOL = {"max_bytes": 1 << 30, "segment_bytes": 8 << 20}


@pytest.fixture(scope="module")
def cluster():
    c = ke.KafkaCluster()
    try:
        took = c.start()
        print(f"cluster on {c.bootstrap}: start {took:.1f} s")
        yield c
    finally:
        c.stop()  # the state dir stays (logs for a post-mortem) until the next start wipes it


@pytest.fixture
def kafka(cluster):
    cluster.ensure_all_up()  # an earlier failed test may have left a node down
    return cluster


def make(daemons, tmp_path, kafka, **kw):
    d = ke.EnvDaemon(tmp_path, unique_topic("cluster"), kafka.bootstrap, **kw)
    daemons.append(d)
    return d


def read_and_check(kafka, d, sent):
    """Waits until all of sent ({conn: n}) is in the topic, then counts and checks order."""
    o = ke.wait_lines(kafka, d, sent, 180)
    ke.report(f"{o.line()}; per partition {dict(sorted(o.per_partition.items()))}")
    return o


def test_kill_9_the_leader_of_most_partitions_mid_stream(kafka, daemons, tmp_path):
    """kill -9 of the node that leads the most partitions while four connections stream,
    then its restart: nothing lost, nothing duplicated (idempotent producer), and every
    connection's lines in order within each partition."""
    per_conn = 25_000
    d = make(daemons, tmp_path, kafka, shutdown_timeout_ms=30000)
    d.start()
    senders = [fh.TcpStream(d.port, ke.conn_block(c, 1, per_conn), chunk=64 << 10,
                            min_seconds=12) for c in range(1, CONNS + 1)]
    for s in senders:
        s.start()
    total = CONNS * per_conn
    fh.wait_stat(d, lambda s: s.get("kafka.delivered", 0) >= total // 5, 60,
                 f"{total // 5} delivered")
    leaders = kafka.leaders(d.topic)
    counts = {n: list(leaders.values()).count(n) for n in kafka.NODES}
    victim = max(kafka.NODES, key=lambda n: counts[n])
    before = d.stats()
    kafka.kill(victim)
    print(f"leaders {leaders}: killed node {victim} (leader of {counts[victim]} of "
          f"{len(leaders)}) at {before.get('kafka.delivered')} delivered", flush=True)
    assert before["kafka.delivered"] < total and not all(s.done.is_set() for s in senders), \
        "the stream was over before the kill"
    moved = kafka.wait_leaders(d.topic, lambda l: victim not in l.values() and -1 not in l.values(),
                               60, f"new leaders for node {victim}'s partitions")
    during = d.stats()
    kafka.start_node(victim)
    print(f"leaders moved to {moved} ({during.get('kafka.delivered')} delivered); node "
          f"{victim} restarted", flush=True)
    for s in senders:
        s.join(180)
        assert s.done.is_set() and s.error is None, s.error
    o = read_and_check(kafka, d, {c: per_conn for c in range(1, CONNS + 1)})
    assert o.lost == 0, f"missing (conn, seq) {o.missing}\n{d.logs()}"
    assert o.duplicated == 0
    assert o.others == 0
    assert o.inversions == 0, o.examples
    assert d.h.stop() == 0, d.logs()


def outage_then_restart(kafka, d, spool, stop_node):
    """Phase 1: first lines per connection delivered. Phase 2: nodes 2 and 3 stopped with
    stop_node, later lines per connection, SIGTERM to hotdog (what waits goes to the spool).
    Phase 3: the nodes and hotdog (same spool) back. Returns check_order's Order."""
    first, later = 2_000, 10_000
    d.start()
    for c in range(1, CONNS + 1):
        fh.send_tcp(d.port, ke.conn_block(c, 1, first))
    ke.wait_lines(kafka, d, {c: first for c in range(1, CONNS + 1)}, 60)
    down = (2, 3)
    for n in down:
        stop_node(n)
    # Paced over a few seconds, so that librdkafka's sticky partitioner (a new partition
    # every 10 ms) spreads each connection's waiting lines over all partitions: a replay
    # that followed the per-partition purge order would then put them out of order.
    senders = [fh.TcpStream(d.port, ke.conn_block(c, first + 1, later), chunk=16 << 10,
                            min_seconds=4) for c in range(1, CONNS + 1)]
    for s in senders:
        s.start()
    for s in senders:
        s.join(60)
        assert s.done.is_set() and s.error is None, s.error
    total = CONNS * (first + later)
    s = fh.wait_stat(d, lambda s: s.get("lines", 0) >= total, 60, f"{total} lines read")
    print(f"nodes {down} down, before SIGTERM: {fh.spool_view(s)}", flush=True)
    assert s["kafka.delivered"] < total, "everything was delivered with two nodes down"
    rc = d.h.stop()
    line = next((l for l in d.h.output().splitlines() if "message(s) received" in l), None)
    print(f"first run: exit {rc}: {line}", flush=True)
    assert rc == 0, d.logs()
    assert any(spool.glob("*.seg")), list(spool.iterdir())
    for n in down:
        kafka.start_node(n)
    d.start()
    o = read_and_check(kafka, d, {c: first + later for c in range(1, CONNS + 1)})
    s = fh.wait_idle(d, 120)
    print(f"second run: {fh.spool_view(s)}", flush=True)
    return o


def test_sigterm_while_two_of_three_are_down_then_restart_on_the_same_spool(kafka, daemons,
                                                                            tmp_path):
    """Two nodes stopped (SIGTERM: their partitions move to the third, the in-sync replicas
    shrink to one): with min.insync.replicas=2 every write fails retriably and waits. SIGTERM
    to hotdog puts what waits into the spool; the two nodes and hotdog (same spool) come
    back: exact counts, and each connection's lines in order within each partition, across
    the outage."""
    spool = tmp_path / "spool"
    d = make(daemons, tmp_path, kafka, shutdown_timeout_ms=1000,
             spool={"path": spool, **SPOOL})
    o = outage_then_restart(kafka, d, spool, kafka.term)
    assert o.lost == 0, f"missing (conn, seq) {o.missing}\n{d.logs()}"
    assert o.duplicated == 0
    assert o.others == 0
    assert o.inversions == 0, o.examples
    assert d.h.stop() == 0, d.logs()


def test_kill_9_of_two_of_three_then_restart_on_the_same_spool(kafka, daemons, tmp_path):
    """Two nodes killed at once: the controller quorum goes with them before the in-sync
    replicas can shrink, so the third node still takes writes for its partitions and holds
    them until they time out. Such a write may be in its log (and replicated once the others
    are back) and also purged into hotdog's spool at SIGTERM, as librdkafka cannot tell:
    at-least-once, so duplicates are counted and printed, not refused. Nothing may be lost,
    and each connection's lines (first copies) stay in order within each partition."""
    spool = tmp_path / "spool"
    d = make(daemons, tmp_path, kafka, shutdown_timeout_ms=1000,
             spool={"path": spool, **SPOOL})
    o = outage_then_restart(kafka, d, spool, kafka.kill)
    assert o.lost == 0, f"missing (conn, seq) {o.missing}\n{d.logs()}"
    assert o.others == 0
    assert o.inversions == 0, o.examples
    assert d.h.stop() == 0, d.logs()
