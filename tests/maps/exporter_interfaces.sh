#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# etc/examples/exporter-interfaces: NetFlow v9 from one exporter, tagged by exporter and
# input/output interface (jeq to the tag2 rules), split among pipelines by pre_tag_filter.
# Skips (77) when the NetFlow input or its workload generator is not built.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/maps_lib.sh"
GEN=$BUILD/bin/flowacct-gen-netflow
if [ ! -x "$GEN" ] || [ ! -f "$BUILD/lib/flowacct/modules/input_netflow.so" ]; then
  echo "skip: input_netflow.so or flowacct-gen-netflow not built"
  exit 77
fi
MODS=$(make_moddir)
EX=$WORK/ex
cp -r "$SRC/etc/examples/exporter-interfaces" "$EX"
cd "$EX"
# Every record of the workload: exporter 127.0.0.1, source id 7, in 1, out 2.
"$GEN" -v 9 -n 2000 -k 50 -i 7 -w nf.pcap >"$WORK/gen.txt"
packets=$(sed -n 's/.* packets=\([0-9]*\).*/\1/p' "$WORK/gen.txt")
sed -i "s|^nfacctd_port: .*|inputs: netflow\npcap_savefile: $EX/nf.pcap|" flowacct.conf
"$DAEMON" -f flowacct.conf --module-path "$MODS" 2>"$WORK/log" || { cat "$WORK/log"; fail "daemon run"; }
cat all.txt
expect_eq "$(awk 'NR > 1 && NF { print $1, $2, $3 }' all.txt)" "100 2 127.0.0.1" "tag from the input interface, tag2 from the output interface"
expect_eq "$(sum_col all.txt PACKETS)" "$packets" "every packet is tagged"
expect_eq "$(sum_col cust100.txt PACKETS)" "$packets" "pre_tag_filter 100 keeps the tagged records"
others=0
[ -f others.txt ] && others=$(sum_col others.txt PACKETS)
expect_eq "$others" 0 "pre_tag_filter -100 in another pipeline drops them"
expect_contains "$WORK/log" "records_filtered 2000" "records dropped by the filter are counted"
