#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/postgres.h"
#include "common/sqlite.h"
#include "coordinator/fencing.h"
#include "coordinator/postgres/postgres_store.h"
#include "coordinator/sqlite/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_databases.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

using testing::DeltaSpec;
using testing::Engine;
using ::testing::HasSubstr;
using testing::MakeDelta;
using testing::TempDir;

// Every test of the store runs on both engines (StoreTest); what only one
// engine has (SQLite's file lock, PostgreSQL's several coordinators) is
// tested on that one (SqliteStoreTest, PostgresStoreTest).
class StoreFixture : public ::testing::Test {
 protected:
  virtual Engine engine() const = 0;

  void SetUp() override {
    if (engine() == Engine::kPostgres) {
      auto conninfo = testing::FreshPostgresDatabase();
      ASSERT_TRUE(conninfo.ok()) << conninfo.status();
      conninfo_ = *conninfo;
    }
    OpenWithOrgAndSync();
  }

  // Opens the store and gives it the org and sync_a_ every test starts with.
  void OpenWithOrgAndSync() {
    store_ = Open();
    ASSERT_NE(store_, nullptr);
    adsync::v1::CreateOrgRequest org;
    org.set_name("Springfield USD");
    org.set_live(true);  // pushing (preview has its own tests)
    org_id_ = store_->CreateOrg(org)->org_id();
    sync_a_ = AddSync("DISTRICT", "127.0.0.21");
  }

  // Opens this test's database; with `options` its settings (engine
  // fields are filled in).
  absl::StatusOr<std::unique_ptr<SqlStore>> TryOpen(
      const StoreOptions& options) {
    if (engine() == Engine::kPostgres) {
      PostgresStoreOptions postgres;
      static_cast<StoreOptions&>(postgres) = options;
      postgres.conninfo = conninfo_;
      return OpenPostgresStore(postgres);
    }
    SqliteStoreOptions sqlite;
    static_cast<StoreOptions&>(sqlite) = options;
    sqlite.path = dir_.File("coordinator.db");
    return OpenSqliteStore(sqlite);
  }

