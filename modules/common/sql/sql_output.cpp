// SPDX-License-Identifier: GPL-2.0-or-later
// SqlOutput: writer thread, bounded backlog, journal and commit marker (see sql_output.hpp).
#include "sql_output.hpp"

#include <malloc.h>   // malloc_trim
#include <unistd.h>   // gethostname

#include <algorithm>  // std::find, std::max, std::min
#include <chrono>     // std::chrono
#include <fstream>    // std::ifstream

#include <flowacct/sdk/primitives.hpp> // sdk::find_primitive, sdk::json_escape

namespace flowacct::sql {

namespace {

constexpr std::size_t kSealRows = 131072;       // rows per transaction at most
constexpr auto kFlushWait = std::chrono::seconds(30);
constexpr std::uint64_t kBackoffMinMs = 200, kBackoffMaxMs = 2000;
constexpr std::uint64_t kLogEveryUs = 10'000'000;      // rate-limited logs: one per 10 s at most
constexpr std::uint64_t kRefusedFileMaxBytes = 64ull << 20; // the quarantine file stops growing here

std::string hostname() {
    char b[256] = {};
    if (gethostname(b, sizeof b - 1) != 0) return "localhost";
    return b;
}

} // namespace

std::string read_password(const sdk::Config& config) {
    if (config.has("sql_passwd")) return config.str("sql_passwd");
    if (!config.has("sql_passwd_file")) return {};
    std::string path = config.str("sql_passwd_file");
    std::ifstream in(path);
    if (!in) throw sdk::Error("cannot read " + path, "sql_passwd_file");
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    return line;
}

const std::vector<RenderedGroup>& BatchRows::groups() {
    if (!groups_) groups_ = &whole_.render(rows_, updated_s_);
    return *groups_;
}

const std::vector<std::uint64_t>& BatchRows::bins() {
    if (!bins_.empty() || rows_.empty()) return bins_;
    std::uint64_t last = ~0ull;
    for (const auto& r : rows_) {
        const std::uint64_t bin_s = r.row.stamp_inserted_us / 1'000'000;
        if (bin_s == last) continue;
        last = bin_s;
        if (std::find(bins_.begin(), bins_.end(), bin_s) == bins_.end()) bins_.push_back(bin_s);
    }
    return bins_;
}

RenderedGroup slice_group(const RenderedGroup& g, std::size_t first, std::size_t count) {
    RenderedGroup out;
    out.table = g.table;
    out.bin_s = g.bin_s;
    out.columns = g.columns;
    // Only the slice's own text: halving a refused batch down to its bad rows copies in
    // proportion to each part, not the whole batch's text for every part.
    out.text.assign(1, '\0');
    out.cells.reserve(count * g.columns);
    for (std::size_t row = first; row < first + count; ++row)
        for (std::size_t c = 0; c < g.columns; ++c) {
            const std::string_view v = g.cell(row, c);
            out.cells.push_back({static_cast<std::uint32_t>(out.text.size()), static_cast<std::uint32_t>(v.size())});
            out.text.append(v);
            out.text.push_back('\0');
        }
    out.counters.assign(g.counters.begin() + static_cast<std::ptrdiff_t>(first),
                        g.counters.begin() + static_cast<std::ptrdiff_t>(first + count));
    return out;
}

namespace {

// One part under a savepoint; a refused part is rolled back and its halves tried in turn.
void write_part(Backend& backend, const RenderedGroup& part, const std::function<void(const RenderedGroup&)>& write,
                std::vector<RefusedRow>& refused) {
    backend.exec("SAVEPOINT flowacct_part");
    try {
        write(part);
    } catch (const DbError& e) {
        if (!e.data()) throw;
        backend.exec("ROLLBACK TO SAVEPOINT flowacct_part");
        backend.exec("RELEASE SAVEPOINT flowacct_part");
        if (part.rows() <= 1) {
            if (part.rows() == 1) {
                std::vector<std::string> values;
                for (std::size_t c = 0; c < part.columns; ++c) values.emplace_back(part.cell(0, c));
                refused.push_back(RefusedRow{part.table, std::move(values), e.what()});
            }
            return;
        }
        const std::size_t half = part.rows() / 2;
        write_part(backend, slice_group(part, 0, half), write, refused);
        write_part(backend, slice_group(part, half, part.rows() - half), write, refused);
        return;
    }
    backend.exec("RELEASE SAVEPOINT flowacct_part");
}

} // namespace

void write_isolating(Backend& backend, const std::vector<RenderedGroup>& groups,
                     const std::function<void(const RenderedGroup&)>& write, std::vector<RefusedRow>& refused) {
    for (const auto& g : groups) write_part(backend, g, write, refused);
}

std::uint64_t parse_size_bytes(const std::string& text, const char* key) {
    std::size_t pos = 0;
    unsigned long long n = 0;
    try {
        n = std::stoull(text, &pos, 10);
    } catch (...) {
        pos = 0;
    }
    if (pos == 0 || text[0] == '-') throw sdk::Error("expected a size such as 500000, 64M or 1G, got '" + text + "'", key);
    std::string unit = text.substr(pos);
    if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
    unsigned shift = 0;
    if (unit == "K" || unit == "k") shift = 10;
    else if (unit == "M" || unit == "m") shift = 20;
    else if (unit == "G" || unit == "g") shift = 30;
    else if (!unit.empty()) throw sdk::Error("expected a size such as 500000, 64M or 1G, got '" + text + "'", key);
    if (shift && n > (~0ull >> shift)) throw sdk::Error("size '" + text + "' is too large", key);
    return static_cast<std::uint64_t>(n) << shift;
}

std::uint64_t aggregate_mask(const sdk::Config& config) {
    std::vector<std::string> names = config.list("aggregate");
    if (names.empty()) names.push_back("src_host");
    std::uint64_t mask = 0;
    for (const auto& n : names) {
        if (n == "flows") mask |= 1ull << FA_P_FLOWS;
        else if (const auto* p = sdk::find_primitive(n)) mask |= 1ull << p->id;
    }
    return mask;
}

SqlOutput::SqlOutput(const sdk::Context& ctx, Dialect dialect, std::unique_ptr<Backend> backend)
    : ctx_(ctx),
      dialect_(dialect),
      backend_(std::move(backend)),
      schema_(make_schema(dialect, static_cast<int>(ctx.config().integer("sql_table_version", 1)),
                          ctx.config().boolean("sql_optimize_clauses"), aggregate_mask(ctx.config()))),
      table_(ctx.config().has("sql_table") ? ctx.config().str("sql_table")
                                           : default_table(static_cast<int>(ctx.config().integer("sql_table_version", 1)))),
      dont_try_update_(ctx.config().boolean("sql_dont_try_update")),
      renderer_(dialect, schema_, table_),
      part_renderer_(dialect, schema_, table_) {
    const auto& c = ctx.config();
    if (c.has("sql_table_schema")) {
        std::string path = c.str("sql_table_schema");
        std::ifstream in(path);
        if (!in) throw sdk::Error("cannot read " + path, "sql_table_schema");
        table_schema_sql_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (table_schema_sql_.find_first_not_of(" \t\r\n") == std::string::npos)
            throw sdk::Error(path + " is empty", "sql_table_schema");
    }
    std::int64_t backlog = c.integer("sql_backlog_rows", 200000);
    if (backlog < 0) throw sdk::Error("expected 0 or more rows, got " + std::to_string(backlog), "sql_backlog_rows");
    backlog_limit_rows_ = static_cast<std::uint64_t>(backlog);
    marker_table_ = c.str("sql_commit_table", "flowacct_commits");
    if (!marker_table_.empty() && !valid_table_name(marker_table_))
        throw sdk::Error("'" + marker_table_ + "' is not a table name", "sql_commit_table");
    if (c.has("sql_cache_entries") && c.integer("sql_cache_entries") <= 0)
        throw sdk::Error("expected a positive number", "sql_cache_entries");

    const std::string instance = ctx.instance_name() ? ctx.instance_name() : "default";
    std::string safe_instance = sanitize_text(instance, 64);
    for (char& ch : safe_instance)
        if (ch == '/' || ch == '.') ch = '_';
    const std::uint64_t journal_max_bytes = parse_size_bytes(c.str("sql_journal_max_size", "0"), "sql_journal_max_size");
    journal_ = std::make_unique<Journal>(c.str("sql_journal_dir", "/var/lib/flowacct/sql"), safe_instance,
                                         journal_max_bytes);
    // The id comes first: a long path may be cut at 255 characters, the id never is.
    writer_id_ = sanitize_text(journal_->id() + ":" + hostname() + ":" + instance + ":" + journal_->dir().string(), 255);

    rows_committed_ = ctx.counter("sql_rows_committed");
    batches_committed_ = ctx.counter("sql_batches_committed");
    commit_errors_ = ctx.counter("sql_commit_errors");
    rows_journaled_ = ctx.counter("sql_rows_journaled");
    rows_replayed_ = ctx.counter("sql_rows_replayed");
    batches_skipped_ = ctx.counter("sql_batches_already_committed");
    journal_corrupt_ = ctx.counter("sql_journal_corrupt");
    journal_errors_ = ctx.counter("sql_journal_errors");
    rows_refused_ = ctx.counter("sql_rows_refused");
    batches_isolated_ = ctx.counter("sql_batches_isolated");
    rows_dropped_ = ctx.counter("sql_rows_dropped");
    backlog_rows_ = ctx.counter("sql_backlog_rows");
    journal_rows_gauge_ = ctx.counter("sql_journal_rows");

    std::uint64_t left_rows = 0;
    for (const auto& f : journal_->scan()) {
        auto e = std::make_shared<Entry>();
        e->seq = f.seq;
        e->rows = f.rows;
        e->file = f.path;
        queue_.push_back(e);
        journal_rows_ += f.rows;
        left_rows += f.rows;
        last_seq_ = std::max(last_seq_, f.seq);
    }
    if (!queue_.empty())
        ctx_.info("journal " + journal_->dir().string() + " holds " + std::to_string(queue_.size()) + " batches (" +
                  std::to_string(left_rows) + " rows) from a previous run; they are written first");
    update_gauges_locked();
    writer_ = std::thread([this] { writer_main(); });
}

SqlOutput::~SqlOutput() {
    {
        std::unique_lock lk(mu_);
        if (open_ && !open_->rows.empty()) {
            // flush() was not called (setup failed later, or a host without flush): keep the rows.
            open_->seq = next_seq();
            auto e = std::make_shared<Entry>();
            e->seq = open_->seq;
            e->rows = open_->rows.size();
            e->mem = open_;
            queue_.push_back(e);
            mem_rows_ += e->rows;
            ++mem_entries_;
            open_.reset();
        }
        spill_locked();
        stop_ = true;
        // What the journal could not take (full, disk error) is lost now: counted.
        std::uint64_t lost = 0;
        for (const auto& e : queue_)
            if (e->mem) lost += e->rows;
        if (lost) {
            sdk::Context::add(rows_dropped_, lost);
            ctx_.error("exit with " + std::to_string(lost) + " rows neither committed nor journaled (journal " +
                       journal_->dir().string() + " full or failing); they are lost");
        }
    }
    wake_.notify_all();
    if (writer_.joinable()) writer_.join();
    backend_->close();
}

void SqlOutput::write(const fa_row_batch& rows) {
    if (rows.count == 0) return;
    if (!open_) {
        {
            std::lock_guard lk(mu_);
            open_ = std::move(spare_); // leaves spare_ empty
        }
        if (!open_) open_ = std::make_shared<RowBatch>();
    }
    auto& out = open_->rows;
    // Room for a whole transaction at once: only the pages written take memory, where growing
    // step by step wrote every row twice or more (copies into fresh pages; a fifth of the page
    // faults of a 100 000-row purge). Geometric beyond, when a write goes past kSealRows.
    if (out.capacity() < out.size() + rows.count)
        out.reserve(std::max({out.size() + rows.count, 2 * out.capacity(), kSealRows}));
    for (std::uint32_t i = 0; i < rows.count; ++i) {
        StoredRow& r = out.emplace_back(rows.rows[i]); // the row copied once, not zeroed first
        if (r.row.rec.class_id) r.class_name = ctx_.name_of(r.row.rec.class_id);
        if (r.row.rec.label_id) r.label = ctx_.name_of(r.row.rec.label_id);
    }
    if (out.size() >= kSealRows) seal(true);
}

// A purge ends with a tick: its rows become one transaction.
void SqlOutput::tick(std::uint64_t) { seal(false); }

void SqlOutput::flush() {
    seal(false);
    std::unique_lock lk(mu_);
    flushing_ = true;
    wake_.notify_all();
    // Done when everything is committed, or when the database failed and the writer made the
    // backlog durable in the journal instead.
    // (A journal that cannot take the rows, full or failing, ends the wait too: nothing more
    // can be done for them, and the destructor counts them as dropped.)
    if (!drained_.wait_for(lk, kFlushWait,
                           [&] { return queue_.empty() || (gave_up_ && (mem_entries_ == 0 || spill_failed_)); })) {
        ctx_.warn("database still busy after " + std::to_string(kFlushWait.count()) + " s at shutdown; journaling " +
                  std::to_string(mem_rows_) + " rows in " + journal_->dir().string());
        spill_locked();
    }
    if (journal_rows_ > 0)
        ctx_.warn("shutdown with " + std::to_string(journal_rows_) + " rows in the journal " + journal_->dir().string() +
                  "; they are written at the next start");
}

void SqlOutput::seal(bool more) {
    const bool continues = purge_open_;
    purge_open_ = more;
    if (!open_ || open_->rows.empty()) return;
    auto b = std::move(open_);
    open_.reset();
    b->seq = next_seq();
    enqueue(std::move(b), continues);
}

std::uint64_t SqlOutput::next_seq() {
    // Wall-clock based so that sequence numbers keep growing across restarts (the marker in the
    // database outlives the process); strictly increasing within a run.
    last_seq_ = std::max(last_seq_ + 1, ctx_.wall_us());
    return last_seq_;
}

void SqlOutput::enqueue(std::shared_ptr<RowBatch> batch, bool continues_purge) {
    auto e = std::make_shared<Entry>();
    e->seq = batch->seq;
    e->rows = batch->rows.size();
    e->continues_purge = continues_purge;
    bool spill;
    {
        std::lock_guard lk(mu_);
        // One batch always fits, so a healthy database never sees its rows go through the disk.
        spill = mem_rows_ > 0 && mem_rows_ + e->rows > backlog_limit_rows_;
    }
    if (spill) {
        std::string error;
        try {
            e->file = journal_->write(*batch);
            sdk::Context::add(rows_journaled_, e->rows);
        } catch (const std::exception& ex) {
            error = ex.what();
        }
        if (e->file.empty()) {
            // Memory is full (sql_backlog_rows) and the journal cannot take the batch (its cap,
            // the disk full, an I/O error): the batch is dropped, counted, and collection goes on.
            // The rows already waiting keep their place and order.
            sdk::Context::add(journal_errors_);
            sdk::Context::add(rows_dropped_, e->rows);
            std::lock_guard lk(mu_);
            std::uint64_t skipped = drop_log_suppressed_;
            if (log_due(drop_log_us_, drop_log_suppressed_))
                ctx_.error("dropped " + std::to_string(e->rows) + " rows: the memory backlog is full (" +
                           std::to_string(mem_rows_) + " rows) and the journal refused them: " + error +
                           "; sql_rows_dropped counts them" +
                           (skipped ? " (" + std::to_string(skipped) + " similar messages not logged)" : ""));
            return;
        }
    }
    {
        std::lock_guard lk(mu_);
        if (e->file.empty()) {
            e->mem = std::move(batch);
            mem_rows_ += e->rows;
            ++mem_entries_;
        } else {
            journal_rows_ += e->rows;
        }
        queue_.push_back(e);
        update_gauges_locked();
    }
    wake_.notify_all();
}

void SqlOutput::spill_locked() {
    spill_failed_ = false;
    for (auto& e : queue_) {
        if (!e->mem || !e->file.empty()) continue;
        try {
            e->file = journal_->write(*e->mem);
        } catch (const std::exception& ex) {
            sdk::Context::add(journal_errors_);
            std::uint64_t skipped = drop_log_suppressed_;
            if (log_due(drop_log_us_, drop_log_suppressed_))
                ctx_.error(std::string("journal write failed, rows stay in memory: ") + ex.what() +
                           (skipped ? " (" + std::to_string(skipped) + " similar messages not logged)" : ""));
            spill_failed_ = true;
            continue;
        }
        sdk::Context::add(rows_journaled_, e->rows);
        e->mem.reset();
        mem_rows_ -= e->rows;
        --mem_entries_;
        journal_rows_ += e->rows;
    }
    update_gauges_locked();
    drained_.notify_all();
}

bool SqlOutput::log_due(std::uint64_t& last_us, std::uint64_t& suppressed) {
    const std::uint64_t now = ctx_.monotonic_us();
    if (last_us != 0 && now - last_us < kLogEveryUs) {
        ++suppressed;
        return false;
    }
    last_us = now == 0 ? 1 : now;
    suppressed = 0;
    return true;
}

void SqlOutput::quarantine_rows(const std::vector<RefusedRow>& refused) {
    std::uint64_t skipped = refused_log_suppressed_;
    if (log_due(refused_log_us_, refused_log_suppressed_))
        ctx_.error(backend_->describe() + " refused " + std::to_string(refused.size()) + " row(s) of table " +
                   refused.front().table + ": " + refused.front().error + "; the other rows are committed, these are in " +
                   journal_->refused_path().string() + " (sql_rows_refused)" +
                   (skipped ? " (" + std::to_string(skipped) + " similar messages not logged)" : ""));
    std::error_code ec;
    auto size = std::filesystem::file_size(journal_->refused_path(), ec);
    if (!ec && size >= kRefusedFileMaxBytes) {
        ctx_.warn(journal_->refused_path().string() + " holds " + std::to_string(size) +
                  " bytes; refused rows are only counted until it is emptied");
        return;
    }
    const std::string when = sdk::format_stamp(ctx_.wall_us() / 1'000'000);
    std::string lines;
    for (const auto& r : refused) {
        lines += "{\"time\":\"" + sdk::json_escape(when) + "\",\"table\":\"" + sdk::json_escape(r.table) +
                 "\",\"error\":\"" + sdk::json_escape(r.error) + "\",\"row\":{";
        for (std::size_t i = 0; i < r.values.size() && i < schema_.columns.size(); ++i)
            lines += (i ? ",\"" : "\"") + sdk::json_escape(schema_.columns[i].name) + "\":\"" +
                     sdk::json_escape(r.values[i]) + "\"";
        lines += "}}\n";
    }
    try {
        journal_->append_refused(lines);
    } catch (const std::exception& ex) {
        sdk::Context::add(journal_errors_);
        ctx_.error(std::string("cannot keep refused rows: ") + ex.what());
    }
}

void SqlOutput::update_gauges_locked() {
    mem_rows_peak_ = std::max(mem_rows_peak_, mem_rows_);
    __atomic_store_n(backlog_rows_, mem_rows_ + journal_rows_, __ATOMIC_RELAXED);
    __atomic_store_n(journal_rows_gauge_, journal_rows_, __ATOMIC_RELAXED);
}

bool SqlOutput::commit_entry(const std::shared_ptr<Entry>& e, std::string& error, bool& connection_error) {
    std::shared_ptr<RowBatch> batch;
    std::filesystem::path file;
    {
        std::lock_guard lk(mu_);
        batch = e->mem;
        file = e->file;
    }
    if (!batch) {
        batch = std::make_shared<RowBatch>();
        if (!journal_->read(file, *batch)) {
            journal_->quarantine(file);
            sdk::Context::add(journal_corrupt_);
            ctx_.error("journal file " + file.string() + " is corrupt; moved aside to .bad, its rows are not written");
            return true; // nothing more can be done with it
        }
    }
    try {
        if (!backend_->is_open()) {
            backend_->open();
            known_tables_.clear();
            if (!marker_table_.empty()) {
                // Creating it needs a privilege a site may keep from us: a table made by the DBA is fine.
                if (!backend_->table_exists(marker_table_)) backend_->ensure_marker(marker_table_);
                marker_ = backend_->read_marker(marker_table_, writer_id_);
            }
        }
        if (!marker_table_.empty() && e->seq <= marker_) {
            sdk::Context::add(batches_skipped_);
            ctx_.info("batch " + std::to_string(e->seq) + " (" + std::to_string(e->rows) +
                      " rows) was already committed; not written again");
            return true;
        }
        const std::uint64_t now_s = ctx_.wall_us() / 1'000'000;
        BatchRows rows(batch->rows, renderer_, part_renderer_, table_, now_s);
        if (!table_schema_sql_.empty()) {
            // The tables of the batch's bins, without rendering its rows (a backend may render
            // them a part at a time).
            for (const std::uint64_t bin_s : rows.bins()) {
                const std::string table = rows.table_of(bin_s);
                if (known_tables_.count(table)) continue;
                if (!backend_->table_exists(table)) {
                    backend_->exec(expand_time(table_schema_sql_, bin_s));
                    ctx_.info("created table " + table + " from sql_table_schema");
                }
                known_tables_.insert(table);
            }
        }
        std::vector<RefusedRow> refused;
        try {
            backend_->commit(
                CommitRequest{schema_, rows, dont_try_update_, marker_table_, writer_id_, e->seq, nullptr, e->continues_purge});
        } catch (const DbError& ex) {
            if (!ex.data()) throw;
            // The same rows would fail again: write the batch once more, leaving out only the rows
            // the server refuses. A data error from that attempt too (the marker, say) is
            // retried like any other failure.
            sdk::Context::add(batches_isolated_);
            backend_->commit(
                CommitRequest{schema_, rows, dont_try_update_, marker_table_, writer_id_, e->seq, &refused, e->continues_purge});
        }
        marker_ = std::max(marker_, e->seq);
        std::uint64_t committed = e->rows;
        if (!refused.empty()) {
            sdk::Context::add(rows_refused_, refused.size());
            committed -= std::min<std::uint64_t>(committed, refused.size());
            quarantine_rows(refused);
        }
        sdk::Context::add(rows_committed_, committed);
        sdk::Context::add(batches_committed_);
        if (!file.empty()) sdk::Context::add(rows_replayed_, e->rows);
        return true;
    } catch (const DbError& ex) {
        error = ex.what();
        connection_error = ex.connection();
    } catch (const std::exception& ex) {
        // A table name that does not expand, a schema file that fails: retried like a database error.
        error = ex.what();
        connection_error = false;
    }
    return false;
}

void SqlOutput::writer_main() {
    std::uint64_t backoff_ms = kBackoffMinMs;
    std::uint64_t failures = 0;
    bool trim_after = false;  // set under the lock, done outside it
    for (;;) {
        if (trim_after) {
            ::malloc_trim(0);
            trim_after = false;
        }
        std::shared_ptr<Entry> e;
        {
            std::unique_lock lk(mu_);
            wake_.wait(lk, [&] { return stop_ || !queue_.empty(); });
            if (stop_) return;
            e = queue_.front();
        }
        std::string error;
        bool connection_error = false;
        if (commit_entry(e, error, connection_error)) {
            std::shared_ptr<RowBatch> done;
            bool drained = false;
            {
                std::lock_guard lk(mu_);
                // The front may have changed only by this thread: it is still `e`.
                if (!queue_.empty() && queue_.front() == e) queue_.pop_front();
                if (e->mem) {
                    mem_rows_ -= e->rows;
                    --mem_entries_;
                    done = std::move(e->mem);
                }
                if (!e->file.empty()) {
                    journal_->remove(e->file);
                    journal_rows_ -= std::min(journal_rows_, e->rows);
                }
                update_gauges_locked();
                if (down_) {
                    down_ = false;
                    std::uint64_t secs = (ctx_.monotonic_us() - down_since_us_) / 1'000'000;
                    ctx_.info("database available again after " + std::to_string(secs) + " s (" +
                              std::to_string(failures) + " failed attempts); writing a backlog of " +
                              std::to_string(mem_rows_ + journal_rows_) + " rows");
                }
                failures = 0;
                backoff_ms = kBackoffMinMs;
                if (queue_.empty()) {
                    drained = true;
                    // A backlog held through an outage (more than one transaction's rows) is written:
                    // its memory goes back to the system (freed rows are scattered through the heap,
                    // which free() alone does not return).
                    if (mem_rows_peak_ > kSealRows) trim_after = true;
                    mem_rows_peak_ = 0;
                }
            }
            // Emptied here, not on the pipeline thread; not kept after a backlog (trimmed instead).
            // Kept before flush() is told the queue is drained, so that a purge right after it
            // finds the buffer.
            if (done && !trim_after) {
                done->rows.clear();
                std::lock_guard lk(mu_);
                if (!spare_) spare_ = std::move(done);
            }
            done.reset();
            if (drained) drained_.notify_all();
            continue;
        }
        sdk::Context::add(commit_errors_);
        ++failures;
        if (connection_error) backend_->close();
        std::unique_lock lk(mu_);
        if (!down_) {
            down_ = true;
            down_since_us_ = ctx_.monotonic_us();
            ctx_.warn(backend_->describe() + ": " + error + "; rows wait in memory (up to " +
                      std::to_string(backlog_limit_rows_) + ") and then in the journal " + journal_->dir().string());
        } else if (failures % 64 == 0) {
            ctx_.warn(backend_->describe() + " still failing after " + std::to_string(failures) +
                      " attempts: " + error + "; backlog " + std::to_string(mem_rows_ + journal_rows_) + " rows");
        }
        // Shutdown: make the backlog durable now (keep trying meanwhile), unless the error looks
        // transient (a deadlock, a lock timeout) and a retry or two may well commit it.
        if (flushing_ && (connection_error || failures >= 3)) {
            gave_up_ = true;
            spill_locked();
        }
        wake_.wait_for(lk, std::chrono::milliseconds(backoff_ms), [&] { return stop_; });
        backoff_ms = std::min(backoff_ms * 2, kBackoffMaxMs);
    }
}

} // namespace flowacct::sql
