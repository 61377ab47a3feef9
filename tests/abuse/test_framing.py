"""Abuse: hostile bytes on a TCP listener (over-long frames, lying octet counts, NULs, invalid
UTF-8, a 1 GiB line without LF, binary noise), while a good client streams. Over-long frames
are delivered truncated to max_message_size (error.truncated) and the framing stays in sync."""
import random
import socket
import time

from conftest import SLOW, send_raw, wait_closed_by_peer

MAX = 65536  # max_message_size of these cases: small, so that many frames are over it
LISTEN = [{"max_message_size": MAX}]
HDR = b"<13>1 2026-11-30T00:00:00Z badhost badapp - - - "


def has(payload):
    """Predicate: payload is one whole message of the bad topic."""
    return lambda data: b"\n" + payload + b"\n" in b"\n" + data


def test_oversize_lf(abuse):
    with abuse.case("oversize_lf", rss_mb=48, listeners=LISTEN) as c:
        c.start()
        exact = HDR + b"E" * (MAX - len(HDR))           # exactly max: a message
        over = HDR + b"O" * (MAX + 1 - len(HDR))        # max + 1: oversize
        frames = [exact + b"\n", over + b"\n", over + b"\r\n"]
        for i in range(20):
            frames.append(HDR + b"X" * (100_000 + 997 * i) + b"\n")
            frames.append(HDR + f"marker-lf-{i}".encode() + b"\n")
        frames.append(HDR + b"Y" * 1_000_000 + b"\r\n")  # 1 MB, CRLF
        frames.append(HDR + b"marker-lf-last\n")
        data = b"".join(frames)
        # Odd-sized writes, so that frame boundaries fall anywhere in the daemon's reads.
        chunks = [data[i:i + 7919] for i in range(0, len(data), 7919)]
        sent, _, err = send_raw(c.port, chunks)
        assert err is None, f"daemon dropped a connection that only sent long lines: {err}"
        c.note(f"sent {sent} bytes: 23 oversize LF lines (max+1 .. 1 MB), 21 markers, one line of exactly max")
        c.expect_counter("error.truncated", 23, exact=True)
        c.expect_bad("the line of exactly max_message_size", has(exact[len(HDR):]))
        c.expect_bad("a line of max + 1, cut to max", has(over[len(HDR):MAX]))
        c.expect_bad("the 1 MB line, cut to max", has(b"Y" * (MAX - len(HDR))))
        for i in range(20):
            c.expect_bad(f"marker-lf-{i}", has(f"marker-lf-{i}".encode()))
        c.expect_bad("marker-lf-last", has(b"marker-lf-last"))


def test_oversize_octet_counted(abuse):
    with abuse.case("oversize_octet", rss_mb=48, listeners=LISTEN) as c:
        c.start()
        parts = []
        for i in range(10):
            n = MAX + 1 + 50_000 * i
            parts.append(f"{n} ".encode() + (HDR + b"Z" * n)[:n])
            m = HDR + f"marker-oc-{i}".encode()
            parts.append(f"{len(m)} ".encode() + m)
        data = b"".join(parts)
        sent, _, err = send_raw(c.port, [data[i:i + 4093] for i in range(0, len(data), 4093)])
        assert err is None, f"daemon dropped the connection: {err}"
        c.note(f"sent {sent} bytes: 10 octet-counted frames of max+1 .. max+450001, each followed by a valid one")
        c.expect_counter("error.truncated", 10, exact=True)
        c.expect_bad("an octet-counted frame cut to max", has(b"Z" * (MAX - len(HDR))))
        for i in range(10):
            c.expect_bad(f"marker-oc-{i} (in sync after the truncated frame)", has(f"marker-oc-{i}".encode()))


def test_octet_counts_that_lie(abuse):
    with abuse.case("octet_count_lies", rss_mb=48, listeners=LISTEN) as c:
        c.start()
        # Count above max_message_size, then close long before that many bytes came: what
        # came is the message (shorter than max, so not truncated).
        send_raw(c.port, b"999999999 " + HDR + b"too big a count\n" + HDR + b"swallowed\n")
        send_raw(c.port, b"65537 " + HDR + b"just over max\n")
        # Count larger than the frame, under max: the rest of the connection is the frame,
        # delivered truncated at EOF.
        send_raw(c.port, b"500 " + HDR + b"count-too-big-truncated\n")
        # Count smaller than the frame: the rest of the frame becomes a line of its own.
        send_raw(c.port, b"10 " + HDR + b"count-too-small\n")
        # Not counts at all: LF-framed lines that are not syslog.
        liars = [b"-5 " + HDR + b"negative-count", b"-0 x", b"abc " + HDR + b"alpha-count",
                 b"12a34 " + HDR + b"mixed-count", b"0 " + HDR + b"zero-count",
                 b"00012 " + HDR + b"leading-zero-count", b"1e3 " + HDR + b"float-count",
                 b"0x10 " + HDR + b"hex-count", b"+7 " + HDR + b"plus-count",
                 b"\t12 tab-count", b" 12 space-count"]
        send_raw(c.port, b"".join(l + b"\n" for l in liars))
        c.note("counts: 999999999 and 65537 (> max), 500 (> frame), 10 (< frame); "
               f"{len(liars)} lines with negative/alpha/mixed/zero/float/hex/signed counts")
        c.expect_counter("error.truncated", 0, exact=True)
        c.expect_bad("a count over max, closed early: what came", has(b"just over max"))
        c.expect_counter("error.log_parse", len(liars))
        c.expect_bad("truncated frame with a count larger than itself",
                     has(b"count-too-big-truncated"))
        c.expect_bad("negative count line delivered whole", has(b"-5 " + HDR + b"negative-count"))


