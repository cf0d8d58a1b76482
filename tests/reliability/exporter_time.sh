#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Exporter time faults: sysUptime across its 32-bit wrap, an exporter clock a year ahead (v9 and IPFIX),
# a restart (sequence and uptime back to zero, a new template layout under the same id), and
# nfacctd_time_new. Checked on the counters and on the time bins written (no bin in the future).
source "$(dirname "$0")/lib.sh"
conf() { # CONF-FILE OUT-FILE [extra key line]
  cat > "$1" <<CONF
inputs: netflow[nf]
nfacctd_ip: 127.0.0.1
nfacctd_port: 0
plugins: print[p]
aggregate: src_host, dst_host, proto
print_output: json
print_history: 1d
print_refresh_time: 3600
print_output_file: $2
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
${3:-}
CONF
}
# bins FILE [EPOCH]: "min max" of the bins (days relative to the UTC day of EPOCH, default now) and
# the packets of the rows.
bins() {
  python3 - "$1" "${2:-$(date +%s)}" <<'PY'
import json, sys, datetime
today = datetime.datetime.fromtimestamp(int(sys.argv[2]), datetime.timezone.utc).date()
days, pk = [], 0
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        days.append((datetime.datetime.strptime(r["stamp_inserted"], "%Y-%m-%d %H:%M:%S").date() - today).days)
        pk += r["packets"]
print(min(days), max(days), pk)
PY
}
NF='exporter="127.0.0.1"'
now=$(date +%s)
year_ahead=$((now + 365 * 86400))

conf "$WORK/a.conf" "$WORK/a.json"
start_daemon "$WORK/a.conf"
# 1. Uptime wrap: exported 1 s after the wrap, the flow started 5 s before it: 6 s old, not 49 days.
A='exporter="127.0.0.11"'
$TOOL send "$NF_PORT" v9 --src 127.0.0.11 --records 10 --uptime 1000 --first $((0xFFFFFFFF - 5000))
expect_metric 10 flowacct_records "$A"
expect_eq "$(metric flowacct_ts_stale "$A")" 0 "uptime wrap: not read as 49 days old"
expect_eq "$(metric flowacct_ts_future "$A")" 0 "uptime wrap: not read as in the future"
# 2. An exporter clock a year ahead (v9 header seconds, IPFIX absolute milliseconds): clamped and counted.
$TOOL send "$NF_PORT" v9 --src 127.0.0.12 --records 10 --secs $year_ahead
$TOOL send "$NF_PORT" ipfix --src 127.0.0.13 --records 10 --secs $year_ahead
expect_metric 10 flowacct_ts_future 'exporter="127.0.0.12"'
expect_metric 10 flowacct_ts_future 'exporter="127.0.0.13"'
expect_eq "$(( $(metric flowacct_records 'exporter="127.0.0.12"') + $(metric flowacct_records 'exporter="127.0.0.13"') ))" 20 \
  "records a year ahead are kept, clamped"
# 3. Exporter restart: sequence and uptime back to zero, and template 256 redefined with another layout.
R='exporter="127.0.0.14"'
$TOOL send "$NF_PORT" v9 --src 127.0.0.14 --records 10 --uptime 86400000 --seq 5000 --count 3
python3 -c "
import sys, time; sys.path.insert(0, '$(dirname "$0")')
import flowtool as t
fields = [(12, 4), (8, 4), (4, 1), (1, 4), (2, 4), (22, 4), (21, 4)]   # another layout, same id
now = int(time.time())
t.send_all($NF_PORT, [t.v9_packet(0, 2000, now, 10, first=500, fields=fields, packets=2)], src='127.0.0.14')
"
expect_metric 40 flowacct_records "$R"
expect_eq "$(metric flowacct_seq_reset "$R")" 1 "exporter restart: sequence reset counted"
expect_eq "$(metric flowacct_seq_lost "$R")" 0 "exporter restart: not counted as loss"
expect_eq "$(metric flowacct_tmpl_replaced "$R")" 1 "exporter restart: new layout replaces the template"
stop_daemon TERM
read -r lo hi pk < <(bins "$WORK/a.json")
expect_eq "$pk" 80 "every record written (10 wrap, 20 a year ahead, 30 before the restart, 10 x 2 packets after)"
[ "$hi" -le 0 ] || fail "no bin in the future (latest bin $hi days ahead)"
pass "no bin in the future"
[ "$lo" -ge -1 ] || fail "no bin 49 days back (earliest $lo)"
pass "no bin 49 days back"

# 4. nfacctd_time_new: records exported ten days ago (a clock behind, not stale) go to the bin of ten
# days back without it, to today's bin with it.
for tn in false true; do
  conf "$WORK/t.conf" "$WORK/t-$tn.json" "nfacctd_time_new: $tn"
  start_daemon "$WORK/t.conf"
  # Days counted from the moment of sending (not from the check): a run across midnight UTC keeps
  # the same expected bins.
  sent_at=$(date +%s)
  $TOOL send "$NF_PORT" v9 --records 10 --secs $((sent_at - 10 * 86400))
  expect_metric 10 flowacct_records "$NF"
  expect_eq "$(metric flowacct_ts_stale "$NF")" 0 "ten days back is not stale"
  stop_daemon TERM
  read -r lo hi pk < <(bins "$WORK/t-$tn.json" "$sent_at")
  expect_eq "$pk" 10 "nfacctd_time_new=$tn: every record written"
  if [ $tn = true ]; then expect_eq "$lo $hi" "0 0" "nfacctd_time_new=true: binned by arrival"
  else expect_eq "$lo $hi" "-10 -10" "nfacctd_time_new=false: binned by the exporter's time"; fi
done
