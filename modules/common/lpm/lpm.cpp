// SPDX-License-Identifier: GPL-2.0-or-later
// Longest-prefix-match tables: construction and batch lookup.
#include "lpm.hpp"

#include <algorithm>  // std::stable_sort, std::upper_bound
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
    level1_.assign(65536, 0);
    chunks_.clear();
    // Shorter prefixes first: a longer one then overwrites the part of a shorter one it covers,
    // and a chunk is only ever created below an entry that already holds its final cover.
    std::stable_sort(prefixes.begin(), prefixes.end(),
                     [](const Prefix4& a, const Prefix4& b) { return a.len < b.len; });
    for (const Prefix4& p : prefixes) {
        if (p.value == 0 || p.value >= kChunk) throw std::length_error("IPv4 table: value out of range");
        std::uint8_t len = p.len > 32 ? 32 : p.len;
        std::uint32_t a = p.addr & mask4(len);
        if (len <= 16) {
            std::uint32_t first = a >> 16, n = 1u << (16 - len);
            for (std::uint32_t i = 0; i < n; ++i) level1_[first + i] = p.value;
            continue;
        }
        std::uint32_t& e1 = level1_[a >> 16];
        if (!(e1 & kChunk)) {
            std::uint32_t c = new_chunk(e1);
            e1 = kChunk | c;
        }
        std::size_t base2 = static_cast<std::size_t>(e1 & ~kChunk) << 8;
        if (len <= 24) {
            std::uint32_t first = (a >> 8) & 0xff, n = 1u << (24 - len);
            for (std::uint32_t i = 0; i < n; ++i) chunks_[base2 + first + i] = p.value;
            continue;
        }
        std::size_t slot2 = base2 + ((a >> 8) & 0xff);
        if (!(chunks_[slot2] & kChunk)) {
            std::uint32_t c = new_chunk(chunks_[slot2]); // may reallocate: index again below
            chunks_[slot2] = kChunk | c;
        }
        std::size_t base3 = static_cast<std::size_t>(chunks_[slot2] & ~kChunk) << 8;
        std::uint32_t first = a & 0xff, n = 1u << (32 - len);
        for (std::uint32_t i = 0; i < n; ++i) chunks_[base3 + first + i] = p.value;
    }
    chunks_.shrink_to_fit();
}

void Ipv4Table::lookup_batch(const std::uint32_t* addrs, std::uint32_t* out, std::size_t n) const {
    // Three stages in flight: prefetch the first-level entry of i+2d, resolve i+d to its chunk
    // slot and prefetch it, finish i. Independent misses then overlap instead of queueing.
    constexpr std::size_t d = 8;
    std::size_t slot[3 * d]; // chunk slot (or ~0 when the first level answered), ring by i % (3d)
    auto first = [&](std::size_t i) { __builtin_prefetch(&level1_[addrs[i] >> 16]); };
    auto second = [&](std::size_t i) {
        std::uint32_t e = level1_[addrs[i] >> 16];
        if (!(e & kChunk)) {
            out[i] = e;
            slot[i % (3 * d)] = ~std::size_t{0};
            return;
        }
        std::size_t s2 = (static_cast<std::size_t>(e & ~kChunk) << 8) | ((addrs[i] >> 8) & 0xff);
        __builtin_prefetch(&chunks_[s2]);
        slot[i % (3 * d)] = s2;
    };
    auto third = [&](std::size_t i) {
        std::size_t s2 = slot[i % (3 * d)];
        if (s2 == ~std::size_t{0}) return;
        std::uint32_t e = chunks_[s2];
        out[i] = (e & kChunk) ? chunks_[(static_cast<std::size_t>(e & ~kChunk) << 8) | (addrs[i] & 0xff)] : e;
    };
    for (std::size_t i = 0; i < n + 2 * d; ++i) {
        if (i < n) first(i);
        if (i >= d && i - d < n) second(i - d);
        if (i >= 2 * d && i - 2 * d < n) third(i - 2 * d);
    }
}

// ---- IPv6 ---------------------------------------------------------------

Ipv6Table::Ipv6Table() : starts_{0}, values_{0}, index_((1u << kIndexBits) + 1, 0) {}

void Ipv6Table::build(std::vector<Prefix6> prefixes) {
    // Enclosing prefixes sort before what they enclose (same start, shorter first), and equal
    // prefixes keep their file order, so the later one ends up on top of the stack.
    for (auto& p : prefixes) {
        if (p.len > 128) p.len = 128;
        p.addr &= mask6(p.len);
    }
    std::stable_sort(prefixes.begin(), prefixes.end(), [](const Prefix6& a, const Prefix6& b) {
        return a.addr != b.addr ? a.addr < b.addr : a.len < b.len;
    });
    std::vector<u128> starts;
    std::vector<std::uint32_t> values;
    starts.reserve(prefixes.size() * 2 + 1);
    values.reserve(prefixes.size() * 2 + 1);
    auto emit = [&](u128 start, std::uint32_t value) {
        if (!starts.empty() && starts.back() == start) {
            values.back() = value;
            if (values.size() >= 2 && values[values.size() - 2] == value) {
                starts.pop_back();
                values.pop_back();
            }
            return;
        }
        if (!values.empty() && values.back() == value) return;
        starts.push_back(start);
        values.push_back(value);
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
        if (p.value == 0) throw std::length_error("IPv6 table: value 0 is reserved");
        close_until(p.addr, false);
        emit(p.addr, p.value);
        stack.push_back(Open{p.addr | ~mask6(p.len), p.value});
    }
    close_until(0, true);
    starts_ = std::move(starts);
    values_ = std::move(values);
    starts_.shrink_to_fit();
    values_.shrink_to_fit();
    const std::uint32_t buckets = 1u << kIndexBits;
    index_.assign(buckets + 1, 0);
    std::size_t r = 0;
    for (std::uint32_t v = 0; v < buckets; ++v) {
        u128 block = static_cast<u128>(v) << (128 - kIndexBits);
        while (r + 1 < starts_.size() && starts_[r + 1] <= block) ++r;
        index_[v] = static_cast<std::uint32_t>(r);
    }
    index_[buckets] = static_cast<std::uint32_t>(starts_.size() - 1);
}

std::uint32_t Ipv6Table::lookup(u128 addr) const {
    std::uint32_t top = static_cast<std::uint32_t>(addr >> (128 - kIndexBits));
    // The answer lies between the range holding the start of this block and the one holding
    // the start of the next: the last start <= addr in [lo, hi].
    std::size_t lo = index_[top], hi = index_[top + 1];
    while (lo < hi) {
        std::size_t mid = (lo + hi + 1) / 2;
        if (starts_[mid] <= addr) lo = mid;
        else hi = mid - 1;
    }
    return values_[lo];
}

} // namespace flowacct::lpm
