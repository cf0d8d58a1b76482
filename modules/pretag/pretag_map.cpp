// SPDX-License-Identifier: GPL-2.0-or-later
// pre_tag_map parsing, indexing and evaluation; pre_tag filters.
#include "pretag_map.hpp"

#include <algorithm>    // std::sort, std::min
#include <cstring>      // std::memcmp, std::memcpy, std::memset
#include <map>          // std::map
#include <stdexcept>    // std::runtime_error
#include <unordered_map> // std::unordered_map

#include <flowacct/sdk/primitives.hpp> // sdk::parse_mac_exact

#include "map_text.hpp" // maptext::for_each_line, parse_uint, parse_prefix, read_file

namespace flowacct::pretag {

namespace {

enum Field : std::uint32_t {
    kIp = 1u << 0,
    kIn = 1u << 1,
    kOut = 1u << 2,
    kSrcAs = 1u << 3,
    kDstAs = 1u << 4,
    kVlan = 1u << 5,
    kNexthop = 1u << 6,
    kEngineId = 1u << 7,
    kSamplingRate = 1u << 8,
    kSrcMac = 1u << 9,
    kDstMac = 1u << 10,
    // not indexed
    kSrcNet = 1u << 11,
    kDstNet = 1u << 12,
    kPeerSrcAs = 1u << 13,
    kPeerDstAs = 1u << 14,
    kFilter = 1u << 15,
};
constexpr std::uint32_t kIndexable = kIp | kIn | kOut | kSrcAs | kDstAs | kVlan | kNexthop | kEngineId |
                                     kSamplingRate | kSrcMac | kDstMac;
constexpr std::size_t kMaxGroups = 8;

struct Prefix {
    std::uint8_t addr[16] = {};
    std::uint8_t len = 0; // family-relative
    bool v4 = false;
    bool host() const { return len == (v4 ? 32 : 128); }
};

bool is_v4(const std::uint8_t* a) {
    std::uint64_t hi;
    std::uint32_t mid;
    std::memcpy(&hi, a, 8);
    std::memcpy(&mid, a + 8, 4);
    static constexpr std::uint8_t kMid[4] = {0, 0, 0xff, 0xff};
    std::uint32_t want;
    std::memcpy(&want, kMid, 4);
    return hi == 0 && mid == want;
}


bool prefix_holds(const Prefix& p, const std::uint8_t* a) {
    if (is_v4(a) != p.v4) return false;
    unsigned bits = (p.v4 ? 96u : 0u) + p.len;
    unsigned full = bits / 8, rest = bits % 8;
    if (std::memcmp(a, p.addr, full) != 0) return false;
    if (rest == 0) return true;
    std::uint8_t m = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a[full] & m) == p.addr[full];
}

enum class Stack { None, Sum, Or };

struct Rule {
    std::size_t line = 0;
    std::uint32_t present = 0, negated = 0;
    Prefix ip, nexthop, src_net, dst_net;
    std::uint32_t in = 0, out = 0, src_as = 0, dst_as = 0, peer_src_as = 0, peer_dst_as = 0, engine_id = 0,
                  sampling_rate = 0;
    std::uint16_t vlan = 0;
    std::uint8_t src_mac[6] = {}, dst_mac[6] = {};
    int filter = -1;
    bool set_tag = false, set_tag2 = false, set_tos = false, tag_inc = false, tag2_inc = false;
    std::uint64_t tag = 0, tag2 = 0;
    std::uint8_t tos = 0;
    std::uint32_t label_id = 0;
    std::string label, jeq;
    std::uint32_t jeq_target = 0; // valid when has_jeq
    bool has_jeq = false;
    Stack stack = Stack::None;
};

// The index hash of the fields in `sig` (the others are not read). Rules and records hash
// their values the same way. Two values with equal hashes share a bucket: that only adds
// candidates, which matches() rejects, so the index never needs the values themselves.
std::uint64_t hash_fields(std::uint32_t sig, const std::uint8_t* ip, const std::uint8_t* nexthop, std::uint32_t in,
                          std::uint32_t out, std::uint32_t src_as, std::uint32_t dst_as, std::uint32_t engine_id,
                          std::uint32_t sampling_rate, std::uint16_t vlan, const std::uint8_t* src_mac,
                          const std::uint8_t* dst_mac) {
    std::uint64_t h = 0x9e3779b97f4a7c15ull ^ sig;
    auto mix = [&h](std::uint64_t w) {
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    };
    auto word = [](const std::uint8_t* p, std::size_t n) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, n);
        return w;
    };
    auto pair = [sig](std::uint32_t f1, std::uint32_t v1, std::uint32_t f2, std::uint32_t v2) {
        return ((sig & f1) ? std::uint64_t{v1} : 0) | ((sig & f2) ? std::uint64_t{v2} << 32 : 0);
    };
    if (sig & kIp) {
        mix(word(ip, 8));
        mix(word(ip + 8, 8));
    }
    if (sig & kNexthop) {
        mix(word(nexthop, 8));
        mix(word(nexthop + 8, 8));
    }
    if (sig & (kIn | kOut)) mix(pair(kIn, in, kOut, out));
    if (sig & (kSrcAs | kDstAs)) mix(pair(kSrcAs, src_as, kDstAs, dst_as));
    if (sig & (kEngineId | kSamplingRate)) mix(pair(kEngineId, engine_id, kSamplingRate, sampling_rate));
    if (sig & kVlan) mix(vlan);
    if (sig & kSrcMac) mix(word(src_mac, 6));
    if (sig & kDstMac) mix(word(dst_mac, 6));
    return h;
}

