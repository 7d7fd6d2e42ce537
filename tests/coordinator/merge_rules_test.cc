#include "coordinator/merge_rules.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

using testing::DeltaSpec;
using testing::MakeDelta;

AccountState State(const DeltaSpec& spec) {
  adsync::v1::ProfileDelta delta = MakeDelta(spec);
  return StateFromDelta(&delta, "S-1-5-21-1-2-3-1001");
}

DsaId Dsa(char c) { return DsaIdFromBytes(std::string(16, c)); }

TEST(Stamps, OrderAsAdDoes) {
  AttrStamp low{1, 500, Dsa('a')};
  EXPECT_LT(low, (AttrStamp{2, 100, Dsa('a')}));  // version first
  EXPECT_LT(low, (AttrStamp{1, 600, Dsa('a')}));  // then time
  EXPECT_LT(low, (AttrStamp{1, 500, Dsa('b')}));  // then DSA id
  EXPECT_FALSE(low < low);
  Stamps s;
  s[3] = AttrStamp{7, 123, Dsa('z')};
  EXPECT_EQ(DecodeStamps(EncodeStamps(s))[3], s[3]);
  EXPECT_EQ(DecodeStamps(EncodeStamps(s))[1], AttrStamp());
  // Ids compare as unsigned bytes, as AD orders GUIDs' raw bytes here.
  EXPECT_LT((AttrStamp{1, 500, Dsa('\x01')}), (AttrStamp{1, 500, Dsa('\xf0')}));
  EXPECT_LT(AttrStamp{}, (AttrStamp{0, 0, Dsa('\x01')}));
}

TEST(Merge, NewerAttributesWinOlderAreIgnored) {
  AccountState stored =
      State({.sam = "jdoe", .mail = "jdoe@d.org", .version = 2});
  // A lagging standby DC still has version 1 of mail: must not regress.
  AccountState stale =
      State({.sam = "jdoe", .mail = "old@d.org", .version = 1});
  EXPECT_FALSE(MergeAccount(stale, &stored));
  EXPECT_EQ(stored.mail, "jdoe@d.org");
  // The same data again (a full sync's re-send) changes nothing.
  EXPECT_FALSE(MergeAccount(
      State({.sam = "jdoe", .mail = "jdoe@d.org", .version = 2}), &stored));
  // A rename (sAMAccountName v3) on another DC wins while mail stays.
  AccountState rename = State(
      {.sam = "jdoe2", .mail = "stale@d.org", .version = 2, .sam_version = 3});
  EXPECT_TRUE(MergeAccount(rename, &stored));
  EXPECT_EQ(stored.sam_account_name, "jdoe2");
  EXPECT_EQ(stored.mail, "jdoe@d.org");
}

TEST(Merge, TombstoneRemovesAndReportAgainRestoresAbsent) {
  AccountState stored = State({.sam = "jdoe", .mail = "jdoe@d.org"});
  AccountState tomb = State({.sam = "jdoe", .deleted = true, .version = 2});
  EXPECT_TRUE(MergeAccount(tomb, &stored));
  EXPECT_TRUE(stored.deleted);
  EXPECT_TRUE(stored.removed());
  EXPECT_EQ(stored.mail, "");

  AccountState absent = State({.sam = "kim"});
  absent.absent = true;
  EXPECT_TRUE(MergeAccount(State({.sam = "kim"}), &absent));
  EXPECT_FALSE(absent.removed());
}

std::map<std::string, std::vector<std::string>> kPeople = {
    {"jane@d.org", {"p-jane"}},
    {"shared@d.org", {"p-a", "p-b"}},
    {"jane.alt@d.org", {"p-jane"}},
    {"other@d.org", {"p-other"}},
};

MatchResult Match(const AccountState& a, MatchSettings settings = {}) {
  return MatchAccount(a, settings, [](const std::string& e) {
    auto it = kPeople.find(e);
    return it == kPeople.end() ? std::vector<std::string>{} : it->second;
  });
}

TEST(Match, CaseAndWhitespaceInsensitive) {
  MatchResult r = Match(State({.mail = "  JANE@D.ORG "}));
  EXPECT_EQ(r.outcome, Outcome::kMatched);
  EXPECT_EQ(r.person_id, "p-jane");
  EXPECT_EQ(r.matched_email, "jane@d.org");
}

TEST(Match, UnmatchedNoEmailAmbiguous) {
  EXPECT_EQ(Match(State({.mail = "nobody@d.org"})).outcome,
            Outcome::kUnmatched);
  EXPECT_EQ(Match(State({.mail = ""})).outcome, Outcome::kNoEmail);
  EXPECT_EQ(Match(State({.mail = "not an email"})).outcome, Outcome::kNoEmail);
  MatchResult amb = Match(State({.mail = "shared@d.org"}));
  EXPECT_EQ(amb.outcome, Outcome::kAmbiguous);
  EXPECT_EQ(amb.person_id, "");
  EXPECT_EQ(amb.candidate_person_ids, (std::vector<std::string>{"p-a", "p-b"}));
}

TEST(Match, ProxyAddressesAndUpnOnlyWhenEnabled) {
  AccountState a = State(
      {.upn = "jane@d.org", .mail = "", .proxy = {"smtp:jane.alt@d.org"}});
  EXPECT_EQ(Match(a).outcome, Outcome::kNoEmail);
  EXPECT_EQ(Match(a, {.match_proxy_addresses = true}).person_id, "p-jane");
  EXPECT_EQ(Match(a, {.match_upn = true}).person_id, "p-jane");
  // Two emails of the same Person: still one match, not ambiguous.
  EXPECT_EQ(Match(a, {true, true}).outcome, Outcome::kMatched);
  // Emails of two different People across mail and proxy: ambiguous.
  AccountState b = State({.mail = "jane@d.org", .proxy = {"SMTP:other@d.org"}});
  EXPECT_EQ(Match(b, {.match_proxy_addresses = true}).outcome,
            Outcome::kAmbiguous);
}

TEST(Match, DisabledStaysMatchedRemovedDoesNot) {
  AccountState disabled = State({.mail = "jane@d.org", .uac = 0x202});
  EXPECT_FALSE(disabled.enabled());
  EXPECT_EQ(Match(disabled).outcome, Outcome::kMatched);
  AccountState deleted = State({.mail = "jane@d.org", .deleted = true});
  EXPECT_EQ(Match(deleted).outcome, Outcome::kRemoved);
}

}  // namespace
}  // namespace adsync
