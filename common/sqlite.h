// The SQL database interface (common/sql.h) on SQLite: WAL mode, a busy
// timeout, prepared statements cached per connection, write transactions
// under BEGIN IMMEDIATE.
//
// Thread-safety: a SqliteDatabase and its statements belong to one thread
// at a time; callers serialize access.
#ifndef ADSYNC_COMMON_SQLITE_H_
#define ADSYNC_COMMON_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sql.h"

namespace adsync {

class SqliteDatabase;

class SqliteStatement : public Statement {
 public:
  SqliteStatement(SqliteDatabase* db, sqlite3_stmt* stmt)
      : db_(db), stmt_(stmt) {}
  ~SqliteStatement() override;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  Statement& Bind(int i, int64_t v) override;
  Statement& Bind(int i, absl::string_view text) override;
  Statement& BindBlob(int i, absl::string_view blob) override;
  Statement& BindTextNoCopy(int i, absl::string_view text) override;
  Statement& BindBlobNoCopy(int i, absl::string_view blob) override;
  Statement& BindNull(int i) override;
  absl::StatusOr<bool> Step() override;
  int64_t ColumnInt(int i) const override;
  std::string ColumnText(int i) const override;
  std::string ColumnBlob(int i) const override;
  absl::string_view ColumnBlobView(int i) const override;
  bool ColumnIsNull(int i) const override;
  void Reset() override;

 private:
  SqliteDatabase* db_;
  sqlite3_stmt* stmt_;
};

class SqliteDatabase : public Database {
 public:
  // Opens (creating if needed) `path` in WAL mode with a busy timeout.
  // `busy_timeout_ms`: how long a statement waits for another process's
  // lock before failing with Unavailable.
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> Open(
      const std::string& path, bool read_only = false,
      int busy_timeout_ms = 5000);
  ~SqliteDatabase() override;

  absl::Status Execute(absl::string_view sql) override;
  absl::StatusOr<ScopedStatement> Cached(const char* sql) override;
  int64_t Changes() const override { return sqlite3_changes64(db_); }
  // BEGIN IMMEDIATE: the database's write lock is taken at once.
  absl::Status BeginWrite() override { return Execute("BEGIN IMMEDIATE"); }
  absl::Status Commit() override { return Execute("COMMIT"); }
  absl::Status Rollback() override { return Execute("ROLLBACK"); }

  // Maps SQLite's last error to a Status with an operator-facing message.
  absl::Status Error(absl::string_view context) const;

 private:
  explicit SqliteDatabase(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<const char*, std::unique_ptr<SqliteStatement>> cache_;
};

}  // namespace adsync

#endif  // ADSYNC_COMMON_SQLITE_H_
