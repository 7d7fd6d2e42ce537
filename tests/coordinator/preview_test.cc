// What going live would change: pairing by objectGUID, counts, kinds.
#include "coordinator/preview.h"

#include "gtest/gtest.h"

namespace adsync {
namespace {

using adsync::v1::PanelIdentity;
using adsync::v1::PanelPersonIdentities;
using adsync::v1::PreviewChange;

PanelIdentity Id(const std::string& guid, const std::string& sam,
                 bool enabled = true) {
  PanelIdentity id;
  id.set_domain("DISTRICT");
  id.set_sam_account_name(sam);
  id.set_object_guid(guid);
  id.set_enabled(enabled);
  return id;
}

MappedPerson Mapped(const std::string& person, std::vector<PanelIdentity> ids) {
  MappedPerson m;
  m.holds.set_person_id(person);
  m.name = "Name of " + person;
  for (auto& id : ids) *m.holds.add_identities() = id;
  return m;
}

PanelPersonIdentities Held(const std::string& person, uint32_t version,
                           std::vector<PanelIdentity> ids) {
  PanelPersonIdentities h;
  h.set_person_id(person);
  h.set_version(version);
  for (auto& id : ids) *h.add_identities() = id;
  return h;
}

TEST(ComputePreview, ClassifiesEveryPersonAndIdentity) {
  const std::vector<MappedPerson> mapped = {
      Mapped("p-new", {Id("g1", "new")}),
      Mapped("p-same", {Id("g2", "same"), Id("g3", "same2")}),
      Mapped("p-mixed", {Id("g4", "renamed"), Id("g5", "added")}),
      Mapped("p-disabled", {Id("g6", "off", /*enabled=*/false)}),
  };
  const std::vector<PanelPersonIdentities> held = {
      // The same set in another order: unchanged.
      Held("p-same", 3, {Id("g3", "same2"), Id("g2", "same")}),
      Held("p-mixed", 1, {Id("g4", "before"), Id("g7", "dropped")}),
      Held("p-disabled", 1, {Id("g6", "off", /*enabled=*/true)}),
      Held("p-gone", 9, {Id("g8", "gone")}),
      Held("p-empty", 2, {}),  // holds nothing: not a removal
  };
  const adsync::v1::PreviewOrgResponse p = ComputePreview(mapped, held);
  EXPECT_EQ(p.people_added(), 1u);
  EXPECT_EQ(p.people_changed(), 2u);
  EXPECT_EQ(p.people_removed(), 1u);
  EXPECT_EQ(p.people_unchanged(), 1u);
  EXPECT_EQ(p.identities_added(), 2u);    // g1, g5
  EXPECT_EQ(p.identities_changed(), 2u);  // g4 renamed, g6 disabled
  EXPECT_EQ(p.identities_removed(), 2u);  // g7, g8
  ASSERT_EQ(p.changes_size(), 4);
  // Ordered by person_id.
  EXPECT_EQ(p.changes(0).person_id(), "p-disabled");
  EXPECT_EQ(p.changes(0).kind(), PreviewChange::CHANGED);
  EXPECT_EQ(p.changes(1).person_id(), "p-gone");
  EXPECT_EQ(p.changes(1).kind(), PreviewChange::REMOVED);
  EXPECT_EQ(p.changes(1).person_name(), "");
  EXPECT_EQ(p.changes(2).person_id(), "p-mixed");
  EXPECT_EQ(p.changes(2).identities_added(), 1u);
  EXPECT_EQ(p.changes(2).identities_changed(), 1u);
  EXPECT_EQ(p.changes(2).identities_removed(), 1u);
  EXPECT_EQ(p.changes(3).person_id(), "p-new");
  EXPECT_EQ(p.changes(3).kind(), PreviewChange::ADDED);
  EXPECT_EQ(p.changes(3).person_name(), "Name of p-new");
}

TEST(ComputePreview, AGuidSpelledDifferentlyIsTheSameAccountWithNewValues) {
  const adsync::v1::PreviewOrgResponse p = ComputePreview(
      {Mapped("p-1", {Id("ab", "x")})}, {Held("p-1", 1, {Id("AB", "x")})});
  EXPECT_EQ(p.identities_changed(), 1u);
  EXPECT_EQ(p.identities_added() + p.identities_removed(), 0u);
}

TEST(ComputePreview, NothingOnEitherSideIsNoChange) {
  const adsync::v1::PreviewOrgResponse p = ComputePreview({}, {});
  EXPECT_EQ(p.changes_size(), 0);
  EXPECT_EQ(p.people_unchanged(), 0u);
}

TEST(DiffIdentities, PairsHeldIdentitiesWithoutGuidByLogonName) {
  PreviewChange c;
  PanelIdentity old_script = Id("", "jdoe");  // written without a GUID
  *c.add_current() = old_script;
  *c.add_proposed() = Id("g1", "jdoe");
  const std::vector<IdentityDiff> d = DiffIdentities(c);
  // Not the same key: the old one is removed, the new one added.
  ASSERT_EQ(d.size(), 2u);
  for (const IdentityDiff& diff : d) {
    EXPECT_EQ(diff.kind, diff.current != nullptr ? IdentityDiff::kRemoved
                                                 : IdentityDiff::kAdded);
  }
}

}  // namespace
}  // namespace adsync
