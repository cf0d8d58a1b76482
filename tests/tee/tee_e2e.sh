#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The tee output end to end on loopback: NetFlow datagrams sent to flowacctd from three exporter
# addresses are forwarded byte for byte to every pool of a tee_receivers map; round robin spreads
# evenly, hash-agent keeps an exporter on one receiver, tag= pools take only what pre_tag_map
# tagged, a receiver that is down counts send errors without stopping the others, a memory
# table in the same daemon stays exact, pmacct's nfacctd fed by the tee counts what was sent,
# SIGUSR2 reloads the map, datagrams no pool takes are counted; sFlow from a savefile, with and
# without tee_transparent (which keeps the exporter's address and port, and needs CAP_NET_RAW).
source "$(dirname "$0")/../e2e/lib.sh"
MODS=$(make_moddir)
GEN_NF=$BUILD/bin/flowacct-gen-netflow
GEN_SF=$BUILD/bin/flowacct-gen-sflow
CLIENT=$BUILD/bin/flowacct
TOOL="python3 $SRC/tests/tee/udp_tool.py"
[ -x "$GEN_NF" ] && [ -x "$GEN_SF" ] || fail "the generators are built"
ip -4 addr show lo | grep -c "127.0.0.1/8" >/dev/null || fail "127.0.0.0/8 on lo"

BASE=$((20000 + RANDOM % 20000))
D=$BASE; R1=$((BASE + 1)); R2=$((BASE + 2)); R3=$((BASE + 3)); R4=$((BASE + 4)); R5=$((BASE + 5))
R6=$((BASE + 6)); R7=$((BASE + 7)); R8=$((BASE + 8)); DOWN=$((BASE + 9)); NFA=$((BASE + 10))

# Lines of files (together) once they have at least N (bounded by time, 60 s).
lines_of() { cat "$@" 2>/dev/null | wc -l; }
has_lines() { local want=$1; shift; [ "$(lines_of "$@")" -ge "$want" ]; }
wait_lines() { # FILE N
  poll 60 has_lines "$2" "$1" || fail "timed out waiting for $2 lines in $1 (have $(lines_of "$1"))"
}
# The value of a counter from the lines the daemon logs at exit: "<owner> <name>{labels} = N"-style.
counter() { grep "counter .*$1" "$2" | sed -n 's/.*[ =]\([0-9][0-9]*\)$/\1/p' | tail -1; }
receiver() { $TOOL recv "$1" "$WORK/r$1.log" & echo $! >"$WORK/r$1.pid"; }
hashes_of() { awk '{ print $3, $4 }' "$1" | sort; }

gen=$("$GEN_NF" -v 5 -n 9000 -k 300 -p 30 -w "$WORK/nf.pcap")
N=$(echo "$gen" | sed -n 's/.*datagrams=\([0-9]*\).*/\1/p')
PACKETS=$(echo "$gen" | sed -n 's/.*packets=\([0-9]*\).*/\1/p')
BYTES=$(echo "$gen" | sed -n 's/.* bytes=\([0-9]*\).*/\1/p')
[ "$N" -ge 100 ] || fail "generated datagrams ($N)"

for p in $R1 $R2 $R3 $R4 $R5 $R6 $R7 $R8; do receiver $p; done
cat > "$WORK/nfa.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $NFA
nfacctd_pipe_size: 4194304
plugins: print[p]
aggregate[p]: proto
print_output[p]: csv
print_output_file[p]: $WORK/nfa.csv
print_output_file_append[p]: true
print_refresh_time[p]: 1
CONF
have_nfacctd=0
if command -v nfacctd >/dev/null; then
  # In its own session: pmacct signals its whole process group when it stops.
  setsid nfacctd -f "$WORK/nfa.conf" >"$WORK/nfa.log" 2>&1 &
  nfa_pid=$!
  have_nfacctd=1
fi

