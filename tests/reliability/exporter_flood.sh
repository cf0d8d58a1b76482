#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A spoofed flood: NetFlow v9 (template + data) from many random 127.x.y.z exporters, and sFlow from as
# many random agent addresses. State stays at its bound: exporters are evicted and counted, agents past
# the table share one entry, RSS stays flat, and every datagram is either a record or a socket drop.
source "$(dirname "$0")/lib.sh"
FIRST=${FLOOD_FIRST:-20000}
MORE=${FLOOD_MORE:-100000}
cat > "$WORK/f.conf" <<CONF
inputs: netflow[nf], sflow[sf]
nfacctd_ip: 127.0.0.1
nfacctd_port: 0
nfacctd_pipe_size: 8388608
sfacctd_ip: 127.0.0.1
sfacctd_port: 0
sfacctd_pipe_size: 8388608
plugins: print[p]
! The pipeline's queue (and so its pool of batches) capped at 32 batches, 7.4 MB: RSS then measures
! the per-exporter state, not how far a descheduled pipeline thread let the queue fill.
plugin_pipe_size: 2097152
aggregate: proto
print_refresh_time: 3600
print_output_file: $WORK/out.txt
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
CONF
start_daemon "$WORK/f.conf"
accounted() { echo $(( $(metric flowacct_records 'owner="nf/netflow"') + $(metric flowacct_sock_drops 'owner="nf/netflow"') )); }
$TOOL flood "$NF_PORT" "$FIRST" --kind v9 --seed 1 >/dev/null
$TOOL flood "$SF_PORT" "$FIRST" --kind sflow --seed 2 >/dev/null
at_least() { [ "$(accounted)" -ge "$1" ]; }
# Drops are read from the socket while it is idle too: no later datagram is needed to see them.
poll 60 at_least "$FIRST" || fail "the first $FIRST datagrams accounted as records or socket drops ($(accounted))"
pass "the first flood is accounted without a later datagram (sock_drops=$(metric flowacct_sock_drops 'owner="nf/netflow"'))"
rss0=$(rss_kb $PID)
$TOOL flood "$NF_PORT" "$MORE" --kind v9 --seed 3 >/dev/null
$TOOL flood "$SF_PORT" "$MORE" --kind sflow --seed 4 >/dev/null
total=$((FIRST + MORE))
poll 60 at_least "$total" || true
rss1=$(rss_kb $PID)
expect_eq "$(accounted)" "$total" "netflow: every spoofed datagram is a record or a counted socket drop"
# Every datagram received from a new address past the 4096-exporter bound evicts one (random
# addresses in 127/8 rarely repeat: 1 % slack).
evicted=$(metric flowacct_exporter_evicted)
received=$(metric flowacct_records 'owner="nf/netflow"')
[ "$evicted" -ge $(( (received - 4096) * 99 / 100 )) ] && [ "$evicted" -le "$received" ] ||
  fail "exporters evicted at the bound ($evicted of $received)"
pass "exporters evicted at the bound: exporter_evicted=$evicted"
other=$(metric flowacct_rx_datagrams 'exporter="other"')
[ "$other" -gt 0 ] || fail "exporters past the label bound share exporter=other"
pass "exporters past the label bound share exporter=other ($other datagrams)"
series=$($TOOL dump "$MPORT" | grep -c 'exporter=' || true)
[ "$series" -lt 40000 ] || fail "metric series bounded ($series)"
pass "metric series bounded ($series)"
sf_accounted() { echo $(( $(metric flowacct_records 'owner="sf/sflow"') + $(metric flowacct_sock_drops 'owner="sf/sflow"') )); }
sf_at_least() { [ "$(sf_accounted)" -ge "$1" ]; }
poll 60 sf_at_least "$total" || true
sf=$(sf_accounted)
expect_eq "$sf" "$total" "sflow: every spoofed datagram is a record or a counted socket drop"
full=$(metric flowacct_agent_table_full)
[ "$full" -gt 0 ] || fail "sflow agents past the table are counted (agent_table_full=$full)"
pass "sflow agents past the table are counted (agent_table_full=$full)"
echo "RSS after $FIRST: ${rss0} kB, after $total: ${rss1} kB"
expect_flat_rss "$rss0" "$rss1" 16384 "RSS flat under the flood"
stop_daemon TERM
