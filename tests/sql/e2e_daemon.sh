#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end through flowacctd and the testgen input: totals in SQLite after a run; then, on a
# private PostgreSQL and a private MariaDB instance (created in temporary directories, so stopping
# them disturbs no one): the server stopped mid-run and started again, a daemon restart with the
# server down, and two daemons writing one table. Every check compares the table's totals with
# what testgen reports it sent.
# Usage: e2e_daemon.sh BUILD_DIR. Exit 77 (skip) without the server binaries or root, unless
# FLOWACCT_REQUIRE_SQL is set.
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DAEMON=$BUILD/sbin/flowacctd
WORK=$(mktemp -d /tmp/flowacct-sql-e2e-XXXXXX)
PGBIN=/usr/lib/postgresql/15/bin
PGDATA=""
MYDATA=""
PORT=""
cleanup() {
  local pids
  pids=$(jobs -p || true)
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  if [ -n "$PGDATA" ] && [ -f "$PGDATA/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -m immediate stop" >/dev/null 2>&1 || true
  fi
  if [ -n "$MYDATA" ] && [ -f "$MYDATA/pid" ]; then kill -9 "$(cat "$MYDATA/pid")" 2>/dev/null || true; fi
  rm -rf "$WORK" "$PGDATA" "$MYDATA"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }
pass() { echo "ok: $*"; }
source "$SRC/tests/e2e/poll.sh"
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"; pass "$3"; }
skip() {
  if [ -n "${FLOWACCT_REQUIRE_SQL:-}" ]; then fail "$*"; fi
  echo "skipped: $*"; exit 77
}

MODS=$WORK/mods
mkdir -p "$MODS"
cp "$BUILD"/lib/flowacct/modules/*.so "$BUILD"/tests/modules/input_testgen.so "$MODS"/
T0=1700000400 # a 10-minute boundary: every record of a run falls in this bin

# Bytes testgen sends for records 0..n-1: 100 + i % 10 each.
bytes_of() { awk -v n="$1" 'BEGIN { s = 0; for (i = 0; i < n; i++) s += 100 + i % 10; print s }'; }
accepted() { awk '/^accepted/ { print $2 }' "$1"; }

# ---- SQLite: a whole run ---------------------------------------------------------------------
sqlite3_query() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("|".join(str(x) for x in c.execute(sys.argv[2]).fetchone()))' "$@"; }
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(open(sys.argv[2]).read())' \
  "$WORK/acct.db" "$SRC/etc/sql/sqlite3/acct_v9.sql"
cat > "$WORK/lite.conf" <<CONF
inputs: testgen
testgen_records: 20000
testgen_keys: 100
testgen_time: $T0
testgen_report: $WORK/lite.report
plugins: sqlite3[s]
aggregate[s]: src_host, dst_host, dst_port, proto
sql_db[s]: $WORK/acct.db
sql_table_version[s]: 9
sql_history[s]: 10m
sql_refresh_time[s]: 1
sql_journal_dir[s]: $WORK/journal-lite
CONF
"$DAEMON" -f "$WORK/lite.conf" --module-path "$MODS" 2>"$WORK/lite.log" || fail "sqlite run exited with $?"
n=$(accepted "$WORK/lite.report")
expect_eq "$n" 20000 "sqlite: testgen records accepted"
expect_eq "$(sqlite3_query "$WORK/acct.db" "SELECT SUM(packets), SUM(bytes), MIN(stamp_inserted) FROM acct_v9")" \
  "20000|$(bytes_of 20000)|$(TZ=${TZ:-} date -d @$T0 '+%Y-%m-%d %H:%M:%S')" "sqlite: totals and bin of a daemon run"

# ---- servers: private instances ---------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pg_setup() {
  [ -x "$PGBIN/initdb" ] || skip "no PostgreSQL 15 binaries in $PGBIN"
  PGDATA=$(mktemp -d /tmp/flowacct-pg-XXXXXX)
  chown postgres "$PGDATA"
  su postgres -s /bin/sh -c "$PGBIN/initdb -D $PGDATA --auth=trust -U postgres" >"$WORK/initdb.log" 2>&1 || fail "initdb"
}
pg_start() { su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -o '-p $PORT -k $PGDATA -c listen_addresses=127.0.0.1 -c fsync=off' -l $PGDATA/log -w start" >/dev/null; }
pg_stop() { su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -m fast -w stop" >/dev/null; }
pg_query() { psql -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -Atq -c "$1"; }
pg_keys() { printf 'sql_db[p]: postgres\nsql_user[p]: postgres\n'; }

my_setup() {
  command -v mariadbd >/dev/null || skip "no mariadbd"
  MYDATA=$(mktemp -d /tmp/flowacct-my-XXXXXX)
  mariadb-install-db --no-defaults --datadir="$MYDATA" --user=root >"$WORK/install-db.log" 2>&1 || fail "mariadb-install-db"
  my_start
  mysql --no-defaults -h 127.0.0.1 -P "$PORT" -u root -e "CREATE DATABASE flowacct" || fail "create database"
}
my_start() {
  mariadbd --no-defaults --datadir="$MYDATA" --port="$PORT" --socket="$MYDATA/sock" --pid-file="$MYDATA/pid" --user=root \
    --bind-address=127.0.0.1 --skip-grant-tables --innodb-buffer-pool-size=64M --log-error="$MYDATA/err.log" >/dev/null 2>&1 &
  my_ping() { mysqladmin --no-defaults -h 127.0.0.1 -P "$PORT" -u root ping >/dev/null 2>&1; }
  poll 120 my_ping || fail "mariadbd did not start"
}
my_stop() { mysqladmin --no-defaults -h 127.0.0.1 -P "$PORT" -u root shutdown; while [ -f "$MYDATA/pid" ]; do sleep 0.1; done; }
my_query() { mysql --no-defaults -h 127.0.0.1 -P "$PORT" -u root -N -B flowacct -e "$1"; }
my_keys() { printf 'sql_db[p]: flowacct\nsql_user[p]: flowacct\nsql_passwd[p]: any\n'; }

[ "$(id -u)" = 0 ] || skip "server instance tests run as root (they use su postgres and mariadbd --user=root)"

# suite BACKEND PREFIX: the three scenarios against the running private instance.
suite() {
  local b=$1 x=$2
  "${x}_query" "$(cat "$SRC/etc/sql/$b/acct_v9.sql")"
  conf() { # conf NAME RECORDS RATE
    cat > "$WORK/$b-$1.conf" <<CONF
inputs: testgen
testgen_records: $2
testgen_rate: $3
testgen_keys: 500
testgen_time: $T0
testgen_report: $WORK/$b-$1.report
plugins: $b[p]
aggregate[p]: src_host, dst_host, dst_port, proto
sql_host[p]: 127.0.0.1
sql_port[p]: $PORT
$("${x}_keys")
sql_table_version[p]: 9
sql_history[p]: 10m
sql_refresh_time[p]: 1
sql_backlog_rows[p]: 3000
sql_journal_dir[p]: $WORK/journal-$b-$1
CONF
  }
  total() { "${x}_query" "SELECT CONCAT(COALESCE(SUM(packets), 0), '|', COALESCE(SUM(bytes), 0)) FROM acct_v9"; }

  # The server stopped mid-run while records flow, then started again.
  conf midrun 0 20000
  "$DAEMON" -f "$WORK/$b-midrun.conf" --module-path "$MODS" 2>"$WORK/$b-midrun.log" &
  local pid=$!
  # The outage starts once rows reach the table, and the daemon is stopped once it wrote to the
  # server again (not after fixed times: a stop while it still backs off journals the rows, and the
  # totals below would not be in the table).
  has_rows() { [ "$(total | cut -d'|' -f1)" -gt 0 ]; }
  poll 120 has_rows || fail "$b: rows written before the outage"
  "${x}_stop"
  sleep 3 # the outage
  "${x}_start"
  recovered() { grep -q "database available again" "$WORK/$b-midrun.log"; }
  poll 120 recovered || fail "$b: the daemon writes again after the outage"
  kill -TERM $pid
  wait $pid || fail "$b: midrun daemon exited with $?"
  local n
  n=$(accepted "$WORK/$b-midrun.report")
  [ "$n" -gt 50000 ] || fail "$b: only $n records flowed"
  expect_eq "$(total)" "$n|$(bytes_of "$n")" "$b: server stopped mid-run: totals exact"
  grep -q "database available again" "$WORK/$b-midrun.log" || fail "$b: no recovery logged"
  pass "$b: the outage and the recovery are logged"
  local before=$n

  # A daemon run with the server down journals at shutdown; the next run writes the journal first.
  "${x}_stop"
  conf down 30000 0
  "$DAEMON" -f "$WORK/$b-down.conf" --module-path "$MODS" 2>"$WORK/$b-down.log" || fail "$b: down daemon exited with $?"
  ls "$WORK"/journal-$b-down/*.journal >/dev/null 2>&1 || fail "$b: no journal left by the run with the server down"
  pass "$b: shutdown with the server down keeps a journal"
  "${x}_start"
  sed "s/^testgen_records: .*/testgen_records: 10000/; s|report: .*|report: $WORK/$b-up.report|" "$WORK/$b-down.conf" > "$WORK/$b-up.conf"
  "$DAEMON" -f "$WORK/$b-up.conf" --module-path "$MODS" 2>"$WORK/$b-up.log" || fail "$b: up daemon exited with $?"
  ls "$WORK"/journal-$b-down/*.journal >/dev/null 2>&1 && fail "$b: journal not replayed"
  local sum=$((before + 30000 + 10000))
  expect_eq "$(total)" "$sum|$(( $(bytes_of "$before") + $(bytes_of 30000) + $(bytes_of 10000) ))" \
    "$b: restart with the server down: journal replayed once, totals exact"

  # Two daemons writing one table at once.
  conf one 40000 0
  conf two 40000 0
  "$DAEMON" -f "$WORK/$b-one.conf" --module-path "$MODS" 2>"$WORK/$b-one.log" &
  local p1=$!
  "$DAEMON" -f "$WORK/$b-two.conf" --module-path "$MODS" 2>"$WORK/$b-two.log" &
  local p2=$!
  wait $p1 || fail "$b: daemon one exited with $?"
  wait $p2 || fail "$b: daemon two exited with $?"
  sum=$((sum + 80000))
  expect_eq "$("${x}_query" "SELECT SUM(packets) FROM acct_v9")" "$sum" "$b: two daemons writing one table: totals exact"
  expect_eq "$("${x}_query" "SELECT COUNT(*) FROM acct_v9")" \
    "$("${x}_query" "SELECT COUNT(*) FROM (SELECT DISTINCT ip_src, ip_dst, port_dst, ip_proto, stamp_inserted FROM acct_v9) d")" \
    "$b: one row per key and bin"
}

PORT=$(free_port)
pg_setup
pg_start
suite pgsql pg

PORT=$(free_port)
my_setup
suite mysql my
