// SPDX-License-Identifier: GPL-2.0-or-later
// Longest-prefix-match tables: construction and batch lookup.
#include "lpm.hpp"

#include <algorithm>  // std::fill_n, std::min, std::stable_sort
#include <stdexcept>  // std::length_error

namespace flowacct::lpm {

namespace {

std::uint32_t mask4(std::uint8_t len) { return len == 0 ? 0 : ~0u << (32 - len); }
u128 mask6(std::uint8_t len) { return len == 0 ? 0 : ~u128{0} << (128 - len); }

} // namespace

// ---- IPv4 ---------------------------------------------------------------

Ipv4Table::Ipv4Table() : level1_(65536, 0) {}

std::uint32_t Ipv4Table::new_chunk(std::uint32_t fill) {
    std::size_t index = chunks_.size() / 256;
    if (index >= (1u << 23)) throw std::length_error("IPv4 table: too many chunks");
    chunks_.resize(chunks_.size() + 256, fill);
    return static_cast<std::uint32_t>(index);
}

void Ipv4Table::build(std::vector<Prefix4> prefixes) {
    // Shorter prefixes first (a stable counting sort by length): a longer one then overwrites
    // the part of a shorter one it covers, and a chunk is only ever created below an entry that
    // already holds its final cover.
    std::size_t at[34] = {};
    for (Prefix4& p : prefixes) {
        if (p.value == 0 || p.value >= kChunk) throw std::length_error("IPv4 table: value out of range");
        if (p.len > 32) p.len = 32;
        p.addr &= mask4(p.len);
        ++at[p.len + 1];
    }
    for (int len = 1; len < 34; ++len) at[len] += at[len - 1];
    std::vector<Prefix4> sorted(prefixes.size());
    for (const Prefix4& p : prefixes) sorted[at[p.len]++] = p;
    prefixes.clear();
    prefixes.shrink_to_fit();

    // DIR-24-8 once the 16-8-8 layout would hold many second-level chunks anyway.
    std::vector<std::uint64_t> seen(65536 / 64, 0);
    std::size_t distinct16 = 0, longer24 = 0;
    for (const Prefix4& p : sorted) {
        if (p.len <= 16) continue;
        std::uint32_t b = p.addr >> 16;
        if (!(seen[b / 64] >> (b % 64) & 1)) {
            seen[b / 64] |= std::uint64_t{1} << (b % 64);
            ++distinct16;
        }
        longer24 += p.len > 24;
    }
    shift_ = distinct16 > kDir24Threshold ? 8 : 16;
    const unsigned top = 32 - shift_;
    // A table built again frees its old arrays before it fills the new ones.
    HugeVector<std::uint32_t>().swap(level1_);
    HugeVector<std::uint32_t>().swap(chunks_);
    level1_.assign(std::size_t{1} << top, 0);
    chunks_.reserve(((shift_ == 16 ? distinct16 : 0) + longer24) * 256);

    for (const Prefix4& p : sorted) {
        const std::uint8_t len = p.len;
        const std::uint32_t a = p.addr;
        if (len <= top) {
            std::fill_n(level1_.begin() + (a >> shift_), std::size_t{1} << (top - len), p.value);
            continue;
        }
        if (!(level1_[a >> shift_] & kChunk)) {
            std::uint32_t c = new_chunk(level1_[a >> shift_]);
            level1_[a >> shift_] = kChunk | c;
        }
        const std::size_t base2 = static_cast<std::size_t>(level1_[a >> shift_] & ~kChunk) << 8;
        if (shift_ == 8) {
            std::fill_n(chunks_.begin() + base2 + (a & 0xff), std::size_t{1} << (32 - len), p.value);
            continue;
        }
        if (len <= 24) {
            std::fill_n(chunks_.begin() + base2 + ((a >> 8) & 0xff), std::size_t{1} << (24 - len), p.value);
            continue;
        }
        const std::size_t slot2 = base2 + ((a >> 8) & 0xff);
        if (!(chunks_[slot2] & kChunk)) {
            std::uint32_t c = new_chunk(chunks_[slot2]); // may reallocate: index again below
            chunks_[slot2] = kChunk | c;
        }
        const std::size_t base3 = static_cast<std::size_t>(chunks_[slot2] & ~kChunk) << 8;
        std::fill_n(chunks_.begin() + base3 + (a & 0xff), std::size_t{1} << (32 - len), p.value);
    }
    chunks_.shrink_to_fit();
}

void Ipv4Table::lookup_batch(const std::uint32_t* addrs, std::uint32_t* out, std::size_t n) const {
    const std::uint32_t* l1 = level1_.data();
    const std::uint32_t* chunks = chunks_.data();
    if (shift_ == 8) {
        // DIR-24-8: prefetch the entry of i+kAhead, read i's. Chunks (prefixes past /24) are
        // rare enough to be read without one. Kept branch-light on purpose: a three-stage
        // version of this loop ran at half the speed.
        constexpr std::size_t kAhead = 24;
        for (std::size_t i = 0; i < n + kAhead; ++i) {
            if (i < n) __builtin_prefetch(&l1[addrs[i] >> 8]);
            if (i >= kAhead) {
                const std::size_t j = i - kAhead;
                std::uint32_t e = l1[addrs[j] >> 8];
                if (e & kChunk) e = chunks[((e & ~kChunk) << 8) | (addrs[j] & 0xff)];
                out[j] = e;
            }
        }
        return;
    }
    // 16-8-8, three stages in flight: prefetch the first-level entry of i+2d, resolve i+d to
    // its chunk slot and prefetch it, finish i. Independent misses then overlap.
    constexpr std::size_t d = 8;
    constexpr std::uint32_t kDone = ~0u;
    std::uint32_t slot[3 * d]; // chunk slot (or kDone when the first level answered), ring by i % (3d)
    auto first = [&](std::size_t i) { __builtin_prefetch(&l1[addrs[i] >> 16]); };
    auto second = [&](std::size_t i) {
        const std::uint32_t a = addrs[i];
        const std::uint32_t e = l1[a >> 16];
        if (!(e & kChunk)) {
            out[i] = e;
            slot[i % (3 * d)] = kDone;
            return;
        }
        const std::uint32_t s = ((e & ~kChunk) << 8) | ((a >> 8) & 0xff);
        __builtin_prefetch(&chunks[s]);
        slot[i % (3 * d)] = s;
    };
    auto third = [&](std::size_t i) {
        const std::uint32_t s = slot[i % (3 * d)];
        if (s == kDone) return;
        std::uint32_t e = chunks[s];
        if (e & kChunk) e = chunks[((e & ~kChunk) << 8) | (addrs[i] & 0xff)];
        out[i] = e;
    };
    for (std::size_t i = 0; i < n + 2 * d; ++i) {
        if (i < n) first(i);
        if (i >= d && i - d < n) second(i - d);
        if (i >= 2 * d && i - 2 * d < n) third(i - 2 * d);
    }
}

// ---- IPv6 ---------------------------------------------------------------

Ipv6Table::Ipv6Table() : level1_(65536, 0), ranges_(1, Range{0, 0}) {}

void Ipv6Table::build(std::vector<Prefix6> prefixes) {
    // Enclosing prefixes sort before what they enclose (same start, shorter first), and equal
    // prefixes keep their file order, so the later one ends up on top of the stack.
    for (auto& p : prefixes) {
        if (p.value == 0) throw std::length_error("IPv6 table: value 0 is reserved");
        if (p.len > 128) p.len = 128;
        p.addr &= mask6(p.len);
    }
    std::stable_sort(prefixes.begin(), prefixes.end(), [](const Prefix6& a, const Prefix6& b) {
        return a.addr != b.addr ? a.addr < b.addr : a.len < b.len;
    });
    HugeVector<Range>().swap(ranges_);
    HugeVector<std::uint32_t>().swap(level1_);
    HugeVector<std::uint32_t>().swap(nodes_);
    HugeVector<Range> ranges;
    ranges.reserve(prefixes.size() * 2 + 1);
    auto emit = [&](u128 start, std::uint32_t value) {
        if (!ranges.empty() && ranges.back().start == start) {
            ranges.back().value = value;
            if (ranges.size() >= 2 && ranges[ranges.size() - 2].value == value) ranges.pop_back();
            return;
        }
        if (!ranges.empty() && ranges.back().value == value) return;
        ranges.push_back(Range{start, value});
    };
    struct Open {
        u128 end;
        std::uint32_t value;
    };
    std::vector<Open> stack;
    const u128 kMax = ~u128{0};
    auto close_until = [&](u128 limit, bool all) {
        while (!stack.empty() && (all || stack.back().end < limit)) {
            Open top = stack.back();
            stack.pop_back();
            if (top.end != kMax) emit(top.end + 1, stack.empty() ? 0 : stack.back().value);
        }
    };
    emit(0, 0);
    for (const Prefix6& p : prefixes) {
        close_until(p.addr, false);
        emit(p.addr, p.value);
        stack.push_back(Open{p.addr | ~mask6(p.len), p.value});
    }
    close_until(0, true);
    prefixes.clear();
    prefixes.shrink_to_fit();
    if (ranges.size() >= kValue) throw std::length_error("IPv6 table: too many ranges");
    ranges.shrink_to_fit();
    ranges_ = std::move(ranges);

    // The index, breadth first: every block points at the range holding its first address;
    // a block with more than kRun range starts inside it becomes a node while the budget lasts.
    const std::size_t n = ranges_.size();
    const std::size_t budget = n / 8 + 64;
    struct Pending {
        std::size_t where; // < level1_.size(): level1_, else nodes_[where - level1_.size()]
        u128 lo;
        unsigned bits;     // the block spans 2^bits addresses
        std::size_t first, end; // the range holding lo; the first starting past the block
    };
    std::vector<Pending> queue;
    // Fills `count` entries for consecutive blocks of 2^bits from `lo`, ranges [first, end).
    auto fill = [&](std::uint32_t* entries, std::size_t where0, u128 lo, unsigned bits, std::size_t count,
                    std::size_t first, std::size_t end) {
        std::size_t p = first;
        const u128 span = (u128{1} << bits) - 1;
        for (std::size_t b = 0; b < count; ++b) {
            const u128 block = lo + (static_cast<u128>(b) << bits);
            while (p + 1 < end && ranges_[p + 1].start <= block) ++p;
            std::size_t q = p + 1;
            while (q < end && ranges_[q].start <= block + span) ++q;
            // A block inside one range holds its value itself (when it fits beside the flag).
            entries[b] = q == p + 1 && ranges_[p].value < kValue ? kValue | ranges_[p].value
                                                                  : static_cast<std::uint32_t>(p);
            if (bits >= 8 && q - p - 1 > kRun) queue.push_back(Pending{where0 + b, block, bits, p, q});
        }
    };
    shift_ = 128 - 16;
    const std::size_t top = std::size_t{1} << (128 - shift_);
    level1_.assign(top, 0);
    fill(level1_.data(), 0, 0, shift_, top, 0, n);
    for (std::size_t h = 0; h < queue.size() && nodes_.size() / 256 < budget; ++h) {
        const Pending pd = queue[h];
        const std::size_t index = nodes_.size() / 256;
        nodes_.resize(nodes_.size() + 256);
        const std::uint32_t entry = kNode | static_cast<std::uint32_t>(index);
        if (pd.where < top) level1_[pd.where] = entry;
        else nodes_[pd.where - top] = entry;
        fill(nodes_.data() + index * 256, top + index * 256, pd.lo, pd.bits - 8, 256, pd.first, pd.end);
    }
    nodes_.shrink_to_fit();
}

std::uint32_t Ipv6Table::gallop(std::size_t lo, u128 addr) const {
    // ranges_[lo].start <= addr: widen the step until a start passes addr, then bisect.
    const Range* r = ranges_.data();
    const std::size_t n = ranges_.size();
    std::size_t step = 1, hi = lo + 1;
    while (hi < n && r[hi].start <= addr) {
        lo = hi;
        step *= 2;
        hi = lo + step;
    }
    if (hi > n) hi = n;
    while (hi - lo > 1) {
        std::size_t mid = lo + (hi - lo) / 2;
        if (r[mid].start <= addr) lo = mid;
        else hi = mid;
    }
    return r[lo].value;
}

void Ipv6Table::lookup_batch(const u128* addrs, std::uint32_t* out, std::size_t n) const {
    // Groups of kGroup addresses walk down the index in lockstep, a level per pass: each pass
    // reads the entries the previous one prefetched and prefetches the next, so the misses of
    // a group overlap; the last pass prefetches the ranges that finish() reads.
    constexpr std::size_t kGroup = 32;
    const std::size_t nr = ranges_.size();
    for (std::size_t base = 0; base < n; base += kGroup) {
        const std::size_t m = std::min(kGroup, n - base);
        const std::uint32_t* entry[kGroup];
        std::uint32_t range[kGroup];
        unsigned shift[kGroup];
        bool walking[kGroup];
        for (std::size_t k = 0; k < m; ++k) {
            shift[k] = shift_;
            walking[k] = true;
            entry[k] = &level1_[static_cast<std::uint32_t>(addrs[base + k] >> shift_)];
            __builtin_prefetch(entry[k]);
        }
        for (bool more = true; more;) {
            more = false;
            for (std::size_t k = 0; k < m; ++k) {
                if (!walking[k]) continue;
                const std::uint32_t e = *entry[k];
                if (e & kNode) {
                    shift[k] -= 8;
                    entry[k] = &nodes_[(static_cast<std::size_t>(e & ~kNode) << 8) |
                                       (static_cast<std::uint32_t>(addrs[base + k] >> shift[k]) & 0xff)];
                    __builtin_prefetch(entry[k]);
                    more = true;
                } else {
                    walking[k] = false;
                    range[k] = e;
                    if (!(e & kValue)) {
                        __builtin_prefetch(&ranges_[e]);
                        if (e + 1 < nr) __builtin_prefetch(&ranges_[e + 1]);
                    }
                }
            }
        }
        for (std::size_t k = 0; k < m; ++k)
            out[base + k] = (range[k] & kValue) ? range[k] & ~kValue : finish(range[k], addrs[base + k]);
    }
}

} // namespace flowacct::lpm
