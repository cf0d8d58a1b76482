#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The installed daemon, with no module path given, runs two pipelines of different aggregates over
# one input (the bundled sample capture) and both outputs hold the capture's totals.
source "$(dirname "$0")/lib.sh"
P=$WORK/prefix
cmake --install "$BUILD" --prefix "$P" >/dev/null
[ -x "$P/sbin/flowacctd" ] || fail "sbin/flowacctd installed"
[ -x "$P/bin/flowacct" ] || fail "bin/flowacct installed"
[ -f "$P/include/flowacct/abi.h" ] || fail "SDK headers installed"
[ -f "$P/share/flowacct/flowacct.conf" ] || fail "sample configuration installed"
pass "install layout"
"$P/sbin/flowacctd" --list-modules >"$WORK/list"
for m in "input       pcap" "aggregator  hash" "output      print" "output      memory"; do
  expect_contains "$WORK/list" "$m" "installed daemon finds module '$m' without a module path"
done
cat > "$WORK/two.conf" <<CONF
pcap_savefile: $P/share/flowacct/samples/sample.pcap
plugins: print[hosts], print[protos]
aggregate[hosts]: src_host, dst_host
aggregate[protos]: proto, flows
print_output_file[hosts]: $WORK/hosts.txt
print_output[protos]: csv
print_output_file[protos]: $WORK/protos.csv
CONF
"$P/sbin/flowacctd" -f "$WORK/two.conf" 2>"$WORK/log" || { cat "$WORK/log"; fail "run"; }
# Totals of the sample (etc/samples/README.md): 2548 IP packets, 1138079 bytes, 490 flows.
expect_eq "$(sum_col "$WORK/hosts.txt" PACKETS)" 2548 "pipeline hosts: packets"
expect_eq "$(sum_col "$WORK/hosts.txt" BYTES)" 1138079 "pipeline hosts: bytes"
expect_eq "$(awk -F, 'NR > 1 { p += $2; f += $3; b += $4 } END { print p, f, b }' "$WORK/protos.csv")" \
  "2548 490 1138079" "pipeline protos: packets, flows, bytes"
expect_eq "$(head -1 "$WORK/protos.csv")" "PROTOCOL,PACKETS,FLOWS,BYTES" "pipeline protos: csv header"
[ "$(awk 'NR > 1' "$WORK/hosts.txt" | wc -l)" -gt 10 ] || fail "pipeline hosts has one row per host pair"
pass "pipeline hosts keyed on host pairs"
