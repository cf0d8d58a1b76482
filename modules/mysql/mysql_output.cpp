// SPDX-License-Identifier: GPL-2.0-or-later
// Output module "mysql" (pmacct's mysql plugin): rows into MySQL/MariaDB tables, one transaction
// per purge, as multi-row prepared INSERTs (sql_multi_values bounds their size) with ON
// DUPLICATE KEY UPDATE adding the counters, so a later purge of the same bin, a second daemon
// or a replay adds to the row. The table needs its primary key on the key columns, as the
// etc/sql/mysql scripts create it; sql_dont_try_update inserts only.
#include <algorithm> // std::sort, std::unique
#include <map>      // std::map
#include <memory>   // std::unique_ptr
#include <string>   // std::string
#include <string_view> // std::string_view
#include <vector>   // std::vector

#include <errmsg.h> // CR_* client error codes
#include <mysql.h>  // mysql_*, MYSQL_BIND

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE

#include "sql_output.hpp" // sql::SqlOutput, sql::Backend

namespace {

using namespace flowacct;
using sql::DbError;
using sql::Dialect;

constexpr fa_config_key kKeys[] = {
    FLOWACCT_SQL_COMMON_KEYS,
    FLOWACCT_SQL_SERVER_KEYS,
    {"sql_multi_values", FA_KEY_INT, "1048576",
     "Bytes of rows per INSERT statement (0: one row per statement); keep under max_allowed_packet"},
};

struct MySettings {
    std::string host, db, user, password;
    unsigned port = 0;
    std::size_t multi_values_bytes = 1 << 20;
};

constexpr std::size_t kMaxCachedStatements = 16;

// Client errors (2000-2999) mean the session is unusable.
bool is_connection_error(unsigned err) { return err >= 2000 && err < 3000; }

// Server errors about the values of the rows (strict mode): writing them again fails again.
bool is_data_error(unsigned err) {
    switch (err) {
    case 1048: // ER_BAD_NULL_ERROR
    case 1062: // ER_DUP_ENTRY (a unique key besides the row's own)
    case 1264: // ER_WARN_DATA_OUT_OF_RANGE
    case 1265: // WARN_DATA_TRUNCATED
    case 1292: // ER_TRUNCATED_WRONG_VALUE
    case 1366: // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
    case 1367: // ER_ILLEGAL_VALUE_FOR_TYPE
    case 1406: // ER_DATA_TOO_LONG
    case 1411: // ER_WRONG_VALUE_FOR_TYPE
    case 1451: case 1452: // foreign key
    case 1586: // ER_DUP_ENTRY_WITH_KEY_NAME
    case 1690: // ER_DATA_OUT_OF_RANGE (a counter sum past the column's type)
    case 3819: // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
    case 4025: // ER_CONSTRAINT_FAILED (MariaDB CHECK)
        return true;
    default:
        return false;
    }
}

struct StmtCloser {
    void operator()(MYSQL_STMT* s) const {
        if (s) mysql_stmt_close(s);
    }
};
using StmtPtr = std::unique_ptr<MYSQL_STMT, StmtCloser>;

class MysqlBackend final : public sql::Backend {
public:
    explicit MysqlBackend(MySettings s) : s_(std::move(s)) {}
    ~MysqlBackend() override { close(); }

    std::string describe() const override {
        return "mysql " + (s_.host.empty() ? std::string("localhost") : s_.host) +
               (s_.port ? ":" + std::to_string(s_.port) : "") + "/" + s_.db;
    }

