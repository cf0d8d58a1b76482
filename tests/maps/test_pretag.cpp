// SPDX-License-Identifier: GPL-2.0-or-later
// pre_tag_map: every key, negation, flow control (jeq, stack, label), filters, the index, and
// the "pretag" stage with pre_tag_filter / pre_tag2_filter / pre_tag_label_filter.
#include <doctest/doctest.h>  // TEST_CASE, CHECK

#include <random>             // std::mt19937
#include <string>             // std::string
#include <vector>             // std::vector

#include "fake_host.hpp"      // test::FakeHost, test::Instance, test::load_module
#include "maps_test_util.hpp" // maps_test::TempFile, flow
#include "pretag_map.hpp"     // pretag::PretagMap, TagFilter, LabelFilter

using namespace flowacct;
using maps_test::flow;

namespace {

struct Labels {
    std::vector<std::string> names;
    std::uint32_t operator()(std::string_view s) {
        for (std::size_t i = 0; i < names.size(); ++i)
            if (names[i] == s) return static_cast<std::uint32_t>(i + 1);
        names.emplace_back(s);
        return static_cast<std::uint32_t>(names.size());
    }
};

std::shared_ptr<pretag::PretagMap> parse(const std::string& text, Labels& labels) {
    return pretag::PretagMap::parse(text, "t.map", [&](std::string_view s) { return labels(s); });
}

std::uint64_t tag_of(pretag::PretagMap& m, const fa_record& r) {
    pretag::Result res;
    m.evaluate(r, res);
    return res.tag;
}

fa_record exported(const std::string& exporter) {
    fa_record r = flow("10.0.0.1", "192.168.1.1");
    sdk::parse_addr(exporter, r.peer_src_ip);
    return r;
}

} // namespace

TEST_CASE("pre_tag_map matches every key, and a negative value negates it") {
    Labels l;
    auto m = parse(R"(set_tag=1 ip=192.0.2.1
set_tag=2 ip=198.51.100.0/24 in=4
set_tag=3 out=7
set_tag=4 src_as=65001
set_tag=5 dst_as=65002
set_tag=6 vlan=10
set_tag=7 nexthop=203.0.113.1
set_tag=8 engine_id=3
set_tag=9 sampling_rate=1000
set_tag=10 src_mac=00:11:22:33:44:55
set_tag=11 dst_mac=00:11:22:33:44:66
set_tag=12 src_net=172.16.0.0/12
set_tag=13 dst_net=2001:db8::/32
set_tag=14 peer_src_as=64500
set_tag=15 peer_dst_as=64501
set_tag=16 source_id=9
set_tag=17 in=-5 ip=192.0.2.99
set_tag=18 filter='tcp and dst port 443'
set_tag=99 ip=0.0.0.0/0
)", l);
    CHECK(m->rules() == 19);
    fa_record r = exported("192.0.2.1");
    CHECK(tag_of(*m, r) == 1);
    r = exported("198.51.100.7");
    CHECK(tag_of(*m, r) == 99);
    r.in_iface = 4;
    CHECK(tag_of(*m, r) == 2);
    auto expect = [&](std::uint64_t tag, auto&& change) {
        fa_record x = exported("192.0.2.200");
        change(x);
        CHECK(tag_of(*m, x) == tag);
    };
    expect(3, [](fa_record& x) { x.out_iface = 7; });
    expect(4, [](fa_record& x) { x.src_as = 65001; });
    expect(5, [](fa_record& x) { x.dst_as = 65002; });
    expect(6, [](fa_record& x) { x.vlan = 10; });
    expect(7, [](fa_record& x) { sdk::parse_addr("203.0.113.1", x.nexthop); });
    expect(8, [](fa_record& x) { x.engine_id = 3; });
    expect(9, [](fa_record& x) { x.sampling_rate = 1000; });
    expect(10, [](fa_record& x) { sdk::parse_mac("00:11:22:33:44:55", x.src_mac); });
    expect(11, [](fa_record& x) { sdk::parse_mac("00:11:22:33:44:66", x.dst_mac); });
    expect(12, [](fa_record& x) { sdk::parse_addr("172.20.1.1", x.src_ip); });
    expect(13, [](fa_record& x) {
        x = flow("2001:db9::1", "2001:db8::1");
        sdk::parse_addr("192.0.2.200", x.peer_src_ip);
    });
    expect(14, [](fa_record& x) { x.peer_src_as = 64500; });
    expect(15, [](fa_record& x) { x.peer_dst_as = 64501; });
    expect(16, [](fa_record& x) { x.engine_id = 9; });
    expect(18, [](fa_record& x) {
        x.proto = 6;
        x.dst_port = 443;
    });
    expect(99, [](fa_record& x) {
        x.proto = 17;
        x.dst_port = 443;
    });
    // in=-5: any input interface but 5.
    fa_record n = exported("192.0.2.99");
    n.in_iface = 6;
    CHECK(tag_of(*m, n) == 17);
    n.in_iface = 5;
    CHECK(tag_of(*m, n) == 99);
    // IPv6 exporter: 0.0.0.0/0 does not cover it.
    fa_record v6 = exported("2001:db8::1");
    pretag::Result res;
    m->evaluate(v6, res);
    CHECK_FALSE(res.matched);
}