  std::unique_ptr<SqlStore> Open(bool crash = false) {
    StoreOptions options;
    options.rejections_kept = 5;
    options.crash_before_commit_for_testing = crash;
    auto store = TryOpen(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // A connection of its own to the test's database, for what the store's
  // interface does not show.
  std::unique_ptr<Database> Raw() {
    if (engine() == Engine::kPostgres) {
      auto db = PostgresDatabase::Open(conninfo_);
      EXPECT_TRUE(db.ok()) << db.status();
      return db.ok() ? *std::move(db) : nullptr;
    }
    auto db = SqliteDatabase::Open(dir_.File("coordinator.db"));
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? *std::move(db) : nullptr;
  }

  SyncRecord AddSync(const std::string& domain, const std::string& ip,
                     std::string* key_out = nullptr) {
    adsync::v1::AddSyncRequest req;
    req.set_org_id(org_id_);
    req.set_domain(domain);
    req.add_allowed_ips(ip);
    auto added = store_->AddSync(req);
    EXPECT_TRUE(added.ok()) << added.status();
    if (key_out) *key_out = added->sync_key();
    return *store_->Authenticate(org_id_, added->sync_key());
  }

  BatchOutcome Apply(const SyncRecord& sync, std::vector<DeltaSpec> specs,
                     bool begin = false, bool end = false,
                     const SeenAccounts* seen = nullptr) {
    adsync::v1::Batch batch;
    batch.set_lease_epoch(TakeLease(sync));
    batch.set_sequence(++sequence_);
    batch.set_full_sync_begin(begin);
    batch.set_full_sync_end(end);
    for (const auto& s : specs) *batch.add_deltas() = MakeDelta(s);
    auto outcome = store_->PrepareAndApply(sync, batch, seen);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? *outcome : BatchOutcome{};
  }

  // Makes `sync` its domain's primary (taking over any lease) and returns
  // the epoch its batches must carry.
  uint64_t TakeLease(const SyncRecord& sync) {
    // Each takeover happens two hours after the last, so any earlier
    // one-hour lease has lapsed.
    lease_clock_ms_ += 2 * 3600'000;
    auto grant = store_->AcquireLease(sync, lease_clock_ms_, 3600'000, "test",
                                      /*last_sequence=*/sequence_);
    EXPECT_TRUE(grant.ok() && grant->primary);
    return grant->epoch;
  }

  void ImportPeople(std::vector<Person> people) {
    ASSERT_TRUE(store_->ReplacePeople(org_id_, people).ok());
  }

  adsync::v1::ResolveLoginResponse Resolve(const std::string& login) {
    auto r = store_->ResolveLogin(org_id_, login);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : adsync::v1::ResolveLoginResponse{};
  }

  adsync::v1::Counts Counts() {
    return store_->GetStatus(org_id_)->orgs(0).counts();
  }

  TempDir dir_;
  std::string conninfo_;  // PostgreSQL: this test's database
  std::unique_ptr<SqlStore> store_;
  std::string org_id_;
  SyncRecord sync_a_;
  uint64_t sequence_ = 0;
  int64_t lease_clock_ms_ = absl::ToUnixMillis(absl::Now());
};

class StoreTest : public StoreFixture,
                  public ::testing::WithParamInterface<Engine> {
 protected:
  Engine engine() const override { return GetParam(); }
};

class SqliteStoreTest : public StoreFixture {
 protected:
  Engine engine() const override { return Engine::kSqlite; }
};

class PostgresStoreTest : public StoreFixture {
 protected:
  Engine engine() const override { return Engine::kPostgres; }
};

TEST_P(StoreTest, MigratesOnceAndRefusesNewerSchema) {
  EXPECT_EQ(*store_->SchemaVersion(), store_->CurrentSchemaVersion());
  store_.reset();
  store_ = Open();  // reopening keeps the data and the version
  EXPECT_EQ(store_->ListOrgs()->size(), 1u);
  store_.reset();
  {
    std::unique_ptr<Database> db = Raw();
    ASSERT_TRUE(db->Execute("UPDATE schema_version SET version=99").ok());
  }
  auto refused = TryOpen(StoreOptions{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("schema version 99"));
}

TEST_P(StoreTest, BadAdminInputIsRejectedAndChangesNothing) {
  adsync::v1::AddSyncRequest req;
  req.set_org_id(org_id_);
  req.set_domain("district.org");
  req.add_allowed_ips("127.0.0.21");
  auto dotted = store_->AddSync(req);
  EXPECT_THAT(std::string(dotted.status().message()),
              HasSubstr("(\"district\" for district.org)"));
  req.set_domain("DISTRICT");
  req.set_allowed_ips(0, "127.0.0.999");
  EXPECT_EQ(store_->AddSync(req).status().code(),
            absl::StatusCode::kInvalidArgument);
  req.clear_allowed_ips();
  EXPECT_THAT(std::string(store_->AddSync(req).status().message()),
              HasSubstr("allowed IP"));
  req.add_allowed_ips("127.0.0.21");
  req.set_org_id("5e1c3d4a-0000-4000-8000-0000000000ff");
  EXPECT_EQ(store_->AddSync(req).status().code(), absl::StatusCode::kNotFound);
  req.set_org_id("not-a-guid");
  EXPECT_EQ(store_->AddSync(req).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListSyncs(org_id_)->size(), 1u);

  adsync::v1::CreateOrgRequest org;
  EXPECT_EQ(store_->CreateOrg(org).status().code(),
            absl::StatusCode::kInvalidArgument);
  org.set_name("Again");
  org.set_org_id(org_id_);
  EXPECT_EQ(store_->CreateOrg(org).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->ListOrgs()->size(), 1u);
}

TEST_P(StoreTest, AuthenticatesByKeyAndRotates) {
  std::string key;
  SyncRecord b = AddSync("DISTRICT", "127.0.0.22", &key);
  EXPECT_EQ(store_->Authenticate(org_id_, key)->sync_id, b.sync_id);
  EXPECT_EQ(store_->Authenticate(org_id_, "  " + key + "\n")->sync_id,
            b.sync_id);
  auto wrong =
      store_->Authenticate(org_id_, "5e1c3d4a-0000-4000-8000-000000000001");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  // An unknown org gets the wrong key's answer, word for word.
  auto unknown_org =
      store_->Authenticate("5e1c3d4a-0000-4000-8000-0000000000ff", key);
  EXPECT_EQ(unknown_org.status(), wrong.status());
  auto rotated = store_->RotateSyncKey(org_id_, b.sync_id);
  ASSERT_TRUE(rotated.ok());
  EXPECT_FALSE(store_->Authenticate(org_id_, key).ok());
  EXPECT_TRUE(store_->Authenticate(org_id_, rotated->sync_key()).ok());
  ASSERT_TRUE(store_->RemoveSync(org_id_, b.sync_id).ok());
  EXPECT_FALSE(store_->Authenticate(org_id_, rotated->sync_key()).ok());
}

TEST_P(StoreTest, SameAccountFromTwoControllersIsStoredOnce) {
  SyncRecord b = AddSync("DISTRICT", "127.0.0.22");
  ImportPeople({{"p-jane", "Jane Doe", {"jane@d.org"}}});
  EXPECT_EQ(Apply(sync_a_, {{.guid = 1, .sam = "jdoe", .mail = "Jane@D.org"}})
                .applied,
            1u);
  BatchOutcome again =
      Apply(b, {{.guid = 1, .sam = "jdoe", .mail = "Jane@D.org"}});
  EXPECT_EQ(again.applied, 0u);
  EXPECT_EQ(again.unchanged, 1u);
  EXPECT_EQ(Counts().profiles(), 1u);
  EXPECT_EQ(Counts().matched(), 1u);
  auto r = Resolve("district\\JDOE");
  EXPECT_TRUE(r.found());
  EXPECT_EQ(r.person_id(), "p-jane");
  EXPECT_THAT(r.explanation(),
              HasSubstr("jane@d.org is an email of that Person"));
}

TEST_P(StoreTest, KnownAccountsSurviveARestartAndManyNewOnes) {
  Apply(sync_a_, {{.guid = 1, .sam = "jane.doe", .version = 2}});
  // After a restart the store must still know account 1 (its filter of
  // known accounts is rebuilt from the table): an older version re-sent by
  // a lagging DC must not overwrite the newer one.
  store_.reset();
  store_ = Open();
  BatchOutcome stale = Apply(sync_a_, {{.guid = 1, .sam = "jdoe"}});
  EXPECT_EQ(stale.unchanged, 1u);
  EXPECT_TRUE(Resolve("DISTRICT\\jane.doe").found());
  EXPECT_FALSE(Resolve("DISTRICT\\jdoe").found());
  // Past the filter's first size (it grows by rebuilding): still exact.
  std::vector<DeltaSpec> many;
  for (uint32_t i = 2; i < 6000; ++i)
    many.push_back({.guid = i, .sam = absl::StrCat("u", i)});
  for (size_t first = 0; first < many.size(); first += 1000) {
    Apply(sync_a_, std::vector<DeltaSpec>(
                       many.begin() + first,
                       many.begin() + std::min(many.size(), first + 1000)));
  }
  EXPECT_EQ(Apply(sync_a_, {{.guid = 1, .sam = "jdoe"}}).unchanged, 1u);
  EXPECT_EQ(Apply(sync_a_, {{.guid = 5999, .sam = "u5999"}}).unchanged, 1u);
  EXPECT_EQ(Counts().profiles(), 5999u);
}

TEST_P(StoreTest, RenamesUpdateTheSameProfile) {
  ImportPeople(
      {{"p-jane", "Jane", {"jane@d.org"}}, {"p-jd", "JD", {"jd@d.org"}}});
  Apply(
      sync_a_,
      {{.guid = 1, .sam = "jdoe", .upn = "jdoe@d.test", .mail = "jane@d.org"}});
  Apply(sync_a_, {{.guid = 1,
                   .sam = "jane.doe",
                   .upn = "jane.doe@d.test",
                   .mail = "jd@d.org",
                   .version = 2}});
  EXPECT_EQ(Counts().profiles(), 1u);
  EXPECT_FALSE(Resolve("DISTRICT\\jdoe").found());
  EXPECT_EQ(Resolve("DISTRICT\\jane.doe").person_id(), "p-jd");
  EXPECT_EQ(Resolve("jane.doe@d.test").person_id(), "p-jd");
  EXPECT_EQ(Resolve("S-1-5-21-1-2-3-1001").person_id(), "p-jd");
}

TEST_P(StoreTest, DeletedLosesIdentityDisabledStaysFlagged) {
  ImportPeople({{"p-1", "One", {"one@d.org"}}, {"p-2", "Two", {"two@d.org"}}});
  Apply(sync_a_,
        {{.guid = 1, .sam = "one", .mail = "one@d.org"},
         {.guid = 2, .sam = "two", .mail = "two@d.org", .uac = 0x202}});
  Apply(sync_a_, {{.guid = 1, .sam = "one", .deleted = true, .version = 2}});
  auto deleted = Resolve("DISTRICT\\one");
  EXPECT_EQ(deleted.account().outcome(), "removed");
  EXPECT_EQ(deleted.person_id(), "");
  EXPECT_THAT(deleted.explanation(), HasSubstr("was deleted in AD"));
  auto disabled = Resolve("DISTRICT\\two");
  EXPECT_EQ(disabled.person_id(), "p-2");
  EXPECT_FALSE(disabled.account().enabled());
  EXPECT_THAT(disabled.explanation(), HasSubstr("disabled"));
  adsync::v1::Counts c = Counts();
  EXPECT_EQ(c.profiles(), 1u);
  EXPECT_EQ(c.deleted(), 1u);
  EXPECT_EQ(c.disabled(), 1u);
}

TEST_P(StoreTest, PersonHoldsIdentitiesFromSeveralDomains) {
  SyncRecord staff = AddSync("STAFF", "127.0.0.31");
  ImportPeople({{"p-jane", "Jane", {"jane@d.org", "jane@staff.d.org"}}});
  Apply(sync_a_, {{.guid = 1, .sam = "jdoe", .mail = "jane@d.org"}});
  Apply(staff, {{.guid = 2, .sam = "jane", .mail = "JANE@staff.d.org"}});
  EXPECT_EQ(Resolve("DISTRICT\\jdoe").person_id(), "p-jane");
  EXPECT_EQ(Resolve("STAFF\\jane").person_id(), "p-jane");
  EXPECT_FALSE(Resolve("STAFF\\jdoe").found());
  auto status = store_->GetStatus(org_id_);
  ASSERT_EQ(status->orgs(0).domains_size(), 2);
}

TEST_P(StoreTest, AmbiguousAndUnmatchedExplainThemselves) {
  ImportPeople(
      {{"p-a", "A", {"shared@d.org"}}, {"p-b", "B", {"shared@d.org"}}});
  Apply(sync_a_, {{.guid = 1, .sam = "shared", .mail = "shared@d.org"},
                  {.guid = 2, .sam = "stranger", .mail = "x@d.org"},
                  {.guid = 3, .sam = "nomail"}});
  auto amb = Resolve("DISTRICT\\shared");
  EXPECT_EQ(amb.account().outcome(), "ambiguous");
  EXPECT_THAT(amb.explanation(), HasSubstr("several People (p-a, p-b)"));
  EXPECT_THAT(Resolve("DISTRICT\\stranger").explanation(),
              HasSubstr("no Person has any of its emails (x@d.org)"));
  EXPECT_THAT(Resolve("DISTRICT\\nomail").explanation(),
              HasSubstr("has no mail"));
  EXPECT_THAT(Resolve("DISTRICT\\ghost").explanation(),
              HasSubstr("no account with login"));
  EXPECT_EQ(store_->ResolveLogin(org_id_, "justaname").status().code(),
            absl::StatusCode::kInvalidArgument);
  adsync::v1::ListAccountsRequest list;
  list.set_org_id(org_id_);
  list.add_outcomes("ambiguous");
  list.add_outcomes("no-email");
  EXPECT_EQ(store_->ListAccounts(list)->accounts_size(), 2);
  list.add_outcomes("bogus");
  EXPECT_FALSE(store_->ListAccounts(list).ok());
}

TEST_P(StoreTest, ImportingPeopleRematches) {
  Apply(sync_a_, {{.guid = 1, .sam = "jdoe", .mail = "jane@d.org"}});
  EXPECT_EQ(Counts().unmatched(), 1u);
  auto imported =
      store_->ReplacePeople(org_id_, {{"p-jane", "Jane", {"jane@d.org"}}});
  EXPECT_EQ(imported->rematched_accounts(), 1u);
  EXPECT_EQ(Counts().matched(), 1u);
  // The replacement is the whole set: Jane leaves, the account is unmatched.
  ImportPeople({{"p-other", "Other", {"other@d.org"}}});
  EXPECT_EQ(Counts().unmatched(), 1u);
}

TEST_P(StoreTest, CompletedFullSyncRemovesAccountsItDidNotSee) {
  SyncRecord staff = AddSync("STAFF", "127.0.0.31");
  Apply(sync_a_, {{.guid = 1, .sam = "a"},
                  {.guid = 2, .sam = "b"},
                  {.guid = 3, .sam = "c"}});
  Apply(staff, {{.guid = 9, .sam = "s"}});
  SeenAccounts seen = {testing::TestGuid(1), testing::TestGuid(3)};
  Apply(sync_a_, {{.guid = 1, .sam = "a"}}, /*begin=*/true);
  BatchOutcome end =
      Apply(sync_a_, {{.guid = 3, .sam = "c"}}, false, /*end=*/true, &seen);
  EXPECT_EQ(end.removed, 1u);
  EXPECT_EQ(Resolve("DISTRICT\\b").account().outcome(), "removed");
  EXPECT_THAT(Resolve("DISTRICT\\b").explanation(),
              HasSubstr("missing from the last full sync"));
  EXPECT_NE(Resolve("STAFF\\s").account().outcome(),
            "removed");  // other domain untouched
  // Reported again later: it comes back.
  Apply(sync_a_, {{.guid = 2, .sam = "b"}});
  EXPECT_NE(Resolve("DISTRICT\\b").account().outcome(), "removed");
}

TEST_P(StoreTest, WatermarkCommitsWithBatchAndFullSyncClearsIt) {
  adsync::v1::Batch batch;
  batch.set_sequence(1);
  batch.set_lease_epoch(TakeLease(sync_a_));
  *batch.add_deltas() = MakeDelta({.guid = 1, .sam = "a"});
  batch.mutable_watermark()->set_invocation_id(testing::TestGuid(77));
  batch.mutable_watermark()->set_usn(4242);
  ASSERT_TRUE(store_->PrepareAndApply(sync_a_, batch, nullptr).ok());
  WatermarkState w = *store_->GetWatermark(sync_a_.sync_id);
  EXPECT_TRUE(w.has_watermark);
  EXPECT_EQ(w.usn, 4242);
  EXPECT_EQ(w.invocation_id, testing::TestGuid(77));
  Apply(sync_a_, {}, /*begin=*/true);
  w = *store_->GetWatermark(sync_a_.sync_id);
  EXPECT_FALSE(w.has_watermark);
  EXPECT_TRUE(w.full_sync_in_progress);
}

TEST_P(StoreTest, InvalidDeltaRejectsWholeBatch) {
  adsync::v1::Batch batch;
  batch.set_sequence(1);
  batch.set_lease_epoch(TakeLease(sync_a_));
  *batch.add_deltas() = MakeDelta({.guid = 1, .sam = "good"});
  auto bad_sid = MakeDelta({.guid = 2, .sam = "badsid"});
  bad_sid.set_object_sid("\x01\x05garbage");
  *batch.add_deltas() = bad_sid;
  auto result = store_->PrepareAndApply(sync_a_, batch, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("delta 1"));
  EXPECT_FALSE(IsFenced(result.status()));  // refused, but not by fencing
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("objectSid"));
  batch.mutable_deltas(1)->set_object_sid(testing::TestSid(5));
  batch.mutable_deltas(1)->set_object_guid("short");
  EXPECT_THAT(
      std::string(
          store_->PrepareAndApply(sync_a_, batch, nullptr).status().message()),
      HasSubstr("objectGUID must be 16 bytes, got 5"));
  batch.mutable_deltas(1)->set_object_guid(testing::TestGuid(2));
  batch.mutable_deltas(1)->set_mail("bad\xff");
  EXPECT_THAT(
      std::string(
          store_->PrepareAndApply(sync_a_, batch, nullptr).status().message()),
      HasSubstr("mail is not valid UTF-8"));
  batch.mutable_deltas(1)->set_mail("");
  batch.mutable_deltas(1)->clear_stamps();
  EXPECT_THAT(
      std::string(
          store_->PrepareAndApply(sync_a_, batch, nullptr).status().message()),
      HasSubstr("replication metadata"));
  EXPECT_EQ(Counts().profiles(), 0u);  // nothing from the good delta either
}

TEST_P(StoreTest, KeepsRecentRejectionsPerOrg) {
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(store_
                    ->RecordRejection(org_id_, "", "127.0.0.23",
                                      "reason " + std::to_string(i))
                    .ok());
  }
  auto status = store_->GetStatus(org_id_);
  const auto& rejections = status->orgs(0).recent_rejections();
  ASSERT_EQ(rejections.size(), 5);
  EXPECT_EQ(rejections[0].reason(), "reason 7");
  EXPECT_EQ(rejections[0].source_ip(), "127.0.0.23");
}

TEST_F(SqliteStoreTest, OneStorePerDatabaseFile) {
  SqliteStoreOptions options;
  options.path = dir_.File("coordinator.db");
  auto second = OpenSqliteStore(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("in use by another coordinator"));
  store_.reset();  // released with the store
  EXPECT_TRUE(OpenSqliteStore(options).ok());
}

TEST_F(SqliteStoreTest, ALockedDatabaseFailsTheBatchClearlyAndChangesNothing) {
  store_.reset();
  SqliteStoreOptions options;
  options.path = dir_.File("coordinator.db");
  options.busy_timeout_ms = 100;
  store_ = *OpenSqliteStore(options);
  adsync::v1::Batch batch;
  batch.set_sequence(1);
  batch.set_lease_epoch(TakeLease(sync_a_));
  *batch.add_deltas() = MakeDelta({.guid = 1, .sam = "jdoe"});
  // Another process (here: another connection) holds the write lock, as a
  // backup tool or a stray sqlite3 shell might.
  auto other = SqliteDatabase::Open(options.path);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Execute("BEGIN EXCLUSIVE").ok());
  auto locked = store_->PrepareAndApply(sync_a_, batch, nullptr);
  ASSERT_FALSE(locked.ok());
  EXPECT_EQ(locked.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(locked.status().message()),
              HasSubstr("another process holds the database lock"));
  ASSERT_TRUE((*other)->Execute("ROLLBACK").ok());
  EXPECT_FALSE(Resolve("DISTRICT\\jdoe").found());
  // Once the lock is gone the same batch goes through.
  EXPECT_TRUE(store_->PrepareAndApply(sync_a_, batch, nullptr).ok());
  EXPECT_TRUE(Resolve("DISTRICT\\jdoe").found());
}

