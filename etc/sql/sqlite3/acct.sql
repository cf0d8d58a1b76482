-- SPDX-License-Identifier: GPL-2.0-or-later
-- pmacct-compatible table acct (sql_table_version: 1) for the sqlite3 output.
-- Load with: sqlite3 <file> < sqlite3/acct.sql
CREATE TABLE IF NOT EXISTS "acct" (
    "mac_src" CHAR(17) NOT NULL DEFAULT '00:00:00:00:00:00',
    "mac_dst" CHAR(17) NOT NULL DEFAULT '00:00:00:00:00:00',
    "ip_src" CHAR(45) NOT NULL DEFAULT '0.0.0.0',
    "ip_dst" CHAR(45) NOT NULL DEFAULT '0.0.0.0',
    "src_port" INT(4) NOT NULL DEFAULT 0,
    "dst_port" INT(4) NOT NULL DEFAULT 0,
    "ip_proto" CHAR(6) NOT NULL DEFAULT '',
    "packets" BIGINT NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "stamp_inserted" DATETIME NOT NULL,
    "stamp_updated" DATETIME,
    PRIMARY KEY ("stamp_inserted", "ip_src", "ip_dst", "src_port", "dst_port", "mac_src", "mac_dst", "ip_proto")
);
