#include "coordinator/login_explanation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/sid.h"
#include "common/status_macros.h"
#include "coordinator/validation.h"

namespace adsync {

absl::StatusOr<LoginQuery> ParseLogin(absl::string_view raw) {
  const absl::string_view login = absl::StripAsciiWhitespace(raw);
  LoginQuery query;
  const size_t backslash = login.find('\\');
  if (backslash != absl::string_view::npos) {
    query.kind = LoginQuery::Kind::kSamAccountName;
    ASSIGN_OR_RETURN(query.domain,
                     ValidateDomainName(login.substr(0, backslash)));
    query.name = std::string(login.substr(backslash + 1));
  } else if (absl::StartsWithIgnoreCase(login, "S-1-")) {
    query.kind = LoginQuery::Kind::kSid;
    ASSIGN_OR_RETURN(std::string binary, SidStringToBinary(login));
    ASSIGN_OR_RETURN(query.name, SidBinaryToString(binary));
  } else if (absl::StrContains(login, '@')) {
    query.kind = LoginQuery::Kind::kUpn;
    query.name = std::string(login);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", login,
                     "\" is not a login; use DOMAIN\\user, user@upn.suffix or "
                     "a SID (S-1-5-21-...)"));
  }
  return query;
}

std::string ExplainUnknownLogin(absl::string_view login,
                                absl::string_view org_id) {
  return absl::StrCat("no account with login ",
                      absl::StripAsciiWhitespace(login),
                      " has been reported for org ", org_id,
                      ". Check that an AD Sync covers that domain "
                      "(`adsyncctl sync list`) and that its agent is connected "
                      "(`adsyncctl status`).");
}

std::string ExplainAccount(const AccountFacts& f) {
  const std::string who = absl::StrCat(f.domain, "\\", f.sam_account_name,
                                       " (objectGUID ", f.object_guid, ")");
  std::string why;
  switch (f.match.outcome) {
    case Outcome::kMatched:
      why = absl::StrCat(who, " is Person ", f.match.person_id, " (",
                         f.person_name, "): the account's email ",
                         f.match.matched_email, " is an email of that Person.");
      break;
    case Outcome::kUnmatched:
      why = absl::StrCat(
          who, " maps to no one: no Person has any of its emails (",
          absl::StrJoin(f.match.emails_tried, ", "),
          "). Add the email to the Person in K12Panel or fix the "
          "account's mail in AD, then re-import People.");
      break;
    case Outcome::kAmbiguous:
      why = absl::StrCat(who, " is ambiguous: its email ",
                         f.match.matched_email, " belongs to several People (",
                         absl::StrJoin(f.candidate_person_ids, ", "),
                         "); adsync never guesses. Keep the email on one "
                         "Person only.");
      break;
    case Outcome::kNoEmail:
      why = absl::StrCat(
          who, " maps to no one: it has no mail",
          f.settings.match_proxy_addresses ? ", no smtp: proxyAddresses" : "",
          f.settings.match_upn ? " and no usable UPN" : "", ". Set mail in AD",
          f.settings.match_upn ? "." : ", or enable UPN matching for the org.");
      break;
    case Outcome::kRemoved:
      why =
          absl::StrCat(who,
                       f.state.deleted ? " was deleted in AD"
                                       : " is missing from the last full sync",
                       ", so it maps to no one.");
      break;
  }
  if (!f.state.removed() && !f.state.enabled()) {
    absl::StrAppend(&why,
                    " The account is disabled in AD; it stays mapped and "
                    "is flagged as disabled.");
  }
  return why;
}

}  // namespace adsync