TEST_CASE("pre_tag_map: first full match wins; jeq, label and stack as pmacct's examples") {
    Labels l;
    SUBCASE("jeq example 1: tag from the input interface, tag2 from the output interface") {
        auto m = parse(R"(set_tag=1000 ip=192.168.1.1 in=1 jeq=eval_out
set_tag=1001 ip=192.168.1.1 in=2 jeq=eval_out
set_tag2=1000 ip=192.168.1.1 out=1 label=eval_out
set_tag2=1001 ip=192.168.1.1 out=2
set_tag2=1002 ip=192.168.1.1 out=3
)", l);
        fa_record r = exported("192.168.1.1");
        r.in_iface = 2;
        r.out_iface = 3;
        pretag::Result res;
        m->evaluate(r, res);
        CHECK(res.tag == 1001);
        CHECK(res.tag2 == 1002);
        r.in_iface = 9; // no input rule matches: the first full match is an output rule, no jump
        m->evaluate(r, res);
        CHECK(res.tag == 0);
        CHECK(res.tag2 == 1002);
    }
    SUBCASE("jeq example 2: stack=sum builds hierarchical tags") {
        auto m = parse(R"(set_tag=11000 ip=192.168.1.1 in=1 jeq=eval_out
set_tag=12000 ip=192.168.1.1 in=2 jeq=eval_out
set_tag=100 ip=192.168.1.1 out=1 label=eval_out stack=sum
set_tag=101 ip=192.168.1.1 out=2 stack=sum
)", l);
        fa_record r = exported("192.168.1.1");
        r.in_iface = 2;
        r.out_iface = 2;
        CHECK(tag_of(*m, r) == 12101);
    }
    SUBCASE("stack=or, jeq=next and labels joined with commas") {
        auto m = parse(R"(set_tag=1 set_label=blabla jeq=next
set_tag=4 stack=or set_label=blabla2 label=second jeq=third
set_tag=64 stack=or
set_tag2=5 label=third
set_tag2=6
)", l);
        pretag::Result res;
        m->evaluate(exported("10.9.9.9"), res);
        CHECK(res.tag == 5);
        CHECK(res.tag2 == 5);
        REQUIRE(res.label_count == 2);
        CHECK(l.names[res.labels[0] - 1] == "blabla");
        CHECK(l.names[res.labels[1] - 1] == "blabla2");
    }
    SUBCASE("N++ gives each match the next tag") {
        auto m = parse("set_tag=10++ ip=0.0.0.0/0\n", l);
        fa_record r = exported("10.0.0.9");
        CHECK(tag_of(*m, r) == 10);
        CHECK(tag_of(*m, r) == 11);
        CHECK(tag_of(*m, r) == 12);
    }
    SUBCASE("set_tos rewrites the TOS") {
        auto m = parse("set_tos=46 in=3\n", l);
        fa_record r = exported("10.0.0.9");
        r.in_iface = 3;
        pretag::Result res;
        m->evaluate(r, res);
        CHECK(res.tos_set);
        CHECK(res.tos == 46);
    }
}

