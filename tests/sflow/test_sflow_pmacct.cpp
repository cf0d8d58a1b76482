// SPDX-License-Identifier: GPL-2.0-or-later
// The sflow module against real tools on the generator's savefiles: the same totals per key as
// pmacct's sfacctd, and no malformed packet in tshark's decode. Skipped when a tool is missing.
#include <doctest/doctest.h> // TEST_CASE, CHECK

#include <algorithm> // std::count
#include <cstdio>    // popen, pclose, std::remove
#include <cstdlib>   // std::system
#include <fstream>   // std::ifstream, std::ofstream
#include <map>       // std::map
#include <sstream>   // std::istringstream
#include <string>    // std::string
#include <vector>    // std::vector

#include <fake_host.hpp>               // test::FakeHost, test::Instance, test::load_module
#include <flowacct/sdk/primitives.hpp> // sdk::addr_to_string

using namespace flowacct;

namespace {

struct Totals {
    std::uint64_t packets = 0, bytes = 0, flows = 0;
    bool operator==(const Totals& o) const { return packets == o.packets && bytes == o.bytes && flows == o.flows; }
};
using Table = std::map<std::string, Totals>; // by the key columns, joined with ','

bool have(const char* tool) {
    return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0;
}

std::string capture(const std::string& cmd) {
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
        pclose(p);
    }
    return out;
}

std::string generate(const std::string& name, const std::string& flags) {
    const std::string pcap = std::string(FLOWACCT_TEST_BINARY_DIR) + "/" + name + ".pcap";
    const std::string cmd = std::string(FLOWACCT_GEN_SFLOW) + " " + flags + " --pcap " + pcap + " 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    return pcap;
}

// One column of pmacct's CSV for a record, printed as sfacctd prints it.
std::string column(const std::string& name, const fa_record& r) {
    const bool v6 = r.ip_version == 6;
    if (name == "SRC_IP") return sdk::addr_to_string(r.src_ip, v6);
    if (name == "DST_IP") return sdk::addr_to_string(r.dst_ip, v6);
    if (name == "SRC_PORT") return std::to_string(r.src_port);
    if (name == "DST_PORT") return std::to_string(r.dst_port);
    if (name == "SRC_MAC") return sdk::mac_to_string(r.src_mac);
    if (name == "DST_MAC") return sdk::mac_to_string(r.dst_mac);
    if (name == "VLAN") return std::to_string(r.vlan);
    if (name == "ETYPE") {
        char hex[8];
        std::snprintf(hex, sizeof hex, "%x", r.ether_type);
        return hex;
    }
    if (name == "SRC_AS") return std::to_string(r.src_as);
    if (name == "DST_AS") return std::to_string(r.dst_as);
    if (name == "PEER_SRC_AS") return std::to_string(r.peer_src_as);
    if (name == "PEER_DST_AS") return std::to_string(r.peer_dst_as);
    if (name == "PEER_SRC_IP") return sdk::addr_to_string(r.peer_src_ip);
    if (name == "PEER_DST_IP") return sdk::is_zero_addr(r.nexthop) ? "" : sdk::addr_to_string(r.nexthop);
    if (name == "IN_IFACE") return std::to_string(r.in_iface);
    if (name == "OUT_IFACE") return std::to_string(r.out_iface);
    if (name == "SRC_MASK") return std::to_string(r.src_mask);
    if (name == "DST_MASK") return std::to_string(r.dst_mask);
    if (name == "PROTOCOL") return sdk::proto_name(r.proto);
    if (name == "TOS") return std::to_string(r.tos);
    FAIL("no formatter for column " << name);
    return {};
}

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream f(line);
    std::string item;
    while (std::getline(f, item, ',')) out.push_back(item);
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
}

struct Result {
    std::vector<std::string> key_columns; // sfacctd's, in its order
    Table table;                          // by the key columns joined with ','
};

