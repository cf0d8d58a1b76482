// SPDX-License-Identifier: GPL-2.0-or-later
// Tests of input_netflow.so through FakeHost: UDP over 127.0.0.1 and ::1, receive threads,
// stop latency, templates file, savefile replay, and against softflowd, nfacctd and tshark.
#include <arpa/inet.h>   // inet_pton
#include <netinet/in.h>  // sockaddr_in, sockaddr_in6
#include <sys/socket.h>  // socket, sendto
#include <unistd.h>      // close, access

#include <chrono>        // std::chrono
#include <cstdio>        // std::FILE, popen
#include <ctime>         // std::time
#include <fstream>       // std::ifstream
#include <map>           // std::map
#include <sstream>       // std::istringstream
#include <string>        // std::string
#include <thread>        // std::thread
#include <tuple>         // std::tuple
#include <vector>        // std::vector

#include <doctest/doctest.h> // TEST_CASE, CHECK

#include "fake_host.hpp"        // FakeHost, Instance, load_module
#include "netflow_decoder.hpp"  // netflow::address_text
#include "netflow_workload.hpp" // make_workload, write_pcap, write_pcap_frames
#include "netflow_writer.hpp"   // Writer

using flowacct::test::FakeHost;
using flowacct::test::Instance;
namespace gen = flowacct::gen;
using Cfg = std::map<std::string, std::string>;

namespace {

const fa_module_descriptor* module() {
    static const fa_module_descriptor* d = flowacct::test::load_module("input_netflow.so");
    return d;
}
const fa_input_ops* ops(const Instance& i) { return i.ops<fa_input_ops>(); }

std::string tmp_path(const std::string& name) { return std::string(FLOWACCT_TEST_BINARY_DIR) + "/netflow_" + name; }

std::uint16_t port_from_logs(const FakeHost& host) {
    for (const std::string& line : host.logs) {
        const auto at = line.find("listening on ");
        const auto p = line.find(" port ", at == std::string::npos ? 0 : at);
        if (at != std::string::npos && p != std::string::npos) return static_cast<std::uint16_t>(std::stoi(line.substr(p + 6)));
    }
    return 0;
}

// Sends datagrams to the module's port. UDP over loopback queues them in the module's socket
// at once, so a test can stop the module and let run() drain them deterministically.
void send_all(const char* dst, std::uint16_t port, const std::vector<std::vector<std::uint8_t>>& dgrams, int sockets = 1) {
    const bool v6 = std::string(dst).find(':') != std::string::npos;
    std::vector<int> fds;
    for (int i = 0; i < sockets; ++i) fds.push_back(::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0));
    sockaddr_storage ss{};
    socklen_t sl;
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, dst, &a->sin6_addr);
        sl = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, dst, &a->sin_addr);
        sl = sizeof *a;
    }
    for (std::size_t i = 0; i < dgrams.size(); ++i)
        REQUIRE(::sendto(fds[i % fds.size()], dgrams[i].data(), dgrams[i].size(), 0, reinterpret_cast<sockaddr*>(&ss), sl) ==
                static_cast<ssize_t>(dgrams[i].size()));
    for (int fd : fds) ::close(fd);
}

struct Sums {
    std::uint64_t records = 0, packets = 0, bytes = 0;
};
Sums sums(const FakeHost& host) {
    Sums s;
    for (const fa_record& r : host.records) {
        ++s.records;
        s.packets += r.packets;
        s.bytes += r.bytes;
    }
    return s;
}

// Stops first, then runs: run() decodes what is queued and returns.
fa_status drain(const Instance& inst) {
    ops(inst)->request_stop(inst.get());
    return ops(inst)->run(inst.get());
}

std::string run_cmd(const std::string& cmd) {
    std::string out;
    if (std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
        ::pclose(p);
    }
    return out;
}

bool have(const char* tool) { return run_cmd(std::string("command -v ") + tool).find('/') != std::string::npos; }

} // namespace

