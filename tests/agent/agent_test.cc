#include "agent/agent.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/account_reader.h"
#include "agent/agent_config.h"
#include "agent/change_tracker.h"
#include "agent/dc_liveness.h"
#include "agent/ldap_errors.h"
#include "common/files.h"
#include "common/guid.h"
#include "common/log.h"
#include "common/sid.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/dn_scope_properties.h"
#include "tests/support/scripted_gateway.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;

LdapEntry SambaTombstone() {
  LdapEntry e;
  e.dn =
      "CN=jdoe\\0ADEL:95aeb0f1-75d2-4126-ba5c-a877fd138d42,CN=Deleted "
      "Objects,DC=district,DC=test";
  std::string guid;
  absl::Base64Unescape("8bCuldJ1JkG6XKh3/RONQg==", &guid);
  e.attributes["objectguid"] = {guid};
  e.attributes["objectsid"] = {
      *SidStringToBinary("S-1-5-21-3399111571-1881169791-2407282559-1104")};
  e.attributes["samaccountname"] = {"jdoe"};
  e.attributes["useraccountcontrol"] = {"512"};
  e.attributes["isdeleted"] = {"TRUE"};
  e.attributes["usnchanged"] = {"3942"};
  e.attributes["replpropertymetadata"] = {testing::SambaTombstoneBlob()};
  return e;
}

TEST(AccountReader, ReadsARealSambaTombstone) {
  auto d = EntryToDelta(SambaTombstone());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->deleted());
  EXPECT_EQ(d->sam_account_name(), "jdoe");
  EXPECT_EQ(d->usn_changed(), 3942);
  EXPECT_EQ(d->object_guid().size(), 16u);
  std::map<int, uint32_t> versions;
  for (const auto& st : d->stamps()) versions[st.attribute()] = st.version();
  EXPECT_EQ(versions.size(), 7u);  // all seven ordered attributes
  EXPECT_EQ(versions[adsync::v1::ATTRIBUTE_IS_DELETED], 1u);
  EXPECT_EQ(versions[adsync::v1::ATTRIBUTE_MAIL], 2u);
  EXPECT_EQ(versions[adsync::v1::ATTRIBUTE_USER_ACCOUNT_CONTROL], 4u);
}

TEST(AccountReader, RejectsEntriesItCannotTrust) {
  LdapEntry e = SambaTombstone();
  e.attributes["objectguid"] = {"short"};
  EXPECT_THAT(std::string(EntryToDelta(e).status().message()),
              HasSubstr("objectGUID is 5 bytes"));
  e = SambaTombstone();
  e.attributes["objectsid"] = {"\x01\x09xx"};
  EXPECT_THAT(std::string(EntryToDelta(e).status().message()),
              HasSubstr("objectSid"));
  e = SambaTombstone();
  e.attributes["mail"] = {"bad\xc3"};
  EXPECT_THAT(std::string(EntryToDelta(e).status().message()),
              HasSubstr("mail is not valid UTF-8"));
  e = SambaTombstone();
  e.attributes.erase("replpropertymetadata");
  EXPECT_THAT(std::string(EntryToDelta(e).status().message()),
              HasSubstr("replPropertyMetaData is missing"));
  e = SambaTombstone();
  e.attributes["useraccountcontrol"] = {"x"};
  EXPECT_FALSE(EntryToDelta(e).ok());
}

// A directory with a fixed set of entries; records the searches it served.
class FakeDirectory : public Directory {
 public:
  absl::Status Connect() override { return absl::OkStatus(); }
  absl::StatusOr<RootDse> ReadRootDse() override {
    RootDse d;
    d.default_naming_context = "DC=district,DC=test";
    d.ds_service_name = "CN=NTDS Settings,CN=DC1";
    d.dns_host_name = "dc1.district.test";
    d.highest_committed_usn = 5000;
    d.supported_controls = {kChangeNotificationControlOid};
    return d;
  }
  absl::Status Search(const SearchRequest& r,
                      const EntryCallback& cb) override {
    searches.push_back(r);
    if (r.base == "CN=NTDS Settings,CN=DC1") {
      LdapEntry e;
      e.attributes["invocationid"] = {testing::TestGuid(77)};
      return cb(e);
    }
    if (r.show_deleted) return absl::OkStatus();
    for (int i = 0; i < entries; ++i) {
      LdapEntry e = SambaTombstone();
      e.attributes["isdeleted"] = {};
      e.attributes["objectguid"] = {testing::TestGuid(i + 1)};
      if (i == 3) e.attributes["objectguid"] = {"bad"};  // skipped, not fatal
      absl::Status s = cb(e);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status WatchForChanges(const std::string&,
                               const std::vector<std::string>&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<ChangeNotice> WaitForChange(absl::Duration) override {
    return ChangeNotice();
  }

  int entries = 0;
  std::vector<SearchRequest> searches;
};

class RecordingSink : public BatchSink {
 public:
  absl::Status Send(adsync::v1::Batch batch) override {
    batches.push_back(std::move(batch));
    return absl::OkStatus();
  }
  std::vector<adsync::v1::Batch> batches;
};

TEST(ChangeTracker, FullSyncStreamsBatchesFramedByBeginAndEnd) {
  FakeDirectory dir;
  dir.entries = 2501;
  RecordingSink sink;
  ChangeTracker tracker(&dir, &sink,
                        {.base_dns = {"OU=Schools,DC=district,DC=test"},
                         .max_deltas_per_batch = 1000});
  auto dc = tracker.ReadController();
  ASSERT_TRUE(dc.ok());
  EXPECT_EQ(dc->invocation_id, testing::TestGuid(77));
  EXPECT_TRUE(dc->offers_change_notification);
  auto stats = tracker.FullSync(*dc);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->deltas, 2500u);
  EXPECT_EQ(stats->skipped, 1u);
  ASSERT_EQ(sink.batches.size(), 3u);
  EXPECT_TRUE(sink.batches[0].full_sync_begin());
  EXPECT_FALSE(sink.batches[0].full_sync_end());
  EXPECT_FALSE(sink.batches[0].has_watermark());
  EXPECT_EQ(sink.batches[0].deltas_size(), 1000);
  EXPECT_TRUE(sink.batches[2].full_sync_end());
  EXPECT_EQ(sink.batches[2].deltas_size(), 500);
  EXPECT_EQ(sink.batches[2].watermark().usn(), 5000);
  EXPECT_EQ(sink.batches[2].watermark().invocation_id(), testing::TestGuid(77));
  EXPECT_EQ(dir.searches.back().base, "OU=Schools,DC=district,DC=test");
  EXPECT_EQ(dir.searches.back().page_size, 1000u);
}

TEST(ChangeTracker, EmptyDirectoryStillCompletesAFullSync) {
  FakeDirectory dir;
  RecordingSink sink;
  ChangeTracker tracker(&dir, &sink, {});
  auto stats = tracker.FullSync(*tracker.ReadController());
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(sink.batches.size(), 1u);
  EXPECT_TRUE(sink.batches[0].full_sync_begin());
  EXPECT_TRUE(sink.batches[0].full_sync_end());
}

TEST(ChangeTracker, IncrementalAsksForNewerUsnsAndTombstones) {
  FakeDirectory dir;
  dir.entries = 2;
  RecordingSink sink;
  ChangeTracker tracker(&dir, &sink, {});
  auto dc = tracker.ReadController();
  auto stats = tracker.Incremental(*dc, 4200);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->deltas, 2u);
  const SearchRequest& live = dir.searches[dir.searches.size() - 2];
  const SearchRequest& dead = dir.searches.back();
  EXPECT_EQ(live.base, "DC=district,DC=test");
  EXPECT_THAT(live.filter, HasSubstr("(uSNChanged>=4201)"));
  EXPECT_THAT(live.filter, HasSubstr("objectCategory=person"));
  EXPECT_TRUE(dead.show_deleted);
  EXPECT_THAT(dead.filter, HasSubstr("(isDeleted=TRUE)"));
  EXPECT_THAT(dead.filter, HasSubstr("(uSNChanged>=4201)"));
  ASSERT_EQ(sink.batches.size(), 1u);
  EXPECT_FALSE(sink.batches[0].full_sync_begin());
  EXPECT_EQ(sink.batches[0].watermark().usn(), 5000);
}

TEST(WindowsTask, QuotesLikeCommandLineToArgvW) {
  EXPECT_EQ(QuoteWindowsArgument("plain"), "plain");
  EXPECT_EQ(QuoteWindowsArgument("C:\\Program Files\\adsync\\agent.exe"),
            "\"C:\\Program Files\\adsync\\agent.exe\"");
  // A trailing backslash would escape the closing quote: it is doubled.
  EXPECT_EQ(QuoteWindowsArgument("C:\\My Dir\\"), "\"C:\\My Dir\\\\\"");
  EXPECT_EQ(QuoteWindowsArgument("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(QuoteWindowsArgument(""), "\"\"");
}

TEST(WindowsTask, PrintsProgramArgumentsAndSchtasks) {
  const std::string task =
      FormatWindowsTask("C:\\Program Files\\adsync\\adsync-agent.exe",
                        "C:\\ProgramData\\adsync\\agent config.textproto");
  EXPECT_THAT(
      task,
      HasSubstr(
          "Program/script:  \"C:\\Program Files\\adsync\\adsync-agent.exe\""));
  EXPECT_THAT(task,
              HasSubstr("Add arguments:   --config "
                        "\"C:\\ProgramData\\adsync\\agent config.textproto\""));
  EXPECT_THAT(
      task,
      HasSubstr(
          "/TR \"\\\"C:\\Program Files\\adsync\\adsync-agent.exe\\\" --config "
          "\\\"C:\\ProgramData\\adsync\\agent config.textproto\\\"\""));
}

// The required fields, with `coordinator` as given.
adsync::v1::AgentConfig MinimalAgentConfig(const std::string& coordinator) {
  adsync::v1::AgentConfig c;
  EXPECT_TRUE(
      ParseTextProto(
          R"pb(
            org_id: "5E1C3D4A-0000-4000-8000-000000000001"
            sync_key_file: "/k"
            domain: "DISTRICT"
            ldap { uri: "ldaps://dc1" bind_dn: "svc" password_file: "/p" }
          )pb",
          "t", &c)
          .ok());
  c.set_coordinator(coordinator);
  return c;
}

TEST(AgentConfig, RequiredFieldsAndDefaults) {
  adsync::v1::AgentConfig c;
  EXPECT_THAT(std::string(ResolveAgentConfig(c).status().message()),
              HasSubstr("coordinator is required"));
  c = MinimalAgentConfig("127.0.0.1:7443");
  auto resolved = ResolveAgentConfig(c);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->org_id(), "5e1c3d4a-0000-4000-8000-000000000001");
  EXPECT_EQ(resolved->ldap().page_size(), 1000u);
  EXPECT_EQ(resolved->poll_interval_seconds(), 3u);
  EXPECT_TRUE(resolved->change_notification());
  EXPECT_EQ(resolved->backstop_interval_seconds(), 60u);
  c.set_backstop_interval_seconds(3601);
  EXPECT_THAT(std::string(ResolveAgentConfig(c).status().message()),
              HasSubstr("backstop_interval_seconds is 3601; it must be at "
                        "most 3600"));
  c.set_backstop_interval_seconds(3600);
  EXPECT_TRUE(ResolveAgentConfig(c).ok());
  c.set_backstop_interval_seconds(0);
  c.mutable_ldap()->set_uri("http://dc1");
  EXPECT_THAT(std::string(ResolveAgentConfig(c).status().message()),
              HasSubstr("ldaps://"));
  c.mutable_ldap()->set_uri("ldaps://dc1");
  c.mutable_ldap()->set_page_size(5000);
  EXPECT_THAT(std::string(ResolveAgentConfig(c).status().message()),
              HasSubstr("MaxPageSize"));
  c.mutable_ldap()->set_page_size(0);
  c.set_org_id("nope");
  EXPECT_THAT(std::string(ResolveAgentConfig(c).status().message()),
              HasSubstr("org_id"));
}