// sfacctd reading the savefile, print plugin to CSV, `aggregate` plus flows, `extra` config lines.
Result run_sfacctd(const std::string& pcap, const std::string& aggregate, const std::string& extra) {
    const std::string base = pcap.substr(0, pcap.size() - 5);
    const std::string conf = base + ".sfacctd.conf", csv = base + ".sfacctd.csv";
    std::remove(csv.c_str());
    {
        std::ofstream c(conf);
        c << "daemonize: false\n"
          << "pcap_savefile: " << pcap << "\n"
          << extra
          << "plugins: print[p]\n"
          << "aggregate[p]: " << aggregate << ",flows\n"
          << "print_output[p]: csv\n"
          << "print_output_file[p]: " << csv << "\n"
          << "print_refresh_time[p]: 3600\n";
    }
    REQUIRE(std::system(("timeout 60 sfacctd -f " + conf + " >/dev/null 2>&1").c_str()) == 0);
    Result res;
    std::ifstream in(csv);
    std::string line;
    std::getline(in, line);
    const auto header = split(line);
    for (const auto& h : header)
        if (h != "PACKETS" && h != "FLOWS" && h != "BYTES") res.key_columns.push_back(h);
    REQUIRE(res.key_columns.size() + 3 == header.size());
    while (std::getline(in, line)) {
        const auto cells = split(line);
        REQUIRE(cells.size() == header.size());
        std::string key;
        Totals x;
        for (std::size_t i = 0; i < header.size(); ++i) {
            if (header[i] == "PACKETS") x.packets = std::stoull(cells[i]);
            else if (header[i] == "FLOWS") x.flows = std::stoull(cells[i]);
            else if (header[i] == "BYTES") x.bytes = std::stoull(cells[i]);
            else key += (key.empty() ? "" : ",") + cells[i];
        }
        Totals& t = res.table[key];
        t.packets += x.packets;
        t.bytes += x.bytes;
        t.flows += x.flows;
    }
    return res;
}

Table run_module(const std::string& pcap, const std::map<std::string, std::string>& config,
                 const std::vector<std::string>& key_columns) {
    std::map<std::string, std::string> cfg = config;
    cfg["pcap_savefile"] = pcap;
    test::FakeHost host(cfg);
    host.batch_capacity = 1024;
    test::Instance inst(test::load_module("input_sflow.so"), host);
    REQUIRE_MESSAGE(inst, inst.error);
    REQUIRE(inst.ops<fa_input_ops>()->run(inst.get()) == FA_EOF);
    // The generator's sequences are gapless and its datagrams well formed.
    for (const auto& [key, value] : host.counters) {
        const bool bad = key.rfind("seq_", 0) == 0 || key.rfind("samples_lost", 0) == 0 ||
                         key.rfind("source_reset", 0) == 0 || key.rfind("drop_", 0) == 0 ||
                         key.rfind("unknown_", 0) == 0 || key.rfind("l2l4_", 0) == 0;
        if (bad) CHECK_MESSAGE(value == 0, key);
    }
    Table t;
    for (const auto& r : host.records) {
        std::string key;
        for (const auto& c : key_columns) key += (key.empty() ? "" : ",") + column(c, r);
        Totals& x = t[key];
        x.packets += r.packets;
        x.bytes += r.bytes;
        x.flows += r.flows;
    }
    return t;
}

} // namespace

