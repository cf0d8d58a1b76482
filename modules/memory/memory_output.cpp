// SPDX-License-Identifier: GPL-2.0-or-later
// Output module "memory": keeps the pipeline's rows summed in a bounded in-memory table and
// answers `flowacct` queries about it on a unix socket (pmacct's memory plugin).
#include <sys/stat.h>       // mode_t

#include <atomic>           // std::atomic
#include <cstdint>          // std::uint64_t
#include <memory>           // std::unique_ptr
#include <string>           // std::string

#include <flowacct/sdk/export.hpp>     // FLOWACCT_MODULE, sdk::Output, sdk::Context, sdk::Error
#include <flowacct/sdk/primitives.hpp> // sdk::kPrimitives

#include "memory_table.hpp"   // MemoryTable, compile_queries, sort_rows
#include "query_protocol.hpp" // proto::*
#include "query_server.hpp"   // QueryServer

namespace {

using namespace flowacct;
using namespace flowacct::memory;

constexpr fa_config_key kKeys[] = {
    {"imt_path", FA_KEY_PATH, "/tmp/collect.pipe", "Unix socket the table is queried on (flowacct -p)."},
    {"imt_path_mode", FA_KEY_STRING, "0600",
     "Octal permissions of the query socket; 0660 lets the socket's group query (and only the daemon's user or "
     "root may reset or erase)."},
    {"imt_mem_pools_number", FA_KEY_INT, "16",
     "Memory budget, with imt_mem_pools_size: number x size bytes for rows and index; 0 = unbounded."},
    {"imt_mem_pools_size", FA_KEY_INT, "8192", "Bytes per memory pool (see imt_mem_pools_number)."},
    {"imt_max_entries", FA_KEY_INT, nullptr,
     "Cap on rows in the table; overrides the pools budget. New keys beyond it are dropped and counted."},
};

constexpr std::uint64_t kFullLogIntervalUs = 10'000'000;

unsigned parse_mode(const std::string& text) {
    if (text.empty() || text.size() > 4) throw sdk::Error("expected an octal mode such as 0600, got '" + text + "'", "imt_path_mode");
    unsigned m = 0;
    for (char c : text) {
        if (c < '0' || c > '7') throw sdk::Error("expected an octal mode such as 0600, got '" + text + "'", "imt_path_mode");
        m = m * 8 + static_cast<unsigned>(c - '0');
    }
    if (m & 07000) throw sdk::Error("setuid, setgid and sticky bits make no sense on a socket", "imt_path_mode");
    if ((m & 0200) == 0) throw sdk::Error("the owner needs write permission (0200) to query the socket", "imt_path_mode");
    return m;
}

std::uint64_t non_negative(const sdk::Config& cfg, const char* key, std::uint64_t fallback) {
    std::int64_t v = cfg.integer(key, static_cast<std::int64_t>(fallback));
    if (v < 0) throw sdk::Error("expected a number >= 0, got " + std::to_string(v), key);
    return static_cast<std::uint64_t>(v);
}

using sdk::json_escape;

class MemoryOutput final : public sdk::Output {
public:
    static constexpr std::uint32_t kDefaultRefreshS = 1;

    explicit MemoryOutput(const sdk::Context& ctx)
        : ctx_(ctx),
          table_(configured_cap(ctx.config()), budget(ctx.config())),
          rows_written_(ctx.counter("rows_written")),
          table_full_(ctx.counter("table_full")),
          entries_(ctx.counter("entries")),
          memory_bytes_(ctx.counter("memory_bytes")),
          ctl_rejected_(ctx.counter("ctl_rejected")) {
        const sdk::Config& cfg = ctx.config();
        const unsigned mode = parse_mode(cfg.str("imt_path_mode", "0600"));
        const std::string path = cfg.str("imt_path", "/tmp/collect.pipe");
        ServerCounters counters{ctx.counter("queries"), ctx.counter("query_rejected"), ctx.counter("query_errors")};
        try {
            server_ = std::make_unique<QueryServer>(
                path, mode, [this](const proto::Request& r, const Peer& p) { return answer(r, p); }, counters,
                [this](const std::string& m) { ctx_.warn(m); });
        } catch (const std::runtime_error& e) {
            throw sdk::Error(e.what(), "imt_path");
        }
        ctx_.info("memory table on " + path + ", cap " +
                  (table_.max_entries() ? std::to_string(table_.max_entries()) + " entries"
                                        : budget(cfg) ? std::to_string(budget(cfg)) + " bytes" : std::string("none")));
    }

    // Stops the server first: its workers call into the table.
    ~MemoryOutput() override { server_.reset(); }