TEST(AgentConfig, SeveralCoordinatorsSeparatedByCommas) {
  adsync::v1::AgentConfig c =
      MinimalAgentConfig(" c1.example.org:7443 ,c2.example.org:7443");
  auto resolved = ResolveAgentConfig(c);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->coordinator(), "c1.example.org:7443,c2.example.org:7443");
  EXPECT_THAT(
      CoordinatorAddresses(*resolved),
      ::testing::ElementsAre("c1.example.org:7443", "c2.example.org:7443"));
  for (const char* bad :
       {"c1:7443,,c2:7443", "c1:7443,", ",c1:7443", "c1:7443 c2:7443"}) {
    c.set_coordinator(bad);
    absl::Status s = ResolveAgentConfig(c).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("several separated by commas"))
        << bad;
  }
}

TEST(LdapErrors, ServerResultCodesMeanTheSameForEveryLibrary) {
  EXPECT_EQ(ClassifyLdapResultCode(49), LdapFailure::kBadCredentials);
  EXPECT_EQ(ClassifyLdapResultCode(8), LdapFailure::kNeedsEncryption);
  EXPECT_EQ(ClassifyLdapResultCode(13), LdapFailure::kNeedsEncryption);
  EXPECT_EQ(ClassifyLdapResultCode(32), LdapFailure::kNoSuchObject);
  EXPECT_EQ(ClassifyLdapResultCode(50), LdapFailure::kAccessDenied);
  EXPECT_EQ(ClassifyLdapResultCode(51), LdapFailure::kUnreachable);
  EXPECT_EQ(ClassifyLdapResultCode(52), LdapFailure::kUnreachable);
  EXPECT_EQ(ClassifyLdapResultCode(12), LdapFailure::kUnsupportedControl);
  EXPECT_EQ(ClassifyLdapResultCode(80), LdapFailure::kOther);
  absl::Status s = LdapFailureStatus(LdapFailure::kNoSuchObject, "searching x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("check ldap.base_dn"));
}

TEST(AgentConfig, NegotiateIsForTheWindowsAgent) {
  adsync::v1::AgentConfig c;
  ASSERT_TRUE(ParseTextProto(
                  R"pb(
                    coordinator: "127.0.0.1:7443"
                    org_id: "5e1c3d4a-0000-4000-8000-000000000001"
                    sync_key_file: "/k"
                    domain: "DISTRICT"
                    ldap { uri: "ldap://dc1" bind_method: "negotiate" }
                  )pb",
                  "t", &c)
                  .ok());
  absl::Status s = ResolveAgentConfig(c).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("negotiate is for adsync-agent.exe on Windows"));
  c.mutable_ldap()->set_bind_method("simple");
  c.mutable_ldap()->set_bind_dn("svc");
  c.mutable_ldap()->set_password_file("/p");
  c.mutable_ldap()->set_separate_certificate_check(true);
  EXPECT_THAT(std::string(ResolveAgentConfig(c).status().message()),
              HasSubstr("separate_certificate_check is for adsync-agent.exe"));
  c.mutable_ldap()->set_separate_certificate_check(false);
  c.mutable_ldap()->set_bind_method("kerberos");
  EXPECT_THAT(std::string(ResolveAgentConfig(c).status().message()),
              HasSubstr("must be simple, or gssapi"));
}

}  // namespace
}  // namespace adsync

namespace adsync {
namespace {

TEST(ControllerDomainTest, DnsNameComesFromTheNamingContext) {
  EXPECT_EQ(DnsNameOfNamingContext("DC=District,DC=Test"), "district.test");
  EXPECT_EQ(DnsNameOfNamingContext("dc=a, dc=b,DC=org"), "a.b.org");
  EXPECT_EQ(DnsNameOfNamingContext("OU=x,DC=a"), "a");
  EXPECT_EQ(DnsNameOfNamingContext(""), "");
}

TEST(ControllerDomainTest, FilterValuesAreEscaped) {
  EXPECT_EQ(EscapeFilterValue("DC=a,DC=b"), "DC=a,DC=b");
  EXPECT_EQ(EscapeFilterValue("a*(b)\\c"), "a\\2a\\28b\\29\\5cc");
  EXPECT_EQ(EscapeFilterValue(std::string("a\0b", 3)), "a\\00b");
}

}  // namespace
}  // namespace adsync

// --- The agent's life: its phases against a scripted coordinator ----------
//
// Agent sessions over real gRPC to an in-process coordinator that answers
// the Hello, acknowledges every batch and sends the role changes a test
// queues; the DC is a FakeDirectory the test changes while the agent runs.
// What is checked is what operators and the end-to-end tests see: the
// batches and heartbeats the coordinator gets, and the log lines.

namespace adsync {
namespace {

using ::testing::Contains;
using testing::ScriptedGateway;
using ::testing::StartsWith;

constexpr absl::Duration kPatience = absl::Seconds(10);
constexpr char kNtdsSettings[] = "CN=NTDS Settings,CN=DC1";

// The DC as every session of the agent sees it.
struct LiveDc {
  // Announces changes carrying `objects` (an entry without a DN names no
  // object).
  void Notify(std::vector<LdapEntry> objects) {
    absl::MutexLock lock(&mu);
    for (LdapEntry& o : objects) notified.push_back(std::move(o));
  }
  // ... carrying only the objects' DNs, as a DC that sent no attributes.
  void NotifyDns(const std::vector<std::string>& dns) {
    std::vector<LdapEntry> objects(dns.size());
    for (size_t i = 0; i < dns.size(); ++i) objects[i].dn = dns[i];
    Notify(std::move(objects));
  }
  // The objects read by DN: a live account or a tombstone.
  void Put(const std::string& dn, int guid, bool deleted) {
    LdapEntry e = SambaTombstone();
    e.dn = dn;
    e.attributes["objectguid"] = {testing::TestGuid(guid)};
    e.attributes["isdeleted"] = {deleted ? "TRUE" : ""};
    absl::MutexLock lock(&mu);
    objects[dn] = std::move(e);
  }