// Open addressing, power-of-two slots; each slot names a run of rule indices (ascending).
struct Group {
    std::uint32_t signature = 0;
    struct Slot {
        std::uint64_t hash = 0;
        std::uint32_t first = 0, count = 0; // count 0: empty
    };
    std::vector<Slot> slots;
    std::vector<std::uint32_t> rules;
    std::uint64_t mask = 0;

    void find(std::uint64_t h, const std::uint32_t*& begin, const std::uint32_t*& end) const {
        for (std::uint64_t i = h & mask;; i = (i + 1) & mask) {
            const Slot& s = slots[i];
            if (s.count == 0) break;
            if (s.hash == h) {
                begin = rules.data() + s.first;
                end = begin + s.count;
                return;
            }
        }
        begin = end = nullptr;
    }
};

[[noreturn]] void bad(const std::string& name, std::size_t line, const std::string& what) {
    throw std::runtime_error(name + ":" + std::to_string(line) + ": " + what);
}

// Splits a rule into key=value tokens; a value opening with a quote runs to the closing one.
std::vector<std::pair<std::string_view, std::string_view>> tokenize(std::string_view line, const std::string& name,
                                                                     std::size_t line_no) {
    std::vector<std::pair<std::string_view, std::string_view>> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && maptext::is_blank(line[i])) ++i;
        if (i >= line.size()) break;
        if (line[i] == '!' || line[i] == '#') break; // trailing comment
        std::size_t eq = line.find('=', i);
        std::size_t blank = i;
        while (blank < line.size() && !maptext::is_blank(line[blank])) ++blank;
        if (eq == std::string_view::npos || eq > blank || eq == i)
            bad(name, line_no, "expected key=value, got '" + std::string(line.substr(i, blank - i)) + "'");
        std::string_view key = line.substr(i, eq - i);
        std::size_t v = eq + 1;
        std::string_view value;
        if (v < line.size() && (line[v] == '\'' || line[v] == '"')) {
            std::size_t close = line.find(line[v], v + 1);
            if (close == std::string_view::npos) bad(name, line_no, "unterminated quote in " + std::string(key));
            value = line.substr(v + 1, close - v - 1);
            i = close + 1;
            if (i < line.size() && !maptext::is_blank(line[i]))
                bad(name, line_no, "expected a blank after the closing quote of " + std::string(key));
        } else {
            std::size_t end = v;
            while (end < line.size() && !maptext::is_blank(line[end])) ++end;
            value = line.substr(v, end - v);
            i = end;
        }
        out.emplace_back(key, value);
    }
    return out;
}

} // namespace

struct PretagMap::Impl {
    std::vector<Rule> rules;
    std::vector<std::uint64_t> next_tag, next_tag2; // N++ counters
    std::vector<bpf_program> filters;
    std::vector<Group> groups;
    std::vector<std::uint32_t> scan; // rules outside every index
    std::uint8_t packet[160];
    std::uint32_t packet_len = 0;
    bool packet_ready = false;

