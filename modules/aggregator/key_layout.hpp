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
/// a network, mask the 16-byte address with the prefix length stored at `mask_off`; for a host
/// address in a compact key, copy only its IPv4 part (the last 4 bytes of the mapped address).
struct PackOp {
    std::uint16_t rec_off;
    std::uint16_t key_off;
    std::uint16_t len;
    std::uint16_t mask_off;  // only for nets
    std::uint16_t row_off;   // where unpacking writes in the row's record
    bool is_net;
    bool v4_part;            // compact keys: 4 bytes of a v4-mapped host address
};

/// One piece of a key word: the record's bytes at `src`, shifted right by `rshift` bits and
/// masked (the field's bytes in the word's low bits), then shifted left by `lshift` bits (their
/// place in the key word). Loads are 8 bytes, so a word is built in a register and stored once.
struct WordPiece {
    std::uint16_t src;
    std::uint8_t rshift;
    std::uint8_t lshift;
    std::uint64_t mask;
};

/// A side's packing as whole words: word w of the key is the OR of pieces[ends[w-1] .. ends[w]).
struct WordProgram {
    std::vector<WordPiece> pieces;
    std::vector<std::uint16_t> ends;
};

/// Where one key form puts the primitives: fixed size (a multiple of 8).
struct KeyForm {
    std::vector<PackOp> side_a, side_b;
    // The same packing as word programs, for forms without networks (a network's prefix masks
    // bits by the record's own prefix length); empty otherwise, and pack() copies field by field.
    WordProgram words_a, words_b;
    bool by_words = false;
    std::uint32_t key_size = 0;
    int version_off = -1;
    std::uint32_t bin_off = 0;
    // The word packing zeroes before the copies (the version byte and padding; -1: none), or
    // every word first when a network (which writes only its prefix) is in the key.
    int pad_word = -1;
    bool zero_all = false;
};

/// The key of one pipeline: only the chosen primitives. Two forms when host addresses are among
/// them: the full one (addresses as 16 bytes) and a compact one for records whose host addresses
/// are all IPv4 (4 bytes each), which most traffic is: a smaller key hashes, compares and caches
/// better. Both unpack to the same row.
class KeyLayout {
public:
    /// Parses an `aggregate` list. Throws sdk::Error with a clear message on an unknown primitive
    /// or an invalid combination (sum_* with anything else).
    explicit KeyLayout(const std::vector<std::string>& primitives, bool with_bin);

    const KeyForm& full() const { return full_; }
    const KeyForm& compact() const { return compact_; }
    /// Whether a compact form exists (a host address is among the primitives).
    bool has_compact() const { return has_compact_; }
    std::uint32_t key_size() const { return full_.key_size; }
    std::uint64_t primitives() const { return primitives_; }
    bool or_tcp_flags() const { return tcp_flags_; }
    /// sum_* aggregation: each record is packed twice (source side, destination side).
    bool two_sided() const { return !full_.side_b.empty(); }

    /// Whether side A (or B) of `r` packs into the compact form: its host addresses are v4-mapped.
    bool fits_compact(const fa_record& r, bool side_b = false) const {
        const auto* rb = reinterpret_cast<const std::uint8_t*>(&r);
        for (std::uint16_t off : side_b ? v4_checks_b_ : v4_checks_a_)
            if (!is_v4_mapped(rb + off)) return false;
        return true;
    }

    /// Packs side A (or B for the destination half of sum_*) of `r` into `key` (form.key_size
    /// bytes). The compact form only for records fits_compact() accepts.
    static void pack(const KeyForm& form, const fa_record& r, std::uint8_t* key, bool side_b = false) {
        if (form.by_words) {
            pack_words(side_b ? form.words_b : form.words_a, r, key);
            return;
        }
        pack_fields(form, r, key, side_b);
    }

    /// pack() field by field, the way every form can be packed (and the reference of the word
    /// programs' tests).
    static void pack_fields(const KeyForm& form, const fa_record& r, std::uint8_t* key, bool side_b = false) {
        if (form.zero_all) std::memset(key, 0, form.key_size);
        else if (form.pad_word >= 0) std::memset(key + form.pad_word, 0, 8);
        const auto& ops = side_b ? form.side_b : form.side_a;
        const auto* rb = reinterpret_cast<const std::uint8_t*>(&r);
        for (const PackOp& op : ops) {
            if (op.is_net) {
                std::uint8_t len = rb[op.mask_off];
                mask_copy(key + op.key_off, rb + op.rec_off, len, is_v4_mapped(rb + op.rec_off));
            } else {
                copy_small(key + op.key_off, rb + op.rec_off, op.len);
            }
        }
        if (form.version_off >= 0) key[form.version_off] = r.ip_version;
    }

    /// Writes the key's primitives back into a row record.
    static void unpack(const KeyForm& form, const std::uint8_t* key, fa_record& r) {
        static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        auto* rb = reinterpret_cast<std::uint8_t*>(&r);
        for (const PackOp& op : form.side_a) {
            if (op.v4_part) {
                std::memcpy(rb + op.row_off, mapped, 12);
                std::memcpy(rb + op.row_off + 12, key + op.key_off, 4);
            } else {
                std::memcpy(rb + op.row_off, key + op.key_off, op.len);
            }
        }
        if (form.version_off >= 0) r.ip_version = key[form.version_off];
    }

private:
    // Every key word is built in a register and written with one 8-byte store: the hash reads
    // whole words back, which a store the same size forwards (bytes written field by field make
    // it wait for them to reach the cache), and no branch per field length.
    static void pack_words(const WordProgram& prog, const fa_record& r, std::uint8_t* key) {
        const auto* rb = reinterpret_cast<const std::uint8_t*>(&r);
        const WordPiece* piece = prog.pieces.data();
        const std::uint16_t* end = prog.ends.data();
        const std::size_t words = prog.ends.size();
        std::uint32_t i = 0;
        for (std::size_t w = 0; w < words; ++w) {
            std::uint64_t v = 0;
            for (const std::uint32_t stop = end[w]; i < stop; ++i) {
                std::uint64_t x;
                std::memcpy(&x, rb + piece[i].src, 8);
                v |= ((x >> piece[i].rshift) & piece[i].mask) << piece[i].lshift;
            }
            std::memcpy(key + w * 8, &v, 8);
        }
    }

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

    KeyForm full_, compact_;
    bool has_compact_ = false;
    std::vector<std::uint16_t> v4_checks_a_, v4_checks_b_; // record offsets of host addresses
    std::uint64_t primitives_ = 0;
    bool tcp_flags_ = false;
};

} // namespace flowacct::aggregator
