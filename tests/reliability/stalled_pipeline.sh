#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One pipeline stalls (a print output writing into a FIFO nobody reads) while records flow without
# backpressure: the other pipeline keeps every record, the stalled one counts exactly what it lost
# (records_in + queue_dropped = the input's records_out), and once unblocked it writes what it held.
# Each aggregates on its own (share_aggregation: false), as pipelines of different primitives do;
# a stalled follower of a shared aggregation is tested in e2e/shared_aggregation.sh.
source "$(dirname "$0")/lib.sh"
N=200000
mkfifo "$WORK/stall.fifo"
# A failing check leaves the daemon blocked on the FIFO, where SIGTERM cannot finish its flush:
# it is killed, or ctest would wait on it until the test's timeout.
trap 'kill -KILL ${PID:-} 2>/dev/null || true; cleanup' EXIT
cat > "$WORK/f.conf" <<CONF
inputs: testgen
testgen_records: $N
testgen_keys: 1000
testgen_rate: 20000
testgen_backpressure: false
testgen_stay: true
plugins: print[ok], print[stall]
share_aggregation: false
aggregate: src_host, proto
print_refresh_time: 1
print_output_file_append: true
print_output_file[ok]: $WORK/ok.txt
print_output_file[stall]: $WORK/stall.fifo
plugin_pipe_size: 1048576
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
CONF
start_daemon "$WORK/f.conf"
out_at_least() { [ "$(metric flowacct_records_out)" -ge "$1" ]; }
poll 120 out_at_least $N || true
expect_eq "$(metric flowacct_records_out)" $N "the input emitted every record"
expect_metric $N flowacct_records_in 'owner="pipeline/ok"'
expect_eq "$(metric flowacct_queue_dropped 'owner="pipeline/ok"')" 0 "the healthy pipeline dropped nothing"
dropped=$(metric flowacct_queue_dropped 'owner="pipeline/stall"')
[ "$dropped" -gt $((N / 2)) ] || fail "the stalled pipeline counts its drops ($dropped)"
pass "the stalled pipeline counts its drops ($dropped)"
# Unblock it: what it had queued drains, and in + dropped accounts for every record.
# (opened read-write: the print output closes the file after each purge, the reader must not see EOF)
cat <>"$WORK/stall.fifo" >"$WORK/stall.txt" &
reader=$!
want=$((N - dropped))
expect_metric $want flowacct_records_in 'owner="pipeline/stall"'
expect_eq "$(( $(metric flowacct_records_in 'owner="pipeline/stall"') + dropped ))" $N \
  "stalled pipeline: records_in + queue_dropped = records_out of the input"
stop_daemon TERM
# The daemon has exited; the reader may still be copying the FIFO's last bytes: wait (60 s bound)
# until the file holds every record the pipeline took, not for its size to pause.
stall_complete() { [ "$(sum_col "$WORK/stall.txt" PACKETS)" -ge "$want" ]; }
poll 60 stall_complete || true
kill $reader
expect_eq "$(sum_col "$WORK/ok.txt" PACKETS)" $N "the healthy pipeline's output holds every record"
expect_eq "$(sum_col "$WORK/stall.txt" PACKETS)" $want "the stalled pipeline's output holds every record it took"
