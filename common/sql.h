// What the coordinator's store needs of a SQL database, whatever the engine:
// a connection with a statement cache, statements that reset themselves, and
// write transactions that roll back unless committed. SQLite
// (common/sqlite.h) and PostgreSQL (common/postgres.h) implement it.
//
// SQL text is written once for both engines: parameters are numbered
// (`?1`, `?2`; PostgreSQL's connection turns them into `$1`, `$2`), and
// only syntax both engines share is used (ON CONFLICT, RETURNING, CASE
// rather than two-argument max(), lower() rather than COLLATE NOCASE).
//
//   ASSIGN_OR_RETURN(ScopedStatement q,
//                    db->Cached("SELECT name FROM orgs WHERE org_id=?1"));
//   q->Bind(1, org_id);
//   ASSIGN_OR_RETURN(bool row, q->Step());
//
// Thread-safety: a Database and its Statements belong to one thread at a
// time; callers serialize access (the store holds a mutex per connection).
#ifndef ADSYNC_COMMON_SQL_H_
#define ADSYNC_COMMON_SQL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace adsync {

// A prepared statement. Bind* indexes start at 1, Column* at 0. Binding an
// index the statement does not use is ignored.
class Statement {
 public:
  virtual ~Statement() = default;

  virtual Statement& Bind(int i, int64_t v) = 0;
  virtual Statement& Bind(int i, absl::string_view text) = 0;
  virtual Statement& BindBlob(int i, absl::string_view blob) = 0;
  // Without a copy where the engine allows, for hot paths.
  // REQUIRES: the bytes outlive the next Step, Run or Reset.
  virtual Statement& BindTextNoCopy(int i, absl::string_view text) = 0;
  virtual Statement& BindBlobNoCopy(int i, absl::string_view blob) = 0;
  virtual Statement& BindNull(int i) = 0;

  // Steps once. Returns true when a row is available, false when done.
  virtual absl::StatusOr<bool> Step() = 0;
  // Steps to completion, expecting no rows.
  absl::Status Run() {
    absl::StatusOr<bool> row = Step();
    return row.ok() ? absl::OkStatus() : row.status();
  }

  // A boolean column reads as 0 or 1.
  virtual int64_t ColumnInt(int i) const = 0;
  virtual std::string ColumnText(int i) const = 0;
  virtual std::string ColumnBlob(int i) const = 0;
  // The blob without a copy; valid until the next Step or Reset.
  virtual absl::string_view ColumnBlobView(int i) const = 0;
  virtual bool ColumnIsNull(int i) const = 0;

  // Ends the statement's use: results released, bindings cleared.
  virtual void Reset() = 0;
};

// A cached statement checked out for one use. Resets on destruction so a
// finished (or abandoned) query never holds its results (or, on SQLite, its
// read snapshot) open.
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
  virtual ~Database() = default;

  // Runs one or more statements without parameters or results.
  virtual absl::Status Execute(absl::string_view sql) = 0;

  // Checks out the cached prepared statement for `sql`, reset and unbound.
  // Statements are cached by the text's address: `sql` must live as long as
  // the database (a string literal, or text built once).
  // REQUIRES: no other use of the same statement is in progress.
  virtual absl::StatusOr<ScopedStatement> Cached(const char* sql) = 0;

  // Rows the last statement run inserted, updated or deleted.
  virtual int64_t Changes() const = 0;

  // A write transaction: once BeginWrite returns, no other writer of the
  // database (in any process) writes until this one commits or rolls back.
  virtual absl::Status BeginWrite() = 0;
  virtual absl::Status Commit() = 0;
  virtual absl::Status Rollback() = 0;
};

// BeginWrite on Begin(); Rollback on destruction unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Database* db) : db_(db) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (open_) db_->Rollback().IgnoreError();
  }
  absl::Status Begin() {
    absl::Status s = db_->BeginWrite();
    open_ = s.ok();
    return s;
  }
  absl::Status Commit() {
    absl::Status s = db_->Commit();
    if (s.ok()) open_ = false;
    return s;
  }

 private:
  Database* db_;
  bool open_ = false;
};

}  // namespace adsync

#endif  // ADSYNC_COMMON_SQL_H_
