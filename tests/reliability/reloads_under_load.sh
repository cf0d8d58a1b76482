#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A thousand SIGUSR2 map reloads while records flow (the map file changes before each, as maps reload
# only when their file changed): every reload is applied (pretag_reloads counts
# them, none fails), RSS and open files stay flat, the new map takes effect, and no record is lost.
source "$(dirname "$0")/lib.sh"
RELOADS=${RELOADS:-1000}
map() { # TAG-BASE: 500 rules, one per source host of the workload
  for i in $(seq 0 499); do echo "set_tag=$(($1 + i)) src_net=10.0.$((i / 256)).$((i % 256))/32"; done >"$WORK/tags.map.new"
  mv "$WORK/tags.map.new" "$WORK/tags.map"
}
map 1
cat > "$WORK/f.conf" <<CONF
inputs: testgen
testgen_records: 0
testgen_keys: 500
testgen_rate: 20000
testgen_report: $WORK/report.txt
plugins: print[p]
stages[p]: pretag
pre_tag_map[p]: $WORK/tags.map
aggregate: tag
print_refresh_time: 3600
print_output_file: $WORK/out.txt
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
CONF
start_daemon "$WORK/f.conf"
# Signals sent closer than the daemon handles them may merge: one at a time, paced on the counter.
reload_until() { $TOOL reload "$MPORT" "$PID" "$1" flowacct_pretag_reloads --touch "$WORK/tags.map" >/dev/null; }
reload_until 100
rss0=$(rss_kb "$PID"); fd0=$(fd_count "$PID")
reload_until $((RELOADS / 2))
map 100001
reload_until "$RELOADS"
rss1=$(rss_kb "$PID"); fd1=$(fd_count "$PID")
echo "after 100 reloads: RSS ${rss0} kB, $fd0 fds; after $RELOADS: RSS ${rss1} kB, $fd1 fds"
expect_eq "$(metric flowacct_pretag_reloads)" "$RELOADS" "every SIGUSR2 is one reload"
expect_eq "$(metric flowacct_pretag_reload_errors)" 0 "no reload failed"
expect_eq "$fd1" "$fd0" "open files flat across reloads"
expect_flat_rss "$rss0" "$rss1" 4096 "RSS flat across reloads"
# Records taken after the last reload carry the new map's tags: wait for a thousand of them.
in_after=$(($(metric flowacct_records_in 'owner="pipeline/p"') + 1000))
in_at_least() { [ "$(metric flowacct_records_in 'owner="pipeline/p"')" -ge "$1" ]; }
poll 60 in_at_least $in_after || fail "records flow after the reloads"
stop_daemon TERM
accepted=$(awk '/^accepted/ {print $2}' "$WORK/report.txt")
expect_eq "$(sum_col "$WORK/out.txt" PACKETS)" "$accepted" "no record lost across the reloads"
new=$(awk 'NR > 1 && $1 > 100000 { s += $2 } END { print s + 0 }' "$WORK/out.txt")
[ "$new" -gt 0 ] || fail "the reloaded map takes effect (rows tagged by the new map)"
pass "the reloaded map takes effect"