    bool matches(const Rule& rule, const fa_record& r);
};

PretagMap::PretagMap() : impl_(std::make_unique<Impl>()) {}

PretagMap::~PretagMap() {
    for (auto& f : impl_->filters) pcap_freecode(&f);
}

std::size_t PretagMap::rules() const { return impl_->rules.size(); }
std::size_t PretagMap::index_groups() const { return impl_->groups.size(); }
std::size_t PretagMap::scanned_rules() const { return impl_->scan.size(); }

std::shared_ptr<PretagMap> PretagMap::load(const std::string& path, const Intern& intern) {
    return parse(maptext::read_file(path), path, intern);
}

std::shared_ptr<PretagMap> PretagMap::parse(std::string_view text, const std::string& name, const Intern& intern) {
    std::shared_ptr<PretagMap> map(new PretagMap());
    Impl& m = *map->impl_;
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 256);
    if (!dead) throw std::runtime_error(name + ": cannot open a pcap handle for filters");
    struct Closer {
        pcap_t* p;
        ~Closer() { pcap_close(p); }
    } closer{dead};

    maptext::for_each_line(text, [&](std::size_t line_no, std::string_view line) {
        Rule rule;
        rule.line = line_no;
        for (const auto& token : tokenize(line, name, line_no)) {
            // Not a structured binding: clang before 16 cannot capture one in the lambdas below.
            const std::string_view value = token.second;
            std::string key(token.first);
            for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (key == "id") key = "set_tag";
            else if (key == "id2") key = "set_tag2";
            else if (key == "source_id" || key == "agent_id") key = "engine_id";
            auto fail = [&](const std::string& expected) {
                bad(name, line_no, key + ": expected " + expected + ", got '" + std::string(value) + "'");
            };
            bool neg = false;
            std::string_view v = value;
            auto take_neg = [&] {
                if (!v.empty() && v[0] == '-') {
                    neg = true;
                    v.remove_prefix(1);
                }
            };
            auto flag = [&](std::uint32_t f) {
                if (rule.present & f) bad(name, line_no, "key '" + key + "' given twice");
                rule.present |= f;
                if (neg) rule.negated |= f;
            };
            auto u32 = [&](std::uint32_t& dst, std::uint64_t max, std::uint32_t f) {
                take_neg();
                std::uint64_t n = 0;
                if (!maptext::parse_uint(v, max, n)) fail("a number up to " + std::to_string(max) + " (negate with -)");
                dst = static_cast<std::uint32_t>(n);
                flag(f);
            };
            auto prefix = [&](Prefix& dst, std::uint32_t f, bool allow_neg) {
                if (allow_neg) take_neg();
                if (!maptext::parse_prefix(v, dst.addr, dst.len, dst.v4)) fail("an IPv4 or IPv6 address or prefix");
                flag(f);
            };
            auto tag_value = [&](std::uint64_t& dst, bool& inc, bool& set) {
                if (set) bad(name, line_no, "key '" + key + "' given twice");
                if (v.size() > 2 && v.substr(v.size() - 2) == "++") {
                    inc = true;
                    v.remove_suffix(2);
                }
                if (!maptext::parse_uint(v, ~0ull, dst) || dst == 0) fail("a tag 1..2^64-1, or N++");
                set = true;
            };
            if (key == "set_tag") tag_value(rule.tag, rule.tag_inc, rule.set_tag);
            else if (key == "set_tag2") tag_value(rule.tag2, rule.tag2_inc, rule.set_tag2);
            else if (key == "set_label") {
                if (rule.label_id) bad(name, line_no, "key 'set_label' given twice");
                if (v.empty() || v.find(',') != std::string_view::npos) fail("a label without commas");
                rule.label_id = intern(v);
            } else if (key == "set_tos") {
                std::uint64_t n = 0;
                if (rule.set_tos || !maptext::parse_uint(v, 255, n)) fail("a TOS value 0..255");
                rule.tos = static_cast<std::uint8_t>(n);
                rule.set_tos = true;
            } else if (key == "ip") {
                if (!v.empty() && v[0] == '-') fail("an address or prefix (ip cannot be negated)");
                prefix(rule.ip, kIp, false);
            } else if (key == "in") u32(rule.in, 0xffffffffull, kIn);
            else if (key == "out") u32(rule.out, 0xffffffffull, kOut);
            else if (key == "src_as") u32(rule.src_as, 0xffffffffull, kSrcAs);
            else if (key == "dst_as") u32(rule.dst_as, 0xffffffffull, kDstAs);
            else if (key == "peer_src_as") u32(rule.peer_src_as, 0xffffffffull, kPeerSrcAs);
            else if (key == "peer_dst_as") u32(rule.peer_dst_as, 0xffffffffull, kPeerDstAs);
            else if (key == "engine_id") u32(rule.engine_id, 0xffffffffull, kEngineId);
            else if (key == "sampling_rate") u32(rule.sampling_rate, 0xffffffffull, kSamplingRate);
            else if (key == "vlan") {
                std::uint32_t vl = 0;
                u32(vl, 4095, kVlan);
                rule.vlan = static_cast<std::uint16_t>(vl);
            } else if (key == "nexthop") prefix(rule.nexthop, kNexthop, true);
            else if (key == "src_net") prefix(rule.src_net, kSrcNet, true);
            else if (key == "dst_net") prefix(rule.dst_net, kDstNet, true);
            else if (key == "src_mac" || key == "dst_mac") {
                take_neg();
                if (!sdk::parse_mac_exact(v, key == "src_mac" ? rule.src_mac : rule.dst_mac))
                    fail("a MAC address aa:bb:cc:dd:ee:ff (negate with -)");
                flag(key == "src_mac" ? kSrcMac : kDstMac);
            } else if (key == "filter") {
                if (rule.present & kFilter) bad(name, line_no, "key 'filter' given twice");
                std::string expr(value);
                bpf_program prog{};
                if (pcap_compile(dead, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
                    bad(name, line_no, "filter '" + expr + "': " + pcap_geterr(dead));
                m.filters.push_back(prog);
                rule.filter = static_cast<int>(m.filters.size() - 1);
                rule.present |= kFilter;
            } else if (key == "label") {
                if (!rule.label.empty() || v.empty() || v == "next") fail("a label name other than 'next'");
                rule.label = std::string(v);
            } else if (key == "jeq") {
                if (rule.has_jeq || v.empty()) fail("a label name or 'next'");
                rule.jeq = std::string(v);
                rule.has_jeq = true;
            } else if (key == "stack") {
                if (v == "sum") rule.stack = Stack::Sum;
                else if (v == "or") rule.stack = Stack::Or;
                else fail("sum or or");
            } else {
                bad(name, line_no, "unknown or unsupported key '" + key +
                                       "' (supported: set_tag, set_tag2, set_label, set_tos, ip, in, out, src_as, "
                                       "dst_as, peer_src_as, peer_dst_as, vlan, nexthop, engine_id, sampling_rate, "
                                       "src_mac, dst_mac, src_net, dst_net, filter, label, jeq, stack)");
            }
        }
        if (m.rules.size() >= 0x7fffffff) bad(name, line_no, "too many rules");
        m.rules.push_back(std::move(rule));
    });

    // Jumps go forward, to the first later rule with the label.
    const std::size_t n = m.rules.size();
    std::unordered_map<std::string, std::vector<std::uint32_t>> by_label;
    for (std::uint32_t i = 0; i < n; ++i)
        if (!m.rules[i].label.empty()) by_label[m.rules[i].label].push_back(i);
    for (std::uint32_t i = 0; i < n; ++i) {
        Rule& rule = m.rules[i];
        if (!rule.has_jeq) continue;
        if (rule.jeq == "next") {
            rule.jeq_target = i + 1;
            continue;
        }
        auto it = by_label.find(rule.jeq);
        std::uint32_t target = 0;
        if (it != by_label.end())
            for (std::uint32_t j : it->second)
                if (j > i) {
                    target = j;
                    break;
                }
        if (target == 0) bad(name, rule.line, "jeq=" + rule.jeq + ": no later rule has label=" + rule.jeq + " (jumps go forward only)");
        rule.jeq_target = target;
    }
    m.next_tag.resize(n);
    m.next_tag2.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        m.next_tag[i] = m.rules[i].tag;
        m.next_tag2[i] = m.rules[i].tag2;
    }

    // Index: group rules by the exact-match keys they use; the most populated groups get a hash
    // index, the rest (and rules with no such key) are scanned.
    std::map<std::uint32_t, std::vector<std::uint32_t>> by_sig;
    for (std::uint32_t i = 0; i < n; ++i) {
        const Rule& rule = m.rules[i];
        std::uint32_t sig = rule.present & kIndexable & ~rule.negated;
        if ((sig & kIp) && !rule.ip.host()) sig &= ~kIp;
        if ((sig & kNexthop) && !rule.nexthop.host()) sig &= ~kNexthop;
        by_sig[sig].push_back(i);
    }
    std::vector<std::pair<std::uint32_t, std::vector<std::uint32_t>*>> order;
    for (auto& [sig, list] : by_sig)
        if (sig) order.emplace_back(sig, &list);
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second->size() > b.second->size(); });
    if (auto it = by_sig.find(0); it != by_sig.end()) m.scan = it->second;
    for (std::size_t g = 0; g < order.size(); ++g) {
        auto [sig, list] = order[g];
        if (g >= kMaxGroups || list->size() < 2) {
            m.scan.insert(m.scan.end(), list->begin(), list->end());
            continue;
        }
        Group group;
        group.signature = sig;
        std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> buckets;
        std::vector<std::uint64_t> bucket_order;
        for (std::uint32_t i : *list) {
            const Rule& r = m.rules[i];
            const std::uint64_t h = hash_fields(sig, r.ip.addr, r.nexthop.addr, r.in, r.out, r.src_as, r.dst_as,
                                                r.engine_id, r.sampling_rate, r.vlan, r.src_mac, r.dst_mac);
            auto [it, fresh] = buckets.try_emplace(h);
            if (fresh) bucket_order.push_back(h);
            it->second.push_back(i);
        }
        std::size_t cap = 16;
        while (cap < bucket_order.size() * 2) cap *= 2;
        group.slots.resize(cap);
        group.mask = cap - 1;
        for (std::uint64_t h : bucket_order) {
            const auto& ids = buckets[h];
            std::uint64_t slot = h & group.mask;
            while (group.slots[slot].count) slot = (slot + 1) & group.mask;
            group.slots[slot] = Group::Slot{h, static_cast<std::uint32_t>(group.rules.size()),
                                            static_cast<std::uint32_t>(ids.size())};
            group.rules.insert(group.rules.end(), ids.begin(), ids.end());
        }
        m.groups.push_back(std::move(group));
    }
    std::sort(m.scan.begin(), m.scan.end());
    return map;
}

