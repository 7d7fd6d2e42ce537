// A bounded pool of connections to one database, for readers that may
// run at once: each caller checks out a connection of its own for as long
// as it holds the returned handle, so reads on different threads run in
// parallel instead of queueing behind one connection's mutex (SQLite in WAL
// mode and PostgreSQL both let readers proceed beside a writer).
//
//   DatabasePool pool(/*size=*/4, [&] { return engine->Connect(); });
//   ASSIGN_OR_RETURN(DatabasePool::Handle db, pool.Acquire());
//   ASSIGN_OR_RETURN(ScopedStatement q, db->Cached("SELECT ..."));
//
// Connections are opened on first need, up to `size`; a caller finding all
// of them checked out waits for one, up to `max_wait`. A connection whose
// opening failed is not kept: the next Acquire tries again.
//
// Thread-safety: Acquire from any thread. A Handle (and the Database it
// lends) belongs to one thread until destroyed; every Handle must be
// destroyed before the pool.
#ifndef ADSYNC_COMMON_SQL_POOL_H_
#define ADSYNC_COMMON_SQL_POOL_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/sql.h"

namespace adsync {

class DatabasePool {
 public:
  using Connector = std::function<absl::StatusOr<std::unique_ptr<Database>>()>;

  // A checked-out connection, returned to the pool on destruction.
  class Handle {
   public:
    Handle(Handle&& other) noexcept;
    Handle& operator=(Handle&&) = delete;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle();

    Database* get() const { return db_.get(); }
    Database* operator->() const { return db_.get(); }

   private:
    friend class DatabasePool;
    Handle(DatabasePool* pool, std::unique_ptr<Database> db)
        : pool_(pool), db_(std::move(db)) {}
    DatabasePool* pool_;
    std::unique_ptr<Database> db_;
  };

  // REQUIRES: size >= 1.
  DatabasePool(int size, Connector connect,
               absl::Duration max_wait = absl::Seconds(30));
  ~DatabasePool();
  DatabasePool(const DatabasePool&) = delete;
  DatabasePool& operator=(const DatabasePool&) = delete;

  // A connection of the caller's own: an idle one, a new one while fewer
  // than `size` are open, or else the next one returned. Fails when opening
  // a new connection fails (the connector's error), or with Unavailable when
  // every connection stayed checked out for `max_wait`.
  absl::StatusOr<Handle> Acquire();

  // Connections currently open (idle or checked out), for tests and
  // metrics.
  int open_connections() const;

 private:
  void Release(std::unique_ptr<Database> db);

  const int size_;
  const Connector connect_;
  const absl::Duration max_wait_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Database>> idle_ ABSL_GUARDED_BY(mu_);
  // Open connections, idle or checked out, plus openings in progress.
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace adsync

#endif  // ADSYNC_COMMON_SQL_POOL_H_
