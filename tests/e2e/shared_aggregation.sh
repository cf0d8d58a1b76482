#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Pipelines alike but for their outputs aggregate once (share_aggregation): each output still gets
# every row, counters and stats are each pipeline's, and pipelines that differ in anything but
# their output (primitives, stages, share_aggregation: false) aggregate apart. A stalled output of
# a shared aggregation drops its rows (counted) and holds back neither its leader nor the stop.
# replay_inline: false (records queued to pipeline threads) gives the same rows as the default.
source "$(dirname "$0")/lib.sh"
MODS=$(make_moddir)
CLIENT=$BUILD/bin/flowacct
N=30000
cat > "$WORK/s.conf" <<CONF
inputs: testgen
testgen_records: $N
testgen_stay: true
plugins: print[a], print[b], print[c], print[d], print[e], print[f], memory[m1], memory[m2]
aggregate: src_host, dst_port
aggregate[f]: dst_host, dst_port
share_aggregation[e]: false
stages[c]: tagodd
stages[d]: tagodd
aggregate[c]: tag
aggregate[d]: tag
print_refresh_time: 3600
print_output[b]: csv
print_output_file[a]: $WORK/a.txt
print_output_file[b]: $WORK/b.csv
print_output_file[c]: $WORK/c.txt
print_output_file[d]: $WORK/d.txt
print_output_file[e]: $WORK/e.txt
print_output_file[f]: $WORK/f.txt
imt_path[m1]: $WORK/m1.pipe
imt_path[m2]: $WORK/m2.pipe
logfile: $WORK/log
CONF
"$DAEMON" -f "$WORK/s.conf" --module-path "$MODS" 2>"$WORK/err" &
pid=$!
poll 60 counter_reaches $pid "$WORK/log" pipeline/a records_in $N || fail "pipeline a took every record"
expect_contains "$WORK/log" "pipeline b: same stages and aggregation as pipeline a" "b shares a's aggregation"
expect_contains "$WORK/log" "pipeline d: same stages and aggregation as pipeline c" "d shares c's (the same stages)"
expect_contains "$WORK/log" "pipeline m2: same stages and aggregation as pipeline m1" "memory tables share too"
for p in c e f m1; do
  if grep -q "pipeline $p: same stages" "$WORK/log"; then fail "pipeline $p aggregates on its own"; fi
done
pass "different primitives, stages or share_aggregation: false aggregate apart"
# Followers count what their leader took and filtered: their stats are what they would be alone.
for p in b m2; do
  poll 60 counter_reaches $pid "$WORK/log" pipeline/$p records_in $N || fail "pipeline $p: records_in $N"
done
pass "a follower's records_in is its leader's"
# The memory tables fill within their refresh (1 s): both answer with every record.
mem_total() { "$CLIENT" -p "$WORK/$1.pipe" -s -O csv | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "PACKETS") c = i; next } { s += $c } END { print s + 0 }'; }
mem_full() { [ "$(mem_total "$1")" = $N ]; }
poll 60 mem_full m1 || fail "m1 holds every record ($(mem_total m1))"
poll 60 mem_full m2 || fail "m2 holds every record ($(mem_total m2))"
pass "both memory tables hold every record"
expect_eq "$("$CLIENT" -p "$WORK/m1.pipe" -s -O csv | sort)" "$("$CLIENT" -p "$WORK/m2.pipe" -s -O csv | sort)" \
  "both memory tables hold the same rows"
kill -TERM $pid
wait $pid || fail "exit status"
for f in a e; do expect_eq "$(sum_col "$WORK/$f.txt" PACKETS)" $N "print $f holds every record"; done
expect_eq "$(awk -F, 'NR > 1 { s += $3 } END { print s }' "$WORK/b.csv")" $N "print b (csv, shared) holds every record"
expect_eq "$(awk 'NR > 1' "$WORK/a.txt" | wc -l)" "$(awk 'NR > 1' "$WORK/b.csv" | wc -l)" "a and b have the same rows"
expect_eq "$(awk 'NR > 1 { print $1, $2, $3, $4 }' "$WORK/a.txt" | sort)" \
  "$(awk 'NR > 1 { print $1, $2, $3, $4 }' "$WORK/e.txt" | sort)" "a shared and a separate aggregation agree"