cat > "$WORK/receivers.lst" <<MAP
! rr over two, a full copy, hash-agent over two, the tagged exporter only, one receiver down
id=1 ip=127.0.0.1:$R1,127.0.0.1:$R2 balance-alg=rr
id=2 ip=127.0.0.1:$R3
id=3 ip=127.0.0.1:$R4,127.0.0.1:$R5 balance-alg=hash-agent
id=4 ip=127.0.0.1:$R6 tag=100
id=5 ip=127.0.0.1:$DOWN,127.0.0.1:$R7
id=6 ip=127.0.0.1:$NFA
MAP
echo "set_tag=100 ip=127.0.0.2" >"$WORK/pretag.map"
cat > "$WORK/tee.conf" <<CONF
inputs: netflow
nfacctd_ip: 127.0.0.1
nfacctd_port: $D
nfacctd_pipe_size: 4194304
plugins: tee[t], memory[m]
tee_receivers[t]: $WORK/receivers.lst
pre_tag_map[t]: $WORK/pretag.map
aggregate[m]: proto
imt_path[m]: $WORK/m.pipe
CONF
"$DAEMON" -f "$WORK/tee.conf" --module-path "$MODS" 2>"$WORK/tee.log" &
pid=$!
wait_udp_port $D
for p in $R1 $R2 $R3 $R4 $R5 $R6 $R7 $R8; do wait_udp_port $p; done
[ $have_nfacctd = 1 ] && wait_udp_port $NFA
$TOOL send "$WORK/nf.pcap" 127.0.0.1:$D 127.0.0.2,127.0.0.3,127.0.0.4 "$WORK/sent.log"
awk '{ print $2 }' "$WORK/sent.log" | sort >"$WORK/sent.sha"
expect_eq "$(wc -l <"$WORK/sent.log")" "$N" "the sender sent every generated datagram"
wait_lines "$WORK/r$R3.log" "$N"
wait_lines "$WORK/r$R7.log" "$N"

# Byte for byte: length and SHA-1 of every datagram, as a multiset.
expect_eq "$($TOOL hashes "$WORK/nf.pcap" | awk '{ print $3, $4 }' | sort | cmp - <(hashes_of "$WORK/r$R3.log") && echo same)" same \
  "a pool without balancing gets every datagram, byte-identical (length and SHA-1)"

# Round robin: every datagram once, evenly.
poll 60 has_lines "$N" "$WORK/r$R1.log" "$WORK/r$R2.log" || true
n1=$(wc -l <"$WORK/r$R1.log"); n2=$(wc -l <"$WORK/r$R2.log")
expect_eq "$((n1 + n2))" "$N" "rr: each datagram to one receiver of the pool"
diff=$((n1 > n2 ? n1 - n2 : n2 - n1))
[ $diff -le 1 ] || fail "rr spreads evenly ($n1 / $n2)"
pass "rr spreads evenly ($n1 / $n2)"
expect_eq "$(cat "$WORK/r$R1.log" "$WORK/r$R2.log" | awk '{ print $4 }' | sort | cmp - "$WORK/sent.sha" && echo same)" same \
  "rr: the two receivers together got every datagram"

# hash-agent: one exporter, one receiver; both receivers together got everything.
wait_lines "$WORK/r$R4.log" 1
poll 60 has_lines "$N" "$WORK/r$R4.log" "$WORK/r$R5.log" || true
awk '{ print $4, FILENAME }' "$WORK/r$R4.log" "$WORK/r$R5.log" | sort >"$WORK/hash.rx"
sort -k2 "$WORK/sent.log" | awk '{ print $2, $1 }' | sort >"$WORK/sent.by_hash"
per_exporter=$(join "$WORK/sent.by_hash" "$WORK/hash.rx" | awk '{ print $2, $3 }' | sort -u | awk '{ print $1 }' | uniq -d | wc -l)
expect_eq "$(wc -l <"$WORK/hash.rx")" "$N" "hash-agent: each datagram to one receiver of the pool"
expect_eq "$per_exporter" 0 "hash-agent: every exporter always goes to the same receiver"
used=$(join "$WORK/sent.by_hash" "$WORK/hash.rx" | awk '{ print $3 }' | sort -u | wc -l)
pass "hash-agent: three exporters over $used receiver(s)"

# tag=100: only what pre_tag_map tagged (the exporter 127.0.0.2).
tagged=$(grep -c '^127.0.0.2 ' "$WORK/sent.log")
wait_lines "$WORK/r$R6.log" "$tagged"
expect_eq "$(awk '{ print $4 }' "$WORK/r$R6.log" | sort | cmp - <(awk '$1 == "127.0.0.2" { print $2 }' "$WORK/sent.log" | sort) && echo same)" same \
  "tag=100: exactly the datagrams of the exporter pre_tag_map tagged 100"

# A receiver that is down does not stop the other receiver of its pool.
expect_eq "$(wc -l <"$WORK/r$R7.log")" "$N" "the receiver next to a dead one got every datagram"

