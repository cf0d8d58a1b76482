// SPDX-License-Identifier: GPL-2.0-or-later
// A third-party stage built out of tree against the installed SDK: tags every record by its IP
// protocol (TCP 1, UDP 2, other 3) into tag, or into tag2 when built with OOT_TAG2.
#include <cstdint>                  // std::uint32_t, std::uint64_t

#include <flowacct/sdk/export.hpp>  // FLOWACCT_MODULE, sdk::Classifier, sdk::Context

#ifndef OOT_NAME
#error "OOT_NAME (the module name) must be defined by the build"
#endif

namespace {

using namespace flowacct;

class ProtoTag final : public sdk::Classifier {
public:
    explicit ProtoTag(const sdk::Context& ctx) : tagged_(ctx.counter("oot_tagged")) {}

    // Pipeline thread, on the pipeline's private copy of the batch; the host owns the records.
    void process(fa_record* records, std::uint32_t count, const std::uint8_t*) override {
        for (std::uint32_t i = 0; i < count; ++i) {
            const std::uint64_t t = records[i].proto == 6 ? 1 : records[i].proto == 17 ? 2 : 3;
#ifdef OOT_TAG2
            records[i].tag2 = t;
#else
            records[i].tag = t;
#endif
        }
        sdk::Context::add(tagged_, count);
    }

private:
    std::uint64_t* tagged_;
};

} // namespace

FLOWACCT_MODULE(Classifier, ProtoTag, OOT_NAME, "1.0.0", "Tags records by IP protocol (out-of-tree test)", nullptr)
