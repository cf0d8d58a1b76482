# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by bench scripts that time one daemon run at a time (fanout.sh, handoff.sh).

# cpu_seconds TMPFILE COMMAND...: runs COMMAND (its output discarded) and prints its CPU seconds:
# perf's task-clock where perf is installed (time(1) counts in 10 ms steps, and a short replay takes
# 50-150 ms), else user + system from time(1).
cpu_seconds() {
  local t=$1
  shift
  if command -v perf >/dev/null; then
    perf stat -x, -e task-clock -o "$t" "$@" >/dev/null 2>&1
    awk -F, '/task-clock/ { printf "%.3f", $1 / 1000 }' "$t"
  else
    /usr/bin/time -f '%U %S' -o "$t" "$@" >/dev/null 2>&1
    awk '{ printf "%.3f", $1 + $2 }' "$t"
  fi
}

# median: the median of the numbers on stdin (whitespace-separated).
median() { tr -s ' \t' '\n\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
