// SPDX-License-Identifier: GPL-2.0-or-later
// What the host tests share: where the modules are built, a private module directory, and a
// configuration model from pmacct-style text.
#pragma once

#include <stdlib.h>     // mkdtemp

#include <filesystem>   // std::filesystem
#include <initializer_list> // std::initializer_list
#include <string>       // std::string

#include "config.hpp"   // ConfigModel, load_pmacct_text

namespace flowacct::host::test {

namespace fs = std::filesystem;

inline const fs::path kTestModules = fs::path(FLOWACCT_TEST_BINARY_DIR) / "tests" / "modules";
inline const fs::path kModules = FLOWACCT_TEST_MODULE_DIR;

/// A private module directory holding copies of the given files, removed at the end.
struct ModuleDir {
    fs::path dir;
    explicit ModuleDir(std::initializer_list<fs::path> files) {
        char tmpl[] = "/tmp/flowacct-mods-XXXXXX";
        dir = mkdtemp(tmpl);
        for (const auto& f : files) fs::copy_file(f, dir / f.filename());
    }
    ~ModuleDir() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

inline ConfigModel model_of(const std::string& text) {
    ConfigModel m;
    load_pmacct_text(m, text, "test.conf");
    return m;
}

} // namespace flowacct::host::test
