#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Two inputs in one host: NetFlow (IPFIX) and sFlow feeding the same pipelines
# (`inputs: netflow[nf], sflow[sf]`), here replayed from savefiles; and the same two live over UDP
# on loopback. pmacct needs a daemon per protocol.
source "$(dirname "$0")/lib.sh"
MODS=$(make_moddir)
GEN_NF=$BUILD/bin/flowacct-gen-netflow
GEN_SF=$BUILD/bin/flowacct-gen-sflow
[ -x "$GEN_NF" ] && [ -x "$GEN_SF" ] || fail "the generators are built"
nf=$("$GEN_NF" -v 10 -n 20000 -k 500 -w "$WORK/nf.pcap")
sf=$("$GEN_SF" --samples 8000 --keys 300 --pcap "$WORK/sf.pcap")
nf_packets=$(echo "$nf" | sed -n 's/.*packets=\([0-9]*\).*/\1/p')
sf_packets=8000
cat > "$WORK/two.conf" <<CONF
inputs: netflow[nf], sflow[sf]
pcap_savefile[nf]: $WORK/nf.pcap
pcap_savefile[sf]: $WORK/sf.pcap
plugins: print[by_exporter], print[total]
aggregate[by_exporter]: peer_src_ip
aggregate[total]: proto
print_output_file[by_exporter]: $WORK/exp.txt
print_output_file[total]: $WORK/total.txt
CONF
"$DAEMON" -f "$WORK/two.conf" --module-path "$MODS" 2>"$WORK/log" || { cat "$WORK/log"; fail "run"; }
expect_eq "$(sum_col "$WORK/total.txt" PACKETS)" "$((nf_packets + sf_packets))" "both inputs reach the same pipeline"
expect_eq "$(sum_col "$WORK/exp.txt" PACKETS)" "$((nf_packets + sf_packets))" "and the other pipeline too"
expect_contains "$WORK/log" "[nf/netflow] input ended" "the netflow input ended with its savefile"
expect_contains "$WORK/log" "[sf/sflow] input ended" "the sflow input ended with its savefile"

# Live: both protocols on their UDP ports at once.
NFPORT=$((20000 + RANDOM % 20000)); SFPORT=$((NFPORT + 1))
cat > "$WORK/live.conf" <<CONF
inputs: netflow[nf], sflow[sf]
nfacctd_ip: 127.0.0.1
nfacctd_port: $NFPORT
sfacctd_ip: 127.0.0.1
sfacctd_port: $SFPORT
plugins: print[total]
aggregate: proto
print_output_file: $WORK/live.txt
print_refresh_time: 3600
CONF
"$DAEMON" -f "$WORK/live.conf" --module-path "$MODS" 2>"$WORK/live.log" &
pid=$!
wait_udp_port $NFPORT; wait_udp_port $SFPORT
"$GEN_NF" -v 5 -n 3000 -k 100 -u 127.0.0.1:$NFPORT -r 2000 >"$WORK/nf.out"
"$GEN_SF" --samples 2000 --keys 100 --send 127.0.0.1:$SFPORT --pps 2000 >/dev/null
live_nf=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$WORK/nf.out")
# Stopped once the pipeline took every record sent (3000 NetFlow records, 2000 sFlow samples): a
# stop ends the inputs, and what they had not read yet would be lost to the count.
poll 60 counter_reaches $pid "$WORK/live.log" pipeline/total records_in 5000 ||
  fail "the pipeline took every live record ($(logged_counter "$WORK/live.log" pipeline/total records_in) of 5000)"
kill -TERM $pid
wait $pid || fail "live exit status"
expect_eq "$(sum_col "$WORK/live.txt" PACKETS)" "$((live_nf + 2000))" "live NetFlow and sFlow on their ports in one daemon"
