#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Prometheus endpoint serves every counter, and the daemon drops to user/group after binding:
# /proc shows non-root ids, no root group and no new privileges.
source "$(dirname "$0")/lib.sh"
MODS=$(make_moddir)
chmod 755 "$WORK"
cat > "$WORK/m.conf" <<CONF
inputs: testgen
testgen_records: 5000
testgen_stay: true
plugins: print[a]
aggregate: src_host
print_refresh_time: 3600
print_output_file: $WORK/out/a.txt
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
user: nobody
group: nogroup
CONF
mkdir -p "$WORK/out" && chown nobody:nogroup "$WORK/out"
"$DAEMON" -f "$WORK/m.conf" --module-path "$MODS" &
pid=$!
poll 60 grep -q "metrics on" "$WORK/log" 2>/dev/null || true
port=$(sed -n 's/.*metrics on .* (port \([0-9]*\)).*/\1/p' "$WORK/log")
[ -n "$port" ] || { cat "$WORK/log"; fail "metrics endpoint started"; }
# Scraped until the pipeline took the input's 5000 records (60 s bound), then checked.
scrape() {
  python3 - "$port" >"$WORK/metrics" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode())
PY
}
all_in() { scrape && grep -qF 'flowacct_records_in{owner="pipeline/a"} 5000' "$WORK/metrics"; }
poll 60 all_in || true
expect_contains "$WORK/metrics" '# TYPE flowacct_records_in counter' "metrics: typed counters"
expect_contains "$WORK/metrics" 'flowacct_records_in{owner="pipeline/a"} 5000' "metrics: pipeline records"
expect_contains "$WORK/metrics" 'flowacct_queue_dropped{owner="pipeline/a"} 0' "metrics: queue drops"
code=$(python3 - "$port" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/other", timeout=5)
    print(200)
except urllib.error.HTTPError as e:
    print(e.code)
PY
)
expect_eq "$code" 404 "metrics: other paths are 404"
# Garbage on the port does not stop the endpoint.
printf 'NOT HTTP AT ALL\r\n\r\n' | timeout 3 python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port)); s.sendall(sys.stdin.buffer.read()); s.recv(100)" || true
python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=5)" || fail "metrics endpoint survives garbage"
pass "metrics endpoint survives garbage"
uid=$(awk '/^Uid:/ {print $2}' /proc/$pid/status)
gid=$(awk '/^Gid:/ {print $2}' /proc/$pid/status)
groups=$(awk '/^Groups:/ {$1=""; print}' /proc/$pid/status)
nnp=$(awk '/^NoNewPrivs:/ {print $2}' /proc/$pid/status)
expect_eq "$uid" "$(id -u nobody)" "runs as user nobody"
expect_eq "$gid" "$(getent group nogroup | cut -d: -f3)" "runs as group nogroup"
case " $groups " in *" 0 "*) fail "no root supplementary group";; esac
pass "no root supplementary group"
expect_eq "$nnp" 1 "no new privileges"
kill -TERM $pid
wait $pid || fail "exit status after dropping privileges"
expect_eq "$(sum_col "$WORK/out/a.txt" PACKETS)" 5000 "output written as the unprivileged user"