    void write(const fa_row_batch& batch) override {
        if (batch.count == 0) return;
        bool relayout = false;
        const std::uint32_t dropped = table_.add(batch, relayout);
        history_s_.store(batch.history_s, std::memory_order_relaxed);
        if (relayout) ctx_.warn("rows now keyed on other primitives: the table was cleared");
        sdk::Context::add(rows_written_, batch.count - dropped);
        __atomic_store_n(entries_, table_.entries(), __ATOMIC_RELAXED);
        __atomic_store_n(memory_bytes_, table_.memory_bytes(), __ATOMIC_RELAXED);
        if (dropped) {
            sdk::Context::add(table_full_, dropped);
            const std::uint64_t now = ctx_.monotonic_us();
            if (last_full_log_us_ == 0 || now - last_full_log_us_ >= kFullLogIntervalUs) {
                last_full_log_us_ = now;
                ctx_.warn("memory table full at " + std::to_string(table_.entries()) + " entries: " +
                          std::to_string(__atomic_load_n(table_full_, __ATOMIC_RELAXED)) +
                          " new rows dropped so far; raise imt_max_entries or imt_mem_pools_number, or erase "
                          "the table (flowacct -e)");
            }
        }
    }

private:
    static std::uint64_t configured_cap(const sdk::Config& cfg) { return non_negative(cfg, "imt_max_entries", 0); }
    static std::uint64_t budget(const sdk::Config& cfg) {
        const std::uint64_t n = non_negative(cfg, "imt_mem_pools_number", 16);
        const std::uint64_t s = non_negative(cfg, "imt_mem_pools_size", 8192);
        if (n > (1ull << 32) || s > (1ull << 32)) throw sdk::Error("memory pools too large", "imt_mem_pools_number");
        return n * s;
    }

    static std::string error(const std::string& message) {
        return proto::response_header(proto::Status::Error, message.size()) + message;
    }
    static std::string ok(const std::string& body) { return proto::response_header(proto::Status::Ok, body.size()) + body; }

    std::string name_of(std::uint32_t id) const { return id ? std::string(ctx_.name_of(id)) : std::string(); }

