#include "coordinator/merge_rules.h"

#include <algorithm>
#include <tuple>

#include "common/text.h"

namespace adsync {

using adsync::v1::Attribute;

DsaId DsaIdFromBytes(absl::string_view bytes) {
  DsaId id{};
  std::copy_n(bytes.begin(), std::min(bytes.size(), id.size()), id.begin());
  return id;
}

bool AttrStamp::operator<(const AttrStamp& o) const {
  return std::tie(version, time, invocation) <
         std::tie(o.version, o.time, o.invocation);
}

bool AttrStamp::operator==(const AttrStamp& o) const {
  return version == o.version && time == o.time && invocation == o.invocation;
}

namespace {
constexpr size_t kStampBytes = 36;
constexpr size_t kStampBytesWithoutUsn = 28;  // schema versions before 7

void PutLe(char* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
uint64_t GetLe(absl::string_view b, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i)
    v = v << 8 | static_cast<uint8_t>(b[pos + i]);
  return v;
}
}  // namespace

std::string EncodeStamps(const Stamps& stamps) {
  // Written in place: this runs for every account written (a million in a
  // large district's first full sync).
  std::string out(kStampBytes * kNumStampedAttributes, '\0');
  char* p = out.data();
  for (const AttrStamp& s : stamps) {
    PutLe(p, s.version, 4);
    PutLe(p + 4, static_cast<uint64_t>(s.time), 8);
    std::copy(s.invocation.begin(), s.invocation.end(), p + 12);
    PutLe(p + 28, static_cast<uint64_t>(s.usn), 8);
    p += kStampBytes;
  }
  return out;
}

Stamps DecodeStamps(absl::string_view blob) {
  Stamps stamps;
  size_t width = 0;
  if (blob.size() == kStampBytes * kNumStampedAttributes) {
    width = kStampBytes;
  } else if (blob.size() == kStampBytesWithoutUsn * kNumStampedAttributes) {
    width = kStampBytesWithoutUsn;
  } else {
    return stamps;
  }
  for (int i = 0; i < kNumStampedAttributes; ++i) {
    const size_t p = i * width;
    stamps[i].version = static_cast<uint32_t>(GetLe(blob, p, 4));
    stamps[i].time = static_cast<int64_t>(GetLe(blob, p + 4, 8));
    stamps[i].invocation = DsaIdFromBytes(blob.substr(p + 12, 16));
    if (width == kStampBytes) {
      stamps[i].usn = static_cast<int64_t>(GetLe(blob, p + 28, 8));
    }
  }
  return stamps;
}

AccountState StateFromDelta(adsync::v1::ProfileDelta* delta,
                            std::string sid_text) {
  // Wire deltas arrive in an arena; moving a string out takes its buffer
  // and leaves an empty string for the arena to clean up.
  const adsync::v1::ProfileDelta& d = *delta;
  AccountState s;
  s.object_guid = std::move(*delta->mutable_object_guid());
  s.sid = std::move(sid_text);
  s.sam_account_name = std::move(*delta->mutable_sam_account_name());
  s.user_principal_name = std::move(*delta->mutable_user_principal_name());
  s.mail = std::move(*delta->mutable_mail());
  s.proxy_addresses.reserve(d.proxy_addresses_size());
  for (std::string& p : *delta->mutable_proxy_addresses())
    s.proxy_addresses.push_back(std::move(p));
  s.display_name = std::move(*delta->mutable_display_name());
  s.user_account_control = d.user_account_control();
  s.deleted = d.deleted();
  for (const auto& st : d.stamps()) {
    const int a = st.attribute();
    if (a <= 0 || a >= kNumStampedAttributes) continue;
    s.stamps[a] = AttrStamp{st.version(), st.originating_time(),
                            DsaIdFromBytes(st.originating_invocation_id()),
                            st.originating_usn()};
  }
  return s;
}

bool NothingNewer(const Stamps& stored, const Stamps& incoming) {
  for (int i = 0; i < kNumStampedAttributes; ++i) {
    if (stored[i] < incoming[i]) return false;
  }
  return true;
}

bool MergeAccount(const AccountState& in, AccountState* st) {
  bool changed = false;
  auto take = [&](Attribute attr, auto member) {
    if (st->stamps[attr] < in.stamps[attr]) {
      st->stamps[attr] = in.stamps[attr];
      st->*member = in.*member;
      changed = true;
    }
  };
  take(adsync::v1::ATTRIBUTE_SAM_ACCOUNT_NAME, &AccountState::sam_account_name);
  take(adsync::v1::ATTRIBUTE_USER_PRINCIPAL_NAME,
       &AccountState::user_principal_name);
  take(adsync::v1::ATTRIBUTE_MAIL, &AccountState::mail);
  take(adsync::v1::ATTRIBUTE_PROXY_ADDRESSES, &AccountState::proxy_addresses);
  take(adsync::v1::ATTRIBUTE_DISPLAY_NAME, &AccountState::display_name);
  take(adsync::v1::ATTRIBUTE_USER_ACCOUNT_CONTROL,
       &AccountState::user_account_control);
  take(adsync::v1::ATTRIBUTE_IS_DELETED, &AccountState::deleted);
  if (st->sid.empty() && !in.sid.empty()) {
    st->sid = in.sid;
    changed = true;
  }
  if (st->absent) {  // reported again by a controller: it exists
    st->absent = false;
    changed = true;
  }
  return changed;
}

bool PanelIdentityChanged(const AccountState& a, const AccountState& b) {
  return a.sam_account_name != b.sam_account_name ||
         a.user_principal_name != b.user_principal_name || a.sid != b.sid ||
         a.enabled() != b.enabled();
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kMatched:
      return "matched";
    case Outcome::kUnmatched:
      return "unmatched";
    case Outcome::kAmbiguous:
      return "ambiguous";
    case Outcome::kNoEmail:
      return "no-email";
    case Outcome::kRemoved:
      return "removed";
  }
  return "unknown";
}

