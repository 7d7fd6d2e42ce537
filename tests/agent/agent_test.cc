#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/account_reader.h"
#include "agent/agent_config.h"
#include "agent/change_tracker.h"
#include "agent/ldap_errors.h"
#include "common/files.h"
#include "common/sid.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
  absl::Status WatchForChanges(const std::string&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<bool> WaitForChange(absl::Duration) override { return false; }

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

TEST(AgentConfig, RequiredFieldsAndDefaults) {
  adsync::v1::AgentConfig c;
  EXPECT_THAT(std::string(ResolveAgentConfig(c).status().message()),
              HasSubstr("coordinator is required"));
  ASSERT_TRUE(
      ParseTextProto(
          R"pb(
            coordinator: "127.0.0.1:7443"
            org_id: "5E1C3D4A-0000-4000-8000-000000000001"
            sync_key_file: "/k"
            domain: "DISTRICT"
            ldap { uri: "ldaps://dc1" bind_dn: "svc" password_file: "/p" }
          )pb",
          "t", &c)
          .ok());
  auto resolved = ResolveAgentConfig(c);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->org_id(), "5e1c3d4a-0000-4000-8000-000000000001");
  EXPECT_EQ(resolved->ldap().page_size(), 1000u);
  EXPECT_EQ(resolved->poll_interval_seconds(), 3u);
  EXPECT_TRUE(resolved->change_notification());
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
