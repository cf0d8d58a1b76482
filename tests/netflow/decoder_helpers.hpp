// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers for the NetFlow decoder tests: counters kept in a map, a decoder with its sink.
#pragma once

#include <cstring>  // std::memcpy
#include <map>      // std::map
#include <string>   // std::string
#include <vector>   // std::vector

#include "netflow_decoder.hpp" // netflow::Decoder
#include "netflow_writer.hpp"  // gen::Writer

namespace flowacct::test {

/// Counters in a map: "name{labels}" -> value. Node addresses are stable, as the decoder needs.
class MapCounters final : public netflow::CounterSource {
public:
    std::uint64_t* slot(const char* name, const std::string& labels) override {
        std::string k = name;
        if (!labels.empty()) k += "{" + labels + "}";
        return &values[k];
    }
    std::uint64_t get(const std::string& name, const std::string& exporter = "192.0.2.1") const {
        auto it = values.find(name + "{exporter=" + exporter + "}");
        return it == values.end() ? 0 : it->second;
    }
    std::map<std::string, std::uint64_t> values;
};

inline netflow::Exporter exporter(const char* v4 = "192.0.2.1", std::uint16_t port = 5000) {
    netflow::Exporter e;
    e.addr[10] = e.addr[11] = 0xFF;
    unsigned a, b, c, d;
    std::sscanf(v4, "%u.%u.%u.%u", &a, &b, &c, &d);
    e.addr[12] = static_cast<std::uint8_t>(a);
    e.addr[13] = static_cast<std::uint8_t>(b);
    e.addr[14] = static_cast<std::uint8_t>(c);
    e.addr[15] = static_cast<std::uint8_t>(d);
    e.port = port;
    return e;
}

inline std::string ip_text(const std::uint8_t a[16]) { return netflow::address_text(a); }

constexpr std::uint64_t kExportSecs = 1700000000;          // 2023-11-14T22:13:20Z
constexpr std::uint64_t kArrivalUs = kExportSecs * 1000000 + 500000;

/// A decoder, its counters and the records of the last decode.
struct Harness {
    explicit Harness(netflow::DecoderOptions o = {}) : dec(o, counters) {}
    std::vector<fa_record> feed(gen::Writer& w, const netflow::Exporter& from = exporter(),
                                std::uint64_t arrival_us = kArrivalUs) {
        return feed(w.data(), from, arrival_us);
    }
    std::vector<fa_record> feed(const std::vector<std::uint8_t>& bytes, const netflow::Exporter& from = exporter(),
                                std::uint64_t arrival_us = kArrivalUs) {
        netflow::VectorSink sink;
        dec.decode(bytes.data(), bytes.size(), from, arrival_us, sink);
        return sink.take();
    }
    std::uint64_t c(const std::string& name, const std::string& ex = "192.0.2.1") const { return counters.get(name, ex); }
    MapCounters counters;
    netflow::Decoder dec;
};

} // namespace flowacct::test
