// SPDX-License-Identifier: GPL-2.0-or-later
// Finds modules by name in the module directory and loads them with Boost.DLL, refusing what
// does not fit: another ABI major, the wrong kind, a missing symbol, a corrupt file, an unsafe path.
#pragma once

#include <filesystem>   // std::filesystem::path
#include <map>          // std::map
#include <memory>       // std::shared_ptr
#include <stdexcept>    // std::runtime_error
#include <string>       // std::string
#include <vector>       // std::vector

#include <flowacct/abi.h> // fa_module_descriptor, fa_kind

namespace flowacct::host {

/// One line naming the file and the reason.
class LoadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

const char* kind_name(fa_kind kind);

/// A loaded module library. Instances hold a shared_ptr to it so the code cannot unload first.
class ModuleLibrary {
public:
    /// Loads `path` and checks its descriptor; `expected` 0 accepts any kind. Throws LoadError.
    static std::shared_ptr<ModuleLibrary> open(const std::filesystem::path& path, int expected_kind = 0);
    ~ModuleLibrary();

    const fa_module_descriptor& descriptor() const { return *descriptor_; }
    const std::filesystem::path& path() const { return path_; }
    /// The declared default of `key`, or nullptr.
    const char* default_of(const std::string& key) const;
    bool declares(const std::string& key) const;

private:
    ModuleLibrary() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::filesystem::path path_;
    const fa_module_descriptor* descriptor_ = nullptr;
};

/// The modules found in one directory: `<kind>_<name>.so` files.
class ModuleCatalog {
public:
    explicit ModuleCatalog(std::filesystem::path dir);

    const std::filesystem::path& dir() const { return dir_; }
    /// Loads module `name` for a place of kind `kind`. Throws LoadError: "module pgsql is not
    /// installed (package flowacct-pgsql)", "module pcap is an input module, not an output", ...
    std::shared_ptr<ModuleLibrary> load(const std::string& name, fa_kind kind);
    /// Every module file in the directory, loaded or with the reason it could not be.
    struct Listing {
        std::filesystem::path path;
        std::shared_ptr<ModuleLibrary> library; // null when it failed
        std::string error;
    };
    std::vector<Listing> scan();
    /// Names of keys every loadable module declares (for unknown-key checks). Loads them all.
    std::vector<std::string> all_keys();
    /// Names of keys the modules loaded so far declare.
    std::vector<std::string> loaded_keys() const;

private:
    void check_directory() const;
    std::filesystem::path dir_;
    std::map<std::string, std::shared_ptr<ModuleLibrary>> cache_;
    bool scanned_ = false;
    std::vector<Listing> listing_;
};

/// The default module directory: `<dir of the running executable>/../lib/flowacct/modules`.
std::filesystem::path default_module_dir();

} // namespace flowacct::host
