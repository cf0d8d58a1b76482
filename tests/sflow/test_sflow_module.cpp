// SPDX-License-Identifier: GPL-2.0-or-later
// Input module "sflow" through FakeHost: UDP over IPv4 and IPv6, kernel drops, prompt stop,
// receive buffer, savefile replay with backpressure, payloads for classifiers.
#include <doctest/doctest.h> // TEST_CASE, CHECK

#include <arpa/inet.h>   // inet_pton, htons
#include <netinet/in.h>  // sockaddr_in, sockaddr_in6
#include <sys/socket.h>  // socket, sendto
#include <unistd.h>      // close

#include <chrono>        // std::chrono
#include <cstdio>        // std::fopen, std::fwrite
#include <cstdlib>       // std::system
#include <cstring>       // std::strchr
#include <map>           // std::map
#include <string>        // std::string
#include <thread>        // std::thread
#include <vector>        // std::vector

#include <fake_host.hpp>      // test::FakeHost, test::Instance, test::load_module
#include "sflow_encoder.hpp"  // encode::Datagram

using namespace flowacct;
namespace enc = flowacct::sflow::encode;
using Config = std::map<std::string, std::string>;

namespace {

const fa_module_descriptor* module() {
    static const fa_module_descriptor* d = test::load_module("input_sflow.so");
    return d;
}

std::uint64_t read_counter(test::FakeHost& host, const std::string& key) {
    auto it = host.counters.find(key);
    return it == host.counters.end() ? 0 : __atomic_load_n(&it->second, __ATOMIC_RELAXED);
}

// The slot of a counter the module registered at create time. Taken before run() starts, so
// that polling it never touches the host's map while the input thread may add agent counters.
const std::uint64_t* slot(test::FakeHost& host, const std::string& key) {
    auto it = host.counters.find(key);
    REQUIRE(it != host.counters.end());
    return &it->second;
}

// Polls a counter the input thread bumps until it reaches `want` or `limit` passes.
bool wait_counter(const std::uint64_t* counter, std::uint64_t want,
                  std::chrono::milliseconds limit = std::chrono::milliseconds(30000)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (__atomic_load_n(counter, __ATOMIC_RELAXED) < want) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// The port the module logged ("listening on UDP port N").
int logged_port(const test::FakeHost& host) {
    for (const auto& l : host.logs) {
        auto at = l.find("listening on UDP port ");
        if (at != std::string::npos) return std::stoi(l.substr(at + 22));
    }
    return -1;
}

// Whether this machine has an IPv6 loopback (some CI containers disable IPv6).
bool have_ipv6_loopback() {
    const int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0) return false;
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

enc::Bytes datagram(std::uint32_t seq, std::uint32_t samples = 2) {
    enc::Datagram d(enc::Address::v4(192, 0, 2, 1), 0, seq, 1000 + seq);
    const std::uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
    for (std::uint32_t i = 0; i < samples; ++i) {
        enc::FlowSample s;
        s.rate = 10;
        s.input = 1;
        s.records.push_back({sflow::kRecRawHeader,
                             enc::raw_header(sflow::kHeaderEthernet, 700, 4,
                                             enc::ethernet_ipv4(src, dst, 17, static_cast<std::uint16_t>(1000 + i), 53, 678, 16))});
        d.add_flow(s);
    }
    return d.bytes();
}

void send_to(const char* ip, int port, const enc::Bytes& b) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (std::strchr(ip, ':')) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<std::uint16_t>(port));
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<std::uint16_t>(port));
        inet_pton(AF_INET, ip, &a->sin_addr);
        len = sizeof *a;
    }
    const int fd = ::socket(ss.ss_family, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    CHECK(::sendto(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) == static_cast<ssize_t>(b.size()));
    ::close(fd);
}

} // namespace

TEST_CASE("the sflow module declares pmacct's sfacctd keys with their defaults") {
    const fa_module_descriptor* d = module();
    REQUIRE(d != nullptr);
    CHECK(d->kind == FA_KIND_INPUT);
    CHECK(std::string(d->name) == "sflow");
    bool port = false, renorm = false;
    for (std::uint32_t i = 0; i < d->key_count; ++i) {
        const std::string name = d->keys[i].name;
        if (name == "sfacctd_port") port = std::string(d->keys[i].default_value) == "6343";
        if (name == "sfacctd_renormalize") renorm = std::string(d->keys[i].default_value) == "false";
    }
    CHECK(port);
    CHECK(renorm);
}

