// SPDX-License-Identifier: GPL-2.0-or-later
// Test output "cxxsink", built with clang and libc++ to show that nothing of C++ crosses the
// module boundary: it keeps rows in a std::map (libc++'s) and writes totals to `cxxsink_file`.
#include <fstream>  // std::ofstream
#include <map>      // std::map
#include <string>   // std::string

#include <flowacct/sdk/export.hpp>     // FLOWACCT_MODULE
#include <flowacct/sdk/primitives.hpp> // sdk::addr_to_string

namespace {

using namespace flowacct;

constexpr fa_config_key kKeys[] = {
    {"cxxsink_file", FA_KEY_PATH, nullptr, "Where to write the totals at flush"},
};

class CxxSink final : public sdk::Output {
public:
    explicit CxxSink(const sdk::Context& ctx) : path_(ctx.config().str("cxxsink_file")) {
        if (path_.empty()) throw sdk::Error("a file is required", "cxxsink_file");
    }
    void write(const fa_row_batch& rows) override {
        for (std::uint32_t i = 0; i < rows.count; ++i) {
            auto& t = totals_[sdk::addr_to_string(rows.rows[i].rec.src_ip)];
            t.first += rows.rows[i].rec.packets;
            t.second += rows.rows[i].rec.bytes;
        }
    }
    void flush() override {
        std::ofstream out(path_);
        unsigned long long packets = 0, bytes = 0;
        for (const auto& [k, v] : totals_) {
            packets += v.first;
            bytes += v.second;
        }
        out << "keys " << totals_.size() << " packets " << packets << " bytes " << bytes << "\n";
#ifdef _LIBCPP_VERSION
        out << "libc++ " << _LIBCPP_VERSION << "\n";
#endif
    }

private:
    std::string path_;
    std::map<std::string, std::pair<unsigned long long, unsigned long long>> totals_;
};

} // namespace

FLOWACCT_MODULE(Output, CxxSink, "cxxsink", "0.0.1", "Test sink built with clang and libc++", kKeys)
