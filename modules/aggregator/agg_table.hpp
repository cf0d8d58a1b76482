// SPDX-License-Identifier: GPL-2.0-or-later
// Aggregator "hash": an open-addressing table of fixed-size keys with their counters.
// Entries live in one flat arena (key bytes then counters), slots hold a hash tag and an index,
// so a lookup touches one slot and one entry. Both are on huge pages: at 100K keys and more a
// lookup misses the caches anyway, and should not miss the TLB too. The arena grows in place
// (address space reserved for the most entries a table may hold), so growing copies nothing.
// Single-threaded (the pipeline thread).
#pragma once

#include <algorithm> // std::min
#include <cstdint>   // std::uint64_t
#include <cstring>   // std::memcmp, std::memcpy
#include <random>    // std::random_device
#include <vector>    // std::vector

#include "huge_pages.hpp" // memory::GrowingArena, memory::HugeVector

namespace flowacct::aggregator {

struct Counters {
    std::uint64_t packets;
    std::uint64_t bytes;
    std::uint64_t flows;
    std::uint32_t updated_s;  // wall time of the last update, seconds (rows carry seconds anyway)
    std::uint8_t tcp_flags;
    std::uint8_t pad[3];
};

/// Per-process random secrets of the key hash: keys come from traffic, and a hash an outsider can
/// predict lets crafted addresses pile into one probe chain.
struct HashSeed {
    std::uint64_t s[4];
    static const HashSeed& process() {
        static const HashSeed seed = [] {
            HashSeed h{};
            std::random_device rd;
            for (auto& v : h.s) v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
            return h;
        }();
        return seed;
    }
};

// The 128-bit product of a and b, folded to 64 bits.
inline std::uint64_t mul_fold(std::uint64_t a, std::uint64_t b) {
    const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
    return static_cast<std::uint64_t>(p) ^ static_cast<std::uint64_t>(p >> 64);
}

/// Hash of a key (a multiple of 8 bytes): each pair of words, mixed with secrets of its position,
/// is multiplied on its own and the products summed, so the multiplies of a key overlap instead
/// of forming one chain; a last multiply spreads the sum over every bit.
inline std::uint64_t hash_key(const std::uint8_t* key, std::uint32_t size, const HashSeed& seed) {
    constexpr std::uint64_t kStep1 = 0x9E3779B97F4A7C15ull, kStep2 = 0xD6E8FEB86659FD93ull;
    std::uint64_t h = seed.s[0] ^ size;
    std::uint64_t k1 = seed.s[1], k2 = seed.s[2];
    std::uint32_t i = 0;
    for (; i + 16 <= size; i += 16) {
        std::uint64_t a, b;
        std::memcpy(&a, key + i, 8);
        std::memcpy(&b, key + i + 8, 8);
        h += mul_fold(a ^ k1, b ^ k2);
        k1 += kStep1;
        k2 += kStep2;
    }
    if (i < size) {
        std::uint64_t a;
        std::memcpy(&a, key + i, 8);
        h += mul_fold(a ^ k1, k2);
    }
    return mul_fold(h ^ seed.s[3], kStep1);
}

// Keys are a multiple of 8 bytes: a word loop the compiler inlines beats a call to memcmp.
inline bool keys_equal(const std::uint8_t* a, const std::uint8_t* b, std::uint32_t size) {
    std::uint64_t diff = 0;
    for (std::uint32_t i = 0; i < size; i += 8) {
        std::uint64_t x, y;
        std::memcpy(&x, a + i, 8);
        std::memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }
    return diff == 0;
}

class AggTable {
public:
    /// Entries are indexed by 32 bits.
    static constexpr std::size_t kMaxEntries = std::size_t{1} << 32;

    /// `expected_entries`: about the most entries the table will hold (address space is reserved
    /// for them, up to kMaxEntries; more still fit).
    explicit AggTable(std::uint32_t key_size, std::size_t expected_entries = 1 << 16, std::size_t initial_slots = 1 << 12)
        : key_size_(key_size), entry_size_(key_size + sizeof(Counters)), seed_(HashSeed::process()),
          arena_(std::min<std::size_t>(expected_entries, kMaxEntries) * (key_size + sizeof(Counters))) {
        std::size_t n = 16;
        while (n < initial_slots) n <<= 1;
        slots_.assign(n, 0);
        mask_ = n - 1;
    }

