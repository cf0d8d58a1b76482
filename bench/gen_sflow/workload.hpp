// SPDX-License-Identifier: GPL-2.0-or-later
// The sFlow workload shared by the generator and the decoder benchmark: datagrams built from a
// fixed seed, so that every run and every tool sees the same traffic.
#pragma once

#include <cstdint>  // std::uint32_t, std::uint64_t
#include <random>   // std::mt19937_64
#include <vector>   // std::vector

#include "sflow_encoder.hpp" // encode::Datagram, encode::FlowSample

namespace flowacct::sflow::bench {

struct WorkloadOptions {
    std::uint64_t samples = 100000;         // flow samples in total
    std::uint32_t keys = 1000;              // distinct (src_host, dst_host, src_port, ...) keys
    std::uint32_t samples_per_datagram = 8;
    std::uint32_t sampling_rate = 1;
    std::uint32_t agents = 1;
    bool ipv6_agents = false;
    bool ipv6_flows = false;                // sampled headers carry IPv6 instead of IPv4
    bool expanded = false;                  // expanded flow samples
    bool sampled_ip = false;                // sampled IPv4/IPv6 records instead of raw headers
    std::uint32_t counter_every = 16;       // one counter sample every N datagrams (0 = none)
    std::uint64_t seed = 42;
};

/// Builds the datagrams one by one; next() returns false after the last. Not thread-safe.
class Workload {
public:
    explicit Workload(WorkloadOptions o) : o_(o), rng_(o.seed) {
        if (o_.keys == 0) o_.keys = 1;
        if (o_.agents == 0) o_.agents = 1;
        if (o_.samples_per_datagram == 0) o_.samples_per_datagram = 1;
        if (o_.sampling_rate == 0) o_.sampling_rate = 1;
        agents_.resize(o_.agents);
    }

    /// The agent index of the last datagram built.
    std::uint32_t last_agent() const { return last_agent_; }

    bool next(encode::Bytes& out) {
        if (done_ >= o_.samples) return false;
        const std::uint32_t ai = static_cast<std::uint32_t>(datagrams_ % o_.agents);
        last_agent_ = ai;
        AgentState& st = agents_[ai];
        encode::Address agent;
        if (o_.ipv6_agents) {
            std::uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
            a[14] = static_cast<std::uint8_t>(ai >> 8);
            a[15] = static_cast<std::uint8_t>(ai + 1);
            agent = encode::Address::ipv6(a);
        } else {
            agent = encode::Address::v4(192, 0, static_cast<std::uint8_t>(2 + (ai >> 8)), static_cast<std::uint8_t>(ai + 1));
        }
        st.uptime_ms += 10;
        encode::Datagram d(agent, 0, ++st.datagram_seq, st.uptime_ms);
        for (std::uint32_t i = 0; i < o_.samples_per_datagram && done_ < o_.samples; ++i, ++done_) {
            d.add_flow(flow_sample(st));
        }
        if (o_.counter_every && datagrams_ % o_.counter_every == 0) {
            st.counters.in_octets += 123456;
            st.counters.out_octets += 654321;
            st.counters.in_ucast += 1000;
            st.counters.out_ucast += 900;
            d.add(kCounterSample, encode::counter_sample_body(++st.counter_seq, 1,
                                                              {{kCntGenericInterface, encode::generic_if(st.counters)}}));
        }
        ++datagrams_;
        out = d.bytes();
        return true;
    }

private:
    struct AgentState {
        std::uint32_t datagram_seq = 0;
        std::uint32_t uptime_ms = 1000;
        std::uint32_t counter_seq = 0;
        std::uint32_t flow_seq[4] = {};
        std::uint32_t pool[4] = {};
        encode::IfCounters counters;
    };

