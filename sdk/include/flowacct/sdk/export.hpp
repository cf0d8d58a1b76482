// SPDX-License-Identifier: GPL-2.0-or-later
// FLOWACCT_MODULE: turns a C++ module class into the one exported C descriptor.
// The trampolines catch every exception at the boundary and turn it into a status plus a log
// line, so nothing of C++ reaches the host.
#pragma once

#include <cstddef>      // std::size_t, std::nullptr_t
#include <cstdio>       // std::snprintf
#include <exception>    // std::exception
#include <type_traits>  // std::void_t, std::true_type

#include <flowacct/abi.h>             // fa_module_descriptor
#include <flowacct/sdk/module.hpp>    // sdk::Input, sdk::Output, sdk::Error

#if defined(_WIN32)
#define FLOWACCT_EXPORT __declspec(dllexport)
#else
#define FLOWACCT_EXPORT __attribute__((visibility("default")))
#endif

namespace flowacct::sdk::detail {

template <class T, class = void> struct aggregator_of { static constexpr const char* value = nullptr; };
template <class T> struct aggregator_of<T, std::void_t<decltype(T::kDefaultAggregator)>> {
    static constexpr const char* value = T::kDefaultAggregator;
};

template <class T, class = void> struct refresh_of { static constexpr std::uint32_t value = 0; };
template <class T> struct refresh_of<T, std::void_t<decltype(T::kDefaultRefreshS)>> {
    static constexpr std::uint32_t value = T::kDefaultRefreshS;
};

template <class T, class = void> struct datagrams_only_of { static constexpr bool value = false; };
template <class T> struct datagrams_only_of<T, std::void_t<decltype(T::kDatagramsOnly)>> {
    static constexpr bool value = T::kDatagramsOnly;
};

inline void fill_error(fa_error* err, const char* key, const char* message) {
    if (!err) return;
    std::snprintf(err->key, sizeof err->key, "%s", key ? key : "");
    std::snprintf(err->message, sizeof err->message, "%s", message ? message : "unknown error");
}

struct Holder {
    const fa_host_api* host;
    void* object;
};

inline void report(const fa_host_api* host, const char* what, const char* message) {
    char line[512];
    std::snprintf(line, sizeof line, "%s failed: %s", what, message);
    host->log(host->ctx, FA_LOG_ERROR, line);
}

// Runs `fn`, turning exceptions into FA_ERROR with a log line.
template <class Fn> fa_status guarded(const fa_host_api* host, const char* what, Fn&& fn) noexcept {
    try {
        return fn();
    } catch (const std::exception& e) {
        report(host, what, e.what());
    } catch (...) {
        report(host, what, "unknown exception");
    }
    return FA_ERROR;
}

template <class Impl> fa_status create(const fa_host_api* host, void** out, fa_error* err) noexcept {
    try {
        auto* holder = new Holder{host, nullptr};
        try {
            holder->object = new Impl(Context(host));
        } catch (...) {
            delete holder;
            throw;
        }
        *out = holder;
        return FA_OK;
    } catch (const Error& e) {
        fill_error(err, e.key().c_str(), e.what());
    } catch (const std::exception& e) {
        fill_error(err, "", e.what());
    } catch (...) {
        fill_error(err, "", "unknown exception in create");
    }
    return FA_ERROR;
}

template <class Impl> void destroy(void* p) noexcept {
    auto* holder = static_cast<Holder*>(p);
    try {
        delete static_cast<Impl*>(holder->object);
    } catch (...) {
    }
    delete holder;
}

template <class Impl> Impl& self(void* p) { return *static_cast<Impl*>(static_cast<Holder*>(p)->object); }
inline const fa_host_api* host_of(void* p) { return static_cast<Holder*>(p)->host; }

template <class Impl> struct InputOps {
    static fa_status run(void* p) noexcept {
        return guarded(host_of(p), "input", [&] { return self<Impl>(p).run(); });
    }
    static void request_stop(void* p) noexcept {
        guarded(host_of(p), "request_stop", [&] { self<Impl>(p).request_stop(); return FA_OK; });
    }
    static fa_status reload(void* p) noexcept {
        return guarded(host_of(p), "reload", [&] { self<Impl>(p).reload(); return FA_OK; });
    }
    static constexpr fa_input_ops ops{sizeof(fa_input_ops), &run, &request_stop, &reload};
    static constexpr fa_kind kind = FA_KIND_INPUT;
};

template <class Impl> struct OutputOps {
    static fa_status write(void* p, const fa_row_batch* rows) noexcept {
        return guarded(host_of(p), "write", [&] { self<Impl>(p).write(*rows); return FA_OK; });
    }
    static fa_status tick(void* p, std::uint64_t now) noexcept {
        return guarded(host_of(p), "tick", [&] { self<Impl>(p).tick(now); return FA_OK; });
    }
    static fa_status flush(void* p) noexcept {
        return guarded(host_of(p), "flush", [&] { self<Impl>(p).flush(); return FA_OK; });
    }
    static fa_status datagrams(void* p, const fa_datagram* const* d, std::uint32_t n) noexcept {
        return guarded(host_of(p), "datagrams", [&] { self<Impl>(p).datagrams(d, n); return FA_OK; });
    }
    static fa_status reload(void* p) noexcept {
        return guarded(host_of(p), "reload", [&] { self<Impl>(p).reload(); return FA_OK; });
    }
    static constexpr bool kOnlyDatagrams = datagrams_only_of<Impl>::value;
    static constexpr fa_output_ops ops{sizeof(fa_output_ops), kOnlyDatagrams ? nullptr : &write, &tick, &flush,
                                       refresh_of<Impl>::value, aggregator_of<Impl>::value,
                                       kOnlyDatagrams ? &datagrams : nullptr, &reload};
    static constexpr fa_kind kind = FA_KIND_OUTPUT;
};

template <class Impl> struct AggregatorOps {
    static int ingest(void* p, const fa_record* r, std::uint32_t n) noexcept {
        bool full = false;
        guarded(host_of(p), "ingest", [&] { full = self<Impl>(p).ingest(r, n); return FA_OK; });
        return full ? 1 : 0;
    }
    static fa_status purge(void* p, std::uint64_t now, int force, const fa_row_sink* sink) noexcept {
        return guarded(host_of(p), "purge", [&] { self<Impl>(p).purge(now, force != 0, *sink); return FA_OK; });
    }
    static std::uint64_t size(void* p) noexcept { return self<Impl>(p).size(); }
    static constexpr fa_aggregator_ops ops{sizeof(fa_aggregator_ops), &ingest, &purge, &size};
    static constexpr fa_kind kind = FA_KIND_AGGREGATOR;
};

template <class Impl> struct ClassifierOps {
    static void process(void* p, fa_record* r, std::uint32_t n, const std::uint8_t* payload) noexcept {
        guarded(host_of(p), "classify", [&] { self<Impl>(p).process(r, n, payload); return FA_OK; });
    }
    static fa_status reload(void* p) noexcept {
        return guarded(host_of(p), "reload", [&] { self<Impl>(p).reload(); return FA_OK; });
    }
    static constexpr fa_classifier_ops ops{sizeof(fa_classifier_ops), &process, &reload};
    static constexpr fa_kind kind = FA_KIND_CLASSIFIER;
};

template <std::size_t N> constexpr std::uint32_t key_count(const fa_config_key (&)[N]) {
    return static_cast<std::uint32_t>(N);
}
constexpr std::uint32_t key_count(std::nullptr_t) { return 0; }
constexpr const fa_config_key* key_array(std::nullptr_t) { return nullptr; }
template <std::size_t N> constexpr const fa_config_key* key_array(const fa_config_key (&k)[N]) { return k; }

template <class Base> struct OpsFor;
template <> struct OpsFor<Input> { template <class I> using type = InputOps<I>; };
template <> struct OpsFor<Output> { template <class I> using type = OutputOps<I>; };
template <> struct OpsFor<Aggregator> { template <class I> using type = AggregatorOps<I>; };
template <> struct OpsFor<Classifier> { template <class I> using type = ClassifierOps<I>; };

} // namespace flowacct::sdk::detail

