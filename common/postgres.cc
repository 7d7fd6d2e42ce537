#include "common/postgres.h"

#include <cstdlib>
#include <functional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace adsync {
namespace {

// Type OIDs (pg_type.h, stable across releases).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;

// The one advisory lock every write transaction takes ("adsync" in ASCII).
constexpr const char kBeginWrite[] =
    "BEGIN; SELECT pg_advisory_xact_lock(107083133119075)";

// Applied to every session. A coordinator stopped (SIGSTOP, a hung VM) in
// a write transaction would hold every other coordinator's writes: the
// server ends its session after 15 s idle in the transaction. A write that
// waits longer than 30 s for the lock fails (Unavailable) and is retried.
// Custom plans: a prepared statement's generic plan is made once, and one
// made while a table was new and empty scans it whole for ever after
// (measured: the account lookup grew linearly with the table); a custom
// plan sees the table as it is, for a few microseconds of planning.
constexpr const char kSessionSettings[] =
    "SET idle_in_transaction_session_timeout = '15s'; "
    "SET lock_timeout = '30s'; SET plan_cache_mode = force_custom_plan";

std::string FirstLine(const char* text) {
  std::string s = text ? text : "";
  const size_t nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return std::string(absl::StripAsciiWhitespace(s));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea in the server's hex output format ("\x0a1b...").
std::string DecodeBytea(absl::string_view text) {
  if (!absl::ConsumePrefix(&text, "\\x")) return std::string(text);
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    const int hi = HexValue(text[i]);
    const int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) break;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

}  // namespace

absl::StatusCode CodeForSqlState(absl::string_view sqlstate) {
  if (sqlstate == "23505") return absl::StatusCode::kAlreadyExists;
  if (absl::StartsWith(sqlstate, "23")) {
    return absl::StatusCode::kFailedPrecondition;  // other constraints
  }
  if (absl::StartsWith(sqlstate, "08") ||  // connection exception
      absl::StartsWith(sqlstate, "57") ||  // operator intervention
      sqlstate == "40001" ||               // serialization failure
      sqlstate == "40P01" ||               // deadlock detected
      sqlstate == "55P03" ||               // lock not available (timeout)
      sqlstate == "25006" ||               // read-only transaction
      sqlstate == "25P03") {               // idle-in-transaction timeout
    return absl::StatusCode::kUnavailable;
  }
  if (sqlstate == "53300") {
    return absl::StatusCode::kUnavailable;  // too many connections: retry
  }
  if (absl::StartsWith(sqlstate, "53")) {
    return absl::StatusCode::kResourceExhausted;  // disk full, memory
  }
  return absl::StatusCode::kInternal;
}

std::string PostgresDatabase::NumberedParameters(absl::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?' && i + 1 < sql.size() &&
               absl::ascii_isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      out.push_back('$');
      continue;
    }
    out.push_back(c);
  }
  return out;
}

PostgresStatement::~PostgresStatement() { PQclear(result_); }

PostgresStatement::Param* PostgresStatement::At(int i) {
  if (i < 1) return nullptr;
  if (params_.size() < static_cast<size_t>(i)) params_.resize(i);
  return &params_[i - 1];
}

Statement& PostgresStatement::Bind(int i, int64_t v) {
  if (Param* p = At(i)) *p = Param{false, false, absl::StrCat(v)};
  return *this;
}

Statement& PostgresStatement::Bind(int i, absl::string_view text) {
  if (Param* p = At(i)) *p = Param{false, false, std::string(text)};
  return *this;
}

Statement& PostgresStatement::BindBlob(int i, absl::string_view blob) {
  if (Param* p = At(i)) *p = Param{false, true, std::string(blob)};
  return *this;
}

Statement& PostgresStatement::BindNull(int i) {
  if (Param* p = At(i)) *p = Param{};
  return *this;
}

