// SPDX-License-Identifier: GPL-2.0-or-later
// A fake host for unit tests: drives a module through its C descriptor without the daemon.
// Configuration is a map; counters, logs, interned names and submitted batches are kept for
// the test to inspect. Single-threaded unless a test takes care.
#pragma once

#include <dlfcn.h>       // dlopen, dlsym

#include <chrono>        // std::chrono
#include <cstddef>       // offsetof
#include <cstdint>       // std::uint64_t
#include <deque>         // std::deque
#include <map>           // std::map
#include <memory>        // std::unique_ptr
#include <mutex>         // std::mutex
#include <string>        // std::string
#include <vector>        // std::vector

#include <flowacct/abi.h> // fa_host_api, fa_module_descriptor

namespace flowacct::test {

class FakeHost {
public:
    explicit FakeHost(std::map<std::string, std::string> config = {}, std::string instance = "test")
        : config_(std::move(config)), instance_(std::move(instance)) {
        api_.struct_size = sizeof api_;
        api_.abi_major = FA_ABI_MAJOR;
        api_.abi_minor = FA_ABI_MINOR;
        api_.ctx = this;
        api_.instance_name = instance_.c_str();
        api_.log = [](void* c, fa_log_level level, const char* m) {
            auto* self = static_cast<FakeHost*>(c);
            std::lock_guard<std::mutex> g(self->mu_);
            self->logs.push_back(std::to_string(static_cast<int>(level)) + " " + m);
        };
        api_.config_get = [](void* c, const char* key) -> const char* {
            auto* self = static_cast<FakeHost*>(c);
            auto it = self->config_.find(key);
            if (it != self->config_.end()) return it->second.c_str();
            // As the host does: the module's declared default when the key is unset.
            if (self->module_)
                for (std::uint32_t i = 0; i < self->module_->key_count; ++i)
                    if (std::string(self->module_->keys[i].name) == key) return self->module_->keys[i].default_value;
            return nullptr;
        };
        api_.counter = [](void* c, const char* name, const char* labels) -> std::uint64_t* {
            auto* self = static_cast<FakeHost*>(c);
            std::string k = name;
            if (labels && *labels) k += "{" + std::string(labels) + "}";
            return &self->counters[k];
        };
        api_.intern = [](void* c, const char* s, size_t n) -> std::uint32_t {
            auto* self = static_cast<FakeHost*>(c);
            std::lock_guard<std::mutex> g(self->mu_);
            std::string key(s, n);
            for (std::size_t i = 0; i < self->names_.size(); ++i)
                if (self->names_[i] == key) return static_cast<std::uint32_t>(i + 1);
            self->names_.push_back(key);
            return static_cast<std::uint32_t>(self->names_.size());
        };
        api_.name_of = [](void* c, std::uint32_t id) -> const char* {
            auto* self = static_cast<FakeHost*>(c);
            std::lock_guard<std::mutex> g(self->mu_);
            if (id == 0 || id > self->names_.size()) return "";
            return self->names_[id - 1].c_str();
        };
        api_.monotonic_us = [](void* c) -> std::uint64_t {
            auto* self = static_cast<FakeHost*>(c);
            if (self->manual_clock_us) return self->manual_clock_us;
            return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now().time_since_epoch()).count());
        };
        api_.wall_us = [](void* c) -> std::uint64_t {
            auto* self = static_cast<FakeHost*>(c);
            if (self->manual_clock_us) return self->manual_clock_us;
            return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch()).count());
        };
        api_.batch_acquire = [](void* c) -> fa_batch* {
            auto* self = static_cast<FakeHost*>(c);
            auto owned = std::make_unique<Owned>();
            owned->records.resize(self->batch_capacity);
            owned->payload.resize(self->batch_capacity * 256);
            owned->batch.records = owned->records.data();
            owned->batch.capacity = self->batch_capacity;
            owned->batch.payload = owned->payload.data();
            owned->batch.payload_capacity = static_cast<std::uint32_t>(owned->payload.size());
            fa_batch* b = &owned->batch;
            self->open_.push_back(std::move(owned));
            return b;
        };
        api_.batch_submit = [](void* c, fa_batch* b) -> std::uint32_t {
            auto* self = static_cast<FakeHost*>(c);
            for (std::uint32_t i = 0; i < b->count; ++i) {
                self->records.push_back(b->records[i]);
                const fa_record& r = b->records[i];
                if (r.flags & FA_REC_HAS_PAYLOAD)
                    self->payloads.emplace_back(b->payload + r.payload_offset, b->payload + r.payload_offset + r.payload_len);
                else
                    self->payloads.emplace_back();
            }
            ++self->batches_submitted;
            return b->count;
        };
        api_.set_backpressure = [](void* c, int on) { static_cast<FakeHost*>(c)->backpressure = on != 0; };
        api_.stop_requested = [](void* c) -> int { return static_cast<FakeHost*>(c)->stop ? 1 : 0; };
        api_.stats_json = [](void*) -> const char* { return "{\"fake\":true}"; };
        api_.datagrams_wanted = [](void* c) -> int { return static_cast<FakeHost*>(c)->want_datagrams ? 1 : 0; };
        api_.datagram_submit = [](void* c, const fa_datagram* d) {
            auto* self = static_cast<FakeHost*>(c);
            std::lock_guard<std::mutex> g(self->mu_);
            self->datagrams.push_back(Datagram{*d, std::vector<std::uint8_t>(d->data, d->data + d->length)});
            self->datagrams.back().d.data = nullptr; // the input's buffer is gone after the call
        };
    }

    /// Pretends to be a host of ABI minor 0: the appended fields are not there.
    void as_minor0() {
        api_.struct_size = static_cast<std::uint32_t>(offsetof(fa_host_api, datagrams_wanted));
        api_.abi_minor = 0;
    }

    const fa_host_api* api() const { return &api_; }
    std::uint64_t counter(const std::string& key) const {
        auto it = counters.find(key);
        return it == counters.end() ? 0 : it->second;
    }
    void set(const std::string& key, const std::string& value) { config_[key] = value; }
    /// Declared defaults of this module answer config_get for unset keys (Instance sets it).
    void use_defaults_of(const fa_module_descriptor* d) { module_ = d; }

    std::vector<fa_record> records;                    // every submitted record, in order
    std::vector<std::vector<std::uint8_t>> payloads;   // payload bytes of each record
    std::map<std::string, std::uint64_t> counters;
    std::vector<std::string> logs;
    std::uint32_t batch_capacity = 64;
    std::uint64_t batches_submitted = 0;
    std::uint64_t manual_clock_us = 0;                 // non-zero: both clocks return it
    bool backpressure = false;
    bool stop = false;
    struct Datagram {
        fa_datagram d;                    // data is null: the bytes are in `bytes`
        std::vector<std::uint8_t> bytes;
    };
    bool want_datagrams = false;                       // what datagrams_wanted answers
    std::vector<Datagram> datagrams;                   // every submitted datagram, in order