bool PretagMap::Impl::matches(const Rule& rule, const fa_record& r) {
    std::uint32_t p = rule.present;
    if (!p) return true;
    auto check = [&](std::uint32_t f, bool equal) { return !(p & f) || (equal != ((rule.negated & f) != 0)); };
    if ((p & kIp) && !check(kIp, prefix_holds(rule.ip, r.peer_src_ip))) return false;
    if (!check(kIn, r.in_iface == rule.in)) return false;
    if (!check(kOut, r.out_iface == rule.out)) return false;
    if (!check(kSrcAs, r.src_as == rule.src_as)) return false;
    if (!check(kDstAs, r.dst_as == rule.dst_as)) return false;
    if (!check(kVlan, r.vlan == rule.vlan)) return false;
    if ((p & kNexthop) && !check(kNexthop, prefix_holds(rule.nexthop, r.nexthop))) return false;
    if (!check(kEngineId, r.engine_id == rule.engine_id)) return false;
    if (!check(kSamplingRate, r.sampling_rate == rule.sampling_rate)) return false;
    if ((p & kSrcMac) && !check(kSrcMac, std::memcmp(r.src_mac, rule.src_mac, 6) == 0)) return false;
    if ((p & kDstMac) && !check(kDstMac, std::memcmp(r.dst_mac, rule.dst_mac, 6) == 0)) return false;
    if ((p & kSrcNet) && !check(kSrcNet, prefix_holds(rule.src_net, r.src_ip))) return false;
    if ((p & kDstNet) && !check(kDstNet, prefix_holds(rule.dst_net, r.dst_ip))) return false;
    if (!check(kPeerSrcAs, r.peer_src_as == rule.peer_src_as)) return false;
    if (!check(kPeerDstAs, r.peer_dst_as == rule.peer_dst_as)) return false;
    if (p & kFilter) {
        if (!packet_ready) {
            packet_len = synthesize_packet(r, packet);
            packet_ready = true;
        }
        pcap_pkthdr hdr{};
        hdr.caplen = hdr.len = packet_len;
        if (pcap_offline_filter(&filters[static_cast<std::size_t>(rule.filter)], &hdr, packet) == 0) return false;
    }
    return true;
}

