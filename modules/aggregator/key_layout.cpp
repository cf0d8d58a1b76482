// SPDX-License-Identifier: GPL-2.0-or-later
// Aggregator "hash": building a key layout from an `aggregate` list.
#include "key_layout.hpp"

#include <algorithm>   // std::find, std::max, std::min, std::stable_sort
#include <set>         // std::set

#include <flowacct/sdk/module.hpp>     // sdk::Error
#include <flowacct/sdk/primitives.hpp> // sdk::find_primitive

namespace flowacct::aggregator {

namespace {

#define FA_OFF(field) static_cast<std::uint16_t>(offsetof(fa_record, field))
#define FA_LEN(field) static_cast<std::uint16_t>(sizeof(fa_record::field))

struct FieldSpec {
    fa_primitive id;
    std::uint16_t off, len;    // source field (side A)
    std::uint16_t off_b;       // sum_*: the destination field (side B)
    std::uint16_t mask, mask_b; // nets: prefix length fields
    std::uint16_t row_off;     // where the row shows the value
    bool net;
    bool address;              // needs ip_version to print
};

const FieldSpec kFields[] = {
    {FA_P_SRC_MAC, FA_OFF(src_mac), FA_LEN(src_mac), 0, 0, 0, FA_OFF(src_mac), false, false},
    {FA_P_DST_MAC, FA_OFF(dst_mac), FA_LEN(dst_mac), 0, 0, 0, FA_OFF(dst_mac), false, false},
    {FA_P_VLAN, FA_OFF(vlan), FA_LEN(vlan), 0, 0, 0, FA_OFF(vlan), false, false},
    {FA_P_ETYPE, FA_OFF(ether_type), FA_LEN(ether_type), 0, 0, 0, FA_OFF(ether_type), false, false},
    {FA_P_SRC_HOST, FA_OFF(src_ip), 16, 0, 0, 0, FA_OFF(src_ip), false, true},
    {FA_P_DST_HOST, FA_OFF(dst_ip), 16, 0, 0, 0, FA_OFF(dst_ip), false, true},
    {FA_P_SRC_NET, FA_OFF(src_ip), 16, 0, FA_OFF(src_mask), 0, FA_OFF(src_net), true, true},
    {FA_P_DST_NET, FA_OFF(dst_ip), 16, 0, FA_OFF(dst_mask), 0, FA_OFF(dst_net), true, true},
    {FA_P_SRC_MASK, FA_OFF(src_mask), 1, 0, 0, 0, FA_OFF(src_mask), false, false},
    {FA_P_DST_MASK, FA_OFF(dst_mask), 1, 0, 0, 0, FA_OFF(dst_mask), false, false},
    {FA_P_SRC_AS, FA_OFF(src_as), 4, 0, 0, 0, FA_OFF(src_as), false, false},
    {FA_P_DST_AS, FA_OFF(dst_as), 4, 0, 0, 0, FA_OFF(dst_as), false, false},
    {FA_P_PEER_SRC_AS, FA_OFF(peer_src_as), 4, 0, 0, 0, FA_OFF(peer_src_as), false, false},
    {FA_P_PEER_DST_AS, FA_OFF(peer_dst_as), 4, 0, 0, 0, FA_OFF(peer_dst_as), false, false},
    {FA_P_SRC_PORT, FA_OFF(src_port), 2, 0, 0, 0, FA_OFF(src_port), false, false},
    {FA_P_DST_PORT, FA_OFF(dst_port), 2, 0, 0, 0, FA_OFF(dst_port), false, false},
    {FA_P_TOS, FA_OFF(tos), 1, 0, 0, 0, FA_OFF(tos), false, false},
    {FA_P_PROTO, FA_OFF(proto), 1, 0, 0, 0, FA_OFF(proto), false, false},
    {FA_P_TAG, FA_OFF(tag), 8, 0, 0, 0, FA_OFF(tag), false, false},
    {FA_P_TAG2, FA_OFF(tag2), 8, 0, 0, 0, FA_OFF(tag2), false, false},
    {FA_P_LABEL, FA_OFF(label_id), 4, 0, 0, 0, FA_OFF(label_id), false, false},
    {FA_P_CLASS, FA_OFF(class_id), 4, 0, 0, 0, FA_OFF(class_id), false, false},
    {FA_P_IN_IFACE, FA_OFF(in_iface), 4, 0, 0, 0, FA_OFF(in_iface), false, false},
    {FA_P_OUT_IFACE, FA_OFF(out_iface), 4, 0, 0, 0, FA_OFF(out_iface), false, false},
    {FA_P_PEER_SRC_IP, FA_OFF(peer_src_ip), 16, 0, 0, 0, FA_OFF(peer_src_ip), false, false},
    {FA_P_PEER_DST_IP, FA_OFF(nexthop), 16, 0, 0, 0, FA_OFF(nexthop), false, false},
    {FA_P_SAMPLING_RATE, FA_OFF(sampling_rate), 4, 0, 0, 0, FA_OFF(sampling_rate), false, false},
    // sum_*: side A is the source field, side B the destination one; rows show the source field.
    {FA_P_SUM_HOST, FA_OFF(src_ip), 16, FA_OFF(dst_ip), 0, 0, FA_OFF(src_ip), false, true},
    {FA_P_SUM_NET, FA_OFF(src_ip), 16, FA_OFF(dst_ip), FA_OFF(src_mask), FA_OFF(dst_mask), FA_OFF(src_net), true, true},
    {FA_P_SUM_AS, FA_OFF(src_as), 4, FA_OFF(dst_as), 0, 0, FA_OFF(src_as), false, false},
    {FA_P_SUM_PORT, FA_OFF(src_port), 2, FA_OFF(dst_port), 0, 0, FA_OFF(src_port), false, false},
    {FA_P_SUM_MAC, FA_OFF(src_mac), 6, FA_OFF(dst_mac), 0, 0, FA_OFF(src_mac), false, false},
};

bool is_sum(fa_primitive p) {
    return p == FA_P_SUM_HOST || p == FA_P_SUM_NET || p == FA_P_SUM_AS || p == FA_P_SUM_PORT || p == FA_P_SUM_MAC;
}

// pmacct primitives that flowacct does not aggregate on yet: a clear error, not a silent ignore.
const char* const kPmacctOnly[] = {
    "in_vlan", "out_vlan", "in_cvlan", "out_cvlan", "cos", "flow_label", "fwd_status", "std_comm", "ext_comm",
    "lrg_comm", "as_path", "local_pref", "med", "dst_roa", "src_std_comm", "src_ext_comm", "src_lrg_comm",
    "src_as_path", "src_local_pref", "src_med", "src_roa", "mpls_vpn_rd", "mpls_pw_id", "mpls_label_top",
    "mpls_label_bottom", "mpls_label_stack", "sampling_direction", "src_host_country", "dst_host_country",
    "src_host_pocode", "dst_host_pocode", "src_host_coords", "dst_host_coords", "nat_event", "fw_event",
    "post_nat_src_host", "post_nat_dst_host", "post_nat_src_port", "post_nat_dst_port", "tunnel_src_mac",
    "tunnel_dst_mac", "tunnel_src_host", "tunnel_dst_host", "tunnel_proto", "tunnel_tos", "tunnel_src_port",
    "tunnel_dst_port", "tunnel_tcpflags", "tunnel_flow_label", "vxlan", "nvgre", "timestamp_start",
    "timestamp_end", "timestamp_arrival", "timestamp_export", "export_proto_seqno", "export_proto_version",
    "export_proto_sysid", "none", "class_frame", "src_as_path"};

bool is_host_address(const FieldSpec& f) { return f.address && !f.net; }

std::uint64_t low_bytes(std::uint32_t n) { return n >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (n * 8)) - 1; }

// The word program of one side: each field's bytes cut at word boundaries into pieces, read
// with 8-byte loads inside the record (a field near its end is read from 8 bytes before). A
// piece that continues the previous one, in the record and in the word, widens it instead.
WordProgram word_program(const std::vector<PackOp>& ops, int version_off, std::uint32_t words) {
    struct Span {
        std::uint32_t key_off, len, rec_off;
    };
    std::vector<Span> spans; // in the key's order
    for (const PackOp& op : ops) spans.push_back({op.key_off, op.len, op.rec_off});
    if (version_off >= 0) spans.push_back({static_cast<std::uint32_t>(version_off), 1, FA_OFF(ip_version)});
    WordProgram prog;
    for (std::uint32_t w = 0; w < words; ++w) {
        const std::uint32_t lo = w * 8, hi = lo + 8;
        const std::size_t first = prog.pieces.size();
        std::uint32_t last_src = 0, last_len = 0, last_at = 0; // the word's last piece: record offset, bytes, byte in the word
        for (const Span& s : spans) {
            const std::uint32_t from = std::max(lo, s.key_off), to = std::min(hi, s.key_off + s.len);
            if (from >= to) continue;
            const std::uint32_t n = to - from;
            const std::uint32_t src = s.rec_off + (from - s.key_off);
            const std::uint32_t at = from - lo;
            if (prog.pieces.size() > first && prog.pieces.back().rshift == 0 && last_src + last_len == src &&
                last_at + last_len == at) {
                last_len += n; // within the word, so at most 8 bytes from last_src, inside the record
                prog.pieces.back().mask = low_bytes(last_len);
                continue;
            }
            const std::uint32_t load = std::min<std::uint32_t>(src, sizeof(fa_record) - 8);
            prog.pieces.push_back(WordPiece{static_cast<std::uint16_t>(load), static_cast<std::uint8_t>((src - load) * 8),
                                            static_cast<std::uint8_t>(at * 8), low_bytes(n)});
            last_src = src;
            last_len = n;
            last_at = at;
        }
        prog.ends.push_back(static_cast<std::uint16_t>(prog.pieces.size()));
    }
    return prog;
}

// The key form of the `chosen` primitives; `compact`: host addresses as their 4 IPv4 bytes.
KeyForm make_form(const std::set<fa_primitive>& chosen, bool compact, bool with_bin) {
    KeyForm form;
    std::uint32_t off = 0;
    bool address = false, net = false;
    // Widest fields first keeps them aligned.
    for (std::uint16_t width : {16, 8, 6, 4, 2, 1}) {
        // Fields of one width in the record's order: neighbours in the record are neighbours in
        // the key, and their word program reads them as one piece (ports, MACs, proto and ToS).
        std::vector<const FieldSpec*> same;
        for (const FieldSpec& f : kFields)
            if (chosen.count(f.id) && (compact && is_host_address(f) ? 4 : f.len) == width) same.push_back(&f);
        const auto source = [&](const FieldSpec* f) { return f->off + (compact && is_host_address(*f) ? 12 : 0); };
        std::stable_sort(same.begin(), same.end(), [&](const FieldSpec* a, const FieldSpec* b) { return source(a) < source(b); });
        for (const FieldSpec* fp : same) {
            const FieldSpec& f = *fp;
            const bool v4_part = compact && is_host_address(f);
            const std::uint16_t len = width;
            const std::uint16_t skip = v4_part ? 12 : 0;
            const auto key_off = static_cast<std::uint16_t>(off);
            form.side_a.push_back(PackOp{static_cast<std::uint16_t>(f.off + skip), key_off, len, f.mask, f.row_off, f.net, v4_part});
            if (is_sum(f.id))
                form.side_b.push_back(
                    PackOp{static_cast<std::uint16_t>(f.off_b + skip), key_off, len, f.mask_b, f.row_off, f.net, v4_part});
            address = address || f.address;
            net = net || f.net;
            off += len;
        }
    }
    const std::uint32_t covered = off; // bytes the copies write
    if (address) form.version_off = static_cast<int>(off++);
    off = (off + 7) & ~7u;
    std::uint32_t end = off;             // the key before its bin
    if (end == 0 && !with_bin) end = 8;  // no primitive at all: one zero word
    // The bytes no copy writes (the version byte's word, padding) lie in one word; a network
    // writes only its prefix, so with one the whole key is zeroed first.
    form.zero_all = net;
    if (!net && covered < end) form.pad_word = static_cast<int>(covered & ~7u);
    if (with_bin) {
        form.bin_off = off;
        off += 8;
    }
    form.key_size = off == 0 ? 8 : off;
    // Key bytes are the words' bytes in memory order: little-endian only.
    if (!net && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        const std::uint32_t words = (with_bin ? form.bin_off : form.key_size) / 8;
        form.words_a = word_program(form.side_a, form.version_off, words);
        if (!form.side_b.empty()) form.words_b = word_program(form.side_b, form.version_off, words);
        form.by_words = true;
    }
    return form;
}

} // namespace

