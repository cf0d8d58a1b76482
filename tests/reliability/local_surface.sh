#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon's local surface: the query socket is the owner's only (mode 0600, another user cannot
# query or reset it), a socket path longer than sun_path is an error and not a truncation, pid and log
# files are 0600 whatever the umask, and modules are not loaded from a world-writable directory.
source "$(dirname "$0")/lib.sh"
CLIENT=$BUILD/bin/flowacct
chmod 755 "$WORK"
cat > "$WORK/m.conf" <<CONF
inputs: testgen
testgen_records: 1000
testgen_stay: true
plugins: memory[m]
aggregate: src_host
imt_path: $WORK/q.pipe
pidfile: $WORK/d.pid
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
CONF
umask 000
start_daemon "$WORK/m.conf"
umask 022
poll 60 test -S "$WORK/q.pipe" || true
expect_eq "$(stat -c %a "$WORK/q.pipe")" 600 "query socket mode 0600"
expect_eq "$(stat -c %a "$WORK/d.pid")" 600 "pid file 0600 under umask 000"
expect_eq "$(stat -c %a "$WORK/log")" 600 "log file 0600 under umask 000"
"$CLIENT" -s -p "$WORK/q.pipe" >"$WORK/q.txt" || fail "the owner can query"
pass "the owner can query"
if setpriv --reuid=nobody --regid=nogroup --clear-groups "$CLIENT" -e -p "$WORK/q.pipe" 2>"$WORK/nobody.err"; then
  fail "another user can reset the table"
fi
grep -qi "permission denied" "$WORK/nobody.err" || { cat "$WORK/nobody.err"; fail "refused for lack of permission"; }
pass "another user cannot reach the query socket (permission denied)"
expect_metric 1000 flowacct_records_in 'owner="pipeline/m"'
stop_daemon TERM

# A socket path longer than sun_path (108 bytes): the daemon refuses to start and names the key.
long=$WORK/$(printf 'x%.0s' $(seq 1 120))
sed "s|^imt_path: .*|imt_path: $long|" "$WORK/m.conf" | grep -v metrics_listen >"$WORK/long.conf"
rc=0
timeout 20 "$DAEMON" -f "$WORK/long.conf" --module-path "$MODS" >"$WORK/long.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "a path too long for sun_path is refused (exit $rc)"
grep -q "imt_path" "$WORK/long.out" "$WORK/log" || { cat "$WORK/long.out"; fail "the error names imt_path"; }
pass "a path too long for sun_path is refused with an error naming imt_path"
ls "$WORK" | grep -q '^xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' && fail "no truncated socket left behind"
pass "no truncated socket created"

# Modules from a world-writable directory are refused.
chmod 777 "$MODS"
rc=0
timeout 20 "$DAEMON" -f "$WORK/m.conf" --module-path "$MODS" >"$WORK/ww.out" 2>&1 || rc=$?
chmod 755 "$MODS"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "a world-writable module directory is refused (exit $rc)"
grep -q "world-writable" "$WORK/ww.out" "$WORK/log" || { cat "$WORK/ww.out"; fail "the error says world-writable"; }
pass "a world-writable module directory is refused"