TEST_CASE("datagrams received over UDP on IPv4 and IPv6 become records") {
    const char* addr = nullptr;
    SUBCASE("IPv4") { addr = "127.0.0.1"; }
    SUBCASE("IPv6") {
        if (!have_ipv6_loopback()) {
            MESSAGE("no IPv6 loopback: skipped");
            return;
        }
        addr = "::1";
    }
    test::FakeHost host(Config{{"sfacctd_ip", addr}, {"sfacctd_port", "0"}, {"sfacctd_renormalize", "true"}});
    test::Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    const int port = logged_port(host);
    REQUIRE(port > 0);
    const auto* ops = inst.ops<fa_input_ops>();
    fa_status status = FA_ERROR;
    const std::uint64_t* rx = slot(host, "rx_datagrams");
    std::thread runner([&] { status = ops->run(inst.get()); });
    for (std::uint32_t seq = 1; seq <= 3; ++seq) send_to(addr, port, datagram(seq));
    CHECK(wait_counter(rx, 3));
    ops->request_stop(inst.get());
    runner.join();
    CHECK(status == FA_OK);
    REQUIRE(host.records.size() == 6);
    for (const auto& r : host.records) {
        CHECK(r.bytes == 7000);
        CHECK(r.packets == 10);
        CHECK(r.sampling_rate == 1);
        CHECK(r.in_iface == 1);
        CHECK(r.dst_port == 53);
    }
    CHECK(read_counter(host, "records{agent=192.0.2.1,sub_agent=0}") == 6);
    CHECK(read_counter(host, "seq_lost{agent=192.0.2.1,sub_agent=0}") == 0);
}

TEST_CASE("raw datagrams go to the host, with the sender's address, when a pipeline wants them") {
    const char* addr = nullptr;
    SUBCASE("IPv4") { addr = "127.0.0.1"; }
    SUBCASE("IPv6") {
        if (!have_ipv6_loopback()) {
            MESSAGE("no IPv6 loopback: skipped");
            return;
        }
        addr = "::1";
    }
    test::FakeHost host(Config{{"sfacctd_ip", addr}, {"sfacctd_port", "0"}});
    host.want_datagrams = true;
    test::Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    const int port = logged_port(host);
    const auto* ops = inst.ops<fa_input_ops>();
    fa_status status = FA_ERROR;
    const std::uint64_t* rx = slot(host, "rx_datagrams");
    std::thread runner([&] { status = ops->run(inst.get()); });
    for (std::uint32_t seq = 1; seq <= 3; ++seq) send_to(addr, port, datagram(seq));
    CHECK(wait_counter(rx, 3));
    ops->request_stop(inst.get());
    runner.join();
    CHECK(status == FA_OK);
    REQUIRE(host.datagrams.size() == 3);
    for (std::uint32_t i = 0; i < 3; ++i) {
        CHECK(host.datagrams[i].bytes == datagram(i + 1));
        CHECK(host.datagrams[i].d.ip_version == (std::string(addr) == "::1" ? 6 : 4));
        CHECK(host.datagrams[i].d.src_port != 0);
        CHECK(host.datagrams[i].d.exporter[15] == 1); // 127.0.0.1 or ::1
    }
}

TEST_CASE("without sfacctd_ip one dual-stack socket receives IPv4 and IPv6 datagrams") {
    if (!have_ipv6_loopback()) {
        MESSAGE("no IPv6 loopback: skipped");
        return;
    }
    test::FakeHost host(Config{{"sfacctd_port", "0"}});
    test::Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    const auto* ops = inst.ops<fa_input_ops>();
    const int port = logged_port(host);
    REQUIRE(port > 0);
    const std::uint64_t* rx = slot(host, "rx_datagrams");
    std::thread runner([&] { ops->run(inst.get()); });
    send_to("127.0.0.1", port, datagram(1));
    send_to("::1", port, datagram(2));
    CHECK(wait_counter(rx, 2));
    ops->request_stop(inst.get());
    runner.join();
    CHECK(host.records.size() == 4);
}

TEST_CASE("request_stop makes run return promptly") {
    test::FakeHost host(Config{{"sfacctd_ip", "127.0.0.1"}, {"sfacctd_port", "0"}});
    test::Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    const auto* ops = inst.ops<fa_input_ops>();
    std::chrono::steady_clock::time_point stopped_at, returned_at;
    const int port = logged_port(host);
    REQUIRE(port > 0);
    const std::uint64_t* rx = slot(host, "rx_datagrams");
    std::thread runner([&] {
        ops->run(inst.get());
        returned_at = std::chrono::steady_clock::now();
    });
    send_to("127.0.0.1", port, datagram(1));
    REQUIRE(wait_counter(rx, 1)); // run() is in its loop
    stopped_at = std::chrono::steady_clock::now();
    ops->request_stop(inst.get());
    runner.join();
    // poll() wakes on the stop (its timeout is 50 ms): 1 s is room for a loaded, sanitized run.
    CHECK(returned_at - stopped_at < std::chrono::seconds(1));
    CHECK(host.records.size() == 2); // the partial batch was flushed on the way out
}

