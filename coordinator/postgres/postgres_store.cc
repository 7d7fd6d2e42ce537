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

// The claim's transaction sits idle while K12Panel answers a push: its
// session may stay idle in it longer than the coordinator's other sessions
// (15 s), up to a bound above the K12Panel request timeout (default 30 s),
// after which the server ends a hung coordinator's claim.
constexpr char kClaimSessionSettings[] =
    "SET idle_in_transaction_session_timeout = '120s'";

// "PostgreSQL database adsync on db1,db2:5432", from the connection
// string's own fields (never its other options).
std::string DescribeConnInfo(const std::string& conninfo) {
  std::string db = "?", host = "(default host)", port;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  PQfreemem(error);
  if (options == nullptr) return "PostgreSQL database";
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') continue;
    const std::string keyword = o->keyword;
    if (keyword == "dbname") db = o->val;
    if (keyword == "host") host = o->val;
    if (keyword == "port") port = o->val;
  }
  PQconninfoFree(options);
  return absl::StrCat("PostgreSQL database ", db, " on ", host,
                      port.empty() ? "" : ":", port);
}

class PostgresEngine : public StoreEngine {
 public:
  explicit PostgresEngine(std::string conninfo)
      : conninfo_(std::move(conninfo)) {}

  std::string Name() const override { return DescribeConnInfo(conninfo_); }
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
      ASSIGN_OR_RETURN(
          claims_, PostgresDatabase::Open(conninfo_, kClaimSessionSettings));
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
    // libpq's message may quote the string, password included: not echoed.
    PQfreemem(error);
    return absl::InvalidArgumentError(
        "postgres is not a valid libpq connection string: write it as "
        "key=value pairs (host=db1 dbname=adsync user=adsync) or as a "
        "postgresql:// URI; see "
        "https://www.postgresql.org/docs/15/libpq-connect.html");
  }
  bool has_password = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    const std::string keyword = o->keyword;
    if ((keyword == "password" || keyword == "sslpassword") &&
        o->val != nullptr && o->val[0] != '\0') {
      has_password = true;
    }
  }
  PQconninfoFree(options);
  if (has_password) {
    return absl::InvalidArgumentError(
        "postgres holds a password (password or sslpassword): the config "
        "file is not the place for one. Remove it and put it in a passfile "
        "readable only by the "
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