MatchResult MatchAccount(const AccountState& account,
                         const MatchSettings& settings,
                         const PeopleByEmail& people_by_email) {
  MatchResult r;
  if (account.removed()) {
    r.outcome = Outcome::kRemoved;
    return r;
  }
  auto add = [&](const std::string& email) {
    if (!email.empty() &&
        std::find(r.emails_tried.begin(), r.emails_tried.end(), email) ==
            r.emails_tried.end()) {
      r.emails_tried.push_back(email);
    }
  };
  add(NormalizeEmail(account.mail));
  if (settings.match_proxy_addresses) {
    for (const std::string& e : SmtpProxyAddresses(account.proxy_addresses))
      add(e);
  }
  if (settings.match_upn) add(NormalizeEmail(account.user_principal_name));
  if (r.emails_tried.empty()) {
    r.outcome = Outcome::kNoEmail;
    return r;
  }
  for (const std::string& email : r.emails_tried) {
    for (std::string& person : people_by_email(email)) {
      if (std::find(r.candidate_person_ids.begin(),
                    r.candidate_person_ids.end(),
                    person) == r.candidate_person_ids.end()) {
        if (r.candidate_person_ids.empty()) r.matched_email = email;
        r.candidate_person_ids.push_back(std::move(person));
      }
    }
  }
  if (r.candidate_person_ids.empty()) {
    r.outcome = Outcome::kUnmatched;
  } else if (r.candidate_person_ids.size() == 1) {
    r.outcome = Outcome::kMatched;
    r.person_id = r.candidate_person_ids[0];
  } else {
    r.outcome = Outcome::kAmbiguous;
    std::sort(r.candidate_person_ids.begin(), r.candidate_person_ids.end());
  }
  return r;
}

}  // namespace adsync