TEST_CASE("sfacctd_pipe_size sets the receive buffer and logs obtained against requested") {
    test::FakeHost host(Config{{"sfacctd_ip", "127.0.0.1"}, {"sfacctd_port", "0"}, {"sfacctd_pipe_size", "65536"}});
    test::Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    CHECK(host.counter("so_rcvbuf_obtained") >= 65536); // Linux doubles the request
    bool logged = false;
    for (const auto& l : host.logs) logged |= l.find("obtained") != std::string::npos && l.find("requested 65536") != std::string::npos;
    CHECK(logged);
}

TEST_CASE("a bad sfacctd_ip or port fails create and names the key") {
    SUBCASE("address") {
        test::FakeHost host(Config{{"sfacctd_ip", "not-an-address"}, {"sfacctd_port", "0"}});
        test::Instance inst(module(), host);
        CHECK_FALSE(inst);
        CHECK(inst.error.rfind("sfacctd_ip:", 0) == 0);
    }
    SUBCASE("port") {
        test::FakeHost host(Config{{"sfacctd_ip", "127.0.0.1"}, {"sfacctd_port", "70000"}});
        test::Instance inst(module(), host);
        CHECK_FALSE(inst);
        CHECK(inst.error.rfind("sfacctd_port:", 0) == 0);
    }
}

TEST_CASE("datagrams the kernel drops for lack of buffer are counted in sock_drops") {
    // The smallest receive buffer, filled before run() reads anything.
    test::FakeHost host(Config{{"sfacctd_ip", "127.0.0.1"}, {"sfacctd_port", "0"}, {"sfacctd_pipe_size", "1"}});
    test::Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    const int port = logged_port(host);
    const std::uint32_t burst = 500;
    for (std::uint32_t i = 1; i <= burst; ++i) send_to("127.0.0.1", port, datagram(i, 8));
    const auto* ops = inst.ops<fa_input_ops>();
    const std::uint64_t* rx = slot(host, "rx_datagrams");
    std::thread runner([&] { ops->run(inst.get()); });
    REQUIRE(wait_counter(rx, 1));
    // Markers sent once the queue drained carry the kernel's final drop count.
    std::uint32_t sent = burst;
    for (int i = 0; i < 5; ++i) {
        const auto before = __atomic_load_n(rx, __ATOMIC_RELAXED);
        send_to("127.0.0.1", port, datagram(++sent, 1));
        wait_counter(rx, before + 1);
    }
    ops->request_stop(inst.get());
    runner.join();
    CHECK(read_counter(host, "sock_drops") > 0);
    CHECK(read_counter(host, "sock_drops") + read_counter(host, "rx_datagrams") == sent);
}

TEST_CASE("a savefile is replayed with backpressure and ends with FA_EOF") {
    const std::string pcap = std::string(FLOWACCT_TEST_BINARY_DIR) + "/sflow_module_test.pcap";
    const std::string cmd = std::string(FLOWACCT_GEN_SFLOW) + " --samples 1000 --keys 20 --rate 4 --pcap " + pcap + " 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    test::FakeHost host(Config{{"pcap_savefile", pcap}, {"pcap_savefile_replay", "2"}, {"classifiers", "/etc/flowacct/classifiers"}});
    test::Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    const auto* ops = inst.ops<fa_input_ops>();
    CHECK(ops->run(inst.get()) == FA_EOF);
    CHECK(host.backpressure);
    CHECK(host.records.size() == 2000);
    // The second play repeats datagrams 1..125 of the same agent within its uptime: seen
    // again (duplicates inside the 64-datagram window, reordered beyond it), never lost.
    const std::string agent = "{agent=192.0.2.1,sub_agent=0}";
    CHECK(read_counter(host, "seq_dup" + agent) + read_counter(host, "seq_reordered" + agent) == 125);
    CHECK(read_counter(host, "seq_lost" + agent) == 0);
    std::size_t with_payload = 0;
    for (std::size_t i = 0; i < host.records.size(); ++i) {
        CHECK(host.records[i].sampling_rate == 4);
        CHECK(host.records[i].time_end_us >= 1700000000ull * 1000000);
        if (host.records[i].flags & FA_REC_HAS_PAYLOAD) {
            ++with_payload;
            CHECK(host.payloads[i].front() == 0x5a);
        }
    }
    CHECK(with_payload > 1000);
}

