// SPDX-License-Identifier: GPL-2.0-or-later
// Module tests of nfprobe and sfprobe through the fake host: rows in, datagrams received on a
// loopback socket and decoded by flowacct's own NetFlow and sFlow decoders.
#include <doctest/doctest.h> // TEST_CASE, CHECK

#include <arpa/inet.h>  // inet_pton, htons
#include <netinet/in.h> // sockaddr_in, sockaddr_in6
#include <poll.h>       // poll
#include <sys/socket.h> // socket, bind, recv
#include <unistd.h>     // close

#include <cstring>  // std::memset
#include <map>      // std::map
#include <string>   // std::string
#include <vector>   // std::vector

#include "fake_host.hpp"       // FakeHost, Instance, load_module
#include "netflow_decoder.hpp" // netflow::Decoder
#include "sflow_decoder.hpp"   // sflow::Decoder

using namespace flowacct;
using flowacct::test::FakeHost;
using flowacct::test::Instance;

namespace {

constexpr std::uint64_t kSec = 1000000;
constexpr std::uint64_t kT0 = 1700000000ull * kSec;

/// A UDP socket on loopback, on `port` or one the kernel chooses.
class Receiver {
public:
    explicit Receiver(bool v6 = false, std::uint16_t port = 0) {
        fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
        int big = 8 << 20;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        sockaddr_storage a{};
        socklen_t len;
        if (v6) {
            auto* s = reinterpret_cast<sockaddr_in6*>(&a);
            s->sin6_family = AF_INET6;
            s->sin6_addr = in6addr_loopback;
            s->sin6_port = htons(port);
            len = sizeof *s;
        } else {
            auto* s = reinterpret_cast<sockaddr_in*>(&a);
            s->sin_family = AF_INET;
            s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            s->sin_port = htons(port);
            len = sizeof *s;
        }
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
        address = v6 ? "[::1]:" + std::to_string(port_) : "127.0.0.1:" + std::to_string(port_);
    }
    ~Receiver() { ::close(fd_); }
    /// Every datagram that arrives until the socket stays quiet for 200 ms (bounded: 5 s).
    std::vector<std::vector<std::uint8_t>> drain() {
        std::vector<std::vector<std::uint8_t>> out;
        for (int rounds = 0; rounds < 100000; ++rounds) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) break;
            std::uint8_t buf[65536];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) break;
            out.emplace_back(buf, buf + n);
        }
        return out;
    }
    std::uint16_t port() const { return port_; }
    std::string address;

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

fa_record packet(std::uint8_t src_last, std::uint16_t sport, std::uint8_t proto, std::uint64_t t_us, std::uint64_t bytes) {
    fa_record r{};
    r.src_ip[10] = r.src_ip[11] = r.dst_ip[10] = r.dst_ip[11] = 0xff;
    r.src_ip[12] = 10, r.src_ip[15] = src_last;
    r.dst_ip[12] = 10, r.dst_ip[15] = 200;
    r.ip_version = 4;
    r.proto = proto;
    r.src_port = sport;
    r.dst_port = 443;
    r.packets = 1;
    r.bytes = bytes;
    r.flows = 1;
    r.time_start_us = r.time_end_us = t_us;
    return r;
}

struct Rows {
    std::vector<fa_row> rows;
    void add(const fa_record& r) {
        fa_row row{};
        row.rec = r;
        rows.push_back(row);
    }
    fa_row_batch batch() const {
        fa_row_batch b{};
        b.rows = rows.data();
        b.count = static_cast<std::uint32_t>(rows.size());
        b.primitives = ~0ull;
        return b;
    }
};

struct MapCounters final : netflow::CounterSource {
    std::map<std::string, std::uint64_t> slots;
    std::uint64_t* slot(const char* name, const std::string& labels) override {
        return &slots[std::string(name) + (labels.empty() ? "" : "{" + labels + "}")];
    }
};

std::vector<fa_record> decode_netflow(const std::vector<std::vector<std::uint8_t>>& dgrams, MapCounters& c) {
    netflow::Decoder dec(netflow::DecoderOptions{}, c);
    netflow::VectorSink sink;
    netflow::Exporter from;
    for (const auto& g : dgrams) dec.decode(g.data(), g.size(), from, kT0 + 10 * kSec, sink);
    return sink.take();
}

struct SflowSink final : sflow::RecordSink {
    std::vector<fa_record> recs;
    fa_record& next() noexcept override {
        recs.emplace_back();
        return recs.back();
    }
    void discard_last() noexcept override { recs.pop_back(); }
    void attach_payload(fa_record&, const std::uint8_t*, std::uint32_t) noexcept override {}
};

