// SPDX-License-Identifier: GPL-2.0-or-later
// Longest-prefix-match tables: IPv4 as a multibit trie (16-8-8 for small tables, DIR-24-8 for
// full routing tables), IPv6 as a range search under a 16-8-8-... index.
//
// Both map an address to the `value` of its longest matching prefix (0: no prefix matches).
// Tables are built once from a prefix list and are then read-only: lookups may run on any
// number of threads. Rebuilding means building a new table and swapping it in.
//
// Memory: an IPv4 table with prefixes longer than /16 in more than kDir24Threshold distinct
// /16s (a full Internet table has ~40K) uses a 2^24-entry first level: 64 MB, plus 1 KB per
// /24 holding longer prefixes. Smaller tables stay a 256 KB first level plus 1 KB per /16 (and
// per /24) holding longer prefixes. Arrays of 2 MB and more are put on transparent huge pages
// (madvise), so a random lookup costs one cache miss and no TLB miss.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint32_t, std::uint8_t
#include <cstring>  // std::memcpy
#include <vector>   // std::vector

#include "huge_pages.hpp" // memory::HugeVector

namespace flowacct::lpm {

using u128 = unsigned __int128;

/// The tables' big arrays: on transparent huge pages from 2 MB up.
using memory::HugeVector;

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

/// IPv4: a first level indexed by the top 16 bits (small tables) or 24 bits (DIR-24-8, for
/// tables with prefixes longer than /16 in more than kDir24Threshold /16s), then 256-entry
/// chunks for the next 8 bits, made only where a longer prefix exists. Prefixes are expanded
/// into the entries they cover, so a lookup is at most three reads (16-8-8) or two (24-8),
/// and one for every address whose longest prefix is /24 or shorter in DIR-24-8.
class Ipv4Table {
public:
    static constexpr std::size_t kDir24Threshold = 8192;

    Ipv4Table();

    /// Replaces the content. When two prefixes are equal, the later one in `prefixes` wins.
    /// Throws std::length_error past 2^31 values or 2^23 chunks, std::bad_alloc.
    void build(std::vector<Prefix4> prefixes);

    /// The value of the longest prefix covering `addr` (host byte order), 0 if none.
    std::uint32_t lookup(std::uint32_t addr) const {
        std::uint32_t e = level1_[addr >> shift_];
        if (!(e & kChunk)) return e;
        if (shift_ == 16) {
            e = chunks_[((e & ~kChunk) << 8) | ((addr >> 8) & 0xff)];
            if (!(e & kChunk)) return e;
        }
        return chunks_[((e & ~kChunk) << 8) | (addr & 0xff)];
    }

    /// Looks up `n` addresses at once (out[i] for addrs[i]); prefetches so that independent
    /// misses overlap. Same answers as lookup().
    void lookup_batch(const std::uint32_t* addrs, std::uint32_t* out, std::size_t n) const;

    /// 24 for DIR-24-8, 16 for the small layout.
    unsigned first_level_bits() const { return 32 - shift_; }
    std::size_t memory_bytes() const { return (level1_.size() + chunks_.size()) * sizeof(std::uint32_t); }

private:
    static constexpr std::uint32_t kChunk = 1u << 31;
    std::uint32_t new_chunk(std::uint32_t fill);
    unsigned shift_ = 16; // level-1 index: addr >> shift_ (16: 16-8-8, 8: DIR-24-8)
    HugeVector<std::uint32_t> level1_;
    HugeVector<std::uint32_t> chunks_;
};

/// IPv6: the prefixes are flattened into disjoint address ranges, each holding the value of
/// the longest prefix covering it. A first level on the top 16 bits and 256-entry nodes for
/// each further 8 bits, made where a block holds more than kRun range starts, lead to the
/// range holding the block's first address; a short forward scan from there finishes. A block
/// within one range holds its value instead, so most lookups end at the first or second
/// level. Nodes are made breadth first and capped at ranges/8 + 64 (1 KB each), so a dense
/// cluster of long prefixes costs a longer (galloping) search rather than memory. Ranges take
/// 32 bytes each.
class Ipv6Table {
public:
    static constexpr std::size_t kRun = 3;

    Ipv6Table();

    /// Replaces the content. When two prefixes are equal, the later one in `prefixes` wins.
    /// Throws std::length_error for value 0 or past 2^30 ranges, std::bad_alloc.
    void build(std::vector<Prefix6> prefixes);

    /// The value of the longest prefix covering `addr`, 0 if none.
    std::uint32_t lookup(u128 addr) const {
        unsigned shift = shift_;
        std::uint32_t e = level1_[static_cast<std::uint32_t>(addr >> shift)];
        while (e & kNode) {
            shift -= 8;
            e = nodes_[(static_cast<std::size_t>(e & ~kNode) << 8) | (static_cast<std::uint32_t>(addr >> shift) & 0xff)];
        }
        if (e & kValue) return e & ~kValue;
        return finish(e, addr);
    }

    /// `addr` as 16 bytes in network order.
    std::uint32_t lookup(const std::uint8_t* addr16) const { return lookup(load(addr16)); }

    /// Looks up `n` addresses at once (out[i] for addrs[i]), several in flight so that their
    /// misses overlap. Same answers as lookup().
    void lookup_batch(const u128* addrs, std::uint32_t* out, std::size_t n) const;

    static u128 load(const std::uint8_t* addr16) {
        std::uint64_t hi, lo;
        std::memcpy(&hi, addr16, 8);
        std::memcpy(&lo, addr16 + 8, 8);
        return (static_cast<u128>(__builtin_bswap64(hi)) << 64) | __builtin_bswap64(lo);
    }

    std::size_t ranges() const { return ranges_.size(); }
    std::size_t nodes() const { return nodes_.size() / 256; }
    std::size_t memory_bytes() const {
        return ranges_.size() * sizeof(Range) + (level1_.size() + nodes_.size()) * sizeof(std::uint32_t);
    }

private:
    struct Range {
        u128 start;
        std::uint32_t value; // holds from start to the next range's start - 1
    };
    static constexpr std::uint32_t kNode = 1u << 31;
    static constexpr std::uint32_t kValue = 1u << 30; // with a value below 2^30: the block's value

    // The value for `addr`, given `i`, a range starting at or before it in its block.
    std::uint32_t finish(std::uint32_t i, u128 addr) const {
        const Range* r = ranges_.data();
        const std::size_t n = ranges_.size();
        if (i + 1 >= n || r[i + 1].start > addr) return r[i].value;
        return gallop(i + 1, addr);
    }
    std::uint32_t gallop(std::size_t lo, u128 addr) const;

    unsigned shift_ = 112;              // level-1 index: addr >> shift_ (16 bits)
    HugeVector<std::uint32_t> level1_; // a node (kNode | index), a value (kValue | v) or a range index
    HugeVector<std::uint32_t> nodes_;  // 256 entries each, the same kinds
    HugeVector<Range> ranges_;         // ascending starts; ranges_[0].start == 0
};

} // namespace flowacct::lpm
