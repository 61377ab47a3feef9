"""The spool at max_bytes: UDP is dropped and counted, TCP is pushed back; memory stays bounded.

Kafka is unreachable in the first run (bootstrap.servers is a closed port; with a spool hotdog
starts anyway), so everything goes to librdkafka's small queue and then to a 1 MiB spool.
"""
import json
import re
import socket
import threading
import time
import urllib.request

import clients

from conftest import BOOTSTRAP, Hotdog, consume, free_port, unique_topic


def cfg(port, sport, topic, spool, bootstrap, protocol="tcp", mode="overflow"):
    return f"""global:
  listen:
    address: '127.0.0.1'
    port: {port}
    protocol: {protocol}
  kafka:
    conf:
      bootstrap.servers: '{bootstrap}'
    topic: '{topic}'
    timeout_ms: 1000
    shutdown_timeout_ms: 500
    buffer: 1000
    spool:
      path: '{spool}'
      max_bytes: 1048576
      segment_bytes: 65536
      mode: {mode}
  status:
    port: {sport}
"""


def stats(sport):
    with urllib.request.urlopen(f"http://127.0.0.1:{sport}/stats", timeout=5) as r:
        return json.load(r)["stats"]


def wait_for(pred, timeout=60, what="condition"):
    return clients.wait_for(pred, timeout, interval=0.1, what=what)


def vm_hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def test_udp_into_a_full_spool_is_dropped_and_counted_exactly(kafka, tmp_path):
    port, sport, dead = free_port(), free_port(), free_port()
    h = Hotdog(tmp_path, cfg(port, sport, unique_topic("full"), tmp_path / "spool",
                             f"127.0.0.1:{dead}", protocol="udp"))
    h.start()
    h.wait_log("starting anyway")
    n = 30000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(n):
            s.sendto(b"<13>1 - h app - - - udp %06d %s" % (i, b"x" * 80), ("127.0.0.1", port))
            if i % 500 == 499:
                time.sleep(0.01)  # paced: the kernel must not drop (its drops are counted apart)
    st = wait_for(lambda: (lambda v: v if v["udp.datagrams"] + v["error.udp_kernel_drops"] >= n else None)(stats(sport)),
                  what="every datagram received")
    # Let the workers finish the last batch.
    st = wait_for(lambda: (lambda v: v if v["received"] == v["udp.datagrams"] else None)(stats(sport)))
    hwm = vm_hwm_mb(h.proc.pid)
    assert st["error.udp_kernel_drops"] == 0, st
    assert st["spool.full"] > 0 and st["error.spool_full_dropped"] > 0, st
    # Every datagram is accounted for: queued in librdkafka, in the spool, or dropped (counted).
    assert st["received"] == st["kafka.produced"] + st["spool.spooled"] + st["error.spool_full_dropped"], st
    assert st["error.lost"] == st["error.spool_full_dropped"], st
    assert st["spool.bytes"] <= 1048576, st
    assert hwm < 64, f"peak RSS {hwm:.1f} MB"
    # At shutdown librdkafka's queue cannot be purged into a full spool either: counted lost.
    assert h.stop() == 1
    out = h.output()
    c = h.counters()
    m = re.search(r"shutdown: (\d+) message\(s\) received, .* (\d+) lost", out)
    assert m and int(m.group(2)) == int(c["error.lost"]), out
    print(f"sent {n}, spooled {st['spool.spooled']}, queued {st['kafka.produced']}, "
          f"dropped (spool full) {st['error.spool_full_dropped']}, peak RSS {hwm:.1f} MB")


def test_tcp_into_a_full_spool_is_pushed_back_and_loses_nothing(kafka, tmp_path):
    """mode: always, spool full: hotdog stops reading. The sender blocks; nothing is dropped.
    After a restart against a live broker, everything that was read is delivered, except what
    the first run counted as lost at its shutdown (read, but the spool had no room)."""
    port, sport, dead = free_port(), free_port(), free_port()
    topic = unique_topic("fulltcp")
    spool = tmp_path / "spool"
    h = Hotdog(tmp_path, cfg(port, sport, topic, spool, f"127.0.0.1:{dead}", mode="always"))
    h.start()
    h.wait_log("starting anyway")
    # ~25 MB: far more than the 1 MiB spool and the socket buffers hold (Linux autotunes them
    # up to 6 MB received + 4 MB sent, so 8 MB could sometimes all be taken by the kernel).
    total = 200000
    data = b"".join(b"<13>1 - h app - - - tcp %06d %s\n" % (i, b"y" * 100) for i in range(total))
    done = threading.Event()
    sent = [0]

    def send():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.settimeout(60)
            try:
                for off in range(0, len(data), 65536):
                    s.sendall(data[off:off + 65536])
                    sent[0] = off + 65536
            except OSError:
                pass
            done.set()

    t = threading.Thread(target=send, daemon=True)
    t.start()
    wait_for(lambda: stats(sport)["spool.full"] > 0, what="the spool to fill")
    # Reading has stopped: the line count no longer moves, and the sender is stuck.
    a = stats(sport)["received"]
    time.sleep(1.5)
    st = stats(sport)
    assert st["received"] == a, (a, st)
    assert not done.is_set() and sent[0] < len(data)
    assert st["error.lost"] == 0 and st["error.spool_full_dropped"] == 0, st
    assert st["error.full_internal_queue"] > 0, st
    read = st["received"]
    h.stop()
    c = h.counters()
    lost_at_shutdown = int(c.get("error.shutdown_lost", "0"))
    # Second run, same spool, a live broker: the spool is replayed.
    port2, sport2 = free_port(), free_port()
    h2 = Hotdog(tmp_path, cfg(port2, sport2, topic, spool, BOOTSTRAP, mode="always"))
    h2.start()
    want = read - lost_at_shutdown
    msgs = consume(topic, want, timeout=60)
    seqs = sorted({int(re.search(r"tcp (\d{6})", m["payload"]).group(1)) for m in msgs})
    assert seqs == list(range(want)), "the delivered messages are the first ones read, without gaps"
    assert h2.stop() == 0
    print(f"sent (attempted) {total}, read {read}, delivered {want}, lost at the first shutdown "
          f"{lost_at_shutdown} (read, no room in the spool: counted)")
