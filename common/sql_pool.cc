#include "common/sql_pool.h"

#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"

namespace adsync {

DatabasePool::Handle::Handle(Handle&& other) noexcept
    : pool_(other.pool_), db_(std::move(other.db_)) {}

DatabasePool::Handle::~Handle() {
  if (db_ != nullptr) pool_->Release(std::move(db_));
}

DatabasePool::DatabasePool(int size, Connector connect, absl::Duration max_wait)
    : size_(size < 1 ? 1 : size),
      connect_(std::move(connect)),
      max_wait_(max_wait) {}

DatabasePool::~DatabasePool() {
  absl::MutexLock lock(&mu_);
  // A Handle outliving the pool would return its connection to freed
  // memory.
  ABSL_RAW_CHECK(open_ == static_cast<int>(idle_.size()),
                 "a DatabasePool was destroyed with connections checked out");
  idle_.clear();
}

absl::StatusOr<DatabasePool::Handle> DatabasePool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto can_proceed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < size_;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&can_proceed), max_wait_)) {
      return absl::UnavailableError(absl::StrCat(
          "all ", size_, " database read connections stayed busy for ",
          absl::FormatDuration(max_wait_),
          " (long reads such as account exports hold them); try again, or "
          "raise read_connections in the coordinator's config"));
    }
    if (!idle_.empty()) {
      std::unique_ptr<Database> db = std::move(idle_.back());
      idle_.pop_back();
      return Handle(this, std::move(db));
    }
    ++open_;  // reserved while opening outside the lock
  }
  absl::StatusOr<std::unique_ptr<Database>> db = connect_();
  if (!db.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return db.status();
  }
  return Handle(this, *std::move(db));
}

void DatabasePool::Release(std::unique_ptr<Database> db) {
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(db));
}

int DatabasePool::open_connections() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

}  // namespace adsync