void PretagMap::evaluate(const fa_record& r, Result& out) {
    Impl& m = *impl_;
    out.matched = out.tag_set = out.tag2_set = out.tos_set = false;
    out.label_count = 0;
    out.tos = 0;
    out.tag = r.tag;
    out.tag2 = r.tag2;
    m.packet_ready = false;

    struct Cursor {
        const std::uint32_t* p;
        const std::uint32_t* end;
    } cursors[kMaxGroups + 1];
    std::size_t nc = 0;
    if (!m.scan.empty()) cursors[nc++] = {m.scan.data(), m.scan.data() + m.scan.size()};
    for (const Group& g : m.groups) {
        const std::uint64_t h = hash_fields(g.signature, r.peer_src_ip, r.nexthop, r.in_iface, r.out_iface, r.src_as,
                                            r.dst_as, r.engine_id, r.sampling_rate, r.vlan, r.src_mac, r.dst_mac);
        const std::uint32_t *b, *e;
        g.find(h, b, e);
        if (b != e) cursors[nc++] = {b, e};
    }
    std::uint32_t pos = 0;
    for (;;) {
        std::uint32_t best = UINT32_MAX;
        for (std::size_t c = 0; c < nc; ++c) {
            Cursor& cur = cursors[c];
            while (cur.p != cur.end && *cur.p < pos) ++cur.p;
            if (cur.p != cur.end && *cur.p < best) best = *cur.p;
        }
        if (best == UINT32_MAX) break;
        pos = best + 1;
        const Rule& rule = m.rules[best];
        if (!m.matches(rule, r)) continue;
        out.matched = true;
        auto combine = [&](std::uint64_t acc, std::uint64_t v) {
            switch (rule.stack) {
            case Stack::Sum: return acc + v;
            case Stack::Or: return acc | v;
            default: return v;
            }
        };
        if (rule.set_tag) {
            std::uint64_t v = rule.tag_inc ? m.next_tag[best]++ : rule.tag;
            out.tag = combine(out.tag, v);
            out.tag_set = true;
        }
        if (rule.set_tag2) {
            std::uint64_t v = rule.tag2_inc ? m.next_tag2[best]++ : rule.tag2;
            out.tag2 = combine(out.tag2, v);
            out.tag2_set = true;
        }
        if (rule.set_tos) {
            out.tos = rule.tos;
            out.tos_set = true;
        }
        if (rule.label_id && out.label_count < 8) out.labels[out.label_count++] = rule.label_id;
        if (!rule.has_jeq) break;
        pos = rule.jeq_target;
    }
}

