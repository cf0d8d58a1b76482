// SPDX-License-Identifier: GPL-2.0-or-later
// Writes etc/sql/<backend>/acct_vN.sql for every backend and version (run by hand after a
// schema change; sql_schema_test checks the shipped files match).
#include <filesystem> // std::filesystem
#include <fstream>    // std::ofstream
#include <iostream>   // std::cout

#include "schema_scripts.hpp" // sqltest::schema_script

int main(int argc, char** argv) {
    using namespace flowacct;
    std::filesystem::path root = argc > 1 ? argv[1] : FLOWACCT_TEST_SOURCE_DIR "/etc/sql";
    for (auto d : {sql::Dialect::Pgsql, sql::Dialect::Mysql, sql::Dialect::Sqlite}) {
        std::filesystem::create_directories(root / sqltest::backend_dir(d));
        for (int v = 1; v <= 9; ++v) {
            auto path = root / sqltest::backend_dir(d) / (sql::default_table(v) + ".sql");
            std::ofstream(path) << sqltest::schema_script(d, v);
            std::cout << path.string() << "\n";
        }
    }
}