TEST_CASE("netflow module decodes v5, v9 and IPFIX received over UDP on 127.0.0.1") {
    REQUIRE(module() != nullptr);
    for (int version : {5, 9, 10}) {
        CAPTURE(version);
        gen::WorkloadOptions o;
        o.version = version;
        o.records = 600;
        o.keys = 37;
        o.per_datagram = 24;
        gen::WorkloadTotals t;
        const auto dgrams = gen::make_workload(o, t);
        FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_pipe_size", "2000000"}});
        Instance inst(module(), host);
        REQUIRE_MESSAGE(inst, inst.error);
        const std::uint16_t port = port_from_logs(host);
        REQUIRE(port != 0);
        send_all("127.0.0.1", port, dgrams);
        CHECK(drain(inst) == FA_OK);
        const Sums s = sums(host);
        CHECK(s.records == t.records);
        CHECK(s.packets == t.packets);
        CHECK(s.bytes == t.bytes);
        CHECK(host.counter("rx_datagrams{exporter=127.0.0.1}") == t.datagrams);
        CHECK(host.counter("no_template{exporter=127.0.0.1}") == 0);
        CHECK(host.counter("seq_lost{exporter=127.0.0.1}") == 0);
        CHECK(host.counter("so_rcvbuf_obtained") > 0);
        REQUIRE_FALSE(host.records.empty());
        CHECK(flowacct::netflow::address_text(host.records[0].peer_src_ip) == "127.0.0.1");
    }
}

TEST_CASE("netflow module refuses out-of-range numbers, naming the key, the range and the value") {
    for (const auto& [key, value, range] :
         {std::tuple<const char*, const char*, const char*>{"nfacctd_port", "65536", "from 0 to 65535, got 65536"},
          {"nfacctd_threads", "0", "from 1 to 64, got 0"},
          {"nfacctd_threads", "65", "from 1 to 64, got 65"}}) {
        CAPTURE(std::string(key));
        FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {key, value}});
        Instance inst(module(), host);
        REQUIRE_FALSE(inst);
        CHECK(inst.error == std::string(key) + ": expected a value " + range);
    }
    FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "20x"}});
    Instance inst(module(), host);
    REQUIRE_FALSE(inst);
    CHECK(inst.error == "nfacctd_port: expected an integer, got '20x'");
}

TEST_CASE("netflow module listens on IPv6 ::1") {
    gen::WorkloadOptions o;
    o.version = 10;
    o.records = 100;
    gen::WorkloadTotals t;
    const auto dgrams = gen::make_workload(o, t);
    FakeHost host(Cfg{{"nfacctd_ip", "::1"}, {"nfacctd_port", "0"}});
    Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    send_all("::1", port_from_logs(host), dgrams);
    CHECK(drain(inst) == FA_OK);
    CHECK(sums(host).records == t.records);
    CHECK(host.counter("records{exporter=::1}") == t.records);
}

TEST_CASE("netflow module with several SO_REUSEPORT threads counts every datagram once") {
    gen::WorkloadOptions o;
    o.version = 5;
    o.records = 3000;
    gen::WorkloadTotals t;
    const auto dgrams = gen::make_workload(o, t);
    FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_threads", "3"}});
    Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    send_all("127.0.0.1", port_from_logs(host), dgrams, 8);
    CHECK(drain(inst) == FA_OK);
    CHECK(sums(host).packets == t.packets);
}

