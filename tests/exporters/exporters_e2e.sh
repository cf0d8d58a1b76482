#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# nfprobe and sfprobe against real decoders on loopback: a capture replayed through flowacctd is
# exported as NetFlow v5, v9, IPFIX and sFlow at once; tshark decodes every datagram without a
# malformed packet, nfdump's nfcapd stores the same totals, and flowacct's own netflow and sflow
# inputs, replaying the captured exports, rebuild exactly the table of the capture.
source "$(dirname "$0")/../e2e/lib.sh"
for tool in dumpcap tshark nfcapd nfdump; do
  command -v $tool >/dev/null || { echo "skip: $tool not installed"; exit 0; }
done
MODS=$(make_moddir)
PCAP=$SRC/etc/samples/sample.pcap
BASE=$((20000 + RANDOM % 20000))
P5=$BASE; P9=$((BASE + 1)); P10=$((BASE + 2)); PS=$((BASE + 3)); PN=$((BASE + 4))
# Datagrams the exporters of daemon logs sent (counters logged at exit), captured in a file so far, and
# whether a UDP socket's receive queue is empty: the captures and nfcapd are stopped only once
# they hold everything that was sent (they are not given a fixed time).
sent_datagrams() { sed -n 's/.*\] datagrams_sent \([0-9]*\)$/\1/p' "$@" | awk '{ s += $1 } END { print s + 0 }'; }
captured() { tshark -r "$1" 2>/dev/null | wc -l; }
has_captured() { [ "$(captured "$1")" -ge "$2" ]; }
udp_drained() { [ "$(ss -Hlun "sport = :$1" | awk '{ print $2 }')" = 0 ]; }

# nfcapd's export goes with nfprobe_udp_gso (runs of datagrams cut by the kernel): a capture on lo
# would show a run as one packet, so the capture leaves nfcapd's port out; nfcapd checks it.
dumpcap -i lo -f "udp and dst portrange $P5-$PS" -w "$WORK/exports.pcapng" 2>"$WORK/dumpcap.log" &
cap=$!
capturing() { grep -q "Capturing on" "$1" || ! kill -0 $cap 2>/dev/null; } # or dumpcap failed
poll 60 capturing "$WORK/dumpcap.log" || true
grep -q "Capturing on" "$WORK/dumpcap.log" || { cat "$WORK/dumpcap.log"; echo "skip: cannot capture on lo"; exit 0; }
mkdir -p "$WORK/nfcapd"
nfcapd -b 127.0.0.1 -p $PN -w "$WORK/nfcapd" -t 3600 >"$WORK/nfcapd.log" 2>&1 &
nfc=$!
wait_udp_port $PN

TABLE="src_host, dst_host, src_port, dst_port, proto"
cat > "$WORK/exp.conf" <<CONF
inputs: pcap
pcap_savefile: $PCAP
pcap_filter: ip or ip6
plugins: print[ref], nfprobe[v5], nfprobe[v9], nfprobe[v10], nfprobe[nfcapd], sfprobe[sf]
aggregate[ref]: $TABLE
print_output[ref]: csv
print_output_file[ref]: $WORK/ref.csv
nfprobe_receiver[v5]: 127.0.0.1:$P5
nfprobe_version[v5]: 5
nfprobe_receiver[v9]: 127.0.0.1:$P9
nfprobe_version[v9]: 9
nfprobe_receiver[v10]: 127.0.0.1:$P10
nfprobe_receiver[nfcapd]: 127.0.0.1:$PN
nfprobe_udp_gso[nfcapd]: true
nfprobe_engine: 3:7
sfprobe_receiver[sf]: 127.0.0.1:$PS
sfprobe_agentip[sf]: 192.0.2.10
CONF
"$BUILD/sbin/flowacctd" -f "$WORK/exp.conf" --module-path "$MODS" 2>"$WORK/exp.log" || { cat "$WORK/exp.log"; fail "exporter run"; }
sent=$(grep -v '\[nfcapd/' "$WORK/exp.log" | sent_datagrams)
poll 60 has_captured "$WORK/exports.pcapng" "$sent" || fail "dumpcap captured every exported datagram ($(captured "$WORK/exports.pcapng") of $sent)"
poll 60 udp_drained $PN || fail "nfcapd read every datagram sent to it"
pass "dumpcap captured the $sent exported datagrams, nfcapd read its own"
kill -TERM $nfc $cap; wait $nfc $cap 2>/dev/null || true

ref_packets=$(awk -F, 'NR > 1 { s += $6 } END { print s + 0 }' "$WORK/ref.csv")
ref_bytes=$(awk -F, 'NR > 1 { s += $7 } END { print s + 0 }' "$WORK/ref.csv")
[ "$ref_packets" -gt 1000 ] || fail "the reference table counted the capture ($ref_packets packets)"

