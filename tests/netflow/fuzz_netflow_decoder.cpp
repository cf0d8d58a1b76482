// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target for the NetFlow v5/v9/IPFIX decoder. State (templates, samplers, sequence
// numbers) persists across inputs, as it does across datagrams, with small caps so eviction
// paths run too. The first input byte picks one of four exporters; the rest is the datagram.
#include <cstddef> // std::size_t
#include <cstdint> // std::uint8_t
#include <deque>   // std::deque
#include <string>  // std::string

#include "netflow_decoder.hpp" // netflow::Decoder

namespace {

struct Slots final : flowacct::netflow::CounterSource {
    std::deque<std::uint64_t> s;
    std::uint64_t* slot(const char*, const std::string&) override { return &s.emplace_back(0); }
};

struct Sink final : flowacct::netflow::RecordSink {
    fa_record buf[64];
    bool refill() override {
        records_ = buf;
        capacity_ = 64;
        count_ = 0;
        return true;
    }
};

flowacct::netflow::Decoder& decoder(bool renormalize) {
    static Slots slots;
    static flowacct::netflow::DecoderOptions o = [] {
        flowacct::netflow::DecoderOptions x;
        x.max_sessions = 3;
        x.max_domains = 4;
        x.max_templates = 8;
        x.max_samplers = 4;
        x.max_fields = 64;
        x.max_labeled_exporters = 2;
        x.max_total_templates = 20;
        return x;
    }();
    static flowacct::netflow::Decoder plain(o, slots);
    static flowacct::netflow::DecoderOptions r = [] {
        auto x = o;
        x.renormalize = true;
        return x;
    }();
    static flowacct::netflow::Decoder renorm(r, slots);
    return renormalize ? renorm : plain;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    flowacct::netflow::Exporter ex;
    ex.addr[10] = ex.addr[11] = 0xFF;
    ex.addr[15] = static_cast<std::uint8_t>(data[0] & 3);
    ex.port = data[0] & 4 ? 2055 : 2056;
    Sink sink;
    decoder(data[0] & 8).decode(data + 1, size - 1, ex, 1700000000000000ull, sink);
    return 0;
}
