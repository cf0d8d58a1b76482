// SPDX-License-Identifier: GPL-2.0-or-later
// Longest-prefix-match tables: IPv4 as a 16-8-8 multibit trie, IPv6 as a range search.
//
// Both map an address to the `value` of its longest matching prefix (0: no prefix matches).
// Tables are built once from a prefix list and are then read-only: lookups may run on any
// number of threads. Rebuilding means building a new table and swapping it in.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint32_t, std::uint8_t
#include <vector>   // std::vector

namespace flowacct::lpm {

using u128 = unsigned __int128;

/// An IPv4 prefix: `addr` in host byte order (bits past `len` are ignored), `len` 0..32,
/// `value` 1..2^31-1 (what lookup() returns for addresses it covers).
struct Prefix4 {
    std::uint32_t addr;
    std::uint8_t len;
    std::uint32_t value;
};

/// An IPv6 prefix: `addr` as a big-endian 128-bit number, `len` 0..128, `value` != 0.
struct Prefix6 {
    u128 addr;
    std::uint8_t len;
    std::uint32_t value;
};

/// IPv4: a first level of 65536 entries indexed by the top 16 bits, then 256-entry chunks
/// for bits 16..23 and 24..31, made only where a prefix longer than /16 (/24) exists.
/// Prefixes are expanded into the entries they cover, so a lookup is at most three reads.
class Ipv4Table {
public:
    Ipv4Table();

    /// Replaces the content. When two prefixes are equal, the later one in `prefixes` wins.
    /// Throws std::length_error past 2^31 values or 2^23 chunks.
    void build(std::vector<Prefix4> prefixes);

    /// The value of the longest prefix covering `addr` (host byte order), 0 if none.
    std::uint32_t lookup(std::uint32_t addr) const {
        std::uint32_t e = level1_[addr >> 16];
        if (!(e & kChunk)) return e;
        e = chunks_[((e & ~kChunk) << 8) | ((addr >> 8) & 0xff)];
        if (!(e & kChunk)) return e;
        return chunks_[((e & ~kChunk) << 8) | (addr & 0xff)];
    }

    /// Looks up `n` addresses at once (out[i] for addrs[i]); prefetches so that independent
    /// misses overlap. Same answers as lookup().
    void lookup_batch(const std::uint32_t* addrs, std::uint32_t* out, std::size_t n) const;

    std::size_t memory_bytes() const { return (level1_.size() + chunks_.size()) * sizeof(std::uint32_t); }

private:
    static constexpr std::uint32_t kChunk = 1u << 31;
    std::uint32_t new_chunk(std::uint32_t fill);
    std::vector<std::uint32_t> level1_;
    std::vector<std::uint32_t> chunks_;
};

/// IPv6: the prefixes are flattened into disjoint address ranges, each holding the value of
/// the longest prefix covering it; an index on the top 20 bits (4 MB) narrows the binary
/// search to the ranges starting in that /20.
class Ipv6Table {
public:
    Ipv6Table();

    /// Replaces the content. When two prefixes are equal, the later one in `prefixes` wins.
    void build(std::vector<Prefix6> prefixes);

    /// The value of the longest prefix covering `addr`, 0 if none.
    std::uint32_t lookup(u128 addr) const;

    /// `addr` as 16 bytes in network order.
    std::uint32_t lookup(const std::uint8_t* addr16) const { return lookup(load(addr16)); }

    static u128 load(const std::uint8_t* addr16) {
        u128 v = 0;
        for (int i = 0; i < 16; ++i) v = (v << 8) | addr16[i];
        return v;
    }

    std::size_t ranges() const { return starts_.size(); }
    std::size_t memory_bytes() const {
        return starts_.size() * sizeof(u128) + values_.size() * 4 + index_.size() * 4;
    }

private:
    std::vector<u128> starts_;          // ascending; starts_[0] == 0
    std::vector<std::uint32_t> values_; // values_[i] holds from starts_[i] to starts_[i+1]-1
    static constexpr unsigned kIndexBits = 20;
    std::vector<std::uint32_t> index_;  // 2^20 + 1 entries: the range holding (v << 108)
};

} // namespace flowacct::lpm