absl::Status PostgresStatement::Execute() {
  return db_->RetryingOnALostConnection([this] { return ExecuteOnce(); },
                                        PostgresDatabase::SafeToRepeat(sql_));
}

absl::Status PostgresStatement::ExecuteOnce() {
  PGconn* conn = db_->conn_;
  if (prepared_generation_ != db_->generation_) {
    PGresult* prepared =
        PQprepare(conn, name_.c_str(), sql_.c_str(), 0, nullptr);
    if (absl::Status s = db_->Check(prepared, sql_); !s.ok()) return s;
    PQclear(prepared);
    PGresult* described = PQdescribePrepared(conn, name_.c_str());
    if (absl::Status s = db_->Check(described, sql_); !s.ok()) return s;
    nparams_ = PQnparams(described);
    PQclear(described);
    prepared_generation_ = db_->generation_;
  }
  const int nparams = nparams_;
  std::vector<const char*> values(nparams, nullptr);
  std::vector<int> lengths(nparams, 0);
  std::vector<int> formats(nparams, 0);
  for (int i = 0; i < nparams && i < static_cast<int>(params_.size()); ++i) {
    const Param& p = params_[i];
    if (p.is_null) continue;
    values[i] = p.value.c_str();
    lengths[i] = static_cast<int>(p.value.size());
    formats[i] = p.binary ? 1 : 0;
  }
  PGresult* result =
      PQexecPrepared(conn, name_.c_str(), nparams, values.data(),
                     lengths.data(), formats.data(), /*resultFormat=*/0);
  if (absl::Status s = db_->Check(result, sql_); !s.ok()) return s;
  if (!absl::StartsWith(PQcmdStatus(result), "SELECT")) {
    int64_t changes = 0;
    if (!absl::SimpleAtoi(PQcmdTuples(result), &changes)) changes = 0;
    db_->changes_ = changes;
  }
  result_ = result;
  row_ = -1;
  return absl::OkStatus();
}

absl::StatusOr<bool> PostgresStatement::Step() {
  if (result_ == nullptr) {
    if (absl::Status s = Execute(); !s.ok()) return s;
  }
  decoded_.clear();
  ++row_;
  return row_ < PQntuples(result_);
}

int64_t PostgresStatement::ColumnInt(int i) const {
  if (result_ == nullptr || PQgetisnull(result_, row_, i)) return 0;
  const char* v = PQgetvalue(result_, row_, i);
  if (PQftype(result_, i) == kBoolOid) return v[0] == 't' ? 1 : 0;
  return std::strtoll(v, nullptr, 10);
}

std::string PostgresStatement::ColumnText(int i) const {
  if (result_ == nullptr || PQgetisnull(result_, row_, i)) return "";
  return std::string(PQgetvalue(result_, row_, i),
                     PQgetlength(result_, row_, i));
}

std::string PostgresStatement::ColumnBlob(int i) const {
  return std::string(ColumnBlobView(i));
}

absl::string_view PostgresStatement::ColumnBlobView(int i) const {
  if (result_ == nullptr || PQgetisnull(result_, row_, i)) return {};
  absl::string_view raw(PQgetvalue(result_, row_, i),
                        PQgetlength(result_, row_, i));
  if (PQftype(result_, i) != kByteaOid) return raw;
  auto it = decoded_.find(i);
  if (it == decoded_.end()) it = decoded_.emplace(i, DecodeBytea(raw)).first;
  return it->second;
}

bool PostgresStatement::ColumnIsNull(int i) const {
  return result_ == nullptr || PQgetisnull(result_, row_, i);
}

void PostgresStatement::Reset() {
  PQclear(result_);
  result_ = nullptr;
  row_ = -1;
  params_.clear();
  decoded_.clear();
}

