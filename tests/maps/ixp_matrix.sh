#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# etc/examples/ixp-peering: the src_as x dst_as matrix from the networks file, read from the
# memory table, equals the matrix computed here from the hosts of the same capture.
# (sFlow input: the example says how; this test replays the sample capture through pcap.)
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/maps_lib.sh"
MODS=$(make_moddir)
EX=$(copy_example ixp-peering)
cd "$EX"
"$DAEMON" -f flowacct.conf --module-path "$MODS" 2>"$WORK/log" &
pid=$!
wait_total "$EX/ixp.pipe" 1138079
./matrix.sh ixp.pipe "$CLIENT" >"$WORK/matrix.txt"
cat "$WORK/matrix.txt"

# The reference: per-host rows of the same capture, mapped to member ASes by hand.
hosts_csv "$WORK/hosts.csv" "src_host, dst_host"
awk -F, 'function as(ip,  o) {
    if (ip ~ /^10\.0\.0\./) { split(ip, o, "."); return o[4] < 128 ? 64501 : 64502 }
    if (ip ~ /^192\.0\.2\./) { split(ip, o, "."); return o[4] < 128 ? 64510 : 64511 }
    if (ip ~ /^2001:db8:1:/) return 64520
    if (ip ~ /^2001:db8:2:/) return 64521
    return 0 }
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { print as($col["SRC_IP"]) "," as($col["DST_IP"]) "," $col["BYTES"] }' \
  "$WORK/hosts.csv" | (echo "SRC_AS,DST_AS,BYTES"; cat) >"$WORK/ref.csv"
printf '#!/bin/sh\ncat %s\n' "$WORK/ref.csv" >"$WORK/refclient"
chmod +x "$WORK/refclient"
./matrix.sh unused "$WORK/refclient" >"$WORK/ref.txt"
diff "$WORK/ref.txt" "$WORK/matrix.txt" || fail "matrix from the networks file equals the matrix from the hosts"
pass "matrix from the networks file equals the matrix from the hosts"
expect_eq "$(awk 'NR > 1 { for (i = 2; i <= NF; i++) s += $i } END { print s }' "$WORK/matrix.txt")" 1138079 "matrix cells add up to every IP byte"
expect_eq "$(awk '$1 == 64501 { print NF }' "$WORK/matrix.txt")" "$(awk 'NR == 1 { print NF }' "$WORK/matrix.txt")" "member rows span every column"
kill -TERM $pid
wait $pid || fail "daemon exit status"
expect_contains "$WORK/log" "networks_file loaded" "the networks file load is logged"