TEST_P(StoreTest, CrashBeforeCommitLosesOnlyTheUncommittedBatch) {
  Apply(sync_a_, {{.guid = 1, .sam = "committed"}});
  store_.reset();  // one store per database file: the child opens it
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::unique_ptr<SqlStore> crashing = Open(/*crash=*/true);
    adsync::v1::Batch batch;
    batch.set_sequence(2);
    batch.set_lease_epoch(1);  // sync_a_ took epoch 1 in Apply() above
    *batch.add_deltas() = MakeDelta({.guid = 2, .sam = "lost"});
    crashing->PrepareAndApply(sync_a_, batch, nullptr).IgnoreError();
    _exit(0);  // not reached: the hook exits with 42 before COMMIT
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 42);
  store_ = Open();
  EXPECT_TRUE(Resolve("DISTRICT\\committed").found());
  EXPECT_FALSE(Resolve("DISTRICT\\lost").found());
  EXPECT_EQ(Counts().profiles(), 1u);
}

class OutboxTest : public StoreTest {
 protected:
  std::map<std::string, uint32_t> Queued() {
    auto batch = store_->NextPushBatch(org_id_, 100);
    EXPECT_TRUE(batch.ok());
    std::map<std::string, uint32_t> out;
    for (const auto& u : batch->updates) out[u.person_id()] = u.version();
    return out;
  }
  void Deliver() {
    ASSERT_TRUE(
        store_->CompletePush(*store_->NextPushBatch(org_id_, 100)).ok());
  }
};

TEST_P(OutboxTest, QueuesPeopleWhoseIdentitiesChangeAndOnlyThem) {
  ImportPeople({{"p-1", "One", {"one@d.org"}}, {"p-2", "Two", {"two@d.org"}}});
  EXPECT_TRUE(Queued().empty());
  Apply(sync_a_, {{.guid = 1, .sam = "one", .mail = "one@d.org"}});
  EXPECT_EQ(Queued(), (std::map<std::string, uint32_t>{{"p-1", 1}}));
  Deliver();
  EXPECT_TRUE(Queued().empty());
  // An unchanged re-send (a full sync, a failover) queues nothing.
  Apply(sync_a_, {{.guid = 1, .sam = "one", .mail = "one@d.org"}});
  EXPECT_TRUE(Queued().empty());
  // A rename changes what K12Panel holds: version 2.
  Apply(sync_a_,
        {{.guid = 1, .sam = "one.x", .mail = "one@d.org", .version = 2}});
  EXPECT_EQ(Queued(), (std::map<std::string, uint32_t>{{"p-1", 2}}));
  Deliver();
  // The account moves to another Person: both sets change.
  Apply(sync_a_,
        {{.guid = 1, .sam = "one.x", .mail = "two@d.org", .version = 3}});
  EXPECT_EQ(Queued(),
            (std::map<std::string, uint32_t>{{"p-1", 3}, {"p-2", 1}}));
  auto batch = store_->NextPushBatch(org_id_, 100);
  for (const auto& u : batch->updates) {
    EXPECT_EQ(u.identities_size(), u.person_id() == "p-2" ? 1 : 0)
        << u.person_id();
  }
  // A change landing while a batch is in flight survives its completion.
  Apply(sync_a_,
        {{.guid = 1, .sam = "two.y", .mail = "two@d.org", .version = 4}});
  ASSERT_TRUE(store_->CompletePush(*batch).ok());
  EXPECT_EQ(Queued(), (std::map<std::string, uint32_t>{{"p-2", 2}}));
}

TEST_P(StoreTest, ABatchRenewsItsWritersLeaseInItsOwnTransaction) {
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto lease = store_->AcquireLease(sync_a_, now, 6000, "first", 0);
  ASSERT_TRUE(lease->primary);
  adsync::v1::Batch batch;
  batch.set_sequence(1);
  batch.set_lease_epoch(lease->epoch);
  *batch.add_deltas() = MakeDelta({.guid = 1, .sam = "jdoe"});
  auto prepared = PrepareBatch(&batch, BatchLimits{});
  ASSERT_TRUE(prepared.ok());
  ASSERT_TRUE(
      store_->ApplyBatch(sync_a_, *std::move(prepared), nullptr, now + 60000)
          .ok());
  // Without the renewal the lease would have lapsed at now + 6 s.
  auto later = store_->GetLease(org_id_, "DISTRICT", now + 30000);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->holder_sync_id, sync_a_.sync_id);
}

TEST_P(StoreTest, OnlyTheLeaseHolderAtItsEpochMayWrite) {
  SyncRecord b = AddSync("DISTRICT", "127.0.0.22");
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto a_lease = store_->AcquireLease(sync_a_, now, 6000, "first", 0);
  ASSERT_TRUE(a_lease->primary);
  auto b_lease = store_->AcquireLease(b, now, 6000, "second", 0);
  EXPECT_FALSE(b_lease->primary);  // a standby while A's lease lives
  EXPECT_EQ(b_lease->holder_sync_id, sync_a_.sync_id);
  // A's lease lapses; B takes over at a higher epoch.
  auto takeover = store_->AcquireLease(b, now + 7000, 6000, "A went quiet", 0);
  ASSERT_TRUE(takeover->primary);
  EXPECT_EQ(takeover->epoch, a_lease->epoch + 1);
  EXPECT_FALSE(*store_->RenewLease(sync_a_, a_lease->epoch, now + 7000, 6000));
  // A zombie A writing at its old epoch is fenced; nothing changes.
  adsync::v1::Batch zombie;
  zombie.set_sequence(1);
  zombie.set_lease_epoch(a_lease->epoch);
  *zombie.add_deltas() = MakeDelta({.guid = 1, .sam = "zombie"});
  auto fenced = store_->PrepareAndApply(sync_a_, zombie, nullptr);
  ASSERT_FALSE(fenced.ok());
  EXPECT_EQ(fenced.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(fenced.status().message()), HasSubstr("fenced"));
  EXPECT_TRUE(IsFenced(fenced.status()));
  EXPECT_FALSE(Resolve("DISTRICT\\zombie").found());
  zombie.set_lease_epoch(takeover->epoch);  // right epoch, wrong holder
  EXPECT_FALSE(store_->PrepareAndApply(sync_a_, zombie, nullptr).ok());
  auto status = store_->GetStatus(org_id_);
  ASSERT_TRUE(status.ok());
}

// Audit finding 1, in the store: under one lease epoch, batch N+1 commits
// only after batch N did; a gap is refused and changes nothing.
TEST_P(StoreTest, ABatchThatDoesNotFollowTheLastCommittedIsRefused) {
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto lease = store_->AcquireLease(sync_a_, now, 60000, "first", 0);
  ASSERT_TRUE(lease.ok() && lease->primary);
  auto batch = [&](uint64_t seq, const std::string& sam) {
    adsync::v1::Batch b;
    b.set_sequence(seq);
    b.set_lease_epoch(lease->epoch);
    *b.add_deltas() =
        MakeDelta({.guid = static_cast<uint32_t>(seq), .sam = sam});
    return b;
  };
  ASSERT_TRUE(store_->PrepareAndApply(sync_a_, batch(1, "one"), nullptr).ok());
  auto gap = store_->PrepareAndApply(sync_a_, batch(3, "three"), nullptr);
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(gap.status().message()),
              HasSubstr("batch 3 does not follow batch 1"));
  EXPECT_TRUE(IsFenced(gap.status()));
  EXPECT_FALSE(Resolve("DISTRICT\\three").found());
  auto again = store_->PrepareAndApply(sync_a_, batch(1, "one"), nullptr);
  EXPECT_FALSE(again.ok());  // a replay is no "next" either
  EXPECT_TRUE(store_->PrepareAndApply(sync_a_, batch(2, "two"), nullptr).ok());
  EXPECT_TRUE(Resolve("DISTRICT\\two").found());
  // A promotion in the middle of a stream names where the stream stands.
  auto next = store_->AcquireLease(sync_a_, now, 60000, "again", 41);
  ASSERT_TRUE(next.ok() && next->primary);
  EXPECT_GT(next->epoch, lease->epoch);
  lease = next;
  EXPECT_FALSE(store_->PrepareAndApply(sync_a_, batch(3, "x"), nullptr).ok());
  EXPECT_TRUE(store_->PrepareAndApply(sync_a_, batch(42, "y"), nullptr).ok());
}

