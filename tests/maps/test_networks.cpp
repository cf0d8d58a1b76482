// SPDX-License-Identifier: GPL-2.0-or-later
// networks_file parsing and the "networks" stage, driven through its C descriptor.
#include <doctest/doctest.h>  // TEST_CASE, CHECK

#include <string>             // std::string

#include "fake_host.hpp"      // test::FakeHost, test::Instance, test::load_module
#include "maps_test_util.hpp" // maps_test::TempFile, flow, addr
#include "networks_map.hpp"   // networks::NetworksMap

using namespace flowacct;
using maps_test::addr;
using maps_test::flow;
using maps_test::TempFile;

namespace {

const char* kExample = R"(!
! comments and blank lines are ignored
192.168.95.0/24

65500,192.168.1.0/24
64512_65501,192.168.2.0/25
10.0.0.3,65502,192.168.4.0/23
0.0.0.0/0
65010,10.0.0.0/8
65011,10.1.0.0/16
65012,10.1.2.0/24
   65020,2001:db8::/32  
65021,2001:db8:1::/48
65022,2001:db8:1:2::/64
3,::/0
)";

struct Stage {
    test::FakeHost host;
    const fa_module_descriptor* d = test::load_module("classifier_networks.so");
    std::unique_ptr<test::Instance> inst;
    explicit Stage(const std::map<std::string, std::string>& cfg) : host(std::move(cfg)) {
        REQUIRE(d != nullptr);
        inst = std::make_unique<test::Instance>(d, host);
    }
    void run(fa_record& r) { inst->ops<fa_classifier_ops>()->process(inst->get(), &r, 1, nullptr); }
    fa_status reload() { return inst->ops<fa_classifier_ops>()->reload(inst->get()); }
};

} // namespace

TEST_CASE("networks_file parser reads every pmacct form, IPv4 and IPv6, overlapping and defaults") {
    auto map = networks::NetworksMap::parse(kExample, "ex.lst");
    CHECK(map.v4_networks() == 8);
    CHECK(map.v6_networks() == 4);
    std::uint8_t a[16];
    auto at = [&](const char* ip) {
        REQUIRE(sdk::parse_addr(ip, a));
        return map.lookup(a);
    };
    CHECK(at("192.168.1.9")->asn == 65500);
    CHECK(at("192.168.2.9")->peer_as == 64512);
    CHECK(at("192.168.2.9")->asn == 65501);
    CHECK(at("192.168.2.200")->len == 0); // only the default route covers it
    CHECK(at("192.168.5.1")->has_nexthop);
    CHECK(addr(at("192.168.5.1")->nexthop) == "10.0.0.3");
    CHECK(at("10.1.2.3")->asn == 65012);
    CHECK(at("10.1.3.3")->asn == 65011);
    CHECK(at("10.2.3.3")->asn == 65010);
    CHECK(at("10.2.3.3")->len == 8);
    CHECK(at("2001:db8:1:2::1")->asn == 65022);
    CHECK(at("2001:db8:1:3::1")->asn == 65021);
    CHECK(at("2001:db8:2::1")->asn == 65020);
    CHECK(at("2001:db9::1")->asn == 3);
    CHECK(at("8.8.8.8")->asn == 0);
}

TEST_CASE("networks_file parser names the file and line of a bad entry") {
    CHECK_THROWS_WITH(networks::NetworksMap::parse("10.0.0.0/8\n! ok\n10.0.0.0/33\n", "n.lst"),
                      doctest::Contains("n.lst:3: expected a network"));
    CHECK_THROWS_WITH(networks::NetworksMap::parse("abc,10.0.0.0/8\n", "n.lst"),
                      doctest::Contains("n.lst:1: expected an AS number"));
    CHECK_THROWS_WITH(networks::NetworksMap::parse("1.2.3.4.5,1,10.0.0.0/8\n", "n.lst"),
                      doctest::Contains("n.lst:1: expected a next-hop"));
    CHECK_THROWS_WITH(networks::NetworksMap::parse("1,2,3,10.0.0.0/8\n", "n.lst"),
                      doctest::Contains("more than 3 fields"));
    CHECK_THROWS_WITH(networks::NetworksMap::parse("99999999999,10.0.0.0/8\n", "n.lst"),
                      doctest::Contains("n.lst:1"));
}