TEST_CASE("netflow module counts datagrams the kernel dropped on a full receive buffer") {
    gen::WorkloadOptions o;
    o.version = 5;
    o.records = 30 * 400;
    gen::WorkloadTotals t;
    const auto dgrams = gen::make_workload(o, t);
    FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_pipe_size", "4096"}});
    Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    const std::uint16_t port = port_from_logs(host);
    send_all("127.0.0.1", port, dgrams); // 400 x 1464 bytes into a buffer of a few KiB
    CHECK(drain(inst) == FA_OK);
    // The kernel reports drops on the next datagram it queues: send one more.
    send_all("127.0.0.1", port, {dgrams[0]});
    CHECK(drain(inst) == FA_OK);
    const std::uint64_t received = host.counter("rx_datagrams{exporter=127.0.0.1}");
    CHECK(received < dgrams.size());
    CHECK(host.counter("sock_drops") > 0);
    CHECK(received + host.counter("sock_drops") == dgrams.size() + 1);
    bool warned = false;
    for (const auto& l : host.logs) warned = warned || l.find("nfacctd_pipe_size: requested 4096 bytes, obtained") != std::string::npos;
    CHECK(warned);
}

TEST_CASE("netflow module returns from run promptly after request_stop") {
    FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_threads", "2"}});
    Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    fa_status status = FA_ERROR;
    std::thread runner([&] { status = ops(inst)->run(inst.get()); });
    std::this_thread::sleep_for(std::chrono::milliseconds(30)); // let run() block in poll
    const auto t0 = std::chrono::steady_clock::now();
    ops(inst)->request_stop(inst.get());
    runner.join();
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(status == FA_OK);
    // The stop wakes poll() at once (its timeout is 20 ms); 1 s leaves room for a loaded, sanitized
    // run and still fails a run() that does not return.
    CHECK(waited < std::chrono::seconds(1));
}

TEST_CASE("netflow module rejects bad key values naming the key") {
    SUBCASE("threads") {
        FakeHost host(Cfg{{"nfacctd_threads", "0"}, {"nfacctd_port", "0"}});
        Instance inst(module(), host);
        CHECK_FALSE(inst);
        CHECK(inst.error.find("nfacctd_threads") == 0);
    }
    SUBCASE("address") {
        FakeHost host(Cfg{{"nfacctd_ip", "not-an-ip"}, {"nfacctd_port", "0"}});
        Instance inst(module(), host);
        CHECK_FALSE(inst);
        CHECK(inst.error.find("nfacctd_ip") == 0);
    }
    SUBCASE("missing savefile") {
        FakeHost host(Cfg{{"pcap_savefile", "/nonexistent/file.pcap"}});
        Instance inst(module(), host);
        CHECK_FALSE(inst);
        CHECK(inst.error.find("pcap_savefile") == 0);
    }
}

TEST_CASE("netflow templates file lets data decode after a restart; a corrupt one is only a warning") {
    const std::string file = tmp_path("templates.txt");
    std::remove(file.c_str());
    gen::WorkloadOptions o;
    o.version = 9;
    o.records = 200;
    o.per_datagram = 20;
    o.template_every = 0; // the template only in the first datagram
    gen::WorkloadTotals t;
    auto dgrams = gen::make_workload(o, t);
    {
        FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_templates_file", file}});
        Instance inst(module(), host);
        REQUIRE_MESSAGE(inst, inst.error);
        send_all("127.0.0.1", port_from_logs(host), {dgrams[0]});
        drain(inst);
    }
    {
        FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_templates_file", file}});
        Instance inst(module(), host);
        REQUIRE_MESSAGE(inst, inst.error);
        send_all("127.0.0.1", port_from_logs(host), {dgrams.begin() + 1, dgrams.end()});
        drain(inst);
        CHECK(sums(host).records == t.records - 20);
        CHECK(host.counter("no_template{exporter=127.0.0.1}") == 0);
    }
    // Truncate the file mid-line and append garbage.
    std::string content;
    {
        std::ifstream in(file);
        content.assign(std::istreambuf_iterator<char>(in), {});
    }
    {
        std::ofstream out(file, std::ios::trunc);
        out << content.substr(0, content.size() / 2) << "\n\x7f\xff garbage\n";
    }
    FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_templates_file", file}});
    Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    bool warned = false;
    for (const auto& l : host.logs) warned = warned || l.find("malformed lines") != std::string::npos;
    CHECK(warned);
    std::remove(file.c_str());
}

