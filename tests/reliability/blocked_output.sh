#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# An output that blocks for good at stop (a print output writing into a FIFO nobody reads) can't keep
# the daemon from quitting: shutdown_timeout, or a stop signal while stopping, quits without it, after
# the healthy pipelines wrote everything, and the log names what was abandoned. Without either, the
# daemon waits (an output may legitimately take long to flush) and says what it waits for.
source "$(dirname "$0")/lib.sh"
N=50000
mkfifo "$WORK/stuck.fifo"
# write_conf EXTRA-LINES...: testgen input, a healthy print pipeline and one into the FIFO.
write_conf() {
  {
    cat <<CONF
inputs: testgen
testgen_records: $N
testgen_keys: 500
plugins: print[ok], print[stuck]
aggregate: src_host, proto
print_refresh_time: 3600
print_output_file_append: true
print_output_file[ok]: $WORK/ok.txt
print_output_file[stuck]: $WORK/stuck.fifo
pidfile: $WORK/pid
logfile: $WORK/log
CONF
    printf '%s\n' "$@"
  } >"$WORK/f.conf"
  rm -f "$WORK/log" "$WORK/ok.txt"
}
exited() { ! kill -0 "$1" 2>/dev/null; }

# 1. The input ends, the stuck pipeline blocks in its final flush: shutdown_timeout ends the wait.
write_conf "shutdown_timeout: 2"
"$DAEMON" -f "$WORK/f.conf" --module-path "$MODS" 2>>"$WORK/log.err" &
pid=$!
poll 60 exited $pid || fail "the daemon quits once shutdown_timeout passed"
rc=0; wait $pid || rc=$?
expect_eq "$rc" 1 "exit status 1: a pipeline's data was lost"
expect_contains "$WORK/log" "not stopped, abandoned: pipeline stuck (output print)" "the log names the abandoned pipeline"
expect_contains "$WORK/log" "quitting on shutdown_timeout (2 s)" "the log says why it quit"
expect_eq "$(sum_col "$WORK/ok.txt" PACKETS)" $N "the healthy pipeline wrote every record before the daemon quit"
[ ! -e "$WORK/pid" ] || fail "the pidfile is removed"
pass "the pidfile is removed"

# 2. No shutdown_timeout: the daemon waits, reports what it waits for, and a second SIGTERM quits.
write_conf "testgen_stay: true" "testgen_report: $WORK/report"
"$DAEMON" -f "$WORK/f.conf" --module-path "$MODS" 2>>"$WORK/log.err" &
pid=$!
started() { grep -c "flowacctd .* started" "$WORK/log" >/dev/null 2>&1; }
poll 60 started || fail "the daemon started"
kill -TERM $pid
waiting() { grep -c "still stopping: pipeline stuck (output print)" "$WORK/log" >/dev/null; }
poll 60 waiting || { cat "$WORK/log" >&2; fail "the daemon says which pipeline it waits for"; }
pass "the daemon says which pipeline it waits for"
exited $pid && fail "without shutdown_timeout the daemon keeps waiting"
pass "without shutdown_timeout the daemon keeps waiting"
kill -TERM $pid
poll 30 exited $pid || fail "a second SIGTERM quits"
rc=0; wait $pid || rc=$?
expect_eq "$rc" 1 "exit status 1 after abandoning a pipeline"
expect_contains "$WORK/log" "quitting on a stop signal while stopping" "the log says why it quit"
accepted=$(sed -n 's/^accepted //p' "$WORK/report")
[ "$accepted" -gt 0 ] || fail "the input emitted records before the stop"
expect_eq "$(sum_col "$WORK/ok.txt" PACKETS)" "$accepted" "the healthy pipeline wrote every record the input emitted"

# 3. A reader on the FIFO: the stop completes within shutdown_timeout, exit 0, nothing lost.
write_conf "shutdown_timeout: 120"
cat <>"$WORK/stuck.fifo" >"$WORK/stuck.txt" &
reader=$!
"$DAEMON" -f "$WORK/f.conf" --module-path "$MODS" 2>>"$WORK/log.err" &
pid=$!
poll 60 exited $pid || fail "the daemon stops at the end of its input"
rc=0; wait $pid || rc=$?
expect_eq "$rc" 0 "exit status 0 when every output flushed"
stuck_done() { [ "$(sum_col "$WORK/stuck.txt" PACKETS)" = $N ]; }
poll 30 stuck_done || true
kill $reader
expect_eq "$(sum_col "$WORK/stuck.txt" PACKETS)" $N "the FIFO's reader got every record"

# 4. A bad value is refused at start.
write_conf "shutdown_timeout: soon"
rc=0; "$DAEMON" -f "$WORK/f.conf" --module-path "$MODS" >"$WORK/bad.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "shutdown_timeout: soon is refused"
expect_contains "$WORK/bad.out" "shutdown_timeout: expected a number of seconds, got 'soon'" "a bad shutdown_timeout is refused with its reason"
