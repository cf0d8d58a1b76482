#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Soak: NetFlow v9 and sFlow generators over loopback at a steady rate for DURATION seconds, with a
# memory table queried every few seconds, pre_tag_map reloads, and the SQLite database locked for a
# while mid-run. Samples RSS and open files (in $SOAK_LOG, default $WORK/samples) and checks at the end
# that memory and fds stayed flat and that the memory table, the printed report and the database each
# hold exactly the records the generators sent (minus socket drops, which must be 0).
# SOAK_PG=1 (root, PostgreSQL 15 installed) adds a pgsql pipeline into a private PostgreSQL instance
# that is stopped for DURATION/10 seconds (at least 20) a third of the way in, then started again:
# its table must hold every record too.
#   bash tests/reliability/soak.sh BUILD_DIR [DURATION=60] [NETFLOW_RECORDS_PER_S=4000]
source "$(dirname "$0")/lib.sh"
DURATION=${2:-60}
RATE=${3:-4000}
SAMPLES=${SOAK_LOG:-$WORK/samples}
CLIENT=$BUILD/bin/flowacct
python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).executescript(open(sys.argv[2]).read())' \
  "$WORK/acct.db" "$SRC/etc/sql/sqlite3/acct_v9.sql"
for i in $(seq 0 255); do echo "set_tag=$((i + 1)) src_net=10.$i.0.0/16"; done >"$WORK/tags.map"
PG_EXTRA=""
PLUGINS="memory[m], print[p], sqlite3[s]"
if [ "${SOAK_PG:-0}" = 1 ]; then
  PGBIN=/usr/lib/postgresql/15/bin
  [ -x "$PGBIN/initdb" ] && [ "$(id -u)" = 0 ] || fail "SOAK_PG=1 needs root and PostgreSQL 15"
  PGDATA=$(mktemp -d /tmp/flowacct-soak-pg-XXXXXX)
  chown postgres "$PGDATA"
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  su postgres -s /bin/sh -c "$PGBIN/initdb -D $PGDATA --auth=trust -U postgres" >"$WORK/initdb.log" 2>&1 || fail "initdb"
  pg_start() { su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -o '-p $PG_PORT -k $PGDATA -c listen_addresses=127.0.0.1' -l $PGDATA/log -w start" >/dev/null; }
  pg_stop() { su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -m fast -w stop" >/dev/null; }
  pg_query() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atq -c "$1"; }
  pg_start || fail "PostgreSQL start"
  pg_query "$(cat "$SRC/etc/sql/pgsql/acct_v9.sql")" >/dev/null || fail "acct_v9 in PostgreSQL"
  PLUGINS="$PLUGINS, pgsql[g]"
  PG_EXTRA="aggregate[g]: src_host, proto
sql_host[g]: 127.0.0.1
sql_port[g]: $PG_PORT
sql_db[g]: postgres
sql_user[g]: postgres
sql_table_version[g]: 9
sql_history[g]: 1h
sql_refresh_time[g]: 5
sql_journal_dir[g]: $WORK/journal-pg"
fi
cat > "$WORK/soak.conf" <<CONF
inputs: netflow[nf], sflow[sf]
nfacctd_ip: 127.0.0.1
nfacctd_port: 0
nfacctd_pipe_size: 4194304
sfacctd_ip: 127.0.0.1
sfacctd_port: 0
sfacctd_pipe_size: 4194304
plugins: $PLUGINS
aggregate[m]: src_host, dst_host, proto
imt_path[m]: $WORK/q.pipe
imt_max_entries[m]: 200000
stages[p]: pretag
pre_tag_map[p]: $WORK/tags.map
aggregate[p]: tag, proto
print_refresh_time[p]: 10
print_output_file_append[p]: true
print_output_file[p]: $WORK/p.txt
aggregate[s]: src_host, proto
sql_db[s]: $WORK/acct.db
sql_table_version[s]: 9
sql_history[s]: 1h
sql_refresh_time[s]: 5
sql_journal_dir[s]: $WORK/journal
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
$PG_EXTRA
CONF
start_daemon "$WORK/soak.conf"
# Steady rate: NetFlow 20 records a datagram at RATE records/s; sFlow 8 samples a datagram at RATE/4.
nf_records=$((RATE * DURATION))
sf_samples=$((RATE / 4 * DURATION))
"$BUILD"/bin/flowacct-gen-netflow -v 9 -n "$nf_records" -k 5000 -p 20 -u 127.0.0.1:"$NF_PORT" -r $((RATE / 20)) \
  >"$WORK/nf.totals" 2>&1 &
nf_gen=$!
"$BUILD"/bin/flowacct-gen-sflow --samples "$sf_samples" --keys 2000 --per-datagram 8 --pps $((RATE / 32)) \
  --send 127.0.0.1:"$SF_PORT" >"$WORK/sf.totals" 2>&1 &
sf_gen=$!
echo "# seconds rss_kb fds records_in(m) queries reloads" >"$SAMPLES"
t0=$(date +%s); n=0; locked=0; queries=0
while kill -0 $nf_gen 2>/dev/null || kill -0 $sf_gen 2>/dev/null; do
  sleep 2; n=$((n + 1))
  "$CLIENT" -s -p "$WORK/q.pipe" >/dev/null || fail "memory table query $n"
  queries=$((queries + 1))
  if [ $((n % 3)) -eq 0 ]; then
    touch -d "@$((t0 + n))" "$WORK/tags.map"
    kill -USR2 "$PID"
  fi
  el=$(( $(date +%s) - t0 ))
  if [ $locked -eq 0 ] && [ $el -ge $((DURATION / 2)) ]; then
    # The database is unavailable for 8 s mid-run (an exclusive lock held by another client).
    python3 -c 'import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN EXCLUSIVE"); time.sleep(8); c.execute("COMMIT")' "$WORK/acct.db" &
    locked=$!
  fi
  if [ -n "$PG_EXTRA" ] && [ "${pg_down:-0}" = 0 ] && [ $el -ge $((DURATION / 3)) ]; then
    pg_stop && pg_down=$el && echo "PostgreSQL stopped at ${el} s"
  fi
  pg_outage=$((DURATION / 10 > 20 ? DURATION / 10 : 20))
  if [ "${pg_down:-0}" -gt 0 ] && [ -z "${pg_up:-}" ] && [ $el -ge $((pg_down + pg_outage)) ]; then
    pg_start && pg_up=$el && echo "PostgreSQL started again at ${el} s"
  fi
  echo "$el $(rss_kb "$PID") $(fd_count "$PID") $(metric flowacct_records_in 'owner="pipeline/m"') $queries $(metric flowacct_pretag_reloads)" >>"$SAMPLES"
done
wait $nf_gen || fail "netflow generator"
wait $sf_gen || fail "sflow generator"
[ "$locked" -ne 0 ] && wait "$locked"
# SO_RXQ_OVFL reports drops with the next datagram: one last marker datagram each brings them in.
$TOOL send "$NF_PORT" v9 --records 1
$TOOL send "$SF_PORT" sflow --records 1
# Every datagram received or counted as a drop, then every record the inputs emitted taken by the
# memory pipeline (polled, 60 s bound: not a pause of the counter, which a loaded machine can fake).
nf_seen() { [ $(( $(metric flowacct_records 'owner="nf/netflow"') + $(metric flowacct_sock_drops 'owner="nf/netflow"') )) -ge $((nf_records + 1)) ]; }
sf_seen() { [ $(( $(metric flowacct_records 'owner="sf/sflow"') + $(metric flowacct_sock_drops 'owner="sf/sflow"') )) -ge $((sf_samples + 1)) ]; }
m_took_all() { [ $(( $(metric flowacct_records_in 'owner="pipeline/m"') + $(metric flowacct_queue_dropped 'owner="pipeline/m"') )) -ge "$(metric flowacct_records_out)" ]; }
poll 60 nf_seen || true
poll 60 sf_seen || true
poll 60 m_took_all || true
settle flowacct_records_in 'owner="pipeline/m"'
nf_sent=$(sed -n 's/.*records=\([0-9]*\).*/\1/p' "$WORK/nf.totals")
nf_packets=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$WORK/nf.totals")
expect_eq "$nf_sent" "$nf_records" "netflow generator sent every record"
expect_eq "$(metric flowacct_sock_drops)" 0 "no socket drops at this rate"
expect_eq "$(metric flowacct_records 'owner="nf/netflow"')" $((nf_records + 1)) "netflow: every record decoded"
expect_eq "$(metric flowacct_records 'owner="sf/sflow"')" $((sf_samples + 1)) "sflow: every sample decoded"
expect_eq "$(metric flowacct_queue_dropped)" 0 "no queue drop in any pipeline"
total=$((nf_packets + sf_samples + 2))
"$CLIENT" -s -p "$WORK/q.pipe" >"$WORK/m.txt" || fail "final query"
expect_eq "$(sum_col "$WORK/m.txt" PACKETS)" "$total" "memory table: exact packets"
expect_eq "$(metric flowacct_table_full)" 0 "memory table: no row refused"
expect_eq "$(metric flowacct_queries 'owner="m/memory"')" $((queries + 1)) "memory table: every query answered"
stop_daemon TERM
expect_eq "$(sum_col "$WORK/p.txt" PACKETS)" "$total" "printed report: exact packets across the reloads"
expect_eq "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT SUM(packets) FROM acct_v9").fetchone()[0])' "$WORK/acct.db")" \
  "$total" "database: exact packets across the lock"
