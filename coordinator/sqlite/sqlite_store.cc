// The SQLite engine: the file's flock (one coordinator per database file),
// its connections, its migrations; no push claims (no other coordinator).

#include "coordinator/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/sqlite.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/store_engine.h"

namespace adsync {
namespace {

class SqliteEngine : public StoreEngine {
 public:
  SqliteEngine(std::string path, uint32_t busy_timeout_ms, int lock_fd)
      : path_(std::move(path)),
        busy_timeout_ms_(busy_timeout_ms),
        lock_fd_(lock_fd) {}
  ~SqliteEngine() override { close(lock_fd_); }  // releases the lock

  std::string Name() const override { return "database " + path_; }
  absl::StatusOr<std::unique_ptr<Database>> Connect() override {
    ASSIGN_OR_RETURN(std::unique_ptr<SqliteDatabase> db,
                     SqliteDatabase::Open(path_, /*read_only=*/false,
                                          static_cast<int>(busy_timeout_ms_)));
    return std::unique_ptr<Database>(std::move(db));
  }
  const std::vector<const char*>& Migrations() const override {
    return SqliteMigrations();
  }
  // The flock keeps every other coordinator out.
  bool SoleWriter() const override { return true; }
  absl::StatusOr<bool> ClaimPush(int64_t) override { return true; }
  void ReleasePush(int64_t) override {}

 private:
  const std::string path_;
  const uint32_t busy_timeout_ms_;
  // flock()ed "<path>.lock": one store (one coordinator) per database file,
  // since the store keeps state beside the file (the known-accounts
  // filters) that another writer would make stale.
  const int lock_fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqlStore>> OpenSqliteStore(
    const SqliteStoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError(
        "database_path is required in the coordinator config");
  }
  const std::string lock_path = options.path + ".lock";
  const int lock_fd =
      open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create ", lock_path, ": ", strerror(errno),
        "; check that the database directory exists and is writable"));
  }
  // The engine owns the descriptor from here: closing it releases the lock.
  auto engine = std::make_unique<SqliteEngine>(
      options.path, options.busy_timeout_ms, lock_fd);
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("database ", options.path,
                     " is in use by another coordinator (", lock_path,
                     " is locked); stop that one, or give this one its own "
                     "database_path"));
  }
  return SqlStore::Open(options, std::move(engine));
}

}  // namespace adsync
