// SPDX-License-Identifier: GPL-2.0-or-later
// Aggregator module "hash": sums records per key (the pipeline's primitives, plus the time bin
// when history is on) and hands the rows to the output every refresh interval.
#include <algorithm>   // std::min
#include <ctime>       // gmtime_r, timegm
#include <memory>      // std::unique_ptr
#include <string>      // std::string
#include <vector>      // std::vector

#include <flowacct/sdk/export.hpp>     // FLOWACCT_MODULE
#include <flowacct/sdk/module.hpp>     // sdk::Aggregator, sdk::Context

#include "agg_table.hpp"   // AggTable
#include "key_layout.hpp"  // KeyLayout

namespace {

using namespace flowacct;
using flowacct::aggregator::AggTable;
using flowacct::aggregator::Counters;
using flowacct::aggregator::KeyLayout;

constexpr fa_config_key kKeys[] = {
    {"aggregate", FA_KEY_LIST, "src_host", "Primitives rows are keyed on, comma-separated"},
    {"sql_history", FA_KEY_DURATION, nullptr, "Time bin length (N[s|m|h|d|w|M]); rows per bin"},
    {"print_history", FA_KEY_DURATION, nullptr, "Same as sql_history, pmacct's print spelling"},
    {"sql_history_roundoff", FA_KEY_STRING, nullptr, "Align bins to m, h, d, w or M (bins are always aligned to the epoch; w and M to weeks and months)"},
    {"print_history_roundoff", FA_KEY_STRING, nullptr, "Same as sql_history_roundoff"},
    {"sql_refresh_time", FA_KEY_DURATION, nullptr, "Seconds between purges of the rows to the output"},
    {"print_refresh_time", FA_KEY_DURATION, nullptr, "Same as sql_refresh_time, pmacct's print spelling"},
    {"aggregate_max_entries", FA_KEY_INT, "8000000", "Rows held before an early purge (bounds memory)"},
    {"nfacctd_time_new", FA_KEY_BOOL, "false", "Bin records by arrival time instead of the flow's own time"},
    {"sfacctd_time_new", FA_KEY_BOOL, "false", "Same as nfacctd_time_new"},
};

constexpr std::uint64_t kUs = 1'000'000;
constexpr std::uint32_t kRowChunk = 1024;
constexpr std::uint32_t kChunk = 64; // records per prefetch round
constexpr std::uint32_t kAhead = 16; // keys between an entry prefetch and its use

// Bin start (seconds) of `t_s` for bins of `h_s` seconds, aligned as the roundoff asks.
std::uint64_t bin_start(std::uint64_t t_s, std::uint64_t h_s, char roundoff) {
    if (roundoff == 'M' || h_s % (30 * 86400) == 0) {
        std::time_t t = static_cast<std::time_t>(t_s);
        std::tm tm{};
        gmtime_r(&t, &tm);
        tm.tm_mday = 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        return static_cast<std::uint64_t>(timegm(&tm));
    }
    if (roundoff == 'w' || h_s % (7 * 86400) == 0) {
        // The epoch was a Thursday; weeks start on Monday.
        const std::uint64_t monday = 4 * 86400;
        if (t_s < monday) return 0;
        return (t_s - monday) / h_s * h_s + monday;
    }
    return t_s / h_s * h_s;
}

class HashAggregator final : public sdk::Aggregator {
public:
    explicit HashAggregator(const sdk::Context& ctx)
        : ctx_(ctx),
          history_s_(history(ctx)),
          layout_(ctx.config().list("aggregate"), history_s_ > 0),
          max_entries_(max_entries(ctx)),
          table_(layout_.full().key_size, max_entries_),
          table4_(layout_.has_compact() ? std::make_unique<AggTable>(layout_.compact().key_size, max_entries_) : nullptr),
          keybuf_(static_cast<std::size_t>(layout_.key_size()) * kChunk * 2),
          hashes_(kChunk * 2),
          owner_(kChunk * 2),
          compact_(kChunk * 2) {
        const auto& c = ctx.config();
        // pmacct's spellings belong to their plugins: print_* to print, sql_* to the SQL outputs.
        // Other outputs take either spelling for history; the memory table refreshes on its own
        // default (1 s) so that a global print_refresh_time does not hold its rows back.
        const std::string out = c.str("__output");
        const bool is_sql = out == "pgsql" || out == "mysql" || out == "sqlite3";
        const bool use_sql = out != "print";
        const bool use_print = !is_sql;
        std::uint64_t out_default = static_cast<std::uint64_t>(c.integer("__output_refresh_s", 0));
        refresh_s_ = 0;
        if (out != "memory") {
            if (use_sql && c.has("sql_refresh_time")) refresh_s_ = c.duration_s("sql_refresh_time");
            else if (use_print && c.has("print_refresh_time")) refresh_s_ = c.duration_s("print_refresh_time");
        }
        if (refresh_s_ == 0) refresh_s_ = out_default ? out_default : 60;
        std::string roundoff = use_sql && c.has("sql_history_roundoff") ? c.str("sql_history_roundoff")
                               : use_print                              ? c.str("print_history_roundoff")
                                                                        : std::string();
        if (!roundoff.empty()) {
            if (roundoff.find_first_not_of("mhdwM") != std::string::npos)
                throw sdk::Error("expected a combination of m, h, d, w, M, got '" + roundoff + "'",
                                 c.has("sql_history_roundoff") ? "sql_history_roundoff" : "print_history_roundoff");
            roundoff_ = roundoff.find('M') != std::string::npos   ? 'M'
                        : roundoff.find('w') != std::string::npos ? 'w'
                                                                  : roundoff.back();
        }
        time_new_ = c.boolean("nfacctd_time_new") || c.boolean("sfacctd_time_new");
        rows_.resize(kRowChunk);
        early_purges_ = ctx.counter("early_purges");
        future_ts_ = ctx.counter("ts_future");
        next_purge_us_ = ctx.monotonic_us() + refresh_s_ * kUs;
    }

