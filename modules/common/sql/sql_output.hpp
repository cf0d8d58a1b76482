// SPDX-License-Identifier: GPL-2.0-or-later
// SqlOutput: the part of the pgsql, mysql and sqlite3 output modules that knows no database.
// The pipeline thread hands rows over (write/tick/flush) and never waits for the database: a
// writer thread commits sealed batches in order, one transaction each, through a Backend. Rows
// wait in a bounded in-memory backlog and beyond it, or while the database is unavailable at
// shutdown, in a journal directory; a later start writes the journal first.
//
// Exactly once: each batch carries a sequence number, and the transaction that writes its rows
// also records (writer id, seq) in a small marker table (sql_commit_table). After a failure
// whose outcome is unknown (connection lost during COMMIT, crash between COMMIT and removing
// the journal file), the writer reads the marker back and skips batches already committed.
//
// A row the database refuses for its data (a value out of a column's range, too long, a
// constraint the site added) never blocks the rows behind it: the batch is written again in one
// transaction, each part under a savepoint, halving the parts the database refuses down to
// single rows. The good rows and the marker commit together (still exactly once); each refused
// row goes to a quarantine file next to the journal and is counted (sql_rows_refused).
#pragma once

#include <condition_variable> // std::condition_variable
#include <cstdint>            // std::uint64_t
#include <deque>              // std::deque
#include <functional>         // std::function
#include <filesystem>         // std::filesystem::path
#include <memory>             // std::unique_ptr, std::shared_ptr
#include <mutex>              // std::mutex
#include <set>                // std::set
#include <stdexcept>          // std::runtime_error
#include <string>             // std::string
#include <thread>             // std::thread

#include <flowacct/sdk/module.hpp> // sdk::Output, sdk::Context

#include "sql_journal.hpp" // Journal, RowBatch
#include "sql_schema.hpp"  // Schema, TableName, Renderer