TEST_CASE("pre_tag_map filter sees MACs, VLAN, addresses, protocol, ports and TCP flags") {
    Labels l;
    auto m = parse(R"(set_tag=1 filter='ether src 00:11:22:33:44:55'
set_tag=2 filter='vlan 20 and src net 10.0.0.0/8'
set_tag=3 filter='ip6 and udp port 53'
set_tag=4 filter='tcp[tcpflags] & tcp-syn != 0'
set_tag=5 filter='((ip[12:4] >= 0xC0A80001) and (ip[12:4] <= 0xC0A80064))'
set_tag=6 filter='tcp dst port 80'
)", l);
    fa_record r = flow("10.1.1.1", "10.2.2.2");
    sdk::parse_mac("00:11:22:33:44:55", r.src_mac);
    CHECK(tag_of(*m, r) == 1);
    r = flow("10.1.1.1", "10.2.2.2");
    r.vlan = 20;
    CHECK(tag_of(*m, r) == 2);
    r = flow("2001:db8::1", "2001:db8::2");
    r.proto = 17;
    r.src_port = 53;
    CHECK(tag_of(*m, r) == 3);
    r = flow("10.1.1.1", "10.2.2.2");
    r.proto = 6;
    r.tcp_flags = 0x02;
    CHECK(tag_of(*m, r) == 4);
    r = flow("192.168.0.50", "10.2.2.2");
    CHECK(tag_of(*m, r) == 5);
    r = flow("172.16.0.1", "10.2.2.2");
    r.proto = 6;
    r.dst_port = 80;
    CHECK(tag_of(*m, r) == 6);
    r.flags |= FA_REC_FRAGMENT; // a later fragment carries no ports
    CHECK(tag_of(*m, r) == 0);
}

TEST_CASE("pre_tag_map errors name the file, the line and what was expected") {
    Labels l;
    auto err = [&](const std::string& text) -> std::string {
        try {
            parse(text, l);
        } catch (const std::exception& e) {
            return e.what();
        }
        return "no error";
    };
    CHECK(err("set_tag=1 ip=10.0.0.1\nset_tag=2 bogus=3\n").find("t.map:2: unknown or unsupported key 'bogus'") == 0);
    CHECK(err("set_tag=0\n").find("t.map:1: set_tag: expected a tag") == 0);
    CHECK(err("set_tag=1 ip=-10.0.0.1\n").find("t.map:1: ip: expected") == 0);
    CHECK(err("set_tag=1 jeq=nowhere\n").find("t.map:1: jeq=nowhere: no later rule") == 0);
    CHECK(err("set_tag=1 label=back\nset_tag=2 jeq=back\n").find("t.map:2: jeq=back") == 0);
    CHECK(err("set_tag=1 filter='tcp and ((('\n").find("t.map:1: filter") == 0);
    CHECK(err("set_tag=1 filter='tcp\n").find("t.map:1: unterminated quote") == 0);
    CHECK(err("set_tag=1 in=1 in=2\n").find("given twice") != std::string::npos);
    CHECK(err("set_tag=1 vlan=5000\n").find("t.map:1: vlan") == 0);
    CHECK(err("set_tag = 1\n").find("t.map:1: expected key=value") == 0);
    CHECK(err("! only comments\n\n") == "no error");
}