  std::atomic<int64_t> usn{5000};
  std::atomic<uint32_t> invocation{77};  // TestGuid(invocation)
  absl::Mutex mu;
  std::vector<LdapEntry> notified ABSL_GUARDED_BY(mu);  // not yet taken
  std::map<std::string, LdapEntry> objects ABSL_GUARDED_BY(mu);
  // The reads of single objects (base scope) the agent made.
  std::vector<SearchRequest> object_reads ABSL_GUARDED_BY(mu);
  std::atomic<bool> reads_fail{false};  // object reads: the DC went away
  // Each object read answers after this long (ms), or times out first (at
  // its own timeout, or the LDAP timeout, 30 s, when it has none).
  std::atomic<int> read_answer_ms{0};
  // Answers nothing, as when its packets are dropped: connecting fails, and
  // a probe waits until the DC answers again or its timeout runs out.
  std::atomic<bool> silent{false};
  std::atomic<int> probes_waiting{0};
  // A slow DC: every probe's answer takes this long (ms).
  std::atomic<int> probe_answer_ms{0};
  // The next wait for notifications finds the registration ended by the
  // DC (as Samba or AD end it: a SearchResultDone with an error).
  std::atomic<bool> end_registration{false};
  // ... finds the connection lost instead.
  std::atomic<bool> lose_connection{false};
  std::atomic<int> registrations{0};  // WatchForChanges calls that took
};

// FakeDirectory reading `dc`, and waiting for changes the way a real one
// does (not returning at once, which would spin the agent's loop).
class LiveDirectory : public FakeDirectory {
 public:
  // `watch_error`: what WatchForChanges says (OK: it registers).
  LiveDirectory(LiveDc* dc, absl::Status watch_error)
      : dc_(dc), watch_error_(std::move(watch_error)) {
    entries = 2;
  }

  absl::Status Connect() override {
    if (dc_->silent) {
      return absl::UnavailableError("connecting to the DC timed out");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> ProbeLiveness(absl::Duration timeout) override {
    const absl::Duration answer =
        absl::Milliseconds(dc_->probe_answer_ms.load());
    if (answer > timeout) {
      absl::SleepFor(timeout);
      return absl::UnavailableError("reading the rootDSE timed out");
    }
    const absl::Time deadline = absl::Now() + timeout;
    ++dc_->probes_waiting;
    while (dc_->silent && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    --dc_->probes_waiting;
    if (dc_->silent) {
      return absl::UnavailableError("reading the rootDSE timed out");
    }
    absl::SleepFor(answer);
    return dc_->usn.load();
  }
  absl::StatusOr<RootDse> ReadRootDse() override {
    absl::StatusOr<RootDse> dse = FakeDirectory::ReadRootDse();
    if (dse.ok()) dse->highest_committed_usn = dc_->usn;
    return dse;
  }
  absl::Status Search(const SearchRequest& r,
                      const EntryCallback& cb) override {
    if (r.base == kNtdsSettings) {
      LdapEntry e;
      e.attributes["invocationid"] = {testing::TestGuid(dc_->invocation)};
      return cb(e);
    }
    // The test's objects (CN=...): found by DN, a live account only
    // without Show Deleted, a tombstone only with it, as the filters ask.
    if (r.subtree || !absl::StartsWith(r.base, "CN=")) {
      return FakeDirectory::Search(r, cb);
    }
    if (dc_->reads_fail) return absl::UnavailableError("the DC went away");
    {
      absl::MutexLock lock(&dc_->mu);
      dc_->object_reads.push_back(r);
    }
    const absl::Duration answer =
        absl::Milliseconds(dc_->read_answer_ms.load());
    const absl::Duration timeout =
        r.timeout > absl::ZeroDuration() ? r.timeout : absl::Seconds(30);
    if (answer > timeout) {
      absl::SleepFor(timeout);
      return absl::UnavailableError(
          absl::StrCat("searching ", r.base, ": Timed out"));
    }
    absl::SleepFor(answer);
    LdapEntry found;
    {
      absl::MutexLock lock(&dc_->mu);
      auto it = dc_->objects.find(r.base);
      if (it == dc_->objects.end()) {
        return absl::NotFoundError(absl::StrCat("no such object ", r.base));
      }
      found = it->second;
    }
    const bool deleted = found.First("isdeleted") == "TRUE";
    if (deleted != r.show_deleted) return absl::OkStatus();
    return cb(found);
  }
  absl::Status WatchForChanges(const std::string&,
                               const std::vector<std::string>&) override {
    if (watch_error_.ok()) ++dc_->registrations;
    return watch_error_;
  }
  absl::StatusOr<ChangeNotice> WaitForChange(absl::Duration timeout) override {
    if (dc_->end_registration.exchange(false)) {
      return RegistrationEndedError(absl::UnavailableError(
          "change notification ended on ldaps://dc1.district.test: "
          "adminLimitExceeded"));
    }
    if (dc_->lose_connection.exchange(false)) {
      return absl::UnavailableError(
          "waiting for change notifications on ldaps://dc1.district.test: "
          "Can't contact LDAP server");
    }
    const absl::Time until = absl::Now() + timeout;
    ChangeNotice notice;
    while (true) {  // looks once even with a zero timeout, as ldap_result
      {
        absl::MutexLock lock(&dc_->mu);
        for (LdapEntry& o : dc_->notified) notice.Add(std::move(o));
        dc_->notified.clear();
      }
      if (notice.changed || absl::Now() >= until) return notice;
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

 private:
  LiveDc* const dc_;
  const absl::Status watch_error_;
};

// The coordinator's side: answers the Hello with `hello`, acknowledges
// every batch, and sends what the test queued as soon as the agent next
// writes (a heartbeat at least every heartbeat_interval_ms).
class ScriptedCoordinator {
 public:
  explicit ScriptedCoordinator(adsync::v1::HelloResult hello)
      : hello_(std::move(hello)) {}

  std::string target() const { return gateway_.target(); }

  void Queue(adsync::v1::RoleChange change) {
    absl::MutexLock lock(&mu_);
    queued_.push_back(testing::RoleChangeMessage(std::move(change)));
  }
  std::vector<adsync::v1::AgentMessage> Received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  std::vector<adsync::v1::Batch> Batches() {
    std::vector<adsync::v1::Batch> batches;
    for (const auto& m : Received())
      if (m.has_batch()) batches.push_back(m.batch());
    return batches;
  }
  int Hellos() {
    int n = 0;
    for (const auto& m : Received()) n += m.has_hello();
    return n;
  }
  // Waits until `n` more heartbeats than now arrived: time passing, in the
  // agent's own turns.
  bool WaitForMoreHeartbeats(int n) {
    absl::MutexLock lock(&mu_);
    auto count = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      int seen = 0;
      for (const auto& m : received_) seen += m.has_heartbeat();
      return seen;
    };
    const int target = count() + n;
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return count() >= target;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kPatience);
  }
  // Waits until a heartbeat reports `usn`.
  bool WaitForHeartbeat(int64_t usn) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& m : received_) {
        if (m.has_heartbeat() && m.heartbeat().highest_committed_usn() == usn) {
          return true;
        }
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kPatience);
  }

 private:
  grpc::Status Serve(ScriptedGateway::Stream* stream) {
    adsync::v1::AgentMessage m;
    if (!stream->Read(&m)) return grpc::Status::OK;
    Record(m);
    stream->Write(testing::HelloResultMessage(hello_));
    while (stream->Read(&m)) {
      Record(m);
      if (m.has_batch())
        stream->Write(testing::AckMessage(m.batch().sequence()));
      std::vector<adsync::v1::CoordinatorMessage> queued;
      {
        absl::MutexLock lock(&mu_);
        queued.swap(queued_);
      }
      for (const auto& q : queued) stream->Write(q);
    }
    return grpc::Status::OK;
  }
  void Record(const adsync::v1::AgentMessage& m) {
    absl::MutexLock lock(&mu_);
    received_.push_back(m);
  }

  const adsync::v1::HelloResult hello_;
  absl::Mutex mu_;
  std::vector<adsync::v1::AgentMessage> received_ ABSL_GUARDED_BY(mu_);
  std::vector<adsync::v1::CoordinatorMessage> queued_ ABSL_GUARDED_BY(mu_);
  // Last: stops serving before the rest goes.
  ScriptedGateway gateway_{
      [this](ScriptedGateway::Stream* stream) { return Serve(stream); }};
};

// The agent's log lines, without their time stamps, while it lives.
class LogLines {
 public:
  LogLines() {
    SetLogSink([this](LogLevel, const std::string& line) {
      absl::MutexLock lock(&mu_);
      lines_.push_back(line.substr(line.find(' ') + 1));
    });
  }
  ~LogLines() { SetLogSink(nullptr); }