namespace flowacct::sql {

/// Keys every SQL output declares (pmacct's names, plus the journal ones of flowacct).
#define FLOWACCT_SQL_COMMON_KEYS                                                                                     \
    {"sql_table", FA_KEY_STRING, nullptr,                                                                            \
     "Table name; strftime variables (%Y%m%d...) give a table per period. Default acct (v1) or acct_vN"},            \
        {"sql_table_version", FA_KEY_INT, "1", "pmacct table version 1 to 9: the acct_vN column set"},              \
        {"sql_table_schema", FA_KEY_PATH, nullptr,                                                                   \
         "File with the SQL creating a table that does not exist yet (strftime variables expanded like sql_table)"}, \
        {"sql_optimize_clauses", FA_KEY_BOOL, "false", "Table of exactly the aggregated primitives, not acct_vN"},   \
        {"sql_dont_try_update", FA_KEY_BOOL, "false",                                                                \
         "Insert only; needs sql_history equal to sql_refresh_time or bins get several rows"},                      \
        {"sql_cache_entries", FA_KEY_INT, "32771",                                                                   \
         "Accepted for pmacct configurations; rows are cached by the aggregator (aggregate_max_entries)"},          \
        {"sql_journal_dir", FA_KEY_PATH, "/var/lib/flowacct/sql",                                                    \
         "Directory of the journal holding rows not yet committed (database down, backlog full, shutdown)"},        \
        {"sql_backlog_rows", FA_KEY_INT, "200000", "Rows kept in memory while the database lags; more go to the journal"}, \
        {"sql_journal_max_size", FA_KEY_STRING, "0",                                                                 \
         "Bytes the journal may take on disk (suffix K, M or G; 0 = no cap); past it, or on a write error, "      \
         "rows beyond sql_backlog_rows are dropped and counted (sql_rows_dropped)"},                                 \
        {"sql_commit_table", FA_KEY_STRING, "flowacct_commits",                                                      \
         "Table recording the last batch each writer committed, so replays never count twice; empty disables"}

/// Keys of the outputs that talk to a server.
#define FLOWACCT_SQL_SERVER_KEYS                                                                                     \
    {"sql_host", FA_KEY_STRING, nullptr, "Server host name or address; a path is a unix socket (directory for pgsql)"}, \
        {"sql_port", FA_KEY_INT, nullptr, "Server port (default: the client library's)"},                           \
        {"sql_db", FA_KEY_STRING, "pmacct", "Database name"},                                                       \
        {"sql_user", FA_KEY_STRING, "pmacct", "User name"},                                                         \
        {"sql_passwd", FA_KEY_STRING, nullptr, "Password"},                                                         \
        {"sql_passwd_file", FA_KEY_PATH, nullptr, "File whose first line is the password (instead of sql_passwd)"}

/// A database failure. `connection` means the session is gone and must be reopened. `data`
/// means the server refused the values of the rows written (PostgreSQL SQLSTATE classes 22 and
/// 23, MySQL's data and constraint errors, SQLITE_CONSTRAINT/MISMATCH/TOOBIG): writing the same
/// rows again fails again, so they are isolated instead of retried.
class DbError : public std::runtime_error {
public:
    DbError(const std::string& message, bool connection, bool data = false)
        : std::runtime_error(message), connection_(connection), data_(data) {}
    bool connection() const { return connection_; }
    bool data() const { return data_; }

private:
    bool connection_;
    bool data_;
};

/// A row the database refused: its table, its values (schema order) and the server's message.
struct RefusedRow {
    std::string table;
    std::vector<std::string> values;
    std::string error;
};

/// A batch's rows as a Backend gets them: rendered whole, grouped by table (groups()), or a
/// part at a time (render()), so that a backend can send the first rows before the last are
/// rendered. Used by the writer thread only.
class BatchRows {
public:
    BatchRows(const std::vector<StoredRow>& rows, Renderer& whole, Renderer& parts, const TableName& table,
              std::uint64_t updated_s)
        : rows_(rows), whole_(whole), parts_(parts), table_(table), updated_s_(updated_s) {}
    const std::vector<StoredRow>& rows() const { return rows_; }
    /// Every row, grouped by table, rows of the same key and bin merged; rendered on the first
    /// call and kept for the batch.
    const std::vector<RenderedGroup>& groups();
    /// Only the `n` rows `part` points to (rows of this batch), rendered like groups() by a
    /// renderer of their own: valid until the next call of render(); groups() stays valid.
    const std::vector<RenderedGroup>& render(const StoredRow* const* part, std::size_t n) {
        return parts_.render(part, n, updated_s_);
    }
    /// The table of the rows of the bin starting at `bin_s`; throws sdk::Error like TableName.
    std::string table_of(std::uint64_t bin_s) const { return table_.expand(bin_s); }
    /// The starts (seconds) of the rows' bins, each once, in the rows' order; found on the first
    /// call and kept for the batch.
    const std::vector<std::uint64_t>& bins();

private:
    const std::vector<StoredRow>& rows_;
    Renderer& whole_;
    Renderer& parts_;
    const TableName& table_;
    std::uint64_t updated_s_;
    const std::vector<RenderedGroup>* groups_ = nullptr;
    std::vector<std::uint64_t> bins_;
};

/// One transaction's worth of work for a Backend.
struct CommitRequest {
    const Schema& schema;
    BatchRows& batch;
    bool dont_try_update;
    const std::string& marker_table; // "" = no marker
    const std::string& writer_id;
    std::uint64_t seq;
    /// Set after a data error: write through write_isolating(), appending refused rows here.
    std::vector<RefusedRow>* refused = nullptr;
    /// The batch continues the purge of the batch committed just before it (a purge larger than
    /// one transaction): none of its keys is in that batch. A hint only (a backend may skip a
    /// lookup on it); a backend must stay exact when it is wrong.
    bool continues_purge = false;
    const std::vector<RenderedGroup>& groups() const { return batch.groups(); }
};

/// A database session. Used by the writer thread only. Every method throws DbError on failure.
class Backend {
public:
    virtual ~Backend() = default;
    /// For logs: "postgresql 127.0.0.1:5432/flowacct_test".
    virtual std::string describe() const = 0;
    virtual void open() = 0;
    virtual void close() noexcept = 0;
    virtual bool is_open() const = 0;
    virtual bool table_exists(const std::string& table) = 0;
    /// Runs trusted SQL from the configuration (sql_table_schema).
    virtual void exec(const std::string& sql) = 0;
    /// Creates the marker table when missing.
    virtual void ensure_marker(const std::string& table) = 0;
    /// The last seq committed by `writer`, 0 if none.
    virtual std::uint64_t read_marker(const std::string& table, const std::string& writer) = 0;
    /// Writes every group and the marker in one transaction: all or nothing. Counters are added
    /// to an existing row of the same key and bin (unless dont_try_update). With req.refused set,
    /// the groups go through write_isolating() and only the refused rows are left out.
    virtual void commit(const CommitRequest& req) = 0;
};

/// The rows `first` .. `first + count` of `g`, as a group of their own.
RenderedGroup slice_group(const RenderedGroup& g, std::size_t first, std::size_t count);

/// Called by a Backend's commit() inside its open transaction, after a data error. Writes each
/// group with `write`, a part at a time under a savepoint (SAVEPOINT, RELEASE and ROLLBACK TO
/// SAVEPOINT through `backend.exec`, the same words in the three dialects). A part refused for its
/// data (DbError::data) is rolled back and halved, down to single rows, which are appended to
/// `refused`; every other row is written exactly once. Other errors propagate: the caller rolls
/// the transaction back.
void write_isolating(Backend& backend, const std::vector<RenderedGroup>& groups,
                     const std::function<void(const RenderedGroup&)>& write, std::vector<RefusedRow>& refused);

/// "64M" -> 67108864: bytes, or a number with a K, M or G suffix (powers of 1024). Throws
/// sdk::Error naming `key` on anything else.
std::uint64_t parse_size_bytes(const std::string& text, const char* key);

/// The password from sql_passwd or the first line of sql_passwd_file ("" when neither is set).
std::string read_password(const sdk::Config& config);

/// The rows' primitives from the pipeline's `aggregate` list.
std::uint64_t aggregate_mask(const sdk::Config& config);

class SqlOutput : public sdk::Output {
public:
    /// Setup, main thread: reads the common keys, opens (and locks) the journal, queues what a
    /// previous run left there and starts the writer thread. Owns `backend`, used by the writer
    /// thread only. The database is not contacted here: being down at start is no error.
    /// Throws sdk::Error naming the key at fault.
    SqlOutput(const sdk::Context& ctx, Dialect dialect, std::unique_ptr<Backend> backend);
    ~SqlOutput() override;

