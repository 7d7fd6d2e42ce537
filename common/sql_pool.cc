#include "common/sql_pool.h"

#include <utility>

namespace adsync {

DatabasePool::Handle::Handle(Handle&& other) noexcept
    : pool_(other.pool_), db_(std::move(other.db_)) {}

DatabasePool::Handle::~Handle() {
  if (db_ != nullptr) pool_->Release(std::move(db_));
}

DatabasePool::DatabasePool(int size, Connector connect)
    : size_(size < 1 ? 1 : size), connect_(std::move(connect)) {}

DatabasePool::~DatabasePool() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

absl::StatusOr<DatabasePool::Handle> DatabasePool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto can_proceed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < size_;
    };
    mu_.Await(absl::Condition(&can_proceed));
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
