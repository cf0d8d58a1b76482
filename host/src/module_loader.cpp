// SPDX-License-Identifier: GPL-2.0-or-later
// Module loading with Boost.DLL.
#include "module_loader.hpp"

#include <sys/stat.h>     // stat, S_IWOTH
#include <unistd.h>       // readlink

#include <algorithm>      // std::sort
#include <cstring>        // std::strcmp
#include <set>            // std::set

#define BOOST_DLL_USE_STD_FS 1
#include <boost/dll/shared_library.hpp> // boost::dll::shared_library

namespace flowacct::host {

namespace fs = std::filesystem;

const char* kind_name(fa_kind kind) {
    switch (kind) {
    case FA_KIND_INPUT: return "input";
    case FA_KIND_CLASSIFIER: return "classifier";
    case FA_KIND_AGGREGATOR: return "aggregator";
    case FA_KIND_OUTPUT: return "output";
    }
    return "unknown";
}

struct ModuleLibrary::Impl {
    boost::dll::shared_library lib;
};

ModuleLibrary::~ModuleLibrary() = default;

namespace {

void check_not_writable_by_others(const fs::path& p, const char* what) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return;
    if (st.st_mode & S_IWOTH)
        throw LoadError(p.string() + ": " + what + " is world-writable; refusing to load modules from it");
}

} // namespace

std::shared_ptr<ModuleLibrary> ModuleLibrary::open(const fs::path& path, int expected_kind) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw LoadError(path.string() + ": no such file");
    check_not_writable_by_others(path, "the module file");
    std::shared_ptr<ModuleLibrary> m(new ModuleLibrary());
    m->impl_ = std::make_unique<Impl>();
    m->path_ = path;
    try {
        m->impl_->lib.load(path, boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
    } catch (const std::exception& e) {
        throw LoadError(path.string() + ": cannot load: " + e.what());
    }
    if (!m->impl_->lib.has(FA_MODULE_SYMBOL))
        throw LoadError(path.string() + ": not a flowacct module (no symbol " FA_MODULE_SYMBOL ")");
    auto entry = m->impl_->lib.get<const fa_module_descriptor*()>(FA_MODULE_SYMBOL);
    const fa_module_descriptor* d = entry();
    if (!d) throw LoadError(path.string() + ": the module returned no descriptor");
    if (d->abi_major != FA_ABI_MAJOR)
        throw LoadError(path.string() + ": ABI major " + std::to_string(d->abi_major) + ", host supports " +
                        std::to_string(FA_ABI_MAJOR));
    if (d->struct_size < sizeof(fa_module_descriptor))
        throw LoadError(path.string() + ": descriptor too small (" + std::to_string(d->struct_size) + " bytes)");
    if (!d->name || !*d->name || !d->create || !d->destroy || !d->ops)
        throw LoadError(path.string() + ": incomplete descriptor (name, create, destroy and ops are required)");
    if (d->kind < FA_KIND_INPUT || d->kind > FA_KIND_OUTPUT)
        throw LoadError(path.string() + ": unknown module kind " + std::to_string(static_cast<int>(d->kind)));
    if (expected_kind != 0 && d->kind != expected_kind)
        throw LoadError(path.string() + ": module " + d->name + " is an " + kind_name(d->kind) +
                        " module, expected " + kind_name(static_cast<fa_kind>(expected_kind)));
    if (d->key_count > 0 && !d->keys) throw LoadError(path.string() + ": key table missing");
    m->descriptor_ = d;
    return m;
}

const char* ModuleLibrary::default_of(const std::string& key) const {
    for (std::uint32_t i = 0; i < descriptor_->key_count; ++i)
        if (descriptor_->keys[i].name && key == descriptor_->keys[i].name) return descriptor_->keys[i].default_value;
    return nullptr;
}

bool ModuleLibrary::declares(const std::string& key) const {
    for (std::uint32_t i = 0; i < descriptor_->key_count; ++i)
        if (descriptor_->keys[i].name && key == descriptor_->keys[i].name) return true;
    return false;
}

ModuleCatalog::ModuleCatalog(fs::path dir) : dir_(std::move(dir)) {}