  std::vector<std::string> All() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  int Count(absl::string_view prefix) {
    int n = 0;
    for (const std::string& line : All()) n += absl::StartsWith(line, prefix);
    return n;
  }
  // Waits until `n` lines start with `prefix`.
  bool WaitFor(absl::string_view prefix, int n = 1) {
    absl::MutexLock lock(&mu_);
    auto logged = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      int seen = 0;
      for (const std::string& line : lines_)
        seen += absl::StartsWith(line, prefix);
      return seen >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&logged), kPatience);
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

adsync::v1::HelloResult HelloAs(adsync::v1::Role role, uint64_t epoch) {
  adsync::v1::HelloResult r;
  r.set_sync_id("sync-1");
  r.set_role(role);
  r.set_lease_epoch(epoch);
  r.set_max_unacked_batches(4);
  r.set_heartbeat_interval_ms(100);
  r.set_lease_ttl_ms(2000);
  return r;
}
adsync::v1::HelloResult FullSyncRequired() {
  adsync::v1::HelloResult r = HelloAs(adsync::v1::ROLE_PRIMARY, 1);
  r.set_full_sync_required(true);
  r.set_full_sync_reason("no watermark yet");
  return r;
}
adsync::v1::HelloResult ResumeFrom(uint32_t invocation, int64_t usn) {
  adsync::v1::HelloResult r = HelloAs(adsync::v1::ROLE_PRIMARY, 1);
  r.mutable_resume_from()->set_invocation_id(testing::TestGuid(invocation));
  r.mutable_resume_from()->set_usn(usn);
  return r;
}

class AgentTest : public ::testing::Test {
 protected:
  Agent MakeAgent(const std::string& target, bool change_notification = true,
                  int poll_interval_seconds = 1,
                  int backstop_interval_seconds = 1) {
    adsync::v1::AgentConfig c;
    c.set_coordinator(target);
    c.set_org_id("6f1c2a7e-8d3b-4c5a-9e0f-1a2b3c4d5e6f");
    c.set_sync_key_file("/unused");
    c.set_domain("DISTRICT");
    c.mutable_ldap()->set_uri("ldaps://dc1.district.test");
    c.mutable_ldap()->set_bind_dn("svc");
    c.mutable_ldap()->set_password_file("/unused");
    c.set_poll_interval_seconds(poll_interval_seconds);
    c.set_backstop_interval_seconds(backstop_interval_seconds);
    c.set_change_notification(change_notification);
    auto config = ResolveAgentConfig(c);
    EXPECT_TRUE(config.ok()) << config.status();
    AgentSecrets secrets;
    secrets.sync_key = "key-1";
    return Agent(*config, secrets, [this]() -> std::unique_ptr<Directory> {
      return std::make_unique<LiveDirectory>(&dc_, watch_error_);
    });
  }

  void TearDown() override {
    if (!expect_interruptions_) {
      EXPECT_EQ(log_.Count("error sync interrupted"), 0);
    }
  }

  // An agent that searches for all changes only every ten minutes: only a
  // notification explains a search.
  Agent NotificationOnlyAgent(const std::string& target) {
    return MakeAgent(target, /*change_notification=*/true,
                     /*poll_interval_seconds=*/600,
                     /*backstop_interval_seconds=*/600);
  }
  // Waits until the agent resuming from USN 5000 follows changes, past its
  // first look (a heartbeat comes only after it).
  bool AwaitFollowing(ScriptedCoordinator& coordinator) {
    return log_.WaitFor("info following changes") &&
           coordinator.WaitForHeartbeat(5000);
  }
  // Changes jane's account (TestGuid(1)) and notifies it by DN; returns
  // the DN.
  std::string NotifyJaneChanged() {
    const std::string jane = "CN=jane,DC=district,DC=test";
    dc_.Put(jane, 1, /*deleted=*/false);
    dc_.NotifyDns({jane});
    return jane;
  }

  // Waits until the agent follows changes, then makes it a standby (epoch
  // 2) and waits until it is one.
  bool FollowThenStandBy(ScriptedCoordinator& coordinator) {
    if (!log_.WaitFor("info following changes")) return false;
    adsync::v1::RoleChange demoted;
    demoted.set_role(adsync::v1::ROLE_STANDBY);
    demoted.set_lease_epoch(2);
    coordinator.Queue(demoted);
    return log_.WaitFor("info standby epoch=2");
  }

  // Announces a change on the DC, by a notification that names no object.
  void Change(int64_t usn) {
    dc_.usn = usn;
    dc_.NotifyDns({""});
  }

  LogLines log_;
  LiveDc dc_;
  absl::Status watch_error_;
  bool expect_interruptions_ = false;  // a test breaks the stream on purpose
};

// host:port where nothing listens (a port the kernel just handed out).
std::string DeadTarget() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  close(fd);
  return absl::StrCat("127.0.0.1:", ntohs(a.sin_port));
}

// An agent running (RunForever) on its own thread until destroyed; declared
// after its coordinator, so it stops first.
class RunningAgent {
 public:
  explicit RunningAgent(Agent agent) : agent_(std::move(agent)) {}
  ~RunningAgent() {
    stop_ = true;
    thread_.join();
  }

