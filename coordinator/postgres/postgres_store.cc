// The PostgreSQL engine: connections by the operator's connection string,
// its migrations, and push claims on a connection of their own.

#include "coordinator/postgres/postgres_store.h"

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/postgres.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/store_engine.h"

namespace adsync {
namespace {

class PostgresEngine : public StoreEngine {
 public:
  explicit PostgresEngine(std::string conninfo)
      : conninfo_(std::move(conninfo)) {}

  std::string Name() const override {
    return absl::StrCat("PostgreSQL database (", conninfo_, ")");
  }
  absl::StatusOr<std::unique_ptr<Database>> Connect() override {
    ASSIGN_OR_RETURN(std::unique_ptr<PostgresDatabase> db,
                     PostgresDatabase::Open(conninfo_));
    return std::unique_ptr<Database>(std::move(db));
  }
  const std::vector<const char*>& Migrations() const override {
    return PostgresMigrations();
  }
  // Other coordinators write the same tables.
  bool SoleWriter() const override { return false; }

  absl::StatusOr<bool> ClaimPush(int64_t org_key) override {
    absl::MutexLock lock(&mu_);
    // PanelSync pushes one org at a time: a new claim ends an earlier one
    // that was never released (its batch's bookkeeping failed).
    ReleaseLocked();
    if (claims_ == nullptr) {
      ASSIGN_OR_RETURN(claims_, PostgresDatabase::Open(conninfo_));
    }
    {
      ASSIGN_OR_RETURN(ScopedStatement add,
                       claims_->Cached("INSERT INTO push_claims(org_key) "
                                       "VALUES(?1) ON CONFLICT DO NOTHING"));
      add->Bind(1, org_key);
      RETURN_IF_ERROR(add->Run());
    }
    RETURN_IF_ERROR(claims_->Execute("BEGIN"));
    ASSIGN_OR_RETURN(ScopedStatement claim,
                     claims_->Cached("SELECT org_key FROM push_claims WHERE "
                                     "org_key=?1 FOR UPDATE SKIP LOCKED"));
    claim->Bind(1, org_key);
    absl::StatusOr<bool> row = claim->Step();
    if (!row.ok() || !*row) {
      claims_->Execute("ROLLBACK").IgnoreError();
      if (!row.ok()) return row.status();
      return false;  // another coordinator's session holds the row
    }
    claimed_ = true;
    return true;
  }

  void ReleasePush(int64_t) override {
    absl::MutexLock lock(&mu_);
    ReleaseLocked();
  }

 private:
  void ReleaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!claimed_) return;
    claimed_ = false;
    // Ending the transaction releases the row lock; a lost connection
    // released it already.
    claims_->Execute("ROLLBACK").IgnoreError();
  }

  const std::string conninfo_;
  absl::Mutex mu_;
  std::unique_ptr<PostgresDatabase> claims_ ABSL_GUARDED_BY(mu_);
  bool claimed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

absl::Status CheckPostgresConnInfo(const std::string& conninfo) {
  if (conninfo.empty()) {
    return absl::InvalidArgumentError(
        "postgres is empty: give a libpq connection string, e.g. postgres: "
        "\"host=db1,db2 dbname=adsync user=adsync "
        "target_session_attrs=read-write\"");
  }
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = error ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return absl::InvalidArgumentError(absl::StrCat(
        "postgres is not a valid libpq connection string (", message,
        "); see https://www.postgresql.org/docs/15/libpq-connect.html"));
  }
  bool has_password = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::string(o->keyword) == "password" && o->val != nullptr &&
        o->val[0] != '\0') {
      has_password = true;
    }
  }
  PQconninfoFree(options);
  if (has_password) {
    return absl::InvalidArgumentError(
        "postgres holds a password: the config file is not the place for "
        "one. Remove it and put it in a passfile readable only by the "
        "coordinator's user (passfile=/etc/adsync/pgpass in the connection "
        "string, format host:port:dbname:user:password), or use peer or "
        "certificate authentication");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SqlStore>> OpenPostgresStore(
    const PostgresStoreOptions& options) {
  RETURN_IF_ERROR(CheckPostgresConnInfo(options.conninfo));
  return SqlStore::Open(options,
                        std::make_unique<PostgresEngine>(options.conninfo));
}

}  // namespace adsync
