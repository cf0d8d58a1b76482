// SPDX-License-Identifier: GPL-2.0-or-later
// The memory output's sharded table: insertion, lookup, scans, erase and sorting.
#include "memory_table.hpp"

#include <algorithm>      // std::max, std::partial_sort, std::sort
#include <cstring>        // std::memcmp, std::memcpy
#include <random>         // std::random_device
#include <unordered_map>  // std::unordered_map

#include <flowacct/sdk/primitives.hpp> // sdk::parse_addr, sdk::parse_mac, sdk::parse_proto, sdk::kPrimitives

namespace flowacct::memory {

namespace {

constexpr std::uint64_t kMul1 = 0xff51afd7ed558ccdull;
constexpr std::uint64_t kMul2 = 0xc4ceb9fe1a85ec53ull;
constexpr std::uint32_t kMinIndex = 64;

inline std::uint64_t mix(std::uint64_t h) {
    h ^= h >> 33;
    h *= kMul1;
    h ^= h >> 33;
    h *= kMul2;
    h ^= h >> 33;
    return h;
}

} // namespace

MemoryTable::MemoryTable(std::uint64_t max_entries, std::uint64_t budget_bytes)
    : cap_entries_config_(max_entries), budget_bytes_(budget_bytes) {
    // A per-table seed, so crafted keys from the network cannot aim at one probe chain.
    std::random_device rd;
    seed_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    max_entries_ = max_entries;
}

std::uint64_t MemoryTable::hash(const std::uint8_t* key) const {
    std::uint64_t h = seed_ ^ (key_bytes_ * kMul2);
    std::size_t n = key_bytes_;
    while (n >= 8) {
        std::uint64_t v;
        std::memcpy(&v, key, 8);
        h = (h ^ v) * kMul1;
        h ^= h >> 29;
        key += 8;
        n -= 8;
    }
    std::uint64_t v = 0;
    std::memcpy(&v, key, n);
    return mix(h ^ v);
}

void MemoryTable::set_layout(const proto::KeyLayout& layout) {
    layout_ = layout;
    key_bytes_ = layout.key_bytes();
    row_bytes_ = layout.row_bytes();
    has_layout_ = true;
    if (cap_entries_config_ == 0 && budget_bytes_ != 0) {
        // The memory budget covers each row's slot and its share of the index (at most 8 bytes
        // per row: index load stays between 3/8 and 3/4).
        max_entries_ = std::max<std::uint64_t>(1, budget_bytes_ / (row_bytes_ + 8));
    }
}

proto::KeyLayout MemoryTable::layout() const {
    std::shared_lock<std::shared_mutex> g(layout_mu_);
    return layout_;
}

std::uint64_t MemoryTable::index_slots() const {
    std::uint64_t n = 0;
    for (auto& s : shards_) {
        std::lock_guard<std::mutex> g(const_cast<Shard&>(s).mu);
        n += s.index.size();
    }
    return n;
}

std::uint8_t* MemoryTable::find(Shard& s, const std::uint8_t* key, std::uint64_t h) const {
    if (s.index.empty()) return nullptr;
    const std::size_t mask = s.index.size() - 1;
    for (std::size_t pos = h & mask;; pos = (pos + 1) & mask) {
        std::uint32_t slot = s.index[pos];
        if (slot == 0) return nullptr;
        std::uint8_t* row = row_at(s, slot - 1);
        if (std::memcmp(row, key, key_bytes_) == 0) return row;
    }
}

void MemoryTable::grow_index(Shard& s) {
    std::size_t cap = std::max<std::size_t>(kMinIndex, s.index.size() * 2);
    std::uint64_t before = s.index.size() * sizeof(std::uint32_t);
    std::vector<std::uint32_t> next(cap, 0);
    const std::size_t mask = cap - 1;
    for (std::uint32_t i = 0; i < s.rows; ++i) {
        std::size_t pos = hash(row_at(s, i)) & mask;
        while (next[pos] != 0) pos = (pos + 1) & mask;
        next[pos] = i + 1;
    }
    s.index.swap(next);
    memory_bytes_.fetch_add(cap * sizeof(std::uint32_t) - before, std::memory_order_relaxed);
}

std::uint8_t* MemoryTable::insert(Shard& s, const std::uint8_t* key, std::uint64_t h) {
    if ((static_cast<std::size_t>(s.rows) + 1) * 4 > s.index.size() * 3) grow_index(s);
    if (s.rows % kChunkRows == 0) {
        s.chunks.emplace_back(new std::uint8_t[kChunkRows * row_bytes_]);
        memory_bytes_.fetch_add(kChunkRows * row_bytes_, std::memory_order_relaxed);
    }
    std::uint32_t i = s.rows++;
    std::uint8_t* row = row_at(s, i);
    std::memcpy(row, key, key_bytes_);
    std::memset(row + key_bytes_, 0, proto::kCounterBytes);
    const std::size_t mask = s.index.size() - 1;
    std::size_t pos = h & mask;
    while (s.index[pos] != 0) pos = (pos + 1) & mask;
    s.index[pos] = i + 1;
    return row;
}

void MemoryTable::clear_shard(Shard& s) {
    std::uint64_t freed = s.chunks.size() * kChunkRows * row_bytes_ + s.index.size() * sizeof(std::uint32_t);
    entries_.fetch_sub(s.rows, std::memory_order_relaxed);
    memory_bytes_.fetch_sub(freed, std::memory_order_relaxed);
    s.chunks.clear();
    s.chunks.shrink_to_fit();
    std::vector<std::uint32_t>().swap(s.index);
    s.rows = 0;
}

std::uint32_t MemoryTable::add(const fa_row_batch& batch, bool& relayout) {
    relayout = false;
    const bool history = batch.history_s != 0;
    bool same = false;
    {
        std::shared_lock<std::shared_mutex> g(layout_mu_);
        same = has_layout_ && layout_.primitives() == batch.primitives && layout_.history() == history;
    }
    if (!same) {
        // Only this (pipeline) thread changes the layout, so it cannot change again before the
        // shared lock below is taken.
        std::unique_lock<std::shared_mutex> g(layout_mu_);
        relayout = has_layout_;
        for (auto& s : shards_) {
            std::lock_guard<std::mutex> sg(s.mu);
            clear_shard(s);
        }
        set_layout(proto::KeyLayout(batch.primitives, history));
    }
    std::shared_lock<std::shared_mutex> g(layout_mu_);
    const std::uint32_t n = batch.count;
    if (n == 0) return 0;
    keys_.resize(static_cast<std::size_t>(n) * key_bytes_);
    hashes_.resize(n);
    order_.resize(n);
    std::uint32_t per_shard[kShards + 1] = {};
    for (std::uint32_t i = 0; i < n; ++i) {
        const fa_row& row = batch.rows[i];
        std::uint8_t* key = keys_.data() + static_cast<std::size_t>(i) * key_bytes_;
        layout_.pack(row.rec, row.stamp_inserted_us / 1000000u, key);
        hashes_[i] = hash(key);
        ++per_shard[(hashes_[i] >> (64 - kShardBits)) + 1];
    }
    for (unsigned s = 0; s < kShards; ++s) per_shard[s + 1] += per_shard[s];
    std::uint32_t fill[kShards];
    std::memcpy(fill, per_shard, sizeof fill);
    for (std::uint32_t i = 0; i < n; ++i) order_[fill[hashes_[i] >> (64 - kShardBits)]++] = i;

    std::uint32_t dropped = 0;
    const std::uint64_t cap = max_entries_.load(std::memory_order_relaxed);
    for (unsigned sh = 0; sh < kShards; ++sh) {
        if (per_shard[sh] == per_shard[sh + 1]) continue;
        Shard& s = shards_[sh];
        std::lock_guard<std::mutex> sg(s.mu);
        for (std::uint32_t k = per_shard[sh]; k < per_shard[sh + 1]; ++k) {
            const std::uint32_t i = order_[k];
            const std::uint8_t* key = keys_.data() + static_cast<std::size_t>(i) * key_bytes_;
            std::uint8_t* row = find(s, key, hashes_[i]);
            if (!row) {
                if (cap != 0 && entries_.load(std::memory_order_relaxed) >= cap) {
                    ++dropped;
                    continue;
                }
                row = insert(s, key, hashes_[i]);
                entries_.fetch_add(1, std::memory_order_relaxed);
            }
            const fa_row& in = batch.rows[i];
            std::uint8_t* c = row + key_bytes_;
            proto::RowCounters rc = proto::read_counters(c);
            rc.packets += in.rec.packets;
            rc.bytes += in.rec.bytes;
            rc.flows += in.rec.flows;
            rc.tcp_flags |= in.rec.tcp_flags;
            const auto updated_s = static_cast<std::uint32_t>(in.stamp_updated_us / 1000000u);
            if (updated_s > rc.stamp_updated_s) rc.stamp_updated_s = updated_s;
            proto::write_counters(c, rc);
        }
    }
    return dropped;
}

namespace {
void zero_counters(std::uint8_t* c) {
    proto::RowCounters rc = proto::read_counters(c);
    rc.packets = rc.bytes = rc.flows = 0;
    rc.tcp_flags = 0;
    proto::write_counters(c, rc);
}
} // namespace

std::uint64_t MemoryTable::dump(std::string& out, bool reset) {
    std::shared_lock<std::shared_mutex> g(layout_mu_);
    std::uint64_t total = 0;
    for (auto& s : shards_) {
        std::lock_guard<std::mutex> sg(s.mu);
        if (s.rows == 0) continue;
        out.reserve(out.size() + static_cast<std::size_t>(s.rows) * row_bytes_);
        for (std::size_t c = 0; c < s.chunks.size(); ++c) {
            std::uint32_t in_chunk = std::min<std::uint32_t>(kChunkRows, s.rows - static_cast<std::uint32_t>(c) * kChunkRows);
            out.append(reinterpret_cast<const char*>(s.chunks[c].get()), static_cast<std::size_t>(in_chunk) * row_bytes_);
        }
        if (reset)
            for (std::uint32_t i = 0; i < s.rows; ++i) zero_counters(row_at(s, i) + key_bytes_);
        total += s.rows;
    }
    return total;
}

std::uint64_t MemoryTable::top_rows(proto::SortBy by, std::uint32_t n, bool reset, std::string& out) {
    std::shared_lock<std::shared_mutex> g(layout_mu_);
    if (!has_layout_ || n == 0) return 0;
    const std::size_t at = key_bytes_ + (by == proto::SortBy::Packets ? 0 : by == proto::SortBy::Bytes ? 8 : 16);
    struct Item {
        std::uint64_t value;
        std::uint64_t order; // ties keep scan order, as a stable sort would
        std::string row;
    };
    // A min-heap of the best n seen so far: the root is the one to evict.
    auto worse = [](const Item& a, const Item& b) { return a.value != b.value ? a.value > b.value : a.order < b.order; };
    std::vector<Item> heap;
    heap.reserve(std::min<std::uint64_t>(n, entries()) + 1);
    std::uint64_t seen = 0;
    for (auto& s : shards_) {
        std::lock_guard<std::mutex> sg(s.mu);
        for (std::uint32_t i = 0; i < s.rows; ++i, ++seen) {
            std::uint8_t* row = row_at(s, i);
            std::uint64_t v;
            std::memcpy(&v, row + at, 8);
            if (heap.size() == n && v <= heap.front().value) continue;
            heap.push_back({v, seen, std::string(reinterpret_cast<const char*>(row), row_bytes_)});
            std::push_heap(heap.begin(), heap.end(), worse);
            if (heap.size() > n) {
                std::pop_heap(heap.begin(), heap.end(), worse);
                heap.pop_back();
            }
            if (reset) zero_counters(row + key_bytes_);
        }
    }
    std::sort_heap(heap.begin(), heap.end(), worse);
    for (const auto& it : heap) out += it.row;
    return heap.size();
}

bool MemoryTable::row_matches(const std::uint8_t* row, const CompiledQuery& q, const NameOf& names) const {
    for (const auto& c : q.conds)
        if (std::memcmp(row + c.offset, c.value, c.size) != 0) return false;
    for (const auto& nc : q.names) {
        std::uint32_t id;
        std::memcpy(&id, row + nc.offset, 4);
        if (names(id) != nc.name) return false;
    }
    return true;
}

std::uint64_t MemoryTable::match_rows(const std::vector<CompiledQuery>& queries, const NameOf& names, bool reset,
                                      std::string& out) {
    std::shared_lock<std::shared_mutex> g(layout_mu_);
    if (!has_layout_) return 0;
    std::vector<std::string> per_query(queries.size());
    std::uint64_t total = 0;
    bool any_scan = false;
    for (std::size_t qi = 0; qi < queries.size(); ++qi) {
        const auto& q = queries[qi];
        if (!q.exact) {
            any_scan = true;
            continue;
        }
        std::uint64_t h = hash(q.key.data());
        Shard& s = shards_[h >> (64 - kShardBits)];
        std::lock_guard<std::mutex> sg(s.mu);
        if (std::uint8_t* row = find(s, q.key.data(), h)) {
            per_query[qi].append(reinterpret_cast<const char*>(row), row_bytes_);
            if (reset) zero_counters(row + key_bytes_);
        }
    }
    // One pass over the table for every query that needs a scan.
    if (any_scan) {
        for (auto& s : shards_) {
            std::lock_guard<std::mutex> sg(s.mu);
            for (std::uint32_t i = 0; i < s.rows; ++i) {
                std::uint8_t* row = row_at(s, i);
                bool hit = false;
                for (std::size_t qi = 0; qi < queries.size(); ++qi) {
                    if (queries[qi].exact || !row_matches(row, queries[qi], names)) continue;
                    per_query[qi].append(reinterpret_cast<const char*>(row), row_bytes_);
                    hit = true;
                }
                if (hit && reset) zero_counters(row + key_bytes_);
            }
        }
    }
    for (auto& p : per_query) {
        total += p.size() / row_bytes_;
        out += p;
    }
    return total;
}

std::vector<proto::RowCounters> MemoryTable::match_sums(const std::vector<CompiledQuery>& queries,
                                                        const NameOf& names, bool reset) {
    std::vector<proto::RowCounters> sums(queries.size());
    auto add_to = [&](proto::RowCounters& sum, std::uint8_t* row) {
        proto::RowCounters rc = proto::read_counters(row + key_bytes_);
        sum.packets += rc.packets;
        sum.bytes += rc.bytes;
        sum.flows += rc.flows;
    };
    std::shared_lock<std::shared_mutex> g(layout_mu_);
    if (!has_layout_) return sums;
    bool any_scan = false;
    for (std::size_t qi = 0; qi < queries.size(); ++qi) {
        const auto& q = queries[qi];
        if (!q.exact) {
            any_scan = true;
            continue;
        }
        std::uint64_t h = hash(q.key.data());
        Shard& s = shards_[h >> (64 - kShardBits)];
        std::lock_guard<std::mutex> sg(s.mu);
        if (std::uint8_t* row = find(s, q.key.data(), h)) {
            add_to(sums[qi], row);
            if (reset) zero_counters(row + key_bytes_);
        }
    }
    if (any_scan) {
        for (auto& s : shards_) {
            std::lock_guard<std::mutex> sg(s.mu);
            for (std::uint32_t i = 0; i < s.rows; ++i) {
                std::uint8_t* row = row_at(s, i);
                bool hit = false;
                for (std::size_t qi = 0; qi < queries.size(); ++qi) {
                    if (queries[qi].exact || !row_matches(row, queries[qi], names)) continue;
                    add_to(sums[qi], row);
                    hit = true;
                }
                if (hit && reset) zero_counters(row + key_bytes_);
            }
        }
    }
    return sums;
}

void MemoryTable::erase() {
    std::shared_lock<std::shared_mutex> g(layout_mu_);
    for (auto& s : shards_) {
        std::lock_guard<std::mutex> sg(s.mu);
        clear_shard(s);
    }
}

namespace {

bool parse_uint(const std::string& text, std::uint64_t max, std::uint64_t& out, int base = 10) {
    if (text.empty() || text.size() > 20) return false;
    std::uint64_t v = 0;
    std::size_t i = 0;
    if (base == 16 && text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) i = 2;
    if (i == text.size()) return false;
    for (; i < text.size(); ++i) {
        char ch = text[i];
        int d;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (base == 16 && ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else if (base == 16 && ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
        else return false;
        if (v > (max - static_cast<std::uint64_t>(d)) / static_cast<std::uint64_t>(base)) return false;
        v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
    }
    out = v;
    return true;
}

// The bytes a value of primitive `p` packs into, as fa_record holds them.
bool parse_value(fa_primitive p, const std::string& text, std::uint8_t* out, std::size_t size) {
    std::uint64_t v = 0;
    switch (p) {
    case FA_P_SRC_MAC: case FA_P_DST_MAC: case FA_P_SUM_MAC: return sdk::parse_mac(text, out);
    case FA_P_SRC_HOST: case FA_P_DST_HOST: case FA_P_SRC_NET: case FA_P_DST_NET: case FA_P_SUM_HOST:
    case FA_P_SUM_NET: case FA_P_PEER_SRC_IP: case FA_P_PEER_DST_IP: return sdk::parse_addr(text, out);
    case FA_P_PROTO: return sdk::parse_proto(text, out[0]);
    case FA_P_ETYPE:
        if (!parse_uint(text, 0xffff, v, 16)) return false;
        break;
    default:
        if (!parse_uint(text, size >= 8 ? ~0ull : (1ull << (8 * size)) - 1, v)) return false;
        break;
    }
    // Integers are stored in fa_record in host order; copy the low `size` bytes the same way.
    switch (size) {
    case 1: out[0] = static_cast<std::uint8_t>(v); break;
    case 2: { auto x = static_cast<std::uint16_t>(v); std::memcpy(out, &x, 2); break; }
    case 4: { auto x = static_cast<std::uint32_t>(v); std::memcpy(out, &x, 4); break; }
    case 8: std::memcpy(out, &v, 8); break;
    default: return false;
    }
    return true;
}

std::string keyed_list(const proto::KeyLayout& layout) {
    std::string s;
    for (const auto& info : sdk::kPrimitives)
        if (layout.keyed_on(info.id)) s += (s.empty() ? "" : ", ") + std::string(info.name);
    return s.empty() ? "nothing yet" : s;
}

} // namespace

bool compile_queries(const proto::Request& request, const proto::KeyLayout& layout,
                     std::vector<CompiledQuery>& out, std::string& error) {
    out.clear();
    for (fa_primitive p : request.primitives) {
        if (!layout.keyed_on(p) || proto::field_of(p).size == 0) {
            error = "the table does not aggregate on '" + std::string(sdk::primitive_info(p).name) +
                    "' (it aggregates on: " + keyed_list(layout) + ")";
            return false;
        }
    }
    out.reserve(request.queries.size());
    for (const auto& values : request.queries) {
        if (values.size() != request.primitives.size()) {
            error = "a query has " + std::to_string(values.size()) + " values for " +
                    std::to_string(request.primitives.size()) + " primitives";
            return false;
        }
        CompiledQuery q;
        q.key.assign(layout.key_bytes(), 0);
        std::vector<bool> covered(layout.key_bytes(), false);
        for (std::size_t i = 0; i < values.size(); ++i) {
            const fa_primitive p = request.primitives[i];
            const std::string& v = values[i];
            if (v == "*") continue;
            const proto::Field f = proto::field_of(p);
            const auto off = static_cast<std::uint16_t>(layout.offset_of(p));
            if (p == FA_P_CLASS || p == FA_P_LABEL) {
                if (!(p == FA_P_CLASS && v == "unknown")) {
                    q.names.push_back({off, v});
                    continue;
                }
            }
            CompiledQuery::Cond c{off, f.size, {}};
            if (!(p == FA_P_CLASS || p == FA_P_LABEL) && !parse_value(p, v, c.value, f.size)) {
                error = "bad value '" + v + "' for " + sdk::primitive_info(p).name;
                return false;
            }
            std::memcpy(q.key.data() + off, c.value, f.size);
            for (std::size_t b = 0; b < f.size; ++b) covered[off + b] = true;
            q.conds.push_back(c);
        }
        bool all = true;
        for (bool b : covered) all = all && b;
        q.exact = all && q.names.empty() && !layout.history();
        out.push_back(std::move(q));
    }
    return true;
}

void sort_rows(std::string& rows, std::size_t row_bytes, std::size_t key_bytes, proto::SortBy by,
               std::uint32_t top_n) {
    if (row_bytes == 0) return;
    const std::size_t n = rows.size() / row_bytes;
    std::size_t counter_at = key_bytes + (by == proto::SortBy::Packets ? 0 : by == proto::SortBy::Bytes ? 8 : 16);
    struct Item {
        std::uint64_t value;
        std::uint32_t index;
    };
    std::vector<Item> items(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t v = 0;
        if (by != proto::SortBy::None) std::memcpy(&v, rows.data() + i * row_bytes + counter_at, 8);
        items[i] = {v, static_cast<std::uint32_t>(i)};
    }
    std::size_t keep = top_n == 0 ? n : std::min<std::size_t>(top_n, n);
    auto cmp = [](const Item& a, const Item& b) { return a.value != b.value ? a.value > b.value : a.index < b.index; };
    if (by != proto::SortBy::None) {
        if (keep < n) std::partial_sort(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(keep), items.end(), cmp);
        else std::sort(items.begin(), items.end(), cmp);
    }
    std::string sorted;
    sorted.resize(keep * row_bytes);
    for (std::size_t i = 0; i < keep; ++i)
        std::memcpy(sorted.data() + i * row_bytes, rows.data() + static_cast<std::size_t>(items[i].index) * row_bytes,
                    row_bytes);
    rows.swap(sorted);
}

} // namespace flowacct::memory
