// What `adsyncctl resolve` says: how an operator may name a Windows login,
// and the plain-English reason a login maps to a Person (or to no one).
// Kept apart from the storage engines so every engine answers in the same
// words; an engine only finds the account and the facts below.
//
// Example:
//   ASSIGN_OR_RETURN(LoginQuery q, ParseLogin("DISTRICT\\jdoe"));
//   ... find the account by q.kind ...
//   response.set_explanation(ExplainAccount(facts));
//
// Thread-safety: plain functions of their arguments.
#ifndef ADSYNC_COORDINATOR_LOGIN_EXPLANATION_H_
#define ADSYNC_COORDINATOR_LOGIN_EXPLANATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/merge_rules.h"

namespace adsync {

struct LoginQuery {
  enum class Kind { kSamAccountName, kUpn, kSid };
  Kind kind = Kind::kSamAccountName;
  std::string domain;  // kSamAccountName: the validated NetBIOS/DNS domain
  std::string name;    // sAMAccountName, UPN, or the SID in canonical text
};

// DOMAIN\user, user@upn.suffix or S-1-5-21-...; surrounding whitespace is
// ignored. InvalidArgument, saying which forms work, for anything else.
absl::StatusOr<LoginQuery> ParseLogin(absl::string_view login);

// No account with `login` was reported for the org.
std::string ExplainUnknownLogin(absl::string_view login,
                                absl::string_view org_id);

// What the explanation of a found account needs.
struct AccountFacts {
  std::string domain;
  std::string sam_account_name;
  std::string object_guid;  // text form
  AccountState state;
  MatchResult match;  // as stored; emails_tried filled for kUnmatched
  std::vector<std::string> candidate_person_ids;  // kAmbiguous
  std::string person_name;                        // kMatched, when known
  MatchSettings settings;                         // the org's
};

std::string ExplainAccount(const AccountFacts& facts);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_LOGIN_EXPLANATION_H_