    /// Pipeline thread. Copies the rows (names of class and label resolved now) into the open
    /// batch; never waits for the database. Rows are valid during the call only.
    void write(const fa_row_batch& rows) override;
    /// Pipeline thread, after each purge: seals the open batch (one transaction) and hands it to
    /// the writer, or to the journal when the in-memory backlog is full. When the journal cannot
    /// take it either (sql_journal_max_size, disk full), the batch is dropped and counted
    /// (sql_rows_dropped, sql_journal_errors), logged at a limited rate; never an error.
    void tick(std::uint64_t now_mono_us) override;
    /// Pipeline thread, at shutdown: returns once every row is committed, or journaled because
    /// the database failed (or still had not answered after 30 s). A journal write failure is
    /// logged and counted (sql_journal_errors); those rows stay in memory, and are counted in
    /// sql_rows_dropped when still there at exit.
    void flush() override;

    const Schema& schema() const { return schema_; }

private:
    struct Entry {
        std::uint64_t seq = 0;
        std::uint64_t rows = 0;
        std::shared_ptr<RowBatch> mem;  // null once journaled
        std::filesystem::path file;     // empty until journaled
        bool continues_purge = false;   // see CommitRequest
    };

    /// Hands the open batch to the writer; `more` when the purge goes on in the next batch.
    void seal(bool more);
    void enqueue(std::shared_ptr<RowBatch> batch, bool continues_purge);
    void writer_main();
    bool commit_entry(const std::shared_ptr<Entry>& e, std::string& error, bool& connection_error);
    void spill_locked();               // journals every in-memory entry; mu_ held
    void update_gauges_locked();
    std::uint64_t next_seq();
    void quarantine_rows(const std::vector<RefusedRow>& refused);
    /// True at most once per kLogEveryUs for `last_us` (a rate-limited log); `suppressed`
    /// counts the calls that returned false since the last true.
    bool log_due(std::uint64_t& last_us, std::uint64_t& suppressed);

    sdk::Context ctx_;
    Dialect dialect_;
    std::unique_ptr<Backend> backend_;
    Schema schema_;
    TableName table_;
    std::string table_schema_sql_;
    bool dont_try_update_;
    std::uint64_t backlog_limit_rows_;
    std::string marker_table_;
    std::string writer_id_;
    std::unique_ptr<Journal> journal_;
    Renderer renderer_;
    Renderer part_renderer_; // BatchRows::render

    // Pipeline thread only.
    std::shared_ptr<RowBatch> open_;
    bool purge_open_ = false; // the last batch sealed was full, not the end of its purge
    std::uint64_t last_seq_ = 0;

    // Shared, under mu_.
    std::mutex mu_;
    std::condition_variable wake_;  // writer waits for work, backoff ends early on flush/stop
    std::condition_variable drained_;
    std::deque<std::shared_ptr<Entry>> queue_;
    std::uint64_t mem_rows_ = 0, mem_entries_ = 0, journal_rows_ = 0;
    std::uint64_t mem_rows_peak_ = 0;            // most rows held in memory since the queue was last empty
    // A committed batch, emptied, whose memory the next open batch takes: 100 000 rows are 31 MB,
    // and fresh pages for each purge cost the pipeline thread more than copying the rows.
    std::shared_ptr<RowBatch> spare_;
    bool flushing_ = false, stop_ = false, gave_up_ = false;
    bool spill_failed_ = false; // the last spill_locked() left rows in memory (journal full or failing)

    // Writer thread only.
    std::uint64_t marker_ = 0;
    std::set<std::string> known_tables_;
    bool down_ = false;
    std::uint64_t down_since_us_ = 0;
    std::uint64_t refused_log_us_ = 0, refused_log_suppressed_ = 0;
    std::thread writer_;

    // Rate-limited logs of the pipeline thread (enqueue) and the writer (spill), under mu_.
    std::uint64_t drop_log_us_ = 0, drop_log_suppressed_ = 0;

    std::uint64_t* rows_committed_;
    std::uint64_t* batches_committed_;
    std::uint64_t* commit_errors_;
    std::uint64_t* rows_journaled_;
    std::uint64_t* rows_replayed_;
    std::uint64_t* batches_skipped_;
    std::uint64_t* journal_corrupt_;
    std::uint64_t* journal_errors_;
    std::uint64_t* rows_refused_;
    std::uint64_t* batches_isolated_; // batches written again part by part after a data error
    std::uint64_t* rows_dropped_;
    std::uint64_t* backlog_rows_;
    std::uint64_t* journal_rows_gauge_;
};

} // namespace flowacct::sql
