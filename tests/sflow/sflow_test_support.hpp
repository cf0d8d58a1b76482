// SPDX-License-Identifier: GPL-2.0-or-later
// Test helpers for the sFlow decoder: a vector record sink and a counter map.
#pragma once

#include <cstdint>  // std::uint64_t
#include <cstring>  // std::memset
#include <map>      // std::map
#include <string>   // std::string
#include <vector>   // std::vector

#include "sflow_decoder.hpp" // sflow::RecordSink, sflow::CounterFactory

namespace flowacct::test {

/// Keeps every record and payload; single-threaded.
class VectorSink final : public sflow::RecordSink {
public:
    fa_record& next() noexcept override {
        records.emplace_back();
        payloads.emplace_back();
        std::memset(&records.back(), 0, sizeof(fa_record));
        return records.back();
    }
    void discard_last() noexcept override {
        records.pop_back();
        payloads.pop_back();
    }
    void attach_payload(fa_record& r, const std::uint8_t* data, std::uint32_t len) noexcept override {
        payloads.back().assign(data, data + len);
        r.flags |= FA_REC_HAS_PAYLOAD;
        r.payload_len = len;
    }
    std::vector<fa_record> records;
    std::vector<std::vector<std::uint8_t>> payloads;
};

/// Counter slots by "name" or "name{labels}", as FakeHost names them.
class CounterMap {
public:
    sflow::CounterFactory factory() {
        return [this](const char* name, const char* labels) {
            std::string k = name;
            if (labels && *labels) k += "{" + std::string(labels) + "}";
            return &slots_[k];
        };
    }
    std::uint64_t get(const std::string& key) const {
        auto it = slots_.find(key);
        return it == slots_.end() ? 0 : it->second;
    }
    /// Counter `name` of agent 192.0.2.1 sub-agent 0 (the tests' default agent).
    std::uint64_t agent(const std::string& name, const std::string& label = "agent=192.0.2.1,sub_agent=0") const {
        return get(name + "{" + label + "}");
    }
    /// Sum of every counter whose name starts with "drop_" or is l2l4_truncated.
    std::uint64_t drops() const {
        std::uint64_t n = 0;
        for (const auto& [k, v] : slots_)
            if (k.rfind("drop_", 0) == 0 || k.rfind("l2l4_truncated", 0) == 0) n += v;
        return n;
    }

private:
    std::map<std::string, std::uint64_t> slots_;
};

} // namespace flowacct::test