expect_eq "$(sum_col "$WORK/f.txt" PACKETS)" $N "print f (its own primitives) holds every record"
# testgen: odd source ports are a third; tagodd drops them.
for p in c d; do
  expect_eq "$(sum_col "$WORK/$p.txt" PACKETS)" 20000 "print $p: the stages' drops apply"
  expect_eq "$(logged_counter "$WORK/log" pipeline/$p records_filtered)" 10000 "pipeline $p counts the stage's drops"
done
expect_eq "$(logged_counter "$WORK/log" pipeline/b rows_dropped)" 0 "a follower that keeps up drops nothing"

# A stalled follower (its output a FIFO nobody reads) with a live input: its queue fills, it drops
# rows (counted), and the leader keeps writing every record, also at the stop.
mkfifo "$WORK/stall.fifo"
M=400000
cat > "$WORK/t.conf" <<CONF
inputs: testgen
testgen_records: $M
testgen_keys: 1000
testgen_rate: 40000
testgen_backpressure: false
testgen_stay: true
plugins: print[ok], print[stall]
aggregate: src_host, proto
print_refresh_time: 1
print_output_file_append: true
print_output_file[ok]: $WORK/ok.txt
print_output_file[stall]: $WORK/stall.fifo
plugin_pipe_size: 262144
logfile: $WORK/log2
CONF
"$DAEMON" -f "$WORK/t.conf" --module-path "$MODS" 2>"$WORK/err2" &
pid=$!
poll 120 counter_reaches $pid "$WORK/log2" pipeline/stall rows_dropped 1 || fail "the stalled follower counts dropped rows"
pass "the stalled follower counts dropped rows"
poll 120 counter_reaches $pid "$WORK/log2" default_testgen/testgen records_out $M || fail "the input emitted every record"
# A leader held back by its follower would drop most records at its own queue from the first
# full follower queue on (a few seconds into the run); a slow machine may drop a few anyway,
# counted: what it took is all in its output.
leader_accounted() {
  kill -USR1 $pid
  sleep 0.2
  took=$(logged_counter "$WORK/log2" pipeline/ok records_in)
  lost=$(logged_counter "$WORK/log2" pipeline/ok queue_dropped)
  [ "$((took + lost))" -ge $M ]
}
poll 60 leader_accounted || true
expect_eq "$((took + lost))" $M "the leader: records_in + queue_dropped = the input's records"
[ "$took" -ge $((M * 3 / 4)) ] || fail "the stalled follower holds back its leader (it took $took of $M)"
pass "the stalled follower does not hold back its leader (it took $took of $M)"
kill -TERM $pid
# The stop waits for the stalled output's write (no shutdown_timeout); a reader lets it finish.
cat <>"$WORK/stall.fifo" >"$WORK/stall.txt" &
reader=$!
rc=0; wait $pid || rc=$?
expect_eq "$rc" 0 "the daemon stops once the stalled output could write"
kill $reader 2>/dev/null || true
expect_eq "$(sum_col "$WORK/ok.txt" PACKETS)" "$took" "the leader's output holds every record it took"
expect_contains "$WORK/log2" "[pipeline/stall] rows_dropped" "the stop logs the rows the follower dropped"

# The same replay with the records queued to the pipeline threads (replay_inline: false, the path
# of live inputs) gives the same rows; a bad value is refused at start.
rm -f "$WORK"/[a-f].txt "$WORK/b.csv"
sed -e 's/^testgen_stay: true$/replay_inline: false/' -e '/^plugins:/s/, memory\[m1\], memory\[m2\]//' \
  -e '/^imt_path/d' "$WORK/s.conf" >"$WORK/q.conf"
"$DAEMON" -f "$WORK/q.conf" --module-path "$MODS" 2>"$WORK/err3" || fail "queued replay: exit status"
for f in a e f; do expect_eq "$(sum_col "$WORK/$f.txt" PACKETS)" $N "queued replay: print $f holds every record"; done
expect_eq "$(awk -F, 'NR > 1 { s += $3 } END { print s }' "$WORK/b.csv")" $N "queued replay: shared print b holds every record"
expect_eq "$(sum_col "$WORK/d.txt" PACKETS)" 20000 "queued replay: stages apply"
echo "replay_inline: maybe" >>"$WORK/q.conf"
rc=0; "$DAEMON" -f "$WORK/q.conf" --module-path "$MODS" 2>"$WORK/err4" || rc=$?
[ "$rc" != 0 ] || fail "replay_inline: maybe is refused"
expect_contains "$WORK/err4" "replay_inline: expected true or false" "a bad replay_inline value is named"
