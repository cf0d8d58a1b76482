#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Test helper for the tee output: a UDP receiver that logs what arrives, a sender that replays
# the UDP payloads of a pcap from chosen source addresses, and the payload hashes of a pcap.
#   recv PORT LOG                 one line per datagram: "src_ip src_port length sha1"
#   send PCAP HOST:PORT SRC[,SRC] LOG   payloads in turn from each source; LOG: "src_ip sha1"
#   hashes PCAP                   per UDP payload, in order: "src_ip src_port length sha1"
import hashlib
import signal
import socket
import struct
import sys
import time


def payloads(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if linktype == 1:
            l3, etype = frame[14:], struct.unpack(">H", frame[12:14])[0]
            if etype == 0x8100:
                l3, etype = frame[18:], struct.unpack(">H", frame[16:18])[0]
        elif linktype == 113:
            l3, etype = frame[16:], struct.unpack(">H", frame[14:16])[0]
        elif linktype in (101, 12, 14):
            l3, etype = frame, 0x0800 if frame[0] >> 4 == 4 else 0x86DD
        elif linktype == 0:
            l3, etype = frame[4:], 0x0800 if frame[4] >> 4 == 4 else 0x86DD
        else:
            raise SystemExit("unsupported linktype %d" % linktype)
        if etype == 0x0800 and l3[9] == 17:
            ihl = (l3[0] & 15) * 4
            udp = l3[ihl:]
        elif etype == 0x86DD and l3[6] == 17:
            udp = l3[40:]
        else:
            continue
        ulen = struct.unpack(">H", udp[4:6])[0]
        if etype == 0x0800:
            src = socket.inet_ntop(socket.AF_INET, l3[12:16])
        else:
            src = socket.inet_ntop(socket.AF_INET6, l3[8:24])
        yield src, struct.unpack(">H", udp[0:2])[0], udp[8:ulen]


def recv(port, log):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", int(port)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(log, "w", buffering=1) as out:
        while True:
            data, (ip, sport) = s.recvfrom(65535)
            out.write("%s %d %d %s\n" % (ip, sport, len(data), hashlib.sha1(data).hexdigest()))


def send(pcap, to, sources, log):
    host, port = to.rsplit(":", 1)
    socks = []
    for src in sources.split(","):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        socks.append((src, s))
    with open(log, "w") as out:
        for i, (_, _, p) in enumerate(payloads(pcap)):
            src, s = socks[i % len(socks)]
            s.sendto(p, (host, int(port)))
            out.write("%s %s\n" % (src, hashlib.sha1(p).hexdigest()))
            if i % 32 == 31:
                time.sleep(0.002)  # stay well below what a loaded 2-core box drains


def main():
    cmd = sys.argv[1]
    if cmd == "recv":
        recv(sys.argv[2], sys.argv[3])
    elif cmd == "send":
        send(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif cmd == "hashes":
        for src, sport, p in payloads(sys.argv[2]):
            print("%s %d %d %s" % (src, sport, len(p), hashlib.sha1(p).hexdigest()))
    else:
        raise SystemExit("usage: udp_tool.py recv|send|hashes ...")


if __name__ == "__main__":
    main()