private:
    struct Owned {
        fa_batch batch{};
        std::vector<fa_record> records;
        std::vector<std::uint8_t> payload;
    };
    std::map<std::string, std::string> config_;
    std::string instance_;
    const fa_module_descriptor* module_ = nullptr;
    fa_host_api api_{};
    std::vector<std::string> names_;
    std::deque<std::unique_ptr<Owned>> open_;
    std::mutex mu_;
};

/// Creates an instance of a module through its descriptor; destroys it at scope exit.
class Instance {
public:
    Instance(const fa_module_descriptor* d, FakeHost& host) : d_(d) {
        host.use_defaults_of(d);
        fa_error err{};
        if (d_->create(host.api(), &obj_, &err) != FA_OK) {
            error = std::string(err.key) + ": " + err.message;
            obj_ = nullptr;
        }
    }
    ~Instance() {
        if (obj_) d_->destroy(obj_);
    }
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    void* get() const { return obj_; }
    explicit operator bool() const { return obj_ != nullptr; }
    template <class Ops> const Ops* ops() const { return static_cast<const Ops*>(d_->ops); }
    std::string error;

private:
    const fa_module_descriptor* d_;
    void* obj_ = nullptr;
};

} // namespace flowacct::test

namespace flowacct::test {

/// Loads a built module by file name (e.g. "output_print.so") from the build tree's module
/// directory and returns its descriptor; nullptr if it cannot. The library stays loaded.
inline const fa_module_descriptor* load_module(const std::string& file) {
    std::string path = std::string(FLOWACCT_TEST_MODULE_DIR) + "/" + file;
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) return nullptr;
    auto entry = reinterpret_cast<fa_module_entry>(dlsym(h, FA_MODULE_SYMBOL));
    return entry ? entry() : nullptr;
}

} // namespace flowacct::test
