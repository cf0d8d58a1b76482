// SPDX-License-Identifier: GPL-2.0-or-later
// The tee output: the receivers map, balancing, the raw packet it builds, and the module through
// its C descriptor forwarding to UDP sockets on 127.0.0.1.
#include <arpa/inet.h>   // inet_pton, htons
#include <netinet/in.h>  // sockaddr_in
#include <poll.h>        // poll
#include <sys/socket.h>  // socket, bind, recv
#include <unistd.h>      // close

#include <cstddef>       // offsetof
#include <cstdio>        // std::FILE, std::fopen
#include <cstring>       // std::memcpy
#include <map>           // std::map
#include <set>           // std::set
#include <string>        // std::string
#include <vector>        // std::vector

#include <doctest/doctest.h>       // TEST_CASE, CHECK
#include <flowacct/sdk/module.hpp> // sdk::Context

#include "fake_host.hpp"  // test::FakeHost, test::Instance, test::load_module
#include "tee_map.hpp"    // tee::parse_map, tee::pick
#include "tee_sender.hpp" // tee::build_packet

using namespace flowacct;

namespace {

fa_datagram datagram_from(const char* v4, std::uint16_t port, const std::vector<std::uint8_t>& bytes) {
    fa_datagram d{};
    d.data = bytes.data();
    d.length = static_cast<std::uint32_t>(bytes.size());
    d.ip_version = 4;
    d.src_port = port;
    d.exporter[10] = d.exporter[11] = 0xFF;
    inet_pton(AF_INET, v4, d.exporter + 12);
    return d;
}

std::string parse_error(const std::string& text) {
    try {
        tee::parse_map(text, "/etc/tee.lst", tee::Limits{});
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

// A UDP socket bound to 127.0.0.1 on a free port.
struct Receiver {
    int fd = -1;
    std::uint16_t port = 0;
    Receiver() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t l = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
        port = ntohs(a.sin_port);
    }
    ~Receiver() { ::close(fd); }
    // Every datagram waiting (each within 500 ms of the previous).
    std::vector<std::vector<std::uint8_t>> drain() {
        std::vector<std::vector<std::uint8_t>> out;
        pollfd p{fd, POLLIN, 0};
        while (::poll(&p, 1, 500) > 0) {
            std::vector<std::uint8_t> buf(65536);
            ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n < 0) break;
            buf.resize(static_cast<std::size_t>(n));
            out.push_back(std::move(buf));
        }
        return out;
    }
};

std::string write_file(const std::string& name, const std::string& text) {
    std::string path = "/tmp/flowacct-test-tee-" + std::to_string(::getpid()) + "-" + name;
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return path;
}

} // namespace

TEST_CASE("tee_receivers: pools, receivers, tags, balancing and ports parse") {
    auto pools = tee::parse_map("! comment\n"
                                "id=1\tip=127.0.0.1:2100\n"
                                "id=2 ip=127.0.0.1:2101,[::1]:2102 balance-alg=rr tag=100,110-120\n"
                                "id=3 ip=127.0.0.1:2103 balance-alg=hash-agent src_port=4000 tag=-150\n",
                                "m", tee::Limits{});
    REQUIRE(pools.size() == 3);
    CHECK(pools[0].id == 1);
    CHECK(pools[0].balance == tee::Balance::All);
    CHECK(pools[0].tags == nullptr);
    CHECK(pools[0].line == 2);
    REQUIRE(pools[1].receivers.size() == 2);
    CHECK(pools[1].receivers[1].addr.ss_family == AF_INET6);
    CHECK(pools[1].receivers[1].text == "[::1]:2102");
    CHECK(pools[1].balance == tee::Balance::RoundRobin);
    CHECK(tee::accepts(pools[1], 100));
    CHECK(tee::accepts(pools[1], 115));
    CHECK_FALSE(tee::accepts(pools[1], 0));
    CHECK(tee::accepts(pools[0], 0));
    CHECK(pools[2].src_port == 4000);
    CHECK(tee::accepts(pools[2], 0));   // -150: everything but 150
    CHECK_FALSE(tee::accepts(pools[2], 150));
}