    /// The hash find_or_insert(key, h) expects.
    std::uint64_t hash(const std::uint8_t* key) const { return hash_key(key, key_size_, seed_); }

    /// A lookup touches a slot and an entry, rarely cached at 100K keys and more: callers working
    /// on a batch prefetch the slot early and the entry a few keys ahead, so the misses overlap.
    void prefetch(std::uint64_t h) const { __builtin_prefetch(&slots_[home(h)]); }
    void prefetch_entry(std::uint64_t h) const {
        std::uint64_t s = slots_[home(h)];
        if (s == 0) return;
        // Entries are not line-aligned: the counters may sit on the key's next cache line.
        const std::uint8_t* e = arena_.data() + (static_cast<std::uint32_t>(s) - 1) * static_cast<std::size_t>(entry_size_);
        __builtin_prefetch(e);
        __builtin_prefetch(e + entry_size_ - 1);
    }

    /// The counters of `key` (h = hash(key)), inserted zeroed when new.
    Counters& find_or_insert(const std::uint8_t* key, std::uint64_t h) {
        const std::uint64_t tag = h & kTagMask;
        std::size_t i = home(h);
        for (;;) {
            std::uint64_t s = slots_[i];
            if (s == 0) break;
            if ((s & kTagMask) == tag) {
                std::uint8_t* e = entry(static_cast<std::uint32_t>(s) - 1);
                if (keys_equal(e, key, key_size_)) return *reinterpret_cast<Counters*>(e + key_size_);
            }
            i = (i + 1) & mask_;
        }
        std::uint32_t index = static_cast<std::uint32_t>(count_);
        std::uint8_t* e = arena_.append(entry_size_);
        std::memcpy(e, key, key_size_);
        std::memset(e + key_size_, 0, sizeof(Counters));
        slots_[i] = tag | (index + 1);
        ++count_;
        if (count_ * 10 > slots_.size() * 7) grow();
        return *reinterpret_cast<Counters*>(e + key_size_);
    }

    std::size_t size() const { return count_; }

    /// Calls fn(key, counters) for every entry, in insertion order.
    template <class Fn> void for_each(Fn&& fn) const {
        for (std::size_t i = 0; i < count_; ++i) fn(key_at(i), counters_at(i));
    }
    const std::uint8_t* key_at(std::size_t i) const { return arena_.data() + i * entry_size_; }
    const Counters& counters_at(std::size_t i) const {
        return *reinterpret_cast<const Counters*>(arena_.data() + i * entry_size_ + key_size_);
    }

    /// Forgets every entry but keeps the allocation for the next interval.
    void clear() {
        std::fill(slots_.begin(), slots_.end(), 0);
        arena_.clear();
        count_ = 0;
    }

private:
    // A slot is the hash's high 32 bits (the tag) and the entry's index + 1 (0: empty). The home
    // slot comes from the same bits, so growing moves slots without reading their entries.
    static constexpr std::uint64_t kTagMask = 0xFFFFFFFF00000000ull;
    std::size_t home(std::uint64_t h) const { return static_cast<std::size_t>(h >> 32) & mask_; }

    std::uint8_t* entry(std::uint32_t index) { return arena_.data() + static_cast<std::size_t>(index) * entry_size_; }

    void grow() {
        memory::HugeVector<std::uint64_t> old;
        old.swap(slots_);
        slots_.assign(old.size() * 2, 0);
        mask_ = slots_.size() - 1;
        for (std::uint64_t s : old) {
            if (s == 0) continue;
            std::size_t i = home(s);
            while (slots_[i] != 0) i = (i + 1) & mask_;
            slots_[i] = s;
        }
    }

    std::uint32_t key_size_;
    std::uint32_t entry_size_;
    HashSeed seed_;
    memory::HugeVector<std::uint64_t> slots_;
    std::size_t mask_ = 0;
    memory::GrowingArena arena_;
    std::size_t count_ = 0;
};

} // namespace flowacct::aggregator
