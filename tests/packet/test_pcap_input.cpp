// SPDX-License-Identifier: GPL-2.0-or-later
// Savefile reader and the "pcap" input module driven through FakeHost on etc/samples/sample.pcap.
#include <doctest/doctest.h>   // TEST_CASE, CHECK

#include <arpa/inet.h>         // htonl
#include <netinet/in.h>        // sockaddr_in
#include <sys/socket.h>        // socket, bind, sendto
#include <unistd.h>            // close

#include <atomic>              // std::atomic
#include <chrono>              // std::chrono::steady_clock
#include <cstdio>              // std::FILE, std::fopen, std::fwrite
#include <cstring>             // std::memcpy
#include <set>                 // std::set
#include <string>              // std::string
#include <thread>              // std::thread

#include <fake_host.hpp>       // FakeHost, Instance, load_module
#include <flowacct/sdk/module.hpp> // sdk::Error

#include "frames.hpp"          // hand-built frames
#include "savefile.hpp"        // SavefileReader
#include "udp_socket.hpp"      // read_socket_drops, fold_socket_drops

using namespace flowacct;
using flowacct::test::Bytes;

namespace {

using Cfg = std::map<std::string, std::string>;

// The sample's totals, as etc/samples/README.md states them (pmacctd and tshark agree on them).
constexpr std::uint64_t kSampleFrames = 2577;
constexpr std::uint64_t kSampleIpPackets = 2548;
constexpr std::uint64_t kSampleIpBytes = 1138079;
constexpr std::uint64_t kSampleNonIp = 29;
constexpr std::uint64_t kSampleFlows = 490;
constexpr std::uint64_t kSampleUntaggedIpv6 = 604;

std::string sample_path() { return std::string(FLOWACCT_TEST_SOURCE_DIR) + "/etc/samples/sample.pcap"; }

// Writes a little-endian pcap savefile of Ethernet frames, 1 ms apart.
std::string write_pcap(const std::string& name, const std::vector<Bytes>& frames) {
    std::string path = std::string(FLOWACCT_TEST_BINARY_DIR) + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    const std::uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
    std::fwrite(hdr, 4, 6, f);
    std::uint32_t i = 0;
    for (const Bytes& b : frames) {
        const std::uint32_t rec[4] = {1700000000, 1000 * i++, static_cast<std::uint32_t>(b.size()),
                                      static_cast<std::uint32_t>(b.size())};
        std::fwrite(rec, 4, 4, f);
        std::fwrite(b.data(), 1, b.size(), f);
    }
    std::fclose(f);
    return path;
}

const fa_module_descriptor* pcap_module() {
    static const fa_module_descriptor* d = test::load_module("input_pcap.so");
    return d;
}

struct Totals {
    std::uint64_t packets = 0, bytes = 0, flows = 0;
};
Totals sum(const std::vector<fa_record>& recs) {
    Totals t;
    for (const auto& r : recs) {
        t.packets += r.packets;
        t.bytes += r.bytes;
        t.flows += r.flows;
    }
    return t;
}

fa_status run_module(test::FakeHost& /*host*/, test::Instance& inst) {
    return inst.ops<fa_input_ops>()->run(inst.get());
}

} // namespace

TEST_CASE("the savefile reader names the file and the key when it cannot open or filter") {
    SUBCASE("missing file") {
        packet::SavefileOptions o;
        o.path = "/nonexistent/x.pcap";
        try {
            packet::SavefileReader r(o);
            FAIL("no error");
        } catch (const sdk::Error& e) {
            CHECK(e.key() == "pcap_savefile");
            CHECK(std::string(e.what()).find("/nonexistent/x.pcap") != std::string::npos);
        }
    }
    SUBCASE("not a capture") {
        std::string path = std::string(FLOWACCT_TEST_BINARY_DIR) + "/not_a_capture.pcap";
        std::FILE* f = std::fopen(path.c_str(), "wb");
        std::fputs("hello, this is not a pcap file at all", f);
        std::fclose(f);
        packet::SavefileOptions o;
        o.path = path;
        CHECK_THROWS_AS(packet::SavefileReader{o}, sdk::Error);
    }
    SUBCASE("a filter that does not compile") {
        packet::SavefileOptions o;
        o.path = sample_path();
        o.filter = "tcp and and";
        try {
            packet::SavefileReader r(o);
            FAIL("no error");
        } catch (const sdk::Error& e) {
            CHECK(e.key() == "pcap_filter");
        }
    }
}