 private:
  Agent agent_;
  std::atomic<bool> stop_{false};
  std::thread thread_{[this] { agent_.RunForever(&stop_); }};  // last
};

TEST_F(AgentTest, RunOnceSendsTheHelloThenAFullSyncWhenAsked) {
  ScriptedCoordinator coordinator(FullSyncRequired());
  ASSERT_TRUE(MakeAgent(coordinator.target()).RunOnce().ok());
  const auto received = coordinator.Received();
  ASSERT_GE(received.size(), 2u);
  const adsync::v1::Hello& hello = received[0].hello();
  EXPECT_EQ(hello.org_id(), "6f1c2a7e-8d3b-4c5a-9e0f-1a2b3c4d5e6f");
  EXPECT_EQ(hello.sync_key(), "key-1");
  EXPECT_EQ(hello.controller(), "dc1.district.test");
  EXPECT_EQ(hello.invocation_id(), testing::TestGuid(77));
  EXPECT_EQ(hello.domain_netbios_name(), "DISTRICT");  // the DC has no crossRef
  EXPECT_EQ(hello.domain_dns_name(), "district.test");
  EXPECT_EQ(hello.position().highest_committed_usn(), 5000);
  const auto batches = coordinator.Batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_TRUE(batches[0].full_sync_begin());
  EXPECT_TRUE(batches[0].full_sync_end());
  EXPECT_EQ(batches[0].deltas_size(), 2);
  EXPECT_EQ(batches[0].watermark().usn(), 5000);
  EXPECT_THAT(log_.All(),
              Contains(StartsWith(absl::StrCat(
                  "info connected controller=dc1.district.test invocation_id=",
                  *GuidBinaryToString(testing::TestGuid(77)),
                  " sync=sync-1 full_sync=no watermark yet"))));
  EXPECT_EQ(log_.Count("info full sync done deltas=2 skipped=0 usn=5000 "), 1);
  EXPECT_EQ(log_.Count("info following changes"), 0);
}

TEST_F(AgentTest, RunOnceCatchesUpFromTheCoordinatorsWatermarkForThisDc) {
  ScriptedCoordinator behind(ResumeFrom(77, 4200));
  ASSERT_TRUE(MakeAgent(behind.target()).RunOnce().ok());
  auto batches = behind.Batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_FALSE(batches[0].full_sync_begin());
  EXPECT_EQ(batches[0].deltas_size(), 2);
  EXPECT_EQ(batches[0].watermark().usn(), 5000);
  EXPECT_EQ(log_.Count("info caught up deltas=2 skipped=0 usn=5000 "), 1);

  // Already there: nothing to send, nothing to log.
  ScriptedCoordinator current(ResumeFrom(77, 5000));
  ASSERT_TRUE(MakeAgent(current.target()).RunOnce().ok());
  EXPECT_TRUE(current.Batches().empty());
  EXPECT_EQ(log_.Count("info caught up"), 1);

  // A watermark another DC (or this one before a restore) issued means
  // nothing here: a full sync.
  ScriptedCoordinator other(ResumeFrom(78, 4200));
  ASSERT_TRUE(MakeAgent(other.target()).RunOnce().ok());
  batches = other.Batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_TRUE(batches[0].full_sync_begin());
  EXPECT_EQ(log_.Count("info full sync done deltas=2 skipped=0 usn=5000 "), 1);
  EXPECT_EQ(log_.Count("info following changes"), 0);
}

TEST_F(AgentTest, RunOnceAsStandbyDoesNothing) {
  ScriptedCoordinator coordinator(HelloAs(adsync::v1::ROLE_STANDBY, 4));
  ASSERT_TRUE(MakeAgent(coordinator.target()).RunOnce().ok());
  EXPECT_TRUE(coordinator.Batches().empty());
  EXPECT_EQ(
      log_.Count(
          "info standby: another agent is primary for this domain; nothing to "
          "do"),
      1);
}

TEST_F(AgentTest, ConnectsToTheFirstCoordinatorThatAnswers) {
  ScriptedCoordinator live(FullSyncRequired());
  const std::string dead = DeadTarget();
  ASSERT_TRUE(MakeAgent(absl::StrCat(dead, ",", live.target())).RunOnce().ok());
  ASSERT_FALSE(live.Received().empty());
  EXPECT_TRUE(live.Received()[0].has_hello());
  EXPECT_EQ(live.Batches().size(), 1u);
  EXPECT_EQ(log_.Count(absl::StrCat(
                "warning coordinator unavailable, trying the next coordinator=",
                dead, " ")),
            1);
  EXPECT_EQ(log_.Count("info connected "), 1);
  EXPECT_THAT(log_.All(), Contains(::testing::EndsWith(
                              absl::StrCat(" coordinator=", live.target()))));
}

TEST_F(AgentTest, NoCoordinatorAnsweringFailsNamingTheLastError) {
  const std::string dead1 = DeadTarget(), dead2 = DeadTarget();
  absl::Status s = MakeAgent(absl::StrCat(dead1, ",", dead2)).RunOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(log_.Count("warning coordinator unavailable, trying the next"), 2);
}

TEST_F(AgentTest, MovesToTheNextCoordinatorWhenItsStreamBreaks) {
  expect_interruptions_ = true;
  auto first = std::make_unique<ScriptedCoordinator>(FullSyncRequired());
  ScriptedCoordinator second(FullSyncRequired());
  auto agent = std::make_unique<RunningAgent>(
      MakeAgent(absl::StrCat(first->target(), ",", second.target())));
  ASSERT_TRUE(log_.WaitFor("info following changes"));
  EXPECT_TRUE(second.Received().empty());
  first.reset();  // the coordinator's machine goes away
  ASSERT_TRUE(log_.WaitFor("info following changes", 2));
  ASSERT_FALSE(second.Received().empty());
  EXPECT_TRUE(second.Received()[0].has_hello());
  // Straight to the second: the dead one was not tried first.
  EXPECT_EQ(log_.Count("warning coordinator unavailable"), 0);
  agent.reset();
}

TEST_F(AgentTest, FollowsChangesThroughDemotionAndPromotion) {
  ScriptedCoordinator coordinator(FullSyncRequired());
  auto agent = std::make_unique<RunningAgent>(MakeAgent(coordinator.target()));
  ASSERT_TRUE(log_.WaitFor("info full sync done deltas=2 skipped=0 usn=5000 "));
  ASSERT_TRUE(log_.WaitFor(
      "info following changes mode=change notification, and a search for all "
      "changes every 1s"));

  Change(5100);
  ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=5100 "));
  auto batches = coordinator.Batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_FALSE(batches[1].full_sync_begin());
  EXPECT_EQ(batches[1].watermark().usn(), 5100);
  EXPECT_EQ(batches[1].lease_epoch(), 1u);

  adsync::v1::RoleChange demoted;
  demoted.set_role(adsync::v1::ROLE_STANDBY);
  demoted.set_lease_epoch(2);
  demoted.set_reason("another agent holds the lease");
  coordinator.Queue(demoted);
  ASSERT_TRUE(log_.WaitFor(
      "warning demoted to standby reason=another agent holds the lease"));
  ASSERT_TRUE(log_.WaitFor("info standby epoch=2"));
  // A standby keeps reading its DC, so status can show its lag.
  dc_.usn = 5200;
  ASSERT_TRUE(coordinator.WaitForHeartbeat(5200));
  EXPECT_EQ(coordinator.Batches().size(), 2u);

  adsync::v1::RoleChange promoted;
  promoted.set_role(adsync::v1::ROLE_PRIMARY);
  promoted.set_lease_epoch(3);
  promoted.set_reason("the primary's lease expired");
  promoted.mutable_resume_from()->set_invocation_id(testing::TestGuid(77));
  promoted.mutable_resume_from()->set_usn(5100);
  coordinator.Queue(promoted);
  ASSERT_TRUE(log_.WaitFor(
      "warning promoted to primary epoch=3 reason=the primary's lease "
      "expired"));
  ASSERT_TRUE(log_.WaitFor("info caught up deltas=2 skipped=0 usn=5200 "));
  batches = coordinator.Batches();
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_FALSE(batches[2].full_sync_begin());
  EXPECT_EQ(batches[2].lease_epoch(), 3u);
  EXPECT_EQ(batches[2].watermark().usn(), 5200);

  // Back to following: the registration made at first still holds.
  Change(5300);
  ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=5300 "));
  agent.reset();
  EXPECT_EQ(log_.Count("info following changes"), 1);
  EXPECT_EQ(log_.Count("info full sync done"), 1);
}

TEST_F(AgentTest, ARestoredDcIsSyncedInFullAndFollowedUnderItsNewIdentity) {
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
  RunningAgent agent(MakeAgent(coordinator.target()));
  // Past the first look at the DC, which would otherwise see the new
  // identity before the new USN (ASan's timing showed it).
  ASSERT_TRUE(AwaitFollowing(coordinator));
  dc_.invocation = 99;
  Change(6000);
  ASSERT_TRUE(log_.WaitFor(
      "warning the DC's invocationId changed (restored from backup?); full "
      "sync"));
  ASSERT_TRUE(log_.WaitFor("info full sync done deltas=2 skipped=0 usn=6000 "));
  Change(6100);
  ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=6100 "));
  const auto batches = coordinator.Batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_TRUE(batches[0].full_sync_begin());
  EXPECT_EQ(batches[0].watermark().invocation_id(), testing::TestGuid(99));
  EXPECT_EQ(batches[0].watermark().usn(), 6000);
  EXPECT_FALSE(batches[1].full_sync_begin());
  EXPECT_EQ(batches[1].watermark().invocation_id(), testing::TestGuid(99));
  EXPECT_EQ(batches[1].watermark().usn(), 6100);
}

TEST_F(AgentTest, PollsWhenChangeNotificationIsOffOrRefused) {
  {
    ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
    // Polled every second: the backstop interval is for notifications.
    RunningAgent agent(MakeAgent(coordinator.target(),
                                 /*change_notification=*/false,
                                 /*poll_interval_seconds=*/1,
                                 /*backstop_interval_seconds=*/600));
    ASSERT_TRUE(log_.WaitFor("info following changes mode=polling every 1s"));
    // Past the first look (a heartbeat comes only after it), a change with
    // no notification waits for the next poll.
    ASSERT_TRUE(coordinator.WaitForHeartbeat(5000));
    dc_.usn = 5100;
    ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=5100 "));
  }
  watch_error_ = absl::UnimplementedError("the DC refused the control");
  ScriptedCoordinator coordinator(ResumeFrom(77, 5100));
  RunningAgent agent(MakeAgent(coordinator.target(),
                               /*change_notification=*/true,
                               /*poll_interval_seconds=*/1,
                               /*backstop_interval_seconds=*/600));
  ASSERT_TRUE(log_.WaitFor(
      "warning change notification unavailable reason=the DC refused the "
      "control"));
  ASSERT_TRUE(log_.WaitFor("info following changes mode=polling every 1s", 2));
  ASSERT_TRUE(coordinator.WaitForHeartbeat(5100));
  dc_.usn = 5200;
  ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=5200 "));
}

LdapEntry Named(std::string dn) {
  LdapEntry e;
  e.dn = std::move(dn);
  return e;
}

TEST(ChangeNotice, TrustsOnlyAFewObjectsWithNamesOfSaneLength) {
  ChangeNotice named;
  EXPECT_FALSE(named.changed);
  named.Add(Named("CN=jane,DC=district,DC=test"));
  EXPECT_TRUE(named.changed);
  EXPECT_TRUE(named.complete);
  ASSERT_EQ(named.objects.size(), 1u);
  EXPECT_EQ(named.objects[0].dn, "CN=jane,DC=district,DC=test");

  ChangeNotice unnamed;
  unnamed.Add(LdapEntry());
  EXPECT_TRUE(unnamed.changed);
  EXPECT_FALSE(unnamed.complete);
  ChangeNotice huge;
  huge.Add(Named(std::string(ChangeNotice::kMaxDnBytes + 1, 'x')));
  EXPECT_FALSE(huge.complete);
  EXPECT_TRUE(huge.objects.empty());
  ChangeNotice many;
  for (size_t i = 0; i <= ChangeNotice::kMaxNoticedObjects; ++i) {
    many.Add(Named(absl::StrCat("CN=u", i)));
  }
  EXPECT_FALSE(many.complete);
  EXPECT_EQ(many.objects.size(), ChangeNotice::kMaxNoticedObjects);
}

TEST(ControllerDomainTest, ScopeIgnoresCaseAndSpacesAfterCommas) {
  EXPECT_TRUE(IsUnderDn("CN=jane,OU=Schools,DC=district,DC=test",
                        "ou=schools, dc=District, dc=test"));
  EXPECT_TRUE(IsUnderDn("OU=Schools,DC=district,DC=test",
                        "OU=Schools,DC=district,DC=test"));
  EXPECT_FALSE(IsUnderDn("CN=jane,OU=OldSchools,DC=district,DC=test",
                         "OU=Schools,DC=district,DC=test"));
  EXPECT_FALSE(
      IsUnderDn("DC=district,DC=test", "OU=Schools,DC=district,DC=test"));
  EXPECT_FALSE(IsUnderDn("CN=jane,DC=district,DC=test", ""));
  // An escaped comma is part of a name, not a step up the tree.
  EXPECT_FALSE(IsUnderDn("CN=x\\,OU=Students,OU=School1,DC=district,DC=test",
                         "OU=Students,OU=School1,DC=district,DC=test"));
  EXPECT_TRUE(IsUnderDn("CN=x\\\\,OU=Students,OU=School1,DC=district,DC=test",
                        "OU=Students,OU=School1,DC=district,DC=test"));
  EXPECT_TRUE(IsUnderDn("CN=x\\,y,OU=Students,OU=School1,DC=district,DC=test",
                        "OU=Students,OU=School1,DC=district,DC=test"));
}

TEST(ControllerDomainTest, ScopeDecodesEscapesHowEverTheyAreWritten) {
  // The DC writes "\,"; an operator's base_dn may say "\2C" (or "\2c").
  EXPECT_TRUE(IsUnderDn("CN=jane,OU=Smith\\, Jones,DC=district,DC=test",
                        "OU=Smith\\2C Jones,DC=district,DC=test"));
  EXPECT_TRUE(IsUnderDn("CN=jane,OU=Smith\\2c Jones,DC=district,DC=test",
                        "OU=Smith\\, Jones,DC=district,DC=test"));
  // A hex-escaped comma is part of a name, as an escaped one is.
  EXPECT_FALSE(IsUnderDn("CN=x\\2COU=Students,DC=district,DC=test",
                         "OU=Students,DC=district,DC=test"));
  // Any character may be hex-escaped; a backslash so escaped is one.
  EXPECT_TRUE(IsUnderDn("CN=jane,OU=\\53chools,DC=district,DC=test",
                        "OU=Schools,DC=district,DC=test"));
  EXPECT_TRUE(IsUnderDn("CN=jane,OU=a\\5C\\2Cb,DC=district,DC=test",
                        "OU=a\\\\\\,b,DC=district,DC=test"));
  EXPECT_FALSE(IsUnderDn("CN=jane,OU=a\\5C,b,DC=district,DC=test",
                         "OU=a\\5C\\2Cb,DC=district,DC=test"));
  // An escaped space is part of the value; a space after a comma is not.
  EXPECT_FALSE(IsUnderDn("CN=jane,OU=\\ Schools,DC=district,DC=test",
                         "OU=Schools,DC=district,DC=test"));
  // AD escapes "=" in a value; an operator may not.
  EXPECT_TRUE(IsUnderDn("CN=jane,OU=a\\=b,DC=district,DC=test",
                        "OU=a=b,DC=district,DC=test"));
  // A backslash, hex-escaped, then an escaped comma: all one name.
  EXPECT_FALSE(IsUnderDn("CN=x\\5C\\,OU=Students,DC=district,DC=test",
                         "OU=Students,DC=district,DC=test"));
  // A hex-escaped backslash ends the name; the comma after it separates.
  EXPECT_TRUE(IsUnderDn("CN=x\\5C,OU=Students,DC=district,DC=test",
                        "OU=Students,DC=district,DC=test"));
  // Odd endings are compared, not read past.
  EXPECT_TRUE(IsUnderDn("CN=\\00x,OU=Students,DC=district,DC=test",
                        "OU=Students,DC=district,DC=test"));
  EXPECT_FALSE(IsUnderDn("OU=Students,DC=district,DC=test\\",
                         "OU=Students,DC=district,DC=test"));
  EXPECT_FALSE(IsUnderDn("OU=Students,DC=district,DC=test\\4",
                         "OU=Students,DC=district,DC=test"));
  EXPECT_FALSE(IsUnderDn("CN=x,OU=Students", "OU=Students\\"));
}

TEST(ControllerDomainTest, ScopePropertiesHoldForRandomSpellings) {
  // DNs built from the characters escapes are made of, and suffixes of one
  // another, so that the properties are tested where they could break.
  std::mt19937 random(20261127);
  const std::string alphabet = ",\\=+ ;\"<>#2CcaA5O0U";
  auto random_dn = [&](size_t max) {
    std::string dn;
    const size_t n = random() % (max + 1);
    for (size_t i = 0; i < n; ++i) dn += alphabet[random() % alphabet.size()];
    return dn;
  };
  for (int i = 0; i < 200000; ++i) {
    const std::string top = random_dn(6);
    const std::string base = random_dn(6) + (random() % 2 ? "," + top : top);
    const std::string object =
        random_dn(6) + (random() % 2 ? "," + base : base);
    ASSERT_TRUE(testing::DnScopeHolds(object, base, top))
        << "object [" << object << "] base [" << base << "] top [" << top
        << "]";
  }
}

// An object as a notification carries it (NotificationAttributes).
LdapEntry Notified(std::string dn, int guid,
                   std::vector<std::string> object_classes,
                   std::string category, bool deleted = false) {
  LdapEntry e = SambaTombstone();
  e.dn = std::move(dn);
  e.attributes["objectguid"] = {testing::TestGuid(guid)};
  e.attributes["isdeleted"] = {deleted ? "TRUE" : "FALSE"};
  e.attributes["objectclass"] = std::move(object_classes);
  if (!category.empty()) {
    e.attributes["objectcategory"] = {absl::StrCat(
        "CN=", category, ",CN=Schema,CN=Configuration,DC=district,DC=test")};
  }
  return e;
}

TEST(ChangeTracker, JudgesNotifiedObjectsByTheDefaultFilterWithoutReading) {
  LiveDc dc;
  LiveDirectory dir(&dc, absl::OkStatus());
  RecordingSink sink;
  ChangeTracker tracker(&dir, &sink,
                        {.base_dns = {"OU=Schools,DC=district,DC=test"}});
  absl::StatusOr<ControllerState> controller = tracker.ReadController();
  ASSERT_TRUE(controller.ok()) << controller.status();
  const std::vector<std::string> user = {"top", "person",
                                         "organizationalPerson", "User"};
  const std::vector<std::string> computer = {
      "top", "person", "organizationalPerson", "user", "computer"};
  absl::StatusOr<CycleStats> stats = tracker.SendNotified(
      *controller,
      {Notified("CN=jane,OU=Schools,DC=district,DC=test", 1, user, "Person"),
       Notified("CN=bob,OU=Staff,DC=district,DC=test", 2, user, "Person"),
       Notified("CN=pc1,OU=Schools,DC=district,DC=test", 3, computer,
                "Computer"),
       Notified("CN=staff,OU=Schools,DC=district,DC=test", 4, {"top", "group"},
                "Group"),
       Notified("CN=kim\\0ADEL:5,CN=Deleted Objects,DC=district,DC=test", 5,
                user, "", /*deleted=*/true),
       Notified("CN=pc2\\0ADEL:6,CN=Deleted Objects,DC=district,DC=test", 6,
                computer, "", /*deleted=*/true)});
  ASSERT_TRUE(stats.ok()) << stats.status();
  // Jane (a person in scope) and kim's tombstone; not bob (outside the
  // bases), the computers or the group.
  ASSERT_EQ(sink.batches.size(), 1u);
  const adsync::v1::Batch& batch = sink.batches[0];
  EXPECT_FALSE(batch.has_watermark());
  ASSERT_EQ(batch.deltas_size(), 2);
  EXPECT_EQ(batch.deltas(0).object_guid(), testing::TestGuid(1));
  EXPECT_FALSE(batch.deltas(0).deleted());
  EXPECT_EQ(batch.deltas(1).object_guid(), testing::TestGuid(5));
  EXPECT_TRUE(batch.deltas(1).deleted());
  absl::MutexLock lock(&dc.mu);
  EXPECT_TRUE(dc.object_reads.empty());
}

TEST(ChangeTracker, ReadsNotifiedObjectsByDnWhenOnlyTheDcCanJudgeThem) {
  LiveDc dc;
  LiveDirectory dir(&dc, absl::OkStatus());
  RecordingSink sink;
  ChangeTracker tracker(&dir, &sink,
                        {.base_dns = {"OU=Schools,DC=district,DC=test"}});
  const std::string live = "CN=jane,OU=Schools,DC=district,DC=test";
  const std::string outside = "CN=bob,OU=Staff,DC=district,DC=test";
  const std::string tombstone =
      "CN=kim\\0ADEL:1,CN=Deleted Objects,DC=district,DC=test";
  const std::string gone = "CN=gone,OU=Schools,DC=district,DC=test";
  dc.Put(live, 1, /*deleted=*/false);
  dc.Put(outside, 2, /*deleted=*/false);
  dc.Put(tombstone, 3, /*deleted=*/true);
  absl::StatusOr<ControllerState> controller = tracker.ReadController();
  ASSERT_TRUE(controller.ok()) << controller.status();

  // Objects without their classes (as a DC that sent no attributes), and
  // one with them under a filter of the operator's.
  absl::StatusOr<CycleStats> stats = tracker.SendNotified(
      *controller,
      {Named(live), Named(outside), Named(tombstone), Named(gone)});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->deltas, 2u);
  ASSERT_EQ(sink.batches.size(), 1u);
  const adsync::v1::Batch& batch = sink.batches[0];
  EXPECT_FALSE(batch.has_watermark());
  EXPECT_FALSE(batch.full_sync_begin());
  ASSERT_EQ(batch.deltas_size(), 2);
  EXPECT_EQ(batch.deltas(0).object_guid(), testing::TestGuid(1));
  EXPECT_FALSE(batch.deltas(0).deleted());
  EXPECT_EQ(batch.deltas(1).object_guid(), testing::TestGuid(3));
  EXPECT_TRUE(batch.deltas(1).deleted());
  {
    absl::MutexLock lock(&dc.mu);
    // In scope: read by the account filter, then (not found live) as a
    // tombstone; outside the bases: only as a tombstone.
    ASSERT_EQ(dc.object_reads.size(), 5u);
    EXPECT_EQ(dc.object_reads[0].base, live);
    EXPECT_FALSE(dc.object_reads[0].subtree);
    EXPECT_FALSE(dc.object_reads[0].show_deleted);
    EXPECT_EQ(dc.object_reads[0].filter, kDefaultAccountFilter);
    EXPECT_EQ(dc.object_reads[1].base, outside);
    EXPECT_TRUE(dc.object_reads[1].show_deleted);
    EXPECT_THAT(dc.object_reads[1].filter, HasSubstr("(isDeleted=TRUE)"));
    EXPECT_EQ(dc.object_reads[2].base, tombstone);
    EXPECT_EQ(dc.object_reads[3].base, gone);
    EXPECT_EQ(dc.object_reads[4].base, gone);
  }
  // Nothing notified that is an account: nothing sent.
  ASSERT_TRUE(tracker.SendNotified(*controller, {Named(gone)}).ok());
  EXPECT_EQ(sink.batches.size(), 1u);
  // A DC that stopped answering ends the cycle.
  dc.reads_fail = true;
  EXPECT_EQ(tracker.SendNotified(*controller, {Named(live)}).status().code(),
            absl::StatusCode::kUnavailable);
  dc.reads_fail = false;

