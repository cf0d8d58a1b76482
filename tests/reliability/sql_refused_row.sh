#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One row the database refuses (a CHECK the site added to its SQLite table refuses one source
# host): the daemon commits every other row of the batch exactly once, counts the refused row on
# its Prometheus endpoint (flowacct_sql_rows_refused) and keeps it in the quarantine file; the next
# purges keep flowing.
source "$(dirname "$0")/lib.sh"
N=20000
KEYS=100
T0=1700000400
python3 - "$WORK/acct.db" "$SRC/etc/sql/sqlite3/acct_v9.sql" <<'PY'
import sqlite3, sys
ddl = open(sys.argv[2]).read().replace(',\n    PRIMARY KEY', ",\n    CONSTRAINT no_42 CHECK (ip_src <> '10.0.0.42'),\n    PRIMARY KEY")
sqlite3.connect(sys.argv[1]).executescript(ddl)
PY
cat > "$WORK/f.conf" <<CONF
inputs: testgen
testgen_records: $N
testgen_keys: $KEYS
testgen_time: $T0
testgen_stay: true
plugins: sqlite3[s]
aggregate[s]: src_host
sql_db[s]: $WORK/acct.db
sql_table_version[s]: 9
sql_history[s]: 10m
sql_refresh_time[s]: 1
sql_journal_dir[s]: $WORK/journal
metrics_listen: 127.0.0.1:0
logfile: $WORK/log
CONF
start_daemon "$WORK/f.conf"
wait_metric $((KEYS - 1)) flowacct_sql_rows_committed >/dev/null
# One row per purge that carried 10.0.0.42's records: all of them come in one purge but for a
# purge falling amid the burst, so 1 in practice; the file holds one line per count either way.
refused=$(wait_metric 1 flowacct_sql_rows_refused)
[ "$refused" -ge 1 ] || fail "flowacct_sql_rows_refused is $refused"
pass "flowacct_sql_rows_refused counts the refused row ($refused)"
stop_daemon TERM
# The count compared with the quarantine file is the one logged at exit, after the last purge (a
# purge still in flight when the endpoint was read may refuse a second row).
refused=$(sed -n 's/.*\] sql_rows_refused \([0-9]*\)$/\1/p' "$WORK/log" | tail -1)
q() { python3 -c 'import sqlite3,sys; print("|".join(str(x) for x in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()))' "$WORK/acct.db" "$1"; }
# Each source host sends N / KEYS records of one packet: every host but 10.0.0.42 is there, exactly.
expect_eq "$(q "SELECT COUNT(*), SUM(packets) FROM acct_v9")" "$((KEYS - 1))|$((N - N / KEYS))" "every other row committed once"
expect_eq "$(q "SELECT COUNT(*) FROM acct_v9 WHERE ip_src = '10.0.0.42'")" 0 "the refused row is not in the table"
expect_eq "$(wc -l < "$WORK/journal/s.refused.jsonl")" "$refused" "the quarantine file holds one line per refused row"
expect_contains "$WORK/journal/s.refused.jsonl" '"ip_src":"10.0.0.42"' "the quarantined row names its source host"
expect_contains "$WORK/journal/s.refused.jsonl" 'no_42' "the quarantined row carries the server's message"
expect_eq "$(stat -c %a "$WORK/journal/s.refused.jsonl")" 600 "the quarantine file is the owner's only"
expect_contains "$WORK/log" "refused 1 row(s) of table acct_v9: " "the log names the table"