TEST_CASE("the savefile reader replays N times and applies the filter") {
    packet::SavefileOptions o;
    o.path = sample_path();
    o.replay = 3;
    packet::SavefileReader r(o);
    CHECK(r.dlt() == 1);
    std::uint64_t n = 0, last_ts = 0;
    CHECK(r.play([&](const packet::Frame& f) {
        ++n;
        last_ts = f.ts_us;
        CHECK(f.caplen <= f.wirelen);
    }) == packet::SavefileReader::End::Finished);
    CHECK(n == 3 * kSampleFrames);
    CHECK(last_ts >= 1'700'000'000'000'000ull);

    packet::SavefileOptions arp = o;
    arp.replay = 1;
    arp.filter = "arp";
    packet::SavefileReader ra(arp);
    std::uint64_t arps = 0;
    ra.play([&](const packet::Frame&) { ++arps; });
    CHECK(arps == kSampleNonIp);
}

// Classic files without a filter are read from a mapping of the file; with a filter, through
// libpcap. Both must hand over the same frames, in both byte orders, with ns timestamps, and
// stop at a truncated last record the same way.
TEST_CASE("mapped and libpcap reads of a savefile give the same frames") {
    struct Seen {
        std::vector<std::string> data;
        std::vector<std::uint64_t> ts;
        std::vector<std::uint32_t> wire;
    };
    auto read = [](const std::string& path, const std::string& filter, bool& truncated) {
        packet::SavefileOptions o;
        o.path = path;
        o.filter = filter;  // "ip or not ip" passes everything, through libpcap
        packet::SavefileReader r(o);
        Seen s;
        r.play([&](const packet::Frame& f) {
            s.data.emplace_back(reinterpret_cast<const char*>(f.data), f.caplen);
            s.ts.push_back(f.ts_us);
            s.wire.push_back(f.wirelen);
        });
        truncated = r.ended_truncated();
        return s;
    };
    // The sample, rewritten big-endian with nanosecond timestamps, then cut inside a record.
    std::FILE* in = std::fopen(sample_path().c_str(), "rb");
    REQUIRE(in != nullptr);
    std::string src;
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, in)) > 0;) src.append(buf, n);
    std::fclose(in);
    REQUIRE(src.size() > 24);
    auto le = [&](std::size_t at) {
        std::uint32_t v;
        std::memcpy(&v, src.data() + at, 4);
        return v;
    };
    auto be = [](std::string& out, std::uint32_t v) {
        const std::uint32_t b = __builtin_bswap32(v);
        out.append(reinterpret_cast<const char*>(&b), 4);
    };
    REQUIRE(le(0) == 0xa1b2c3d4);
    std::string out;
    be(out, 0xa1b23c4d);
    out += std::string{src[5], src[4], src[7], src[6]};  // versions, each 16 bits
    for (std::size_t at = 8; at < 24; at += 4) be(out, le(at));
    for (std::size_t at = 24; at + 16 <= src.size();) {
        const std::uint32_t cap = le(at + 8);
        be(out, le(at));
        be(out, le(at + 4) * 1000 + 999);
        be(out, cap);
        be(out, le(at + 12));
        out.append(src, at + 16, cap);
        at += 16 + cap;
    }
    const std::string whole = std::string(FLOWACCT_TEST_BINARY_DIR) + "/be-ns.pcap";
    const std::string cut = std::string(FLOWACCT_TEST_BINARY_DIR) + "/be-ns-cut.pcap";
    for (const auto& [path, len] : {std::pair{whole, out.size()}, std::pair{cut, out.size() - 37}}) {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f != nullptr);
        std::fwrite(out.data(), 1, len, f);
        std::fclose(f);
    }
    for (const std::string& path : {sample_path(), whole, cut}) {
        CAPTURE(path);
        bool t_mapped = false, t_pcap = false;
        const Seen mapped = read(path, "", t_mapped);
        const Seen lib = read(path, "ip or not ip", t_pcap);
        CHECK(mapped.data.size() == (path == cut ? kSampleFrames - 1 : kSampleFrames));
        CHECK(mapped.data == lib.data);
        CHECK(mapped.ts == lib.ts);
        CHECK(mapped.wire == lib.wire);
        CHECK(t_mapped == (path == cut));
        CHECK(t_pcap == t_mapped);
    }
}

