# SPDX-License-Identifier: GPL-2.0-or-later
# poll SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds (0) or SECONDS of wall time
# pass (1). Bounded by time, not by tries: a slow check (a sanitized daemon) gets the same time.
# Sourced by tests/e2e/lib.sh and by scripts that keep their own scratch and cleanup.
poll() {
  local end=$((SECONDS + $1))
  shift
  while :; do
    "$@" && return 0
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.1
  done
}
