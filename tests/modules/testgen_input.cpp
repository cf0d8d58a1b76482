// SPDX-License-Identifier: GPL-2.0-or-later
// Test input "testgen": emits deterministic records so host tests can check totals exactly.
// Record i has src_host 10.0.(i/256%256).(i%256) % keys, dst_host 192.168.0.(i%7), dst_port
// 1000 + i%5, proto tcp/udp, packets 1, bytes 100 + i%10. Writes the records it had accepted
// to `testgen_report` when it stops. With `testgen_tuple_keys`, every field comes from k = i % keys
// (dst_host 192.168.(k/256%256).(k%256), dst_port 1000 + k%5, src_port 40000 + k%3, proto by k%2),
// so a 5-primitive aggregation sees exactly `keys` keys (benchmarks). Tests only: never installed.
#include <atomic>     // std::atomic
#include <chrono>     // std::chrono
#include <fstream>    // std::ofstream
#include <thread>     // std::this_thread

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE
#include <flowacct/sdk/module.hpp> // sdk::Input
#include <flowacct/sdk/primitives.hpp> // sdk::set_v4

namespace {

using namespace flowacct;

constexpr fa_config_key kKeys[] = {
    {"testgen_records", FA_KEY_INT, "1000", "Records to emit (0: until stopped)"},
    {"testgen_keys", FA_KEY_INT, "100", "Distinct source hosts"},
    {"testgen_rate", FA_KEY_INT, "0", "Records per second, 0 = as fast as possible"},
    {"testgen_report", FA_KEY_PATH, nullptr, "Where to write the totals accepted, at stop"},
    {"testgen_backpressure", FA_KEY_BOOL, "true", "Wait for queue room instead of dropping"},
    {"testgen_stay", FA_KEY_BOOL, "false", "Stay up after the last record until stopped"},
    {"testgen_time", FA_KEY_INT, "0", "Record time (Unix seconds); 0 = now"},
    {"testgen_tuple_keys", FA_KEY_BOOL, "false", "Derive every field from the key: `keys` distinct 5-tuples"},
};

class TestGen final : public sdk::Input {
public:
    explicit TestGen(const sdk::Context& ctx)
        : ctx_(ctx),
          records_(static_cast<std::uint64_t>(ctx.config().integer("testgen_records"))),
          keys_(static_cast<std::uint64_t>(ctx.config().integer("testgen_keys"))),
          rate_(static_cast<std::uint64_t>(ctx.config().integer("testgen_rate"))),
          report_(ctx.config().str("testgen_report")),
          stay_(ctx.config().boolean("testgen_stay")),
          time_s_(static_cast<std::uint64_t>(ctx.config().integer("testgen_time"))),
          tuple_keys_(ctx.config().boolean("testgen_tuple_keys")) {
        if (keys_ == 0) throw sdk::Error("expected at least 1", "testgen_keys");
        ctx.api()->set_backpressure(ctx.api()->ctx, ctx.config().boolean("testgen_backpressure") ? 1 : 0);
        datagrams_ = ctx.datagrams_wanted();
    }

    fa_status run() override {
        sdk::BatchWriter out(ctx_.api());
        auto start = std::chrono::steady_clock::now();
        std::uint64_t i = 0;
        for (; (records_ == 0 || i < records_) && !stop_.load(); ++i) {
            fa_record& r = out.next();
            std::uint64_t k = i % keys_;
            std::uint8_t src[4] = {10, static_cast<std::uint8_t>(k >> 16), static_cast<std::uint8_t>(k >> 8),
                                   static_cast<std::uint8_t>(k)};
            const std::uint64_t j = tuple_keys_ ? k : i;
            std::uint8_t dst[4] = {192, 168, static_cast<std::uint8_t>(tuple_keys_ ? k >> 8 : 0),
                                   static_cast<std::uint8_t>(tuple_keys_ ? k : i % 7)};
            sdk::set_v4(r.src_ip, src);
            sdk::set_v4(r.dst_ip, dst);
            r.ip_version = 4;
            r.proto = (j % 2) ? 6 : 17;
            r.src_port = static_cast<std::uint16_t>(40000 + j % 3);
            r.dst_port = static_cast<std::uint16_t>(1000 + j % 5);
            r.packets = 1;
            r.bytes = 100 + i % 10;
            r.flows = (i % 4 == 0) ? 1 : 0;
            r.time_end_us = r.time_start_us = time_s_ ? time_s_ * 1'000'000 : ctx_.wall_us();
            if (datagrams_) {
                // One datagram a record when a pipeline takes datagrams: 8 bytes, the record number.
                std::uint8_t bytes[8];
                for (int b = 0; b < 8; ++b) bytes[b] = static_cast<std::uint8_t>(i >> (8 * (7 - b)));
                fa_datagram d{};
                d.data = bytes;
                d.length = sizeof bytes;
                d.ip_version = 4;
                d.src_port = r.src_port;
                sdk::set_v4(d.exporter, src);
                d.arrival_us = r.time_end_us;
                ctx_.submit_datagram(d);
            }
            if (out.pending() == 1024) accepted_ += out.flush();
            if (rate_ && i % 64 == 0) {
                auto due = start + std::chrono::microseconds(i * 1'000'000 / rate_);
                if (due > std::chrono::steady_clock::now()) {
                    accepted_ += out.flush();
                    std::this_thread::sleep_until(due);
                }
            }
        }
        accepted_ += out.flush();
        while (stay_ && !stop_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!report_.empty()) {
            std::ofstream f(report_);
            f << "emitted " << i << "\naccepted " << accepted_ << "\n";
        }
        return stop_.load() ? FA_OK : FA_EOF;
    }

    void request_stop() override { stop_.store(true); }

private:
    sdk::Context ctx_;
    std::uint64_t records_, keys_, rate_;
    std::string report_;
    bool stay_;
    std::uint64_t time_s_;
    bool tuple_keys_ = false;
    std::uint64_t accepted_ = 0;
    bool datagrams_ = false;
    std::atomic<bool> stop_{false};
};

} // namespace

FLOWACCT_MODULE(Input, TestGen, "testgen", "0.0.1", "Deterministic records for tests", kKeys)