  // A filter of the operator's is the DC's to evaluate: a read by DN with
  // it, even for an object whose classes came with the notification.
  ChangeTracker filtered(&dir, &sink,
                         {.base_dns = {"OU=Schools,DC=district,DC=test"},
                          .filter = "(&(objectClass=user)(department=IT))"});
  // Notified twice, read once; outside the bases, not read; a tombstone
  // is judged here by the tombstone rule, which no filter changes.
  sink.batches.clear();
  ASSERT_TRUE(filtered
                  .SendNotified(
                      *controller,
                      {Notified(live, 1, {"user"}, "Person"),
                       Notified(live, 1, {"user"}, "Person"),
                       Notified(outside, 2, {"user"}, "Person"),
                       Notified(tombstone, 3, {"user"}, "", /*deleted=*/true)})
                  .ok());
  ASSERT_EQ(sink.batches.size(), 1u);
  ASSERT_EQ(sink.batches[0].deltas_size(), 2);
  EXPECT_EQ(sink.batches[0].deltas(0).object_guid(), testing::TestGuid(1));
  EXPECT_EQ(sink.batches[0].deltas(1).object_guid(), testing::TestGuid(3));
  absl::MutexLock lock(&dc.mu);
  ASSERT_EQ(dc.object_reads.size(), 8u);
  EXPECT_EQ(dc.object_reads[7].base, live);
  EXPECT_FALSE(dc.object_reads[7].show_deleted);
  EXPECT_EQ(dc.object_reads[7].filter, "(&(objectClass=user)(department=IT))");
}

TEST_F(AgentTest, ANotifiedAccountIsSentAtOnceAndTheBackstopStillSearches) {
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
  RunningAgent agent(MakeAgent(coordinator.target()));
  ASSERT_TRUE(AwaitFollowing(coordinator));
  const size_t before = coordinator.Batches().size();
  NotifyJaneChanged();
  dc_.NotifyDns({"CN=a group,DC=district,DC=test"});
  dc_.usn = 5100;
  ASSERT_TRUE(log_.WaitFor("info notified changes sent deltas=1 skipped=0 "));
  const auto batches = coordinator.Batches();
  ASSERT_GT(batches.size(), before);
  EXPECT_FALSE(batches[before].has_watermark());
  ASSERT_EQ(batches[before].deltas_size(), 1);
  EXPECT_EQ(batches[before].deltas(0).object_guid(), testing::TestGuid(1));
  EXPECT_EQ(batches[before].lease_epoch(), 1u);
  // The backstop's search for every change since the watermark moves it.
  ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=5100 "));
}

TEST_F(AgentTest, ACompleteNotificationWaitsForTheBackstopToSearch) {
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
  RunningAgent agent(MakeAgent(coordinator.target(),
                               /*change_notification=*/true,
                               /*poll_interval_seconds=*/1,
                               /*backstop_interval_seconds=*/600));
  ASSERT_TRUE(log_.WaitFor(
      "info following changes mode=change notification, and a search for all "
      "changes every 600s"));
  ASSERT_TRUE(coordinator.WaitForHeartbeat(5000));
  NotifyJaneChanged();
  dc_.usn = 5100;
  ASSERT_TRUE(log_.WaitFor("info notified changes sent deltas=1 skipped=0 "));
  // Two seconds of heartbeats (100 ms apart): two polls' worth, and no
  // search.
  ASSERT_TRUE(coordinator.WaitForMoreHeartbeats(20));
  EXPECT_EQ(log_.Count("info changes sent"), 0);
}

TEST_F(AgentTest, HeartbeatsReportTheUsnsNotifiedBeforeTheBackstopSearches) {
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
  RunningAgent agent(NotificationOnlyAgent(coordinator.target()));
  ASSERT_TRUE(AwaitFollowing(coordinator));
  const std::string jane = "CN=jane,DC=district,DC=test";
  dc_.Put(jane, 1, /*deleted=*/false);
  {
    absl::MutexLock lock(&dc_.mu);
    dc_.objects[jane].attributes["usnchanged"] = {"5050"};
  }
  dc_.NotifyDns({jane});
  // No search and no probe reads 5050 (the rootDSE says 5000): only the
  // notified object does.
  EXPECT_TRUE(coordinator.WaitForHeartbeat(5050));
}

TEST_F(AgentTest, ARegistrationTheDcEndsIsMadeAgainAndTheGapSearched) {
  expect_interruptions_ = true;
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
  RunningAgent agent(NotificationOnlyAgent(coordinator.target()));
  ASSERT_TRUE(AwaitFollowing(coordinator));
  EXPECT_EQ(dc_.registrations.load(), 1);
  // A change made while no registration held: only a search finds it, and
  // the backstop is ten minutes away.
  dc_.usn = 5100;
  dc_.end_registration = true;
  ASSERT_TRUE(log_.WaitFor(
      "warning change notification ended; registered again error=change "
      "notification ended on ldaps://dc1.district.test: adminLimitExceeded"));
  ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=5100 "));
  EXPECT_EQ(dc_.registrations.load(), 2);
  EXPECT_EQ(coordinator.Hellos(), 1);  // the same session carried on
  // The new registration notifies.
  NotifyJaneChanged();
  ASSERT_TRUE(log_.WaitFor("info notified changes sent deltas=1 skipped=0 "));

  // Ended again within the minute: a DC that keeps ending it ends the
  // session (reconnecting backs off) rather than a search every turn.
  dc_.end_registration = true;
  ASSERT_TRUE(
      log_.WaitFor("error sync interrupted error=change notification "
                   "ended on ldaps://dc1.district.test"));
  ASSERT_TRUE(log_.WaitFor("info following changes", 2));
  EXPECT_EQ(coordinator.Hellos(), 2);
  EXPECT_EQ(dc_.registrations.load(), 3);
}

TEST_F(AgentTest, AReadByDnWaitsNoLongerThanTheDcMayBeSilent) {
  expect_interruptions_ = true;
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));  // bound 1.9 s
  RunningAgent agent(NotificationOnlyAgent(coordinator.target()));
  ASSERT_TRUE(AwaitFollowing(coordinator));
  // Notified by DN alone (so read), then the DC hangs: the read gives up
  // within the bound and the session ends, which gives the lease up,
  // instead of holding it for the LDAP timeout while sending nothing.
  dc_.read_answer_ms = 60000;  // never within the LDAP timeout
  dc_.NotifyDns({"CN=jane,DC=district,DC=test"});
  ASSERT_TRUE(log_.WaitFor(
      "error sync interrupted error=searching CN=jane,DC=district,DC=test: "
      "Timed out"));
  absl::MutexLock lock(&dc_.mu);
  ASSERT_FALSE(dc_.object_reads.empty());
  const SearchRequest& read = dc_.object_reads.front();
  EXPECT_EQ(read.base, "CN=jane,DC=district,DC=test");
  EXPECT_GT(read.timeout, absl::ZeroDuration());
  EXPECT_LE(read.timeout, absl::Milliseconds(1900));
}