# The memory table of the same daemon is exact.
table_full() { "$CLIENT" -s -p "$WORK/m.pipe" >"$WORK/m.txt" 2>/dev/null && [ "$(sum_col "$WORK/m.txt" PACKETS)" = "$PACKETS" ]; }
poll 60 table_full || true
expect_eq "$(sum_col "$WORK/m.txt" PACKETS) $(sum_col "$WORK/m.txt" BYTES)" "$PACKETS $BYTES" \
  "tee and memory in one daemon: the memory table counts what was generated"

# Reload: a new map takes over on SIGUSR2; a pool with tag= only leaves the rest unmatched.
echo "id=1 ip=127.0.0.1:$R8 tag=100" >"$WORK/receivers.lst"
kill -USR2 $pid
poll 60 grep -q 'receivers.lst: 1 pools' "$WORK/tee.log" || true
expect_contains "$WORK/tee.log" "receivers.lst: 1 pools, 1 receivers" "SIGUSR2 reloads tee_receivers"
$TOOL send "$WORK/nf.pcap" 127.0.0.1:$D 127.0.0.2,127.0.0.3 "$WORK/sent2.log"
tagged2=$(grep -c '^127.0.0.2 ' "$WORK/sent2.log")
wait_lines "$WORK/r$R8.log" "$tagged2"
# The untagged datagrams of the second run may still be in the socket: stopped once the tee counted
# them all unmatched (SIGUSR1 logs the counters), else the count read at exit falls short.
all_unmatched() { local c; kill -USR1 $pid; c=$(counter "datagrams_unmatched" "$WORK/tee.log"); [ "${c:-0}" -ge $((N - tagged2)) ]; }
poll 60 all_unmatched || true
r3_before=$(wc -l <"$WORK/r$R3.log")
kill -TERM $pid
wait $pid || { cat "$WORK/tee.log"; fail "tee daemon exit status"; }
expect_eq "$(wc -l <"$WORK/r$R8.log")" "$tagged2" "after the reload, the new pool gets the tagged datagrams only"
expect_eq "$r3_before" "$N" "after the reload, the old pools get nothing more"
expect_eq "$(counter "datagrams_unmatched" "$WORK/tee.log")" "$((N - tagged2))" "datagrams no pool took are counted"
errors=$(counter "send_errors{pool=5,receiver=127.0.0.1:$DOWN}" "$WORK/tee.log")
[ "${errors:-0}" -gt 0 ] || { grep counter "$WORK/tee.log"; fail "the receiver that is down counts send errors"; }
pass "the receiver that is down counts send errors ($errors)"
expect_eq "$(counter "datagrams_forwarded{pool=5,receiver=127.0.0.1:$R7}" "$WORK/tee.log")" "$N" \
  "datagrams forwarded are counted per receiver"

# pmacct's nfacctd fed by the tee counts what was generated.
if [ $have_nfacctd = 1 ]; then
  # nfacctd's core hands records to its print plugin in buffers, written every second (appended):
  # poll until the totals stop short of nothing, or time out.
  csv_sum() { awk -F, -v col="$2" '$0 ~ /^[A-Z_,]+$/ { for (i = 1; i <= NF; i++) if ($i == col) c = i; next } c { s += $c } END { print s + 0 }' "$1" 2>/dev/null || echo 0; }
  nfa_has_all() { [ "$(csv_sum "$WORK/nfa.csv" PACKETS)" -ge "$PACKETS" ]; }
  poll 60 nfa_has_all || true
  # The totals once every record is written. Read before the stop: a purge of pmacct's print plugin
  # interrupted by the stop can write a row a second time (seen once: one 13-packet row twice).
  nfa_got="$(csv_sum "$WORK/nfa.csv" PACKETS) $(csv_sum "$WORK/nfa.csv" BYTES)"
  # pmacct purges its caches and exits on SIGINT.
  kill -INT $nfa_pid
  nfa_gone() { ! kill -0 $nfa_pid 2>/dev/null; }
  poll 60 nfa_gone || true
  kill -0 $nfa_pid 2>/dev/null && { kill -KILL $nfa_pid; fail "nfacctd did not stop on SIGINT"; }
  [ "$nfa_got" = "$PACKETS $BYTES" ] || grep -v "^INFO" "$WORK/nfa.log" >&2 || true
  expect_eq "$nfa_got" "$PACKETS $BYTES" "nfacctd receiving the tee'd stream counts the generated totals"