TEST_CASE("netflow templates file that cannot be written is a warning, not a failure") {
    FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_templates_file", "/nonexistent-dir/t.txt"}});
    Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    gen::WorkloadOptions o;
    o.records = 10;
    gen::WorkloadTotals t;
    send_all("127.0.0.1", port_from_logs(host), gen::make_workload(o, t));
    CHECK(drain(inst) == FA_OK);
    CHECK(sums(host).records == 10);
    bool warned = false;
    for (const auto& l : host.logs) warned = warned || l.find("templates file not saved") != std::string::npos;
    CHECK(warned);
}

TEST_CASE("netflow module replays a pcap savefile with backpressure and ends with EOF") {
    gen::WorkloadOptions o;
    o.version = 10;
    o.records = 1000;
    o.per_datagram = 33;
    gen::WorkloadTotals t;
    const std::string pcap = tmp_path("replay.pcap");
    REQUIRE(gen::write_pcap(pcap, gen::make_workload(o, t), 40000, 2100, o.export_secs).empty());
    FakeHost host(Cfg{{"pcap_savefile", pcap}, {"pcap_savefile_replay", "2"}, {"nfacctd_time_new", "true"}});
    Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    CHECK(ops(inst)->run(inst.get()) == FA_EOF);
    CHECK(host.backpressure);
    const Sums s = sums(host);
    CHECK(s.records == 2 * t.records);
    CHECK(s.packets == 2 * t.packets);
    // nfacctd_time_new: timed by arrival, here the capture's timestamps.
    CHECK(host.records.front().time_end_us / 1000000 == o.export_secs);
    std::remove(pcap.c_str());
}

TEST_CASE("netflow module hands raw datagrams to the host only when a pipeline wants them") {
    gen::WorkloadOptions o;
    o.version = 9;
    o.records = 300;
    o.per_datagram = 20;
    gen::WorkloadTotals t;
    const auto dgrams = gen::make_workload(o, t);
    for (bool wanted : {false, true}) {
        CAPTURE(wanted);
        FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_pipe_size", "2000000"}});
        host.want_datagrams = wanted;
        Instance inst(module(), host);
        REQUIRE_MESSAGE(inst, inst.error);
        send_all("127.0.0.1", port_from_logs(host), dgrams);
        CHECK(drain(inst) == FA_OK);
        CHECK(sums(host).records == t.records); // records flow as before either way
        if (!wanted) {
            CHECK(host.datagrams.empty());
            continue;
        }
        REQUIRE(host.datagrams.size() == dgrams.size());
        for (std::size_t i = 0; i < dgrams.size(); ++i) {
            CHECK(host.datagrams[i].bytes == dgrams[i]);
            CHECK(host.datagrams[i].d.ip_version == 4);
            CHECK(host.datagrams[i].d.src_port != 0);
            CHECK(flowacct::netflow::address_text(host.datagrams[i].d.exporter) == "127.0.0.1");
            CHECK(host.datagrams[i].d.arrival_us > 0);
        }
    }
    // Savefile replay: the exporter and port of the capture, the capture's time.
    const std::string pcap = tmp_path("forward.pcap");
    REQUIRE(gen::write_pcap(pcap, dgrams, 40000, 2100, o.export_secs).empty());
    FakeHost host(Cfg{{"pcap_savefile", pcap}});
    host.want_datagrams = true;
    Instance inst(module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    CHECK(ops(inst)->run(inst.get()) == FA_EOF);
    REQUIRE(host.datagrams.size() == dgrams.size());
    CHECK(host.datagrams.back().bytes == dgrams.back());
    CHECK(host.datagrams.back().d.src_port == 40000);
    CHECK(host.datagrams.back().d.arrival_us / 1000000 == o.export_secs);
    std::remove(pcap.c_str());
}

namespace {

// A capture of 240 IPv4 (TCP and UDP, 24 flows) and 60 IPv6 UDP packets (6 flows).
std::vector<std::vector<std::uint8_t>> sample_frames() {
    std::vector<std::vector<std::uint8_t>> frames;
    for (int i = 0; i < 300; ++i) {
        gen::Writer f;
        f.bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
        const int flow = i % 30;
        const std::size_t payload = 10 + (i * 7) % 200;
        if (flow < 24) {
            const bool tcp = flow % 2 == 0;
            const std::size_t l4 = tcp ? 20 : 8;
            f.u16(0x0800);
            const std::size_t ip_at = f.size();
            f.u8(0x45).u8(0).u16(20 + l4 + payload).u16(i).u16(0).u8(64).u8(tcp ? 6 : 17).u16(0)
                .u32(0x0A000001 + flow).u32(0xC0A80001);
            f.patch16(ip_at + 10, gen::ip_checksum(f.data().data() + ip_at, 20));
            if (tcp) f.u16(10000 + flow).u16(80).u32(i).u32(0).u8(0x50).u8(0x18).u16(1024).u16(0).u16(0);
            else f.u16(20000 + flow).u16(53).u16(8 + payload).u16(0);
        } else {
            f.u16(0x86DD).u32(0x60000000).u16(8 + payload).u8(17).u8(64);
            const std::uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(flow)};
            const std::uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF};
            f.bytes(src, 16).bytes(dst, 16).u16(30000 + flow).u16(5353).u16(8 + payload).u16(0);
        }
        f.zeros(payload);
        frames.push_back(std::move(f.data()));
    }
    return frames;
}

} // namespace

