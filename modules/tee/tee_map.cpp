// SPDX-License-Identifier: GPL-2.0-or-later
// tee_receivers parsing and receiver choice.
#include "tee_map.hpp"

#include <algorithm>   // std::find_if
#include <array>       // std::array
#include <set>         // std::set
#include <stdexcept>   // std::runtime_error

#include "map_text.hpp"   // maptext::for_each_line, parse_uint, read_file
#include "udp_sender.hpp" // exporter::parse_endpoint

namespace flowacct::tee {

namespace {

[[noreturn]] void fail(const std::string& name, std::size_t line, const std::string& what) {
    throw std::runtime_error(name + ":" + std::to_string(line) + ": " + what);
}

// Blank-separated tokens of a line.
std::vector<std::string_view> tokens(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && maptext::is_blank(line[i])) ++i;
        std::size_t b = i;
        while (i < line.size() && !maptext::is_blank(line[i])) ++i;
        if (i > b) out.push_back(line.substr(b, i - b));
    }
    return out;
}

std::vector<std::string> split_commas(std::string_view v) {
    std::vector<std::string> out;
    std::size_t b = 0;
    for (std::size_t i = 0; i <= v.size(); ++i)
        if (i == v.size() || v[i] == ',') {
            if (i > b) out.emplace_back(v.substr(b, i - b));
            b = i + 1;
        }
    return out;
}

} // namespace

std::vector<Pool> parse_map(std::string_view text, const std::string& name, const Limits& limits) {
    std::vector<Pool> pools;
    std::set<std::uint64_t> ids;
    maptext::for_each_line(text, [&](std::size_t line_no, std::string_view line) {
        Pool p;
        p.line = line_no;
        bool have_ip = false;
        for (std::string_view tok : tokens(line)) {
            const std::size_t eq = tok.find('=');
            if (eq == std::string_view::npos || eq == 0)
                fail(name, line_no, "expected key=value, got '" + std::string(tok) + "'");
            const std::string key(tok.substr(0, eq));
            const std::string_view value = tok.substr(eq + 1);
            if (value.empty()) fail(name, line_no, "key '" + key + "' has no value");
            if (key == "id") {
                if (!maptext::parse_uint(value, ~0ull, p.id) || p.id == 0)
                    fail(name, line_no, "id: expected a pool id greater than zero, got '" + std::string(value) + "'");
            } else if (key == "ip") {
                have_ip = true;
                for (const std::string& item : split_commas(value)) {
                    Endpoint e;
                    e.text = item;
                    std::string err;
                    if (!exporter::parse_endpoint(item, e.addr, e.len, err)) fail(name, line_no, "ip: " + err);
                    p.receivers.push_back(std::move(e));
                }
                if (p.receivers.empty()) fail(name, line_no, "ip: expected host:port[,host:port...]");
            } else if (key == "tag") {
                try {
                    p.tags = std::make_shared<pretag::TagFilter>(split_commas(value));
                } catch (const std::exception& e) {
                    fail(name, line_no, std::string("tag: ") + e.what());
                }
            } else if (key == "balance-alg") {
                if (value == "rr") p.balance = Balance::RoundRobin;
                else if (value == "hash-agent") p.balance = Balance::HashAgent;
                else if (value == "hash-crc32") p.balance = Balance::HashCrc32;
                else if (value == "hash-tag") p.balance = Balance::HashTag;
                else
                    fail(name, line_no, "balance-alg: expected rr, hash-agent, hash-crc32 or hash-tag, got '" +
                                            std::string(value) + "'");
            } else if (key == "src_port") {
                std::uint64_t port = 0;
                if (!maptext::parse_uint(value, 65535, port) || port == 0)
                    fail(name, line_no, "src_port: expected a port 1-65535, got '" + std::string(value) + "'");
                p.src_port = static_cast<std::uint16_t>(port);
            } else if (key == "kafka_broker" || key == "kafka_topic" || key == "zmq_address") {
                fail(name, line_no, "key '" + key + "' (replication to Kafka/ZeroMQ) is not supported by flowacct's tee");
            } else {
                fail(name, line_no, "unknown key '" + key + "' (expected id, ip, tag, balance-alg, src_port)");
            }
        }
        if (p.id == 0) fail(name, line_no, "id= is mandatory");
        if (!have_ip) fail(name, line_no, "ip= is mandatory");
        if (!ids.insert(p.id).second) fail(name, line_no, "pool id " + std::to_string(p.id) + " is defined twice");
        if (p.receivers.size() > limits.max_receivers)
            fail(name, line_no, std::to_string(p.receivers.size()) + " receivers, more than tee_max_receivers (" +
                                    std::to_string(limits.max_receivers) + ")");
        if (pools.size() >= limits.max_pools)
            fail(name, line_no, "more pools than tee_max_receiver_pools (" + std::to_string(limits.max_pools) + ")");
        pools.push_back(std::move(p));
    });
    return pools;
}

std::vector<Pool> load_map(const std::string& path, const Limits& limits) {
    return parse_map(maptext::read_file(path), path, limits);
}

std::uint32_t crc32(const std::uint8_t* data, std::size_t len) {
    static const std::array<std::uint32_t, 256> table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < len; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

std::size_t pick(const Pool& p, const fa_datagram& d, std::uint64_t& rr) {
    const std::size_t n = p.receivers.size();
    if (n <= 1) return 0;
    // The exporter's own bytes: 4 for IPv4, so a v4 agent hashes the same however it is stored.
    const std::uint8_t* addr = d.ip_version == 4 ? d.exporter + 12 : d.exporter;
    const std::size_t alen = d.ip_version == 4 ? 4 : 16;
    switch (p.balance) {
    case Balance::RoundRobin: return static_cast<std::size_t>(rr++ % n);
    case Balance::HashTag: return static_cast<std::size_t>(d.tag % n);
    case Balance::HashCrc32: return crc32(addr, alen) % n;
    case Balance::HashAgent: {
        // FNV-1a: cheap, and spreads consecutive addresses.
        std::uint32_t h = 2166136261u;
        for (std::size_t i = 0; i < alen; ++i) h = (h ^ addr[i]) * 16777619u;
        return h % n;
    }
    case Balance::All: break;
    }
    return 0;
}

void check_datagram_pretag(std::string_view text, const std::string& name) {
    static const std::set<std::string, std::less<>> allowed = {"ip", "set_tag", "id", "set_tag2", "id2",
                                                               "label", "jeq", "stack"};
    maptext::for_each_line(text, [&](std::size_t line_no, std::string_view line) {
        for (std::string_view tok : tokens(line)) {
            const std::size_t eq = tok.find('=');
            const std::string key(tok.substr(0, eq));
            if (!allowed.count(key))
                fail(name, line_no, "key '" + key + "' cannot match a datagram: a pre_tag_map of a tee pipeline may use " +
                                        "ip, set_tag/id, set_tag2/id2, label, jeq and stack only");
        }
    });
}

} // namespace flowacct::tee
