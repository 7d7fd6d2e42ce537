// A thin RAII layer over SQLite: a connection with a statement cache,
// statements that reset themselves, and BEGIN IMMEDIATE transactions that
// roll back unless committed.
//
// Thread-safety: a Database and its Statements belong to one thread at a
// time; callers serialize access (SqliteStore holds a mutex per connection).
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

namespace adsync {

class Database;

// A prepared statement. Bind* indexes start at 1, Column* at 0.
// Obtained from Database::Cached(); resets and clears bindings on Reset().
class Statement {
 public:
  Statement(Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int i, int64_t v);
  Statement& Bind(int i, absl::string_view text);
  Statement& BindBlob(int i, absl::string_view blob);
  // Without a copy, for hot paths.
  // REQUIRES: the bytes outlive the next Step, Run or Reset.
  Statement& BindTextNoCopy(int i, absl::string_view text);
  Statement& BindBlobNoCopy(int i, absl::string_view blob);
  Statement& BindNull(int i);

  // Steps once. Returns true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion, expecting no rows.
  absl::Status Run();

  int64_t ColumnInt(int i) const;
  std::string ColumnText(int i) const;
  std::string ColumnBlob(int i) const;
  // The blob without a copy; valid until the next Step or Reset.
  absl::string_view ColumnBlobView(int i) const;
  bool ColumnIsNull(int i) const;

  void Reset();

 private:
  Database* db_;
  sqlite3_stmt* stmt_;
};

// A cached statement checked out for one use. Resets on destruction so a
// finished (or abandoned) query never holds its read transaction open,
// which in WAL mode would pin an old snapshot.
class ScopedStatement {
 public:
  ScopedStatement() = default;
  explicit ScopedStatement(Statement* s) : s_(s) {}
  ScopedStatement(ScopedStatement&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  ScopedStatement& operator=(ScopedStatement&& o) noexcept {
    if (this != &o) {
      if (s_) s_->Reset();
      s_ = o.s_;
      o.s_ = nullptr;
    }
    return *this;
  }
  ~ScopedStatement() {
    if (s_) s_->Reset();
  }
  Statement* operator->() const { return s_; }
  Statement& operator*() const { return *s_; }

 private:
  Statement* s_ = nullptr;
};

class Database {
 public:
  // Opens (creating if needed) `path` in WAL mode with a busy timeout.
  // `busy_timeout_ms`: how long a statement waits for another process's
  // lock before failing with Unavailable.
  static absl::StatusOr<std::unique_ptr<Database>> Open(
      const std::string& path, bool read_only = false,
      int busy_timeout_ms = 5000);
  ~Database();

  // Runs one or more statements without results.
  absl::Status Execute(absl::string_view sql);

  // Checks out the cached prepared statement for `sql`, reset and unbound.
  // Statements are cached by the text's address: `sql` must live as long as
  // the database (a string literal, or text built once).
  // REQUIRES: no other use of the same statement is in progress.
  absl::StatusOr<ScopedStatement> Cached(const char* sql);

  int64_t Changes() const { return sqlite3_changes64(db_); }

  // Maps SQLite's last error to a Status with an operator-facing message.
  absl::Status Error(absl::string_view context) const;

  sqlite3* raw() { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<const char*, std::unique_ptr<Statement>> cache_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless Commit()
// succeeded.
class Transaction {
 public:
  explicit Transaction(Database* db) : db_(db) {}
  ~Transaction();
  absl::Status Begin();
  absl::Status Commit();

 private:
  Database* db_;
  bool open_ = false;
};

}  // namespace adsync

#endif  // ADSYNC_COMMON_SQLITE_H_
