#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Packets per CPU-second of the daemon (pcap input, one pipeline) on a mixed capture of
# application streams, without and with
# classification (shipped patterns and shared-object classifiers, then nDPI when built), best
# of N runs each, alternating. The daemon's start-up and shutdown (loading classifiers, nDPI's automata) are
# measured on a tiny capture and subtracted, so the rate is that of the packet path.
#   bench/classify/bench.sh BUILD_DIR [streams per protocol (250)] [bulk packets per stream (200)] [runs (9)]
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [streams] [data] [runs]}
STREAMS=${2:-250}
DATA=${3:-200}
RUNS=${4:-9}
AGGREGATE=${AGGREGATE:-class, proto}  # add "flows" to make the input keep its flow table in every run
WORK=$(mktemp -d /tmp/flowacct-bench-classify-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$BUILD/bin/flowacct-gen-classify" --streams "$STREAMS" --data "$DATA" -o "$WORK/mix.pcap" >"$WORK/gen.txt"
"$BUILD/bin/flowacct-gen-classify" --streams 1 --data 0 -o "$WORK/tiny.pcap" >/dev/null
PACKETS=$(awk '$1 == "packets" { print $2 }' "$WORK/gen.txt")
mkdir -m 755 "$WORK/classifiers"
cp "$BUILD"/lib/flowacct/classifiers/* "$WORK/classifiers/"

PERF=$(command -v perf || true)
[ -z "$PERF" ] || "$PERF" stat -e task-clock true >/dev/null 2>&1 || PERF=
once_ns() { # $1: capture, $2: extra configuration line; prints the CPU time of one run, ns
  cat > "$WORK/b.conf" <<CONF
pcap_savefile: $1
snaplen: 600
plugins: print[b]
aggregate[b]: $AGGREGATE
print_output_file[b]: $WORK/out.txt
print_refresh_time: 3600
$2
CONF
  # CPU time of the daemon: on a shared machine, wall time measures the neighbours too. The
  # daemon's threads overlap, so this is the work done, not the latency. perf's task-clock is
  # exact; user + system times (the fallback) come in scheduler ticks of 4 ms, about 10 % of a run.
  if [ -n "$PERF" ]; then
    "$PERF" stat -x, -e task-clock -o "$WORK/stat" "$BUILD/sbin/flowacctd" -f "$WORK/b.conf" 2>"$WORK/log" ||
      { cat "$WORK/log" >&2; exit 1; }
    awk -F, '$3 == "task-clock" { printf "%d", $1 * 1e6 }' "$WORK/stat"
  else
    local t
    t=$( { TIMEFORMAT='%3U %3S'; time "$BUILD/sbin/flowacctd" -f "$WORK/b.conf" 2>"$WORK/log"; } 2>&1 ) ||
      { cat "$WORK/log" >&2; exit 1; }
    awk '{ printf "%d", ($1 + $2) * 1e9 }' <<<"$t"
  fi
}
# The configurations compared, and their best (least) CPU times on each capture. Runs alternate
# between them, so that a slow spell of the machine (these VMs have them: the same run varies by
# up to 2x) falls on every configuration alike instead of on one.
NAMES=("without classification:" "shipped classifiers:")
EXTRA=("" "classifiers: $WORK/classifiers")
if [ -f "$BUILD/lib/flowacct/classifiers-ndpi/ndpi.so" ]; then
  mkdir -m 755 "$WORK/ndpi"
  cp "$BUILD/lib/flowacct/classifiers-ndpi/ndpi.so" "$WORK/ndpi/"
  NAMES+=("nDPI:")
  EXTRA+=("classifiers: $WORK/ndpi")
fi
declare -a FULL TINY
for _ in $(seq 1 "$RUNS"); do
  for i in "${!EXTRA[@]}"; do
    t=$(once_ns "$WORK/mix.pcap" "${EXTRA[$i]}")
    if [ -z "${FULL[$i]:-}" ] || [ "$t" -lt "${FULL[$i]}" ]; then FULL[$i]=$t; fi
    t=$(once_ns "$WORK/tiny.pcap" "${EXTRA[$i]}")
    if [ -z "${TINY[$i]:-}" ] || [ "$t" -lt "${TINY[$i]}" ]; then TINY[$i]=$t; fi
  done
done
rate() { # $1: index; packets/s of the packet path (start-up and shutdown subtracted)
  local full=${FULL[$1]} tiny=${TINY[$1]}
  [ "$full" -gt "$tiny" ] || tiny=0
  echo $(( PACKETS * 1000000000 / (full - tiny) ))
}
plain=$(rate 0)
echo "capture: $PACKETS packets, $(( STREAMS * 13 )) streams; best of $RUNS alternating runs each"
echo "without classification:  $plain packets/s"
for i in "${!EXTRA[@]}"; do
  [ "$i" -gt 0 ] || continue
  awk -v a="$plain" -v b="$(rate "$i")" -v n="${NAMES[$i]}" \
    'BEGIN { printf "%-24s %8d packets/s, cost %.1f%% of the unclassified rate\n", n, b, (a - b) * 100.0 / a }'
done
