#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Starts PostgreSQL 15 and MariaDB for the SQL tests, creates the test role/user and the database
# flowacct_test with password authentication on 127.0.0.1, waits until both accept connections
# and prints the settings the tests read. Idempotent; run as root.
set -eu

USER_NAME=${FLOWACCT_SQL_USER:-flowacct}
PASSWORD=${FLOWACCT_SQL_PASSWORD:-flowacct}
DB=flowacct_test
PG_PORT=${FLOWACCT_PG_PORT:-5432}
MY_PORT=${FLOWACCT_MYSQL_PORT:-3306}

wait_for() { # wait_for <what> <command...>: up to 60 s
    what=$1; shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 120 ]; then echo "start_servers: $what did not come up" >&2; exit 1; fi
        sleep 0.5
    done
}

# ---- PostgreSQL 15 ---------------------------------------------------------------------------
if ! pg_lsclusters -h 2>/dev/null | grep -q '^15 *main'; then
    pg_createcluster 15 main -p "$PG_PORT" >/dev/null
fi
if ! pg_lsclusters -h | grep -q '^15 *main.*online'; then
    pg_ctlcluster 15 main start
fi
PG_PORT=$(pg_lsclusters -h | awk '$1 == "15" && $2 == "main" { print $3 }')
wait_for postgresql su postgres -c "psql -p $PG_PORT -Atc 'select 1'"
su postgres -c "psql -q -p $PG_PORT -v ON_ERROR_STOP=1" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_NAME') THEN
    CREATE ROLE $USER_NAME LOGIN PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $USER_NAME LOGIN PASSWORD '$PASSWORD';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $DB OWNER $USER_NAME' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB')\gexec
SQL
wait_for "postgresql password login" env PGPASSWORD="$PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U "$USER_NAME" -d "$DB" -Atc 'select 1'

# ---- MariaDB ---------------------------------------------------------------------------------
if ! mysqladmin ping >/dev/null 2>&1; then
    if [ -x /etc/init.d/mariadb ]; then
        /etc/init.d/mariadb start >/dev/null
    else
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        (mysqld_safe --port="$MY_PORT" >/dev/null 2>&1 &)
    fi
fi
wait_for mariadb mysqladmin ping
mysql -uroot <<SQL
CREATE DATABASE IF NOT EXISTS $DB;
CREATE USER IF NOT EXISTS '$USER_NAME'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
CREATE USER IF NOT EXISTS '$USER_NAME'@'localhost' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON $DB.* TO '$USER_NAME'@'127.0.0.1';
GRANT ALL PRIVILEGES ON $DB.* TO '$USER_NAME'@'localhost';
FLUSH PRIVILEGES;
SQL
MY_PORT=$(mysql -uroot -Nse 'select @@port')
wait_for "mariadb password login" mysql -h 127.0.0.1 -P "$MY_PORT" -u "$USER_NAME" -p"$PASSWORD" "$DB" -e 'select 1'

cat <<OUT
FLOWACCT_PG_HOST=127.0.0.1
FLOWACCT_PG_PORT=$PG_PORT
FLOWACCT_MYSQL_HOST=127.0.0.1
FLOWACCT_MYSQL_PORT=$MY_PORT
FLOWACCT_SQL_USER=$USER_NAME
FLOWACCT_SQL_PASSWORD=$PASSWORD
FLOWACCT_SQL_DB=$DB
OUT
