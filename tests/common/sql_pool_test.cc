#include "common/sql_pool.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

class DatabasePoolTest : public ::testing::Test {
 protected:
  DatabasePool::Connector Connector() {
    return [this]() -> absl::StatusOr<std::unique_ptr<Database>> {
      ++connects_;
      if (fail_next_.exchange(false)) {
        return absl::UnavailableError("database down; start it");
      }
      absl::StatusOr<std::unique_ptr<SqliteDatabase>> db =
          SqliteDatabase::Open(dir_.File("pool.db"));
      if (!db.ok()) return db.status();
      return std::unique_ptr<Database>(*std::move(db));
    };
  }

  testing::TempDir dir_;
  std::atomic<int> connects_{0};
  std::atomic<bool> fail_next_{false};
};

TEST_F(DatabasePoolTest, OpensConnectionsOnDemandAndReusesIdleOnes) {
  DatabasePool pool(3, Connector());
  EXPECT_EQ(pool.open_connections(), 0);
  {
    auto a = pool.Acquire();
    ASSERT_TRUE(a.ok()) << a.status();
    auto b = pool.Acquire();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_NE(a->get(), b->get());
    EXPECT_EQ(pool.open_connections(), 2);
  }
  // Both returned: the next two callers get them back, no new connection.
  auto c = pool.Acquire();
  auto d = pool.Acquire();
  ASSERT_TRUE(c.ok() && d.ok());
  EXPECT_EQ(connects_.load(), 2);
  EXPECT_EQ(pool.open_connections(), 2);
}

TEST_F(DatabasePoolTest, HoldersReadInParallelOnConnectionsOfTheirOwn) {
  {
    auto setup = SqliteDatabase::Open(dir_.File("pool.db"));
    ASSERT_TRUE(setup.ok());
    ASSERT_TRUE(
        (*setup)->Execute("CREATE TABLE t(x); INSERT INTO t VALUES(1)").ok());
  }
  DatabasePool pool(2, Connector());
  // One reader holds a statement mid-result (an open read) while a second
  // reads on another thread: it must not wait for the first.
  auto first = pool.Acquire();
  ASSERT_TRUE(first.ok());
  auto open_read = (*first)->Cached("SELECT x FROM t");
  ASSERT_TRUE(open_read.ok());
  ASSERT_TRUE(*(*open_read)->Step());
  absl::Notification read;
  std::thread other([&] {
    auto second = pool.Acquire();
    ASSERT_TRUE(second.ok());
    auto q = (*second)->Cached("SELECT count(*) FROM t");
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE(*(*q)->Step());
    EXPECT_EQ((*q)->ColumnInt(0), 1);
    read.Notify();
  });
  EXPECT_TRUE(read.WaitForNotificationWithTimeout(absl::Seconds(30)));
  other.join();
}

TEST_F(DatabasePoolTest, ACallerBeyondTheSizeWaitsForAReturnedConnection) {
  DatabasePool pool(1, Connector());
  auto held = std::make_unique<DatabasePool::Handle>(*pool.Acquire());
  Database* const only = held->get();
  absl::Notification acquired;
  Database* got = nullptr;
  std::thread waiter([&] {
    auto h = pool.Acquire();
    ASSERT_TRUE(h.ok());
    got = h->get();
    acquired.Notify();
  });
  // Still waiting while the only connection is checked out.
  EXPECT_FALSE(
      acquired.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  held.reset();
  EXPECT_TRUE(acquired.WaitForNotificationWithTimeout(absl::Seconds(30)));
  waiter.join();
  EXPECT_EQ(got, only);
  EXPECT_EQ(connects_.load(), 1);
}

TEST_F(DatabasePoolTest, ACallerGivesUpWhenEveryConnectionStaysBusy) {
  DatabasePool pool(1, Connector(), absl::Milliseconds(50));
  auto held = pool.Acquire();
  ASSERT_TRUE(held.ok());
  auto refused = pool.Acquire();
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsUnavailable(refused.status()));
  EXPECT_NE(refused.status().message().find("raise read_connections"),
            absl::string_view::npos)
      << refused.status();
}

TEST_F(DatabasePoolTest, AFailedOpeningIsReturnedAndFreesItsSlot) {
  DatabasePool pool(1, Connector());
  fail_next_ = true;
  auto failed = pool.Acquire();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(absl::IsUnavailable(failed.status()));
  EXPECT_EQ(pool.open_connections(), 0);
  // The slot is free again: the next caller opens a connection (and would
  // wait forever if the failure had kept the slot).
  auto next = pool.Acquire();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(connects_.load(), 2);
}

TEST_F(DatabasePoolTest, ManyThreadsNeverShareAConnection) {
  // The database exists, in WAL mode, before readers open it, as the
  // store's writer makes it: two connections switching a new file to WAL at
  // once may be refused (SQLITE_BUSY without waiting), which under load
  // failed this test in one run of a dozen.
  ASSERT_TRUE(SqliteDatabase::Open(dir_.File("pool.db")).ok());
  DatabasePool pool(2, Connector());
  std::atomic<int> in_use{0};
  std::atomic<int> max_in_use{0};
  std::atomic<bool> shared{false};
  std::mutex seen_mu;
  std::set<Database*> busy;
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto h = pool.Acquire();
        ASSERT_TRUE(h.ok()) << h.status();
        {
          std::lock_guard<std::mutex> l(seen_mu);
          if (!busy.insert(h->get()).second) shared = true;
        }
        int now = ++in_use;
        int prev = max_in_use.load();
        while (now > prev && !max_in_use.compare_exchange_weak(prev, now)) {
        }
        --in_use;
        std::lock_guard<std::mutex> l(seen_mu);
        busy.erase(h->get());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(shared.load());
  EXPECT_LE(max_in_use.load(), 2);
  EXPECT_LE(connects_.load(), 2);
}

}  // namespace
}  // namespace adsync