KeyLayout::KeyLayout(const std::vector<std::string>& names, bool with_bin) {
    std::set<fa_primitive> chosen;
    bool sum = false;
    for (const auto& raw : names) {
        std::string name = raw;
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name == "flows") { // counters are always kept; listing flows shows them
            primitives_ |= 1ull << FA_P_FLOWS;
            continue;
        }
        if (name == "tcpflags") {
            tcp_flags_ = true;
            primitives_ |= 1ull << FA_P_TCPFLAGS;
            continue;
        }
        const sdk::PrimitiveInfo* info = sdk::find_primitive(name);
        if (!info) {
            for (const char* p : kPmacctOnly)
                if (name == p)
                    throw sdk::Error("primitive '" + name + "' is a pmacct primitive flowacct does not support yet",
                                     "aggregate");
            std::string list;
            for (const auto& p : sdk::kPrimitives) list += std::string(list.empty() ? "" : ", ") + p.name;
            throw sdk::Error("unknown primitive '" + name + "'; expected a comma list of: " + list + ", flows",
                             "aggregate");
        }
        if (is_sum(info->id)) sum = true;
        chosen.insert(info->id);
    }
    if (sum && chosen.size() > 1)
        throw sdk::Error("a sum_* primitive cannot be combined with other primitives (as in pmacct)", "aggregate");

    for (const FieldSpec& f : kFields) {
        if (!chosen.count(f.id)) continue;
        primitives_ |= 1ull << f.id;
        if (is_host_address(f)) {
            has_compact_ = true;
            v4_checks_a_.push_back(f.off);
            if (is_sum(f.id)) v4_checks_b_.push_back(f.off_b);
        }
    }
    full_ = make_form(chosen, false, with_bin);
    if (has_compact_) compact_ = make_form(chosen, true, with_bin);
}

} // namespace flowacct::aggregator
