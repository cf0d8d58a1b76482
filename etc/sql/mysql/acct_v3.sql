-- SPDX-License-Identifier: GPL-2.0-or-later
-- pmacct-compatible table acct_v3 (sql_table_version: 3) for the mysql output.
-- Load with: mysql <db> < mysql/acct_v3.sql
CREATE TABLE IF NOT EXISTS `acct_v3` (
    `agent_id` BIGINT UNSIGNED NOT NULL DEFAULT 0,
    `mac_src` CHAR(17) NOT NULL DEFAULT '00:00:00:00:00:00',
    `mac_dst` CHAR(17) NOT NULL DEFAULT '00:00:00:00:00:00',
    `vlan` INT UNSIGNED NOT NULL DEFAULT 0,
    `ip_src` CHAR(45) NOT NULL DEFAULT '0.0.0.0',
    `ip_dst` CHAR(45) NOT NULL DEFAULT '0.0.0.0',
    `src_port` INT UNSIGNED NOT NULL DEFAULT 0,
    `dst_port` INT UNSIGNED NOT NULL DEFAULT 0,
    `ip_proto` CHAR(6) NOT NULL DEFAULT '',
    `tos` INT UNSIGNED NOT NULL DEFAULT 0,
    `packets` BIGINT UNSIGNED NOT NULL DEFAULT 0,
    `bytes` BIGINT UNSIGNED NOT NULL DEFAULT 0,
    `stamp_inserted` DATETIME NOT NULL,
    `stamp_updated` DATETIME,
    PRIMARY KEY (`stamp_inserted`, `ip_src`, `ip_dst`, `src_port`, `dst_port`, `mac_src`, `mac_dst`, `agent_id`, `vlan`, `ip_proto`, `tos`)
);