    bool ingest(const fa_record* records, std::uint32_t count) override {
        const std::uint64_t now_wall_us = ctx_.wall_us();
        const std::uint32_t now_wall_s = static_cast<std::uint32_t>(now_wall_us / kUs);
        const bool bins = history_s_ > 0;
        const int sides = layout_.two_sided() ? 2 : 1;
        const bool flags = layout_.or_tcp_flags();
        const std::uint32_t ks = layout_.key_size(); // the larger form: room for either
        const bool compact_form = table4_ != nullptr;
        for (std::uint32_t base = 0; base < count; base += kChunk) {
            const std::uint32_t n = std::min(kChunk, count - base);
            // Pass 1: pack and hash every key of the chunk (into the table of its form), prefetching its slot.
            std::uint32_t keys = 0;
            for (std::uint32_t i = 0; i < n; ++i) {
                const fa_record& r = records[base + i];
                std::uint64_t bin = 0;
                if (bins) {
                    std::uint64_t t = time_new_ || r.time_end_us == 0 ? now_wall_us : r.time_end_us;
                    if (t > now_wall_us + 86400 * kUs) {
                        // An exporter clock far ahead must not open bins in the future.
                        t = now_wall_us;
                        sdk::Context::add(future_ts_);
                    }
                    bin = bin_start(t / kUs, history_s_, roundoff_);
                }
                for (int side = 0; side < sides; ++side) {
                    std::uint8_t* key = keybuf_.data() + static_cast<std::size_t>(keys) * ks;
                    const bool compact = compact_form && layout_.fits_compact(r, side == 1);
                    const aggregator::KeyForm& form = compact ? layout_.compact() : layout_.full();
                    KeyLayout::pack(form, r, key, side == 1);
                    if (bins) std::memcpy(key + form.bin_off, &bin, 8);
                    AggTable& table = compact ? *table4_ : table_;
                    hashes_[keys] = table.hash(key);
                    table.prefetch(hashes_[keys]);
                    owner_[keys] = base + i;
                    compact_[keys] = compact;
                    ++keys;
                }
            }
            // Pass 2: prefetch entries a few keys ahead (the first ones before starting), then update.
            for (std::uint32_t j = 0; j < std::min(kAhead, keys); ++j) table_of(j).prefetch_entry(hashes_[j]);
            for (std::uint32_t j = 0; j < keys; ++j) {
                if (j + kAhead < keys) table_of(j + kAhead).prefetch_entry(hashes_[j + kAhead]);
                const fa_record& r = records[owner_[j]];
                Counters& c = table_of(j).find_or_insert(keybuf_.data() + static_cast<std::size_t>(j) * ks, hashes_[j]);
                c.packets += r.packets;
                c.bytes += r.bytes;
                c.flows += r.flows;
                c.updated_s = now_wall_s;
                if (flags) c.tcp_flags |= r.tcp_flags;
            }
        }
        if (size() >= max_entries_) {
            sdk::Context::add(early_purges_);
            return true;
        }
        return false;
    }

