// SPDX-License-Identifier: GPL-2.0-or-later
// The text of etc/sql/<backend>/acct_vN.sql: generated from the same column sets the modules
// write, so a test can check the shipped scripts never drift from the code.
#pragma once

#include <string> // std::string

#include "sql_schema.hpp" // sql::make_schema, sql::create_table_sql

namespace flowacct::sqltest {

inline const char* backend_dir(sql::Dialect d) {
    return d == sql::Dialect::Pgsql ? "pgsql" : d == sql::Dialect::Mysql ? "mysql" : "sqlite3";
}

inline std::string schema_script(sql::Dialect d, int version) {
    const char* how = d == sql::Dialect::Pgsql   ? "psql -d <db> -f"
                      : d == sql::Dialect::Mysql ? "mysql <db> <"
                                                 : "sqlite3 <file> <";
    std::string table = sql::default_table(version);
    // A fixed version has the same columns whatever is aggregated.
    sql::Schema s = sql::make_schema(d, version, false, 0);
    return "-- SPDX-License-Identifier: GPL-2.0-or-later\n"
           "-- pmacct-compatible table " + table + " (sql_table_version: " + std::to_string(version) + ") for the " +
           backend_dir(d) + " output.\n-- Load with: " + how + " " + backend_dir(d) + "/" + table + ".sql\n" +
           sql::create_table_sql(d, s, table);
}

} // namespace flowacct::sqltest
