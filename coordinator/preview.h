// What going live would change in K12Panel (docs/design.md, "Preview"):
// the identity sets adsync maps onto each Person, against the sets
// K12Panel holds now. Pure; the admin service shows it (`adsyncctl
// preview`), and the store uses it to queue exactly these People when an
// org goes live.
//
// Example:
//   std::vector<MappedPerson> mapped = ...;   // store->MappedIdentities(org)
//   std::vector<adsync::v1::PanelPersonIdentities> held = ...;  // K12Panel
//   adsync::v1::PreviewOrgResponse preview = ComputePreview(mapped, held);
//   // preview.people_added(), preview.changes(0).proposed(), ...
//
// Identities are paired by objectGUID (case-insensitive); one with the same
// objectGUID and any other value different counts as changed. A Person is
// unchanged when both sides hold the same set (order does not matter).
#ifndef ADSYNC_COORDINATOR_PREVIEW_H_
#define ADSYNC_COORDINATOR_PREVIEW_H_

#include <string>
#include <vector>

#include "adsync/v1/admin.pb.h"
#include "adsync/v1/panel.pb.h"

namespace adsync {

// One Person with the complete identity set adsync maps onto it (what a
// push would send) and the Person's last pushed version.
struct MappedPerson {
  adsync::v1::PanelPersonIdentities holds;
  std::string name;
};

// `mapped`: the People adsync maps identities onto (People with none are
// absent); `held`: what K12Panel holds (entries with no identity count as
// holding none). Neither needs to be sorted; a Person listed twice on a
// side keeps its first entry.
adsync::v1::PreviewOrgResponse ComputePreview(
    const std::vector<MappedPerson>& mapped,
    const std::vector<adsync::v1::PanelPersonIdentities>& held);

// Sets `preview->digest()`: a hash of its changes and counts (not of when
// K12Panel was read or of the org), equal for equal previews.
void SetPreviewDigest(adsync::v1::PreviewOrgResponse* preview);

// One identity of a PreviewChange: what K12Panel holds (`current`, null
// when added) and what going live sends (`proposed`, null when removed).
struct IdentityDiff {
  enum Kind { kUnchanged, kAdded, kChanged, kRemoved };
  Kind kind = kUnchanged;
  const adsync::v1::PanelIdentity* current = nullptr;
  const adsync::v1::PanelIdentity* proposed = nullptr;
};
// The identities of `change`, paired, ordered by objectGUID. Pointers into
// `change`.
std::vector<IdentityDiff> DiffIdentities(
    const adsync::v1::PreviewChange& change);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_PREVIEW_H_