const fa_module_descriptor* nfprobe() {
    static const fa_module_descriptor* d = flowacct::test::load_module("output_nfprobe.so");
    return d;
}
const fa_module_descriptor* sfprobe() {
    static const fa_module_descriptor* d = flowacct::test::load_module("output_sfprobe.so");
    return d;
}

} // namespace

TEST_CASE("nfprobe declares pmacct's keys and asks for the passthrough aggregator") {
    const fa_module_descriptor* d = nfprobe();
    REQUIRE(d != nullptr);
    auto* ops = static_cast<const fa_output_ops*>(d->ops);
    CHECK(std::string(ops->default_aggregator) == "passthrough");
    std::map<std::string, std::string> defaults;
    for (std::uint32_t i = 0; i < d->key_count; ++i) defaults[d->keys[i].name] = d->keys[i].default_value ? d->keys[i].default_value : "";
    CHECK(defaults["nfprobe_receiver"] == "127.0.0.1:2100");
    CHECK(defaults["nfprobe_version"] == "10");
    CHECK(defaults["nfprobe_maxflows"] == "8192");
    CHECK(defaults.count("nfprobe_timeouts") == 1);
    CHECK(defaults.count("nfprobe_engine") == 1);
    CHECK(defaults.count("nfprobe_source_ip") == 1);
}

TEST_CASE("nfprobe refuses bad keys and names the key at fault") {
    for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"nfprobe_version", "7"}, {"nfprobe_timeouts", "tcp=1:bogus=2"}, {"nfprobe_receiver", "127.0.0.1"},
             {"nfprobe_receiver", "[::1:2100"}, {"nfprobe_engine", "1:300"}, {"nfprobe_maxflows", "0"},
             {"nfprobe_source_ip", "not-an-address"}}) {
        CAPTURE(key);
        CAPTURE(value);
        FakeHost host(std::map<std::string, std::string>{{key, value}});
        Instance inst(nfprobe(), host);
        CHECK_FALSE(inst);
        CHECK(inst.error.rfind(key + ":", 0) == 0);
    }
}

TEST_CASE("nfprobe turns packet records into flows and the collector decodes the same totals (v5, v9, IPFIX)") {
    // With nfprobe_udp_gso the kernel cuts each run of equal datagrams: the receiver gets them one by one.
    for (const char* gso : {"false", "true"})
    for (const char* version : {"5", "9", "10"}) {
        CAPTURE(version);
        CAPTURE(gso);
        Receiver rx;
        FakeHost host({{"nfprobe_receiver", rx.address}, {"nfprobe_version", version}, {"nfprobe_engine", "2:5"},
                       {"nfprobe_udp_gso", gso}});
        host.manual_clock_us = 5 * kSec;
        Instance inst(nfprobe(), host);
        REQUIRE(inst);
        auto* ops = inst.ops<fa_output_ops>();
        Rows rows;
        std::uint64_t bytes = 0;
        for (int i = 0; i < 3000; ++i) {
            // 300 flows of 10 packets each, interleaved.
            rows.add(packet(static_cast<std::uint8_t>(i % 100), static_cast<std::uint16_t>(1000 + i % 3), i % 2 ? 6 : 17,
                            kT0 + static_cast<std::uint64_t>(i) * 1000, 64 + i % 7));
            bytes += 64 + i % 7;
        }
        fa_row_batch b = rows.batch();
        REQUIRE(ops->write(inst.get(), &b) == FA_OK);
        REQUIRE(ops->tick(inst.get(), 6 * kSec) == FA_OK);
        REQUIRE(ops->flush(inst.get()) == FA_OK);
        auto dgrams = rx.drain();
        for (const auto& g : dgrams) CHECK(g.size() <= 1400);
        MapCounters c;
        auto flows = decode_netflow(dgrams, c);
        CHECK(flows.size() == 300);
        std::uint64_t p = 0, by = 0;
        for (const auto& f : flows) p += f.packets, by += f.bytes;
        CHECK(p == 3000);
        CHECK(by == bytes);
        CHECK(host.counter("flows_exported") == 300);
        CHECK(host.counter("datagrams_sent") == dgrams.size());
        CHECK(host.counter("send_drops") == 0);
        REQUIRE_FALSE(flows.empty());
        CHECK(flows[0].engine_id == (std::string(version) == "5" ? 5u : 0x205u));
        for (const auto& [name, value] : c.slots)
            if (name.rfind("seq_", 0) == 0) CHECK_MESSAGE(value == 0, name); // in order, none lost
    }
}

