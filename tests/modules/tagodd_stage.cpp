// SPDX-License-Identifier: GPL-2.0-or-later
// Test stage "tagodd": tags each record with its destination port and drops those with an odd
// source port; counts its reloads into `tagodd_reloads` (a file) so tests can see SIGUSR2 reach it.
#include <fstream>  // std::ofstream

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE

namespace {

using namespace flowacct;

constexpr fa_config_key kKeys[] = {
    {"tagodd_reloads", FA_KEY_PATH, nullptr, "File that receives the number of reloads"},
};

class TagOdd final : public sdk::Classifier {
public:
    explicit TagOdd(const sdk::Context& ctx) : path_(ctx.config().str("tagodd_reloads")) {}
    void process(fa_record* records, std::uint32_t count, const std::uint8_t*) override {
        for (std::uint32_t i = 0; i < count; ++i) {
            records[i].tag = records[i].dst_port;
            if (records[i].src_port % 2) records[i].flags |= FA_REC_DROP;
        }
    }
    void reload() override {
        ++reloads_;
        if (!path_.empty()) std::ofstream(path_) << reloads_ << "\n";
    }

private:
    std::string path_;
    int reloads_ = 0;
};

} // namespace

FLOWACCT_MODULE(Classifier, TagOdd, "tagodd", "0.0.1", "Test stage: tags and drops", kKeys)