absl::StatusOr<std::unique_ptr<PostgresDatabase>> PostgresDatabase::Open(
    const std::string& conninfo, const std::string& session_settings) {
  // Earlier keywords are defaults the connection string overrides.
  const char* keywords[] = {"connect_timeout", "fallback_application_name",
                            "dbname", nullptr};
  const char* values[] = {"5", "adsync-coordinator", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError(
        "cannot allocate a PostgreSQL connection (out of memory)");
  }
  std::unique_ptr<PostgresDatabase> db(
      new PostgresDatabase(conninfo, session_settings, conn));
  // Server notices ("relation already exists, skipping") are not errors
  // and would otherwise go to stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  if (PQstatus(conn) != CONNECTION_OK) {
    // libpq's message names the host and the failure, never the password.
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to PostgreSQL: ", FirstLine(PQerrorMessage(conn)),
        "; check that the server is running and that the coordinator's "
        "postgres setting (host, port, dbname, user) is right"));
  }
  if (absl::Status s = db->ApplySessionSettings(); !s.ok()) return s;
  return db;
}

PostgresDatabase::~PostgresDatabase() {
  cache_.clear();
  PQfinish(conn_);
}

std::string PostgresDatabase::Server() const {
  const char* host = PQhost(conn_);
  const char* port = PQport(conn_);
  return absl::StrCat(host ? host : "?", ":", port ? port : "?");
}

absl::Status PostgresDatabase::EnsureConnected() {
  if (PQstatus(conn_) == CONNECTION_OK && !reset_needed_) {
    return absl::OkStatus();
  }
  if (in_transaction_) {
    return absl::UnavailableError(
        "the connection to PostgreSQL was lost during a transaction (rolled "
        "back); the write is retried after reconnecting");
  }
  PQreset(conn_);  // tries every host of the connection string again
  ++generation_;   // its prepared statements are gone with the old session
  reset_needed_ = false;
  if (PQstatus(conn_) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reconnect to PostgreSQL: ", FirstLine(PQerrorMessage(conn_)),
        "; check the server (the coordinator retries on the next write)"));
  }
  return ApplySessionSettings();
}

absl::Status PostgresDatabase::ApplySessionSettings() {
  for (const char* sql : {kSessionSettings, session_settings_.c_str()}) {
    if (*sql == '\0') continue;
    PGresult* result = PQexec(conn_, sql);
    if (absl::Status s = Check(result, sql); !s.ok()) return s;
    PQclear(result);
  }
  return absl::OkStatus();
}

absl::Status PostgresDatabase::Check(PGresult* result,
                                     absl::string_view context) {
  const ExecStatusType status =
      result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    return absl::OkStatus();
  }
  // Copied before PQclear: both point into `result`.
  const char* field =
      result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = field ? field : "";
  const std::string message =
      FirstLine(result ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  PQclear(result);
  absl::StatusCode code =
      state.empty() ? absl::StatusCode::kUnavailable : CodeForSqlState(state);
  if (PQstatus(conn_) != CONNECTION_OK) code = absl::StatusCode::kUnavailable;
  if (state == "25006") {
    // A server that became a standby: leave it, so the next statement
    // outside a transaction looks for the writable server again.
    reset_needed_ = true;
  }
  std::string text = absl::StrCat("database error (", message,
                                  ") in: ", context.substr(0, 120));
  switch (code) {
    case absl::StatusCode::kUnavailable:
      absl::StrAppend(&text,
                      "; PostgreSQL is unreachable, restarting or not "
                      "writable (a standby): the coordinator reconnects and "
                      "the write is retried; check the server if this "
                      "persists");
      break;
    case absl::StatusCode::kResourceExhausted:
      absl::StrAppend(&text,
                      "; the database server is out of disk or memory: free "
                      "space and retry");
      break;
    default:
      break;
  }
  return absl::Status(code, text);
}

absl::Status PostgresDatabase::Execute(absl::string_view sql) {
  const std::string text(sql);
  return RetryingOnALostConnection(
      [&] {
        PGresult* result = PQexec(conn_, text.c_str());
        absl::Status s = Check(result, sql);  // consumes `result` on error
        if (!s.ok()) return s;
        int64_t changes = 0;
        if (absl::SimpleAtoi(PQcmdTuples(result), &changes)) {
          changes_ = changes;
        }
        PQclear(result);
        return s;
      },
      SafeToRepeat(sql));
}