TEST_CASE("networks_file with thousands of lines resolves each network") {
    std::string text;
    for (int i = 0; i < 5000; ++i)
        text += std::to_string(1000 + i) + ",10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\n";
    for (int i = 0; i < 3000; ++i) text += std::to_string(9000 + i) + ",2001:db8:" + std::to_string(i) + "::/48\n";
    auto map = networks::NetworksMap::parse(text, "big");
    std::uint8_t a[16];
    for (int i = 0; i < 5000; i += 97) {
        sdk::parse_addr("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".77", a);
        REQUIRE(map.lookup(a) != nullptr);
        CHECK(map.lookup(a)->asn == static_cast<std::uint32_t>(1000 + i));
    }
    sdk::parse_addr("2001:db8:2999::5", a);
    CHECK(map.lookup(a)->asn == 9000 + 2999); // the line written as "2001:db8:2999::/48"
}

TEST_CASE("networks stage fills masks and ASes of pcap records from the file") {
    TempFile f(kExample);
    Stage s({{"networks_file", f.path()}});
    REQUIRE(s.inst->error == "");
    fa_record r = flow("10.1.2.3", "192.168.2.5");
    s.run(r);
    CHECK(r.src_as == 65012);
    CHECK(r.src_mask == 24);
    CHECK(r.dst_as == 65501);
    CHECK(r.dst_mask == 25);
    CHECK(r.peer_dst_as == 64512);
    fa_record v6 = flow("2001:db8:1:2::9", "2001:db9::1");
    s.run(v6);
    CHECK(v6.src_as == 65022);
    CHECK(v6.src_mask == 64);
    CHECK(v6.dst_as == 3);
    CHECK(v6.dst_mask == 0); // ::/0
    fa_record nh = flow("8.8.8.8", "192.168.4.1");
    s.run(nh);
    CHECK(addr(nh.nexthop) == "10.0.0.3");
    CHECK(s.host.counter("networks_lookups") == 6);
}

TEST_CASE("nfacctd_as and nfacctd_net choose between the protocol and the file") {
    TempFile f("65010,10.0.0.0/8\n65012,10.1.2.0/24\n");
    auto netflow_record = [] {
        fa_record r = flow("10.1.2.3", "10.9.9.9");
        r.peer_src_ip[10] = r.peer_src_ip[11] = 0xff;
        r.peer_src_ip[15] = 1;
        r.src_as = 100;
        r.src_mask = 16;
        r.dst_as = 0;
        r.dst_mask = 0;
        return r;
    };
    SUBCASE("netflow keeps the protocol's values") {
        Stage s({{"networks_file", f.path()}, {"nfacctd_as", "netflow"}, {"nfacctd_net", "netflow"}});
        fa_record r = netflow_record();
        s.run(r);
        CHECK(r.src_as == 100);
        CHECK(r.src_mask == 16);
        CHECK(r.dst_as == 0);
    }
    SUBCASE("file overrides the protocol") {
        Stage s({{"networks_file", f.path()}, {"sfacctd_as", "file"}, {"sfacctd_net", "file"}});
        fa_record r = netflow_record();
        s.run(r);
        CHECK(r.src_as == 65012);
        CHECK(r.src_mask == 24);
        CHECK(r.dst_as == 65010);
        CHECK(r.dst_mask == 8);
    }
    SUBCASE("longest takes the file only where its prefix is longer") {
        Stage s({{"networks_file", f.path()}, {"nfacctd_as", "longest"}, {"nfacctd_net", "longest"}});
        fa_record r = netflow_record();
        r.src_mask = 28; // the protocol's /28 beats the file's /24
        s.run(r);
        CHECK(r.src_as == 100);
        CHECK(r.src_mask == 28);
        CHECK(r.dst_as == 65010);
        CHECK(r.dst_mask == 8);
    }
    SUBCASE("longest with networks_file_no_lpm lets a matching file network win") {
        Stage s({{"networks_file", f.path()}, {"nfacctd_as", "longest"}, {"nfacctd_net", "longest"},
                 {"networks_file_no_lpm", "true"}});
        fa_record r = netflow_record();
        r.src_mask = 28;
        s.run(r);
        CHECK(r.src_as == 65012);
        CHECK(r.src_mask == 24);
    }
    SUBCASE("unset: the file fills only what the protocol left empty") {
        Stage s({{"networks_file", f.path()}});
        fa_record r = netflow_record();
        s.run(r);
        CHECK(r.src_as == 100);
        CHECK(r.src_mask == 16);
        CHECK(r.dst_as == 65010);
        CHECK(r.dst_mask == 8);
    }
    SUBCASE("a routing-daemon source is refused by name") {
        Stage s({{"networks_file", f.path()}, {"nfacctd_as", "bgp"}});
        CHECK(s.inst->error.find("nfacctd_as") == 0);
    }
}

TEST_CASE("networks_file_filter zeroes hosts outside the file; networks_mask and no_mask_if_zero shape masks") {
    TempFile f("65010,10.0.0.0/8\n");
    SUBCASE("filter") {
        Stage s({{"networks_file", f.path()}, {"networks_file_filter", "true"}});
        fa_record r = flow("10.1.2.3", "8.8.8.8");
        s.run(r);
        CHECK(addr(r.src_ip) == "10.1.2.3");
        CHECK(addr(r.dst_ip) == "0.0.0.0");
        CHECK(r.dst_mask == 0);
        CHECK(s.host.counter("networks_unmatched") == 1);
    }
    SUBCASE("networks_mask alone") {
        Stage s(std::map<std::string, std::string>{{"networks_mask", "16"}});
        fa_record r = flow("10.1.2.3", "8.8.8.8");
        s.run(r);
        CHECK(r.src_mask == 16);
        CHECK(r.dst_mask == 16);
    }
    SUBCASE("networks_mask applies before the file lookup (pmacct's intersection)") {
        TempFile g("65010,10.0.0.0/8\n65011,10.1.2.0/24\n");
        Stage s({{"networks_file", g.path()}, {"networks_mask", "16"}});
        fa_record r = flow("10.1.2.3", "8.8.8.8");
        s.run(r);
        CHECK(r.src_mask == 8); // 10.1.0.0 is looked up: the /24 does not cover it
        CHECK(r.src_as == 65010);
        CHECK(r.dst_mask == 0);
    }
    SUBCASE("networks_no_mask_if_zero keeps unknown hosts whole") {
        Stage s({{"networks_file", f.path()}, {"networks_no_mask_if_zero", "true"}});
        fa_record r = flow("2001:db8::1", "2001:db8::2");
        s.run(r);
        CHECK(r.src_mask == 128);
    }
}

TEST_CASE("networks stage reload: a good file replaces the map, a broken one keeps the old map") {
    TempFile f("65010,10.0.0.0/8\n");
    Stage s({{"networks_file", f.path()}});
    fa_record r = flow("10.1.2.3", "8.8.8.8");
    s.run(r);
    CHECK(r.src_as == 65010);
    f.write("65099,10.0.0.0/8\n");
    CHECK(s.reload() == FA_OK);
    r = flow("10.1.2.3", "8.8.8.8");
    s.run(r);
    CHECK(r.src_as == 65099);
    f.write("65099,10.0.0.0/8\n65100,not-a-network\n");
    CHECK(s.reload() == FA_ERROR);
    bool named = false;
    for (const auto& l : s.host.logs) named = named || l.find(f.path() + ":2:") != std::string::npos;
    CHECK(named);
    r = flow("10.1.2.3", "8.8.8.8");
    s.run(r);
    CHECK(r.src_as == 65099);
    CHECK(s.host.counter("networks_reload_errors") == 1);
}

TEST_CASE("networks stage refuses a broken file at start naming file and line") {
    TempFile f("65010,10.0.0.0/8\nbogus line\n");
    Stage s({{"networks_file", f.path()}});
    CHECK_FALSE(*s.inst);
    CHECK(s.inst->error.find(f.path() + ":2:") != std::string::npos);
}

TEST_CASE("the shipped sample networks files parse") {
    const std::string etc = std::string(FLOWACCT_TEST_SOURCE_DIR) + "/etc/";
    CHECK(networks::NetworksMap::load(etc + "maps/networks.lst.example").v6_networks() == 2);
    CHECK(networks::NetworksMap::load(etc + "examples/ixp-peering/networks.lst").v4_networks() == 4);
}