    encode::FlowSample flow_sample(AgentState& st) {
        const std::uint32_t k = static_cast<std::uint32_t>(rng_() % o_.keys);
        const std::uint32_t port_index = static_cast<std::uint32_t>(rng_() % 4); // 4 sources (ifIndex 1..4)
        encode::FlowSample s;
        s.expanded = o_.expanded;
        s.seq = ++st.flow_seq[port_index];
        s.source_id = port_index + 1;
        s.rate = o_.sampling_rate;
        // The pool grows by the rate per sample, so an effective rate computed from it equals
        // the declared one.
        st.pool[port_index] += o_.sampling_rate;
        s.pool = st.pool[port_index];
        s.input = port_index + 1;
        s.output = 10 + (k % 3);
        const std::uint8_t proto = (k % 3 == 0) ? 17 : 6;
        const auto sport = static_cast<std::uint16_t>(1024 + (k * 7919) % 60000);
        const std::uint16_t dport = (k % 3 == 0) ? 53 : (k % 2 ? 443 : 80);
        // 78..1518 bytes, FCS included: room for the longest header built below (IPv6 + TCP).
        const auto frame_len = static_cast<std::uint32_t>(78 + rng_() % 1441);
        const auto l3_len = static_cast<std::uint16_t>(frame_len - 18);        // minus Ethernet header and FCS
        if (o_.sampled_ip) {
            if (o_.ipv6_flows) {
                std::uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1}, dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2};
                src[14] = static_cast<std::uint8_t>(k >> 8), src[15] = static_cast<std::uint8_t>(k);
                dst[15] = static_cast<std::uint8_t>(k % 7);
                s.records.push_back({kRecIPv6, encode::sampled_ipv6(l3_len, proto, src, dst, sport, dport,
                                                                    proto == 6 ? 0x18 : 0, 0)});
            } else {
                const std::uint8_t src[4] = {10, static_cast<std::uint8_t>(k >> 16), static_cast<std::uint8_t>(k >> 8),
                                             static_cast<std::uint8_t>(k)};
                const std::uint8_t dst[4] = {192, 168, static_cast<std::uint8_t>(k % 5), static_cast<std::uint8_t>(1 + k % 7)};
                s.records.push_back({kRecIPv4, encode::sampled_ipv4(l3_len, proto, src, dst, sport, dport,
                                                                    proto == 6 ? 0x18 : 0, 0)});
            }
            return s;
        }
        encode::Bytes header;
        if (o_.ipv6_flows) {
            std::uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1}, dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2};
            src[14] = static_cast<std::uint8_t>(k >> 8), src[15] = static_cast<std::uint8_t>(k);
            dst[15] = static_cast<std::uint8_t>(k % 7);
            header = encode::ethernet_ipv6(src, dst, proto, sport, dport, static_cast<std::uint16_t>(l3_len - 40));
        } else {
            const std::uint8_t src[4] = {10, static_cast<std::uint8_t>(k >> 16), static_cast<std::uint8_t>(k >> 8),
                                         static_cast<std::uint8_t>(k)};
            const std::uint8_t dst[4] = {192, 168, static_cast<std::uint8_t>(k % 5), static_cast<std::uint8_t>(1 + k % 7)};
            header = encode::ethernet_ipv4(src, dst, proto, sport, dport, l3_len);
        }
        // A sampled header is cut at 128 bytes, and never longer than the frame less its FCS.
        const std::size_t room = std::min<std::size_t>(128, frame_len - 4);
        const std::size_t payload = header.size() < room ? std::min<std::size_t>(room - header.size(), 40) : 0;
        header.insert(header.end(), payload, 0x5a);
        s.records.push_back({kRecRawHeader, encode::raw_header(kHeaderEthernet, frame_len, 4, header)});
        if (k % 4 == 0) s.records.push_back({kRecExtSwitch, encode::ext_switch(100 + k % 10, 0, 200, 0)});
        if (k % 5 == 0) {
            s.records.push_back({kRecExtRouter, encode::ext_router(encode::Address::v4(10, 255, 0, 1), 24, 16)});
            s.records.push_back({kRecExtGateway, encode::ext_gateway(encode::Address::v4(10, 255, 0, 2), 65000,
                                                                     64512 + k % 100, 65001, {65001, 65100 + k % 50},
                                                                     {0xFDE80064}, 100)});
        }
        return s;
    }

    WorkloadOptions o_;
    std::mt19937_64 rng_;
    std::vector<AgentState> agents_;
    std::uint64_t done_ = 0;
    std::uint64_t datagrams_ = 0;
    std::uint32_t last_agent_ = 0;
};

} // namespace flowacct::sflow::bench
