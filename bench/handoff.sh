#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What handing records from the input's thread to a pipeline thread costs: the daemon's CPU
# seconds (perf task-clock, else user+sys) replaying one savefile with replay_inline: true (the input's thread
# aggregates, the default for savefiles) and false (batches queued to the pipeline thread, as live
# inputs always do), alternating, median of RUNS. One 5-primitive pipeline printed to /dev/null.
# Usage: handoff.sh BUILD_DIR SAVEFILE [netflow|sflow|pcap] [runs]
set -euo pipefail
BUILD=${1:?build dir}
SAVEFILE=${2:?savefile}
INPUT=${3:-pcap}
RUNS=${4:-5}
WORK=$(mktemp -d /tmp/flowacct-handoff-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for mode in true false; do
  {
    [ "$INPUT" = pcap ] || echo "inputs: $INPUT"
    echo "pcap_savefile: $SAVEFILE"
    echo "plugins: print[p1]"
    echo "aggregate: src_host, dst_host, src_port, dst_port, proto"
    echo "print_output: csv"
    echo "print_output_file: /dev/null"
    echo "print_refresh_time: 3600"
    echo "replay_inline: $mode"
  } >"$WORK/$mode.conf"
done
declare -A samples
for _ in $(seq 1 "$RUNS"); do
  for mode in true false; do
    if command -v perf >/dev/null; then
      # perf's task-clock has the resolution small replays need (time(1) prints 10 ms steps).
      perf stat -x, -e task-clock -o "$WORK/t" "$BUILD/sbin/flowacctd" -f "$WORK/$mode.conf" \
        --module-path "$BUILD/lib/flowacct/modules" >/dev/null 2>&1
      samples[$mode]+="$(awk -F, '/task-clock/ { printf "%.3f", $1 / 1000 }' "$WORK/t") "
    else
      /usr/bin/time -f '%U %S' -o "$WORK/t" "$BUILD/sbin/flowacctd" -f "$WORK/$mode.conf" \
        --module-path "$BUILD/lib/flowacct/modules" >/dev/null 2>&1
      samples[$mode]+="$(awk '{ printf "%.3f", $1 + $2 }' "$WORK/t") "
    fi
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
inl=$(echo "${samples[true]}" | median)
q=$(echo "${samples[false]}" | median)
printf '%-8s replay_inline: true %s CPU s, false %s CPU s (hand-off +%s %%)   runs: true [%s] false [%s]\n' \
  "$INPUT" "$inl" "$q" "$(awk -v a="$inl" -v b="$q" 'BEGIN { printf "%.0f", (b / a - 1) * 100 }')" \
  "${samples[true]% }" "${samples[false]% }"