TEST_F(AgentTest, ALongNoticeOfADcThatAnswersIsReadWhole) {
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));  // bound 1.9 s
  RunningAgent agent(NotificationOnlyAgent(coordinator.target()));
  ASSERT_TRUE(AwaitFollowing(coordinator));
  // 30 objects notified by DN, each read answered in 0.1 s: 3 s in all,
  // longer than the DC may be silent, but it never is.
  std::vector<std::string> dns;
  for (int i = 0; i < 30; ++i) {
    dns.push_back(absl::StrCat("CN=u", i, ",DC=district,DC=test"));
    dc_.Put(dns.back(), 100 + i, /*deleted=*/false);
  }
  dc_.read_answer_ms = 100;
  dc_.NotifyDns(dns);
  ASSERT_TRUE(log_.WaitFor("info notified changes sent deltas=30 skipped=0 "));
}

TEST_F(AgentTest, ALostConnectionIsNeverUsedToRegisterAgain) {
  expect_interruptions_ = true;
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
  RunningAgent agent(NotificationOnlyAgent(coordinator.target()));
  ASSERT_TRUE(AwaitFollowing(coordinator));
  // A library may open a new connection for a request on a lost one,
  // without the bind or the TLS this agent set up: the session ends and
  // the next one connects and binds.
  dc_.lose_connection = true;
  ASSERT_TRUE(log_.WaitFor(
      "error sync interrupted error=waiting for change notifications"));
  ASSERT_TRUE(log_.WaitFor("info following changes", 2));
  EXPECT_EQ(log_.Count("warning change notification ended"), 0);
  EXPECT_EQ(coordinator.Hellos(), 2);
  EXPECT_EQ(dc_.registrations.load(), 2);  // one per session
}