# tshark: every export decodes, none malformed.
decode="-d udp.port==$P5,cflow -d udp.port==$P9,cflow -d udp.port==$P10,cflow -d udp.port==$PN,cflow -d udp.port==$PS,sflow"
total=$(tshark -r "$WORK/exports.pcapng" $decode 2>/dev/null | wc -l)
cflow=$(tshark -r "$WORK/exports.pcapng" $decode -Y cflow 2>/dev/null | wc -l)
sflow=$(tshark -r "$WORK/exports.pcapng" $decode -Y sflow 2>/dev/null | wc -l)
bad=$(tshark -r "$WORK/exports.pcapng" $decode -Y '_ws.malformed || _ws.expert.severity >= warning' 2>/dev/null | wc -l)
[ "$total" -gt 10 ] || fail "datagrams captured ($total)"
expect_eq "$((cflow + sflow))" "$total" "tshark decodes every datagram as NetFlow/IPFIX or sFlow"
expect_eq "$bad" 0 "tshark: no malformed datagram, no warning"
# (the engine type has no name beyond 0-2, and "Unknown Protocol Packets" is a counter's name)
unknown=$(tshark -r "$WORK/exports.pcapng" $decode -V 2>/dev/null | grep -i "unknown" |
  grep -v -e "EngineType: Unknown" -e "Unknown Protocol Packets" | wc -l || true)
expect_eq "$unknown" 0 "tshark: no unknown field or template"

# nfcapd: same packets and bytes as the table of the capture.
nfdump -R "$WORK/nfcapd" -I > "$WORK/nfdump.txt" 2>&1 || { cat "$WORK/nfdump.txt"; fail "nfdump"; }
nf_flows=$(awk '/^Flows:/ { print $2 }' "$WORK/nfdump.txt")
expect_eq "$(awk '/^Packets:/ { print $2 }' "$WORK/nfdump.txt")" "$ref_packets" "nfcapd/nfdump: packets equal the table of the capture"
expect_eq "$(awk '/^Bytes:/ { print $2 }' "$WORK/nfdump.txt")" "$ref_bytes" "nfcapd/nfdump: bytes equal the table of the capture"
expect_contains "$WORK/exp.log" "flows_exported" "the exporters log their counters"

# Round trips: each export replayed into flowacct's own collector rebuilds the same table.
for leg in "$P9 netflow v9" "$P10 netflow ipfix" "$PS sflow sflow" "$P5 netflow v5"; do
  set -- $leg
  port=$1 input=$2 name=$3
  tshark -r "$WORK/exports.pcapng" -Y "udp.dstport == $port" -F pcap -w "$WORK/$name.pcap" 2>/dev/null
  cat > "$WORK/$name.conf" <<CONF
inputs: $input
pcap_savefile: $WORK/$name.pcap
plugins: print[rt]
aggregate: $TABLE
print_output: csv
print_output_file: $WORK/$name.csv
CONF
  "$BUILD/sbin/flowacctd" -f "$WORK/$name.conf" --module-path "$MODS" 2>"$WORK/$name.log" || { cat "$WORK/$name.log"; fail "$name collector"; }
  if [ "$name" = v5 ]; then
    # v5 carries IPv4 only: compare the IPv4 rows.
    grep -v ':' "$WORK/ref.csv" | tail -n +2 | sort > "$WORK/ref4.sorted"
    tail -n +2 "$WORK/$name.csv" | sort > "$WORK/$name.sorted"
    cmp -s "$WORK/ref4.sorted" "$WORK/$name.sorted" || { diff "$WORK/ref4.sorted" "$WORK/$name.sorted" | head; fail "v5 round trip"; }
    pass "pcap -> nfprobe v5 -> netflow input: the IPv4 table equals pcap -> table"
  else
    tail -n +2 "$WORK/ref.csv" | sort > "$WORK/ref.sorted"
    tail -n +2 "$WORK/$name.csv" | sort > "$WORK/$name.sorted"
    cmp -s "$WORK/ref.sorted" "$WORK/$name.sorted" || { diff "$WORK/ref.sorted" "$WORK/$name.sorted" | head; fail "$name round trip"; }
    pass "pcap -> ${name} export -> $input input: the table equals pcap -> table"
  fi
done
# pmacct's collectors replaying the same exports: the same packet and byte totals.
csv_sum() { awk -F, -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next } c { s += $c } END { print s + 0 }' "$1"; }
for leg in "nfacctd v9" "nfacctd ipfix" "sfacctd sflow"; do
  set -- $leg
  daemon=$1 name=$2
  command -v $daemon >/dev/null || { echo "skip: $daemon not installed"; continue; }
  cat > "$WORK/$name.pm.conf" <<CONF
