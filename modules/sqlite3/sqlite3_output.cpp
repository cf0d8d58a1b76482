// SPDX-License-Identifier: GPL-2.0-or-later
// Output module "sqlite3" (pmacct's sqlite3 plugin): rows into an SQLite database file, one
// transaction per purge, with prepared statements: INSERT ... ON CONFLICT DO UPDATE when the
// table has a unique key on the key columns (the etc/sql scripts make one), else UPDATE then
// INSERT like pmacct; INSERT only with sql_dont_try_update. The writer thread, backlog and journal come from SqlOutput.
#include <charconv> // std::from_chars
#include <map>      // std::map
#include <set>      // std::set
#include <utility>  // std::swap
#include <string>   // std::string
#include <string_view> // std::string_view

#include <sqlite3.h> // sqlite3_*

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE

#include "sql_output.hpp" // sql::SqlOutput, sql::Backend

namespace {

using namespace flowacct;
using sql::DbError;

constexpr fa_config_key kKeys[] = {
    FLOWACCT_SQL_COMMON_KEYS,
    {"sql_db", FA_KEY_PATH, "/tmp/pmacct.db", "SQLite database file"},
    {"sql_multi_values", FA_KEY_INT, "0",
     "Accepted for pmacct configurations; rows are always written with prepared statements in one transaction"},
};

// Finalizes a statement at scope exit.
struct Stmt {
    sqlite3_stmt* s = nullptr;
    Stmt() = default;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    Stmt(Stmt&& o) noexcept : s(o.s) { o.s = nullptr; }
    Stmt& operator=(Stmt&& o) noexcept {
        std::swap(s, o.s);
        return *this;
    }
    ~Stmt() {
        if (s) sqlite3_finalize(s);
    }
};

class SqliteBackend final : public sql::Backend {
public:
    explicit SqliteBackend(std::string path) : path_(std::move(path)) {}
    ~SqliteBackend() override { close(); }

    std::string describe() const override { return "sqlite3 " + path_; }

    void open() override {
        close();
        int rc = sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
        if (rc != SQLITE_OK) {
            std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
            close();
            throw DbError("cannot open: " + msg, true);
        }
        // Another writer (a second daemon, a reader with a lock) holds the file briefly: wait.
        sqlite3_busy_timeout(db_, 5000);
        // SQLite's default page cache (2 MB) is smaller than one bin of a busy table: a
        // transaction of 65 536 rows spilled dirty pages to the file and read them back.
        // The cache grows to this bound only as pages are used.
        exec("PRAGMA cache_size = -65536");
    }

    void close() noexcept override {
        stmts_.clear();
        if (db_) sqlite3_close_v2(db_);
        db_ = nullptr;
    }

    bool is_open() const override { return db_ != nullptr; }

    bool table_exists(const std::string& table) override {
        std::string name = table.substr(table.find('.') == std::string::npos ? 0 : table.find('.') + 1);
        Stmt st = prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
        sqlite3_bind_text(st.s, 1, name.c_str(), -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st.s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail("table lookup");
        return rc == SQLITE_ROW;
    }

    void exec(const std::string& text) override {
        char* err = nullptr;
        if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err ? err : "error";
            sqlite3_free(err);
            throw DbError(msg, false);
        }
    }

    void ensure_marker(const std::string& table) override {
        exec("CREATE TABLE IF NOT EXISTS " + sql::quote_table(sql::Dialect::Sqlite, table) +
             " (writer VARCHAR(255) NOT NULL PRIMARY KEY, seq BIGINT NOT NULL, stamp_updated DATETIME)");
    }

    std::uint64_t read_marker(const std::string& table, const std::string& writer) override {
        Stmt st = prepare("SELECT seq FROM " + sql::quote_table(sql::Dialect::Sqlite, table) + " WHERE writer = ?");
        sqlite3_bind_text(st.s, 1, writer.c_str(), -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st.s);
        if (rc == SQLITE_ROW) return static_cast<std::uint64_t>(sqlite3_column_int64(st.s, 0));
        if (rc != SQLITE_DONE) fail("marker lookup");
        return 0;
    }

