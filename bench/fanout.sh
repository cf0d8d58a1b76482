#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Cost of fanning one input out to 1, 3 and 8 pipelines: the daemon's CPU seconds (bench/lib/cpu.sh) for
# the same generated records (testgen input, fixed keys), each pipeline a 5-primitive hash
# aggregation printed to /dev/null at exit. Usage: fanout.sh BUILD_DIR [records] [keys] [runs]
# SAVEFILE=capture.pcap reads that capture with the pcap input instead (records and keys unused):
# the fan-out cost next to a real decoder. The pipelines are alike but for their outputs, so by
# default they share one aggregation (share_aggregation); SHARE=false makes each aggregate apart,
# which is what pipelines of different primitives cost.
set -euo pipefail
source "$(dirname "$0")/lib/cpu.sh"
BUILD=${1:?build dir}
RECORDS=${2:-20000000}
KEYS=${3:-100000}
RUNS=${4:-3}
WORK=$(mktemp -d /tmp/flowacct-fanout-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/mods"
cp "$BUILD"/lib/flowacct/modules/*.so "$BUILD"/tests/modules/input_testgen.so "$WORK/mods/"
chmod 755 "$WORK/mods"
conf() {
  local n=$1 plugins=""
  for i in $(seq 1 "$n"); do plugins+="${plugins:+, }print[p$i]"; done
  if [ -n "${SAVEFILE:-}" ]; then
    echo "pcap_savefile: $SAVEFILE"
  else
    printf 'inputs: testgen\ntestgen_records: %s\ntestgen_keys: %s\ntestgen_tuple_keys: true\n' "$RECORDS" "$KEYS"
  fi
  cat <<CONF
plugins: $plugins
aggregate: ${AGGREGATE:-src_host, dst_host, src_port, dst_port, proto}
print_output_file: /dev/null
print_refresh_time: 3600
share_aggregation: ${SHARE:-true}
CONF
}
printf '%-10s %-12s %-12s %-12s %-10s\n' pipelines cpu_s_median cpu_s_min cpu_s_max vs_1
base=""
for n in 1 3 8; do
  conf "$n" >"$WORK/f$n.conf"
  samples=()
  for _ in $(seq 1 "$RUNS"); do
    samples+=("$(cpu_seconds "$WORK/t" "$BUILD/sbin/flowacctd" -f "$WORK/f$n.conf" --module-path "$WORK/mods")")
  done
  med=$(echo "${samples[*]}" | median)
  sorted=$(printf '%s\n' "${samples[@]}" | sort -n)
  min=$(echo "$sorted" | head -1); max=$(echo "$sorted" | tail -1)
  [ -z "$base" ] && base=$med
  printf '%-10s %-12s %-12s %-12s %-10s\n' "$n" "$med" "$min" "$max" "$(awk -v a="$med" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')"
done
