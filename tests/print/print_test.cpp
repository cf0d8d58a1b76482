// SPDX-License-Identifier: GPL-2.0-or-later
// The print output writes exactly what pmacct's print plugin writes for the same rows. The
// expected lines were produced by pmacct 1.7.7's pmacctd (Debian) on the same traffic.
#include <doctest/doctest.h>

#include <cstdlib>     // mkdtemp
#include <cstring>     // std::memset
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ifstream
#include <sstream>     // std::stringstream

#include <flowacct/sdk/primitives.hpp> // sdk::parse_addr

#include "fake_host.hpp" // FakeHost, Instance, load_module

using namespace flowacct;
using Config = std::map<std::string, std::string>;

namespace {

const fa_module_descriptor* print_module() {
    static const fa_module_descriptor* d = test::load_module("output_print.so");
    REQUIRE(d != nullptr);
    return d;
}

std::string tmpdir() {
    char t[] = "/tmp/flowacct-print-XXXXXX";
    return mkdtemp(t);
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

fa_row base_row() {
    fa_row r;
    std::memset(&r, 0, sizeof r);
    sdk::parse_addr("10.0.0.1", r.rec.src_ip);
    sdk::parse_addr("192.168.1.1", r.rec.dst_ip);
    r.rec.ip_version = 4;
    r.rec.src_port = 1000;
    r.rec.dst_port = 53;
    r.rec.proto = 17;
    r.rec.packets = 9;
    r.rec.bytes = 558;
    return r;
}

std::string write_rows(Config config, const fa_row& row, std::uint64_t primitives, std::uint32_t history_s = 0) {
    std::string dir = tmpdir();
    config["print_output_file"] = dir + "/out.txt";
    test::FakeHost host(config);
    test::Instance inst(print_module(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    const auto* ops = inst.ops<fa_output_ops>();
    fa_row_batch b{&row, 1, history_s, primitives};
    REQUIRE(ops->write(inst.get(), &b) == FA_OK);
    REQUIRE(ops->tick(inst.get(), 0) == FA_OK);
    std::string out = slurp(dir + "/out.txt");
    std::filesystem::remove_all(dir);
    return out;
}

std::uint64_t bits(std::initializer_list<fa_primitive> ps) {
    std::uint64_t m = 0;
    for (auto p : ps) m |= 1ull << p;
    return m;
}

} // namespace

TEST_CASE("formatted output matches pmacct's print plugin for a 5-tuple") {
    std::string out = write_rows({}, base_row(), bits({FA_P_SRC_HOST, FA_P_DST_HOST, FA_P_SRC_PORT, FA_P_DST_PORT, FA_P_PROTO}));
    CHECK(out == "SRC_IP                                         DST_IP                                         SRC_PORT  DST_PORT  PROTOCOL    PACKETS               BYTES\n10.0.0.1                                       192.168.1.1                                    1000      53        udp         9                     558\n");
}

TEST_CASE("formatted output matches pmacct's column order and widths for many primitives") {
    fa_row r = base_row();
    r.rec.src_mac[0] = 0x66; r.rec.src_mac[1] = 0x77; r.rec.src_mac[2] = 0x88;
    r.rec.src_mac[3] = 0x99; r.rec.src_mac[4] = 0xaa; r.rec.src_mac[5] = 0xbb;
    r.rec.dst_mac[0] = 0x00; r.rec.dst_mac[1] = 0x11; r.rec.dst_mac[2] = 0x22;
    r.rec.dst_mac[3] = 0x33; r.rec.dst_mac[4] = 0x44; r.rec.dst_mac[5] = 0x55;
    r.rec.src_as = 65000;
    r.rec.dst_as = 65001;
    sdk::parse_addr("192.168.0.0", r.rec.dst_net);
    r.rec.src_mask = 8;
    r.rec.sampling_rate = 1;
    r.rec.packets = 15;
    r.rec.flows = 2;
    r.rec.bytes = 885;
    std::string out = write_rows({}, r, bits({FA_P_TAG, FA_P_TAG2, FA_P_SRC_MAC, FA_P_DST_MAC, FA_P_VLAN, FA_P_SRC_AS,
                                              FA_P_DST_AS, FA_P_PEER_SRC_IP, FA_P_IN_IFACE, FA_P_OUT_IFACE, FA_P_SRC_HOST,
                                              FA_P_DST_NET, FA_P_SRC_MASK, FA_P_TCPFLAGS, FA_P_PROTO, FA_P_TOS,
                                              FA_P_SAMPLING_RATE, FA_P_FLOWS}));
    CHECK(out == "TAG         TAG2        SRC_MAC            DST_MAC            VLAN   SRC_AS      DST_AS      PEER_SRC_IP                                    IN_IFACE    OUT_IFACE   SRC_IP                                         DST_NET                                        SRC_MASK  TCP_FLAGS  PROTOCOL    TOS    SAMPLING_RATE PACKETS               FLOWS                 BYTES\n0           0           66:77:88:99:aa:bb  00:11:22:33:44:55  0      65000       65001       ::                                             0           0           10.0.0.1                                       192.168.0.0                                    8         0          udp         0      1             15                    2                     885\n");
}

TEST_CASE("csv output matches pmacct's") {
    fa_row r = base_row();
    r.rec.ether_type = 0x800;
    sdk::parse_addr("10.0.0.0", r.rec.src_net);
    r.rec.dst_mask = 16;
    r.rec.flows = 1;
    std::string out = write_rows({{"print_output", "csv"}}, r,
                                 bits({FA_P_ETYPE, FA_P_SRC_HOST, FA_P_SRC_NET, FA_P_DST_HOST, FA_P_DST_MASK, FA_P_SRC_PORT,
                                       FA_P_DST_PORT, FA_P_TCPFLAGS, FA_P_PROTO, FA_P_FLOWS}));
    CHECK(out == "ETYPE,SRC_IP,SRC_NET,DST_IP,DST_MASK,SRC_PORT,DST_PORT,TCP_FLAGS,PROTOCOL,PACKETS,FLOWS,BYTES\n"
                 "800,10.0.0.1,10.0.0.0,192.168.1.1,16,1000,53,0,udp,9,1,558\n");
}

TEST_CASE("json output uses pmacct's keys, with stamps when history is on") {
    fa_row r = base_row();
    r.rec.src_mac[0] = 0x66; r.rec.src_mac[1] = 0x77; r.rec.src_mac[2] = 0x88;
    r.rec.src_mac[3] = 0x99; r.rec.src_mac[4] = 0xaa; r.rec.src_mac[5] = 0xbb;
    r.rec.src_as = 65000;
    r.rec.flows = 2;
    r.rec.packets = 17;
    r.rec.bytes = 1054;
    r.stamp_inserted_us = 1'699'999'800ull * 1'000'000;
    r.stamp_updated_us = 1'700'000'100ull * 1'000'000;
    setenv("TZ", "UTC", 1);
    tzset();
    std::string out = write_rows({{"print_output", "json"}}, r,
                                 bits({FA_P_TAG, FA_P_SRC_MAC, FA_P_VLAN, FA_P_SRC_AS, FA_P_SRC_HOST, FA_P_DST_PORT,
                                       FA_P_TCPFLAGS, FA_P_FLOWS}),
                                 300);
    CHECK(out == "{\"event_type\": \"purge\", \"tag\": 0, \"mac_src\": \"66:77:88:99:aa:bb\", \"vlan\": 0, \"as_src\": 65000, "
                 "\"ip_src\": \"10.0.0.1\", \"port_dst\": 53, \"tcp_flags\": \"0\", \"stamp_inserted\": \"2023-11-14 22:10:00\", "
                 "\"stamp_updated\": \"2023-11-14 22:15:00\", \"flows\": 2, \"packets\": 17, \"bytes\": 1054}\n");
}

TEST_CASE("strftime variables in print_output_file name the file after the bin") {
    std::string dir = tmpdir();
    setenv("TZ", "UTC", 1);
    tzset();
    test::FakeHost host(Config{{"print_output_file", dir + "/%Y%m%d-%H%M.txt"}});
    test::Instance inst(print_module(), host);
    REQUIRE(inst);
    fa_row r = base_row();
    r.stamp_inserted_us = 1'699'999'800ull * 1'000'000;
    fa_row_batch b{&r, 1, 300, bits({FA_P_SRC_HOST})};
    inst.ops<fa_output_ops>()->write(inst.get(), &b);
    inst.ops<fa_output_ops>()->flush(inst.get());
    CHECK(std::filesystem::exists(dir + "/20231114-2210.txt"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("bad print settings are refused with the key named") {
    test::FakeHost a(Config{{"print_output", "xml"}});
    test::Instance ia(print_module(), a);
    CHECK(ia.error.find("print_output: expected formatted, csv or json") != std::string::npos);
    test::FakeHost b(Config{{"print_output", "avro"}});
    test::Instance ib(print_module(), b);
    CHECK(ib.error.find("does not support yet") != std::string::npos);
}

TEST_CASE("addresses and MACs print as inet_ntop and pmacct print them") {
    // Every zero-run shape of IPv6 (each group zero or not: 256 patterns, times the IPv4-compatible
    // and -mapped forms), then random addresses, each against glibc's inet_ntop.
    std::uint64_t seed = 0x9E3779B97F4A7C15ull;
    auto next = [&] {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed;
    };
    auto check = [](const std::uint8_t* a) {
        char want[INET6_ADDRSTRLEN];
        if (sdk::is_v4_mapped(a)) inet_ntop(AF_INET, a + 12, want, sizeof want);
        else inet_ntop(AF_INET6, a, want, sizeof want);
        CHECK(sdk::addr_to_string(a, true) == std::string(want));
    };
    for (unsigned pattern = 0; pattern < 256; ++pattern) {
        for (int variant = 0; variant < 3; ++variant) {
            std::uint8_t a[16] = {};
            for (int g = 0; g < 8; ++g)
                if (pattern & (1u << g)) {
                    std::uint64_t r = next();
                    a[2 * g] = static_cast<std::uint8_t>(variant == 2 ? 0 : r >> 8);
                    a[2 * g + 1] = static_cast<std::uint8_t>(r | 1);
                }
            if (variant == 1) { // ::ffff:x:y and ::x:y shapes
                std::memset(a, 0, 10);
                a[10] = a[11] = (pattern & 1) ? 0xff : 0;
            }
            check(a);
        }
    }
    for (int i = 0; i < 20000; ++i) {
        std::uint8_t a[16];
        for (int j = 0; j < 16; j += 8) {
            std::uint64_t r = next();
            std::memcpy(a + j, &r, 8);
        }
        check(a);
        std::uint8_t m[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        std::memcpy(m + 12, a, 4);
        if (i % 4 == 0) m[12 + i % 3] = 0; // octets of one and two digits too
        check(m);
    }
    std::uint8_t zero[16] = {};
    CHECK(sdk::addr_to_string(zero) == "0.0.0.0");
    CHECK(sdk::addr_to_string(zero, true) == "::");
    const std::uint8_t mac[6] = {0x00, 0x1b, 0xa0, 0xff, 0x0c, 0x7e};
    CHECK(sdk::mac_to_string(mac) == "00:1b:a0:ff:0c:7e");
}