    void purge(std::uint64_t now_mono_us, bool force, const fa_row_sink& sink) override {
        if (!force && now_mono_us < next_purge_us_) return;
        if (!force || now_mono_us >= next_purge_us_) {
            while (next_purge_us_ <= now_mono_us) next_purge_us_ += refresh_s_ * kUs;
        }
        std::uint32_t filled = 0;
        fa_row_batch batch{};
        batch.rows = rows_.data();
        batch.history_s = static_cast<std::uint32_t>(history_s_);
        batch.primitives = layout_.primitives();
        const auto emit = [&](const aggregator::KeyForm& form, const std::uint8_t* key, const Counters& c) {
            fa_row& row = rows_[filled++];
            std::memset(&row, 0, sizeof row);
            KeyLayout::unpack(form, key, row.rec);
            row.rec.packets = c.packets;
            row.rec.bytes = c.bytes;
            row.rec.flows = c.flows;
            row.rec.tcp_flags = c.tcp_flags;
            row.stamp_updated_us = static_cast<std::uint64_t>(c.updated_s) * kUs;
            if (history_s_ > 0) {
                std::uint64_t bin;
                std::memcpy(&bin, key + form.bin_off, 8);
                row.stamp_inserted_us = bin * kUs;
            }
            if (filled == kRowChunk) {
                batch.count = filled;
                sink.write(sink.ctx, &batch);
                filled = 0;
            }
        };
        if (table4_) {
            table4_->for_each([&](const std::uint8_t* key, const Counters& c) { emit(layout_.compact(), key, c); });
            table4_->clear();
        }
        table_.for_each([&](const std::uint8_t* key, const Counters& c) { emit(layout_.full(), key, c); });
        if (filled > 0) {
            batch.count = filled;
            sink.write(sink.ctx, &batch);
        }
        table_.clear();
    }

    std::uint64_t size() const override { return table_.size() + (table4_ ? table4_->size() : 0); }

private:
    AggTable& table_of(std::uint32_t key) { return compact_[key] ? *table4_ : table_; }

    static std::uint64_t max_entries(const sdk::Context& ctx) {
        const auto n = static_cast<std::uint64_t>(ctx.config().integer("aggregate_max_entries"));
        if (n < 1024) throw sdk::Error("expected at least 1024", "aggregate_max_entries");
        return n;
    }

    static std::uint64_t history(const sdk::Context& ctx) {
        const auto& c = ctx.config();
        const std::string out = c.str("__output");
        const bool is_sql = out == "pgsql" || out == "mysql" || out == "sqlite3";
        std::uint64_t h = out != "print" && c.has("sql_history") ? c.duration_s("sql_history")
                          : !is_sql                              ? c.duration_s("print_history", 0)
                                                                 : 0;
        if (h > 0 && h < 60)
            throw sdk::Error("bins shorter than one minute are not supported; expected 1m or more",
                             c.has("sql_history") ? "sql_history" : "print_history");
        return h;
    }

    sdk::Context ctx_;
    std::uint64_t history_s_;
    KeyLayout layout_;
    std::uint64_t max_entries_;
    AggTable table_;                     // keys of the full form
    std::unique_ptr<AggTable> table4_;   // keys of the compact form (IPv4 hosts), if there is one
    std::vector<std::uint8_t> keybuf_;   // packed keys of one chunk (two per record for sum_*)
    std::vector<std::uint64_t> hashes_;
    std::vector<std::uint32_t> owner_;   // the record each key came from
    std::vector<std::uint8_t> compact_;  // whether each key is of the compact form
    std::vector<fa_row> rows_;
    std::uint64_t refresh_s_ = 60;
    std::uint64_t next_purge_us_ = 0;
    char roundoff_ = 0;
    bool time_new_ = false;
    std::uint64_t* early_purges_ = nullptr;
    std::uint64_t* future_ts_ = nullptr;
};

} // namespace

FLOWACCT_MODULE(Aggregator, HashAggregator, "hash", "0.1.0", "Sums records per key and time bin in a hash table",
                kKeys)
