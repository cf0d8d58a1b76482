// SPDX-License-Identifier: GPL-2.0-or-later
// pre_tag_map: pmacct's tagging language, parsed, indexed and evaluated against flow records.
//
// A line is a rule of key=value tokens (no blanks around '='; filter='...' may hold blanks).
// SET: set_tag|id, set_tag2|id2 (N or N++ auto-increment), set_label, set_tos.
// MATCH: ip (exporter, prefix allowed), in, out, src_as, dst_as, peer_src_as, peer_dst_as, vlan,
// nexthop, engine_id|source_id|agent_id, sampling_rate, src_mac, dst_mac, src_net, dst_net,
// filter (libpcap syntax; see below). A negative value negates a match (in=-2), except for ip
// and filter. Flow control: label, jeq=<label>|next (forward only), stack=sum|or.
// Evaluation: rules in file order, the first full match wins; a matching rule with jeq applies
// its SETs and continues at the first later rule labelled so; with stack, tags combine with
// the value accumulated so far; labels of several matching rules join with ','.
//
// filter: the record carries no packet bytes, so the filter runs (pcap_offline_filter) on a
// packet synthesized from the record: Ethernet MACs, one 802.1Q tag when vlan is set, the
// ethertype, IPv4/IPv6 addresses, TOS/traffic class, protocol, TCP/UDP ports and TCP flags.
// Expressions on anything else (payload, TTL, lengths, IP options, inner tags, MPLS, ICMP
// types) see zeros.
//
// Speed: rules are grouped by the set of exact-match keys they use (ip host, in, out, vlan,
// ASes, nexthop host, engine_id, sampling_rate, MACs); each group (the 8 largest) is a hash
// index from a hash of those values to its rules, so a record only evaluates the rules its
// values can match (rules whose values merely share a hash are evaluated and rejected). The
// candidates of all groups and the scanned rest are merged in file order, so the index never
// changes which rule wins.
#pragma once

#include <pcap/pcap.h>    // bpf_program

#include <cstdint>        // std::uint64_t
#include <functional>     // std::function
#include <memory>         // std::shared_ptr
#include <string>         // std::string
#include <string_view>    // std::string_view
#include <vector>         // std::vector

#include <flowacct/abi.h> // fa_record

namespace flowacct::pretag {

/// The outcome of evaluating the map for one record.
struct Result {
    bool matched = false;   // some rule matched
    bool tag_set = false, tag2_set = false, tos_set = false;
    std::uint64_t tag = 0, tag2 = 0;
    std::uint8_t tos = 0;
    std::uint32_t labels[8]; // label ids of matching set_label rules, in order
    std::uint32_t label_count = 0;
};

class PretagMap {
public:
    using Intern = std::function<std::uint32_t(std::string_view)>;

    /// Parses `text`. `name` (the path) prefixes errors; `intern` gives set_label ids (called
    /// during parse only). Throws std::runtime_error "<name>:<line>: <what was expected>".
    static std::shared_ptr<PretagMap> parse(std::string_view text, const std::string& name, const Intern& intern);
    static std::shared_ptr<PretagMap> load(const std::string& path, const Intern& intern);

    ~PretagMap();
    PretagMap(const PretagMap&) = delete;
    PretagMap& operator=(const PretagMap&) = delete;

    /// Evaluates the rules for `r`, starting from its tag and tag2. Pipeline thread only (N++
    /// counters and a packet buffer live in the map). Never allocates or throws.
    void evaluate(const fa_record& r, Result& out);

    std::size_t rules() const;
    std::size_t index_groups() const;  // hash indexes built (the rest is scanned)
    std::size_t scanned_rules() const; // rules every record evaluates

    struct Impl;

private:
    PretagMap();
    std::unique_ptr<Impl> impl_;
};

/// pre_tag_filter / pre_tag2_filter: "10,-6,20-30,0" as pmacct evaluates it: items in order;
/// the first item whose value or range holds the tag decides (kept, or dropped if negated); a
/// negated item that does not hold it keeps the record; no decision drops it.
class TagFilter {
public:
    /// Throws std::runtime_error naming the bad item.
    explicit TagFilter(const std::vector<std::string>& items);
    bool keeps(std::uint64_t tag) const;
    bool empty() const { return items_.empty(); }

private:
    struct Item {
        std::uint64_t lo, hi;
        bool neg;
    };
    std::vector<Item> items_;
};

/// pre_tag_label_filter: "blabla,-other,null" with the same order rules as TagFilter; an item
/// holds a label when it equals it or one of its comma-separated parts; "null" holds no label.
class LabelFilter {
public:
    explicit LabelFilter(const std::vector<std::string>& items);
    bool keeps(std::string_view label) const;
    bool empty() const { return items_.empty(); }

private:
    struct Item {
        std::string value;
        bool neg;
    };
    std::vector<Item> items_;
};

/// Writes the packet the filter key sees for `r` into `buf` (at least 128 bytes); returns its
/// length. Exposed for tests.
std::uint32_t synthesize_packet(const fa_record& r, std::uint8_t* buf);

} // namespace flowacct::pretag
