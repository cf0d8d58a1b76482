# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for end-to-end tests: a scratch directory, assertions, a module directory.
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DAEMON=$BUILD/sbin/flowacctd
WORK=$(mktemp -d /tmp/flowacct-e2e-XXXXXX)
cleanup() {
  local pids
  pids=$(jobs -p || true)
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"; pass "$3"; }
expect_contains() { grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$3: '$2' not found in $1"; }; pass "$3"; }

# A module directory with the built modules plus the test input.
make_moddir() {
  local dir=$WORK/mods
  mkdir -p "$dir"
  cp "$BUILD"/lib/flowacct/modules/*.so "$dir"/
  cp "$BUILD"/tests/modules/input_testgen.so "$BUILD"/tests/modules/classifier_tagodd.so "$dir"/
  chmod 755 "$dir"
  echo "$dir"
}

# Sums a column (by header name) of a formatted print file.
sum_col() {
  awk -v col="$2" 'NR==1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next } c && NF { s += $c } END { print s + 0 }' "$1"
}

# Waits until a file exists (bounded: generous, a sanitized daemon on a loaded machine starts slowly).
wait_file() {
  poll 60 test -s "$1" || fail "timed out waiting for $1"
}

# Waits until something listens on a UDP port of the loopback (bounded).
udp_port_bound() { ss -Hlun "sport = :$1" | grep -c . >/dev/null; }
wait_udp_port() {
  poll 60 udp_port_bound "$1" || fail "timed out waiting for UDP port $1"
}

source "$(dirname "${BASH_SOURCE[0]}")/poll.sh"

# logged_counter LOG OWNER NAME: the last value of a counter the daemon logged in LOG on SIGUSR1 or
# at exit ("counter [OWNER] NAME N"; zero counters are not logged), 0 when none.
logged_counter() {
  local v
  v=$(sed -n "s|.*counter \[$2\] $3 \([0-9]*\)$|\1|p" "$1" | tail -1)
  echo "${v:-0}"
}
# counter_reaches PID LOG OWNER NAME WANT: asks the daemon to log its counters (SIGUSR1) and is true
# once LOG shows NAME at WANT or more. For `poll`: a daemon without a metrics endpoint, whose
# counters are read from its log. No signal before the daemon logged that it started: until it
# blocks the signals it handles, SIGUSR1 would end it.
counter_reaches() {
  grep -q "flowacctd .* started" "$2" 2>/dev/null || return 1
  kill -USR1 "$1" 2>/dev/null || return 1
  [ "$(logged_counter "$2" "$3" "$4")" -ge "$5" ]
}
