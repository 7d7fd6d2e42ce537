// The SQL database interface (common/sql.h) on PostgreSQL through libpq.
//
// Statements are prepared on the server once per connection, their `?N`
// parameters turned into `$N`; parameters go as text (blobs as binary) and
// the server infers their types from the SQL. Results come as text; bytea
// columns are decoded, booleans read as 0/1.
//
// A write transaction (BeginWrite) takes one transaction-scoped advisory
// lock that every coordinator's writes take: the writes of several
// coordinators on one database are serialized as SQLite serializes its
// writers, so the store's rules hold unchanged (docs/design.md).
//
// A lost connection (the server restarted, or a standby was promoted) is
// re-established with the same connection string (a multi-host string with
// target_session_attrs=read-write follows a promotion): a read or a BEGIN
// outside a transaction that finds it dead runs again on the new one; a
// write does not (it may have been applied); inside a transaction the loss
// fails every statement (Unavailable) until Rollback, and the caller
// retries the transaction.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<PostgresDatabase> db,
//                    PostgresDatabase::Open("host=/run/pg dbname=adsync"));
//
// Thread-safety: a PostgresDatabase and its statements belong to one
// thread at a time; callers serialize access.
#ifndef ADSYNC_COMMON_POSTGRES_H_
#define ADSYNC_COMMON_POSTGRES_H_

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sql.h"

namespace adsync {

class PostgresDatabase;

class PostgresStatement : public Statement {
 public:
  PostgresStatement(PostgresDatabase* db, std::string name, std::string sql)
      : db_(db), name_(std::move(name)), sql_(std::move(sql)) {}
  ~PostgresStatement() override;
  PostgresStatement(const PostgresStatement&) = delete;
  PostgresStatement& operator=(const PostgresStatement&) = delete;

  Statement& Bind(int i, int64_t v) override;
  Statement& Bind(int i, absl::string_view text) override;
  Statement& BindBlob(int i, absl::string_view blob) override;
  Statement& BindTextNoCopy(int i, absl::string_view text) override {
    return Bind(i, text);
  }
  Statement& BindBlobNoCopy(int i, absl::string_view blob) override {
    return BindBlob(i, blob);
  }
  Statement& BindNull(int i) override;
  absl::StatusOr<bool> Step() override;
  int64_t ColumnInt(int i) const override;
  std::string ColumnText(int i) const override;
  std::string ColumnBlob(int i) const override;
  absl::string_view ColumnBlobView(int i) const override;
  bool ColumnIsNull(int i) const override;
  void Reset() override;

 private:
  friend class PostgresDatabase;
  struct Param {
    bool is_null = true;
    bool binary = false;
    std::string value;
  };
  Param* At(int i);
  absl::Status Execute();
  absl::Status ExecuteOnce();

  PostgresDatabase* db_;
  const std::string name_;
  const std::string sql_;         // with $N parameters
  int prepared_generation_ = -1;  // the connection it was prepared on
  int nparams_ = 0;               // as the server prepared it
  std::vector<Param> params_;
  PGresult* result_ = nullptr;
  int row_ = -1;
  // Decoded bytea columns of the current row, so ColumnBlobView can
  // return a view; by column.
  mutable std::map<int, std::string> decoded_;
};

class PostgresDatabase : public Database {
 public:
  // Connects with `conninfo` (a libpq connection string or URI).
  // `session_settings` (SET statements) run after the defaults on every
  // connection and reconnection. Unavailable (naming the server and what
  // to check) when it cannot connect.
  static absl::StatusOr<std::unique_ptr<PostgresDatabase>> Open(
      const std::string& conninfo, const std::string& session_settings = "");
  ~PostgresDatabase() override;

  absl::Status Execute(absl::string_view sql) override;
  absl::StatusOr<ScopedStatement> Cached(const char* sql) override;
  int64_t Changes() const override { return changes_; }
  absl::Status BeginWrite() override;
  absl::Status Commit() override;
  absl::Status Rollback() override;

  // "host:port" of the server this connection reached (for logs).
  std::string Server() const;

  // `?N` parameters as `$N`, outside quoted text.
  static std::string NumberedParameters(absl::string_view sql);
  // Whether `sql` may run again after its connection died under it: reads
  // and BEGIN (a write may have been applied before the connection died).
  static bool SafeToRepeat(absl::string_view sql);

 private:
  friend class PostgresStatement;
  PostgresDatabase(std::string conninfo, std::string session_settings,
                   PGconn* conn)
      : conninfo_(std::move(conninfo)),
        session_settings_(std::move(session_settings)),
        conn_(conn) {}
  absl::Status ApplySessionSettings();
  // Reconnects when the connection is lost and no transaction is open.
  absl::Status EnsureConnected();
  // Runs `run` on a live connection, a second time when the first found
  // the connection dead outside a transaction and `safe_to_repeat`.
  absl::Status RetryingOnALostConnection(
      const std::function<absl::Status()>& run, bool safe_to_repeat);
  // The status of a finished command; `result` is consumed on error.
  absl::Status Check(PGresult* result, absl::string_view context);
  absl::Status ErrorFromConnection(absl::string_view context) const;

  const std::string conninfo_;
  const std::string session_settings_;
  PGconn* conn_;
  int generation_ = 0;  // grows with every reconnection
  bool in_transaction_ = false;
  // Set when the server turned out read-only (demoted to a standby).
  bool reset_needed_ = false;
  int64_t changes_ = 0;
  std::map<const char*, std::unique_ptr<PostgresStatement>> cache_;
};

// Maps a server error (SQLSTATE) to a Status code chosen by meaning:
// unique violations AlreadyExists, lost connections, serialization
// failures and a read-only server Unavailable (retried), full disks
// ResourceExhausted, the rest Internal.
absl::StatusCode CodeForSqlState(absl::string_view sqlstate);

}  // namespace adsync

#endif  // ADSYNC_COMMON_POSTGRES_H_
