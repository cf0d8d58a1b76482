#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What handing records from the input's thread to a pipeline thread costs: the daemon's CPU
# seconds (bench/lib/cpu.sh) replaying one savefile with replay_inline: true (the input's thread
# aggregates, the default for savefiles) and false (batches queued to the pipeline thread, as live
# inputs always do), alternating, median of RUNS. One 5-primitive pipeline printed to /dev/null.
# Usage: handoff.sh BUILD_DIR SAVEFILE [netflow|sflow|pcap] [runs]
set -euo pipefail
source "$(dirname "$0")/lib/cpu.sh"
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
    samples[$mode]+="$(cpu_seconds "$WORK/t" "$BUILD/sbin/flowacctd" -f "$WORK/$mode.conf" \
      --module-path "$BUILD/lib/flowacct/modules") "
  done
done
inl=$(echo "${samples[true]}" | median)
q=$(echo "${samples[false]}" | median)
printf '%-8s replay_inline: true %s CPU s, false %s CPU s (hand-off +%s %%)   runs: true [%s] false [%s]\n' \
  "$INPUT" "$inl" "$q" "$(awk -v a="$inl" -v b="$q" 'BEGIN { printf "%.0f", (b / a - 1) * 100 }')" \
  "${samples[true]% }" "${samples[false]% }"
