#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon classifies a generated capture of known streams (HTTP, SMTP, SSH, POP3, FTP, NNTP,
# RTSP, eDonkey, TLS, DNS, BitTorrent and two unknowns) with the shipped classifiers: every
# stream gets its class in both directions, nothing gets a wrong class, unknown streams stay
# unknown, the TLS server name reaches the label, and the memory table answers `-c class`.
source "$(dirname "$0")/../e2e/lib.sh"
GEN=$BUILD/bin/flowacct-gen-classify
CLIENT=$BUILD/bin/flowacct
STREAMS=20
"$GEN" --streams $STREAMS --data 6 -o "$WORK/cls.pcap" >"$WORK/expected"
mkdir -m 755 "$WORK/classifiers"
cp "$BUILD"/lib/flowacct/classifiers/* "$WORK/classifiers/"
cat > "$WORK/c.conf" <<CONF
pcap_savefile: $WORK/cls.pcap
snaplen: 600
classifiers: $WORK/classifiers
plugins: print[c], print[l], memory[m]
aggregate[c]: class, src_host, dst_host
print_output[c]: csv
print_output_file[c]: $WORK/c.csv
aggregate[l]: class, label
print_output[l]: csv
print_output_file[l]: $WORK/l.csv
print_refresh_time[c]: 3600
print_refresh_time[l]: 3600
aggregate[m]: class
imt_path[m]: $WORK/m.pipe
pcap_savefile_wait: true
CONF
"$DAEMON" -f "$WORK/c.conf" 2>"$WORK/log" &
pid=$!
# Stopped only once the memory table holds every packet of the capture: a stop ends the input, and
# frames it had not read yet would be missing from the print pipelines checked below.
PACKETS=$(awk '$1 == "packets" { print $2 }' "$WORK/expected")
table_full() {
  "$CLIENT" -s -p "$WORK/m.pipe" >"$WORK/m.txt" 2>"$WORK/client.err" && [ "$(sum_col "$WORK/m.txt" PACKETS)" = "$PACKETS" ]
}
poll 120 table_full || { cat "$WORK/log" "$WORK/client.err" "$WORK/m.txt"; fail "the memory table fills ($PACKETS packets)"; }
grep -c bittorrent "$WORK/m.txt" >/dev/null || fail "the memory table has a bittorrent row"
"$CLIENT" -c class -N ssl -p "$WORK/m.pipe" >"$WORK/n.txt" || fail "client -c class -N ssl"
[ "$(cat "$WORK/n.txt")" -gt 0 ] || fail "client -c class -N ssl counts ssl packets (got $(cat "$WORK/n.txt"))"
pass "flowacct -c class -N ssl answers by class name"
kill -TERM $pid
wait $pid || { cat "$WORK/log"; fail "daemon exit status"; }

# Per protocol index k (the generator's output order): the class name. Servers are 10.2.k.n
# and 2001:db8::2:kk0n; each stream has its own client.
awk -v streams=$STREAMS '
  function hex(s,   i, v) { v = 0; s = tolower(s); for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
  function proto_of(ip,   p, n) {
    n = split(ip, p, ".")
    if (n == 4 && p[1] == 10 && p[2] == 2) return p[3]
    if (ip ~ /^2001:db8::2:[0-9a-f]+$/) { n = split(ip, p, ":"); return int(hex(p[n]) / 256) }
    return -1
  }
  FNR == NR { if ($1 != "packets") name[n++] = $1; next }
  FNR == 1 { next }
  {
    split($0, f, ",")
    cls = f[1]; k = proto_of(f[2]); dir = "reply"
    if (k < 0) { k = proto_of(f[3]); dir = "original" }
    if (k < 0) { print "row without a known server: " $0; bad++; next }
    if (cls != name[k] && cls != "unknown") { print "wrong class " cls " for " name[k] ": " $0; bad++ }
    if (cls == name[k]) seen[k, dir]++
  }
  END {
    for (k = 0; k < n; k++) {
      if (name[k] == "unknown") continue
      for (d = 0; d < 2; d++) {
        dir = d ? "reply" : "original"
        if (seen[k, dir] != streams) { print name[k] " " dir ": " seen[k, dir] + 0 " of " streams " streams classified"; bad++ }
      }
    }
    exit bad > 0
  }' "$WORK/expected" "$WORK/c.csv" >"$WORK/check" || { cat "$WORK/check" >&2; fail "every stream classified in both directions"; }
pass "every stream of the 11 classes is classified in both directions; no stream gets a wrong class"
[ "$(grep -c '^unknown,10\.2\.1[12]\.\|^unknown,[0-9.]*,10\.2\.1[12]\.' "$WORK/c.csv")" -gt 0 ] || fail "unknown streams are listed as unknown"
pass "unknown streams stay unknown"
expect_contains "$WORK/l.csv" "www.example.com,ssl," "the TLS server name is the label of ssl streams"
expect_contains "$WORK/log" "streams_classified" "classification counters are logged"

# nDPI through the same shared-object ABI, when libndpi-dev was there at build time.
if [ -f "$BUILD/lib/flowacct/classifiers-ndpi/ndpi.so" ]; then
  mkdir -m 755 "$WORK/ndpi"
  cp "$BUILD/lib/flowacct/classifiers-ndpi/ndpi.so" "$WORK/ndpi/"
  cat > "$WORK/n.conf" <<CONF
pcap_savefile: $WORK/cls.pcap
snaplen: 600
classifiers: $WORK/ndpi
plugins: print[n]
aggregate[n]: class, label, dst_port
print_output[n]: csv
print_output_file[n]: $WORK/n.csv
CONF
  "$DAEMON" -f "$WORK/n.conf" 2>"$WORK/n.log" || { cat "$WORK/n.log"; fail "daemon with the nDPI classifier"; }
  expect_contains "$WORK/n.csv" "www.example.com,tls,443," "nDPI: TLS with its server name"
  expect_contains "$WORK/n.csv" "www.example.com,dns,53," "nDPI: DNS with the queried name"
  expect_contains "$WORK/n.csv" ",ssh,22," "nDPI: SSH"
  expect_contains "$WORK/n.csv" ",bittorrent,6881," "nDPI: BitTorrent"
  expect_contains "$WORK/n.csv" ",unknown,5555," "nDPI: the unknown stream stays unknown"
else
  echo "skip: the nDPI classifier was not built (libndpi-dev missing)"
fi
