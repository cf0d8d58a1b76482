#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Aggregation entries are bounded per pipeline: with aggregate_max_entries below the number of keys the
# aggregator purges early (early_purges), memory stays at the bound, and the output still holds every
# record exactly.
source "$(dirname "$0")/lib.sh"
N=300000
cat > "$WORK/f.conf" <<CONF
inputs: testgen
testgen_records: $N
testgen_keys: 60000
testgen_stay: true
plugins: print[small], print[big], print[marked]
aggregate: src_host, dst_host, dst_port
aggregate_max_entries[small]: 1024
aggregate_max_entries[marked]: 1024
print_markers[marked]: true
print_output_file[marked]: $WORK/marked.txt
print_refresh_time: 3600
print_output_file[small]: $WORK/small.txt
print_output_file[big]: $WORK/big.txt
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
CONF
start_daemon "$WORK/f.conf"
expect_metric $N flowacct_records_in 'owner="pipeline/small"'
expect_metric $N flowacct_records_in 'owner="pipeline/big"'
purges=$(metric flowacct_early_purges 'owner="small/hash"')
[ "$purges" -ge $((60000 / 1024)) ] || fail "the bounded pipeline purges early (early_purges=$purges)"
pass "the bounded pipeline purges early (early_purges=$purges)"
expect_eq "$(metric flowacct_early_purges 'owner="big/hash"')" 0 "the default bound is not hit"
stop_daemon TERM
expect_eq "$(sum_col "$WORK/small.txt" PACKETS)" $N "bounded pipeline: every record in the output"
expect_eq "$(sum_col "$WORK/big.txt" PACKETS)" $N "unbounded pipeline: every record in the output"
# print_markers: each early purge of a refresh interval is its own --START--/--END-- block in
# the interval's file, under one header.
starts=$(grep -c '^--START' "$WORK/marked.txt"); ends=$(grep -c '^--END' "$WORK/marked.txt")
[ "$starts" -ge 2 ] || fail "print_markers: one block per purge (got $starts)"
expect_eq "$ends" "$starts" "print_markers: every --START-- has its --END--"
expect_eq "$(grep -c '^SRC_IP' "$WORK/marked.txt")" 1 "print_markers: one header for the interval"
expect_eq "$(grep -v '^--' "$WORK/marked.txt" | awk 'NR > 1 { s += $4 } END { print s + 0 }')" $N "print_markers: every record in the blocks"
