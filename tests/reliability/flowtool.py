#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Test helper for the reliability tests: reads counters from the Prometheus endpoint, crafts valid and
# malformed NetFlow v5/v9/IPFIX and sFlow v5 datagrams, and sends spoofed-source floods over loopback.
import argparse    # command line
import os          # kill, stat, utime
import random      # deterministic floods (fixed seed)
import re          # Prometheus text parsing
import socket      # UDP and raw sockets
import signal      # SIGUSR2
import struct      # wire encodings
import time        # pacing
import urllib.request  # GET /metrics

# ---------------------------------------------------------------------------------------------------------------
# Prometheus text: {(name, labels-string): value}. A query sums every series whose name matches and whose
# labels contain each given `k="v"` fragment.
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+)$')


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def query(series, name, fragments):
    total, found = 0, False
    for (n, labels), v in series.items():
        if n == name and all(f in labels for f in fragments):
            total += v
            found = True
    return int(total) if found else None


# ---------------------------------------------------------------------------------------------------------------
# NetFlow v9 / IPFIX encoders. One template layout (id 256 unless told): src, dst, packets, bytes, proto,
# ports, first/last switched (v9: sysUptime ms; IPFIX: flowStart/EndMilliseconds).
V9_FIELDS = [(8, 4), (12, 4), (2, 4), (1, 4), (4, 1), (7, 2), (11, 2), (22, 4), (21, 4)]
IPFIX_FIELDS = [(8, 4), (12, 4), (2, 8), (1, 8), (4, 1), (7, 2), (11, 2), (152, 8), (153, 8)]


def v9_header(count, uptime_ms, unix_secs, seq, source_id=0):
    return struct.pack("!HHIIII", 9, count, uptime_ms & 0xFFFFFFFF, unix_secs, seq & 0xFFFFFFFF, source_id)


def v9_template(tid=256, fields=V9_FIELDS):
    body = struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", t, l) for t, l in fields)
    return struct.pack("!HH", 0, 4 + len(body)) + body


def v9_record(i, first_ms, last_ms, packets=1, octets=100, fields=V9_FIELDS):
    vals = {8: 0x0A000000 + (i & 0xFFFFFF), 12: 0xC0A80001, 2: packets, 1: octets, 4: 6, 7: 1024 + (i & 0x7FFF),
            11: 80, 22: first_ms & 0xFFFFFFFF, 21: last_ms & 0xFFFFFFFF}
    return b"".join(vals[t].to_bytes(l, "big") for t, l in fields)


def v9_data(tid, records):
    body = b"".join(records)
    pad = (-len(body)) % 4
    return struct.pack("!HH", tid, 4 + len(body) + pad) + body + b"\0" * pad


def v9_packet(seq, uptime_ms, unix_secs, nrec=10, with_template=True, first=0, packets=1, octets=100,
              source_id=0, tid=256, fields=V9_FIELDS):
    sets = [v9_template(tid, fields)] if with_template else []
    last = uptime_ms - 1000 if not first else first + 1000
    first = first or uptime_ms - 5000
    sets.append(v9_data(tid, [v9_record(i, first, last, packets, octets, fields) for i in range(nrec)]))
    return v9_header(len(sets) - 1 + nrec if with_template else nrec, uptime_ms, unix_secs, seq,
                     source_id) + b"".join(sets)


def ipfix_message(sets, export_time, seq, domain=0):
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), export_time, seq, domain) + body


def ipfix_template(tid=256, fields=IPFIX_FIELDS):
    body = struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", t, l) for t, l in fields)
    return struct.pack("!HH", 2, 4 + len(body)) + body


def ipfix_record(i, start_ms, end_ms, packets=1, octets=100):
    vals = {8: 0x0A000000 + (i & 0xFFFFFF), 12: 0xC0A80001, 2: packets, 1: octets, 4: 17, 7: 2000 + (i & 0x7FFF),
            11: 53, 152: start_ms, 153: end_ms}
    return b"".join(vals[t].to_bytes(l, "big") for t, l in IPFIX_FIELDS)


def v5_packet(seq, uptime_ms, unix_secs, nrec, declared=None, packets=1, octets=100):
    hdr = struct.pack("!HHIIIIBBH", 5, nrec if declared is None else declared, uptime_ms, unix_secs, 0, seq, 0, 0, 0)
    recs = b""
    for i in range(nrec):
        recs += struct.pack("!IIIHHIIIIHHBBBBHHBBH", 0x0A000000 + i, 0xC0A80001, 0, 1, 2, packets, octets,
                            uptime_ms - 2000, uptime_ms - 1000, 1024 + i, 80, 0, 0, 6, 0, 0, 0, 24, 24, 0)
    return hdr + recs


