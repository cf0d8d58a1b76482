#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs tests/sql/sql_bench RUNS times on a clean database: before each run, the bench_v9_* tables
# earlier runs left in flowacct_test (PostgreSQL and MariaDB) are dropped and PostgreSQL takes a
# CHECKPOINT, so that no run pays for another's dirty pages. Servers from tests/sql/start_servers.sh
# (run as root: it checkpoints as the postgres user). Environment as sql_bench's (SQL_BENCH_*).
#   bench/sql/run.sh BUILD [RUNS]
#   SQL_BENCH_BACKENDS=pgsql SQL_BENCH_WARM=1 SQL_BENCH_ONLY=insert bench/sql/run.sh /tmp/fab 8
set -eu
BUILD=${1:?usage: $0 BUILD [RUNS]}
RUNS=${2:-3}
BENCH=$BUILD/bin/sql_bench
[ -x "$BENCH" ] || { echo "$BENCH not built (cmake --build $BUILD --target sql_bench)" >&2; exit 2; }
export FLOWACCT_SQL_PASSWORD=${FLOWACCT_SQL_PASSWORD:-flowacct} FLOWACCT_SQL_DB=${FLOWACCT_SQL_DB:-flowacct_test}
PG="psql -h 127.0.0.1 -U ${FLOWACCT_SQL_USER:-flowacct} -qAt $FLOWACCT_SQL_DB"
clean() {
    t=$(PGPASSWORD=$FLOWACCT_SQL_PASSWORD $PG -c "SELECT string_agg(format('%I', tablename), ',') FROM pg_tables
        WHERE schemaname = 'public' AND tablename LIKE 'bench\_v9\_%'" 2>/dev/null || true)
    [ -z "$t" ] || PGPASSWORD=$FLOWACCT_SQL_PASSWORD $PG -c "DROP TABLE $t"
    m=$(mysql -uroot -N "$FLOWACCT_SQL_DB" -e "SELECT group_concat(table_name) FROM information_schema.tables
        WHERE table_schema = '$FLOWACCT_SQL_DB' AND table_name LIKE 'bench\_v9\_%'" 2>/dev/null || true)
    [ -z "$m" ] || [ "$m" = NULL ] || mysql -uroot "$FLOWACCT_SQL_DB" -e "DROP TABLE $m"
    su postgres -c "psql -qAtc CHECKPOINT" >/dev/null 2>&1 || echo "(no CHECKPOINT: run as root)" >&2
}
for i in $(seq "$RUNS"); do
    clean
    echo "== run $i of $RUNS"
    "$BENCH" | grep -E 'rows/s|handed|:$'
done
clean
