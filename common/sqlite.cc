#include "common/sqlite.h"

#include "absl/strings/str_cat.h"

namespace adsync {

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

Statement& SqliteStatement::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

Statement& SqliteStatement::Bind(int i, absl::string_view text) {
  sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& SqliteStatement::BindBlob(int i, absl::string_view blob) {
  sqlite3_bind_blob(stmt_, i, blob.data(), static_cast<int>(blob.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& SqliteStatement::BindTextNoCopy(int i, absl::string_view text) {
  sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()),
                    SQLITE_STATIC);
  return *this;
}

Statement& SqliteStatement::BindBlobNoCopy(int i, absl::string_view blob) {
  sqlite3_bind_blob(stmt_, i, blob.data(), static_cast<int>(blob.size()),
                    SQLITE_STATIC);
  return *this;
}

Statement& SqliteStatement::BindNull(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(sqlite3_sql(stmt_));
}

int64_t SqliteStatement::ColumnInt(int i) const {
  return sqlite3_column_int64(stmt_, i);
}

std::string SqliteStatement::ColumnText(int i) const {
  const unsigned char* p = sqlite3_column_text(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         sqlite3_column_bytes(stmt_, i))
           : std::string();
}

std::string SqliteStatement::ColumnBlob(int i) const {
  return std::string(ColumnBlobView(i));
}

absl::string_view SqliteStatement::ColumnBlobView(int i) const {
  const void* p = sqlite3_column_blob(stmt_, i);
  return p ? absl::string_view(static_cast<const char*>(p),
                               sqlite3_column_bytes(stmt_, i))
           : absl::string_view();
}

bool SqliteStatement::ColumnIsNull(int i) const {
  return sqlite3_column_type(stmt_, i) == SQLITE_NULL;
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::Open(
    const std::string& path, bool read_only, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  const int flags = (read_only ? SQLITE_OPEN_READONLY
                               : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return absl::UnavailableError(
        absl::StrCat("cannot open database ", path, ": ", msg,
                     "; check that the directory exists and is writable"));
  }
  std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(raw));
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  sqlite3_extended_result_codes(raw, 1);
  if (!read_only) {
    // WAL: readers never block the single writer. synchronous=FULL: a
    // commit is on disk before we acknowledge a batch (docs/design.md,
    // rule 5).
    absl::Status s = db->Execute(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
        "PRAGMA foreign_keys=ON;");
    if (!s.ok()) return s;
  }
  return db;
}

SqliteDatabase::~SqliteDatabase() {
  cache_.clear();
  sqlite3_close(db_);
}

absl::Status SqliteDatabase::Execute(absl::string_view sql) {
  char* err = nullptr;
  const int rc =
      sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Error(absl::StrCat(sql.substr(0, 60), ": ", msg));
  }
  return absl::OkStatus();
}

absl::StatusOr<ScopedStatement> SqliteDatabase::Cached(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second->Reset();
    return ScopedStatement(it->second.get());
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr) != SQLITE_OK) {
    return Error(sql);
  }
  auto owned = std::make_unique<SqliteStatement>(this, stmt);
  SqliteStatement* raw = owned.get();
  cache_.emplace(sql, std::move(owned));
  return ScopedStatement(raw);
}

absl::Status SqliteDatabase::Error(absl::string_view context) const {
  const int code = sqlite3_extended_errcode(db_);
  const std::string msg =
      absl::StrCat("database error (", sqlite3_errmsg(db_), ") in: ", context);
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(absl::StrCat(
          msg,
          "; another process holds the database lock: make sure only "
          "one coordinator uses this database file"));
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(
          absl::StrCat(msg, "; the disk is full: free space and retry"));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(
          absl::StrCat(msg, "; check the disk and the file's permissions"));
    case SQLITE_READONLY:
      return absl::FailedPreconditionError(
          absl::StrCat(msg, "; the database file is read-only"));
    case SQLITE_CONSTRAINT:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace adsync