# ---------------------------------------------------------------------------------------------------------------
# sFlow v5: a datagram of flow samples, each with one raw Ethernet/IPv4/TCP header record.
def sflow_raw_header(i, frame_length=1000, header_length=None):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, frame_length - 14, 0, 0, 64, 6, 0,
                     bytes([10, 1, (i >> 8) & 255, i & 255]), bytes([192, 168, 0, 1]))
    tcp = struct.pack("!HHIIBBHHH", 1024 + (i & 0x7FFF), 443, 0, 0, 0x50, 0x10, 0, 0, 0)
    hdr = b"\0\1\2\3\4\5" + b"\0\6\7\10\11\12" + b"\x08\x00" + ip + tcp
    hl = len(hdr) if header_length is None else header_length
    body = struct.pack("!IIII", 1, frame_length, 0, hl) + hdr + b"\0" * ((-len(hdr)) % 4)
    return struct.pack("!II", 1, len(body)) + body


def sflow_flow_sample(seq, i, rate=1, records=None, num_records=None):
    records = records if records is not None else [sflow_raw_header(i)]
    n = len(records) if num_records is None else num_records
    body = struct.pack("!IIIIIIII", seq, 3, rate, seq * rate, 0, 1, 2, n) + b"".join(records)
    return struct.pack("!II", 1, len(body)) + body


def sflow_datagram(seq, samples, agent=b"\x0a\x00\x00\x01", uptime_ms=100000, num_samples=None, version=5,
                   addr_type=1, sub_agent=0):
    n = len(samples) if num_samples is None else num_samples
    return (struct.pack("!II", version, addr_type) + agent +
            struct.pack("!IIII", sub_agent, seq, uptime_ms, n) + b"".join(samples))


# ---------------------------------------------------------------------------------------------------------------
def send_all(port, datagrams, host="127.0.0.1", src=None, pps=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    gap = 1.0 / pps if pps else 0
    for d in datagrams:
        s.sendto(d, (host, port))
        if gap:
            time.sleep(gap)
    s.close()


def ipv4_udp(src, dst, sport, dport, payload):
    # IPv4 header (the kernel fills the checksum and id with IP_HDRINCL) + UDP with checksum 0 (none).
    total = 20 + 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 17, 0, src, dst)
    return ip + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def flood(port, count, kind, seed):
    # Each datagram from a different random 127.x.y.z source (loopback routes all of 127/8), through a raw
    # socket: a spoofed flood of exporters/agents. v9: a template then data; sflow: one flow sample.
    rnd = random.Random(seed)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    dst = bytes([127, 0, 0, 1])
    now = int(time.time())
    records = 0
    for n in range(count):
        src = bytes([127, rnd.randrange(1, 256), rnd.randrange(256), rnd.randrange(1, 255)])
        if kind == "v9":
            payload = v9_packet(n, 3600000, now, nrec=1)
        else:
            payload = sflow_datagram(n, [sflow_flow_sample(n, n)], agent=src)
        records += 1
        while True:
            try:
                s.sendto(ipv4_udp(src, dst, 40000, port, payload), ("127.0.0.1", 0))
                break
            except BlockingIOError:
                time.sleep(0.001)
    s.close()
    print(f"datagrams={count} records={records}")



# ---------------------------------------------------------------------------------------------------------------
# Malformed datagrams: name -> (protocol, bytes). Each breaks one rule that crashed or hung some collector.
def malformed_cases(now):
    hdr9 = v9_header(1, 100000, now, 1)
    many_fields = [(1, 4)] * 600
    zero_len = [(1, 0)] * 8
    varlen_tmpl = ipfix_template(400, [(8, 4), (82, 65535)])
    return {
        "nf_short": ("nf", b"\x00\x09\x00"),
        "nf_bad_version": ("nf", struct.pack("!HH", 7, 1) + b"\0" * 40),
        "nf_v5_count": ("nf", v5_packet(1, 100000, now, 1, declared=30)),
        "nf_v9_set_len_zero": ("nf", hdr9 + struct.pack("!HH", 256, 0) + b"\0" * 16),
        "nf_v9_set_len_over": ("nf", hdr9 + struct.pack("!HH", 256, 1000) + b"\0" * 16),
        "nf_v9_too_many_fields": ("nf", hdr9 + v9_template(257, many_fields)),
        "nf_v9_zero_length_record": ("nf", hdr9 + v9_template(258, zero_len) + v9_data(258, [b"\0" * 8])),
        "nf_v9_no_template": ("nf", v9_header(1, 100000, now, 2, source_id=9) + v9_data(300, [b"\0" * 40])),
        "nf_ipfix_msg_len": ("nf", struct.pack("!HHIII", 10, 2000, now, 1, 0) + b"\0" * 40),
        "nf_ipfix_reserved_set": ("nf", ipfix_message([struct.pack("!HH", 5, 8) + b"\0" * 4], now, 0, domain=1)),
        "nf_ipfix_varlen": ("nf", ipfix_message([varlen_tmpl, struct.pack("!HH", 400, 4 + 4 + 1 + 10) +
                                                 b"\1\2\3\4" + bytes([200]) + b"x" * 10], now, 0, domain=2)),
        "nf_ipfix_withdrawal": ("nf", ipfix_message([struct.pack("!HHHH", 2, 8, 256, 0)], now, 0, domain=3)),
        "sf_short": ("sf", b"\0\0\0\5\0\0\0\1\1\2"),
        "sf_bad_version": ("sf", sflow_datagram(1, [sflow_flow_sample(1, 1)], version=4)),
        "sf_bad_agent": ("sf", sflow_datagram(1, [sflow_flow_sample(1, 1)], addr_type=9)),
        "sf_sample_count": ("sf", sflow_datagram(1, [sflow_flow_sample(1, 1)], num_samples=0xFFFFFFFF,
                                                 sub_agent=1)),
        "sf_sample_length": ("sf", sflow_datagram(1, [struct.pack("!II", 1, 0x7FFFFFF0) + b"\0" * 32],
                                                  sub_agent=2)),
        "sf_record_count": ("sf", sflow_datagram(1, [sflow_flow_sample(1, 1, num_records=0xFFFFFFFF)],
                                                 sub_agent=3)),
        "sf_header_length": ("sf", sflow_datagram(1, [sflow_flow_sample(1, 1, records=[
            sflow_raw_header(1, header_length=5000)])], sub_agent=4)),
        "sf_rate_zero": ("sf", sflow_datagram(1, [sflow_flow_sample(1, 1, rate=0)], sub_agent=5)),
    }