TEST_CASE("the module gives the same totals per key as pmacct's sfacctd on the same savefile") {
    if (!have("sfacctd")) {
        MESSAGE("sfacctd not installed (Debian package pmacct): skipped");
        return;
    }
    std::string name, flags, aggregate = "src_host,dst_host,src_port", extra;
    std::map<std::string, std::string> config;
    std::size_t keys = 300;
    SUBCASE("IPv4 agent, IPv4 traffic, rate 100, renormalized") {
        name = "sflow_pmacct_v4";
        flags = "--samples 20000 --keys 300 --rate 100";
        extra = "sfacctd_renormalize: true\n";
        config["sfacctd_renormalize"] = "true";
    }
    SUBCASE("three IPv6 agents, IPv6 traffic, expanded samples, not renormalized") {
        name = "sflow_pmacct_v6";
        flags = "--samples 20000 --keys 300 --rate 7 --agents 3 --ipv6-agents --ipv6-flows --expanded";
    }
    SUBCASE("sampled IPv4 records instead of raw headers, renormalized") {
        name = "sflow_pmacct_sampled4";
        flags = "--samples 10000 --keys 300 --rate 5 --sampled-ip";
        aggregate = "src_host,dst_host,src_port,dst_port,proto,tos";
        extra = "sfacctd_renormalize: true\n";
        config["sfacctd_renormalize"] = "true";
    }
    SUBCASE("sampled IPv6 records instead of raw headers") {
        name = "sflow_pmacct_sampled6";
        flags = "--samples 10000 --keys 300 --rate 5 --sampled-ip --ipv6-flows";
        aggregate = "src_host,dst_host,src_port,dst_port,proto,tos";
    }
    SUBCASE("interfaces, vlan, macs, AS numbers, masks and next hop, sfacctd_as/net unset") {
        name = "sflow_pmacct_routing";
        flags = "--samples 6000 --keys 200 --rate 10 --agents 2";
        aggregate = "in_iface,out_iface,vlan,src_as,dst_as,peer_src_as,peer_dst_as,peer_src_ip,peer_dst_ip,"
                    "src_mask,dst_mask,proto,tos,dst_port,src_mac,dst_mac,etype";
        keys = 0; // whatever sfacctd finds
    }
    SUBCASE("AS numbers and next hop from a networks_file: the input leaves them 0, as sfacctd") {
        name = "sflow_pmacct_file";
        flags = "--samples 6000 --keys 200 --rate 10 --agents 2";
        aggregate = "in_iface,out_iface,vlan,src_as,dst_as,peer_src_as,peer_dst_as,peer_dst_ip,proto,dst_port";
        const std::string nets = std::string(FLOWACCT_TEST_BINARY_DIR) + "/sflow_pmacct_networks.txt";
        std::ofstream(nets) << "10.0.0.0/8\n";
        extra = "sfacctd_as: file\nsfacctd_net: file\nnetworks_file: " + nets + "\n";
        config["sfacctd_as"] = "file";
        config["sfacctd_net"] = "file";
        keys = 0;
    }
    const std::string pcap = generate(name, flags);
    const Result theirs = run_sfacctd(pcap, aggregate, extra);
    const Table ours = run_module(pcap, config, theirs.key_columns);
    if (keys) CHECK(ours.size() == keys);
    CHECK(theirs.table.size() == ours.size());
    CHECK(theirs.table.size() > 1);
    std::size_t differing = 0;
    for (const auto& [key, totals] : theirs.table) {
        auto it = ours.find(key);
        if (it == ours.end() || !(it->second == totals)) {
            if (++differing <= 5)
                MESSAGE("differs: " << key << " sfacctd " << totals.packets << "/" << totals.bytes << "/"
                                    << totals.flows << " ours "
                                    << (it == ours.end() ? std::string("none")
                                                         : std::to_string(it->second.packets) + "/" +
                                                               std::to_string(it->second.bytes) + "/" +
                                                               std::to_string(it->second.flows)));
        }
    }
    CHECK(differing == 0);
}

TEST_CASE("tshark decodes the generator's savefile with no malformed packet") {
    if (!have("tshark")) {
        MESSAGE("tshark not installed: skipped");
        return;
    }
    std::string flags = "--samples 4000 --keys 100 --agents 2 --counter-every 4";
    SUBCASE("IPv4 agents, raw headers") {}
    SUBCASE("IPv6 agents, IPv6 headers, expanded samples") { flags += " --ipv6-agents --ipv6-flows --expanded"; }
    SUBCASE("sampled IPv4 records") { flags += " --sampled-ip"; }
    const std::string pcap = generate("sflow_tshark", flags);
    const std::string sflow_frames = capture("tshark -r " + pcap + " -Y sflow -T fields -e frame.number 2>/dev/null");
    const std::string malformed =
        capture("tshark -r " + pcap + " -Y '_ws.malformed || _ws.expert.severity >= error' -T fields -e frame.number 2>/dev/null");
    CHECK(std::count(sflow_frames.begin(), sflow_frames.end(), '\n') == 500);
    CHECK(malformed.empty());
}
