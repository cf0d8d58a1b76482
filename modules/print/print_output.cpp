// SPDX-License-Identifier: GPL-2.0-or-later
// Output module "print" (pmacct's print plugin): each purge of the aggregator written as
// formatted text, CSV or JSON lines, to stdout or to a file whose name may hold strftime variables.
#include <sys/stat.h>  // umask
#include <cstdio>      // std::FILE, std::fopen
#include <ctime>       // strftime, gmtime_r
#include <filesystem>  // std::filesystem::create_directories
#include <string>      // std::string
#include <vector>      // std::vector

#include <flowacct/sdk/export.hpp>     // FLOWACCT_MODULE
#include <flowacct/sdk/module.hpp>     // sdk::Output
#include <flowacct/sdk/primitives.hpp> // sdk::kPrimitives, sdk::format_primitive

#include "print_format.hpp" // RowFormatter

namespace {

using namespace flowacct;

constexpr fa_config_key kKeys[] = {
    {"print_output", FA_KEY_STRING, "formatted", "formatted, csv or json"},
    {"print_output_file", FA_KEY_PATH, nullptr, "Write here instead of stdout; strftime variables allowed"},
    {"print_output_file_append", FA_KEY_BOOL, "false", "Append to the file instead of rewriting it each purge"},
    {"print_output_separator", FA_KEY_STRING, ",", "CSV separator"},
    {"print_markers", FA_KEY_BOOL, "false", "Write --START-- and --END-- lines around each purge"},
    {"print_num_protos", FA_KEY_BOOL, "false", "Print protocols as numbers"},
};

class PrintOutput final : public sdk::Output {
public:
    explicit PrintOutput(const sdk::Context& ctx)
        : ctx_(ctx),
          formatter_(print::parse_format(ctx.config().str("print_output")), ctx.config().str("print_output_separator"),
                     ctx.config().boolean("print_num_protos")),
          path_(ctx.config().str("print_output_file")),
          append_(ctx.config().boolean("print_output_file_append")),
          markers_(ctx.config().boolean("print_markers")) {
        if (path_.find('$') != std::string::npos)
            throw sdk::Error("$ variables in print_output_file are not supported yet; strftime variables are",
                             "print_output_file");
        rows_written_ = ctx.counter("rows_written");
        // The aggregator owns print_refresh_time; the interval also tells which purges share a file.
        std::uint64_t refresh_s = ctx.config().duration_s("print_refresh_time", 60);
        window_us_ = (refresh_s ? refresh_s : 60) * 1'000'000;
    }

    ~PrintOutput() override { close(); }

    void write(const fa_row_batch& rows) override {
        if (rows.count == 0) return;
        if (!file_) open(rows);
        std::string line;
        for (std::uint32_t i = 0; i < rows.count; ++i) {
            line.clear();
            formatter_.row(rows.rows[i], rows, [this](std::uint32_t id) { return std::string(ctx_.name_of(id)); },
                           line);
            std::fwrite(line.data(), 1, line.size(), file_);
        }
        sdk::Context::add(rows_written_, rows.count);
    }

    // A purge is complete when the host ticks after it: end the file.
    void tick(std::uint64_t) override { close(); }
    void flush() override { close(); }

private:
    void open(const fa_row_batch& rows) {
        std::string name = "-";
        if (!path_.empty() && path_ != "-") {
            std::uint64_t t_us = rows.history_s ? rows.rows[0].stamp_inserted_us : ctx_.wall_us();
            std::time_t t = static_cast<std::time_t>(t_us / 1'000'000);
            std::tm tm{};
            localtime_r(&t, &tm);
            char buf[4096];
            if (std::strftime(buf, sizeof buf, path_.c_str(), &tm) == 0)
                throw sdk::Error("print_output_file expands to nothing or is too long", "print_output_file");
            name = buf;
        }
        // Rows of one refresh interval may come in several purges (an early purge when the table is
        // full, or the passthrough aggregator): they continue the interval's file instead of
        // rewriting it, and the header is written once.
        const std::uint64_t now = ctx_.monotonic_us();
        const bool continuing = name == window_name_ && now - window_start_us_ < window_us_;
        if (!continuing) {
            window_name_ = name;
            window_start_us_ = now;
        }
        if (name == "-") {
            file_ = stdout;
        } else {
            std::filesystem::path p(name);
            std::error_code ec;
            if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
            mode_t old = umask(077);
            file_ = std::fopen(name.c_str(), append_ || continuing ? "a" : "w");
            umask(old);
            if (!file_) throw sdk::Error("cannot open " + name + " for writing");
        }
        // Each purge is bracketed by its own markers; a continued file gets no second header.
        std::string head;
        if (markers_) head += "--START (" + std::to_string(ctx_.wall_us() / 1'000'000) + ")--\n";
        if (!continuing) formatter_.header(rows, head);
        std::fwrite(head.data(), 1, head.size(), file_);
    }

    void close() {
        if (!file_) return;
        if (markers_) std::fprintf(file_, "--END (%llu)--\n", static_cast<unsigned long long>(ctx_.wall_us() / 1'000'000));
        if (file_ == stdout) std::fflush(stdout);
        else std::fclose(file_);
        file_ = nullptr;
    }

    sdk::Context ctx_;
    print::RowFormatter formatter_;
    std::string path_;
    bool append_;
    bool markers_;
    std::FILE* file_ = nullptr;
    std::string window_name_;         // file of the current refresh interval
    std::uint64_t window_start_us_ = 0;
    std::uint64_t window_us_ = 60'000'000;
    std::uint64_t* rows_written_ = nullptr;
};

} // namespace

FLOWACCT_MODULE(Output, PrintOutput, "print", "0.1.0", "Aggregated rows as text, CSV or JSON (pmacct's print plugin)",
                kKeys)
