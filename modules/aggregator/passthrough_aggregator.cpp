// SPDX-License-Identifier: GPL-2.0-or-later
// Aggregator module "passthrough": hands every record to the output as a row of its own, without
// summing, within one pipeline tick (about 100 ms). For outputs that keep their own state, such
// as the NetFlow and sFlow exporters.
#include <vector>   // std::vector

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE
#include <flowacct/sdk/module.hpp> // sdk::Aggregator

namespace {

using namespace flowacct;

// Ask for a purge beyond this: memory stays bounded, and the rows (about 250 KB) are still in
// the core's cache when the output reads them (16 384 rows, 4 MB, were not: 5 % of an nfprobe run).
constexpr std::size_t kMaxRows = 1024;

class Passthrough final : public sdk::Aggregator {
public:
    explicit Passthrough(const sdk::Context&) { rows_.reserve(kMaxRows + 1024); }

    bool ingest(const fa_record* records, std::uint32_t count) override {
        for (std::uint32_t i = 0; i < count; ++i) {
            fa_row& row = rows_.emplace_back();
            row.rec = records[i];
            row.stamp_inserted_us = 0;
            row.stamp_updated_us = records[i].time_end_us;
        }
        return rows_.size() >= kMaxRows;
    }

    void purge(std::uint64_t, bool, const fa_row_sink& sink) override {
        if (rows_.empty()) return;
        // Every primitive is present: rows are whole records.
        fa_row_batch batch{rows_.data(), static_cast<std::uint32_t>(rows_.size()), 0, (1ull << FA_P_COUNT) - 1};
        sink.write(sink.ctx, &batch);
        rows_.clear();
    }

    std::uint64_t size() const override { return rows_.size(); }

private:
    std::vector<fa_row> rows_;
};

} // namespace

FLOWACCT_MODULE(Aggregator, Passthrough, "passthrough", "0.1.0", "Every record as its own row, for exporters",
                nullptr)
