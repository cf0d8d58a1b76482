// SPDX-License-Identifier: GPL-2.0-or-later
// Counters and interned names.
#include "registry.hpp"

#include <flowacct/sdk/primitives.hpp> // sdk::json_escape

namespace flowacct::host {

std::uint64_t* CounterRegistry::slot(const std::string& owner, const std::string& name, const std::string& labels) {
    std::lock_guard<std::mutex> g(mu_);
    std::string key = owner + '\x1f' + name + '\x1f' + labels;
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    slots_.push_back(0);
    std::uint64_t* p = &slots_.back();
    entries_.push_back(Entry{owner, name, labels, p});
    index_.emplace(key, p);
    return p;
}

std::vector<CounterRegistry::Entry> CounterRegistry::snapshot() const {
    std::lock_guard<std::mutex> g(mu_);
    return entries_;
}

std::string CounterRegistry::to_json() const {
    std::string out = "{\"counters\":[";
    bool first = true;
    for (const auto& e : snapshot()) {
        if (!first) out += ",";
        first = false;
        out += "{\"owner\":\"" + json_escape(e.owner) + "\",\"name\":\"" + json_escape(e.name) + "\"";
        if (!e.labels.empty()) out += ",\"labels\":\"" + json_escape(e.labels) + "\"";
        out += ",\"value\":" + std::to_string(__atomic_load_n(e.slot, __ATOMIC_RELAXED)) + "}";
    }
    return out + "]}";
}

std::vector<std::string> CounterRegistry::to_lines() const {
    std::vector<std::string> out;
    for (const auto& e : snapshot()) {
        auto v = __atomic_load_n(e.slot, __ATOMIC_RELAXED);
        if (v == 0) continue;
        std::string line = "[" + e.owner + "] " + e.name;
        if (!e.labels.empty()) line += "{" + e.labels + "}";
        out.push_back(line + " " + std::to_string(v));
    }
    return out;
}

std::uint64_t CounterRegistry::value(const std::string& owner, const std::string& name, const std::string& labels) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = index_.find(owner + '\x1f' + name + '\x1f' + labels);
    return it == index_.end() ? 0 : __atomic_load_n(it->second, __ATOMIC_RELAXED);
}

std::uint32_t InternTable::intern(std::string_view s) {
    {
        std::shared_lock<std::shared_mutex> g(mu_);
        auto it = ids_.find(std::string(s));
        if (it != ids_.end()) return it->second;
    }
    std::unique_lock<std::shared_mutex> g(mu_);
    auto it = ids_.find(std::string(s));
    if (it != ids_.end()) return it->second;
    names_.emplace_back(s);
    auto id = static_cast<std::uint32_t>(names_.size());
    ids_.emplace(names_.back(), id);
    return id;
}

const char* InternTable::name_of(std::uint32_t id) const {
    std::shared_lock<std::shared_mutex> g(mu_);
    if (id == 0 || id > names_.size()) return "";
    return names_[id - 1].c_str();
}

} // namespace flowacct::host
