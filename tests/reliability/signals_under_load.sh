#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Signals while NetFlow flows over UDP: SIGTERM and SIGINT lose nothing (every record the input
# emitted is in the output, per the counters the daemon logs as it stops); SIGKILL loses at most one
# refresh interval of what was emitted, and the daemon then restarts on the same files and counts on.
source "$(dirname "$0")/lib.sh"
conf() { # REFRESH-SECONDS
  cat > "$WORK/f.conf" <<CONF
inputs: netflow[nf]
nfacctd_ip: 127.0.0.1
nfacctd_port: 0
plugins: print[a], print[b]
aggregate[a]: src_host, dst_port
aggregate[b]: proto
print_refresh_time: $1
print_output_file_append: true
print_output_file[a]: $WORK/a.txt
print_output_file[b]: $WORK/b.txt
pidfile: $WORK/d.pid
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
CONF
}
# final COUNTER OWNER: the value the daemon logged for a counter as it stopped.
final() { sed -n "s|.*counter \[$2\] $1 \([0-9]*\)$|\1|p" "$WORK/log" | tail -1; }
load() { $TOOL send "$NF_PORT" v9 --count 100000 --records 20 --pps 500 & SENDER=$!; }
out_at_least() { [ "$(metric flowacct_records_out)" -ge "$1" ]; }
expect_records_out() { poll 120 out_at_least "$1" || fail "records flow ($(metric flowacct_records_out) of $1)"; }

conf 3600
for sig in TERM INT; do
  rm -f "$WORK"/a.txt "$WORK"/b.txt
  start_daemon "$WORK/f.conf"
  load
  # Signalled mid-stream, once over 5000 records flowed (polled: not a fixed time).
  expect_records_out 5001
  kill -$sig "$PID"
  rc=0; wait "$PID" || rc=$?
  kill $SENDER 2>/dev/null; wait $SENDER 2>/dev/null || true
  expect_eq "$rc" 0 "SIG$sig: exit status"
  out=$(final records_out nf/netflow)
  [ "${out:-0}" -gt 5000 ] || fail "SIG$sig: records flowed before the signal ($out)"
  expect_eq "$(final records_in pipeline/a)" "$out" "SIG$sig: pipeline a took every record emitted"
  q=$(final queue_dropped pipeline/a); expect_eq "${q:-0}" 0 "SIG$sig: no queue drop (zero counters are not logged)"
  expect_eq "$(sum_col "$WORK/a.txt" PACKETS)" "$out" "SIG$sig: pipeline a wrote every record"
  expect_eq "$(sum_col "$WORK/b.txt" PACKETS)" "$out" "SIG$sig: pipeline b wrote every record"
done

# SIGKILL: refresh every 2 s; what is lost is at most what arrived since the last refresh.
conf 2
rm -f "$WORK"/a.txt "$WORK"/b.txt
start_daemon "$WORK/f.conf"
load
# Killed once several refresh intervals passed with records flowing (at 10000 records/s, 80000
# records take 8 s) and the output was written at least once.
expect_records_out 80000
written_once() { [ "$(sum_col "$WORK/a.txt" PACKETS 2>/dev/null || echo 0)" -gt 0 ]; }
poll 60 written_once || fail "the output is written every refresh interval"
before=$(metric flowacct_records_out)
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
kill $SENDER 2>/dev/null; wait $SENDER 2>/dev/null || true
written=$(sum_col "$WORK/a.txt" PACKETS)
lost=$((before - written))
echo "SIGKILL: $before emitted, $written written, $lost lost (rate 10000 records/s, refresh 2 s)"
[ "$written" -gt 0 ] && [ "$lost" -le $((before * 3 / 5)) ] || fail "SIGKILL loses at most one refresh interval ($lost)"
pass "SIGKILL loses at most one refresh interval"
# Restart on the same pid file and outputs: it starts and counts on.
start_daemon "$WORK/f.conf"
$TOOL send "$NF_PORT" v9 --count 50 --records 20 --pps 500
expect_metric 1000 flowacct_records_out
stop_daemon TERM
expect_eq "$(sum_col "$WORK/a.txt" PACKETS)" $((written + 1000)) "after a restart the output continues, nothing counted twice"
