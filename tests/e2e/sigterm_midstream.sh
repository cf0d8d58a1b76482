#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# SIGTERM while records flow: every record the host accepted is in both pipelines' output.
source "$(dirname "$0")/lib.sh"
MODS=$(make_moddir)
cat > "$WORK/f.conf" <<CONF
inputs: testgen
testgen_records: 0
testgen_keys: 5000
testgen_rate: 400000
testgen_report: $WORK/report.txt
plugins: print[a], print[b]
aggregate[a]: src_host, dst_port
aggregate[b]: dst_host, proto, flows
print_refresh_time: 3600
print_output_file[a]: $WORK/a.txt
print_output_file[b]: $WORK/b.txt
CONF
for sig in TERM INT; do
  rm -f "$WORK"/a.txt "$WORK"/b.txt "$WORK"/report.txt "$WORK"/log
  "$DAEMON" -f "$WORK/f.conf" --module-path "$MODS" 2>"$WORK/log" &
  pid=$!
  # Signalled mid-stream, once both pipelines took over 100000 records (not after a fixed time: a
  # sanitized build on a loaded machine may not have started by then).
  poll 120 counter_reaches $pid "$WORK/log" pipeline/a records_in 100001 || fail "SIG$sig: records flow"
  poll 120 counter_reaches $pid "$WORK/log" pipeline/b records_in 100001 || fail "SIG$sig: records flow"
  kill -$sig $pid
  wait $pid; rc=$?
  expect_eq "$rc" 0 "SIG$sig: exit status"
  accepted=$(awk '/^accepted/ {print $2}' "$WORK/report.txt")
  emitted=$(awk '/^emitted/ {print $2}' "$WORK/report.txt")
  [ "$accepted" -gt 100000 ] || fail "SIG$sig: only $accepted records flowed before the signal"
  expect_eq "$accepted" "$emitted" "SIG$sig: with backpressure every emitted record is accepted"
  expect_eq "$(sum_col "$WORK/a.txt" PACKETS)" "$accepted" "SIG$sig: pipeline a holds every accepted record"
  expect_eq "$(sum_col "$WORK/b.txt" PACKETS)" "$accepted" "SIG$sig: pipeline b holds every accepted record"
  expect_eq "$(sum_col "$WORK/b.txt" FLOWS)" "$(( (accepted + 3) / 4 ))" "SIG$sig: flows counted once"
done
