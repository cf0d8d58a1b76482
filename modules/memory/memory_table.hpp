// SPDX-License-Identifier: GPL-2.0-or-later
// The memory output's table: rows keyed on the pipeline's primitives, summed, in 16 shards with
// their own locks so that a query copying one shard never holds ingestion for long.
#pragma once

#include <atomic>         // std::atomic
#include <cstdint>        // std::uint64_t
#include <functional>     // std::function
#include <memory>         // std::unique_ptr
#include <mutex>          // std::mutex
#include <shared_mutex>   // std::shared_mutex
#include <string>         // std::string
#include <vector>         // std::vector

#include <flowacct/abi.h> // fa_row_batch

#include "query_protocol.hpp" // proto::KeyLayout, proto::RowCounters, proto::SortBy

namespace flowacct::memory {

/// One -M/-N query compiled against the table's layout: byte conditions on the packed key,
/// plus name conditions for class and label (stored as interned ids, matched by name).
struct CompiledQuery {
    struct Cond {
        std::uint16_t offset;
        std::uint8_t size;
        std::uint8_t value[16];
    };
    struct NameCond {
        std::uint16_t offset;
        std::string name;
    };
    std::vector<Cond> conds;
    std::vector<NameCond> names;
    bool exact = false;              // conds cover the whole key: one hash lookup
    std::vector<std::uint8_t> key;   // the whole key when exact
};

/// Resolves an interned class or label id to its name; must be callable from query threads.
using NameOf = std::function<std::string(std::uint32_t)>;

class MemoryTable {
public:
    /// `max_entries` 0: derive the cap from `budget_bytes` once the row size is known
    /// (budget 0 and max 0: unbounded).
    MemoryTable(std::uint64_t max_entries, std::uint64_t budget_bytes);
    MemoryTable(const MemoryTable&) = delete;
    MemoryTable& operator=(const MemoryTable&) = delete;

    /// Adds a batch of row deltas. Pipeline thread only. The first batch fixes the layout; a
    /// batch keyed on other primitives clears the table and starts over (returns via
    /// `relayout`). Returns the rows dropped because the table is full.
    std::uint32_t add(const fa_row_batch& batch, bool& relayout);

    /// The layout (a copy); empty primitives until the first batch. Any thread.
    proto::KeyLayout layout() const;

    /// Appends every row in wire format to `out` and returns the row count; zeroes the counters
    /// of what it read when `reset`. Any thread; locks one shard at a time.
    std::uint64_t dump(std::string& out, bool reset);

    /// Appends the `n` rows with the largest counter `by`, largest first, without copying the
    /// rest of the table; returns the row count. Any thread; locks one shard at a time.
    std::uint64_t top_rows(proto::SortBy by, std::uint32_t n, bool reset, std::string& out);

    /// Appends the rows each query matches, query by query; returns the row count.
    std::uint64_t match_rows(const std::vector<CompiledQuery>& queries, const NameOf& names, bool reset,
                             std::string& out);

    /// One sum per query of the rows it matches.
    std::vector<proto::RowCounters> match_sums(const std::vector<CompiledQuery>& queries, const NameOf& names,
                                               bool reset);

    /// Drops every row and frees their memory. Any thread.
    void erase();

    std::uint64_t entries() const { return entries_.load(std::memory_order_relaxed); }
    std::uint64_t max_entries() const { return max_entries_.load(std::memory_order_relaxed); }
    std::uint64_t memory_bytes() const { return memory_bytes_.load(std::memory_order_relaxed); }
    std::uint64_t index_slots() const;

    static constexpr unsigned kShardBits = 4;
    static constexpr unsigned kShards = 1u << kShardBits;
    static constexpr std::uint32_t kChunkRows = 512;

private:
    struct Shard {
        std::mutex mu;
        std::vector<std::unique_ptr<std::uint8_t[]>> chunks;
        std::vector<std::uint32_t> index; // 0 = empty, else row number + 1
        std::uint32_t rows = 0;
    };

    std::uint8_t* row_at(Shard& s, std::uint32_t i) const {
        return s.chunks[i / kChunkRows].get() + static_cast<std::size_t>(i % kChunkRows) * row_bytes_;
    }
    std::uint64_t hash(const std::uint8_t* key) const;
    std::uint8_t* find(Shard& s, const std::uint8_t* key, std::uint64_t h) const;
    std::uint8_t* insert(Shard& s, const std::uint8_t* key, std::uint64_t h);
    void grow_index(Shard& s);
    void clear_shard(Shard& s);
    bool row_matches(const std::uint8_t* row, const CompiledQuery& q, const NameOf& names) const;
    void set_layout(const proto::KeyLayout& layout);

    mutable std::shared_mutex layout_mu_; // exclusive only while the layout changes
    proto::KeyLayout layout_;
    std::size_t key_bytes_ = 0;
    std::size_t row_bytes_ = 0;
    bool has_layout_ = false;
    std::uint64_t seed_;
    std::uint64_t cap_entries_config_;
    std::uint64_t budget_bytes_;
    Shard shards_[kShards];
    std::atomic<std::uint64_t> entries_{0};
    std::atomic<std::uint64_t> max_entries_{0};
    std::atomic<std::uint64_t> memory_bytes_{0};
    // Pipeline-thread scratch for add(), kept to avoid allocating per batch.
    std::vector<std::uint8_t> keys_;
    std::vector<std::uint64_t> hashes_;
    std::vector<std::uint32_t> order_;
};

/// Compiles the -M/-N queries of `request` against `layout`. Returns false with `error` naming
/// a primitive the table is not keyed on or a value that does not parse. Any thread.
bool compile_queries(const proto::Request& request, const proto::KeyLayout& layout,
                     std::vector<CompiledQuery>& out, std::string& error);

/// Sorts packed rows by a counter, largest first, and keeps the first `top_n` (0: all).
void sort_rows(std::string& rows, std::size_t row_bytes, std::size_t key_bytes, proto::SortBy by,
               std::uint32_t top_n);

} // namespace flowacct::memory