// ---- the packet a filter sees --------------------------------------------

std::uint32_t synthesize_packet(const fa_record& r, std::uint8_t* buf) {
    std::uint8_t* p = buf;
    std::memcpy(p, r.dst_mac, 6);
    std::memcpy(p + 6, r.src_mac, 6);
    p += 12;
    auto put16 = [&](std::uint16_t v) {
        p[0] = static_cast<std::uint8_t>(v >> 8);
        p[1] = static_cast<std::uint8_t>(v);
        p += 2;
    };
    if (r.vlan) {
        put16(0x8100);
        put16(r.vlan & 0x0fff);
    }
    std::uint16_t etype = r.ip_version == 4 ? 0x0800 : r.ip_version == 6 ? 0x86dd : r.ether_type;
    put16(etype);
    const bool ports = r.proto == 6 || r.proto == 17 || r.proto == 132;
    const std::uint16_t l4_len = r.proto == 6 ? 20 : (ports ? 8 : 8);
    if (r.ip_version == 4) {
        p[0] = 0x45;
        p[1] = r.tos;
        std::uint16_t total = static_cast<std::uint16_t>(20 + l4_len);
        p[2] = static_cast<std::uint8_t>(total >> 8);
        p[3] = static_cast<std::uint8_t>(total);
        std::memset(p + 4, 0, 4);
        if (r.flags & FA_REC_FRAGMENT) p[7] = 1; // a later fragment: offset 8 bytes, no ports
        p[8] = 64;
        p[9] = r.proto;
        p[10] = p[11] = 0;
        std::memcpy(p + 12, r.src_ip + 12, 4);
        std::memcpy(p + 16, r.dst_ip + 12, 4);
        p += 20;
    } else if (r.ip_version == 6) {
        p[0] = static_cast<std::uint8_t>(0x60 | (r.tos >> 4));
        p[1] = static_cast<std::uint8_t>((r.tos & 0x0f) << 4);
        p[2] = p[3] = 0;
        p[4] = static_cast<std::uint8_t>(l4_len >> 8);
        p[5] = static_cast<std::uint8_t>(l4_len);
        p[6] = r.proto;
        p[7] = 64;
        std::memcpy(p + 8, r.src_ip, 16);
        std::memcpy(p + 24, r.dst_ip, 16);
        p += 40;
    } else {
        return static_cast<std::uint32_t>(p - buf);
    }
    std::memset(p, 0, l4_len);
    if (ports) {
        p[0] = static_cast<std::uint8_t>(r.src_port >> 8);
        p[1] = static_cast<std::uint8_t>(r.src_port);
        p[2] = static_cast<std::uint8_t>(r.dst_port >> 8);
        p[3] = static_cast<std::uint8_t>(r.dst_port);
    }
    if (r.proto == 6) {
        p[12] = 0x50;
        p[13] = r.tcp_flags;
    } else if (r.proto == 17) {
        p[5] = 8;
    }
    p += l4_len;
    return static_cast<std::uint32_t>(p - buf);
}