TEST_CASE("pre_tag_map index gives the same answers as evaluating every rule in order") {
    // Random rules over a few exporters, interfaces and VLANs, some negated or on prefixes;
    // the reference walks all rules in order with the same semantics.
    std::mt19937 rng(11);
    struct Ref {
        int exporter = -1, exporter_prefix = -1, in = -1, out = -1, vlan = -1;
        bool neg_in = false;
    };
    std::vector<Ref> refs;
    std::string text;
    for (int i = 0; i < 1500; ++i) {
        Ref f;
        text += "set_tag=" + std::to_string(i + 1);
        if (rng() % 4) {
            f.exporter = static_cast<int>(rng() % 20);
            text += " ip=10.0.0." + std::to_string(f.exporter);
        } else if (rng() % 2) {
            f.exporter_prefix = 1;
            text += " ip=10.0.0.0/28";
        }
        if (rng() % 2) {
            f.in = static_cast<int>(rng() % 8);
            f.neg_in = rng() % 8 == 0;
            text += " in=" + std::string(f.neg_in ? "-" : "") + std::to_string(f.in);
        }
        if (rng() % 3 == 0) {
            f.out = static_cast<int>(rng() % 8);
            text += " out=" + std::to_string(f.out);
        }
        if (rng() % 5 == 0) {
            f.vlan = static_cast<int>(rng() % 3);
            text += " vlan=" + std::to_string(f.vlan);
        }
        text += "\n";
        refs.push_back(f);
    }
    Labels l;
    auto m = parse(text, l);
    CHECK(m->index_groups() >= 3);
    for (int n = 0; n < 5000; ++n) {
        int e = static_cast<int>(rng() % 24), in = static_cast<int>(rng() % 9), out = static_cast<int>(rng() % 9),
            vlan = static_cast<int>(rng() % 4);
        fa_record r = exported("10.0.0." + std::to_string(e));
        r.in_iface = static_cast<std::uint32_t>(in);
        r.out_iface = static_cast<std::uint32_t>(out);
        r.vlan = static_cast<std::uint16_t>(vlan);
        std::uint64_t want = 0;
        for (std::size_t i = 0; i < refs.size(); ++i) {
            const Ref& f = refs[i];
            if (f.exporter >= 0 && f.exporter != e) continue;
            if (f.exporter_prefix >= 0 && e >= 16) continue;
            if (f.in >= 0 && ((f.in == in) == f.neg_in)) continue;
            if (f.out >= 0 && f.out != out) continue;
            if (f.vlan >= 0 && f.vlan != vlan) continue;
            want = i + 1;
            break;
        }
        REQUIRE(tag_of(*m, r) == want);
    }
}

TEST_CASE("pre_tag_map index: indexed and scanned rules compete in file order") {
    // Enough rules of each kind that they get indexes (a group needs two rules or more).
    Labels l;
    auto m = parse(R"(set_tag=1 ip=10.0.0.0/24 in=5
set_tag=2 ip=10.0.0.1 in=5
set_tag=3 ip=10.0.0.2 in=5
set_tag=4 in=6
set_tag=5 in=7
set_tag=6 ip=10.0.0.3 in=6
set_tag=7 ip=10.0.0.3 out=9 jeq=tail
set_tag=8 ip=10.0.0.4 out=9
set_tag=9 vlan=-3
set_tag2=10 vlan=3 label=tail
set_tag2=11 vlan=4
set_tag=12 ip=10.0.0.5 in=6
set_tag=13 ip=10.0.0.6 in=6
set_tag=99
)", l);
    REQUIRE(m->index_groups() >= 3);
    auto tags = [&](const std::string& exporter, std::uint32_t in, std::uint32_t out, std::uint16_t vlan) {
        fa_record r = exported(exporter);
        r.in_iface = in;
        r.out_iface = out;
        r.vlan = vlan;
        pretag::Result res;
        m->evaluate(r, res);
        return std::to_string(res.tag) + "/" + std::to_string(res.tag2);
    };
    CHECK(tags("10.0.0.1", 5, 0, 3) == "1/0");   // a prefix rule (in's group) before an ip+in rule
    CHECK(tags("10.0.1.1", 5, 0, 3) == "0/10");  // ip+in rules for other exporters do not match
    CHECK(tags("10.0.0.3", 6, 9, 3) == "4/0");   // in=6 (one group) before ip+in (another)
    CHECK(tags("10.0.0.3", 1, 9, 3) == "7/10");  // jeq from an ip+out rule into a vlan rule
    CHECK(tags("10.0.0.3", 1, 9, 5) == "99/0");  // after the jump, the scanned catch-all is next
    CHECK(tags("10.0.0.4", 1, 9, 4) == "8/0");   // a full match without jeq stops there
    CHECK(tags("10.0.0.5", 1, 0, 4) == "9/0");   // a scanned (negated) rule before vlan=4's group
    CHECK(tags("10.0.0.5", 6, 0, 5) == "4/0");   // an indexed rule before the scanned vlan=-3
    CHECK(tags("10.0.0.6", 1, 0, 3) == "0/10");  // in=1: no in rule; vlan=3's rule
    CHECK(tags("10.0.0.6", 7, 0, 3) == "5/0");
}

