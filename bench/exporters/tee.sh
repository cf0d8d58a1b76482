#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tee throughput: generated IPFIX datagrams forwarded by flowacctd's tee output and by pmacct's
# nfacctd tee plugin, one after the other, from the same savefile (replayed R times; flowacctd
# replays with backpressure, so nothing is dropped on its side), to one receiver on loopback that
# counts what arrives. Then flowacctd live over UDP at rising offered rates.
# Reports CPU seconds (user+sys of the whole daemon) and datagrams forwarded per CPU second.
# usage: bench/exporters/tee.sh BUILD_DIR [records] [replays] [rates]
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [records] [replays] [rates]}
RECORDS=${2:-300000}
REPLAY=${3:-20}
RATES=${4:-"25000 50000 100000 200000"}
W=$(mktemp -d /tmp/flowacct-bench-tee-XXXXXX)
SINK_PID=
cleanup() { [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
PORT=$((30000 + RANDOM % 20000)); RX=$((PORT + 1))

gen=$("$BUILD/bin/flowacct-gen-netflow" -v 10 -n "$RECORDS" -k 5000 -p 30 -w "$W/nf.pcap")
D=$(echo "$gen" | sed -n 's/.*datagrams=\([0-9]*\).*/\1/p')
TOTAL=$((D * REPLAY))

# The receiver: counts datagrams, and writes the count whenever it has been idle for 0.2 s.
cat > "$W/sink.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.2)
n, written = 0, -1
buf = bytearray(65536)
while True:
    try:
        s.recv_into(buf)
        n += 1
    except socket.timeout:
        if n != written:
            with open(sys.argv[2] + ".tmp", "w") as f:
                f.write("%d\n" % n)
            import os
            os.replace(sys.argv[2] + ".tmp", sys.argv[2])
            written = n
PY
sink_start() {
  rm -f "$W/sink.count"
  python3 "$W/sink.py" $RX "$W/sink.count" & SINK_PID=$!
  for _ in $(seq 1 50); do [ -s "$W/sink.count" ] && return; sleep 0.1; done
}
sink_count() { # the count once it stopped growing for a second
  local last=-1 now=0
  for _ in $(seq 1 120); do
    now=$(cat "$W/sink.count" 2>/dev/null || echo 0)
    [ "$now" = "$last" ] && break
    last=$now; sleep 1
  done
  echo "$now"
}
sink_stop() { kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=; }
cpu() { awk '{ printf "%.2f", $1 + $2 }' "$1"; }
echo "id=1 ip=127.0.0.1:$RX" >"$W/receivers.lst"

echo "savefile: $D IPFIX datagrams (30 records each, $(stat -c %s "$W/nf.pcap") bytes) x $REPLAY replays = $TOTAL datagrams; one receiver"
printf "%-22s %8s %8s %12s %12s %14s %14s\n" tool cpu_s wall_s forwarded received fwd/cpu_s fwd/wall_s
row() { # name timefile forwarded received
  local c wall
  c=$(cpu "$2"); wall=$(awk '{ print $3 }' "$2")
  printf "%-22s %8s %8s %12s %12s %14s %14s\n" "$1" "$c" "$wall" "$3" "$4" \
    "$(awk -v f="$3" -v c="$c" 'BEGIN { if (c > 0) printf "%.0f", f / c; else print "-" }')" \
    "$(awk -v f="$3" -v c="$wall" 'BEGIN { if (c > 0) printf "%.0f", f / c; else print "-" }')"
}

sink_start
cat > "$W/f.conf" <<CONF
inputs: netflow
pcap_savefile: $W/nf.pcap
pcap_savefile_replay: $REPLAY
plugins: tee[t]
tee_receivers: $W/receivers.lst
tee_pipe_size: 8388608
CONF
/usr/bin/time -f "%U %S %e" -o "$W/f.time" "$BUILD/sbin/flowacctd" -f "$W/f.conf" 2>"$W/f.log"
f_fwd=$(grep 'counter .*datagrams_forwarded' "$W/f.log" | sed -n 's/.*[ =]\([0-9][0-9]*\)$/\1/p' | tail -1 || true)
row "flowacctd tee" "$W/f.time" "${f_fwd:-0}" "$(sink_count)"
sink_stop

if command -v nfacctd >/dev/null; then
  sink_start
  cat > "$W/p.conf" <<CONF
daemonize: false
pcap_savefile: $W/nf.pcap
pcap_savefile_replay: $REPLAY
plugins: tee[t]
tee_receivers[t]: $W/receivers.lst
tee_pipe_size[t]: 8388608
CONF
  # In its own session: pmacct signals its process group on exit.
  /usr/bin/time -f "%U %S %e" -o "$W/p.time" setsid nfacctd -f "$W/p.conf" >"$W/p.log" 2>&1 || true
  p_rx=$(sink_count)
  sink_stop
  row "nfacctd 1.7.7 tee" "$W/p.time" "$p_rx" "$p_rx"
  echo "(nfacctd counts no forwarded datagrams: its forwarded column is what the receiver got)"
fi

echo
echo "live UDP: flowacct-gen-netflow -r RATE -> flowacctd (netflow input, tee) -> receiver; 3 s a rate (at most 150000 datagrams)"
printf "%10s %10s %10s %10s %10s %11s\n" offered/s sent forwarded received sock_drops daemon_cpu%
for rate in $RATES; do
  sink_start
  cat > "$W/l.conf" <<CONF
inputs: netflow
nfacctd_ip: 127.0.0.1
nfacctd_port: $PORT
nfacctd_pipe_size: 8388608
plugins: tee[t]
tee_receivers: $W/receivers.lst
tee_pipe_size: 8388608
CONF
  "$BUILD/sbin/flowacctd" -f "$W/l.conf" 2>"$W/l.log" &
  dpid=$!
  for _ in $(seq 1 50); do ss -Hlun "sport = :$PORT" | grep -c . >/dev/null && break; sleep 0.1; done
  t0=$(awk '{ print $14 + $15 }' /proc/$dpid/stat); w0=$(date +%s.%N)
  n=$((rate * 3 > 150000 ? 150000 : rate * 3))
  sent=$("$BUILD/bin/flowacct-gen-netflow" -v 10 -n $((n * 30)) -k 5000 -p 30 -u 127.0.0.1:$PORT -r "$rate" |
    sed -n 's/.*datagrams=\([0-9]*\).*/\1/p')
  t1=$(awk '{ print $14 + $15 }' /proc/$dpid/stat); w1=$(date +%s.%N)
  kill -TERM $dpid; wait $dpid || true
  fwd=$(grep 'counter .*datagrams_forwarded' "$W/l.log" | sed -n 's/.*[ =]\([0-9][0-9]*\)$/\1/p' | tail -1 || true)
  drops=$(grep 'counter .*sock_drops' "$W/l.log" | sed -n 's/.*[ =]\([0-9][0-9]*\)$/\1/p' | awk '{ s += $1 } END { print s + 0 }' || true)
  printf "%10s %10s %10s %10s %10s %10s\n" "$rate" "$sent" "${fwd:-0}" "$(sink_count)" "$drops" \
    "$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v w0="$w0" -v w1="$w1" 'BEGIN { printf "%.0f", 100 * t / hz / (w1 - w0) }')"
  sink_stop
done