void ModuleCatalog::check_directory() const {
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) throw LoadError(dir_.string() + ": module directory does not exist");
    check_not_writable_by_others(dir_, "the module directory");
}

namespace {

const char* package_of(const std::string& name) {
    if (name == "pgsql") return "flowacct-pgsql";
    if (name == "mysql") return "flowacct-mysql";
    if (name == "sqlite3") return "flowacct-sqlite3";
    if (name == "classify") return "flowacct-classifiers";
    return nullptr;
}

} // namespace

std::shared_ptr<ModuleLibrary> ModuleCatalog::load(const std::string& name, fa_kind kind) {
    std::string key = std::string(kind_name(kind)) + "_" + name;
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    check_directory();
    fs::path path = dir_ / (key + ".so");
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        for (fa_kind other : {FA_KIND_INPUT, FA_KIND_CLASSIFIER, FA_KIND_AGGREGATOR, FA_KIND_OUTPUT}) {
            if (other == kind) continue;
            fs::path alt = dir_ / (std::string(kind_name(other)) + "_" + name + ".so");
            if (fs::exists(alt, ec))
                throw LoadError(alt.string() + ": module " + name + " is an " + kind_name(other) +
                                " module, not an " + kind_name(kind) + " module");
        }
        std::string msg = "module " + name + " is not installed (no " + path.string() + ")";
        if (const char* pkg = package_of(name)) msg += " (package " + std::string(pkg) + ")";
        throw LoadError(msg);
    }
    // Symlinks must resolve inside the module directory.
    fs::path real = fs::weakly_canonical(path, ec);
    fs::path real_dir = fs::weakly_canonical(dir_, ec);
    auto rel = real.lexically_relative(real_dir);
    if (rel.empty() || rel.begin()->string() == "..")
        throw LoadError(path.string() + ": resolves to " + real.string() + ", outside the module directory");
    auto lib = ModuleLibrary::open(real, kind);
    if (lib->descriptor().name != name)
        throw LoadError(path.string() + ": declares name '" + lib->descriptor().name + "', expected '" + name + "'");
    cache_[key] = lib;
    return lib;
}

std::vector<ModuleCatalog::Listing> ModuleCatalog::scan() {
    if (scanned_) return listing_;
    scanned_ = true;
    check_directory();
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir_)) {
        if (entry.path().extension() == ".so") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        Listing l{f, nullptr, {}};
        try {
            std::string stem = f.stem().string();
            auto us = stem.find('_');
            std::string kind = us == std::string::npos ? std::string() : stem.substr(0, us);
            std::string name = us == std::string::npos ? stem : stem.substr(us + 1);
            fa_kind k{};
            if (kind == "input") k = FA_KIND_INPUT;
            else if (kind == "classifier") k = FA_KIND_CLASSIFIER;
            else if (kind == "aggregator") k = FA_KIND_AGGREGATOR;
            else if (kind == "output") k = FA_KIND_OUTPUT;
            else throw LoadError(f.string() + ": file name is not <kind>_<name>.so");
            l.library = load(name, k);
        } catch (const std::exception& e) {
            l.error = e.what();
        }
        listing_.push_back(l);
    }
    return listing_;
}

namespace {

void add_keys(const ModuleLibrary& lib, std::set<std::string>& keys) {
    const auto& d = lib.descriptor();
    for (std::uint32_t i = 0; i < d.key_count; ++i)
        if (d.keys[i].name) keys.insert(d.keys[i].name);
}

} // namespace

std::vector<std::string> ModuleCatalog::all_keys() {
    std::set<std::string> keys;
    for (const auto& l : scan())
        if (l.library) add_keys(*l.library, keys);
    return {keys.begin(), keys.end()};
}

std::vector<std::string> ModuleCatalog::loaded_keys() const {
    std::set<std::string> keys;
    for (const auto& [file, lib] : cache_) add_keys(*lib, keys);
    return {keys.begin(), keys.end()};
}

fs::path default_module_dir() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return fs::path("/usr/lib/flowacct/modules");
    buf[n] = 0;
    return fs::path(buf).parent_path().parent_path() / "lib" / "flowacct" / "modules";
}

} // namespace flowacct::host