daemonize: false
pcap_savefile: $WORK/$name.pcap
plugins: print[p]
aggregate[p]: src_host,dst_host,src_port,dst_port,proto
print_output[p]: csv
print_output_file[p]: $WORK/$name.pm.csv
print_refresh_time[p]: 3600
CONF
  timeout 60 $daemon -f "$WORK/$name.pm.conf" >"$WORK/$name.pm.log" 2>&1 || { cat "$WORK/$name.pm.log"; fail "$daemon on the $name export"; }
  expect_eq "$(csv_sum "$WORK/$name.pm.csv" PACKETS) $(csv_sum "$WORK/$name.pm.csv" BYTES)" "$ref_packets $ref_bytes" \
    "$daemon decodes the $name export with the totals of the capture"
done

# Conversions in one daemon each, from the exports captured above: sFlow in -> IPFIX out,
# NetFlow v5 in -> v9 out, IPFIX in -> sFlow out. Each result, collected again, rebuilds the table.
C1=$((BASE + 10)); C2=$((BASE + 11)); C3=$((BASE + 12))
dumpcap -i lo -f "udp and dst portrange $C1-$C3" -w "$WORK/conv.pcapng" 2>"$WORK/dumpcap2.log" &
cap=$!
poll 60 capturing "$WORK/dumpcap2.log" || true
grep -q "Capturing on" "$WORK/dumpcap2.log" || { cat "$WORK/dumpcap2.log"; fail "second capture on lo"; }
convert() { # input savefile exporter key=value...
  local input=$1 file=$2 plugin=$3; shift 3
  { echo "inputs: $input"; echo "pcap_savefile: $WORK/$file.pcap"; echo "plugins: $plugin"; printf '%s\n' "$@"; } > "$WORK/conv-$file.conf"
  "$BUILD/sbin/flowacctd" -f "$WORK/conv-$file.conf" --module-path "$MODS" 2>"$WORK/conv-$file.log" ||
    { cat "$WORK/conv-$file.log"; fail "conversion from $file"; }
}
convert sflow sflow nfprobe "nfprobe_receiver: 127.0.0.1:$C1" "nfprobe_version: 10"
convert netflow v5 nfprobe "nfprobe_receiver: 127.0.0.1:$C2" "nfprobe_version: 9"
convert netflow ipfix sfprobe "sfprobe_receiver: 127.0.0.1:$C3"
sent=$(sent_datagrams "$WORK"/conv-*.log)
poll 60 has_captured "$WORK/conv.pcapng" "$sent" || fail "dumpcap captured every converted datagram ($(captured "$WORK/conv.pcapng") of $sent)"
pass "dumpcap captured the $sent converted datagrams"
kill -TERM $cap; wait $cap 2>/dev/null || true
collect() { # port input reference label [extra key]
  tshark -r "$WORK/conv.pcapng" -Y "udp.dstport == $1" -F pcap -w "$WORK/c$1.pcap" 2>/dev/null
  { echo "inputs: $2"; echo "pcap_savefile: $WORK/c$1.pcap"; echo "plugins: print"; echo "aggregate: $TABLE"
    echo "print_output: csv"; echo "print_output_file: $WORK/c$1.csv"; [ -n "${5:-}" ] && echo "$5"; } > "$WORK/c$1.conf"
  "$BUILD/sbin/flowacctd" -f "$WORK/c$1.conf" --module-path "$MODS" 2>"$WORK/c$1.log" || { cat "$WORK/c$1.log"; fail "collect $4"; }
  tail -n +2 "$WORK/c$1.csv" | sort > "$WORK/c$1.sorted"
  cmp -s "$3" "$WORK/c$1.sorted" || { diff "$3" "$WORK/c$1.sorted" | head; fail "$4"; }
  pass "$4"
}
collect $C1 netflow "$WORK/ref.sorted" "sFlow in -> nfprobe IPFIX out: the same table"
collect $C2 netflow "$WORK/ref4.sorted" "NetFlow v5 in -> nfprobe v9 out: the same table"
collect $C3 sflow "$WORK/ref.sorted" "IPFIX in -> sfprobe out (renormalized): the same table" "sfacctd_renormalize: true"

exported=$(grep -o '\[nfcapd/nfprobe\] flows_exported [0-9]*' "$WORK/exp.log" | tail -1 | awk '{ print $3 }')
expect_eq "$nf_flows" "$exported" "nfcapd/nfdump: as many flows as nfprobe exported"
