-- SPDX-License-Identifier: GPL-2.0-or-later
-- pmacct-compatible table acct_v8 (sql_table_version: 8) for the pgsql output.
-- Load with: psql -d <db> -f pgsql/acct_v8.sql
CREATE TABLE IF NOT EXISTS "acct_v8" (
    "agent_id" BIGINT NOT NULL DEFAULT 0,
    "class_id" CHAR(16) NOT NULL DEFAULT ' ',
    "mac_src" macaddr NOT NULL DEFAULT '0:0:0:0:0:0',
    "mac_dst" macaddr NOT NULL DEFAULT '0:0:0:0:0:0',
    "vlan" INT NOT NULL DEFAULT 0,
    "as_src" BIGINT NOT NULL DEFAULT 0,
    "as_dst" BIGINT NOT NULL DEFAULT 0,
    "ip_src" inet NOT NULL DEFAULT '0.0.0.0',
    "ip_dst" inet NOT NULL DEFAULT '0.0.0.0',
    "port_src" INT NOT NULL DEFAULT 0,
    "port_dst" INT NOT NULL DEFAULT 0,
    "tcp_flags" SMALLINT NOT NULL DEFAULT 0,
    "ip_proto" SMALLINT NOT NULL DEFAULT 0,
    "tos" SMALLINT NOT NULL DEFAULT 0,
    "packets" BIGINT NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "flows" BIGINT NOT NULL DEFAULT 0,
    "stamp_inserted" timestamp without time zone NOT NULL,
    "stamp_updated" timestamp without time zone,
    PRIMARY KEY ("stamp_inserted", "port_src", "port_dst", "as_src", "as_dst", "mac_src", "mac_dst", "agent_id", "vlan", "ip_proto", "tos", "ip_src", "ip_dst", "class_id")
) WITH (fillfactor = 70);