def signal_until(port, pid, target, counter, touch=None, timeout_s=240):
    # Sends SIGUSR2 and waits for COUNTER to move before the next one (signals sent faster than the
    # daemon handles them merge), until COUNTER reaches TARGET. TOUCH: a map file given a new mtime
    # before each signal (maps reload only when their file changed).
    deadline = time.time() + timeout_s
    done = query(scrape(port), counter, []) or 0
    while done < target and time.time() < deadline:
        if touch:
            st = os.stat(touch)
            os.utime(touch, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
        os.kill(pid, signal.SIGUSR2)
        while time.time() < deadline:
            now = query(scrape(port), counter, []) or 0
            if now > done:
                done = now
                break
            time.sleep(0.002)
    print(done)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("metric", help="sum of a counter over series matching label fragments")
    m.add_argument("port", type=int)
    m.add_argument("name")
    m.add_argument("labels", nargs="*")
    d = sub.add_parser("dump")
    d.add_argument("port", type=int)
    f = sub.add_parser("flood")
    f.add_argument("port", type=int)
    f.add_argument("count", type=int)
    f.add_argument("--kind", choices=["v9", "sflow"], default="v9")
    f.add_argument("--seed", type=int, default=7)
    s = sub.add_parser("send", help="send named datagrams: malformed cases, or valid v9/sflow traffic")
    s.add_argument("port", type=int)
    s.add_argument("case")
    s.add_argument("--src", default=None)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--records", type=int, default=10)
    s.add_argument("--seq", type=int, default=0)
    s.add_argument("--uptime", type=int, default=3600000, help="v9 sysUptime in ms")
    s.add_argument("--first", type=int, default=0, help="v9 first switched in ms (0: uptime - 5 s)")
    s.add_argument("--secs", type=int, default=0, help="export time (0: now)")
    s.add_argument("--source-id", type=int, default=0)
    s.add_argument("--pps", type=int, default=0)
    r = sub.add_parser("reload", help="SIGUSR2 PID until COUNTER reaches TARGET, one signal per increment")
    r.add_argument("port", type=int)
    r.add_argument("pid", type=int)
    r.add_argument("target", type=int)
    r.add_argument("counter")
    r.add_argument("--touch", default=None)
    a = ap.parse_args()
    if a.cmd == "metric":
        v = query(scrape(a.port), a.name, a.labels)
        print(0 if v is None else v)
    elif a.cmd == "dump":
        for (n, l), v in sorted(scrape(a.port).items()):
            print(f"{n}{l} {int(v)}")
    elif a.cmd == "flood":
        flood(a.port, a.count, a.kind, a.seed)
    elif a.cmd == "reload":
        signal_until(a.port, a.pid, a.target, a.counter, a.touch)
    elif a.cmd == "send":
        now = a.secs or int(time.time())
        if a.case == "v9":
            # COUNT datagrams of RECORDS records each, sequence numbers from SEQ, template in each.
            dgs = (v9_packet(a.seq + n, a.uptime, now, a.records, first=a.first, source_id=a.source_id)
                   for n in range(a.count))
        elif a.case == "ipfix":
            ms = now * 1000
            recs = b"".join(ipfix_record(i, ms - 5000, ms - 1000) for i in range(a.records))
            dgs = (ipfix_message([ipfix_template(), struct.pack("!HH", 256, 4 + len(recs)) + recs],
                                 now, a.seq + n * a.records, a.source_id) for n in range(a.count))
        elif a.case == "sflow":
            dgs = (sflow_datagram(a.seq + n, [sflow_flow_sample(a.seq * a.records + n * a.records + i, i)
                                              for i in range(a.records)], sub_agent=a.source_id,
                                  uptime_ms=a.uptime) for n in range(a.count))
        else:
            dgs = [malformed_cases(now)[a.case][1]] * a.count
        send_all(a.port, dgs, src=a.src, pps=a.pps)


if __name__ == "__main__":
    main()
