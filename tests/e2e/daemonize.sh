#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# -D with a pidfile and a logfile: the parent returns once the child is up; SIGUSR1 logs
# counters; SIGTERM flushes and removes the pidfile; start-up errors reach the caller.
source "$(dirname "$0")/lib.sh"
MODS=$(make_moddir)
cat > "$WORK/d.conf" <<CONF
inputs: testgen
testgen_records: 12345
testgen_stay: true
plugins: print[a]
aggregate: src_host
print_refresh_time: 3600
print_output_file: $WORK/a.txt
logfile: $WORK/log
pidfile: $WORK/pid
CONF
"$DAEMON" -f "$WORK/d.conf" --module-path "$MODS" -D || fail "daemon start"
pass "the parent returned 0 once the daemon was up"
wait_file "$WORK/pid"
pid=$(cat "$WORK/pid")
kill -0 "$pid" || fail "daemon alive"
expect_eq "$(stat -c %a "$WORK/pid")" "600" "the pidfile is created with a strict umask"
# SIGUSR1 (sent until the input emitted every record) logs the counters.
poll 60 counter_reaches "$pid" "$WORK/log" pipeline/a records_in 12345 || true
expect_contains "$WORK/log" "[pipeline/a] records_in 12345" "SIGUSR1 logs the counters"
# logrotate's create + HUP: the old file is moved away, SIGHUP makes a new one.
mv "$WORK/log" "$WORK/log.1"
kill -HUP "$pid"
poll 60 test -s "$WORK/log" || true
expect_contains "$WORK/log" "log reopened" "SIGHUP reopens the log file"
kill -TERM "$pid"
exited() { ! kill -0 "$1" 2>/dev/null; }
poll 120 exited "$pid" || true
kill -0 "$pid" 2>/dev/null && fail "the daemon stops on SIGTERM"
pass "the daemonized process stops on SIGTERM"
[ -e "$WORK/pid" ] && fail "the pidfile is removed at exit"
expect_eq "$(sum_col "$WORK/a.txt" PACKETS)" 12345 "SIGTERM flushed every record"

# A start-up error in the child is reported by the parent, with a non-zero exit.
sed -i 's/^aggregate: src_host/aggregate: src_hots/' "$WORK/d.conf"
if "$DAEMON" -f "$WORK/d.conf" --module-path "$MODS" -D 2>"$WORK/err"; then fail "bad aggregate must fail"; fi
expect_contains "$WORK/err" "unknown primitive 'src_hots'" "a daemon's start-up error reaches the caller"

# daemonize and debug in the file take true/false (yes/no, on/off, 1/0); anything else is refused.
sed -i 's/^aggregate: src_hots/aggregate: src_host/' "$WORK/d.conf"
for key in daemonize debug; do
  cp "$WORK/d.conf" "$WORK/b.conf"
  echo "$key: maybe" >>"$WORK/b.conf"
  rc=0; "$DAEMON" -f "$WORK/b.conf" --module-path "$MODS" --dry-run 2>"$WORK/err.$key" || rc=$?
  [ "$rc" != 0 ] || fail "$key: maybe is refused"
  expect_contains "$WORK/err.$key" "$key: expected true or false, got 'maybe'" "a bad $key value is refused with the key named"
done
