// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers for the SQL output tests: crafted rows, a driver that feeds an output module through
// FakeHost as the pipeline thread would, and small waits on the module's counters.
#pragma once

#include <sys/stat.h>  // stat

#include <chrono>      // std::chrono
#include <cstdlib>     // std::getenv, setenv
#include <ctime>       // tzset
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ifstream
#include <map>         // std::map
#include <memory>      // std::unique_ptr
#include <random>      // std::random_device
#include <string>      // std::string
#include <thread>      // std::this_thread
#include <vector>      // std::vector

#include <doctest/doctest.h>
#include <fake_host.hpp>               // test::FakeHost, test::Instance, test::load_module
#include <flowacct/sdk/primitives.hpp> // sdk::set_v4

namespace flowacct::sqltest {

/// Stamps are written in local time, as pmacct does: tests pin the zone.
inline void pin_utc() {
    setenv("TZ", "UTC", 1);
    tzset();
}

inline std::uint64_t bit(fa_primitive p) { return 1ull << p; }

/// A row keyed on src_host/dst_host/ports/proto (+ ASes) in bin `bin_s`.
inline fa_row make_row(std::uint32_t src, std::uint32_t dst, std::uint64_t bin_s, std::uint64_t packets,
                       std::uint64_t bytes) {
    fa_row r{};
    std::uint8_t s[4] = {10, static_cast<std::uint8_t>(src >> 16), static_cast<std::uint8_t>(src >> 8),
                         static_cast<std::uint8_t>(src)};
    std::uint8_t d[4] = {192, 168, static_cast<std::uint8_t>(dst >> 8), static_cast<std::uint8_t>(dst)};
    sdk::set_v4(r.rec.src_ip, s);
    sdk::set_v4(r.rec.dst_ip, d);
    r.rec.ip_version = 4;
    r.rec.proto = 6;
    r.rec.src_port = 40000;
    r.rec.dst_port = 443;
    r.rec.packets = packets;
    r.rec.bytes = bytes;
    r.rec.flows = 1;
    r.rec.tcp_flags = 0x02;
    r.stamp_inserted_us = bin_s * 1'000'000;
    r.stamp_updated_us = (bin_s + 1) * 1'000'000;
    return r;
}

inline const std::uint64_t kHostPrims = bit(FA_P_SRC_HOST) | bit(FA_P_DST_HOST) | bit(FA_P_SRC_PORT) |
                                        bit(FA_P_DST_PORT) | bit(FA_P_PROTO);

/// A temporary directory removed at scope exit.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() / ("flowacct-sql-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string operator/(const std::string& f) const { return (path / f).string(); }
};

/// One output module instance driven like a pipeline does: write() chunks, tick(), flush().
class Driver {
public:
    Driver(const std::string& module_file, std::map<std::string, std::string> config, std::string instance = "t")
        : host(std::move(config), std::move(instance)), desc_(test::load_module(module_file)) {
        REQUIRE_MESSAGE(desc_ != nullptr, "cannot load " << module_file);
        inst_ = std::make_unique<test::Instance>(desc_, host);
        ops_ = inst_->ops<fa_output_ops>();
    }
    bool ok() const { return static_cast<bool>(*inst_); }
    const std::string& error() const { return inst_->error; }

