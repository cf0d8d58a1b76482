#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Packets per CPU-second of the daemon (pcap input, one pipeline) on a mixed capture of
# application streams, without and with
# classification (shipped patterns and shared-object classifiers, then nDPI when built), best
# of N runs each. The daemon's start-up and shutdown (loading classifiers, nDPI's automata) are
# measured on a tiny capture and subtracted, so the rate is that of the packet path.
#   bench/classify/bench.sh BUILD_DIR [streams per protocol (250)] [bulk packets per stream (200)] [runs (3)]
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [streams] [data] [runs]}
STREAMS=${2:-250}
DATA=${3:-200}
RUNS=${4:-3}
AGGREGATE=${AGGREGATE:-class, proto}  # add "flows" to make the input keep its flow table in every run
WORK=$(mktemp -d /tmp/flowacct-bench-classify-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$BUILD/bin/flowacct-gen-classify" --streams "$STREAMS" --data "$DATA" -o "$WORK/mix.pcap" >"$WORK/gen.txt"
"$BUILD/bin/flowacct-gen-classify" --streams 1 --data 0 -o "$WORK/tiny.pcap" >/dev/null
PACKETS=$(awk '$1 == "packets" { print $2 }' "$WORK/gen.txt")
mkdir -m 755 "$WORK/classifiers"
cp "$BUILD"/lib/flowacct/classifiers/* "$WORK/classifiers/"

cpu_ns() { # $1: capture, $2: extra configuration line; prints the least CPU time of the runs, ns
  local best=0
  for _ in $(seq 1 "$RUNS"); do
    cat > "$WORK/b.conf" <<CONF
pcap_savefile: $1
snaplen: 600
plugins: print[b]
aggregate[b]: $AGGREGATE
print_output_file[b]: $WORK/out.txt
print_refresh_time: 3600
$2
CONF
    # CPU time (user + system) of the daemon: on a shared machine, wall time measures the
    # neighbours too. The daemon's threads overlap, so this is the work done, not the latency.
    local t
    t=$( { TIMEFORMAT='%3U %3S'; time "$BUILD/sbin/flowacctd" -f "$WORK/b.conf" 2>"$WORK/log"; } 2>&1 ) ||
      { cat "$WORK/log" >&2; exit 1; }
    t=$(awk '{ printf "%d", ($1 + $2) * 1e9 }' <<<"$t")
    if [ "$best" -eq 0 ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "$best"
}
run() { # $1: extra configuration line; prints packets/s of the packet path
  local full tiny
  full=$(cpu_ns "$WORK/mix.pcap" "$1")
  tiny=$(cpu_ns "$WORK/tiny.pcap" "$1")
  [ "$full" -gt "$tiny" ] || tiny=0
  echo $(( PACKETS * 1000000000 / (full - tiny) ))
}
plain=$(run "")
classified=$(run "classifiers: $WORK/classifiers")
report() { # $1 name, $2 rate
  awk -v a="$plain" -v b="$2" -v n="$1" 'BEGIN { printf "%-24s %8d packets/s, cost %.1f%% of the unclassified rate\n", n, b, (a - b) * 100.0 / a }'
}
echo "capture: $PACKETS packets, $(( STREAMS * 13 )) streams"
echo "without classification:  $plain packets/s"
report "shipped classifiers:" "$classified"
if [ -f "$BUILD/lib/flowacct/classifiers-ndpi/ndpi.so" ]; then
  mkdir -m 755 "$WORK/ndpi"
  cp "$BUILD/lib/flowacct/classifiers-ndpi/ndpi.so" "$WORK/ndpi/"
  report "nDPI:" "$(run "classifiers: $WORK/ndpi")"
fi