    void commit(const sql::CommitRequest& req) override {
        exec("BEGIN IMMEDIATE");
        try {
            if (req.refused)
                sql::write_isolating(*this, req.groups(), [&](const sql::RenderedGroup& g) { write_group(req, g); },
                                     *req.refused);
            else
                for (const auto& g : req.groups()) write_group(req, g);
            if (!req.marker_table.empty()) {
                Stmt st = prepare("INSERT INTO " + sql::quote_table(sql::Dialect::Sqlite, req.marker_table) +
                                  " (writer, seq, stamp_updated) VALUES (?, ?, datetime('now', 'localtime'))"
                                  " ON CONFLICT(writer) DO UPDATE SET seq = excluded.seq, stamp_updated = excluded.stamp_updated");
                sqlite3_bind_text(st.s, 1, req.writer_id.c_str(), -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(st.s, 2, static_cast<sqlite3_int64>(req.seq));
                if (sqlite3_step(st.s) != SQLITE_DONE) fail("marker update");
            }
            exec("COMMIT");
        } catch (...) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }

private:
    struct TableStmts {
        Stmt update, insert, upsert;   // upsert: only when a unique index covers exactly the key columns
        std::vector<int> update_binds; // column index per update parameter
    };

    // True when `table` has a unique index (or primary key) on exactly the key columns, so one
    // INSERT ... ON CONFLICT DO UPDATE does what UPDATE-then-INSERT does, in one step.
    bool has_key_index(const sql::Schema& schema, const std::string& table) {
        std::set<std::string> keys;
        for (const auto& c : schema.columns)
            if (c.key) keys.insert(c.name);
        auto dot = table.find('.');
        const std::string name = dot == std::string::npos ? table : table.substr(dot + 1);
        Stmt list = prepare("SELECT name FROM pragma_index_list(?) WHERE \"unique\" = 1");
        sqlite3_bind_text(list.s, 1, name.c_str(), -1, SQLITE_TRANSIENT);
        std::vector<std::string> indexes;
        while (sqlite3_step(list.s) == SQLITE_ROW)
            indexes.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(list.s, 0)));
        for (const auto& idx : indexes) {
            Stmt info = prepare("SELECT name FROM pragma_index_info(?)");
            sqlite3_bind_text(info.s, 1, idx.c_str(), -1, SQLITE_TRANSIENT);
            std::set<std::string> cols;
            while (sqlite3_step(info.s) == SQLITE_ROW) {
                const unsigned char* t = sqlite3_column_text(info.s, 0);
                if (t) cols.insert(reinterpret_cast<const char*>(t));
            }
            if (cols == keys) return true;
        }
        return false;
    }

    // A constraint (NOT NULL, CHECK, UNIQUE), a STRICT table's type or a value past the size
    // limit: these rows are at fault, not the file.
    [[noreturn]] void fail(const std::string& what) {
        const int code = sqlite3_errcode(db_) & 0xff;
        throw DbError(what + ": " + sqlite3_errmsg(db_), false,
                      code == SQLITE_CONSTRAINT || code == SQLITE_MISMATCH || code == SQLITE_TOOBIG);
    }

    Stmt prepare(const std::string& text) {
        Stmt st;
        if (sqlite3_prepare_v2(db_, text.c_str(), static_cast<int>(text.size()), &st.s, nullptr) != SQLITE_OK)
            fail("prepare");
        return st;
    }

    TableStmts& statements(const sql::Schema& schema, const std::string& table) {
        auto it = stmts_.find(table);
        if (it != stmts_.end()) return it->second;
        using sql::Field;
        const auto q = [](const std::string& n) { return sql::quote_ident(sql::Dialect::Sqlite, n); };
        TableStmts ts;
        std::string cols, marks, sets, where;
        for (std::size_t i = 0; i < schema.columns.size(); ++i) {
            const auto& c = schema.columns[i];
            cols += (i ? ", " : "") + q(c.name);
            marks += i ? ", ?" : "?";
        }
        for (std::size_t i = 0; i < schema.columns.size(); ++i) {
            const auto& c = schema.columns[i];
            std::string col = q(c.name);
            switch (c.field) {
            case Field::Packets: case Field::Bytes: case Field::Flows:
                sets += (sets.empty() ? "" : ", ") + col + " = " + col + " + ?";
                break;
            case Field::TcpFlags: sets += (sets.empty() ? "" : ", ") + col + " = " + col + " | ?"; break;
            case Field::StampUpdated: sets += (sets.empty() ? "" : ", ") + col + " = ?"; break;
            default: continue;
            }
            ts.update_binds.push_back(static_cast<int>(i));
        }
        for (std::size_t i = 0; i < schema.columns.size(); ++i) {
            if (!schema.columns[i].key) continue;
            where += (where.empty() ? "" : " AND ") + q(schema.columns[i].name) + " = ?";
            ts.update_binds.push_back(static_cast<int>(i));
        }
        const std::string t = sql::quote_table(sql::Dialect::Sqlite, table);
        ts.insert = prepare("INSERT INTO " + t + " (" + cols + ") VALUES (" + marks + ")");
        if (has_key_index(schema, table)) {
            std::string conflict, excluded;
            for (const auto& c : schema.columns) {
                if (c.key) conflict += (conflict.empty() ? "" : ", ") + q(c.name);
                std::string n = q(c.name);
                switch (c.field) {
                case Field::Packets: case Field::Bytes: case Field::Flows:
                    excluded += (excluded.empty() ? "" : ", ") + n + " = " + n + " + excluded." + n;
                    break;
                case Field::TcpFlags: excluded += (excluded.empty() ? "" : ", ") + n + " = " + n + " | excluded." + n; break;
                case Field::StampUpdated: excluded += (excluded.empty() ? "" : ", ") + n + " = excluded." + n; break;
                default: break;
                }
            }
            ts.upsert = prepare("INSERT INTO " + t + " (" + cols + ") VALUES (" + marks + ") ON CONFLICT (" + conflict +
                                ") DO UPDATE SET " + excluded);
        }
        ts.update = prepare("UPDATE " + t + " SET " + sets + " WHERE " + where);
        return stmts_.emplace(table, std::move(ts)).first->second;
    }

