// SPDX-License-Identifier: GPL-2.0-or-later
// bench-sflow-decode: flow samples decoded per second by one core, on the generator's workload
// held in memory (no I/O, records into a reused buffer).
#include <chrono>   // std::chrono::steady_clock
#include <cstdio>   // std::printf
#include <cstdlib>  // std::strtoull
#include <cstring>  // std::memset
#include <vector>   // std::vector

#include "sflow_decoder.hpp" // sflow::Decoder
#include "workload.hpp"      // bench::Workload

namespace {

// Writes into a fixed ring of records, like a host batch that is reused.
class RingSink final : public flowacct::sflow::RecordSink {
public:
    fa_record& next() noexcept override {
        fa_record& r = ring_[pos_++ & 1023];
        std::memset(&r, 0, sizeof r);
        return r;
    }
    void discard_last() noexcept override { --pos_; }
    void attach_payload(fa_record&, const std::uint8_t*, std::uint32_t) noexcept override {}
    std::uint64_t bytes() const {
        std::uint64_t b = 0;
        for (const auto& r : ring_) b += r.bytes;
        return b;
    }

private:
    fa_record ring_[1024];
    std::uint64_t pos_ = 0;
};

} // namespace

int main(int argc, char** argv) {
    flowacct::sflow::bench::WorkloadOptions o;
    o.samples = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
    o.keys = 10000;
    o.counter_every = 0;
    std::uint64_t rounds = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20;
    flowacct::sflow::bench::Workload w(o);
    std::vector<flowacct::sflow::encode::Bytes> datagrams;
    flowacct::sflow::encode::Bytes d;
    while (w.next(d)) datagrams.push_back(d);

    flowacct::sflow::Decoder decoder({});
    RingSink sink;
    std::uint64_t records = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t r = 0; r < rounds; ++r)
        for (const auto& dg : datagrams) records += decoder.decode(dg.data(), dg.size(), 1, sink);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("decoded %llu flow samples in %.3f s: %.2f M samples/s, %.1f ns/sample (check %llu)\n",
                static_cast<unsigned long long>(records), s, records / s / 1e6, s * 1e9 / records,
                static_cast<unsigned long long>(sink.bytes() & 0xff));
    return records == o.samples * rounds ? 0 : 1;
}
