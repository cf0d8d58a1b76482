#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Malformed NetFlow v5/v9/IPFIX and sFlow datagrams over UDP to the running daemon: each is refused and
# counted under its own counter on /metrics, nothing crashes or hangs, and valid traffic after them is
# counted exactly. An sFlow agent restart is a sequence reset, not a loss.
source "$(dirname "$0")/lib.sh"
cat > "$WORK/f.conf" <<CONF
inputs: netflow[nf], sflow[sf]
nfacctd_ip: 127.0.0.1
nfacctd_port: 0
sfacctd_ip: 127.0.0.1
sfacctd_port: 0
plugins: print[p]
aggregate: src_host, dst_host, proto
print_refresh_time: 3600
print_output_file: $WORK/out.txt
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
CONF
start_daemon "$WORK/f.conf"
[ -n "$NF_PORT" ] && [ -n "$SF_PORT" ] || { cat "$WORK/log"; fail "both inputs listening"; }
check() { # CASE PORT COUNTER LABELS...: one datagram of CASE moves COUNTER by exactly one.
  local case=$1 port=$2 name=$3
  shift 3
  local before
  before=$(metric "$name" "$@")
  $TOOL send "$port" "$case"
  expect_eq "$(wait_metric $((before + 1)) "$name" "$@")" $((before + 1)) "$case counted as $name"
}
NF='exporter="127.0.0.1"'
check nf_short "$NF_PORT" flowacct_short_datagram "$NF"
check nf_bad_version "$NF_PORT" flowacct_bad_version "$NF"
check nf_v5_count "$NF_PORT" flowacct_v5_count_mismatch "$NF"
check nf_v9_set_len_zero "$NF_PORT" flowacct_bad_set_len "$NF"
check nf_v9_set_len_over "$NF_PORT" flowacct_bad_set_len "$NF"
check nf_v9_too_many_fields "$NF_PORT" flowacct_tmpl_rejected "$NF"
check nf_v9_zero_length_record "$NF_PORT" flowacct_tmpl_rejected "$NF"
check nf_v9_no_template "$NF_PORT" flowacct_no_template "$NF"
check nf_ipfix_msg_len "$NF_PORT" flowacct_bad_msg_len "$NF"
check nf_ipfix_reserved_set "$NF_PORT" flowacct_reserved_set_id "$NF"
check nf_ipfix_varlen "$NF_PORT" flowacct_bad_varlen "$NF"
check nf_ipfix_withdrawal "$NF_PORT" flowacct_udp_withdrawal_ignored "$NF"
check sf_short "$SF_PORT" flowacct_short_datagram 'owner="sf/sflow"'
check sf_bad_version "$SF_PORT" flowacct_bad_version 'owner="sf/sflow"'
check sf_bad_agent "$SF_PORT" flowacct_bad_agent_address 'owner="sf/sflow"'
check sf_sample_count "$SF_PORT" flowacct_drop_sample_count 'sub_agent="1"'
check sf_sample_length "$SF_PORT" flowacct_drop_sample_length 'sub_agent="2"'
check sf_record_count "$SF_PORT" flowacct_drop_record_count 'sub_agent="3"'
check sf_header_length "$SF_PORT" flowacct_drop_header_length 'sub_agent="4"'
check sf_rate_zero "$SF_PORT" flowacct_drop_sampling_rate 'sub_agent="5"'
expect_eq "$(metric flowacct_records "$NF")" 0 "no netflow record from a malformed datagram"
# The same batch again, a thousand times each, then valid traffic: still served, counted exactly.
# Sent as fast as Python can: what the socket could not hold is counted in sock_drops.
for c in nf_v9_set_len_zero nf_v9_too_many_fields nf_ipfix_varlen; do $TOOL send "$NF_PORT" "$c" --count 1000; done
for c in sf_sample_count sf_record_count sf_header_length; do $TOOL send "$SF_PORT" "$c" --count 1000; done
settle flowacct_rx_datagrams
$TOOL send "$NF_PORT" v9 --count 20 --records 10 --pps 1000
$TOOL send "$SF_PORT" sflow --count 20 --records 5 --source-id 7 --pps 1000
# SO_RXQ_OVFL reports drops with the next datagram read: the paced valid traffic brings them in.
seen() { echo $(( $(metric flowacct_rx_datagrams "owner=\"$1\"" 'exporter=') + $(metric flowacct_sock_drops "owner=\"$1\"") )); }
nf_at_least() { [ "$(seen nf/netflow)" -ge "$1" ]; }
poll 60 nf_at_least 3032 || true
expect_eq "$(seen nf/netflow)" 3032 "netflow: every datagram received or counted as a socket drop"
sf_seen() { echo $(( $(metric flowacct_rx_datagrams 'owner="sf/sflow"') - $(metric flowacct_rx_datagrams 'owner="sf/sflow"' agent=) + $(metric flowacct_sock_drops 'owner="sf/sflow"') )); }
sf_at_least() { [ "$(sf_seen)" -ge "$1" ]; }
poll 60 sf_at_least 3028 || true
expect_eq "$(sf_seen)" 3028 "sflow: every datagram received or counted as a socket drop"
echo "socket drops: netflow $(metric flowacct_sock_drops 'owner="nf/netflow"'), sflow $(metric flowacct_sock_drops 'owner="sf/sflow"')"
expect_metric 200 flowacct_records "$NF"
expect_metric 100 flowacct_records 'sub_agent="7"'
# An sFlow agent restart: datagram sequence and uptime back to the start.
$TOOL send "$SF_PORT" sflow --count 3 --records 2 --seq 5000 --uptime 86400000 --source-id 8
$TOOL send "$SF_PORT" sflow --count 3 --records 2 --seq 1 --uptime 1000 --source-id 8
expect_metric 12 flowacct_records 'sub_agent="8"'
expect_eq "$(metric flowacct_seq_reset 'sub_agent="8"')" 1 "sflow agent restart: seq_reset"
expect_eq "$(metric flowacct_seq_lost 'sub_agent="8"')" 0 "sflow agent restart: not counted as loss"
stop_daemon TERM
expect_eq "$(sum_col "$WORK/out.txt" PACKETS)" 312 "valid records after the malformed ones all reach the output"
