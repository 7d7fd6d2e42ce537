#include "coordinator/preview.h"

#include <map>

#include "absl/strings/ascii.h"
#include "common/digest.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"

namespace adsync {
namespace {

using adsync::v1::PanelIdentity;
using adsync::v1::PreviewChange;

// Pairing key: the objectGUID; an identity K12Panel holds without one (not
// written by adsync) pairs by its down-level name instead.
std::string KeyOf(const PanelIdentity& id) {
  if (!id.object_guid().empty()) return absl::AsciiStrToLower(id.object_guid());
  return absl::AsciiStrToLower(id.domain() + "\\" + id.sam_account_name());
}

// Fills the identity counts of `change`; false when both sets are equal.
bool Compare(PreviewChange* change) {
  for (const IdentityDiff& d : DiffIdentities(*change)) {
    switch (d.kind) {
      case IdentityDiff::kAdded:
        change->set_identities_added(change->identities_added() + 1);
        break;
      case IdentityDiff::kChanged:
        change->set_identities_changed(change->identities_changed() + 1);
        break;
      case IdentityDiff::kRemoved:
        change->set_identities_removed(change->identities_removed() + 1);
        break;
      case IdentityDiff::kUnchanged:
        break;
    }
  }
  return change->identities_added() + change->identities_changed() +
             change->identities_removed() >
         0;
}

}  // namespace

std::vector<IdentityDiff> DiffIdentities(const PreviewChange& change) {
  std::map<std::string, IdentityDiff> by_key;
  for (const PanelIdentity& id : change.current())
    by_key[KeyOf(id)].current = &id;
  for (const PanelIdentity& id : change.proposed())
    by_key[KeyOf(id)].proposed = &id;
  std::vector<IdentityDiff> diffs;
  for (auto& [key, d] : by_key) {
    if (d.current == nullptr) {
      d.kind = IdentityDiff::kAdded;
    } else if (d.proposed == nullptr) {
      d.kind = IdentityDiff::kRemoved;
    } else if (!google::protobuf::util::MessageDifferencer::Equals(
                   *d.current, *d.proposed)) {
      d.kind = IdentityDiff::kChanged;
    }
    diffs.push_back(d);
  }
  return diffs;
}

void SetPreviewDigest(adsync::v1::PreviewOrgResponse* preview) {
  adsync::v1::PreviewOrgResponse material = *preview;
  material.clear_org();
  material.clear_panel_read_unix();
  material.clear_digest();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    material.SerializeToCodedStream(&out);
  }
  preview->set_digest(Sha256Hex(bytes).substr(0, 16));
}

adsync::v1::PreviewOrgResponse ComputePreview(
    const std::vector<MappedPerson>& mapped,
    const std::vector<adsync::v1::PanelPersonIdentities>& held) {
  std::map<std::string, PreviewChange> people;  // ordered by person_id
  for (const MappedPerson& m : mapped) {
    if (m.holds.identities().empty()) continue;
    auto [it, inserted] = people.try_emplace(m.holds.person_id());
    if (!inserted) continue;
    it->second.set_person_id(m.holds.person_id());
    it->second.set_person_name(m.name);
    *it->second.mutable_proposed() = m.holds.identities();
  }
  std::map<std::string, bool> seen_held;
  for (const auto& h : held) {
    if (h.identities().empty()) continue;
    if (!seen_held.emplace(h.person_id(), true).second) continue;
    PreviewChange& change = people[h.person_id()];
    change.set_person_id(h.person_id());
    *change.mutable_current() = h.identities();
  }
  adsync::v1::PreviewOrgResponse out;
  for (auto& [id, change] : people) {
    if (!Compare(&change)) {
      out.set_people_unchanged(out.people_unchanged() + 1);
      continue;
    }
    if (change.current().empty()) {
      change.set_kind(PreviewChange::ADDED);
      out.set_people_added(out.people_added() + 1);
    } else if (change.proposed().empty()) {
      change.set_kind(PreviewChange::REMOVED);
      out.set_people_removed(out.people_removed() + 1);
    } else {
      change.set_kind(PreviewChange::CHANGED);
      out.set_people_changed(out.people_changed() + 1);
    }
    out.set_identities_added(out.identities_added() +
                             change.identities_added());
    out.set_identities_changed(out.identities_changed() +
                               change.identities_changed());
    out.set_identities_removed(out.identities_removed() +
                               change.identities_removed());
    *out.add_changes() = std::move(change);
  }
  SetPreviewDigest(&out);
  return out;
}

}  // namespace adsync
