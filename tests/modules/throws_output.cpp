// SPDX-License-Identifier: GPL-2.0-or-later
// Test output "throws": its constructor throws a plain std::runtime_error, which the SDK's
// trampoline must turn into a refused create, not a crash of the host.
#include <stdexcept> // std::runtime_error

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE

namespace {

class Throws final : public flowacct::sdk::Output {
public:
    explicit Throws(const flowacct::sdk::Context&) { throw std::runtime_error("database on fire"); }
    void write(const fa_row_batch&) override {}
};

} // namespace

FLOWACCT_MODULE(Output, Throws, "throws", "0.0.1", "Throws in its constructor", nullptr)