TEST_CASE("nfprobe re-exports flow records from a collector input as they are: one record each, same times") {
    Receiver rx;
    FakeHost host({{"nfprobe_receiver", rx.address}, {"nfprobe_version", "9"}});
    Instance inst(nfprobe(), host);
    REQUIRE(inst);
    auto* ops = inst.ops<fa_output_ops>();
    Rows rows;
    for (int i = 0; i < 2; ++i) {
        fa_record f = packet(1, 1000, 6, kT0 + 60 * kSec, 15000);
        f.packets = 10;
        f.time_start_us = kT0;
        rows.add(f);
    }
    fa_row_batch b = rows.batch();
    ops->write(inst.get(), &b);
    ops->tick(inst.get(), host.api()->monotonic_us(host.api()->ctx));
    auto dgrams = rx.drain(); // sent at the tick, before any flush
    MapCounters c;
    auto flows = decode_netflow(dgrams, c);
    REQUIRE(flows.size() == 2);
    CHECK(flows[0].packets == 10);
    CHECK(flows[0].bytes == 15000);
    CHECK(flows[0].time_start_us / 1000 == kT0 / 1000);
    CHECK(flows[0].time_end_us / 1000 == (kT0 + 60 * kSec) / 1000);
    CHECK(host.counter("flows_reexported") == 2);
}

TEST_CASE("nfprobe expires idle flows on ticks as time passes without packets, and sends IPFIX to an IPv6 receiver") {
    Receiver rx(true);
    FakeHost host({{"nfprobe_receiver", rx.address}, {"nfprobe_timeouts", "udp=10:expint=1"}});
    host.manual_clock_us = 1000 * kSec;
    Instance inst(nfprobe(), host);
    REQUIRE(inst);
    auto* ops = inst.ops<fa_output_ops>();
    Rows rows;
    rows.add(packet(1, 53, 17, kT0, 80));
    rows.add(packet(1, 53, 17, kT0 + kSec, 80));
    fa_row_batch b = rows.batch();
    ops->write(inst.get(), &b);
    ops->tick(inst.get(), 1005 * kSec);
    CHECK(rx.drain().empty());
    CHECK(host.counter("cache_flows") == 1);
    ops->tick(inst.get(), 1012 * kSec); // 11 s after the last packet
    MapCounters c;
    auto flows = decode_netflow(rx.drain(), c);
    REQUIRE(flows.size() == 1);
    CHECK(flows[0].packets == 2);
    CHECK(host.counter("cache_flows") == 0);
}

TEST_CASE("nfprobe_maxflows bounds the cache: the oldest flows are exported early and counted") {
    Receiver rx;
    FakeHost host({{"nfprobe_receiver", rx.address}, {"nfprobe_maxflows", "2"}});
    Instance inst(nfprobe(), host);
    REQUIRE(inst);
    auto* ops = inst.ops<fa_output_ops>();
    Rows rows;
    for (int i = 0; i < 5; ++i) rows.add(packet(static_cast<std::uint8_t>(i), 1, 17, kT0 + i, 100));
    fa_row_batch b = rows.batch();
    ops->write(inst.get(), &b);
    ops->tick(inst.get(), host.api()->monotonic_us(host.api()->ctx));
    CHECK(host.counter("flows_forced") == 3);
    CHECK(host.counter("cache_flows") == 2);
    ops->flush(inst.get());
    MapCounters c;
    CHECK(decode_netflow(rx.drain(), c).size() == 5);
}

TEST_CASE("nfprobe loses no datagram to a receiver that starts listening after the exporter started sending") {
    // While nobody listens, the kernel answers with ICMP port unreachable, which the exporter's
    // socket reports on a later send: that send must still go out once the receiver is there.
    std::uint16_t port;
    std::string address;
    {
        Receiver gone;
        port = gone.port();
        address = gone.address;
    }
    FakeHost host({{"nfprobe_receiver", address}, {"nfprobe_version", "5"}, {"nfprobe_maxflows", "10"}});
    Instance inst(nfprobe(), host);
    REQUIRE(inst);
    auto* ops = inst.ops<fa_output_ops>();
    auto send = [&](int first, int n) {
        Rows rows;
        for (int i = first; i < first + n; ++i)
            rows.add(packet(static_cast<std::uint8_t>(i), static_cast<std::uint16_t>(i), 17, kT0 + i, 100));
        fa_row_batch b = rows.batch();
        ops->write(inst.get(), &b);
        ops->tick(inst.get(), host.api()->monotonic_us(host.api()->ctx));
    };
    send(0, 31); // 21 flows forced out: one datagram, to nobody (its ICMP error is now pending)
    CHECK(host.counter("flows_exported") == 21);
    CHECK(host.counter("datagrams_sent") == 1);
    Receiver rx(false, port);
    send(40, 100);
    ops->flush(inst.get());
    MapCounters c;
    const auto flows = decode_netflow(rx.drain(), c);
    CHECK(host.counter("flows_exported") == 131);
    CHECK(flows.size() == 110);
    CHECK(host.counter("send_drops") == 0);
}

