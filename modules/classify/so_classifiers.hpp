// SPDX-License-Identifier: GPL-2.0-or-later
// SharedClassifier: one `.so` classifier (flowacct/classifier.h) loaded and initialized.
#pragma once

#include <cstdint>      // std::uint32_t
#include <filesystem>   // std::filesystem::path
#include <memory>       // std::unique_ptr
#include <string>       // std::string
#include <vector>       // std::vector

#include <flowacct/classifier.h> // fa_classifier_descriptor

namespace flowacct::classify {

/// A loaded, initialized shared-object classifier. Owns the library handle and the ctx from
/// init(); the destructor calls teardown() and closes the library. Built on the main or the
/// pipeline thread, used on the pipeline thread only.
class SharedClassifier {
public:
    /// Loads `file` (an absolute path inside `dir`) and runs init(dir). Throws
    /// std::runtime_error with a one-line reason when the file is unsafe (group- or
    /// world-writable, not owned by root or by us, a symlink leaving `dir`), cannot be loaded,
    /// lacks FA_CLASSIFIER_SYMBOL, was built for another FA_CLASSIFIER_ABI_VERSION, declares a
    /// bad protocol name or state size, or its init() fails.
    static std::unique_ptr<SharedClassifier> load(const std::filesystem::path& file, const std::filesystem::path& dir);
    ~SharedClassifier();
    SharedClassifier(const SharedClassifier&) = delete;
    SharedClassifier& operator=(const SharedClassifier&) = delete;

    const fa_classifier_descriptor& descriptor() const { return *d_; }
    void* ctx() const { return ctx_; }
    const std::string& file() const { return file_; }
    std::uint32_t state_size() const { return d_->state_size; }

private:
    SharedClassifier() = default;
    void* handle_ = nullptr;
    const fa_classifier_descriptor* d_ = nullptr;
    void* ctx_ = nullptr;
    bool initialized_ = false;
    std::string file_;
};

} // namespace flowacct::classify