def test_octet_count_20_digits(abuse):
    with abuse.case("octet_count_20_digits", rss_mb=48, listeners=LISTEN) as c:
        c.start()
        closed = 0
        bad = [b"12345678901234567890 ", b"99999999999999999999 ", b"1234567890 ",
               b"18446744073709551617 ", b"9" * 200 + b" "]
        for i in range(20):
            pre = HDR + f"before-bad-count-{i}".encode() + b"\n"
            _, s, err = send_raw(c.port, pre + bad[i % len(bad)] + HDR + b"x\n", close=None)
            if wait_closed_by_peer(s, 10 * SLOW):
                closed += 1
            s.close()
        c.note(f"20 connections with counts of 10..200 digits: {closed}/20 closed by the daemon")
        assert closed == 20, f"only {closed}/20 connections with a bad octet count were closed"
        c.expect_counter("error.bad_octet_count", 20, exact=True)
        for i in range(20):
            c.expect_bad(f"line before bad count {i}", has(f"before-bad-count-{i}".encode()))


def test_nul_bytes(abuse):
    with abuse.case("nul_bytes", rss_mb=48, listeners=LISTEN) as c:
        c.start()
        kept = [HDR + b"nul\x00in\x00the\x00middle", HDR + b"\x00leading-nul",
                b"<13>1 2026-11-30T00:00:00Z bad\x00host app - - [id k=\"v\x00v\"] nul-in-header",
                HDR + b"trailing-nul\x00\x00"]
        headerless = [b"\x00", b"\x00" * 1000, b"\x00" * (MAX - 1), b"\x00<13>1 nul-before-pri",
                      b"<1\x003>nul-in-pri"]
        data = b"".join(l + b"\n" for l in kept + headerless)
        sent, _, err = send_raw(c.port, data)
        assert err is None, f"daemon dropped the connection: {err}"
        c.note(f"{len(kept)} syslog lines with NULs (kept byte-exact), {len(headerless)} NUL lines without a header")
        c.expect_counter("error.log_parse", len(headerless) - 1)
        for k in kept[:2] + kept[3:]:
            c.expect_bad(f"{k[len(HDR):]!r} byte-exact", has(k[len(HDR):]))
        c.expect_bad("NUL line without header delivered whole", has(b"\x00" * 1000))


def test_invalid_utf8(abuse):
    with abuse.case("invalid_utf8", rss_mb=48, listeners=LISTEN) as c:
        c.start()
        bad_seqs = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
                    b"\xf4\x90\x80\x80", b"\x80\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
                    b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"]
        kept = [HDR + b"utf8-" + str(i).encode() + b" " + s + b" tail" for i, s in enumerate(bad_seqs)]
        kept.append(HDR + b"\xef\xbb\xbf\xff\xfe after-bom")
        kept.append(b"<13>1 2026-11-30T00:00:00Z h\xffost ap\xc0p - - [i\xffd k=\"\xed\xa0\x80\"] sd-bad")
        headerless = [s + b" no header " + s for s in bad_seqs] + [bytes(range(128, 256)) * 200]
        data = b"".join(l + b"\n" for l in kept + headerless)
        sent, _, err = send_raw(c.port, data)
        assert err is None, f"daemon dropped the connection: {err}"
        c.note(f"{len(kept)} syslog lines with invalid UTF-8 (kept byte-exact), {len(headerless)} without header")
        c.expect_counter("error.log_parse", len(headerless))
        for k in kept[:len(bad_seqs)]:
            c.expect_bad(f"{k[len(HDR):]!r} byte-exact", has(k[len(HDR):]))


def test_gigabyte_line_without_lf(abuse):
    GIB = 1 << 30
    with abuse.case("gigabyte_line", rss_mb=64) as c:
        c.start()
        chunk = b"A" * (1 << 20)
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", c.port), timeout=60 * SLOW)
        sent = 0
        err = None
        try:
            # "- " first: the catch-all rule's key is the message's first word, and a key as
            # long as the message would make a record over message.max.bytes.
            s.sendall(b"- ")
            while sent < GIB:
                s.sendall(chunk)
                sent += len(chunk)
            s.sendall(b"\n" + HDR + b"marker-after-1g\n")
        except OSError as e:
            err = e
        dt = time.monotonic() - t0
        s.shutdown(socket.SHUT_WR)
        wait_closed_by_peer(s, 60 * SLOW)
        s.close()
        c.note(f"streamed {sent / 2**20:.0f} MiB of 'A' without LF in {dt:.1f} s "
               f"({sent / 2**20 / max(dt, 1e-9):.0f} MiB/s), then LF and a marker line")
        assert err is None, f"daemon dropped the 1 GiB connection after {sent} bytes: {err}"
        c.expect_counter("error.truncated", 1, exact=True)
        c.expect_bad("the 1 GiB line, cut to the default max_message_size", has(b"- " + b"A" * (999000 - 2)))
        c.expect_bad("marker after the 1 GiB line (resynchronised)", has(b"marker-after-1g"))


def test_binary_noise(abuse):
    with abuse.case("binary_noise", rss_mb=96) as c:
        c.start()
        rng = random.Random(7)
        total = 0
        for conn in range(4):
            noise = rng.randbytes(4 << 20)
            sent, _, err = send_raw(c.port, [noise[i:i + 65536] for i in range(0, len(noise), 65536)])
            total += sent
        c.note(f"sent {total >> 20} MiB of random bytes over 4 connections (seed 7)")
        c.expect_counter(("error.log_parse", "error.truncated", "error.bad_octet_count"), 1000)
