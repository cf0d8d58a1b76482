-- SPDX-License-Identifier: GPL-2.0-or-later
-- pmacct-compatible table acct_v7 (sql_table_version: 7) for the sqlite3 output.
-- Load with: sqlite3 <file> < sqlite3/acct_v7.sql
CREATE TABLE IF NOT EXISTS "acct_v7" (
    "agent_id" BIGINT NOT NULL DEFAULT 0,
    "class_id" CHAR(16) NOT NULL DEFAULT ' ',
    "mac_src" CHAR(17) NOT NULL DEFAULT '00:00:00:00:00:00',
    "mac_dst" CHAR(17) NOT NULL DEFAULT '00:00:00:00:00:00',
    "vlan" INT(4) NOT NULL DEFAULT 0,
    "as_src" INT(8) NOT NULL DEFAULT 0,
    "as_dst" INT(8) NOT NULL DEFAULT 0,
    "ip_src" CHAR(45) NOT NULL DEFAULT '0.0.0.0',
    "ip_dst" CHAR(45) NOT NULL DEFAULT '0.0.0.0',
    "src_port" INT(4) NOT NULL DEFAULT 0,
    "dst_port" INT(4) NOT NULL DEFAULT 0,
    "tcp_flags" INT(4) NOT NULL DEFAULT 0,
    "ip_proto" CHAR(6) NOT NULL DEFAULT '',
    "tos" INT(4) NOT NULL DEFAULT 0,
    "packets" BIGINT NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "flows" BIGINT NOT NULL DEFAULT 0,
    "stamp_inserted" DATETIME NOT NULL,
    "stamp_updated" DATETIME,
    PRIMARY KEY ("stamp_inserted", "ip_src", "ip_dst", "src_port", "dst_port", "as_src", "as_dst", "mac_src", "mac_dst", "agent_id", "class_id", "vlan", "ip_proto", "tos")
);