TEST_CASE("tee_receivers: errors name file and line") {
    CHECK(parse_error("id=1 ip=127.0.0.1:1\nid=2 ip=127.0.0.1:2 balance-alg=random\n").rfind("/etc/tee.lst:2: balance-alg", 0) == 0);
    CHECK(parse_error("ip=127.0.0.1:1\n").find("/etc/tee.lst:1: id= is mandatory") == 0);
    CHECK(parse_error("id=1\n").find("ip= is mandatory") != std::string::npos);
    CHECK(parse_error("id=0 ip=127.0.0.1:1\n").find("greater than zero") != std::string::npos);
    CHECK(parse_error("id=1 ip=127.0.0.1\n").find("/etc/tee.lst:1: ip:") == 0);
    CHECK(parse_error("id=1 ip=127.0.0.1:1\nid=1 ip=127.0.0.1:2\n").find(":2: pool id 1 is defined twice") != std::string::npos);
    CHECK(parse_error("id=1 ip=127.0.0.1:1 kafka_broker=localhost:9092\n").find("not supported") != std::string::npos);
    CHECK(parse_error("id=1 ip=127.0.0.1:1 zmq_address=127.0.0.1:5000\n").find("zmq_address") != std::string::npos);
    CHECK(parse_error("id=1 ip=127.0.0.1:1 colour=blue\n").find("unknown key 'colour'") != std::string::npos);
    CHECK(parse_error("id=1 ip=127.0.0.1:1 tag=abc\n").find(":1: tag:") != std::string::npos);
    CHECK(parse_error("id=1 ip=127.0.0.1:1 src_port=70000\n").find("src_port") != std::string::npos);
    tee::Limits small;
    small.max_pools = 1;
    small.max_receivers = 2;
    CHECK_THROWS_WITH_AS(tee::parse_map("id=1 ip=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3\n", "m", small),
                         doctest::Contains("m:1: 3 receivers, more than tee_max_receivers (2)"), std::runtime_error);
    CHECK_THROWS_WITH_AS(tee::parse_map("id=1 ip=127.0.0.1:1\nid=2 ip=127.0.0.1:2\n", "m", small),
                         doctest::Contains("m:2: more pools than tee_max_receiver_pools (1)"), std::runtime_error);
}

TEST_CASE("balancing: rr spreads evenly, hash-agent and hash-crc32 keep an exporter, hash-tag follows the tag") {
    auto pools = tee::parse_map("id=1 ip=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3 balance-alg=rr\n"
                                "id=2 ip=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3 balance-alg=hash-agent\n"
                                "id=3 ip=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3 balance-alg=hash-crc32\n"
                                "id=4 ip=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3 balance-alg=hash-tag\n",
                                "m", tee::Limits{});
    std::vector<std::uint8_t> bytes(100, 7);
    std::uint64_t rr = 0;
    std::map<std::size_t, int> spread;
    for (int i = 0; i < 300; ++i) ++spread[tee::pick(pools[0], datagram_from("10.0.0.1", 2055, bytes), rr)];
    CHECK(spread == std::map<std::size_t, int>{{0, 100}, {1, 100}, {2, 100}});

    for (int alg : {1, 2}) {
        std::map<std::string, std::set<std::size_t>> by_exporter;
        std::set<std::size_t> used;
        for (int round = 0; round < 5; ++round)
            for (int host = 1; host <= 64; ++host) {
                std::string ip = "10.1.0." + std::to_string(host);
                std::size_t r = tee::pick(pools[alg], datagram_from(ip.c_str(), 2055, bytes), rr);
                by_exporter[ip].insert(r);
                used.insert(r);
            }
        for (const auto& [ip, receivers] : by_exporter) CHECK_MESSAGE(receivers.size() == 1, ip);
        CHECK(used.size() == 3); // 64 exporters do not all land on one receiver
    }
    fa_datagram d = datagram_from("10.0.0.1", 2055, bytes);
    d.tag = 7;
    CHECK(tee::pick(pools[3], d, rr) == 1);
    d.tag = 9;
    CHECK(tee::pick(pools[3], d, rr) == 0);
    const std::uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    CHECK(tee::crc32(check, sizeof check) == 0xCBF43926u);
}

TEST_CASE("pre_tag_map of a tee pipeline: only exporter keys") {
    CHECK_NOTHROW(tee::check_datagram_pretag("set_tag=1 ip=10.0.0.1\nid=2 ip=10.0.0.0/8 jeq=x\nset_tag2=3 ip=::1 label=x\n", "p"));
    CHECK_THROWS_WITH_AS(tee::check_datagram_pretag("set_tag=1 ip=10.0.0.1\nset_tag=2 in=3\n", "p"),
                         doctest::Contains("p:2: key 'in' cannot match a datagram"), std::runtime_error);
    CHECK_THROWS_WITH_AS(tee::check_datagram_pretag("set_tag=1 filter='tcp and port 80'\n", "p"),
                         doctest::Contains("key 'filter'"), std::runtime_error);
}