TEST_F(AgentTest, AStandbyWhoseRegistrationEndsRegistersAgainAndStays) {
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
  RunningAgent agent(MakeAgent(coordinator.target()));
  ASSERT_TRUE(FollowThenStandBy(coordinator));
  dc_.end_registration = true;
  ASSERT_TRUE(
      log_.WaitFor("warning change notification ended; registered again"));
  ASSERT_TRUE(coordinator.WaitForMoreHeartbeats(4));
  EXPECT_EQ(dc_.registrations.load(), 2);
  EXPECT_EQ(coordinator.Hellos(), 1);  // no new session
}

TEST_F(AgentTest, NotificationsQueuedInStandbyAreNotSentAfterThePromotion) {
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
  RunningAgent agent(MakeAgent(coordinator.target()));
  ASSERT_TRUE(FollowThenStandBy(coordinator));
  // Changed while a standby: an old state by the time it is promoted.
  NotifyJaneChanged();
  dc_.usn = 5100;
  ASSERT_TRUE(coordinator.WaitForHeartbeat(5100));
  // The standby took it off the queue (and dropped it), not the catch-up.
  {
    absl::MutexLock lock(&dc_.mu);
    auto taken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(dc_.mu) {
      return dc_.notified.empty();
    };
    ASSERT_TRUE(dc_.mu.AwaitWithTimeout(absl::Condition(&taken), kPatience));
  }
  adsync::v1::RoleChange promoted;
  promoted.set_role(adsync::v1::ROLE_PRIMARY);
  promoted.set_lease_epoch(3);
  promoted.mutable_resume_from()->set_invocation_id(testing::TestGuid(77));
  promoted.mutable_resume_from()->set_usn(5000);
  coordinator.Queue(promoted);
  ASSERT_TRUE(log_.WaitFor("info caught up deltas=2 skipped=0 usn=5100 "));
  ASSERT_TRUE(coordinator.WaitForMoreHeartbeats(10));
  EXPECT_EQ(log_.Count("info notified changes sent"), 0);
}

TEST_F(AgentTest, ANotificationNotNamingEveryObjectIsSearchedAtOnce) {
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));
  RunningAgent agent(NotificationOnlyAgent(coordinator.target()));
  ASSERT_TRUE(AwaitFollowing(coordinator));
  std::vector<std::string> many;
  for (size_t i = 0; i <= ChangeNotice::kMaxNoticedObjects; ++i) {
    many.push_back(absl::StrCat("CN=u", i, ",DC=district,DC=test"));
  }
  dc_.usn = 5100;
  dc_.NotifyDns(many);
  ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=5100 "));
  Change(5200);  // names no object
  ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=5200 "));
  EXPECT_EQ(log_.Count("info notified changes sent"), 0);
  absl::MutexLock lock(&dc_.mu);
  EXPECT_TRUE(dc_.object_reads.empty());
}

TEST(DcLiveness, TheBoundIsTheLeaseTtlLessOneHeartbeatInterval) {
  EXPECT_EQ(DcSilenceBound(absl::Seconds(2), absl::Seconds(6)),
            absl::Seconds(4));  // the defaults
  EXPECT_EQ(DcSilenceBound(absl::Milliseconds(500), absl::Seconds(2)),
            absl::Milliseconds(1500));
  // An older coordinator that does not say its TTL: the default ratio.
  EXPECT_EQ(DcSilenceBound(absl::Seconds(2), absl::ZeroDuration()),
            absl::Seconds(4));
  // Never below one interval, so that one probe does not decide.
  EXPECT_EQ(DcSilenceBound(absl::Seconds(2), absl::Seconds(3)),
            absl::Seconds(2));
}

TEST(DcLiveness, GivesUpOnlyAfterTheBoundWithoutAnAnswer) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  DcLiveness dc(absl::Seconds(2), absl::Seconds(4), t0);
  // A probe is due an interval after the last answer.
  EXPECT_EQ(dc.NextProbe(), t0 + absl::Seconds(2));
  EXPECT_FALSE(dc.QuietFor(absl::Seconds(2), t0 + absl::Seconds(1)));
  EXPECT_TRUE(dc.QuietFor(absl::Seconds(2), t0 + absl::Seconds(2)));
  // Probes wait for what is left of the bound: a DC answering in 1.5 s
  // keeps its primary.
  EXPECT_EQ(dc.ProbeTimeout(t0 + absl::Seconds(2)), absl::Seconds(2));
  EXPECT_EQ(dc.ProbeTimeout(t0 + absl::Milliseconds(3700)),
            absl::Milliseconds(300));
  EXPECT_EQ(dc.ProbeTimeout(t0 + absl::Seconds(9)), absl::Milliseconds(1));
  // ... but never longer than the bound less half an interval (TTL less 1.5
  // intervals), so the heartbeats around a probe keep the lease.
  EXPECT_EQ(dc.ProbeTimeout(t0), absl::Seconds(3));
  DcLiveness tight(absl::Seconds(2), absl::Seconds(2),
                   t0);  // TTL = 2 intervals
  EXPECT_EQ(tight.ProbeTimeout(t0), absl::Seconds(1));
  // A missed answer: the next probe half an interval later, and one when
  // the bound runs out.
  dc.Missed(t0 + absl::Seconds(3));
  EXPECT_TRUE(dc.slow());
  EXPECT_EQ(dc.NextProbe(), t0 + absl::Seconds(4));
  dc.Missed(t0 + absl::Milliseconds(3800));
  EXPECT_EQ(dc.NextProbe(), t0 + absl::Seconds(4));
  EXPECT_FALSE(dc.Lost(t0 + absl::Milliseconds(3999)));
  EXPECT_TRUE(dc.Lost(t0 + absl::Seconds(4)));
  // A late answer starts the count again; an older one does not go back.
  dc.Answered(t0 + absl::Seconds(3));
  EXPECT_FALSE(dc.slow());
  dc.Answered(t0 + absl::Seconds(1));
  EXPECT_FALSE(dc.Lost(t0 + absl::Seconds(6)));
  EXPECT_TRUE(dc.Lost(t0 + absl::Seconds(7)));
  EXPECT_EQ(dc.Silence(t0 + absl::Seconds(7)), absl::Seconds(4));
  EXPECT_EQ(dc.NextProbe(), t0 + absl::Seconds(5));
  // The agent was stopped for a minute: not the DC's silence. A probe is
  // due at once, and the bound counts from there.
  dc.Missed(t0 + absl::Seconds(4));
  dc.Resumed(t0 + absl::Seconds(64));
  EXPECT_FALSE(dc.slow());
  EXPECT_FALSE(dc.Lost(t0 + absl::Seconds(64)));
  EXPECT_EQ(dc.NextProbe(), t0 + absl::Seconds(64));
  EXPECT_TRUE(dc.Lost(t0 + absl::Seconds(68)));
}

TEST_F(AgentTest, APrimaryWhoseDcStopsAnsweringGivesTheLeaseUp) {
  expect_interruptions_ = true;
  ScriptedCoordinator coordinator(ResumeFrom(77, 5000));  // bound 1.9 s
  RunningAgent agent(MakeAgent(coordinator.target()));
  ASSERT_TRUE(log_.WaitFor("info following changes"));
  ASSERT_TRUE(coordinator.WaitForHeartbeat(5000));

  // A DC that answers every probe late (0.4 s, four heartbeat intervals),
  // for longer than the bound, but within it keeps its primary: no
  // give-up, no new session.
  dc_.probe_answer_ms = 400;
  absl::SleepFor(absl::Seconds(3));
  dc_.probe_answer_ms = 0;
  EXPECT_EQ(log_.Count("error sync interrupted"), 0);
  // A short silence is waited out too: the probe's answer comes when the
  // DC answers again.
  dc_.silent = true;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (dc_.probes_waiting.load() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GT(dc_.probes_waiting.load(), 0) << "no probe was sent";
  absl::SleepFor(absl::Milliseconds(300));
  dc_.silent = false;
  Change(5100);
  ASSERT_TRUE(log_.WaitFor("info changes sent deltas=2 skipped=0 usn=5100 "));
  EXPECT_EQ(log_.Count("error sync interrupted"), 0);

  // Silent for good: the session ends (the stream closes, which releases
  // the lease), and no new one starts while the DC stays silent.
  dc_.silent = true;
  ASSERT_TRUE(log_.WaitFor(
      "error sync interrupted error=the DC at ldaps://dc1.district.test has "
      "not answered for "));
  EXPECT_THAT(log_.All(),
              Contains(::testing::HasSubstr(
                  "gave up the lease so that a standby whose DC answers "
                  "takes over")));
  ASSERT_TRUE(log_.WaitFor("error sync interrupted", 2));
  EXPECT_EQ(coordinator.Hellos(), 1);
  // Back: a new session.
  dc_.silent = false;
  ASSERT_TRUE(log_.WaitFor("info following changes", 2));
  EXPECT_EQ(coordinator.Hellos(), 2);
}

}  // namespace
}  // namespace adsync