    fa_status write(const std::vector<fa_row>& rows, std::uint64_t primitives, std::uint32_t history_s = 600) {
        return write(rows.data(), rows.size(), primitives, history_s);
    }
    fa_status write(const fa_row* rows, std::size_t count, std::uint64_t primitives, std::uint32_t history_s = 600) {
        fa_row_batch b{rows, static_cast<std::uint32_t>(count), history_s, primitives};
        return ops_->write(inst_->get(), &b);
    }
    fa_status tick() { return ops_->tick(inst_->get(), 0); }
    fa_status flush() { return ops_->flush(inst_->get()); }
    /// write + tick: one purge of the aggregator.
    fa_status purge(const std::vector<fa_row>& rows, std::uint64_t primitives, std::uint32_t history_s = 600) {
        fa_status st = write(rows, primitives, history_s);
        if (st != FA_OK) return st;
        return tick();
    }
    std::uint64_t counter(const std::string& name) const {
        auto it = host.counters.find(name);
        return it == host.counters.end() ? 0 : __atomic_load_n(&it->second, __ATOMIC_RELAXED);
    }
    /// Waits (bounded) until `name` reaches `value`; true if it did.
    bool wait_counter(const std::string& name, std::uint64_t value, int timeout_ms = 20000) const {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (counter(name) < value) {
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return true;
    }
    /// Destroys the instance (as the host does at shutdown, after flush).
    void destroy() { inst_.reset(); }
    ~Driver() {
        inst_.reset();
        if (std::getenv("FLOWACCT_TEST_LOGS"))
            for (const auto& l : host.logs) MESSAGE(l);
    }

    test::FakeHost host;

private:
    const fa_module_descriptor* desc_;
    std::unique_ptr<test::Instance> inst_;
    const fa_output_ops* ops_ = nullptr;
};

/// `ddl` (a CREATE TABLE from etc/sql or create_table_sql) without its primary key, as an
/// insert-only site has it.
inline std::string without_primary_key(std::string ddl) {
    const auto pk = ddl.find(",\n    PRIMARY KEY");
    REQUIRE(pk != std::string::npos);
    ddl.erase(pk, ddl.find("\n)", pk) - pk);
    return ddl;
}

inline bool require_sql() { return std::getenv("FLOWACCT_REQUIRE_SQL") != nullptr; }

inline std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

/// The lines of a refused-rows file (none when it is absent); checks it is the owner's only.
inline std::vector<std::string> refused_lines(const std::string& path) {
    std::vector<std::string> out;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return out;
    CHECK((st.st_mode & 0777) == 0600);
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

/// Feeds one writer's two purges for the refused-row cases: 100 keys, one packet each, except
/// key 50 in the first purge (2,000,000 packets, past the table's CHECK) and key 7 in the
/// second (999,999: the sum with the first purge's packet passes it, refused on update).
inline void feed_with_poison(Driver& d) {
    std::vector<fa_row> first, second;
    for (int k = 0; k < 100; ++k) {
        first.push_back(make_row(k, 0, 600, k == 50 ? 2'000'000 : 1, 10));
        second.push_back(make_row(k, 0, 600, k == 7 ? 999'999 : 1, 10));
    }
    CHECK(d.purge(first, kHostPrims) == FA_OK);
    CHECK(d.purge(second, kHostPrims) == FA_OK);
    CHECK(d.flush() == FA_OK);
}

/// What feed_with_poison() leaves per writer: the refused rows in the file and the counters.
inline void check_poison_writer(Driver& d, const std::string& refused_file) {
    CHECK(d.counter("sql_rows_refused") == 2);
    CHECK(d.counter("sql_batches_isolated") == 2); // one per purge: each holds one refused row
    CHECK(d.counter("sql_rows_committed") == 198);
    CHECK(d.counter("sql_journal_rows") == 0);
    auto lines = refused_lines(refused_file);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].find("\"packets\":\"2000000\"") != std::string::npos);
    CHECK(lines[0].find("\"ip_src\":\"10.0.0.50\"") != std::string::npos);
    CHECK(lines[0].find("fa_small_packets") != std::string::npos);
    CHECK(lines[1].find("\"packets\":\"999999\"") != std::string::npos);
    CHECK(lines[1].find("\"ip_src\":\"10.0.0.7\"") != std::string::npos);
    bool logged = false;
    for (const auto& l : d.host.logs) logged |= l.find("refused 1 row(s) of table") != std::string::npos;
    CHECK(logged);
}

} // namespace flowacct::sqltest
