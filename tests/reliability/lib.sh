# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the reliability tests: the e2e helpers, plus a daemon started with a Prometheus endpoint
# whose counters the tests assert.
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
TOOL="python3 $(dirname "${BASH_SOURCE[0]}")/flowtool.py"
MODS=$(make_moddir)

# True once the daemon logged its metrics endpoint, or exited (start_daemon then fails at once).
started_or_dead() { grep -q "metrics on" "$WORK/log" 2>/dev/null || ! kill -0 "$PID" 2>/dev/null; }

# start_daemon CONF: starts flowacctd (log in $WORK/log), sets $PID and $MPORT (metrics port), and
# $NF_PORT / $SF_PORT when a netflow / sflow input listens.
start_daemon() {
  rm -f "$WORK/log"
  "$DAEMON" -f "$1" --module-path "$MODS" 2>>"$WORK/log.err" &
  PID=$!
  poll 60 started_or_dead || true
  MPORT=$(sed -n 's/.*metrics on .* (port \([0-9]*\)).*/\1/p' "$WORK/log" | tail -1)
  [ -n "$MPORT" ] || { cat "$WORK/log" "$WORK/log.err" >&2; fail "daemon started with a metrics endpoint"; }
  NF_PORT=$(sed -n 's/.*listening on .* port \([0-9]*\) with .*/\1/p' "$WORK/log" | tail -1)
  SF_PORT=$(sed -n 's/.*listening on UDP port \([0-9]*\).*/\1/p' "$WORK/log" | tail -1)
}

# metric NAME [LABEL-FRAGMENT...]: the sum of the matching series (0 when none).
metric() { $TOOL metric "$MPORT" "$@"; }

# wait_metric EXPECTED NAME [LABEL-FRAGMENT...]: waits (bounded, 60 s: a sanitized daemon on a loaded
# machine is many times slower) until the counter reaches EXPECTED.
wait_metric() {
  local want=$1 got= end=$((SECONDS + 60))
  shift
  while :; do
    got=$(metric "$@")
    [ "$got" -ge "$want" ] || [ "$SECONDS" -ge "$end" ] && break
    sleep 0.1
  done
  echo "$got"
}

# expect_metric EXPECTED NAME [LABEL-FRAGMENT...]: asserts a counter (after waiting for it).
expect_metric() {
  local want=$1
  expect_eq "$(wait_metric "$@")" "$want" "$2{${*:3}}"
}

# settle NAME [LABEL-FRAGMENT...]: waits (bounded, 10 s) until the counter stops moving for 0.3 s.
settle() {
  local last=-1 now end=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$end" ]; do
    now=$(metric "$@")
    [ "$now" = "$last" ] && return 0
    last=$now
    sleep 0.3
  done
}

# rss_kb PID: resident set size in kB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# expect_flat_rss BEFORE-KB AFTER-KB LIMIT-KB WHAT: asserts RSS grew less than LIMIT. Under ASan
# (.ci/sanitize sets FLOWACCT_SANITIZED=1) freed memory sits in the quarantine, so RSS is only reported.
expect_flat_rss() {
  local growth=$(($2 - $1))
  if [ -n "${FLOWACCT_SANITIZED:-}" ]; then
    echo "skipped under ASan: $4 (RSS grew ${growth} kB)"
    return 0
  fi
  [ "$growth" -lt "$3" ] || fail "$4 (RSS grew ${growth} kB)"
  pass "$4 (RSS grew ${growth} kB)"
}
fd_count() { ls "/proc/$1/fd" | wc -l; }

# stop_daemon [SIGNAL]: signals the daemon and checks it exits 0.
stop_daemon() {
  kill -"${1:-TERM}" "$PID"
  local rc=0
  wait "$PID" || rc=$?
  expect_eq "$rc" 0 "daemon exits 0 on SIG${1:-TERM}"
}
