#include "coordinator/csv_export.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "coordinator/preview.h"

namespace adsync {
namespace {

std::string Row(std::vector<std::string> cells) {
  for (std::string& c : cells) c = CsvField(c);
  return absl::StrJoin(cells, ",") + "\n";
}

const char* KindName(adsync::v1::PreviewChange::Kind kind) {
  switch (kind) {
    case adsync::v1::PreviewChange::ADDED:
      return "added";
    case adsync::v1::PreviewChange::CHANGED:
      return "changed";
    case adsync::v1::PreviewChange::REMOVED:
      return "removed";
    default:
      return "unchanged";
  }
}

const char* IdentityKindName(IdentityDiff::Kind kind) {
  switch (kind) {
    case IdentityDiff::kAdded:
      return "added";
    case IdentityDiff::kChanged:
      return "changed";
    case IdentityDiff::kRemoved:
      return "removed";
    case IdentityDiff::kUnchanged:
      break;
  }
  return "unchanged";
}

}  // namespace

std::string CsvField(const std::string& raw) {
  const bool formula =
      !raw.empty() &&
      absl::string_view("=+-@\t\r").find(raw[0]) != absl::string_view::npos;
  const std::string s = formula ? "'" + raw : raw;
  if (!formula && s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string FormatAccountsCsv(
    const adsync::v1::ListAccountsResponse& accounts) {
  std::string out =
      "domain,sam_account_name,user_principal_name,mail,display_name,enabled,"
      "outcome,person_id,candidate_person_ids,object_guid\n";
  for (const auto& a : accounts.accounts()) {
    out += Row({a.domain(), a.sam_account_name(), a.user_principal_name(),
                a.mail(), a.display_name(), a.enabled() ? "true" : "false",
                a.outcome(), a.person_id(),
                absl::StrJoin(a.candidate_person_ids(), " "), a.object_guid()});
  }
  return out;
}

std::string FormatPreviewCsv(const adsync::v1::PreviewOrgResponse& preview) {
  std::string out =
      "person_change,person_id,person_name,identity_change,domain,"
      "sam_account_name,upn,sid,object_guid,enabled,was_domain,"
      "was_sam_account_name,was_upn,was_sid,was_enabled\n";
  for (const auto& change : preview.changes()) {
    for (const IdentityDiff& d : DiffIdentities(change)) {
      const adsync::v1::PanelIdentity& shown =
          d.proposed != nullptr ? *d.proposed : *d.current;
      std::vector<std::string> cells = {KindName(change.kind()),
                                        change.person_id(),
                                        change.person_name(),
                                        IdentityKindName(d.kind),
                                        shown.domain(),
                                        shown.sam_account_name(),
                                        shown.upn(),
                                        shown.sid(),
                                        shown.object_guid(),
                                        shown.enabled() ? "true" : "false"};
      if (d.kind == IdentityDiff::kChanged) {
        cells.insert(cells.end(),
                     {d.current->domain(), d.current->sam_account_name(),
                      d.current->upn(), d.current->sid(),
                      d.current->enabled() ? "true" : "false"});
      } else {
        cells.insert(cells.end(), 5, "");
      }
      out += Row(std::move(cells));
    }
  }
  return out;
}

}  // namespace adsync