    static void bind(sqlite3_stmt* st, int pos, const sql::Column& c, std::string_view v) {
        if (c.integer) {
            sqlite3_int64 n = 0;
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (!v.empty() && ec == std::errc{} && end == v.data() + v.size()) {
                sqlite3_bind_int64(st, pos, n);
                return;
            }
        }
        sqlite3_bind_text(st, pos, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    }

    void write_group(const sql::CommitRequest& req, const sql::RenderedGroup& g) {
        TableStmts& ts = statements(req.schema, g.table);
        try {
            write_rows(req, g, ts);
        } catch (...) {
            // No statement left mid-step: a ROLLBACK (TO SAVEPOINT) follows.
            for (Stmt* st : {&ts.update, &ts.insert, &ts.upsert})
                if (st->s) sqlite3_reset(st->s);
            throw;
        }
    }

    void write_rows(const sql::CommitRequest& req, const sql::RenderedGroup& g, TableStmts& ts) {
        const auto& cols = req.schema.columns;
        if (!req.dont_try_update && ts.upsert.s) {
            for (std::size_t row = 0; row < g.rows(); ++row) {
                sqlite3_reset(ts.upsert.s);
                for (std::size_t ci = 0; ci < cols.size(); ++ci)
                    bind(ts.upsert.s, static_cast<int>(ci + 1), cols[ci], g.cell(row, ci));
                if (sqlite3_step(ts.upsert.s) != SQLITE_DONE) fail("upsert into " + g.table);
            }
            sqlite3_reset(ts.upsert.s);
            return;
        }
        for (std::size_t row = 0; row < g.rows(); ++row) {
            if (!req.dont_try_update) {
                sqlite3_reset(ts.update.s);
                for (std::size_t p = 0; p < ts.update_binds.size(); ++p) {
                    int ci = ts.update_binds[p];
                    bind(ts.update.s, static_cast<int>(p + 1), cols[ci], g.cell(row, ci));
                }
                if (sqlite3_step(ts.update.s) != SQLITE_DONE) fail("update " + g.table);
                if (sqlite3_changes(db_) > 0) continue;
            }
            sqlite3_reset(ts.insert.s);
            for (std::size_t ci = 0; ci < cols.size(); ++ci) bind(ts.insert.s, static_cast<int>(ci + 1), cols[ci], g.cell(row, ci));
            if (sqlite3_step(ts.insert.s) != SQLITE_DONE) fail("insert into " + g.table);
        }
        sqlite3_reset(ts.update.s);
        sqlite3_reset(ts.insert.s);
    }

    std::string path_;
    sqlite3* db_ = nullptr;
    std::map<std::string, TableStmts> stmts_;
};

class Sqlite3Output final : public sql::SqlOutput {
public:
    explicit Sqlite3Output(const sdk::Context& ctx)
        : SqlOutput(ctx, sql::Dialect::Sqlite, std::make_unique<SqliteBackend>(ctx.config().str("sql_db", "/tmp/pmacct.db"))) {
        if (ctx.config().integer("sql_multi_values", 0) < 0) throw sdk::Error("expected 0 or more bytes", "sql_multi_values");
    }
};

} // namespace

FLOWACCT_MODULE(Output, Sqlite3Output, "sqlite3", "0.1.0", "Aggregated rows into SQLite tables (pmacct's sqlite3 plugin)",
                kKeys)