TEST_CASE("softflowd's v5, v9 and IPFIX exports of a capture total the capture's packets") {
    if (!have("softflowd")) {
        MESSAGE("softflowd not installed: skipped");
        return;
    }
    const std::string pcap = tmp_path("softflowd_in.pcap");
    REQUIRE(gen::write_pcap_frames(pcap, sample_frames(), 1700000000).empty());
    for (const char* version : {"5", "9", "10"}) {
        CAPTURE(version);
        FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_pipe_size", "4000000"}});
        Instance inst(module(), host);
        REQUIRE_MESSAGE(inst, inst.error);
        const std::string v6 = std::string(version) == "5" ? "" : " -6";
        // "-c none": with a control socket, softflowd 1.1.0 reading a file may block in accept().
        const std::string out =
            run_cmd("timeout 20 softflowd -d -r " + pcap + " -n 127.0.0.1:" + std::to_string(port_from_logs(host)) +
                    " -v " + version + v6 + " -p " + tmp_path("softflowd.pid") + " -c none");
        CHECK(drain(inst) == FA_OK);
        const Sums s = sums(host);
        // NetFlow v5 carries IPv4 only: softflowd exports the 240 IPv4 packets there.
        CHECK_MESSAGE(s.packets == (std::string(version) == "5" ? 240u : 300u), out);
        CHECK(host.counter("no_template{exporter=127.0.0.1}") == 0);
        CHECK(host.counter("bad_set_len{exporter=127.0.0.1}") == 0);
    }
    std::remove(pcap.c_str());
}