    void open() override {
        close();
        db_ = mysql_init(nullptr);
        if (!db_) throw DbError("out of memory", true);
        unsigned connect_timeout = 5, io_timeout = 60;
        mysql_options(db_, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
        mysql_options(db_, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
        mysql_options(db_, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
        mysql_options(db_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        const bool socket = !s_.host.empty() && s_.host[0] == '/';
        const char* host = s_.host.empty() || socket ? nullptr : s_.host.c_str();
        if (!mysql_real_connect(db_, host, s_.user.c_str(), s_.password.empty() ? nullptr : s_.password.c_str(),
                                s_.db.c_str(), s_.port, socket ? s_.host.c_str() : nullptr, CLIENT_MULTI_STATEMENTS)) {
            std::string msg = mysql_error(db_);
            close();
            throw DbError("cannot connect: " + msg, true);
        }
    }

    void close() noexcept override {
        stmts_.clear();
        if (db_) mysql_close(db_);
        db_ = nullptr;
    }

    bool is_open() const override { return db_ != nullptr; }

    bool table_exists(const std::string& table) override {
        auto dot = table.find('.');
        std::string schema = dot == std::string::npos ? std::string() : table.substr(0, dot);
        std::string name = dot == std::string::npos ? table : table.substr(dot + 1);
        auto rows = select(schema.empty()
                               ? "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
                               : "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                           schema.empty() ? std::vector<std::string>{name} : std::vector<std::string>{schema, name});
        return !rows.empty();
    }

    void exec(const std::string& text) override {
        if (mysql_real_query(db_, text.data(), text.size()) != 0) fail("statement");
        // Drain every result of a multi-statement text (sql_table_schema).
        for (;;) {
            if (MYSQL_RES* r = mysql_store_result(db_)) mysql_free_result(r);
            int more = mysql_next_result(db_);
            if (more < 0) break;
            if (more > 0) fail("statement");
        }
    }

    void ensure_marker(const std::string& table) override {
        exec("CREATE TABLE IF NOT EXISTS " + sql::quote_table(Dialect::Mysql, table) +
             " (writer VARCHAR(255) NOT NULL PRIMARY KEY, seq BIGINT UNSIGNED NOT NULL, stamp_updated DATETIME)");
    }

    std::uint64_t read_marker(const std::string& table, const std::string& writer) override {
        auto rows = select("SELECT seq FROM " + sql::quote_table(Dialect::Mysql, table) + " WHERE writer = ?", {writer});
        return rows.empty() ? 0 : std::strtoull(rows[0].c_str(), nullptr, 10);
    }

    void commit(const sql::CommitRequest& req) override {
        // Writers of one table (two daemons) take turns, as under pmacct's table locking:
        // concurrent multi-row upserts of the same keys would otherwise deadlock each other.
        std::vector<std::string> locks;
        for (const auto& g : req.groups()) locks.push_back("flowacct:" + g.table.substr(0, 54));
        std::sort(locks.begin(), locks.end());
        locks.erase(std::unique(locks.begin(), locks.end()), locks.end());
        std::size_t held = 0;
        struct Release {
            MysqlBackend* self;
            const std::vector<std::string>& locks;
            std::size_t& held;
            ~Release() {
                for (std::size_t i = 0; i < held && self->db_; ++i) {
                    try {
                        self->select("SELECT RELEASE_LOCK(?)", {locks[i]});
                    } catch (...) {
                    }
                }
            }
        } release{this, locks, held};
        for (const auto& l : locks) {
            auto got = select("SELECT GET_LOCK(?, 60)", {l});
            if (got.empty() || got[0] != "1") throw DbError("timed out waiting for the write lock " + l, false);
            ++held;
        }
        exec("START TRANSACTION");
        try {
            if (req.refused)
                sql::write_isolating(*this, req.groups(), [&](const sql::RenderedGroup& g) { write_group(req, g); },
                                     *req.refused);
            else
                for (const auto& g : req.groups()) write_group(req, g);
            if (!req.marker_table.empty()) {
                std::string seq = std::to_string(req.seq);
                run("INSERT INTO " + sql::quote_table(Dialect::Mysql, req.marker_table) +
                        " (writer, seq, stamp_updated) VALUES (?, ?, NOW()) ON DUPLICATE KEY UPDATE seq = VALUES(seq), "
                        "stamp_updated = VALUES(stamp_updated)",
                    {req.writer_id, seq});
            }
            exec("COMMIT");
        } catch (...) {
            if (db_) mysql_real_query(db_, "ROLLBACK", 8);
            throw;
        }
    }

private:
    [[noreturn]] void fail(const std::string& what) {
        unsigned err = mysql_errno(db_);
        throw DbError(what + ": " + mysql_error(db_) + " (" + std::to_string(err) + ")", is_connection_error(err),
                      is_data_error(err));
    }

    [[noreturn]] void fail_stmt(MYSQL_STMT* st, const std::string& what) {
        unsigned err = mysql_stmt_errno(st);
        throw DbError(what + ": " + mysql_stmt_error(st) + " (" + std::to_string(err) + ")", is_connection_error(err),
                      is_data_error(err));
    }

    StmtPtr prepare(const std::string& text) {
        StmtPtr st(mysql_stmt_init(db_));
        if (!st) fail("statement init");
        if (mysql_stmt_prepare(st.get(), text.data(), text.size()) != 0) fail_stmt(st.get(), "prepare");
        return st;
    }

    // Binds `values` (as text) to `st` and executes it.
    void bind_exec(MYSQL_STMT* st, const std::vector<std::string_view>& values, const std::string& what) {
        binds_.assign(values.size(), MYSQL_BIND{});
        lengths_.resize(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
            lengths_[i] = values[i].size();
            binds_[i].buffer_type = MYSQL_TYPE_STRING;
            binds_[i].buffer = const_cast<char*>(values[i].data());
            binds_[i].buffer_length = lengths_[i];
            binds_[i].length = &lengths_[i];
        }
        if (mysql_stmt_bind_param(st, binds_.data()) != 0) fail_stmt(st, what);
        if (mysql_stmt_execute(st) != 0) fail_stmt(st, what);
    }

    void run(const std::string& text, const std::vector<std::string>& params) {
        StmtPtr st = prepare(text);
        bind_exec(st.get(), std::vector<std::string_view>(params.begin(), params.end()), "statement");
    }

    // A one-column SELECT with bound parameters; the column's values as text.
    std::vector<std::string> select(const std::string& text, const std::vector<std::string>& params) {
        StmtPtr st = prepare(text);
        bind_exec(st.get(), std::vector<std::string_view>(params.begin(), params.end()), "query");
        char buf[256];
        unsigned long len = 0;
        my_bool is_null = 0;
        MYSQL_BIND out{};
        out.buffer_type = MYSQL_TYPE_STRING;
        out.buffer = buf;
        out.buffer_length = sizeof buf;
        out.length = &len;
        out.is_null = &is_null;
        if (mysql_stmt_bind_result(st.get(), &out) != 0) fail_stmt(st.get(), "query");
        if (mysql_stmt_store_result(st.get()) != 0) fail_stmt(st.get(), "query");
        std::vector<std::string> rows;
        while (mysql_stmt_fetch(st.get()) == 0) rows.emplace_back(buf, std::min<unsigned long>(len, sizeof buf));
        return rows;
    }

    std::string insert_text(const sql::CommitRequest& req, const std::string& table, std::size_t rows) {
        using sql::Field;
        const auto& cols = req.schema.columns;
        const auto q = [](const std::string& n) { return sql::quote_ident(Dialect::Mysql, n); };
        std::string names, one = "(", update;
        for (std::size_t i = 0; i < cols.size(); ++i) {
            names += (i ? ", " : "") + q(cols[i].name);
            one += i ? ",?" : "?";
            const std::string n = q(cols[i].name);
            switch (cols[i].field) {
            case Field::Packets: case Field::Bytes: case Field::Flows:
                update += (update.empty() ? "" : ", ") + n + " = " + n + " + VALUES(" + n + ")";
                break;
            case Field::TcpFlags: update += (update.empty() ? "" : ", ") + n + " = " + n + " | VALUES(" + n + ")"; break;
            case Field::StampUpdated: update += (update.empty() ? "" : ", ") + n + " = VALUES(" + n + ")"; break;
            default: break;
            }
        }
        one += ")";
        std::string text = "INSERT INTO " + sql::quote_table(Dialect::Mysql, table) + " (" + names + ") VALUES ";
        text.reserve(text.size() + rows * (one.size() + 1) + update.size() + 32);
        for (std::size_t r = 0; r < rows; ++r) {
            if (r) text += ",";
            text += one;
        }
        if (!req.dont_try_update) text += " ON DUPLICATE KEY UPDATE " + update;
        return text;
    }

    void write_group(const sql::CommitRequest& req, const sql::RenderedGroup& g) {
        const std::size_t ncols = g.columns;
        std::size_t per_stmt = 1;
        if (s_.multi_values_bytes > 0) {
            // Size a statement by the rows' own text, as the buffer pmacct fills.
            std::size_t row_bytes = ncols * 4;
            for (std::size_t c = 0; c < ncols && g.rows(); ++c) row_bytes += g.cell(0, c).size();
            per_stmt = std::max<std::size_t>(1, s_.multi_values_bytes / std::max<std::size_t>(row_bytes, 1));
        }
        per_stmt = std::min<std::size_t>(per_stmt, 65535 / ncols);
        std::vector<std::string_view> values;
        for (std::size_t first = 0; first < g.rows(); first += per_stmt) {
            const std::size_t n = std::min(per_stmt, g.rows() - first);
            const std::string key = g.table + "#" + std::to_string(n) + (req.dont_try_update ? "i" : "u");
            auto it = stmts_.find(key);
            if (it == stmts_.end()) {
                // A purge's last statement, and the parts of an isolated batch, have sizes of their
                // own: the cache stays small so the server's prepared statements never pile up
                // (max_prepared_stmt_count).
                if (stmts_.size() >= kMaxCachedStatements) stmts_.clear();
                it = stmts_.emplace(key, prepare(insert_text(req, g.table, n))).first;
            }
            values.clear();
            for (std::size_t r = 0; r < n; ++r)
                for (std::size_t c = 0; c < ncols; ++c) values.push_back(g.cell(first + r, c));
            bind_exec(it->second.get(), values, "insert into " + g.table);
        }
    }

    MySettings s_;
    MYSQL* db_ = nullptr;
    std::map<std::string, StmtPtr> stmts_;
    std::vector<MYSQL_BIND> binds_;
    std::vector<unsigned long> lengths_;
};

MySettings settings(const sdk::Context& ctx) {
    const auto& c = ctx.config();
    MySettings s;
    s.host = c.str("sql_host");
    if (c.has("sql_port")) {
        std::int64_t port = c.integer("sql_port");
        if (port <= 0 || port > 65535) throw sdk::Error("expected a port 1 to 65535", "sql_port");
        s.port = static_cast<unsigned>(port);
    }
    s.db = c.str("sql_db", "pmacct");
    s.user = c.str("sql_user", "pmacct");
    s.password = sql::read_password(c);
    std::int64_t mv = c.integer("sql_multi_values", 1 << 20);
    if (mv < 0) throw sdk::Error("expected 0 or more bytes", "sql_multi_values");
    s.multi_values_bytes = static_cast<std::size_t>(mv);
    return s;
}

class MysqlOutput final : public sql::SqlOutput {
public:
    explicit MysqlOutput(const sdk::Context& ctx)
        : SqlOutput(ctx, Dialect::Mysql, std::make_unique<MysqlBackend>(settings(ctx))) {}
};

} // namespace

FLOWACCT_MODULE(Output, MysqlOutput, "mysql", "0.1.0", "Aggregated rows into MySQL/MariaDB tables (pmacct's mysql plugin)",
                kKeys)
