// SPDX-License-Identifier: GPL-2.0-or-later
// SharedClassifier: loading `.so` classifiers safely and checking their ABI.
#include "so_classifiers.hpp"

#include <dlfcn.h>     // dlopen, dlsym, dlclose, dlerror
#include <sys/stat.h>  // stat, S_IWGRP, S_IWOTH
#include <unistd.h>    // geteuid

#include <cstring>     // std::strlen
#include <stdexcept>   // std::runtime_error
#include <system_error> // std::error_code

namespace flowacct::classify {

namespace fs = std::filesystem;

namespace {

// RELIABILITY E5: code only from files that nobody but root (or the daemon's own user) can
// change, in a directory equally protected.
void check_owner_and_mode(const fs::path& p, const char* what) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) throw std::runtime_error(std::string(what) + " " + p.string() + " cannot be examined");
    if (st.st_uid != 0 && st.st_uid != ::geteuid())
        throw std::runtime_error(std::string(what) + " " + p.string() + " is owned by uid " + std::to_string(st.st_uid) +
                                 ", neither root nor the daemon's user");
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        throw std::runtime_error(std::string(what) + " " + p.string() + " is group- or world-writable");
}

bool printable_name(const char* s) {
    if (!s) return false;
    std::size_t n = std::strlen(s);
    if (n == 0 || n >= FA_CLASSIFIER_NAME_MAX) return false;
    for (std::size_t i = 0; i < n; ++i)
        if (s[i] <= ' ' || s[i] > '~') return false;
    return true;
}

} // namespace

std::unique_ptr<SharedClassifier> SharedClassifier::load(const fs::path& file, const fs::path& dir) {
    std::error_code ec;
    fs::path real_dir = fs::canonical(dir, ec);
    if (ec) throw std::runtime_error(dir.string() + ": " + ec.message());
    fs::path real = fs::canonical(file, ec);
    if (ec) throw std::runtime_error(file.string() + ": " + ec.message());
    if (real.parent_path() != real_dir)
        throw std::runtime_error(file.string() + " resolves to " + real.string() + ", outside " + real_dir.string());
    if (!fs::is_regular_file(real, ec)) throw std::runtime_error(file.string() + " is not a regular file");
    check_owner_and_mode(real_dir, "directory");
    check_owner_and_mode(real, "classifier");

    std::unique_ptr<SharedClassifier> c(new SharedClassifier());
    c->file_ = file.string();
    // RTLD_LOCAL: a classifier's symbols never satisfy another's; RTLD_NOW: a missing symbol
    // fails here, not on the pipeline thread in the middle of a batch.
    c->handle_ = ::dlopen(real.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!c->handle_) {
        const char* e = ::dlerror();
        throw std::runtime_error(file.string() + ": cannot load: " + (e ? e : "unknown error"));
    }
    auto entry = reinterpret_cast<fa_classifier_entry>(::dlsym(c->handle_, FA_CLASSIFIER_SYMBOL));
    if (!entry) throw std::runtime_error(file.string() + ": missing symbol " FA_CLASSIFIER_SYMBOL);
    const fa_classifier_descriptor* d = entry();
    if (!d) throw std::runtime_error(file.string() + ": " FA_CLASSIFIER_SYMBOL " returned no descriptor");
    if (d->abi_version != FA_CLASSIFIER_ABI_VERSION)
        throw std::runtime_error(file.string() + ": classifier ABI version " + std::to_string(d->abi_version) +
                                 ", this host supports " + std::to_string(FA_CLASSIFIER_ABI_VERSION));
    if (d->struct_size < sizeof(fa_classifier_descriptor))
        throw std::runtime_error(file.string() + ": descriptor of " + std::to_string(d->struct_size) +
                                 " bytes, expected at least " + std::to_string(sizeof(fa_classifier_descriptor)));
    if (!d->classify) throw std::runtime_error(file.string() + ": the descriptor has no classify function");
    if (!printable_name(d->protocol))
        throw std::runtime_error(file.string() + ": the protocol name is empty, too long or not printable ASCII");
    if (d->state_size > FA_CLASSIFIER_MAX_STATE)
        throw std::runtime_error(file.string() + ": per-stream state of " + std::to_string(d->state_size) +
                                 " bytes exceeds " + std::to_string(FA_CLASSIFIER_MAX_STATE));
    c->d_ = d;
    if (d->init) {
        char error[256] = {0};
        int rc = d->init(&c->ctx_, dir.c_str(), error, sizeof error);
        error[sizeof error - 1] = '\0';
        if (rc != 0)
            throw std::runtime_error(file.string() + ": init failed (" + std::to_string(rc) + ")" +
                                     (error[0] ? std::string(": ") + error : std::string()));
    }
    c->initialized_ = true;
    return c;
}

SharedClassifier::~SharedClassifier() {
    if (initialized_ && d_ && d_->teardown) d_->teardown(ctx_);
    if (handle_) ::dlclose(handle_);
}

} // namespace flowacct::classify