TEST_CASE("pre_tag_filter keeps values, ranges and untagged, and negations drop as pmacct does") {
    pretag::TagFilter f({"10", "-6", "20-30", "0"});
    CHECK(f.keeps(10));
    CHECK(f.keeps(25));
    CHECK_FALSE(f.keeps(6));
    CHECK(f.keeps(7)); // a negation that does not hold the tag keeps it
    pretag::TagFilter only({"20-30", "0"});
    CHECK(only.keeps(0));
    CHECK(only.keeps(30));
    CHECK_FALSE(only.keeps(31));
    CHECK_FALSE(only.keeps(7));
    pretag::TagFilter neg({"-6"});
    CHECK(neg.keeps(0));
    CHECK_FALSE(neg.keeps(6));
    CHECK_THROWS(pretag::TagFilter({"abc"}));
    CHECK_THROWS(pretag::TagFilter({"30-20"}));
    pretag::LabelFilter lf({"blabla", "null"});
    CHECK(lf.keeps("blabla"));
    CHECK(lf.keeps("x,blabla"));
    CHECK(lf.keeps(""));
    CHECK_FALSE(lf.keeps("blabla2"));
    pretag::LabelFilter nl({"-null"});
    CHECK_FALSE(nl.keeps(""));
    CHECK(nl.keeps("a"));
}

TEST_CASE("pretag stage tags, labels and drops what its pipeline's filters do not keep") {
    maps_test::TempFile f(R"(set_tag=1 in=1
set_tag=2 in=2 set_label=gold
set_tag=3 in=3 set_tag2=33
)");
    test::FakeHost host({{"pre_tag_map", f.path()}, {"pre_tag_filter", "1,2"}, {"pre_tag_label_filter", "-gold"}});
    const fa_module_descriptor* d = test::load_module("classifier_pretag.so");
    REQUIRE(d);
    test::Instance inst(d, host);
    REQUIRE(inst);
    auto ops = inst.ops<fa_classifier_ops>();
    fa_record r[4];
    for (int i = 0; i < 4; ++i) {
        r[i] = flow("10.0.0.1", "10.0.0.2");
        r[i].in_iface = static_cast<std::uint32_t>(i + 1);
    }
    ops->process(inst.get(), r, 4, nullptr);
    CHECK(r[0].tag == 1);
    CHECK((r[0].flags & FA_REC_DROP) == 0);
    CHECK(r[1].tag == 2);
    CHECK(std::string(host.api()->name_of(host.api()->ctx, r[1].label_id)) == "gold");
    CHECK((r[1].flags & FA_REC_DROP) != 0); // label filter
    CHECK(r[2].tag2 == 33);
    CHECK((r[2].flags & FA_REC_DROP) != 0); // tag 3 not kept
    CHECK((r[3].flags & FA_REC_DROP) != 0); // untagged not kept
    CHECK(host.counter("pretag_matched") == 3);
    CHECK(host.counter("pretag_unmatched") == 1);
    CHECK(host.counter("pretag_filtered") == 3);

    // Reload: a broken map is refused with file and line; the old rules stay.
    f.write("set_tag=1 in=1\nset_tag=7 in=nope\n");
    CHECK(ops->reload(inst.get()) == FA_ERROR);
    bool named = false;
    for (const auto& line : host.logs) named = named || line.find(f.path() + ":2: in: expected") != std::string::npos;
    CHECK(named);
    fa_record again = flow("10.0.0.1", "10.0.0.2");
    again.in_iface = 2;
    ops->process(inst.get(), &again, 1, nullptr);
    CHECK(again.tag == 2);
    f.write("set_tag=2 in=1\n");
    CHECK(ops->reload(inst.get()) == FA_OK);
    again = flow("10.0.0.1", "10.0.0.2");
    again.in_iface = 1;
    ops->process(inst.get(), &again, 1, nullptr);
    CHECK(again.tag == 2);
}

TEST_CASE("the shipped sample maps and example maps parse") {
    Labels l;
    const std::string etc = std::string(FLOWACCT_TEST_SOURCE_DIR) + "/etc/";
    for (const char* m : {"maps/pretag.map.example", "examples/residential-quotas/pretag.map",
                          "examples/exporter-interfaces/pretag.map"})
        CHECK_NOTHROW(pretag::PretagMap::load(etc + m, [&](std::string_view s) { return l(s); }));
}
