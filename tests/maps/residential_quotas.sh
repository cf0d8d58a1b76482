#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# etc/examples/residential-quotas: per-customer tags from the pre_tag_map, totals read with
# `flowacct -c tag -N`, the quota script flags the customer over its limit; a broken map
# sent with SIGUSR2 is refused naming file and line, and the memory table keeps its rows.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/maps_lib.sh"
MODS=$(make_moddir)
EX=$(copy_example residential-quotas)

# The reference: the first rule in file order wins, i.e. the lowest customer of src and dst.
hosts_csv "$WORK/hosts.csv" "src_host, dst_host"
awk -F, 'function cust(ip,  o) { if (ip !~ /^10\.0\.0\./) return 9; split(ip, o, "."); return int(o[4] / 64) + 1 }
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { s = cust($col["SRC_IP"]); d = cust($col["DST_IP"]); t = s < d ? s : d; if (t < 9) b[t] += $col["BYTES"] }
  END { for (t = 1; t <= 4; t++) print t, b[t] + 0 }' "$WORK/hosts.csv" >"$WORK/expected"
cat "$WORK/expected"
total=$(awk '{ s += $2 } END { print s }' "$WORK/expected")

cd "$EX"
"$DAEMON" -f flowacct.conf --module-path "$MODS" 2>"$WORK/log" &
pid=$!
wait_total "$EX/quota.pipe" "$total"
for t in 1 2 3 4; do
  expect_eq "$("$CLIENT" -p quota.pipe -c tag -N "$t" -n bytes)" "$(awk -v t=$t '$1 == t { print $2 }' "$WORK/expected")" "customer tag $t total"
done
expect_eq "$("$CLIENT" -p quota.pipe -c tag -N 0 -n bytes)" 0 "pre_tag_filter keeps untagged traffic out"

# Limits: customer 1 one byte under its use, customer 2 exactly at it.
b1=$(awk '$1 == 1 { print $2 }' "$WORK/expected")
b2=$(awk '$1 == 2 { print $2 }' "$WORK/expected")
printf '# tag limit name\n1 %s alice\n2 %s bob\n' $((b1 - 1)) "$b2" >"$WORK/quotas.txt"
set +e
./quota.sh "$WORK/quotas.txt" quota.pipe "$CLIENT" >"$WORK/report"
rc=$?
set -e
cat "$WORK/report"
expect_eq "$rc" 1 "quota script exits 1 when a customer is over"
expect_eq "$(grep -c OVER "$WORK/report")" 1 "exactly one customer is over"
expect_contains "$WORK/report" "alice 1 $b1 $((b1 - 1)) OVER" "the customer over its limit is flagged with its total"
expect_contains "$WORK/report" "bob 2 $b2 $b2 ok" "a customer at its limit is not flagged"

# A broken map on SIGUSR2: refused with file and line, the old map and the table stay.
printf 'set_tag=1 src_net=10.0.0.0/26\nset_tag=2 src_net=10.0.0.300/26\n' >pretag.map
kill -USR2 $pid
poll 60 grep -q "pretag.map:2:" "$WORK/log" || true
expect_contains "$WORK/log" "pretag.map:2: src_net: expected an IPv4 or IPv6 address or prefix" "a broken map on reload names file and line"
expect_contains "$WORK/log" "the previous pre_tag_map stays in force" "the old map stays in force"
expect_eq "$("$CLIENT" -p quota.pipe -c tag -N 1 -n bytes)" "$b1" "the memory table keeps its rows across the reload"
kill -0 $pid || fail "daemon survives a broken map"
kill -TERM $pid
wait $pid || fail "daemon exit status"
pass "daemon stops cleanly"