    // Frames rows: table description, names of the class/label ids they use, then the rows.
    std::string rows_response(const proto::KeyLayout& layout, std::string& rows, std::uint64_t n_rows) {
        std::string head;
        proto::put_u64(head, layout.primitives());
        proto::put_u32(head, layout.history() ? history_s_.load(std::memory_order_relaxed) : 0);
        proto::put_u8(head, 0); // reserved
        std::string names;
        std::uint32_t n_names = 0;
        const std::size_t rb = layout.row_bytes();
        for (fa_primitive p : {FA_P_CLASS, FA_P_LABEL}) {
            if (!layout.keyed_on(p) || rb == 0) continue;
            std::vector<std::uint32_t> seen;
            for (std::size_t off = 0; off + rb <= rows.size(); off += rb) {
                std::uint32_t id;
                std::memcpy(&id, rows.data() + off + layout.offset_of(p), 4);
                if (id == 0 || std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
                seen.push_back(id);
                std::string n = name_of(id).substr(0, 0xffff);
                proto::put_u32(names, id);
                proto::put_u16(names, static_cast<std::uint16_t>(n.size()));
                names += n;
                ++n_names;
                if (seen.size() > 100000) break; // bounded: unresolved ids print empty
            }
        }
        proto::put_u32(head, n_names);
        head += names;
        proto::put_u64(head, n_rows);
        std::string frame = proto::response_header(proto::Status::Ok, head.size() + rows.size());
        frame.reserve(frame.size() + head.size() + rows.size());
        frame += head;
        frame += rows;
        return frame;
    }

    std::string answer(const proto::Request& req, const Peer& peer) {
        const bool reset = req.flags & proto::kFlagReset;
        if ((reset || req.type == proto::RequestType::Erase) && !peer.privileged) {
            sdk::Context::add(ctl_rejected_);
            return error("permission denied: only root or the daemon's user may reset or erase the table");
        }
        switch (req.type) {
        case proto::RequestType::Dump: {
            const proto::KeyLayout layout = table_.layout();
            std::string rows;
            std::uint64_t n = 0;
            if (req.sort != proto::SortBy::None && req.top_n) {
                n = table_.top_rows(req.sort, req.top_n, reset, rows);
                return rows_response(layout, rows, n);
            }
            n = table_.dump(rows, reset);
            if (req.sort != proto::SortBy::None || req.top_n) {
                sort_rows(rows, layout.row_bytes(), layout.key_bytes(), req.sort, req.top_n);
                n = layout.row_bytes() ? rows.size() / layout.row_bytes() : 0;
            }
            return rows_response(layout, rows, n);
        }
        case proto::RequestType::Match: {
            const proto::KeyLayout layout = table_.layout();
            std::vector<CompiledQuery> queries;
            std::string err;
            if (layout.primitives() == 0 && layout.key_bytes() == 0 && table_.entries() == 0) {
                // No row yet, so no layout to check against: nothing matches.
                if (req.flags & proto::kFlagCountersOnly) {
                    std::string body;
                    proto::put_u32(body, static_cast<std::uint32_t>(req.queries.size()));
                    for (std::size_t i = 0; i < req.queries.size() * 3; ++i) proto::put_u64(body, 0);
                    return ok(body);
                }
                std::string none;
                return rows_response(layout, none, 0);
            }
            if (!compile_queries(req, layout, queries, err)) return error(err);
            const NameOf names = [this](std::uint32_t id) { return name_of(id); };
            if (req.flags & proto::kFlagCountersOnly) {
                auto sums = table_.match_sums(queries, names, reset);
                std::string body;
                proto::put_u32(body, static_cast<std::uint32_t>(sums.size()));
                for (const auto& s : sums) {
                    proto::put_u64(body, s.packets);
                    proto::put_u64(body, s.bytes);
                    proto::put_u64(body, s.flows);
                }
                return ok(body);
            }
            std::string rows;
            std::uint64_t n = table_.match_rows(queries, names, reset, rows);
            if (req.sort != proto::SortBy::None || req.top_n) {
                sort_rows(rows, layout.row_bytes(), layout.key_bytes(), req.sort, req.top_n);
                n = layout.row_bytes() ? rows.size() / layout.row_bytes() : 0;
            }
            return rows_response(layout, rows, n);
        }
        case proto::RequestType::Erase:
            table_.erase();
            last_erase_us_.store(ctx_.wall_us(), std::memory_order_relaxed);
            __atomic_store_n(entries_, table_.entries(), __ATOMIC_RELAXED);
            return ok({});
        case proto::RequestType::SinceErase: {
            const std::uint64_t at = last_erase_us_.load(std::memory_order_relaxed);
            const std::uint64_t now = ctx_.wall_us();
            std::string body;
            proto::put_u64(body, at == 0 ? ~0ull : (now > at ? (now - at) / 1000000u : 0));
            return ok(body);
        }
        case proto::RequestType::Status: {
            const proto::KeyLayout layout = table_.layout();
            std::string s;
            s += "primitives: " + std::string(layout.primitives() ? "" : "(no rows yet)");
            bool first = true;
            for (const auto& info : sdk::kPrimitives)
                if (layout.keyed_on(info.id)) s += (first ? "" : ", ") + std::string(info.name), first = false;
            s += "\nhistory: " + (layout.history() ? std::to_string(history_s_.load()) + " s" : std::string("off"));
            s += "\nentries: " + std::to_string(table_.entries());
            s += "\nmax entries: " + (table_.max_entries() ? std::to_string(table_.max_entries()) : std::string("unbounded"));
            s += "\nbytes per entry: " + std::to_string(layout.row_bytes());
            s += "\nmemory bytes: " + std::to_string(table_.memory_bytes());
            s += "\nindex slots: " + std::to_string(table_.index_slots());
            s += "\nshards: " + std::to_string(MemoryTable::kShards);
            s += "\ndropped (table full): " + std::to_string(__atomic_load_n(table_full_, __ATOMIC_RELAXED));
            s += "\n";
            return ok(s);
        }
        case proto::RequestType::Stats: {
            std::string s = "{\"instance\": \"" + json_escape(ctx_.instance_name() ? ctx_.instance_name() : "") + "\"";
            s += ", \"entries\": " + std::to_string(table_.entries());
            s += ", \"max_entries\": " + std::to_string(table_.max_entries());
            s += ", \"memory_bytes\": " + std::to_string(table_.memory_bytes());
            s += ", \"table_full\": " + std::to_string(__atomic_load_n(table_full_, __ATOMIC_RELAXED));
            s += ", \"rows_written\": " + std::to_string(__atomic_load_n(rows_written_, __ATOMIC_RELAXED));
            s += ", \"host\": " + ctx_.stats_json() + "}\n";
            return ok(s);
        }
        }
        return error("unknown request");
    }

    sdk::Context ctx_;
    MemoryTable table_;
    std::uint64_t* rows_written_;
    std::uint64_t* table_full_;
    std::uint64_t* entries_;
    std::uint64_t* memory_bytes_;
    std::uint64_t* ctl_rejected_;
    std::atomic<std::uint32_t> history_s_{0};
    std::atomic<std::uint64_t> last_erase_us_{0};
    std::uint64_t last_full_log_us_ = 0;
    std::unique_ptr<QueryServer> server_; // last: started once everything above exists
};

} // namespace

FLOWACCT_MODULE(Output, MemoryOutput, "memory", "1.0.0", "In-memory table queried with the flowacct client", kKeys)