TEST_CASE("transparent packets: the exporter's address and port, valid checksums") {
    std::vector<std::uint8_t> bytes = {1, 2, 3, 4, 5};
    fa_datagram d = datagram_from("192.0.2.7", 40000, bytes);
    sockaddr_storage to{};
    auto& a = reinterpret_cast<sockaddr_in&>(to);
    a.sin_family = AF_INET;
    a.sin_port = htons(2100);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    std::vector<std::uint8_t> pkt;
    REQUIRE(tee::build_packet(d, to, pkt) == 20 + 8 + 5);
    CHECK(pkt[0] == 0x45);
    CHECK(pkt[9] == 17);
    CHECK(std::vector<std::uint8_t>(pkt.begin() + 12, pkt.begin() + 16) == std::vector<std::uint8_t>{192, 0, 2, 7});
    CHECK(((pkt[20] << 8) | pkt[21]) == 40000);
    CHECK(((pkt[22] << 8) | pkt[23]) == 2100);
    CHECK(std::vector<std::uint8_t>(pkt.begin() + 28, pkt.end()) == bytes);
    auto sum = [](const std::uint8_t* p, std::size_t n, std::uint32_t acc) {
        for (std::size_t i = 0; i + 1 < n; i += 2) acc += (std::uint32_t{p[i]} << 8) | p[i + 1];
        if (n & 1) acc += std::uint32_t{p[n - 1]} << 8;
        while (acc >> 16) acc = (acc & 0xFFFF) + (acc >> 16);
        return acc;
    };
    CHECK(sum(pkt.data(), 20, 0) == 0xFFFF); // IPv4 header checksum
    CHECK(sum(pkt.data() + 20, 13, sum(pkt.data() + 12, 8, 17 + 13)) == 0xFFFF); // UDP with pseudo header
    // An IPv6 exporter cannot keep its address towards an IPv4 receiver.
    fa_datagram d6 = d;
    d6.ip_version = 6;
    CHECK(tee::build_packet(d6, to, pkt) == 0);
}

TEST_CASE("module: datagram-only, forwards byte for byte, filters by tag, counts per receiver") {
    const fa_module_descriptor* desc = test::load_module("output_tee.so");
    REQUIRE(desc);
    const auto* ops = static_cast<const fa_output_ops*>(desc->ops);
    REQUIRE(ops->struct_size >= offsetof(fa_output_ops, reload) + sizeof ops->reload);
    const bool write_null = ops->write == nullptr, datagrams_set = ops->datagrams != nullptr;
    CHECK(write_null);
    REQUIRE(datagrams_set);

    Receiver all, rr1, rr2, tagged;
    const std::string map = write_file("r.lst", "id=1 ip=127.0.0.1:" + std::to_string(all.port) + "\n" +
                                                    "id=2 ip=127.0.0.1:" + std::to_string(rr1.port) + ",127.0.0.1:" +
                                                    std::to_string(rr2.port) + " balance-alg=rr\n" +
                                                    "id=3 ip=127.0.0.1:" + std::to_string(tagged.port) + " tag=100\n");
    const std::string pretag = write_file("p.map", "set_tag=100 ip=10.0.0.2\n");
    test::FakeHost host({{"tee_receivers", map}, {"pre_tag_map", pretag}});
    test::Instance inst(desc, host);
    REQUIRE_MESSAGE(inst, inst.error);

    std::vector<std::vector<std::uint8_t>> sent;
    std::vector<fa_datagram> ds;
    for (int i = 0; i < 10; ++i) sent.push_back(std::vector<std::uint8_t>(100 + i, static_cast<std::uint8_t>(i)));
    for (int i = 0; i < 10; ++i) ds.push_back(datagram_from(i % 2 ? "10.0.0.2" : "10.0.0.3", 2055, sent[i]));
    std::vector<const fa_datagram*> ptrs;
    for (auto& d : ds) ptrs.push_back(&d);
    REQUIRE(ops->datagrams(inst.get(), ptrs.data(), static_cast<std::uint32_t>(ptrs.size())) == FA_OK);

    CHECK(all.drain() == sent);
    auto a = rr1.drain(), b = rr2.drain();
    CHECK(a.size() == 5);
    CHECK(b.size() == 5);
    auto t = tagged.drain();
    REQUIRE(t.size() == 5);
    for (std::size_t i = 0; i < t.size(); ++i) CHECK(t[i] == sent[2 * i + 1]);
    const std::string lab = "{pool=1,receiver=127.0.0.1:" + std::to_string(all.port) + "}";
    CHECK(host.counter("datagrams_forwarded" + lab) == 10);
    std::uint64_t bytes = 0;
    for (const auto& s : sent) bytes += s.size();
    CHECK(host.counter("bytes_forwarded" + lab) == bytes);
    CHECK(host.counter("datagrams_unmatched") == 0);

    // A reload with a broken map keeps the old pools; a good one replaces them.
    write_file("r.lst", "id=1 ip=127.0.0.1:" + std::to_string(tagged.port) + " tag=7\nid=2 ip=nowhere\n");
    CHECK(ops->reload(inst.get()) == FA_ERROR);
    CHECK(host.counter("map_reload_errors") == 1);
    REQUIRE(ops->datagrams(inst.get(), ptrs.data(), 1) == FA_OK);
    CHECK(all.drain().size() == 1);
    write_file("r.lst", "id=1 ip=127.0.0.1:" + std::to_string(tagged.port) + " tag=100\n");
    REQUIRE(ops->reload(inst.get()) == FA_OK);
    REQUIRE(ops->datagrams(inst.get(), ptrs.data(), 2) == FA_OK);
    CHECK(tagged.drain().size() == 1);
    CHECK(all.drain().empty());
    CHECK(host.counter("datagrams_unmatched") == 1);
    std::remove(map.c_str());
    std::remove(pretag.c_str());
}