// Audit finding 2, in the store: once a sync is removed or its key rotated,
// the record it authenticated with can neither write, renew nor acquire.
TEST_P(StoreTest, ARemovedOrReKeyedSyncCannotWrite) {
  std::string key;
  SyncRecord b = AddSync("STAFF", "127.0.0.22", &key);
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto lease = store_->AcquireLease(b, now, 60000, "first", 0);
  ASSERT_TRUE(lease.ok() && lease->primary);
  ASSERT_TRUE(store_->RotateSyncKey(org_id_, b.sync_id).ok());
  adsync::v1::Batch batch;
  batch.set_sequence(1);
  batch.set_lease_epoch(lease->epoch);
  *batch.add_deltas() = MakeDelta({.guid = 5, .sam = "stale"});
  auto write = store_->PrepareAndApply(b, batch, nullptr);
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(write.status().message()), HasSubstr("was rotated"));
  EXPECT_FALSE(store_->RenewLease(b, lease->epoch, now, 60000).ok());
  EXPECT_FALSE(store_->AcquireLease(b, now, 60000, "again", 0).ok());
  // Its lease lapsed at the rotation: the domain is free for a standby.
  EXPECT_TRUE(store_->GetLease(org_id_, "STAFF", now)->holder_sync_id.empty());
  EXPECT_FALSE(Resolve("STAFF\\stale").found());

  SyncRecord c = AddSync("STAFF", "127.0.0.22");
  ASSERT_TRUE(store_->AcquireLease(c, now, 60000, "c", 0)->primary);
  ASSERT_TRUE(store_->RemoveSync(org_id_, c.sync_id).ok());
  auto removed = store_->RenewLease(c, 2, now, 60000);
  ASSERT_FALSE(removed.ok());
  EXPECT_THAT(std::string(removed.status().message()),
              HasSubstr("was removed"));
  EXPECT_TRUE(store_->GetLease(org_id_, "STAFF", now)->holder_sync_id.empty());
}

// Audit finding 4: rejections keep no raw input and are bounded in total,
// not only per claimed org (random Org IDs each start a list of their own).
TEST_P(StoreTest, RejectionsAreBoundedInTotalAndKeepNoRawInput) {
  store_.reset();
  StoreOptions options;
  options.rejections_kept_total = 20;
  store_ = *TryOpen(options);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(store_
                    ->RecordRejection(
                        absl::StrFormat("5e1c3d4a-0000-4000-8000-%012d", i), "",
                        "127.0.0.9", "bad credentials")
                    .ok());
  }
  ASSERT_TRUE(store_
                  ->RecordRejection(std::string(1 << 20, 'x'), "", "127.0.0.9",
                                    "bad credentials")
                  .ok());
  store_.reset();
  std::unique_ptr<Database> db = Raw();
  auto q = db->Cached("SELECT count(*), max(length(org_id)) FROM rejections");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*(*q)->Step());
  EXPECT_LE((*q)->ColumnInt(0), 21);
  EXPECT_LE((*q)->ColumnInt(1), 36);  // a canonical GUID, or nothing
}

class SweepHoldTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    std::vector<DeltaSpec> accounts;
    for (uint32_t i = 1; i <= 30; ++i) {
      accounts.push_back({.guid = i, .sam = absl::StrCat("u", i)});
    }
    Apply(sync_a_, accounts);
  }

  // A full sync of DISTRICT that reports `seen_guids` (and
  // `skipped_entries` unreadable entries).
  BatchOutcome FullSync(std::vector<uint32_t> seen_guids,
                        uint32_t skipped_entries = 0) {
    SeenAccounts seen;
    for (uint32_t g : seen_guids) seen.insert(testing::TestGuid(g));
    adsync::v1::Batch batch;
    batch.set_lease_epoch(TakeLease(sync_a_));
    batch.set_sequence(++sequence_);
    batch.set_full_sync_begin(true);
    batch.set_full_sync_end(true);
    batch.set_skipped_entries(skipped_entries);
    auto outcome = store_->PrepareAndApply(sync_a_, batch, &seen);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? *outcome : BatchOutcome{};
  }

  adsync::v1::HeldSweep Held() {
    const adsync::v1::OrgStatus status = store_->GetStatus(org_id_)->orgs(0);
    for (const auto& d : status.domains()) {
      if (d.domain() == "DISTRICT") return d.held_sweep();
    }
    return {};
  }

  int Active() {
    int active = 0;
    for (uint32_t i = 1; i <= 30; ++i) {
      if (Resolve(absl::StrCat("DISTRICT\\u", i)).account().outcome() !=
          "removed") {
        ++active;
      }
    }
    return active;
  }
};

// Audit finding 5: a full sync that saw nothing removes nothing; the sweep
// waits in the store, visible in status, until an operator approves it.
TEST_P(SweepHoldTest, AFullSyncThatSawNothingIsHeldUntilApproved) {
  EXPECT_EQ(FullSync({}).removed, 0u);
  EXPECT_EQ(Active(), 30);
  adsync::v1::HeldSweep held = Held();
  EXPECT_EQ(held.would_remove(), 30u);
  EXPECT_EQ(held.seen(), 0u);
  EXPECT_EQ(held.sync_id(), sync_a_.sync_id);
  EXPECT_THAT(held.reason(), HasSubstr("reported no accounts at all"));
  EXPECT_THAT(held.reason(), HasSubstr("adsyncctl sweep approve"));
  auto removed = store_->ResolveSweep(org_id_, "district", /*approve=*/true);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 30u);
  EXPECT_EQ(Active(), 0);
  EXPECT_EQ(Held().would_remove(), 0u);
  EXPECT_EQ(store_->ResolveSweep(org_id_, "DISTRICT", true).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(SweepHoldTest, RejectingAHeldSweepKeepsTheAccounts) {
  FullSync({1, 2, 3}, /*skipped_entries=*/2);
  adsync::v1::HeldSweep held = Held();
  EXPECT_EQ(held.would_remove(), 27u);
  EXPECT_EQ(held.skipped_entries(), 2u);
  EXPECT_THAT(held.reason(), HasSubstr("could not read 2 entries"));
  ASSERT_TRUE(store_->ResolveSweep(org_id_, "DISTRICT", false).ok());
  EXPECT_EQ(Active(), 30);
  EXPECT_EQ(Held().would_remove(), 0u);
}

TEST_P(SweepHoldTest, ALargeShareOfTheDomainIsHeldASmallOneIsNot) {
  std::vector<uint32_t> most;
  for (uint32_t i = 1; i <= 29; ++i) most.push_back(i);
  EXPECT_EQ(FullSync(most).removed, 1u);  // one leaver: a normal day
  EXPECT_EQ(Held().would_remove(), 0u);
  EXPECT_EQ(FullSync({1, 2, 3, 4, 5}).removed, 0u);  // 24 of 29: held
  EXPECT_EQ(Held().would_remove(), 24u);
  EXPECT_THAT(Held().reason(), HasSubstr("would remove 24 of 29"));
  // An account written again after the hold was seen: approval keeps it.
  Apply(sync_a_, {{.guid = 6, .sam = "u6", .version = 2}});
  ASSERT_TRUE(store_->ResolveSweep(org_id_, "DISTRICT", true).ok());
  EXPECT_EQ(Active(), 6);
  EXPECT_NE(Resolve("DISTRICT\\u6").account().outcome(), "removed");
}

// Audit finding 8: an account with a value over the limits is left out of
// its batch and reported; the rest of the batch is stored, and once the
// account is fixed in AD it is stored and no longer reported.
TEST_P(StoreTest, AnOversizedAccountIsSkippedAndReportedNotTheBatch) {
  adsync::v1::Batch batch;
  batch.set_lease_epoch(TakeLease(sync_a_));
  batch.set_sequence(++sequence_);
  *batch.add_deltas() = MakeDelta({.guid = 1, .sam = "fine"});
  *batch.add_deltas() = MakeDelta(
      {.guid = 2, .sam = "essay", .display_name = std::string(3000, 'x')});
  auto proxies = MakeDelta({.guid = 3, .sam = "hoarder"});
  for (int i = 0; i < 300; ++i) {
    proxies.add_proxy_addresses(absl::StrCat("smtp:a", i, "@d.org"));
  }
  *batch.add_deltas() = proxies;
  auto outcome = store_->PrepareAndApply(sync_a_, batch, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->applied, 1u);
  EXPECT_TRUE(Resolve("DISTRICT\\fine").found());
  EXPECT_FALSE(Resolve("DISTRICT\\essay").found());
  auto status = store_->GetStatus(org_id_)->orgs(0);
  ASSERT_EQ(status.skipped_accounts_size(), 2);
  std::map<std::string, std::string> reasons;
  for (const auto& s : status.skipped_accounts()) {
    EXPECT_EQ(s.domain(), "DISTRICT");
    reasons[s.sam_account_name()] = s.reason();
  }
  EXPECT_THAT(reasons["essay"],
              HasSubstr("displayName is 3000 bytes, over the limit of 2048; "
                        "shorten it in AD"));
  EXPECT_THAT(reasons["hoarder"], HasSubstr("300 proxyAddresses"));
  // Fixed in AD: stored, and no longer reported.
  Apply(sync_a_, {{.guid = 2, .sam = "essay", .display_name = "Short"}});
  EXPECT_TRUE(Resolve("DISTRICT\\essay").found());
  status = store_->GetStatus(org_id_)->orgs(0);
  ASSERT_EQ(status.skipped_accounts_size(), 1);
  EXPECT_EQ(status.skipped_accounts(0).sam_account_name(), "hoarder");
}

// Audit finding 3: a sync writes only its own domain's accounts. (Before
// the fix, the STAFF sync renamed a DISTRICT account.)
TEST_P(StoreTest, ASyncCannotWriteAnotherDomainsAccount) {
  SyncRecord staff = AddSync("STAFF", "127.0.0.31");
  Apply(sync_a_, {{.guid = 1, .sam = "jdoe"}});
  BatchOutcome outcome =
      Apply(staff, {{.guid = 1, .sam = "hijacked", .version = 9}});
  EXPECT_EQ(outcome.applied, 0u);
  EXPECT_TRUE(Resolve("DISTRICT\\jdoe").found());
  EXPECT_FALSE(Resolve("STAFF\\hijacked").found());
  auto status = store_->GetStatus(org_id_)->orgs(0);
  ASSERT_EQ(status.skipped_accounts_size(), 1);
  EXPECT_EQ(status.skipped_accounts(0).domain(), "STAFF");
  EXPECT_THAT(status.skipped_accounts(0).reason(),
              HasSubstr("belongs to DISTRICT\\jdoe"));
  // A real cross-domain move: once DISTRICT reports the account gone, the
  // same objectGUID is stored under STAFF.
  Apply(sync_a_, {{.guid = 1, .sam = "jdoe", .deleted = true, .version = 2}});
  Apply(staff, {{.guid = 1, .sam = "jdoe2", .version = 1}});
  EXPECT_TRUE(Resolve("STAFF\\jdoe2").found());
  EXPECT_EQ(store_->GetStatus(org_id_)->orgs(0).skipped_accounts_size(), 0);
}

// Audit finding 3: stamps from a holder of a stolen key (version
// 0xFFFFFFFF) would pin a forged value forever; after the key is rotated,
// the domain's next full sync restores what AD holds.
TEST_P(StoreTest, AfterAKeyRotationTheNextFullSyncIsAuthoritative) {
  std::string key;
  SyncRecord district = AddSync("DISTRICT", "127.0.0.22", &key);
  Apply(district, {{.guid = 1, .sam = "jdoe"}});
  Apply(district, {{.guid = 1, .sam = "hijacked", .version = 0xFFFFFFFF}});
  EXPECT_TRUE(Resolve("DISTRICT\\hijacked").found());
  auto rotated = store_->RotateSyncKey(org_id_, district.sync_id);
  ASSERT_TRUE(rotated.ok());
  // Every sync of the domain resumes with a full sync.
  EXPECT_FALSE(store_->GetWatermark(district.sync_id)->has_watermark);
  EXPECT_FALSE(store_->GetWatermark(sync_a_.sync_id)->has_watermark);
  SyncRecord renewed = *store_->Authenticate(org_id_, rotated->sync_key());
  SeenAccounts seen = {testing::TestGuid(1)};
  Apply(renewed, {{.guid = 1, .sam = "jdoe", .version = 3}}, /*begin=*/true,
        /*end=*/true, &seen);
  EXPECT_TRUE(Resolve("DISTRICT\\jdoe").found());
  EXPECT_FALSE(Resolve("DISTRICT\\hijacked").found());
  // Only that one full sync: afterwards AD's own ordering applies again.
  Apply(renewed, {{.guid = 1, .sam = "older", .version = 2}});
  EXPECT_TRUE(Resolve("DISTRICT\\jdoe").found());
}

TEST_P(StoreTest, ADomainSidIsPinnedByItsFirstAgent) {
  SyncRecord other = AddSync("DISTRICT", "127.0.0.22");
  EXPECT_EQ(*store_->PinDomainSid(sync_a_, ""), "");  // nothing pinned yet
  EXPECT_TRUE(store_->PinDomainSid(sync_a_, "S-1-5-21-1-2-3").ok());
  EXPECT_TRUE(store_->PinDomainSid(other, "S-1-5-21-1-2-3").ok());
  // An agent that reports no SID is held to the pinned one.
  EXPECT_EQ(*store_->PinDomainSid(other, ""), "S-1-5-21-1-2-3");
  absl::Status wrong = store_->PinDomainSid(other, "S-1-5-21-7-8-9").status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(wrong.message()),
              HasSubstr("has SID S-1-5-21-1-2-3"));
  // Another domain of the org has its own.
  EXPECT_TRUE(
      store_->PinDomainSid(AddSync("STAFF", "127.0.0.31"), "S-1-5-21-7-8-9")
          .ok());
}