/// FLOWACCT_MODULE(Kind, Class, "name", "version", "description", keys)
/// Kind is Input, Output, Aggregator or Classifier; Class is constructed from an sdk::Context;
/// keys is a constexpr array of fa_config_key, or nullptr for a module without keys.
#define FLOWACCT_MODULE(KIND, CLASS, NAME, VERSION, DESCRIPTION, KEYS)                               \
    namespace {                                                                                     \
    using flowacct_ops_t_ = ::flowacct::sdk::detail::OpsFor<::flowacct::sdk::KIND>::template type<CLASS>;   \
    const fa_module_descriptor flowacct_descriptor_ = {                                             \
        sizeof(fa_module_descriptor), FA_ABI_MAJOR, FA_ABI_MINOR, flowacct_ops_t_::kind,            \
        NAME, VERSION, DESCRIPTION, ::flowacct::sdk::detail::key_array(KEYS),                       \
        ::flowacct::sdk::detail::key_count(KEYS),                                                   \
        &::flowacct::sdk::detail::create<CLASS>, &::flowacct::sdk::detail::destroy<CLASS>,            \
        &flowacct_ops_t_::ops};                                                                     \
    }                                                                                               \
    extern "C" FLOWACCT_EXPORT const fa_module_descriptor* flowacct_module_v1(void) {               \
        return &flowacct_descriptor_;                                                               \
    }

