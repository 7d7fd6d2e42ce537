// The product's merge rules, in one place (docs/design.md, rules 2, 3, 4, 6):
//  - which of two controllers' versions of an account attribute wins
//    (AD's own order: attribute version, then originating time, then
//    originating invocationId), applied attribute by attribute;
//  - how an account matches a Person by email.
// Pure functions; thread-safe.
#ifndef ADSYNC_COORDINATOR_MERGE_RULES_H_
#define ADSYNC_COORDINATOR_MERGE_RULES_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "adsync/v1/agent.pb.h"

namespace adsync {

// A DC's invocationId, raw. All zeros = none. Fixed-size so that stamps
// cost no heap allocation (millions are compared during a full sync).
using DsaId = std::array<uint8_t, 16>;
// The first 16 bytes of `bytes`, zero-padded (REQUIRES: validated input,
// 16 bytes or empty).
DsaId DsaIdFromBytes(absl::string_view bytes);

// One attribute's replication stamp. Default-constructed = never written.
struct AttrStamp {
  uint32_t version = 0;
  int64_t time = 0;  // seconds since 1601
  DsaId invocation{};
  // The originating DC's USN for the write (0 = not known). Not part of the
  // conflict order: it says whether another DC has applied this write yet
  // (its replUpToDateVector cursor for `invocation` is at least `usn`).
  int64_t usn = 0;

  // AD's conflict order: higher version, then later time, then larger id.
  bool operator<(const AttrStamp& o) const;
  bool operator==(const AttrStamp& o) const;
};

// Indexed by adsync::v1::Attribute value.
inline constexpr int kNumStampedAttributes = 8;
using Stamps = std::array<AttrStamp, kNumStampedAttributes>;

// Compact fixed-size encoding for storage (36 bytes per attribute; blobs
// of the earlier 28-byte form, without the USN, still decode).
std::string EncodeStamps(const Stamps& stamps);
Stamps DecodeStamps(absl::string_view blob);

// userAccountControl's ACCOUNTDISABLE bit (ADS_UF_ACCOUNTDISABLE).
inline constexpr uint32_t kUacAccountDisabled = 0x2;
inline bool AccountDisabled(uint32_t user_account_control) {
  return (user_account_control & kUacAccountDisabled) != 0;
}

// The state of one account as the coordinator stores it.
struct AccountState {
  std::string object_guid;  // 16-byte binary
  std::string sid;          // text form
  std::string sam_account_name;
  std::string user_principal_name;
  std::string mail;
  std::vector<std::string> proxy_addresses;
  std::string display_name;
  uint32_t user_account_control = 0;
  bool deleted = false;  // an AD tombstone
  bool absent = false;   // missing from the last completed full sync
  Stamps stamps;

  bool enabled() const { return !AccountDisabled(user_account_control); }
  // Holds no identities: deleted in AD or gone from a full sync.
  bool removed() const { return deleted || absent; }
};

// Converts a validated wire delta (GUID/SID already checked) into state,
// moving its strings out rather than copying them; `delta` is left with
// empty strings.
AccountState StateFromDelta(adsync::v1::ProfileDelta* delta,
                            std::string sid_text);

// True when `incoming` has no attribute newer than `stored`: merging it
// would change nothing (the common case for full syncs and failovers).
bool NothingNewer(const Stamps& stored, const Stamps& incoming);

// Merges `incoming` into `stored` attribute by attribute; an attribute is
// taken from `incoming` only when its stamp is newer. An absent account
// that is reported again comes back. Returns true when anything changed.
bool MergeAccount(const AccountState& incoming, AccountState* stored);

// True when what K12Panel holds for the account (login names, SID,
// enabled) differs between the two states.
bool PanelIdentityChanged(const AccountState& before,
                          const AccountState& after);

// The schema's partial index and the store's queries say "outcome = 0" for
// kMatched (an index definition cannot name a constant); see the
// static_assert in coordinator/sql_store/rows.h.
enum class Outcome : int {
  kMatched = 0,
  kUnmatched = 1,
  kAmbiguous = 2,
  kNoEmail = 3,
  kRemoved = 4,
};
const char* OutcomeName(Outcome outcome);

struct MatchSettings {
  bool match_proxy_addresses = false;
  bool match_upn = false;
};

struct MatchResult {
  Outcome outcome = Outcome::kNoEmail;
  std::string person_id;      // when matched
  std::string matched_email;  // the email that matched (or was ambiguous)
  std::vector<std::string> emails_tried;
  std::vector<std::string> candidate_person_ids;  // matched/ambiguous
};

// Returns the People (ids) holding a normalized email.
using PeopleByEmail =
    std::function<std::vector<std::string>(const std::string& email)>;

// docs/design.md, rule 2: candidate emails are mail (plus smtp:
// proxyAddresses and the UPN when the org enables them), trimmed and
// lower-cased. No Person: unmatched; more than one distinct Person over all
// candidates: ambiguous (never guess); exactly one: matched. Removed
// accounts match nobody.
MatchResult MatchAccount(const AccountState& account,
                         const MatchSettings& settings,
                         const PeopleByEmail& people_by_email);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_MERGE_RULES_H_
