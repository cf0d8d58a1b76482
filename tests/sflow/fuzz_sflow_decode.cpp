// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: any bytes through the sFlow decoder, with and without renormalization and
// payloads. One decoder lives across inputs so agent, sequence and interface state is fuzzed too.
#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t
#include <cstring>  // std::memset
#include <vector>   // std::vector

#include "sflow_decoder.hpp" // sflow::Decoder, sflow::RecordSink

namespace {

// Checks what a sink can check: payloads lie inside the bytes given, records are sane.
class CheckingSink final : public flowacct::sflow::RecordSink {
public:
    const std::uint8_t* begin = nullptr;
    const std::uint8_t* end = nullptr;
    fa_record& next() noexcept override {
        std::memset(&slot_, 0, sizeof slot_);
        ++live_;
        return slot_;
    }
    void discard_last() noexcept override {
        if (live_ == 0) __builtin_trap(); // discard without a record
        --live_;
    }
    void attach_payload(fa_record&, const std::uint8_t* data, std::uint32_t len) noexcept override {
        if (data < begin || data + len > end) __builtin_trap();
        volatile std::uint8_t sink = 0;
        for (std::uint32_t i = 0; i < len; ++i) sink = sink ^ data[i]; // every byte readable
    }

private:
    fa_record slot_{};
    std::size_t live_ = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static flowacct::sflow::Decoder plain({false, false});
    static flowacct::sflow::Decoder renorm({true, true});
    // A copy of exactly `size` bytes, so a read past the end is caught by ASan.
    std::vector<std::uint8_t> copy(data, data + size);
    CheckingSink sink;
    sink.begin = copy.data();
    sink.end = copy.data() + size;
    const auto a = plain.decode(copy.data(), size, 1, sink);
    const auto b = renorm.decode(copy.data(), size, 1, sink);
    if (a > size / 8 || b > size / 8) __builtin_trap(); // a record needs at least a sample header
    return 0;
}