TEST_CASE("sfprobe at sampling rate 1 sends one flow sample per packet and the collector decodes the same totals") {
    Receiver rx;
    FakeHost host({{"sfprobe_receiver", rx.address}, {"sfprobe_agentip", "192.0.2.1"}});
    Instance inst(sfprobe(), host);
    REQUIRE(inst);
    auto* ops = inst.ops<fa_output_ops>();
    CHECK(std::string(ops->default_aggregator) == "passthrough");
    Rows rows;
    std::uint64_t bytes = 0;
    for (int i = 0; i < 500; ++i) {
        rows.add(packet(static_cast<std::uint8_t>(i % 50), 5, 17, kT0 + i, 100 + i));
        bytes += 100 + i;
    }
    fa_row_batch b = rows.batch();
    ops->write(inst.get(), &b);
    ops->tick(inst.get(), host.api()->monotonic_us(host.api()->ctx));
    auto dgrams = rx.drain();
    for (const auto& g : dgrams) CHECK(g.size() <= 1400);
    sflow::Decoder dec(sflow::DecoderOptions{});
    SflowSink sink;
    for (const auto& g : dgrams) dec.decode(g.data(), g.size(), kT0, sink);
    REQUIRE(sink.recs.size() == 500);
    std::uint64_t by = 0;
    for (const auto& r : sink.recs) by += r.bytes;
    CHECK(by == bytes);
    CHECK(sink.recs[7].src_ip[15] == 7);
    CHECK(sink.recs[7].sampling_rate == 1);
    CHECK(sink.recs[7].engine_id == 1402);
    CHECK(sink.recs[7].peer_src_ip[12] == 192);
    CHECK(host.counter("flow_samples") == 500);
    CHECK(host.counter("counter_samples") == 1); // the first tick sends interface counters
    const std::uint8_t agent[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    const sflow::InterfaceCounters* ifc = dec.interface(agent, 1402, 1);
    REQUIRE(ifc != nullptr);
    CHECK(ifc->in_octets == bytes);
    CHECK(ifc->speed_bps == 100000000);
    const sflow::AgentState* st = dec.agent(agent, 1402);
    REQUIRE(st != nullptr);
}

TEST_CASE("sfprobe_sampling_rate samples about 1 in N packets and announces N; renormalized totals stay close") {
    Receiver rx;
    FakeHost host({{"sfprobe_receiver", rx.address}, {"sfprobe_sampling_rate", "10"}});
    Instance inst(sfprobe(), host);
    REQUIRE(inst);
    auto* ops = inst.ops<fa_output_ops>();
    Rows rows;
    for (int i = 0; i < 20000; ++i) rows.add(packet(1, 5, 17, kT0 + i, 100));
    fa_row_batch b = rows.batch();
    ops->write(inst.get(), &b);
    ops->flush(inst.get());
    sflow::DecoderOptions opt;
    opt.renormalize = true;
    sflow::Decoder dec(opt);
    SflowSink sink;
    for (const auto& g : rx.drain()) dec.decode(g.data(), g.size(), kT0, sink);
    CHECK(sink.recs.size() > 1700);
    CHECK(sink.recs.size() < 2300);
    std::uint64_t p = 0;
    for (const auto& r : sink.recs) p += r.packets;
    CHECK(p > 17000);
    CHECK(p < 23000);
}

TEST_CASE("sfprobe turns a flow record into samples standing for all its packets, with exact renormalized totals") {
    Receiver rx;
    FakeHost host({{"sfprobe_receiver", rx.address}});
    Instance inst(sfprobe(), host);
    REQUIRE(inst);
    auto* ops = inst.ops<fa_output_ops>();
    Rows rows;
    fa_record f = packet(3, 4000, 6, kT0 + 30 * kSec, 40 * 1500);
    f.packets = 40;
    f.time_start_us = kT0;
    rows.add(f);
    f.src_port = 4001;
    f.packets = 7;
    f.bytes = 7 * 100 + 3; // not a multiple of the packets
    rows.add(f);
    fa_row_batch b = rows.batch();
    ops->write(inst.get(), &b);
    ops->flush(inst.get());
    sflow::DecoderOptions opt;
    opt.renormalize = true;
    sflow::Decoder dec(opt);
    SflowSink sink;
    for (const auto& g : rx.drain()) dec.decode(g.data(), g.size(), kT0, sink);
    REQUIRE(sink.recs.size() == 3);
    CHECK(sink.recs[0].packets == 40);
    CHECK(sink.recs[0].bytes == 40 * 1500);
    CHECK(sink.recs[0].src_port == 4000);
    CHECK(sink.recs[1].packets + sink.recs[2].packets == 7);
    CHECK(sink.recs[1].bytes + sink.recs[2].bytes == 703);
    CHECK(sink.recs[2].src_port == 4001);
}
