// SPDX-License-Identifier: GPL-2.0-or-later
// Aggregator "hash": how a pipeline's primitives pack into a fixed-size key, and back into a row.
#pragma once

#include <cstddef>     // offsetof
#include <cstdint>     // std::uint8_t, std::uint32_t
#include <cstring>     // std::memcpy
#include <string>      // std::string
#include <vector>      // std::vector

#include <flowacct/abi.h> // fa_record, fa_primitive

namespace flowacct::aggregator {

/// One step of packing: copy `len` bytes at `rec_off` of the record to `key_off` of the key; for
/// a network, mask the 16-byte address with the prefix length stored at `mask_off`.
struct PackOp {
    std::uint16_t rec_off;
    std::uint16_t key_off;
    std::uint16_t len;
    std::uint16_t mask_off;  // only for nets
    std::uint16_t row_off;   // where unpacking writes in the row's record
    bool is_net;
};

/// The key of one pipeline: fixed size (a multiple of 8), only the chosen primitives.
class KeyLayout {
public:
    /// Parses an `aggregate` list. Throws sdk::Error with a clear message on an unknown primitive
    /// or an invalid combination (sum_* with anything else).
    explicit KeyLayout(const std::vector<std::string>& primitives, bool with_bin);

    std::uint32_t key_size() const { return key_size_; }
    std::uint64_t primitives() const { return primitives_; }
    bool or_tcp_flags() const { return tcp_flags_; }
    /// sum_* aggregation: each record is packed twice (source side, destination side).
    bool two_sided() const { return !side_b_.empty(); }
    bool with_bin() const { return with_bin_; }
    std::uint32_t bin_offset() const { return bin_off_; }

    /// Packs side A (or B for the destination half of sum_*) of `r` into `key` (key_size bytes).
    void pack(const fa_record& r, std::uint8_t* key, bool side_b = false) const {
        std::memset(key, 0, key_size_);
        const auto& ops = side_b ? side_b_ : side_a_;
        const auto* rb = reinterpret_cast<const std::uint8_t*>(&r);
        for (const PackOp& op : ops) {
            if (op.is_net) {
                std::uint8_t len = rb[op.mask_off];
                mask_copy(key + op.key_off, rb + op.rec_off, len, is_v4_mapped(rb + op.rec_off));
            } else {
                copy_small(key + op.key_off, rb + op.rec_off, op.len);
            }
        }
        if (version_off_ >= 0) key[version_off_] = r.ip_version;
    }

    /// Writes the key's primitives back into a row record.
    void unpack(const std::uint8_t* key, fa_record& r) const {
        auto* rb = reinterpret_cast<std::uint8_t*>(&r);
        for (const PackOp& op : side_a_) std::memcpy(rb + op.row_off, key + op.key_off, op.len);
        if (version_off_ >= 0) r.ip_version = key[version_off_];
    }

private:
    static bool is_v4_mapped(const std::uint8_t* a) {
        static const std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return std::memcmp(a, prefix, 12) == 0;
    }
    static void copy_small(std::uint8_t* dst, const std::uint8_t* src, std::uint16_t len) {
        switch (len) {
        case 1: *dst = *src; break;
        case 2: std::memcpy(dst, src, 2); break;
        case 4: std::memcpy(dst, src, 4); break;
        case 6: std::memcpy(dst, src, 6); break;
        case 8: std::memcpy(dst, src, 8); break;
        case 16: std::memcpy(dst, src, 16); break;
        default: std::memcpy(dst, src, len);
        }
    }
    // An IPv4 prefix length applies to the last 32 bits of the mapped address.
    static void mask_copy(std::uint8_t* dst, const std::uint8_t* src, std::uint8_t prefix, bool v4) {
        if (prefix == 0) return; // unknown mask: the network is 0.0.0.0 / ::, as pmacct prints it
        unsigned bits = v4 ? 96u + (prefix > 32 ? 32u : prefix) : (prefix > 128 ? 128u : prefix);
        if (v4) std::memcpy(dst, src, 12);
        for (unsigned i = v4 ? 12 : 0; i < 16; ++i) {
            unsigned have = bits > i * 8 ? bits - i * 8 : 0;
            if (have >= 8) dst[i] = src[i];
            else if (have > 0) dst[i] = static_cast<std::uint8_t>(src[i] & (0xff << (8 - have)));
            else break;
        }
    }

    std::vector<PackOp> side_a_, side_b_;
    std::uint32_t key_size_ = 0;
    std::uint64_t primitives_ = 0;
    int version_off_ = -1;
    std::uint32_t bin_off_ = 0;
    bool with_bin_ = false;
    bool tcp_flags_ = false;
};

} // namespace flowacct::aggregator
