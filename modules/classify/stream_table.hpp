// SPDX-License-Identifier: GPL-2.0-or-later
// StreamTable: the bounded, bidirectional stream table of one classify stage.
#pragma once

#include <cstdint>    // std::uint8_t .. std::uint64_t
#include <cstring>    // std::memcmp, std::memcpy
#include <memory>     // std::unique_ptr
#include <vector>     // std::vector

#include <flowacct/abi.h> // fa_record

namespace flowacct::classify {

/// Both endpoints of a stream in a canonical order (the lower address/port pair first), so the
/// two directions of one conversation share a key.
struct StreamKey {
    std::uint8_t lo_ip[16];
    std::uint8_t hi_ip[16];
    std::uint16_t lo_port;
    std::uint16_t hi_port;
    std::uint8_t proto;
    std::uint8_t ip_version;
    std::uint8_t pad[2];

    bool operator==(const StreamKey& o) const {
        std::uint64_t a[5], b[5];
        std::memcpy(a, this, sizeof a);
        std::memcpy(b, &o, sizeof b);
        return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
    }
};
static_assert(sizeof(StreamKey) == 40, "StreamKey is hashed as five 64-bit words");

/// Builds the key of a record. `sender_is_lo` tells whether the record's source is the key's
/// lower endpoint (the direction of this packet).
StreamKey make_key(const fa_record& r, bool& sender_is_lo);

enum class StreamStatus : std::uint8_t { Free = 0, Pending, Classified, GaveUp };

/// One stream. Moves inside the table when neighbours are erased: keep slot indices only for
/// the length of one batch (nothing is erased while a batch is processed).
struct Stream {
    StreamKey key;
    std::uint64_t hash;
    std::uint64_t last_seen_us;
    std::uint64_t live_mask;       // shared-object classifiers still trying (bit per classifier)
    std::uint32_t class_id;
    std::uint32_t label_id;
    std::uint32_t state_index;     // into the state pool; kNoState when none
    std::uint16_t payload_packets; // payload packets offered so far
    StreamStatus status;
    std::uint8_t initiator_is_lo;
    std::uint8_t closing;          // a FIN or RST was seen: expire sooner
    std::uint8_t pad[7];
};

inline constexpr std::uint32_t kNoState = 0xffffffffu;
inline constexpr std::uint32_t kNoSlot = 0xffffffffu;

/// Open addressing with linear probing and backward-shift deletion (no tombstones, so probe
/// chains stay short under churn). Grows by doubling between batches up to twice `max_streams`
/// slots, and refuses new streams beyond `max_streams`.
/// Owned by one stage; pipeline thread only.
class StreamTable {
public:
    /// `max_streams` >= 1. `seed` randomizes the hash so crafted addresses cannot pick slots.
    StreamTable(std::uint32_t max_streams, std::uint64_t seed);

    /// Makes room for `incoming` new streams without a rehash during the batch. Call before a
    /// batch; invalidates slot indices.
    void prepare(std::uint32_t incoming);

    /// The hash find_or_insert() wants for `key`.
    std::uint64_t hash(const StreamKey& key) const;
    /// Hints the CPU to fetch the home slot of `hash` (batches look up many streams at once).
    void prefetch(std::uint64_t hash) const {
        __builtin_prefetch(&slots_[static_cast<std::uint32_t>(hash) & (capacity() - 1)]);
    }

    /// Slot of the stream with `key` (whose hash() is `h`), inserting a Pending one
    /// (`inserted` set) if absent. kNoSlot when the table holds max_streams streams already.
    std::uint32_t find_or_insert(const StreamKey& key, std::uint64_t h, bool& inserted);
    std::uint32_t find_or_insert(const StreamKey& key, bool& inserted) { return find_or_insert(key, hash(key), inserted); }

    Stream& at(std::uint32_t slot) { return slots_[slot]; }
    std::uint32_t size() const { return size_; }
    std::uint32_t capacity() const { return static_cast<std::uint32_t>(slots_.size()); }
    std::uint32_t max_streams() const { return max_streams_; }

    /// Examines up to `budget` slots from where the last sweep stopped and erases streams idle
    /// for longer than their timeout at `now_us`. `on_erase` runs before each erase (to free
    /// state). Returns the number erased. Invalidates slot indices.
    template <class OnErase>
    std::uint32_t sweep(std::uint64_t now_us, std::uint64_t idle_us, std::uint64_t closing_idle_us,
                        std::uint32_t budget, OnErase&& on_erase) {
        std::uint32_t erased = 0;
        const std::uint32_t mask = capacity() - 1;
        for (std::uint32_t n = 0; n < budget && size_ > 0; ++n) {
            Stream& s = slots_[cursor_];
            if (s.status != StreamStatus::Free) {
                std::uint64_t limit = s.closing ? closing_idle_us : idle_us;
                if (now_us > s.last_seen_us && now_us - s.last_seen_us > limit) {
                    on_erase(s);
                    erase(cursor_);
                    ++erased;
                    continue; // a neighbour may have shifted into this slot: look again
                }
            }
            cursor_ = (cursor_ + 1) & mask;
        }
        return erased;
    }

    /// Calls `fn(Stream&)` for every stream (reloads).
    template <class Fn> void for_each(Fn&& fn) {
        for (auto& s : slots_)
            if (s.status != StreamStatus::Free) fn(s);
    }

private:
    void erase(std::uint32_t slot);
    void rehash(std::uint32_t new_capacity);

    std::vector<Stream> slots_;
    std::uint32_t size_ = 0;
    std::uint32_t max_streams_;
    std::uint32_t max_capacity_;
    std::uint32_t cursor_ = 0;
    std::uint64_t seed_;
};

/// Per-stream state blocks of the shared-object classifiers, `stride` bytes each, handed out
/// and taken back by index. Grows in chunks up to `max_blocks`. Pipeline thread only.
class StatePool {
public:
    StatePool(std::uint32_t stride, std::uint32_t max_blocks) : stride_(stride), max_blocks_(max_blocks) {}

    std::uint32_t stride() const { return stride_; }
    /// A zeroed block, or kNoState when max_blocks are in use (or stride is 0).
    std::uint32_t acquire();
    void release(std::uint32_t index);
    std::uint8_t* at(std::uint32_t index) {
        return chunks_[index / kChunkBlocks].get() + static_cast<std::size_t>(index % kChunkBlocks) * stride_;
    }
    std::uint32_t in_use() const { return allocated_ - static_cast<std::uint32_t>(free_.size()); }

private:
    static constexpr std::uint32_t kChunkBlocks = 256;
    std::uint32_t stride_;
    std::uint32_t max_blocks_;
    std::uint32_t allocated_ = 0;
    std::vector<std::unique_ptr<std::uint8_t[]>> chunks_;
    std::vector<std::uint32_t> free_;
};

} // namespace flowacct::classify
