// SPDX-License-Identifier: GPL-2.0-or-later
// StreamTable and StatePool: the stream table of the classify stage.
#include "stream_table.hpp"

#include <algorithm>  // std::max
#include <cstring>    // std::memcmp, std::memcpy, std::memset

namespace flowacct::classify {

StreamKey make_key(const fa_record& r, bool& sender_is_lo) {
    StreamKey k;
    std::memset(&k, 0, sizeof k);
    int c = std::memcmp(r.src_ip, r.dst_ip, 16);
    sender_is_lo = c < 0 || (c == 0 && r.src_port <= r.dst_port);
    if (sender_is_lo) {
        std::memcpy(k.lo_ip, r.src_ip, 16);
        std::memcpy(k.hi_ip, r.dst_ip, 16);
        k.lo_port = r.src_port;
        k.hi_port = r.dst_port;
    } else {
        std::memcpy(k.lo_ip, r.dst_ip, 16);
        std::memcpy(k.hi_ip, r.src_ip, 16);
        k.lo_port = r.dst_port;
        k.hi_port = r.src_port;
    }
    k.proto = r.proto;
    k.ip_version = r.ip_version;
    return k;
}

namespace {

std::uint32_t next_pow2(std::uint64_t n) {
    std::uint64_t p = 16;
    while (p < n) p <<= 1;
    return static_cast<std::uint32_t>(p);
}

std::uint64_t mix(std::uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

} // namespace

StreamTable::StreamTable(std::uint32_t max_streams, std::uint64_t seed)
    : max_streams_(std::max<std::uint32_t>(max_streams, 1)),
      max_capacity_(next_pow2(static_cast<std::uint64_t>(max_streams_) * 2)),
      seed_(seed) {
    slots_.resize(std::min<std::uint32_t>(max_capacity_, 1024));
}

std::uint64_t StreamTable::hash(const StreamKey& key) const {
    std::uint64_t w[5];
    std::memcpy(w, &key, sizeof w);
    // Multiply-rotate per word, one full avalanche at the end: the seed keeps it unpredictable.
    std::uint64_t h = seed_;
    for (std::uint64_t x : w) {
        h = (h ^ x) * 0x9e3779b97f4a7c15ull;
        h = (h << 29) | (h >> 35);
    }
    return mix(h);
}

void StreamTable::prepare(std::uint32_t incoming) {
    // Keep the load under 3/4 even if every record of the batch opens a stream.
    std::uint64_t want = static_cast<std::uint64_t>(size_) + incoming;
    std::uint32_t cap = capacity();
    while (want * 4 > static_cast<std::uint64_t>(cap) * 3 && cap < max_capacity_) cap <<= 1;
    if (cap != capacity()) rehash(cap);
}

void StreamTable::rehash(std::uint32_t new_capacity) {
    std::vector<Stream> old(new_capacity);
    old.swap(slots_);
    const std::uint32_t mask = new_capacity - 1;
    for (const Stream& s : old) {
        if (s.status == StreamStatus::Free) continue;
        std::uint32_t i = static_cast<std::uint32_t>(s.hash) & mask;
        while (slots_[i].status != StreamStatus::Free) i = (i + 1) & mask;
        slots_[i] = s;
    }
    cursor_ = 0;
}

std::uint32_t StreamTable::find_or_insert(const StreamKey& key, std::uint64_t h, bool& inserted) {
    inserted = false;
    const std::uint32_t mask = capacity() - 1;
    std::uint32_t i = static_cast<std::uint32_t>(h) & mask;
    for (;;) {
        Stream& s = slots_[i];
        if (s.status == StreamStatus::Free) break;
        if (s.hash == h && s.key == key) return i;
        i = (i + 1) & mask;
    }
    // max_capacity_ >= 2 * max_streams_, so a free slot always ends the probe above.
    if (size_ >= max_streams_) return kNoSlot;
    Stream& s = slots_[i];
    std::memset(&s, 0, sizeof s);
    s.key = key;
    s.hash = h;
    s.state_index = kNoState;
    s.status = StreamStatus::Pending;
    ++size_;
    inserted = true;
    return i;
}

void StreamTable::erase(std::uint32_t slot) {
    const std::uint32_t mask = capacity() - 1;
    std::uint32_t hole = slot;
    std::uint32_t j = slot;
    for (;;) {
        j = (j + 1) & mask;
        Stream& s = slots_[j];
        if (s.status == StreamStatus::Free) break;
        std::uint32_t home = static_cast<std::uint32_t>(s.hash) & mask;
        // s may fill the hole only if its home is not cyclically within (hole, j].
        bool home_in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (home_in_range) continue;
        slots_[hole] = s;
        hole = j;
    }
    slots_[hole].status = StreamStatus::Free;
    --size_;
}

std::uint32_t StatePool::acquire() {
    if (stride_ == 0) return kNoState;
    std::uint32_t index;
    if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
    } else {
        if (allocated_ >= max_blocks_) return kNoState;
        if (allocated_ % kChunkBlocks == 0)
            chunks_.push_back(std::make_unique<std::uint8_t[]>(static_cast<std::size_t>(stride_) * kChunkBlocks));
        index = allocated_++;
    }
    std::memset(at(index), 0, stride_);
    return index;
}

void StatePool::release(std::uint32_t index) {
    if (index != kNoState) free_.push_back(index);
}

} // namespace flowacct::classify