TEST_CASE("softflowd's flow times in every IPFIX time format decode to the capture's times") {
    if (!have("softflowd")) {
        MESSAGE("softflowd not installed: skipped");
        return;
    }
    // Captured "now", so that the times are neither stale nor in the future.
    const std::uint32_t start_s = static_cast<std::uint32_t>(std::time(nullptr)) - 10;
    const std::string pcap = tmp_path("softflowd_times.pcap");
    REQUIRE(gen::write_pcap_frames(pcap, sample_frames(), start_s).empty());
    for (const char* a : {"-v 5", "-v 9", "-v 10 -A sec", "-v 10 -A milli", "-v 10 -A micro", "-v 10 -A nano"}) {
        const std::string args = a;
        CAPTURE(args);
        FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}});
        Instance inst(module(), host);
        REQUIRE_MESSAGE(inst, inst.error);
        const std::string out = run_cmd("timeout 20 softflowd -d -r " + pcap + " -n 127.0.0.1:" +
                                        std::to_string(port_from_logs(host)) + " " + args + " -c none");
        CHECK(drain(inst) == FA_OK);
        REQUIRE_MESSAGE(!host.records.empty(), out);
        const std::uint64_t first_us = std::uint64_t{start_s} * 1000000, last_us = first_us + 300 * 1000;
        // Second-resolution formats round down to the second. NetFlow v9's header carries whole seconds
        // only, while the uptimes relative to it are in milliseconds truncated twice (the header's and the
        // flow's): a v9 start may read up to 1 s + 2 ms early. A wrong time format would be off by far more.
        const std::uint64_t slack_us = 2000000;
        for (const fa_record& r : host.records) {
            CHECK(r.time_start_us + slack_us >= first_us);
            CHECK(r.time_end_us <= last_us + slack_us);
            CHECK(r.time_start_us <= r.time_end_us);
        }
        CHECK(host.counter("ts_stale{exporter=127.0.0.1}") == 0);
        CHECK(host.counter("ts_future{exporter=127.0.0.1}") == 0);
    }
    std::remove(pcap.c_str());
}

TEST_CASE("softflowd's exports of the sample capture total the packets softflowd processed") {
    const std::string pcap = std::string(FLOWACCT_TEST_SOURCE_DIR) + "/etc/samples/sample.pcap";
    if (!have("softflowd") || ::access(pcap.c_str(), R_OK) != 0) {
        MESSAGE("softflowd or etc/samples/sample.pcap missing: skipped");
        return;
    }
    for (const char* version : {"5", "9", "10"}) {
        CAPTURE(version);
        FakeHost host(Cfg{{"nfacctd_ip", "127.0.0.1"}, {"nfacctd_port", "0"}, {"nfacctd_pipe_size", "4000000"}});
        Instance inst(module(), host);
        REQUIRE_MESSAGE(inst, inst.error);
        const std::string v6 = std::string(version) == "5" ? "" : " -6";
        const std::string out = run_cmd("timeout 20 softflowd -d -r " + pcap + " -n 127.0.0.1:" +
                                        std::to_string(port_from_logs(host)) + " -v " + version + v6 + " -c none");
        const auto at = out.find("Packets processed: ");
        REQUIRE_MESSAGE(at != std::string::npos, out);
        const std::uint64_t processed = std::stoull(out.substr(at + 19));
        CHECK(drain(inst) == FA_OK);
        CHECK(processed > 100);
        CHECK_MESSAGE(sums(host).packets == processed, out);
        CHECK(host.counter("no_template{exporter=127.0.0.1}") == 0);
    }
}