else
  echo "skip: nfacctd not installed"
fi

# sFlow from a savefile, forwarded as it is; with tee_transparent the exporter's address and port stay.
"$GEN_SF" --samples 3000 --keys 100 --pcap "$WORK/sf.pcap" >/dev/null
$TOOL hashes "$WORK/sf.pcap" | sort >"$WORK/sf.expected"
SFN=$(wc -l <"$WORK/sf.expected")
sflow_run() { # name transparent receiver-port
  echo "id=1 ip=127.0.0.1:$3" >"$WORK/sf-$1.lst"
  cat > "$WORK/sf-$1.conf" <<CONF
inputs: sflow
pcap_savefile: $WORK/sf.pcap
plugins: tee[t]
tee_receivers: $WORK/sf-$1.lst
tee_transparent: $2
CONF
  "$DAEMON" -f "$WORK/sf-$1.conf" --module-path "$MODS" 2>"$WORK/sf-$1.log"
}
sflow_run plain false $R1
# R1 already holds the NetFlow datagrams of the rr pool: count only the new ones.
wait_lines "$WORK/r$R1.log" $((n1 + SFN))
expect_eq "$(tail -n "$SFN" "$WORK/r$R1.log" | awk '{ print $3, $4 }' | sort | cmp - <(awk '{ print $3, $4 }' "$WORK/sf.expected" | sort) && echo same)" same \
  "sFlow from a savefile: every datagram forwarded byte for byte"
if capsh --has-p=cap_net_raw 2>/dev/null; then
  sflow_run transparent true $R2 || { cat "$WORK/sf-transparent.log"; fail "transparent run"; }
  wait_lines "$WORK/r$R2.log" $((n2 + SFN))
  expect_eq "$(tail -n "$SFN" "$WORK/r$R2.log" | sort | cmp - "$WORK/sf.expected" && echo same)" same \
    "tee_transparent: the receiver sees the exporter's address and port, and the same bytes"
  # Without CAP_NET_RAW, a clear error at start instead of a silent fallback.
  if capsh --drop=cap_net_raw -- -c "'$DAEMON' -f '$WORK/sf-transparent.conf' --module-path '$MODS'" 2>"$WORK/noraw.log"; then
    fail "tee_transparent without CAP_NET_RAW must not start"
  fi
  expect_contains "$WORK/noraw.log" "CAP_NET_RAW" "tee_transparent without CAP_NET_RAW: the error says what is needed"
  expect_contains "$WORK/noraw.log" "tee_transparent" "and names the key"
else
  echo "skip: no CAP_NET_RAW for tee_transparent"
fi

# Map errors name file and line; keys a datagram cannot match are refused in its pre_tag_map.
printf 'id=1 ip=127.0.0.1:%s\nid=2 ip=127.0.0.1:%s balance-alg=random\n' $R1 $R2 >"$WORK/bad.lst"
cat > "$WORK/bad.conf" <<CONF
inputs: netflow
nfacctd_port: 0
plugins: tee[t]
tee_receivers: $WORK/bad.lst
CONF
"$DAEMON" -f "$WORK/bad.conf" --module-path "$MODS" 2>"$WORK/bad.log" && fail "a bad map must stop the start"
expect_contains "$WORK/bad.log" "bad.lst:2: balance-alg" "a map error names file and line"
echo "id=1 ip=127.0.0.1:$R1" >"$WORK/bad.lst"
echo "set_tag=5 ip=127.0.0.2 in=3" >"$WORK/bad.map"
echo "pre_tag_map: $WORK/bad.map" >>"$WORK/bad.conf"
"$DAEMON" -f "$WORK/bad.conf" --module-path "$MODS" 2>"$WORK/bad2.log" && fail "a pre_tag_map key a datagram cannot match must stop the start"
expect_contains "$WORK/bad2.log" "bad.map:1: key 'in'" "pre_tag_map of a tee pipeline: other keys than ip and set_tag are refused"
echo "aggregate[t]: proto" >>"$WORK/bad.conf"
sed -i '/pre_tag_map/d' "$WORK/bad.conf"
"$DAEMON" -f "$WORK/bad.conf" --module-path "$MODS" 2>"$WORK/bad3.log" && fail "aggregate on a tee pipeline must stop the start"
expect_contains "$WORK/bad3.log" "has no aggregation" "a tee pipeline refuses aggregation keys"
