#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The three client calls a pmacct user's scripts make, on tables filled by a real input (the pcap
# input on the bundled sample, with a networks_file giving AS numbers):
#   flowacct -s -T bytes -p /tmp/a.pipe; flowacct -c dst_as -M 5466 -p /tmp/b.pipe;
#   flowacct -c dst_as -N 5466 -r -p /tmp/b.pipe (the byte counter, then 0 after the reset).
source "$(dirname "$0")/lib.sh"
MODS=$(make_moddir)
CLIENT=$BUILD/bin/flowacct
cat > "$WORK/nets.lst" <<NETS
! the sample's destinations: IPv4 192.0.2.0/24 is AS 5466, IPv6 2001:db8:2::/48 is AS 65002
5466,192.0.2.0/24
65001,10.0.0.0/8
65002,2001:db8:2::/48
NETS
cat > "$WORK/f.conf" <<CONF
pcap_savefile: $SRC/etc/samples/sample.pcap
pcap_savefile_wait: true
plugins: memory[a], memory[b]
aggregate[a]: src_host, dst_host
imt_path[a]: $WORK/a.pipe
aggregate[b]: flows, dst_as
imt_path[b]: $WORK/b.pipe
networks_file[b]: $WORK/nets.lst
CONF
"$DAEMON" -f "$WORK/f.conf" --module-path "$MODS" 2>"$WORK/log" &
pid=$!
both_sockets() { [ -S "$WORK/b.pipe" ] && [ -S "$WORK/a.pipe" ]; }
poll 60 both_sockets || true
# Each table is polled (60 s bound) until it holds the whole capture.
table_a_full() { "$CLIENT" -s -p "$WORK/a.pipe" >"$WORK/s.txt" 2>/dev/null && [ "$(sum_col "$WORK/s.txt" PACKETS)" = 2548 ]; }
poll 60 table_a_full || true
expect_eq "$(sum_col "$WORK/s.txt" PACKETS)" 2548 "table a holds every packet of the capture"
# Pipeline b has its own queue and table: wait for it as well.
table_b_full() { [ "$("$CLIENT" -c dst_as -N '*' -n packets -p "$WORK/b.pipe" 2>/dev/null)" = 2548 ]; }
poll 60 table_b_full || true
expect_eq "$("$CLIENT" -c dst_as -N '*' -n packets -p "$WORK/b.pipe")" 2548 "table b holds every packet of the capture"
"$CLIENT" -s -T bytes -p "$WORK/a.pipe" >"$WORK/sorted.txt"
head -1 "$WORK/sorted.txt" | grep -q '^SRC_IP  *DST_IP  *PACKETS  *BYTES$' || fail "formatted header of -s"
awk 'NR > 1 && NF == 4 { print $4 }' "$WORK/sorted.txt" >"$WORK/bytes"
sort -rn "$WORK/bytes" | cmp -s - "$WORK/bytes" || fail "-s -T bytes sorts rows by bytes, largest first"
pass "-s -T bytes sorts rows by bytes"
tail -1 "$WORK/sorted.txt" | grep -q '^For a total of: [0-9]* entries$' || fail "-s trailer"
pass "-s ends with pmacct's trailer"
"$CLIENT" -c dst_as -M 5466 -p "$WORK/b.pipe" >"$WORK/m.txt"
expect_eq "$(head -1 "$WORK/m.txt" | tr -s ' ')" "DST_AS PACKETS FLOWS BYTES" "-M header: DST_AS PACKETS FLOWS BYTES"
expect_eq "$(awk 'NR > 1 && $1 == 5466' "$WORK/m.txt" | wc -l)" 1 "-c dst_as -M 5466 prints one row"
row_bytes=$(awk 'NR > 1 && $1 == 5466 { print $4 }' "$WORK/m.txt")
n1=$("$CLIENT" -c dst_as -N 5466 -r -p "$WORK/b.pipe")
expect_eq "$n1" "$row_bytes" "-N prints the byte counter of the matching row"
[ "$n1" -gt 0 ] || fail "AS 5466 has traffic in the sample"
n2=$("$CLIENT" -c dst_as -N 5466 -p "$WORK/b.pipe")
expect_eq "$n2" 0 "after -r the next read is 0"
"$CLIENT" -c dst_as -N 65002 -n packets -p "$WORK/b.pipe" >"$WORK/n"
[ "$(cat "$WORK/n")" -gt 0 ] || fail "IPv6 destinations map to their AS"
pass "IPv6 destinations map to their AS"
kill -TERM $pid
wait $pid || fail "exit status"