TEST_CASE("a stop request ends the savefile wait and delay at once") {
    packet::SavefileOptions o;
    o.path = sample_path();
    SUBCASE("wait") { o.wait = true; }
    SUBCASE("delay") { o.delay_s = 3600; }
    packet::SavefileReader r(o);
    const auto t0 = std::chrono::steady_clock::now();
    std::atomic<std::uint64_t> seen{0};
    std::thread stopper([&] {
        // Wait: stop once every frame was played, so play() is in (or about to enter) its wait.
        while (o.wait && seen.load() < kSampleFrames) std::this_thread::yield();
        r.request_stop();
    });
    auto end = r.play([&](const packet::Frame&) { seen.fetch_add(1); });
    stopper.join();
    CHECK(end == (o.wait ? packet::SavefileReader::End::Finished : packet::SavefileReader::End::Stopped));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

TEST_CASE("pcap input reads the sample capture and counts what pmacctd counts") {
    const fa_module_descriptor* d = pcap_module();
    REQUIRE(d != nullptr);
    CHECK(std::string(d->name) == "pcap");
    test::FakeHost host(Cfg{{"pcap_savefile", sample_path()}});
    host.batch_capacity = 1024;
    test::Instance inst(d, host);
    REQUIRE_MESSAGE(inst, inst.error);
    CHECK(run_module(host, inst) == FA_EOF);
    CHECK(host.backpressure);
    Totals t = sum(host.records);
    CHECK(t.packets == kSampleIpPackets);
    CHECK(t.bytes == kSampleIpBytes);
    CHECK(t.flows == kSampleFlows);
    CHECK(host.records.size() == kSampleIpPackets);
    CHECK(host.counter("packets_received") == kSampleFrames);
    CHECK(host.counter("packets_not_ip") == kSampleNonIp);
    CHECK(host.counter("packets_truncated") == 0);
    CHECK(host.counter("packets_malformed") == 0);
    std::set<std::uint16_t> vlans;
    std::uint64_t v6 = 0, frag = 0;
    for (const auto& r : host.records) {
        CHECK(r.time_start_us == r.time_end_us);
        CHECK(r.time_start_us >= 1'700'000'000'000'000ull);
        CHECK(r.sampling_rate == 1);
        CHECK(((r.flags & FA_REC_FLOW_START) != 0) == (r.flows == 1));
        if (r.vlan) vlans.insert(r.vlan);
        if (r.ip_version == 6) ++v6;
        if (r.flags & FA_REC_FRAGMENT) {
            ++frag;
            CHECK(r.src_port != 0);  // joined to the first fragment's ports
        }
    }
    CHECK(v6 == 754);
    std::uint64_t untagged_v6 = 0;
    for (const auto& r : host.records) untagged_v6 += (r.ip_version == 6 && r.vlan == 0);
    CHECK(untagged_v6 == kSampleUntaggedIpv6);
    CHECK(frag == 77);
    CHECK(vlans.size() > 10);
    CHECK(host.payloads[0].empty());  // no classifiers configured: no payload copied
}

TEST_CASE("pcap input replays, filters and attaches payload for classifiers") {
    const fa_module_descriptor* d = pcap_module();
    REQUIRE(d != nullptr);
    test::FakeHost host(Cfg{{"pcap_savefile", sample_path()},
                         {"pcap_savefile_replay", "2"},
                         {"pcap_filter", "ip6"},
                         {"classifiers", "/etc/flowacct/classifiers"},
                         {"snaplen", "64"}});
    test::Instance inst(d, host);
    REQUIRE_MESSAGE(inst, inst.error);
    CHECK(run_module(host, inst) == FA_EOF);
    // BPF "ip6" matches untagged frames only (tcpdump needs "vlan and ip6" for tagged ones).
    CHECK(host.records.size() == 2 * kSampleUntaggedIpv6);
    std::size_t with_payload = 0;
    for (std::size_t i = 0; i < host.records.size(); ++i) {
        CHECK(host.records[i].ip_version == 6);
        CHECK(host.payloads[i].size() <= 64);
        if (!host.payloads[i].empty()) ++with_payload;
    }
    CHECK(with_payload > 100);
}

TEST_CASE("sampling_rate keeps about 1 in N packets and renormalizes when asked") {
    const fa_module_descriptor* d = pcap_module();
    REQUIRE(d != nullptr);
    SUBCASE("reported, not renormalized") {
        test::FakeHost host(Cfg{{"pcap_savefile", sample_path()}, {"sampling_rate", "10"}});
        test::Instance inst(d, host);
        REQUIRE_MESSAGE(inst, inst.error);
        run_module(host, inst);
        const double kept = static_cast<double>(host.records.size());
        CHECK(kept > kSampleIpPackets / 10.0 * 0.7);
        CHECK(kept < kSampleIpPackets / 10.0 * 1.3);
        CHECK(host.counter("packets_sampled_out") + host.counter("packets_not_ip") + host.records.size() >=
              kSampleFrames - 10);
        for (const auto& r : host.records) CHECK(r.sampling_rate == 10);
    }
    SUBCASE("renormalized") {
        test::FakeHost host(
            Cfg{{"pcap_savefile", sample_path()}, {"sampling_rate", "10"}, {"pmacctd_renormalize", "true"}});
        test::Instance inst(d, host);
        REQUIRE_MESSAGE(inst, inst.error);
        run_module(host, inst);
        Totals t = sum(host.records);
        CHECK(t.packets == 10 * host.records.size());
        CHECK(static_cast<double>(t.bytes) > kSampleIpBytes * 0.6);
        CHECK(static_cast<double>(t.bytes) < kSampleIpBytes * 1.4);
        for (const auto& r : host.records) CHECK(r.sampling_rate == 1);
    }
    SUBCASE("external rate: nothing dropped here, counters scaled") {
        test::FakeHost host(Cfg{{"pcap_savefile", sample_path()},
                             {"pmacctd_ext_sampling_rate", "100"},
                             {"pmacctd_renormalize", "true"}});
        test::Instance inst(d, host);
        REQUIRE_MESSAGE(inst, inst.error);
        run_module(host, inst);
        Totals t = sum(host.records);
        CHECK(t.packets == 100 * kSampleIpPackets);
        CHECK(t.bytes == 100 * kSampleIpBytes);
    }
}

TEST_CASE("pcap input rejects bad configuration with the key at fault") {
    const fa_module_descriptor* d = pcap_module();
    REQUIRE(d != nullptr);
    auto error_of = [&](std::map<std::string, std::string> cfg) {
        test::FakeHost host(std::move(cfg));
        test::Instance inst(d, host);
        return inst.error;
    };
    CHECK(error_of(Cfg{{"pcap_savefile", "/nonexistent.pcap"}}).rfind("pcap_savefile:", 0) == 0);
    CHECK(error_of(Cfg{{"pcap_savefile", sample_path()}, {"pcap_interface", "lo"}}).find("mutually exclusive") !=
          std::string::npos);
    CHECK(error_of(Cfg{{"pcap_savefile", sample_path()}, {"sampling_rate", "0"}}).rfind("sampling_rate:", 0) == 0);
    CHECK(error_of(Cfg{{"pcap_savefile", sample_path()}, {"snaplen", "abc"}}).rfind("snaplen:", 0) == 0);
    CHECK(error_of(Cfg{{"pcap_savefile", sample_path()}, {"pcap_filter", "port"}}).rfind("pcap_filter:", 0) == 0);
}

TEST_CASE("malformed and truncated frames are counted, not emitted") {
    Bytes bad_ihl = test::eth_v4_tcp();
    bad_ihl[14] = 0x41;
    const Bytes good = test::eth_v4_tcp();
    const Bytes short_ip(good.begin(), good.begin() + 20);
    std::string path = write_pcap("bad_frames.pcap", {good, bad_ihl, short_ip, good});
    const fa_module_descriptor* d = pcap_module();
    REQUIRE(d != nullptr);
    test::FakeHost host(Cfg{{"pcap_savefile", path}});
    test::Instance inst(d, host);
    REQUIRE_MESSAGE(inst, inst.error);
    CHECK(run_module(host, inst) == FA_EOF);
    CHECK(host.records.size() == 2);
    CHECK(host.counter("packets_malformed") == 1);
    CHECK(host.counter("packets_truncated") == 1);
    CHECK(host.counter("packets_received") == 4);
    CHECK(sum(host.records).flows == 1);  // the same TCP 5-tuple twice within the lifetime
}

TEST_CASE("live capture on loopback stops promptly when asked") {
    const fa_module_descriptor* d = pcap_module();
    REQUIRE(d != nullptr);
    test::FakeHost host(Cfg{{"pcap_interface", "lo"}, {"promisc", "false"}});
    test::Instance inst(d, host);
    if (!inst) {
        MESSAGE("skipped: cannot capture on lo here: " << inst.error);
        return;
    }
    std::atomic<bool> done{false};
    std::thread runner([&] {
        run_module(host, inst);
        done = true;
    });
    // Let run() block in its poll: this checks that a stop wakes a blocked capture, which no
    // deterministic hook can observe from outside.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto t0 = std::chrono::steady_clock::now();
    inst.ops<fa_input_ops>()->request_stop(inst.get());
    runner.join();
    CHECK(done);
    // The capture's read timeout is 50 ms: 1 s still fails a stop that is not acted upon, with room
    // for a loaded, sanitized run.
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
}

TEST_CASE("a UDP socket's drops are read without a datagram to carry them") {
    const int rx = ::socket(AF_INET, SOCK_DGRAM, 0), tx = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(rx >= 0);
    REQUIRE(tx >= 0);
    const int small = 1;  // the kernel's minimum buffer: a few datagrams fit, the rest are dropped
    ::setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t al = sizeof a;
    ::getsockname(rx, reinterpret_cast<sockaddr*>(&a), &al);
    std::uint32_t before = 0;
    REQUIRE(packet::read_socket_drops(rx, before));
    const char payload[1000] = {};
    for (int i = 0; i < 200; ++i) ::sendto(tx, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    std::uint32_t after = 0;
    REQUIRE(packet::read_socket_drops(rx, after));
    CHECK(after - before > 100);
    std::uint32_t seen = before;
    CHECK(packet::fold_socket_drops(seen, after) == after - before);
    CHECK(packet::fold_socket_drops(seen, before) == 0);  // an older reading adds nothing
    CHECK(seen == after);
    std::uint32_t wrap = 0xFFFFFFF0u;
    CHECK(packet::fold_socket_drops(wrap, 5) == 21);       // the counter wraps at 2^32
    ::close(rx);
    ::close(tx);
}