// Audit finding 5: after a failover the new primary's DC may not have
// applied an account's writes yet; its full sync does not count that
// account gone until its replUpToDateVector covers them.
TEST_P(StoreTest, ASweepNeverRemovesWhatTheSweepingDcHasNotReplicated) {
  SyncRecord b = AddSync("DISTRICT", "127.0.0.22");
  Apply(sync_a_, {{.guid = 1, .sam = "old", .invocation = 100, .usn = 40},
                  {.guid = 2, .sam = "fresh", .invocation = 100, .usn = 500}});
  // B's DC has applied A's DC's writes up to USN 400.
  auto position = [&](int64_t applied_usn) {
    adsync::v1::Heartbeat hb;
    adsync::v1::ReplicationCursor* c = hb.add_cursors();
    c->set_invocation_id(testing::TestGuid(100));
    c->set_usn(applied_usn);
    ASSERT_TRUE(
        store_->RecordControllerPosition(b.sync_id, testing::TestGuid(200), hb)
            .ok());
  };
  position(400);
  // B's full sync reports only its own new account.
  SeenAccounts nothing_new = {testing::TestGuid(3)};
  Apply(b, {{.guid = 3, .sam = "b3", .invocation = 200, .usn = 7}},
        /*begin=*/true);
  BatchOutcome end = Apply(b, {}, false, /*end=*/true, &nothing_new);
  EXPECT_EQ(end.removed, 1u);  // "old" (USN 40 <= 400) is gone
  EXPECT_EQ(Resolve("DISTRICT\\old").account().outcome(), "removed");
  EXPECT_NE(Resolve("DISTRICT\\fresh").account().outcome(), "removed");
  // Once B's DC has replicated USN 500, a full sync that still does not
  // report it removes it.
  position(600);
  Apply(b, {}, /*begin=*/true);
  EXPECT_EQ(Apply(b, {}, false, /*end=*/true, &nothing_new).removed, 1u);
  EXPECT_EQ(Resolve("DISTRICT\\fresh").account().outcome(), "removed");
}

TEST(StampEncodingTest, OriginatingUsnRoundTripsAndOldBlobsStillDecode) {
  Stamps stamps;
  stamps[1] = AttrStamp{3, 13'300'000'000, DsaIdFromBytes(testing::TestGuid(5)),
                        123456789};
  const Stamps back = DecodeStamps(EncodeStamps(stamps));
  EXPECT_EQ(back[1], stamps[1]);
  EXPECT_EQ(back[1].usn, 123456789);
  // The 28-byte form written before schema version 7.
  std::string old(28 * kNumStampedAttributes, '\0');
  old[28] = 3;  // attribute 1, version 3
  const Stamps decoded = DecodeStamps(old);
  EXPECT_EQ(decoded[1].version, 3u);
  EXPECT_EQ(decoded[1].usn, 0);
}

// A rotation or a removal owes the domain an authoritative full sync: a
// primary that keeps streaming changes is refused until it starts one.
TEST_P(StoreTest, AfterARemovalTheDomainsPrimaryMustFullSyncFirst) {
  SyncRecord leaked = AddSync("DISTRICT", "127.0.0.22");
  Apply(sync_a_, {{.guid = 1, .sam = "jdoe"}});
  ASSERT_TRUE(store_->RemoveSync(org_id_, leaked.sync_id).ok());
  adsync::v1::Batch batch;
  batch.set_lease_epoch(TakeLease(sync_a_));
  batch.set_sequence(++sequence_);
  *batch.add_deltas() = MakeDelta({.guid = 2, .sam = "later"});
  auto refused = store_->PrepareAndApply(sync_a_, batch, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("needs a full sync first"));
  EXPECT_FALSE(store_->GetWatermark(sync_a_.sync_id)->has_watermark);
  SeenAccounts seen = {testing::TestGuid(1), testing::TestGuid(2)};
  Apply(sync_a_, {{.guid = 1, .sam = "jdoe"}, {.guid = 2, .sam = "later"}},
        /*begin=*/true, /*end=*/true, &seen);
  EXPECT_TRUE(Resolve("DISTRICT\\later").found());
  Apply(sync_a_, {{.guid = 3, .sam = "then"}});  // incremental again
  EXPECT_TRUE(Resolve("DISTRICT\\then").found());
}

TEST_P(StoreTest, AMalformedOrgIdGetsTheWrongKeysAnswer) {
  auto wrong_key =
      store_->Authenticate(org_id_, "5e1c3d4a-0000-4000-8000-000000000001");
  auto malformed = store_->Authenticate("not-a-guid-<script>", "x");
  EXPECT_EQ(malformed.status(), wrong_key.status());
  EXPECT_THAT(std::string(malformed.status().message()),
              ::testing::Not(HasSubstr("script")));
}

TEST_P(SweepHoldTest, AnAccountReportedAgainLeavesTheHeldSweep) {
  FullSync({});
  EXPECT_EQ(Held().would_remove(), 30u);
  Apply(sync_a_, {{.guid = 7, .sam = "u7"}});  // re-sent, even unchanged
  EXPECT_EQ(Held().would_remove(), 29u);
  ASSERT_TRUE(store_->ResolveSweep(org_id_, "DISTRICT", true).ok());
  EXPECT_EQ(Active(), 1);
  EXPECT_NE(Resolve("DISTRICT\\u7").account().outcome(), "removed");
}