TEST_CASE("pmacct nfacctd and this module count the same totals from one savefile") {
    if (!have("nfacctd")) {
        MESSAGE("nfacctd not installed: skipped");
        return;
    }
    for (int run = 0; run < 6; ++run) {
        const int version = run % 3 == 0 ? 5 : run % 3 == 1 ? 9 : 10;
        const bool renormalize = run >= 3; // 1-in-100 sampling, renormalized by both collectors
        CAPTURE(version);
        CAPTURE(renormalize);
        gen::WorkloadOptions o;
        o.version = version;
        o.records = 900;
        o.keys = 40;
        o.per_datagram = 25;
        o.sampling_rate = renormalize ? 100 : 0;
        gen::WorkloadTotals t;
        const std::string pcap = tmp_path("nfacctd_in.pcap");
        const std::string csv = tmp_path("nfacctd_out.csv");
        const std::string conf = tmp_path("nfacctd.conf");
        std::remove(csv.c_str());
        REQUIRE(gen::write_pcap(pcap, gen::make_workload(o, t), 40000, 2100, o.export_secs).empty());
        {
            std::ofstream c(conf);
            // Appended: a replay that spans two purges leaves its rows in two writes, and without
            // append the second replaced the first (a CI run lost 44 % of the packets that way).
            c << "daemonize: false\npcap_savefile: " << pcap << "\nplugins: print\nprint_output: csv\n"
              << "print_output_file: " << csv << "\nprint_output_file_append: true\n"
              << "print_refresh_time: 1\naggregate: src_host, dst_host\n"
              << "nfacctd_renormalize: " << (renormalize ? "true" : "false") << "\n"
              // Room for the whole replay in nfacctd's core-to-plugin queue: on a busy machine
              // its default queue drops data ("missing data detected").
              << "plugin_pipe_size: 67108864\nplugin_buffer_size: 65536\n";
        }
        const std::string log = run_cmd("timeout 30 nfacctd -f " + conf);
        std::ifstream in(csv);
        std::string line;
        std::getline(in, line); // header
        const std::string header = line;
        std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> theirs;
        while (std::getline(in, line)) {
            if (line == header) continue; // a later purge's
            std::istringstream cols(line);
            std::string src, dst, packets, bytes;
            std::getline(cols, src, ',');
            std::getline(cols, dst, ',');
            std::getline(cols, packets, ',');
            std::getline(cols, bytes, ',');
            auto& e = theirs[src + " " + dst];
            e.first += std::stoull(packets);
            e.second += std::stoull(bytes);
        }
        REQUIRE_MESSAGE(!theirs.empty(), log);

        FakeHost host(Cfg{{"pcap_savefile", pcap}, {"nfacctd_renormalize", renormalize ? "true" : "false"}});
        Instance inst(module(), host);
        REQUIRE_MESSAGE(inst, inst.error);
        REQUIRE(ops(inst)->run(inst.get()) == FA_EOF);
        std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> ours;
        for (const fa_record& r : host.records) {
            auto& e = ours[flowacct::netflow::address_text(r.src_ip) + " " + flowacct::netflow::address_text(r.dst_ip)];
            e.first += r.packets;
            e.second += r.bytes;
        }
        CHECK_MESSAGE(ours.size() == theirs.size(), log);
        CHECK_MESSAGE(ours == theirs, log);
        std::uint64_t packets = 0;
        for (const auto& [k, v] : theirs) packets += v.first;
        CHECK(packets == t.packets * (renormalize ? 100 : 1));
        if (renormalize)
            for (const fa_record& r : host.records) REQUIRE(r.sampling_rate == 1);
        std::remove(pcap.c_str());
        std::remove(csv.c_str());
        std::remove(conf.c_str());
    }
}

TEST_CASE("tshark decodes the generator's v5, v9 and IPFIX savefiles with no malformed packet") {
    if (!have("tshark")) {
        MESSAGE("tshark not installed: skipped");
        return;
    }
    for (int version : {5, 9, 10}) {
        CAPTURE(version);
        gen::WorkloadOptions o;
        o.version = version;
        o.records = 400;
        o.per_datagram = 30;
        gen::WorkloadTotals t;
        const std::string pcap = tmp_path("tshark.pcap");
        REQUIRE(gen::write_pcap(pcap, gen::make_workload(o, t), 40000, 2100, o.export_secs).empty());
        const std::string base = "tshark -n -r " + pcap + " -d udp.port==2100,cflow ";
        const std::string malformed = run_cmd(base + "-Y '_ws.malformed || _ws.expert.severity >= error' -T fields -e frame.number 2>/dev/null");
        CHECK_MESSAGE(malformed.find_first_of("0123456789") == std::string::npos, malformed);
        const std::string packets = run_cmd(base + "-T fields -e cflow.packets 2>/dev/null");
        std::uint64_t total = 0, records = 0;
        std::string item;
        for (char ch : packets + "\n") {
            if (ch == ',' || ch == '\n') {
                if (!item.empty() && item.find_first_not_of("0123456789") == std::string::npos) {
                    total += std::stoull(item);
                    ++records;
                }
                item.clear();
            } else {
                item += ch;
            }
        }
        CHECK(records == t.records);
        CHECK(total == t.packets);
        std::remove(pcap.c_str());
    }
}
