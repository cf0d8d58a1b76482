// SPDX-License-Identifier: GPL-2.0-or-later
// Stage "ports": ports_file lists the ports that count; any other src/dst port becomes 0.
// The file holds one port (0..65535) a line; '!' and '#' start comments.
#include <sys/stat.h>               // stat

#include <bitset>                   // std::bitset
#include <memory>                   // std::unique_ptr
#include <stdexcept>                // std::runtime_error
#include <string>                   // std::string

#include <flowacct/sdk/export.hpp>  // FLOWACCT_MODULE, sdk::Classifier, sdk::Context, sdk::Error

#include "map_text.hpp"             // maptext::for_each_line, parse_uint, read_file

namespace {

using namespace flowacct;
using PortSet = std::bitset<65536>;

constexpr fa_config_key kKeys[] = {
    {"ports_file", FA_KEY_PATH, nullptr, "Ports that count, one a line; other ports aggregate as 0"},
};

std::unique_ptr<PortSet> load_ports(const std::string& path) {
    auto set = std::make_unique<PortSet>();
    std::string text = maptext::read_file(path);
    maptext::for_each_line(text, [&](std::size_t line_no, std::string_view line) {
        std::uint64_t port = 0;
        if (!maptext::parse_uint(line, 65535, port))
            throw std::runtime_error(path + ":" + std::to_string(line_no) + ": expected a port 0..65535, got '" +
                                     std::string(line) + "'");
        set->set(port);
    });
    return set;
}

class PortsStage final : public sdk::Classifier {
public:
    explicit PortsStage(const sdk::Context& ctx) : ctx_(ctx), path_(ctx.config().str("ports_file")) {
        if (path_.empty()) throw sdk::Error("expected a file of ports", "ports_file");
        stamp_ = stamp_of(path_);
        try {
            ports_ = load_ports(path_);
        } catch (const std::exception& e) {
            throw sdk::Error(e.what(), "ports_file");
        }
        zeroed_ = ctx.counter("ports_zeroed");
    }

    // Pipeline thread, on the pipeline's private copy of the batch.
    void process(fa_record* records, std::uint32_t count, const std::uint8_t*) override {
        std::uint64_t zeroed = 0;
        const PortSet& set = *ports_;
        for (std::uint32_t i = 0; i < count; ++i) {
            fa_record& r = records[i];
            if (r.src_port && !set.test(r.src_port)) {
                r.src_port = 0;
                ++zeroed;
            }
            if (r.dst_port && !set.test(r.dst_port)) {
                r.dst_port = 0;
                ++zeroed;
            }
        }
        if (zeroed) sdk::Context::add(zeroed_, zeroed);
    }

    // Pipeline thread. A bad file keeps the current list.
    void reload() override {
        long long now = stamp_of(path_);
        if (now == stamp_) return;
        stamp_ = now;
        try {
            ports_ = load_ports(path_);
        } catch (const std::exception& e) {
            throw sdk::Error(std::string(e.what()) + " (the previous ports stay in force)", "ports_file");
        }
        ctx_.info("ports_file reloaded: " + path_ + ": " + std::to_string(ports_->count()) + " ports");
    }

private:
    static long long stamp_of(const std::string& path) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) return -1;
        return static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec + st.st_size * 7 +
               static_cast<long long>(st.st_ino) * 13;
    }

    sdk::Context ctx_;
    std::string path_;
    long long stamp_ = -1;
    std::unique_ptr<PortSet> ports_;
    std::uint64_t* zeroed_ = nullptr;
};

} // namespace

FLOWACCT_MODULE(Classifier, PortsStage, "ports", "1.0.0", "ports_file: unlisted ports aggregate as 0", kKeys)