bool PostgresDatabase::SafeToRepeat(absl::string_view sql) {
  // Reads, and opening a transaction (its lock included): a statement that
  // writes may have been applied before the connection died.
  return absl::StartsWith(sql, "SELECT ") || absl::StartsWith(sql, "BEGIN") ||
         absl::StartsWith(sql, "SET ");
}

absl::Status PostgresDatabase::RetryingOnALostConnection(
    const std::function<absl::Status()>& run, bool safe_to_repeat) {
  for (int attempt = 0;; ++attempt) {
    if (absl::Status s = EnsureConnected(); !s.ok()) return s;
    // Outside a transaction, a read or a BEGIN that finds the connection
    // dead (the server restarted, a standby was promoted) runs once more on
    // a new one. Inside one, the transaction died with it, and a write may
    // have been applied: the caller decides.
    const bool idle = PQtransactionStatus(conn_) == PQTRANS_IDLE;
    absl::Status s = run();
    if (s.ok() || attempt > 0 || !idle || !safe_to_repeat ||
        PQstatus(conn_) == CONNECTION_OK) {
      return s;
    }
  }
}

absl::StatusOr<ScopedStatement> PostgresDatabase::Cached(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second->Reset();
    return ScopedStatement(it->second.get());
  }
  auto owned = std::make_unique<PostgresStatement>(
      this, absl::StrCat("adsync_", cache_.size()), NumberedParameters(sql));
  PostgresStatement* raw = owned.get();
  cache_.emplace(sql, std::move(owned));
  return ScopedStatement(raw);
}

absl::Status PostgresDatabase::BeginWrite() {
  if (absl::Status s = Execute(kBeginWrite); !s.ok()) {
    if (PQstatus(conn_) == CONNECTION_OK) {
      PQclear(PQexec(conn_, "ROLLBACK"));
    }
    return s;
  }
  in_transaction_ = true;
  return absl::OkStatus();
}

absl::Status PostgresDatabase::Commit() {
  const bool was_open = in_transaction_;
  in_transaction_ = false;
  if (!was_open) return absl::FailedPreconditionError("no transaction open");
  if (PQstatus(conn_) != CONNECTION_OK) {
    return absl::UnavailableError(
        "the connection to PostgreSQL was lost before COMMIT (rolled back); "
        "the write is retried after reconnecting");
  }
  PGresult* result = PQexec(conn_, "COMMIT");
  if (absl::Status s = Check(result, "COMMIT"); !s.ok()) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      // Sent, and no answer: the server may have committed it or not.
      return absl::UnavailableError(absl::StrCat(
          "the connection to PostgreSQL was lost during COMMIT, so the write "
          "may or may not be stored (",
          s.message(),
          "); it is retried, and every write adsync retries is safe to "
          "repeat (a batch already stored is recognized by its sequence)"));
    }
    return s;
  }
  // COMMIT of a transaction a failed statement aborted reports ROLLBACK.
  const bool rolled_back = absl::string_view(PQcmdStatus(result)) == "ROLLBACK";
  PQclear(result);
  if (rolled_back) {
    return absl::AbortedError(
        "PostgreSQL rolled the transaction back (a statement in it failed); "
        "nothing was written, retry");
  }
  return absl::OkStatus();
}

absl::Status PostgresDatabase::Rollback() {
  in_transaction_ = false;
  if (PQstatus(conn_) != CONNECTION_OK) return absl::OkStatus();
  PGresult* result = PQexec(conn_, "ROLLBACK");
  absl::Status s = Check(result, "ROLLBACK");  // consumes `result` on error
  if (s.ok()) PQclear(result);
  return s;
}

}  // namespace adsync