// ---- filters ------------------------------------------------------------

TagFilter::TagFilter(const std::vector<std::string>& items) {
    for (const std::string& raw : items) {
        std::string_view s = maptext::trim(raw);
        Item it{0, 0, false};
        if (!s.empty() && s[0] == '-') {
            it.neg = true;
            s.remove_prefix(1);
        }
        std::size_t dash = s.find('-');
        bool ok = maptext::parse_uint(s.substr(0, dash), ~0ull, it.lo);
        it.hi = it.lo;
        if (ok && dash != std::string_view::npos) ok = maptext::parse_uint(s.substr(dash + 1), ~0ull, it.hi) && it.hi >= it.lo;
        if (!ok) throw std::runtime_error("expected tags, ranges a-b or negations -N, got '" + raw + "'");
        items_.push_back(it);
    }
}

bool TagFilter::keeps(std::uint64_t tag) const {
    for (const Item& it : items_) {
        if (tag >= it.lo && tag <= it.hi) return !it.neg;
        if (it.neg) return true;
    }
    return items_.empty();
}

LabelFilter::LabelFilter(const std::vector<std::string>& items) {
    for (const std::string& raw : items) {
        std::string_view s = maptext::trim(raw);
        Item it{{}, false};
        if (!s.empty() && s[0] == '-') {
            it.neg = true;
            s.remove_prefix(1);
        }
        if (s.empty()) throw std::runtime_error("expected labels, -label or null, got '" + raw + "'");
        it.value = std::string(s);
        items_.push_back(std::move(it));
    }
}

bool LabelFilter::keeps(std::string_view label) const {
    auto holds = [&](const std::string& v) {
        if (v == "null") return label.empty();
        if (label == v) return true;
        std::size_t pos = 0;
        while (pos <= label.size()) {
            std::size_t comma = label.find(',', pos);
            if (comma == std::string_view::npos) comma = label.size();
            if (label.substr(pos, comma - pos) == v) return true;
            pos = comma + 1;
        }
        return false;
    };
    for (const Item& it : items_) {
        if (holds(it.value)) return !it.neg;
        if (it.neg) return true;
    }
    return items_.empty();
}

} // namespace flowacct::pretag
