// SPDX-License-Identifier: GPL-2.0-or-later
// Counters and interned names the host keeps for every module instance.
#pragma once

#include <cstdint>        // std::uint64_t, std::uint32_t
#include <deque>          // std::deque
#include <mutex>          // std::mutex
#include <shared_mutex>   // std::shared_mutex
#include <string>         // std::string
#include <string_view>    // std::string_view
#include <unordered_map>  // std::unordered_map
#include <vector>         // std::vector

#include <flowacct/sdk/primitives.hpp> // sdk::json_escape

namespace flowacct::host {

/// Counter slots with stable addresses. Registration takes a lock (setup time); increments are
/// relaxed atomics on the slot; reading walks every slot.
class CounterRegistry {
public:
    struct Entry {
        std::string owner;  // "a/memory", "nf/netflow", "pipeline/a"
        std::string name;
        std::string labels; // "exporter=10.0.0.1" or empty
        std::uint64_t* slot;
    };

    /// The slot for (owner, name, labels); the same triple returns the same slot.
    std::uint64_t* slot(const std::string& owner, const std::string& name, const std::string& labels);
    std::vector<Entry> snapshot() const;
    /// {"counters":[{"owner":..,"name":..,"labels":..,"value":N},...]}
    std::string to_json() const;
    /// One line per counter with a non-zero value, for the log.
    std::vector<std::string> to_lines() const;
    std::uint64_t value(const std::string& owner, const std::string& name, const std::string& labels = {}) const;

private:
    mutable std::mutex mu_;
    std::deque<std::uint64_t> slots_;
    std::vector<Entry> entries_;
    std::unordered_map<std::string, std::uint64_t*> index_;
};

/// Class and label names: the same string gets the same id, never 0. Names are never freed, so
/// the pointers name_of() returns stay valid.
class InternTable {
public:
    std::uint32_t intern(std::string_view s);
    const char* name_of(std::uint32_t id) const;

private:
    mutable std::shared_mutex mu_;
    std::deque<std::string> names_;
    std::unordered_map<std::string, std::uint32_t> ids_;
};

using flowacct::sdk::json_escape;

} // namespace flowacct::host