TEST_CASE("savefile frames that are not UDP are skipped, malformed datagrams counted and logged once") {
    const std::string pcap = std::string(FLOWACCT_TEST_BINARY_DIR) + "/sflow_mixed.pcap";
    {
        const std::uint8_t a[4] = {127, 0, 0, 1};
        const auto sflow_payload = datagram(1);
        auto udp = enc::ethernet_ipv4(a, a, 17, 40000, 6343, static_cast<std::uint16_t>(28 + sflow_payload.size()));
        udp.insert(udp.end(), sflow_payload.begin(), sflow_payload.end());
        const auto tcp = enc::ethernet_ipv4(a, a, 6, 40000, 6343, 40);
        auto bad = udp;
        bad[14 + 28 + 3] = 4; // sFlow version 4
        std::FILE* f = std::fopen(pcap.c_str(), "wb");
        REQUIRE(f != nullptr);
        const std::uint32_t global[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
        std::fwrite(global, 4, 6, f);
        const std::vector<const enc::Bytes*> frames = {&tcp, &udp, &bad};
        for (const enc::Bytes* frame : frames) {
            const std::uint32_t rec[4] = {1700000000, 0, static_cast<std::uint32_t>(frame->size()),
                                          static_cast<std::uint32_t>(frame->size())};
            std::fwrite(rec, 4, 4, f);
            std::fwrite(frame->data(), 1, frame->size(), f);
        }
        std::fclose(f);
    }
    test::FakeHost host(Config{{"pcap_savefile", pcap}});
    test::Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    CHECK(inst.ops<fa_input_ops>()->run(inst.get()) == FA_EOF);
    CHECK(host.counter("savefile_non_sflow_frames") == 1);
    CHECK(host.counter("bad_version") == 1);
    CHECK(host.records.size() == 2);
    int drop_lines = 0;
    for (const auto& l : host.logs)
        drop_lines += l.find("dropped 1 malformed datagrams or samples from the savefile, the last bad_version") !=
                      std::string::npos;
    CHECK(drop_lines == 1);
    CHECK(host.records[0].time_end_us == 1700000000ull * 1000000);
}

TEST_CASE("with pcap_savefile_wait the input stays after the savefile until asked to stop") {
    const std::string pcap = std::string(FLOWACCT_TEST_BINARY_DIR) + "/sflow_module_wait.pcap";
    const std::string cmd = std::string(FLOWACCT_GEN_SFLOW) + " --samples 80 --keys 5 --pcap " + pcap + " 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    test::FakeHost host(Config{{"pcap_savefile", pcap}, {"pcap_savefile_wait", "true"}});
    // The host API with a submit that also counts where the test thread can read it.
    static std::uint32_t (*fake_submit)(void*, fa_batch*) = nullptr;
    static std::uint64_t submitted = 0;
    submitted = 0;
    fa_host_api api = *host.api();
    fake_submit = api.batch_submit;
    api.batch_submit = [](void* c, fa_batch* b) -> std::uint32_t {
        const std::uint32_t n = fake_submit(c, b);
        __atomic_fetch_add(&submitted, n, __ATOMIC_RELAXED);
        return n;
    };
    const fa_module_descriptor* d = module();
    void* inst = nullptr;
    fa_error err{};
    REQUIRE(d->create(&api, &inst, &err) == FA_OK);
    const auto* ops = static_cast<const fa_input_ops*>(d->ops);
    fa_status status = FA_ERROR;
    std::chrono::steady_clock::time_point returned_at;
    std::thread runner([&] {
        status = ops->run(inst);
        returned_at = std::chrono::steady_clock::now();
    });
    // Every record of the file reaches the host while the input waits, before any stop.
    CHECK(wait_counter(&submitted, 80));
    const auto stopped_at = std::chrono::steady_clock::now();
    ops->request_stop(inst);
    runner.join();
    d->destroy(inst);
    CHECK(status == FA_EOF);
    CHECK(returned_at - stopped_at < std::chrono::seconds(1));
    CHECK(host.records.size() == 80);
}

TEST_CASE("a missing savefile fails create and names pcap_savefile") {
    test::FakeHost host(Config{{"pcap_savefile", "/nonexistent/file.pcap"}});
    test::Instance inst(module(), host);
    CHECK_FALSE(inst);
    CHECK(inst.error.rfind("pcap_savefile:", 0) == 0);
}
