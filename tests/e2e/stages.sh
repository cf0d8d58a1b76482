#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Pipeline stages work on a private copy: one pipeline's tags and drops do not reach another;
# SIGUSR2 and maps_refresh reload them; the passthrough aggregator hands on every record.
source "$(dirname "$0")/lib.sh"
MODS=$(make_moddir)
cat > "$WORK/s.conf" <<CONF
inputs: testgen
testgen_records: 30000
testgen_stay: true
plugins: print[a], print[b], print[c], print[d]
stages[a]: tagodd
tagodd_reloads[a]: $WORK/reloads
stages[d]: tagodd
tagodd_reloads[d]: $WORK/reloads_d
maps_refresh[d]: 1
aggregate[a]: tag
aggregate[b]: tag
aggregator[c]: passthrough
print_output[c]: csv
print_refresh_time: 3600
print_output_file[a]: $WORK/a.txt
print_output_file[b]: $WORK/b.txt
print_output_file[c]: $WORK/c.csv
print_output_file[d]: /dev/null
CONF
"$DAEMON" -f "$WORK/s.conf" --module-path "$MODS" 2>"$WORK/log" &
pid=$!
wait_file "$WORK/reloads_d"
pass "maps_refresh reloads stages periodically"
[ -e "$WORK/reloads" ] && fail "no reload without SIGUSR2 or maps_refresh"
kill -USR2 $pid
wait_file "$WORK/reloads"
pass "SIGUSR2 reloads stages"
# Stopped once the pipelines without stages took the input's 30000 records: a stop ends the input.
for p in b c; do
  poll 60 counter_reaches $pid "$WORK/log" pipeline/$p records_in 30000 || fail "pipeline $p took every record"
done
kill -TERM $pid
wait $pid || fail "exit status"
# testgen: src_port 40000 + i%3, dst_port 1000 + i%5. Odd source ports (40001) are a third.
expect_eq "$(sum_col "$WORK/a.txt" PACKETS)" 20000 "stage drops reach only their pipeline"
expect_eq "$(awk 'NR > 1 && $1 != 0' "$WORK/a.txt" | wc -l)" 5 "stage tags: one row per destination port"
expect_eq "$(sum_col "$WORK/b.txt" PACKETS)" 30000 "another pipeline sees every record"
expect_eq "$(awk 'NR > 1' "$WORK/b.txt" | wc -l)" 1 "another pipeline does not see the tags"
expect_eq "$(awk 'NR > 1' "$WORK/c.csv" | wc -l)" 30000 "passthrough: one row per record"
expect_contains "$WORK/log" "[pipeline/a] records_filtered 10000" "records dropped by a stage are counted"