if [ -n "$PG_EXTRA" ]; then
  [ -n "${pg_up:-}" ] || { pg_start; fail "the PostgreSQL restart happened during the run"; }
  expect_eq "$(pg_query "SELECT SUM(packets) FROM acct_v9")" "$total" "PostgreSQL: exact packets across its restart"
  pg_stop
  rm -rf "$PGDATA"
fi
# Flat: from the first quarter of the run to its end, RSS grows less than 8 MB and fds by at most 2.
# With the PostgreSQL outage, rows wait in memory (sql_backlog_rows, bounded) while it lasts: RSS
# is then compared from three quarters of the run, after the outage and the lock.
from=$((DURATION / 4))
[ -n "$PG_EXTRA" ] && from=$((DURATION * 3 / 4))
read -r rss_a fd_a < <(awk -v q=$from '!/^#/ && $1 >= q { print $2, $3; exit }' "$SAMPLES")
rss_peak=$(awk '!/^#/ && $2 > m { m = $2 } END { print m }' "$SAMPLES")
read -r rss_b fd_b < <(awk '!/^#/ { r = $2; f = $3 } END { print r, f }' "$SAMPLES")
fd_max=$(awk '!/^#/ && $3 > m { m = $3 } END { print m }' "$SAMPLES")
echo "soak ${DURATION} s: RSS ${rss_a} kB at ${from} s -> ${rss_b} kB at the end (peak ${rss_peak} kB), fds ${fd_a} -> ${fd_b} (max ${fd_max}), $queries queries, $(tail -1 "$SAMPLES" | awk '{print $6}') reloads"
expect_flat_rss "$rss_a" "$rss_b" 8192 "RSS flat"
[ $((fd_max - fd_a)) -le 2 ] && [ "$fd_b" -le $((fd_a + 1)) ] || fail "fds flat ($fd_a -> $fd_b, max $fd_max)"
pass "fds flat"
[ "$(tail -1 "$SAMPLES" | awk '{print $6}')" -gt 0 ] || fail "maps reloaded during the soak"
pass "maps reloaded during the soak"