TEST_CASE("module: tag= without a pre_tag_map, and a missing map, are errors naming the key") {
    const fa_module_descriptor* desc = test::load_module("output_tee.so");
    REQUIRE(desc);
    const std::string map = write_file("t.lst", "id=1 ip=127.0.0.1:9 tag=5\n");
    test::FakeHost host({{"tee_receivers", map}});
    test::Instance inst(desc, host);
    CHECK_FALSE(inst);
    CHECK(inst.error.find("tee_receivers: " + map + ":1: tag= and balance-alg=hash-tag need a pre_tag_map") == 0);
    test::FakeHost none;
    test::Instance inst2(desc, none);
    CHECK(inst2.error.find("tee_receivers:") == 0);
    std::remove(map.c_str());
}

TEST_CASE("SDK: an input under a host of ABI minor 0 is told nobody wants datagrams") {
    test::FakeHost host;
    host.want_datagrams = true;
    CHECK(sdk::Context(host.api()).datagrams_wanted());
    host.as_minor0();
    CHECK_FALSE(sdk::Context(host.api()).datagrams_wanted());
}

TEST_CASE("the shipped example map parses") {
    auto pools = tee::load_map(std::string(FLOWACCT_TEST_SOURCE_DIR) + "/etc/examples/tee_receivers.lst", tee::Limits{});
    REQUIRE(pools.size() == 4);
    CHECK(pools[1].balance == tee::Balance::HashAgent);
    CHECK(pools[2].receivers[0].addr.ss_family == AF_INET6);
    CHECK_FALSE(tee::accepts(pools[3], 150));
}

TEST_CASE("module: an IPv6 receiver gets the datagram too") {
    const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        MESSAGE("no IPv6 loopback: skipped");
        if (fd >= 0) ::close(fd);
        return;
    }
    socklen_t l = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
    const fa_module_descriptor* desc = test::load_module("output_tee.so");
    REQUIRE(desc);
    const std::string map = write_file("v6.lst", "id=1 ip=[::1]:" + std::to_string(ntohs(a.sin6_port)) + "\n");
    test::FakeHost host({{"tee_receivers", map}});
    test::Instance inst(desc, host);
    REQUIRE_MESSAGE(inst, inst.error);
    std::vector<std::uint8_t> bytes = {9, 8, 7};
    fa_datagram d = datagram_from("10.0.0.1", 2055, bytes);
    const fa_datagram* p = &d;
    REQUIRE(static_cast<const fa_output_ops*>(desc->ops)->datagrams(inst.get(), &p, 1) == FA_OK);
    pollfd pf{fd, POLLIN, 0};
    REQUIRE(::poll(&pf, 1, 2000) == 1);
    std::uint8_t buf[16];
    CHECK(::recv(fd, buf, sizeof buf, 0) == 3);
    CHECK(std::vector<std::uint8_t>(buf, buf + 3) == bytes);
    ::close(fd);
    std::remove(map.c_str());
}
