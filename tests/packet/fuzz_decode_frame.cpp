// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: decode_frame and the flow tracker on arbitrary bytes under every link type.
#include <cstdint>            // std::uint8_t
#include <cstring>            // std::memcpy
#include <vector>             // std::vector

#include "flow_tracker.hpp"   // FlowTracker
#include "packet_decode.hpp"  // decode_frame

using namespace flowacct::packet;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const int kDlts[] = {kDltNull, kDltEthernet, kDltRaw, kLinktypeRaw, kDltLoop,
                                kDltLinuxSll, kDltIpv4, kDltIpv6, kDltLinuxSll2};
    static FlowTracker tracker{FlowTrackerConfig{}};
    if (size < 1) return 0;
    const int dlt = kDlts[data[0] % (sizeof kDlts / sizeof kDlts[0])];
    // An exact-size heap copy, so ASan catches any read past the capture.
    std::vector<std::uint8_t> frame(data + 1, data + size);
    fa_record rec{};
    L4View l4;
    FragmentInfo frag;
    const auto len = static_cast<std::uint32_t>(frame.size());
    DecodeResult r = decode_frame(dlt, frame.empty() ? nullptr : frame.data(), len, len, rec, l4, frag);
    if (l4.payload_len) {
        // Touch every payload byte the decoder claims is there.
        volatile std::uint8_t sink = 0;
        for (std::uint32_t i = 0; i < l4.payload_len; ++i) sink = sink ^ l4.payload[i];
        (void)sink;
    }
    if (r == DecodeResult::Ok) {
        tracker.join_fragment(rec, frag, 1'000'000);
        tracker.observe(rec, 1'000'000);
    }
    fa_record rec2{};
    decode_ip(frame.empty() ? nullptr : frame.data(), len, rec2, l4);
    return 0;
}