// Review findings: forged stamps (an invented invocationId and USN) must
// not keep an account from the authoritative full sync's sweep; a full
// sync already running at the rotation does not count; the rotated sync's
// domain SID pin is released; skipped accounts a full sync did not see
// are dropped from the list.
TEST_P(StoreTest, TheAuthoritativeSweepIgnoresForgedReplicationStamps) {
  std::string key;
  SyncRecord leaked = AddSync("DISTRICT", "127.0.0.22", &key);
  Apply(sync_a_, {{.guid = 1, .sam = "real", .invocation = 100, .usn = 5}});
  Apply(leaked, {{.guid = 2,
                  .sam = "forged",
                  .version = 0xFFFFFFFF,
                  .invocation = 999,
                  .usn = 1'000'000'000}});
  adsync::v1::Heartbeat hb;
  hb.add_cursors()->set_invocation_id(testing::TestGuid(100));
  hb.mutable_cursors(0)->set_usn(50);
  ASSERT_TRUE(store_
                  ->RecordControllerPosition(sync_a_.sync_id,
                                             testing::TestGuid(100), hb)
                  .ok());
  ASSERT_TRUE(store_->PinDomainSid(leaked, "S-1-5-21-7-8-9").ok());
  // A full sync of sync_a_ was under way when the key leaked.
  Apply(sync_a_, {{.guid = 1, .sam = "real", .invocation = 100, .usn = 5}},
        /*begin=*/true);
  ASSERT_TRUE(store_->RotateSyncKey(org_id_, leaked.sync_id).ok());
  EXPECT_EQ(*store_->PinDomainSid(sync_a_, ""), "");  // unpinned
  adsync::v1::Batch rest;
  rest.set_lease_epoch(TakeLease(sync_a_));
  rest.set_sequence(++sequence_);
  rest.set_full_sync_end(true);
  SeenAccounts seen = {testing::TestGuid(1)};
  EXPECT_FALSE(store_->PrepareAndApply(sync_a_, rest, &seen).ok());
  // The full sync that starts after the rotation is authoritative, and its
  // sweep removes the forged account despite its stamps.
  Apply(sync_a_, {{.guid = 1, .sam = "real", .invocation = 100, .usn = 5}},
        /*begin=*/true, /*end=*/true, &seen);
  EXPECT_EQ(Resolve("DISTRICT\\forged").account().outcome(), "removed");
  EXPECT_NE(Resolve("DISTRICT\\real").account().outcome(), "removed");
}

TEST_P(StoreTest, SkippedAccountsAFullSyncDidNotSeeAreDropped) {
  adsync::v1::Batch batch;
  batch.set_lease_epoch(TakeLease(sync_a_));
  batch.set_sequence(++sequence_);
  *batch.add_deltas() = MakeDelta(
      {.guid = 2, .sam = "essay", .display_name = std::string(3000, 'x')});
  ASSERT_TRUE(store_->PrepareAndApply(sync_a_, batch, nullptr).ok());
  ASSERT_EQ(store_->GetStatus(org_id_)->orgs(0).skipped_accounts_size(), 1);
  SeenAccounts seen = {testing::TestGuid(1)};
  Apply(sync_a_, {{.guid = 1, .sam = "a"}}, true, true, &seen);
  EXPECT_EQ(store_->GetStatus(org_id_)->orgs(0).skipped_accounts_size(), 0);
}

}  // namespace
// Several coordinators on one PostgreSQL database: what one writes, the
// other reads and answers alike.
TEST_F(PostgresStoreTest, TwoCoordinatorsShareOneDatabase) {
  std::unique_ptr<SqlStore> other = Open();
  ASSERT_NE(other, nullptr);
  ImportPeople({{"p-1", "One", {"one@d.org"}}});
  Apply(sync_a_, {{.guid = 1, .sam = "one", .mail = "one@d.org"}});
  auto there = other->ResolveLogin(org_id_, "DISTRICT\\one");
  ASSERT_TRUE(there.ok()) << there.status();
  EXPECT_EQ(there->person_id(), "p-1");
  EXPECT_EQ(other->GetStatus(org_id_)->orgs(0).counts().profiles(), 1u);
  // The lease is the database's: a sync holding it through one coordinator
  // is the primary for the other too, and its batch through the other
  // coordinator carries on at the same epoch.
  auto lease = other->GetLease(org_id_, "DISTRICT", lease_clock_ms_);
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->holder_sync_id, sync_a_.sync_id);
  SyncRecord b = AddSync("DISTRICT", "127.0.0.22");
  auto standby =
      other->AcquireLease(b, lease_clock_ms_ + 1, 3600'000, "test", 0);
  ASSERT_TRUE(standby.ok());
  EXPECT_FALSE(standby->primary);
  adsync::v1::Batch batch;
  batch.set_lease_epoch(lease->epoch);
  batch.set_sequence(++sequence_);
  *batch.add_deltas() =
      MakeDelta({.guid = 2, .sam = "two", .mail = "two@d.org"});
  ASSERT_TRUE(other->PrepareAndApply(sync_a_, batch, nullptr).ok());
  EXPECT_TRUE(Resolve("DISTRICT\\two").found());
  // A stale epoch is fenced whichever coordinator it reaches.
  batch.set_lease_epoch(lease->epoch - 1);
  batch.set_sequence(++sequence_);
  EXPECT_EQ(other->PrepareAndApply(sync_a_, batch, nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PostgresStoreTest, OneCoordinatorAtATimePushesAnOrg) {
  std::unique_ptr<SqlStore> other = Open();
  ASSERT_NE(other, nullptr);
  ImportPeople({{"p-1", "One", {"one@d.org"}}});
  Apply(sync_a_, {{.guid = 1, .sam = "one", .mail = "one@d.org"}});
  auto mine = store_->NextPushBatch(org_id_, 100);
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_EQ(mine->updates.size(), 1u);
  // Claimed: the other coordinator gets nothing to push for the org.
  auto theirs = other->NextPushBatch(org_id_, 100);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_TRUE(theirs->updates.empty());
  // Deferred (a failed delivery): the claim ends, the update stays queued.
  ASSERT_TRUE(store_->DeferPush(org_id_, 0, "test").ok());
  theirs = other->NextPushBatch(org_id_, 100);
  ASSERT_TRUE(theirs.ok());
  ASSERT_EQ(theirs->updates.size(), 1u);
  // A coordinator that dies loses its claim with its session: once
  // PostgreSQL has ended the session (its backend exits after the client's
  // socket closes, not at the same instant), the claim is free.
  other.reset();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  do {
    mine = store_->NextPushBatch(org_id_, 100);
    ASSERT_TRUE(mine.ok());
    if (!mine->updates.empty()) break;
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < deadline);
  ASSERT_EQ(mine->updates.size(), 1u);
  ASSERT_TRUE(store_->CompletePush(*mine).ok());
  EXPECT_TRUE(store_->NextPushBatch(org_id_, 100)->updates.empty());
}

TEST_F(PostgresStoreTest, CoordinatorsStartingTogetherMigrateOnce) {
  auto fresh = testing::FreshPostgresDatabase();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  conninfo_ = *fresh;
  std::vector<absl::StatusOr<std::unique_ptr<SqlStore>>> opened(4);
  std::vector<std::thread> threads;
  for (auto& result : opened) {
    threads.emplace_back([&] { result = TryOpen(StoreOptions{}); });
  }
  for (auto& t : threads) t.join();
  for (auto& result : opened) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(*(*result)->SchemaVersion(), (*result)->CurrentSchemaVersion());
  }
}

// Writes from several coordinators at once are serialized: each org's
// batches land whole, none is lost.
TEST_F(PostgresStoreTest, ConcurrentWritersLoseNothing) {
  std::unique_ptr<SqlStore> other = Open();
  ASSERT_NE(other, nullptr);
  adsync::v1::CreateOrgRequest second_org;
  second_org.set_name("Shelbyville USD");
  const std::string org_b = other->CreateOrg(second_org)->org_id();
  adsync::v1::AddSyncRequest req;
  req.set_org_id(org_b);
  req.set_domain("SHELBY");
  req.add_allowed_ips("127.0.0.31");
  auto added = other->AddSync(req);
  ASSERT_TRUE(added.ok());
  const SyncRecord sync_b = *other->Authenticate(org_b, added->sync_key());
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto lease_a = store_->AcquireLease(sync_a_, now, 3600'000, "test", 0);
  auto lease_b = other->AcquireLease(sync_b, now, 3600'000, "test", 0);
  ASSERT_TRUE(lease_a.ok() && lease_b.ok());
  auto writer = [](SqlStore* store, const SyncRecord& sync, uint64_t epoch,
                   int first_guid, absl::Status* result) {
    for (int i = 0; i < 20; ++i) {
      adsync::v1::Batch batch;
      batch.set_lease_epoch(epoch);
      batch.set_sequence(i + 1);
      for (int j = 0; j < 10; ++j) {
        const int n = first_guid + i * 10 + j;
        *batch.add_deltas() = MakeDelta({.guid = static_cast<uint32_t>(n),
                                         .sam = absl::StrFormat("user%d", n)});
      }
      auto applied = store->PrepareAndApply(sync, batch, nullptr);
      if (!applied.ok()) {
        *result = applied.status();
        return;
      }
    }
  };
  absl::Status result_a, result_b;
  std::thread a(writer, store_.get(), sync_a_, lease_a->epoch, 1000, &result_a);
  std::thread b(writer, other.get(), sync_b, lease_b->epoch, 5000, &result_b);
  a.join();
  b.join();
  ASSERT_TRUE(result_a.ok()) << result_a;
  ASSERT_TRUE(result_b.ok()) << result_b;
  EXPECT_EQ(store_->GetStatus(org_id_)->orgs(0).counts().profiles(), 200u);
  EXPECT_EQ(store_->GetStatus(org_b)->orgs(0).counts().profiles(), 200u);
}

// The server crashed and came back (or a standby took over): the write
// that meets the dead connection fails as retryable, the next reconnects.
TEST_F(PostgresStoreTest, AfterTheServerRestartsTheNextWriteReconnects) {
  TempDir server_dir;
  auto server = testing::PostgresServer::Start(server_dir.path(), 5433);
  ASSERT_TRUE(server.ok()) << server.status();
  conninfo_ = (*server)->ConnInfo();
  OpenWithOrgAndSync();
  Apply(sync_a_, {{.guid = 1, .sam = "before"}});
  ASSERT_TRUE((*server)->Kill().ok());
  ASSERT_TRUE((*server)->Restart().ok());
  adsync::v1::Batch batch;
  batch.set_lease_epoch(TakeLease(sync_a_));
  batch.set_sequence(++sequence_);
  *batch.add_deltas() = MakeDelta({.guid = 2, .sam = "after"});
  // TakeLease above was the first write after the restart and reconnected
  // (its own failure would have failed the test), so this batch goes
  // straight through; a read on the other connection reconnects too.
  auto applied = store_->PrepareAndApply(sync_a_, batch, nullptr);
  ASSERT_TRUE(applied.ok()) << applied.status();
  auto status = store_->GetStatus(org_id_);
  if (!status.ok()) {
    EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(status.status().message()),
                HasSubstr("the coordinator reconnects"));
    status = store_->GetStatus(org_id_);
  }
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->orgs(0).counts().profiles(), 2u);
  store_.reset();
}

TEST_F(PostgresStoreTest, APasswordInTheConnectionStringIsRefused) {
  PostgresStoreOptions options;
  options.conninfo = conninfo_ + " password=hunter2";
  auto refused = OpenPostgresStore(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("passfile="));
  EXPECT_THAT(std::string(refused.status().message()),
              ::testing::Not(HasSubstr("hunter2")));
  options.conninfo = "postgresql://adsync:hunter2@db1/adsync";
  EXPECT_EQ(OpenPostgresStore(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.conninfo = "host=db1 dbname";
  refused = OpenPostgresStore(options);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("not a valid libpq connection string"));
}

const auto kEngines = ::testing::Values(Engine::kSqlite, Engine::kPostgres);
// --- Preview and going live ------------------------------------------------

class PreviewTest : public OutboxTest {
 protected:
  // A complete full sync of `specs` by sync_a_.
  void FullSync(std::vector<DeltaSpec> specs) {
    SeenAccounts seen;
    for (const DeltaSpec& s : specs) seen.insert(testing::TestGuid(s.guid));
    Apply(sync_a_, specs, /*begin=*/true, /*end=*/true, &seen);
  }

  adsync::v1::PanelPersonIdentities Held(const std::string& person,
                                         uint32_t version,
                                         const std::string& sam) {
    adsync::v1::PanelPersonIdentities h;
    h.set_person_id(person);
    h.set_version(version);
    if (!sam.empty()) {
      adsync::v1::PanelIdentity* id = h.add_identities();
      id->set_domain("DISTRICT");
      id->set_sam_account_name(sam);
      id->set_object_guid("aaaaaaaa-0000-0000-0000-" + sam);
      id->set_enabled(true);
    }
    return h;
  }
};

TEST_P(PreviewTest, AnOrgInPreviewComputesMappingsAndPushesNothing) {
  adsync::v1::CreateOrgRequest create;
  create.set_name("Preview USD");
  auto created = store_->CreateOrg(create);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(created->live()) << "new orgs start in preview";

  ASSERT_TRUE(store_->EnterPreview(org_id_).ok());
  ImportPeople({{"p-1", "One", {"one@d.org"}}});
  Apply(sync_a_, {{.guid = 1, .sam = "one", .mail = "one@d.org"}});
  auto ready = store_->OrgsReadyToPush(absl::ToUnixMillis(absl::Now()));
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
  auto mapped = store_->MappedIdentities(org_id_);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  ASSERT_EQ(mapped->size(), 1u);
  EXPECT_EQ((*mapped)[0].holds.person_id(), "p-1");
  EXPECT_EQ((*mapped)[0].name, "One");
  EXPECT_EQ((*mapped)[0].holds.version(), 1u);
  ASSERT_EQ((*mapped)[0].holds.identities_size(), 1);
  EXPECT_EQ((*mapped)[0].holds.identities(0).sam_account_name(), "one");
  EXPECT_EQ((*mapped)[0].holds.identities(0).domain(), "DISTRICT");
}

TEST_P(PreviewTest, GoingLiveQueuesExactlyWhatK12PanelLacksAboveItsVersions) {
  ASSERT_TRUE(store_->EnterPreview(org_id_).ok());
  ImportPeople({{"p-1", "One", {"one@d.org"}},
                {"p-2", "Two", {"two@d.org"}},
                {"p-3", "Three", {"three@d.org"}}});
  Apply(sync_a_, {{.guid = 1, .sam = "one", .mail = "one@d.org"},
                  {.guid = 2, .sam = "two", .mail = "two@d.org"}});
  // Before any full sync the domain's other accounts would look removed.
  auto early = store_->GoLive(org_id_, {}, "");
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(early.status().message()),
              HasSubstr("no completed full sync"));
  FullSync({{.guid = 1, .sam = "one", .mail = "one@d.org"},
            {.guid = 2, .sam = "two", .mail = "two@d.org"}});
  auto mapped = store_->MappedIdentities(org_id_);
  ASSERT_TRUE(mapped.ok());
  // K12Panel (written by the script adsync replaces) holds p-2's identity
  // exactly, a stale identity for p-3 and one for a Person adsync does not
  // know; nothing for p-1.
  adsync::v1::PanelPersonIdentities same;
  for (const MappedPerson& m : *mapped) {
    if (m.holds.person_id() == "p-2") same = m.holds;
  }
  same.set_version(40);
  std::vector<adsync::v1::PanelPersonIdentities> held = {
      same, Held("p-3", 7, "three"), Held("p-9", 9, "nine")};

  // Only the changes the operator saw: a stale preview changes nothing.
  adsync::v1::PreviewOrgResponse seen = ComputePreview(*mapped, held);
  auto stale = store_->GoLive(org_id_, held, "0123456789abcdef");
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(stale.status().message()),
              HasSubstr("run `adsyncctl preview"));
  auto unchanged = store_->MappedIdentities(org_id_);
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ((*unchanged)[1].holds.version(), 1u) << "p-2 not raised to 40";
  EXPECT_TRUE(
      store_->OrgsReadyToPush(absl::ToUnixMillis(absl::Now()))->empty());

  auto live = store_->GoLive(org_id_, held, seen.digest());
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_TRUE(live->live());
  EXPECT_EQ(Queued(), (std::map<std::string, uint32_t>{
                          {"p-1", 2}, {"p-3", 8}, {"p-9", 10}}));
  auto batch = store_->NextPushBatch(org_id_, 100);
  ASSERT_TRUE(batch.ok());
  for (const auto& u : batch->updates) {
    EXPECT_EQ(u.identities_size(), u.person_id() == "p-1" ? 1 : 0)
        << u.person_id();
  }
  ASSERT_TRUE(store_->CompletePush(*batch).ok());
  // Live now: changes are pushed as they happen, above the new versions,
  // including for p-2, which K12Panel held unchanged at version 40.
  Apply(sync_a_,
        {{.guid = 3, .sam = "three", .mail = "three@d.org", .version = 1},
         {.guid = 2, .sam = "two.x", .mail = "two@d.org", .version = 2}});
  EXPECT_EQ(Queued(),
            (std::map<std::string, uint32_t>{{"p-2", 41}, {"p-3", 9}}));
  // Going live again changes nothing; back into preview stops the push.
  ASSERT_TRUE(store_->GoLive(org_id_, {}, "").ok());
  EXPECT_EQ(Queued(),
            (std::map<std::string, uint32_t>{{"p-2", 41}, {"p-3", 9}}));
  auto preview = store_->EnterPreview(org_id_);
  ASSERT_TRUE(preview.ok());
  EXPECT_FALSE(preview->live());
  EXPECT_TRUE(Queued().empty());
}

TEST_P(PreviewTest, GoingLiveWithAnUnknownOrgChangesNothing) {
  EXPECT_EQ(store_->GoLive("00000000-0000-0000-0000-00000000abcd", {}, "")
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GoLive("not-a-guid", {}, "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- Sync report schedule ---------------------------------------------------

TEST_P(StoreTest, SyncReportIsDueAfterAFullSyncAndEachInterval) {
  const int64_t now = absl::ToUnixMillis(absl::Now());
  const int64_t hour = 3600'000;
  auto due = [&](int64_t at) {
    auto d = store_->DueSyncReports(at, hour, /*min_gap_ms=*/60'000);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : std::vector<DueReport>{};
  };
  EXPECT_TRUE(due(now).empty()) << "nothing happened yet";
  ImportPeople({{"p-1", "One", {"one@d.org"}}});
  Apply(sync_a_, {{.guid = 1, .sam = "one", .mail = "one@d.org"}},
        /*begin=*/true);
  EXPECT_TRUE(due(now + 1000).empty()) << "a full sync still running";
  SeenAccounts seen = {testing::TestGuid(1)};
  Apply(sync_a_, {}, /*begin=*/false, /*end=*/true, &seen);
  absl::SleepFor(absl::Milliseconds(5));  // the clock moves past that end
  const int64_t after = absl::ToUnixMillis(absl::Now());
  std::vector<DueReport> reports = due(after);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].org_id, org_id_);
  EXPECT_EQ(reports[0].sync_id, sync_a_.sync_id);
  const int64_t start = reports[0].period_start_ms;
  EXPECT_LE(start, now);

  // Recorded once: a second coordinator recording the same period loses.
  auto first = store_->RecordReportSent(sync_a_.sync_id, start, after);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*store_->RecordReportSent(sync_a_.sync_id, start, after));
  EXPECT_TRUE(due(after + 1000).empty());
  // The next full sync waits for the minimum gap; the interval comes anyway.
  absl::SleepFor(absl::Milliseconds(5));
  Apply(sync_a_, {}, /*begin=*/true);
  Apply(sync_a_, {}, /*begin=*/false, /*end=*/true, &seen);
  EXPECT_TRUE(due(after + 1000).empty());
  EXPECT_EQ(due(after + 61'000).size(), 1u);
  EXPECT_EQ(due(after + hour).size(), 1u);

  // A failed delivery waits for its retry and shows in status.
  ASSERT_TRUE(
      store_->DeferReport(sync_a_.sync_id, after + 2 * hour, "HTTP 503").ok());
  EXPECT_TRUE(due(after + hour).empty());
  EXPECT_EQ(due(after + 2 * hour).size(), 1u);
  auto status = store_->GetStatus(org_id_);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->orgs(0).syncs(0).report_error(), "HTTP 503");
  EXPECT_EQ(status->orgs(0).syncs(0).last_report_unix(), after / 1000);

  // An org in preview sends K12Panel nothing, reports included.
  ASSERT_TRUE(store_->EnterPreview(org_id_).ok());
  EXPECT_TRUE(due(after + 3 * hour).empty());
}

// --- Counters (issue 18) -----------------------------------------------------

// Status reads counters that the writes keep (account_counts, org_counts);
// after every kind of write they must equal counting the rows.
class CountersTest : public OutboxTest {
 protected:
  // Adds `n` accounts the way status counts them.
  static void Add(Outcome outcome, bool disabled, uint64_t n,
                  adsync::v1::Counts* c) {
    if (outcome == Outcome::kRemoved) {
      c->set_deleted(c->deleted() + n);
      return;
    }
    c->set_profiles(c->profiles() + n);
    if (disabled) c->set_disabled(c->disabled() + n);
    if (outcome == Outcome::kMatched) c->set_matched(c->matched() + n);
    if (outcome == Outcome::kUnmatched) c->set_unmatched(c->unmatched() + n);
    if (outcome == Outcome::kAmbiguous) c->set_ambiguous(c->ambiguous() + n);
    if (outcome == Outcome::kNoEmail) c->set_no_email(c->no_email() + n);
  }

  static std::string Show(const adsync::v1::Counts& c) {
    return c.ShortDebugString();
  }

  // Expects status of the org to show what counting its rows gives.
  void ExpectCountsExact(const std::string& after) {
    SCOPED_TRACE(after);
    std::unique_ptr<Database> db = Raw();
    ASSERT_NE(db, nullptr);
    adsync::v1::Counts total;
    std::map<std::string, adsync::v1::Counts> by_domain;
    {
      auto q = db->Cached(
          "SELECT domain, outcome, CASE WHEN uac & 2 != 0 THEN 1 ELSE 0 END, "
          "count(*) FROM profiles WHERE org_key=(SELECT org_key FROM orgs "
          "WHERE org_id=?1) GROUP BY 1, 2, 3");
      ASSERT_TRUE(q.ok()) << q.status();
      (*q)->Bind(1, org_id_);
      while ((*q)->Step().value_or(false)) {
        const auto outcome = static_cast<Outcome>((*q)->ColumnInt(1));
        const bool disabled = (*q)->ColumnInt(2) != 0;
        const uint64_t n = (*q)->ColumnInt(3);
        Add(outcome, disabled, n, &by_domain[(*q)->ColumnText(0)]);
        Add(outcome, disabled, n, &total);
      }
    }
    auto status = store_->GetStatus(org_id_);
    ASSERT_TRUE(status.ok()) << status.status();
    const adsync::v1::OrgStatus& os = status->orgs(0);
    EXPECT_EQ(Show(os.counts()), Show(total));
    std::set<std::string> shown;
    for (const auto& d : os.domains()) {
      shown.insert(d.domain());
      EXPECT_EQ(Show(d.counts()), Show(by_domain[d.domain()])) << d.domain();
    }
    for (const auto& [domain, counts] : by_domain) {
      EXPECT_TRUE(shown.count(domain)) << domain << " missing from status";
    }
    auto q = db->Cached(
        "SELECT (SELECT count(*) FROM people WHERE org_key=o.org_key), "
        "(SELECT count(*) FROM outbox WHERE org_key=o.org_key), "
        "(SELECT count(*) FROM outbox WHERE org_key=o.org_key AND parked=1), "
        "(SELECT count(*) FROM outbox WHERE org_key=o.org_key AND "
        "quarantined=1), (SELECT min(enqueued) FROM outbox WHERE "
        "org_key=o.org_key) FROM orgs o WHERE org_id=?1");
    ASSERT_TRUE(q.ok()) << q.status();
    (*q)->Bind(1, org_id_);
    ASSERT_TRUE((*q)->Step().value_or(false));
    EXPECT_EQ(os.people(), static_cast<uint64_t>((*q)->ColumnInt(0)));
    EXPECT_EQ(os.push().queue_depth(),
              static_cast<uint64_t>((*q)->ColumnInt(1)));
    EXPECT_EQ(os.push().parked(), static_cast<uint64_t>((*q)->ColumnInt(2)));
    EXPECT_EQ(os.push().quarantined_people(),
              static_cast<uint64_t>((*q)->ColumnInt(3)));
    EXPECT_EQ(os.push().oldest_undelivered_unix(), (*q)->ColumnInt(4));
  }

  // A complete full sync by `sync` that reports `specs`.
  void FullSync(const SyncRecord& sync, std::vector<DeltaSpec> specs) {
    SeenAccounts seen;
    for (const DeltaSpec& s : specs) seen.insert(testing::TestGuid(s.guid));
    Apply(sync, specs, /*begin=*/true, /*end=*/true, &seen);
  }
};

TEST_P(CountersTest, EveryWriteKeepsStatusCountsExact) {
  // Any Person losing an identity quarantines the push (to count that too).
  store_.reset();
  StoreOptions options;
  options.quarantine_min_people = 0;
  store_ = *TryOpen(options);
  const std::vector<Person> people = {{"p-1", "One", {"one@d.org"}},
                                      {"p-2", "Two", {"two@d.org"}},
                                      {"p-3", "Three", {"shared@d.org"}},
                                      {"p-4", "Four", {"shared@d.org"}}};
  ImportPeople(people);
  ExpectCountsExact("People imported, no accounts");
  Apply(sync_a_,
        {{.guid = 1, .sam = "one", .mail = "one@d.org"},
         {.guid = 2, .sam = "two", .mail = "two@d.org"},
         {.guid = 3, .sam = "shared", .mail = "shared@d.org"},
         {.guid = 4, .sam = "nobody", .mail = "nobody@d.org"},
         {.guid = 5, .sam = "nomail"},
         {.guid = 6, .sam = "six", .mail = "six@d.org", .uac = 0x202}});
  EXPECT_EQ(Counts().profiles(), 6u);
  ExpectCountsExact("new accounts");
  // An import that matches the unmatched disabled account.
  std::vector<Person> more = people;
  more.push_back({"p-6", "Six", {"six@d.org"}});
  ImportPeople(more);
  EXPECT_EQ(Counts().matched(), 3u);
  ExpectCountsExact("re-matched by an import");
  Apply(sync_a_, {{.guid = 2,
                   .sam = "two",
                   .mail = "two@d.org",
                   .uac = 0x202,
                   .version = 2}});
  EXPECT_EQ(Counts().disabled(), 2u);
  ExpectCountsExact("an account disabled");
  SyncRecord staff = AddSync("STAFF", "127.0.0.31");
  Apply(staff, {{.guid = 7, .sam = "one", .mail = "one@d.org"},
                {.guid = 8, .sam = "eight", .mail = "eight@d.org"}});
  ExpectCountsExact("a second domain");
  Apply(sync_a_, {{.guid = 4,
                   .sam = "nobody",
                   .mail = "nobody@d.org",
                   .deleted = true,
                   .version = 3}});
  EXPECT_EQ(Counts().deleted(), 1u);
  ExpectCountsExact("an account removed");
  // Its objectGUID reappears in the other domain: taken over.
  Apply(staff, {{.guid = 4, .sam = "nobody", .mail = "nobody@d.org"}});
  ASSERT_EQ(Resolve("STAFF\\nobody").account().domain(), "STAFF");
  ExpectCountsExact("an account moved to another domain");
  Apply(staff, {{.guid = 4,
                 .sam = "nobody",
                 .mail = "nobody@d.org",
                 .deleted = true,
                 .version = 5}});
  // The full sync does not see account 5: the sweep removes it.
  FullSync(sync_a_,
           {{.guid = 1, .sam = "one", .mail = "one@d.org"},
            {.guid = 2,
             .sam = "two",
             .mail = "two@d.org",
             .uac = 0x202,
             .version = 2},
            {.guid = 3, .sam = "shared", .mail = "shared@d.org"},
            {.guid = 6, .sam = "six", .mail = "six@d.org", .uac = 0x202}});
  EXPECT_EQ(Counts().deleted(), 2u);
  ExpectCountsExact("a sweep");
  // The push: part parked, a parked Person queued again, the rest
  // delivered.
  auto batch = store_->NextPushBatch(org_id_, 2);
  ASSERT_TRUE(batch.ok() && batch->updates.size() == 2u);
  ASSERT_TRUE(store_->ParkPush(*batch, "refused").ok());
  ExpectCountsExact("parked");
  // Told again (a retry after a lost answer): already parked, counted once.
  ASSERT_TRUE(store_->ParkPush(*batch, "refused again").ok());
  ExpectCountsExact("parked twice");
  Apply(sync_a_,
        {{.guid = 1, .sam = "one.x", .mail = "one@d.org", .version = 4}});
  ExpectCountsExact("a parked Person changed again");
  Deliver();
  ExpectCountsExact("delivered");
  // A removal that loses a Person an identity is quarantined; rejected.
  Apply(staff, {{.guid = 7,
                 .sam = "one",
                 .mail = "one@d.org",
                 .deleted = true,
                 .version = 2}});
  ASSERT_TRUE(store_->GetStatus(org_id_)->orgs(0).push().quarantined());
  ExpectCountsExact("quarantined");
  ASSERT_TRUE(store_->ResolveQuarantine(org_id_, /*approve=*/false).ok());
  ExpectCountsExact("quarantine rejected");
  // Back into preview and live again: the outbox is replaced.
  FullSync(staff, {{.guid = 8, .sam = "eight", .mail = "eight@d.org"}});
  ASSERT_TRUE(store_->EnterPreview(org_id_).ok());
  auto live = store_->GoLive(org_id_, {}, "");
  ASSERT_TRUE(live.ok()) << live.status();
  ExpectCountsExact("live again");
  // A restart reads the same counters.
  store_.reset();
  store_ = Open();
  ExpectCountsExact("reopened");
}

// A database from before the counters (its schema one version behind)
// gets them from its rows when migrated.
TEST_P(CountersTest, MigratingAnOlderDatabaseCountsItsRows) {
  // The schema version before the migration that adds the counters.
  const int before = engine() == Engine::kPostgres ? 2 : 9;
  const std::vector<const char*>& migrations =
      engine() == Engine::kPostgres ? PostgresMigrations() : SqliteMigrations();
  store_.reset();
  if (engine() == Engine::kPostgres) {
    auto conninfo = testing::FreshPostgresDatabase();
    ASSERT_TRUE(conninfo.ok()) << conninfo.status();
    conninfo_ = *conninfo;
  } else {
    std::filesystem::remove(dir_.File("coordinator.db"));
    std::filesystem::remove(dir_.File("coordinator.db-wal"));
  }
  {
    std::unique_ptr<Database> db = Raw();
    ASSERT_NE(db, nullptr);
    for (int v = 0; v < before; ++v) {
      ASSERT_TRUE(db->Execute(migrations[v]).ok()) << v;
    }
    ASSERT_TRUE(
        db->Execute(absl::StrCat("CREATE TABLE schema_version(version INTEGER "
                                 "NOT NULL); INSERT INTO schema_version "
                                 "VALUES(",
                                 before, ")"))
            .ok());
    org_id_ = "0b1e0000-0000-4000-8000-000000000001";
    ASSERT_TRUE(db->Execute("INSERT INTO orgs(org_key, org_id, name, "
                            "match_proxy, match_upn, created) VALUES(7, "
                            "'0b1e0000-0000-4000-8000-000000000001', 'Old', "
                            "1, 1, 0)")
                    .ok());
    ASSERT_TRUE(db->Execute("INSERT INTO people(org_key, person_id, name) "
                            "VALUES(7, 'p-1', 'One'), (7, 'p-2', 'Two'); "
                            "INSERT INTO outbox(org_key, person_id, version, "
                            "enqueued, parked, quarantined) VALUES(7, 'p-1', "
                            "1, 100, 1, 0), (7, 'p-2', 1, 50, 0, 1)")
                    .ok());
    struct Row {
      uint32_t guid;
      const char* domain;
      int uac;
      Outcome outcome;
    };
    for (const Row& r :
         std::vector<Row>{{1, "DISTRICT", 0x200, Outcome::kMatched},
                          {2, "DISTRICT", 0x202, Outcome::kMatched},
                          {3, "DISTRICT", 0x202, Outcome::kUnmatched},
                          {4, "DISTRICT", 0x200, Outcome::kRemoved},
                          {5, "STAFF", 0x200, Outcome::kNoEmail},
                          {6, "STAFF", 0x200, Outcome::kAmbiguous},
                          {7, "STAFF", 0x200, Outcome::kAmbiguous}}) {
      auto q = db->Cached(
          "INSERT INTO profiles(org_key, object_guid, domain, sid, sam, upn, "
          "mail, proxy, display_name, uac, deleted, absent, stamps, outcome, "
          "person_id, matched_email, updated) VALUES(7, ?1, ?2, '', ?3, '', "
          "'', '', '', ?4, 0, 0, ?5, ?6, '', '', 0)");
      ASSERT_TRUE(q.ok()) << q.status();
      (*q)->BindBlob(1, testing::TestGuid(r.guid))
          .Bind(2, std::string(r.domain))
          .Bind(3, absl::StrCat("u", r.guid))
          .Bind(4, r.uac)
          .BindBlob(5, std::string())
          .Bind(6, static_cast<int>(r.outcome));
      ASSERT_TRUE((*q)->Run().ok());
    }
  }
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(*store_->SchemaVersion(), store_->CurrentSchemaVersion());
  const adsync::v1::OrgStatus os = store_->GetStatus(org_id_)->orgs(0);
  EXPECT_EQ(os.counts().profiles(), 6u);
  EXPECT_EQ(os.counts().disabled(), 2u);
  EXPECT_EQ(os.counts().deleted(), 1u);
  EXPECT_EQ(os.counts().ambiguous(), 2u);
  EXPECT_EQ(os.people(), 2u);
  EXPECT_EQ(os.push().queue_depth(), 2u);
  EXPECT_EQ(os.push().oldest_undelivered_unix(), 50);
  ExpectCountsExact("migrated");
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreTest, kEngines, testing::EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, OutboxTest, kEngines, testing::EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, PreviewTest, kEngines, testing::EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, SweepHoldTest, kEngines, testing::EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, CountersTest, kEngines, testing::EngineName);

}  // namespace adsync
