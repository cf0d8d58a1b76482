// SPDX-License-Identifier: GPL-2.0-or-later
// Test output "dgcount": a datagram-only output (sdk::Output with kDatagramsOnly) that counts the
// datagrams testgen submits and checks they come in order; while the file named by dgcount_hold
// exists, it stalls the pipeline, so tests can fill the datagram queue. It counts reloads.
#include <chrono>      // std::chrono::milliseconds
#include <cstdint>     // std::uint64_t
#include <filesystem>  // std::filesystem::exists
#include <string>      // std::string
#include <thread>      // std::this_thread::sleep_for

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE

namespace {

using namespace flowacct;

constexpr fa_config_key kKeys[] = {
    {"dgcount_hold", FA_KEY_PATH, nullptr, "Stall while this file exists"},
};

class DgCount final : public sdk::Output {
public:
    static constexpr bool kDatagramsOnly = true;

    explicit DgCount(const sdk::Context& ctx) : hold_(ctx.config().str("dgcount_hold")) {
        seen_ = ctx.counter("datagrams_seen");
        disorder_ = ctx.counter("datagrams_out_of_order");
        reloads_ = ctx.counter("reloads");
    }
    void reload() override { sdk::Context::add(reloads_); }
    void write(const fa_row_batch&) override {}
    void datagrams(const fa_datagram* const* d, std::uint32_t n) override {
        while (!hold_.empty() && std::filesystem::exists(hold_)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        for (std::uint32_t i = 0; i < n; ++i) {
            std::uint64_t v = 0;
            for (std::uint32_t b = 0; b < d[i]->length && b < 8; ++b) v = (v << 8) | d[i]->data[b];
            if (count_ && v <= last_) sdk::Context::add(disorder_);
            last_ = v;
            ++count_;
        }
        sdk::Context::add(seen_, n);
    }

private:
    std::string hold_;
    std::uint64_t* seen_ = nullptr;
    std::uint64_t* disorder_ = nullptr;
    std::uint64_t* reloads_ = nullptr;
    std::uint64_t last_ = 0, count_ = 0;
};

} // namespace

FLOWACCT_MODULE(Output, DgCount, "dgcount", "0.0.1", "Counts datagrams (tests)", kKeys)
