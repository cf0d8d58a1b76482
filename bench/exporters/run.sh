#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Exporter speed: one generated capture turned into IPFIX by flowacctd (pcap -> nfprobe),
# softflowd (-r) and pmacct's pmacctd (nfprobe plugin), in one run. Reports CPU seconds
# (user+sys, i.e. per core: each is single-threaded on this path) and flows per CPU second;
# flowacctd twice, with its defaults and with nfprobe_udp_gso: true.
# usage: bench/exporters/run.sh BUILD_DIR [packets] [flows]
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [packets] [flows]}
PACKETS=${2:-2000000}
FLOWS=${3:-200000}
W=$(mktemp -d /tmp/flowacct-bench-exp-XXXXXX)
trap 'rm -rf "$W"' EXIT
PORT=$((30000 + RANDOM % 20000))

"$BUILD/bin/flowacct-gen-pcap" --packets "$PACKETS" --flows "$FLOWS" --udp 0.5 --tcp 0.5 -o "$W/b.pcap" >/dev/null
# A socket is bound on $PORT and never read: the kernel drops the datagrams once its buffer is full,
# the same for every tool (with no socket at all, each datagram would also cost an ICMP error).
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
time.sleep(3600)' "$PORT" &
SINK=$!
trap 'kill $SINK 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 1 50); do ss -Hlun "sport = :$PORT" | grep -c . >/dev/null && break; sleep 0.1; done

cpu() { awk '{ printf "%.2f", $1 + $2 }' "$1"; }

# flowacctd: pcap input -> passthrough -> nfprobe IPFIX.
cat > "$W/f.conf" <<CONF
inputs: pcap
pcap_savefile: $W/b.pcap
plugins: nfprobe
nfprobe_receiver: 127.0.0.1:$PORT
nfprobe_version: 10
CONF
/usr/bin/time -f "%U %S %e" -o "$W/f.time" "$BUILD/sbin/flowacctd" -f "$W/f.conf" 2>"$W/f.log"
f_flows=$(grep -o 'flows_exported [0-9]*' "$W/f.log" | tail -1 | awk '{ print $2 }')
# The same with nfprobe_udp_gso (off by default: see modules/nfprobe/README.md).
{ cat "$W/f.conf"; echo "nfprobe_udp_gso: true"; } > "$W/g.conf"
/usr/bin/time -f "%U %S %e" -o "$W/g.time" "$BUILD/sbin/flowacctd" -f "$W/g.conf" 2>"$W/g.log"
g_flows=$(grep -o 'flows_exported [0-9]*' "$W/g.log" | tail -1 | awk '{ print $2 }')

# softflowd: the same capture, IPFIX to the same port.
/usr/bin/time -f "%U %S %e" -o "$W/s.time" softflowd -r "$W/b.pcap" -n 127.0.0.1:$PORT -v 10 -d >"$W/s.log" 2>&1 || true
# "Flows exported: N (M records)": softflowd's flows are bidirectional, M counts NetFlow records.
s_flows=$(sed -n 's/.*Flows exported: [0-9]* (\([0-9]*\) records).*/\1/p' "$W/s.log" | tail -1)

# pmacctd + nfprobe: the same capture (pmacct's defaults: nfprobe_maxflows 8192, timeouts default).
cat > "$W/p.conf" <<CONF
daemonize: false
pcap_savefile: $W/b.pcap
plugins: nfprobe
nfprobe_receiver: 127.0.0.1:$PORT
nfprobe_version: 10
CONF
/usr/bin/time -f "%U %S %e" -o "$W/p.time" pmacctd -f "$W/p.conf" >"$W/p.log" 2>&1 || true

echo "capture: $PACKETS packets, $FLOWS flows (flowacct-gen-pcap); every tool with its default cache of 8192 flows"
echo "pmacctd: plugins nfprobe, nfprobe_version 10, defaults otherwise (timeouts, maxflows 8192)"
printf "%-20s %8s %8s %14s %14s %14s\n" tool cpu_s wall_s records records/cpu_s packets/cpu_s
row() { # name timefile records
  local c wall
  c=$(cpu "$2"); wall=$(awk '{ print $3 }' "$2")
  printf "%-20s %8s %8s %14s %14s %14s\n" "$1" "$c" "$wall" "${3:--}" \
    "$(awk -v f="${3:-0}" -v c="$c" 'BEGIN { if (c > 0 && f > 0) printf "%.0f", f / c; else print "-" }')" \
    "$(awk -v p="$PACKETS" -v c="$c" 'BEGIN { if (c > 0) printf "%.0f", p / c; else print "-" }')"
}
row "flowacctd nfprobe" "$W/f.time" "$f_flows"
row "flowacctd udp_gso" "$W/g.time" "$g_flows"
row "softflowd" "$W/s.time" "$s_flows"
row "pmacctd nfprobe" "$W/p.time" ""
