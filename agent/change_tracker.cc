#include "agent/change_tracker.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/account_reader.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace adsync {

namespace {
int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(static_cast<unsigned char>(c));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// True for a character RFC 4514 escapes inside an attribute value.
bool EscapedInValue(char c) {
  return absl::string_view(",+\"\\<>;=").find(c) != absl::string_view::npos;
}

// One spelling per DN (RFC 4514 allows several): lower case, without the
// spaces after separating commas, every character of a value that RFC 4514
// escapes written "\c" however it came ("\2C", "\," and, for "=" and the
// like, bare), and every other escape decoded ("\41" is "a"). So an
// operator's base_dn written one way matches the DC's DN written another.
// Escaped spaces stay in the value.
std::string NormalizedDn(absl::string_view dn) {
  std::string out;
  bool after_separator = false;
  bool in_type = true;  // before the "=" of an RDN (or of a "+" part)
  for (size_t i = 0; i < dn.size(); ++i) {
    char c = dn[i];
    if (c != '\\') {
      if (after_separator && c == ' ') continue;
      after_separator = c == ',';
      if (c == ',' || c == '+') {
        in_type = true;
      } else if (in_type && c == '=') {
        in_type = false;
      } else if (!in_type && EscapedInValue(c)) {
        out += '\\';
      }
      out += absl::ascii_tolower(static_cast<unsigned char>(c));
      continue;
    }
    after_separator = false;
    if (i + 1 >= dn.size()) {  // a trailing lone backslash: kept as written
      out += c;
      break;
    }
    int high = HexDigitValue(dn[i + 1]);
    int low = i + 2 < dn.size() ? HexDigitValue(dn[i + 2]) : -1;
    if (high >= 0 && low >= 0) {
      c = static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      c = dn[++i];
    }
    if (EscapedInValue(c)) out += '\\';
    out += absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  return out;
}
// True when the comma at `at` separates RDNs: not escaped by an odd run of
// backslashes before it.
bool IsSeparator(absl::string_view dn, size_t at) {
  size_t backslashes = 0;
  while (backslashes < at && dn[at - 1 - backslashes] == '\\') ++backslashes;
  return dn[at] == ',' && backslashes % 2 == 0;
}
}  // namespace

bool IsUnderDn(absl::string_view dn, absl::string_view base) {
  const std::string d = NormalizedDn(dn);
  const std::string b = NormalizedDn(base);
  if (b.empty() || d.size() < b.size()) return false;
  if (d == b) return true;
  // "CN=x\,OU=Students,OU=School1" ends with ",ou=students,ou=school1" but
  // is an object of OU=School1, not of OU=Students.
  return d.size() > b.size() && absl::EndsWith(d, b) &&
         IsSeparator(d, d.size() - b.size() - 1);
}

std::string DnsNameOfNamingContext(absl::string_view naming_context) {
  std::vector<std::string> labels;
  for (absl::string_view rdn : absl::StrSplit(naming_context, ',')) {
    rdn = absl::StripAsciiWhitespace(rdn);
    if (rdn.size() > 3 && absl::EqualsIgnoreCase(rdn.substr(0, 3), "DC=")) {
      labels.push_back(absl::AsciiStrToLower(rdn.substr(3)));
    }
  }
  return absl::StrJoin(labels, ".");
}

std::string EscapeFilterValue(absl::string_view value) {
  std::string out;
  for (char c : value) {
    switch (c) {
      case '*':
        out += "\\2a";
        break;
      case '(':
        out += "\\28";
        break;
      case ')':
        out += "\\29";
        break;
      case '\\':
        out += "\\5c";
        break;
      case '\0':
        out += "\\00";
        break;
      default:
        out += c;
    }
  }
  return out;
}

ChangeTracker::ChangeTracker(Directory* directory, BatchSink* sink,
                             TrackerOptions options)
    : directory_(directory), sink_(sink), options_(std::move(options)) {}

absl::StatusOr<ControllerState> ChangeTracker::ReadController() {
  ASSIGN_OR_RETURN(RootDse dse, directory_->ReadRootDse());
  ControllerState dc;
  dc.host = dse.dns_host_name;
  dc.naming_context = dse.default_naming_context;
  dc.highest_committed_usn = dse.highest_committed_usn;
  for (const auto& c : dse.supported_controls) {
    if (c == kChangeNotificationControlOid)
      dc.offers_change_notification = true;
  }
  RETURN_IF_ERROR(
      directory_->Search(BaseObject(dse.ds_service_name, {"invocationId"}),
                         [&](const LdapEntry& e) {
                           dc.invocation_id = e.First("invocationid");
                           return absl::OkStatus();
                         }));
  dc.domain_dns_name = DnsNameOfNamingContext(dc.naming_context);
  if (!dse.configuration_naming_context.empty()) {
    SearchRequest partitions;
    partitions.base =
        absl::StrCat("CN=Partitions,", dse.configuration_naming_context);
    partitions.filter =
        absl::StrCat("(&(objectClass=crossRef)(nCName=",
                     EscapeFilterValue(dc.naming_context), "))");
    partitions.attributes = {"nETBIOSName"};
    partitions.page_size = 0;
    RETURN_IF_ERROR(directory_->Search(partitions, [&](const LdapEntry& e) {
      dc.netbios_name = e.First("netbiosname");
      return absl::OkStatus();
    }));
  }
  RETURN_IF_ERROR(directory_->Search(
      BaseObject(dc.naming_context, {"replUpToDateVector", "objectSid"}),
      [&](const LdapEntry& e) {
        dc.domain_sid = e.First("objectsid");
        const std::string& vector = e.First("repluptodatevector");
        if (vector.empty()) return absl::OkStatus();  // a lone DC may have none
        auto cursors = ParseUpToDateVector(vector);
        if (cursors.ok()) dc.replication = *std::move(cursors);
        return absl::OkStatus();
      }));
  if (dc.invocation_id.size() != 16) {
    return absl::DataLossError(absl::StrCat(
        "could not read the DC's invocationId from ", dse.ds_service_name,
        "; the bind account needs read access to the DC's NTDS Settings"));
  }
  return dc;
}

absl::Status ChangeTracker::FlushBatch(bool final, const ControllerState* dc) {
  if (pending_.deltas_size() == 0 && !final && !begin_pending_)
    return absl::OkStatus();
  if (begin_pending_) {
    pending_.set_full_sync_begin(true);
    begin_pending_ = false;
  }
  if (final) {
    pending_.mutable_watermark()->set_invocation_id(dc->invocation_id);
    pending_.mutable_watermark()->set_usn(dc->highest_committed_usn);
  }
  adsync::v1::Batch batch;
  batch.Swap(&pending_);
  return sink_->Send(std::move(batch));
}

absl::Status ChangeTracker::Add(const LdapEntry& entry, CycleStats* stats) {
  auto delta = EntryToDelta(entry);
  if (!delta.ok()) {
    // One unreadable account must not stop the domain's sync.
    ++stats->skipped;
    Log(LogLevel::kError, "skipping account",
        {{"reason", std::string(delta.status().message())}});
    return absl::OkStatus();
  }
  stats->highest_usn_seen =
      std::max(stats->highest_usn_seen, delta->usn_changed());
  *pending_.add_deltas() = *std::move(delta);
  ++stats->deltas;
  if (pending_.deltas_size() >=
      static_cast<int>(options_.max_deltas_per_batch)) {
    return FlushBatch(false, nullptr);
  }
  return absl::OkStatus();
}

absl::Status ChangeTracker::Stream(const SearchRequest& request,
                                   CycleStats* stats) {
  return directory_->Search(
      request, [&](const LdapEntry& entry) { return Add(entry, stats); });
}

namespace {
// An object deleted or renamed since it was notified is covered by the next
// Incremental; reading it finds nothing.
absl::Status IgnoreGone(absl::Status s) {
  return absl::IsNotFound(s) ? absl::OkStatus() : s;
}
std::vector<std::string> Bases(const TrackerOptions& o,
                               const ControllerState& dc) {
  return o.base_dns.empty() ? std::vector<std::string>{dc.naming_context}
                            : o.base_dns;
}
std::string Filter(const TrackerOptions& o) {
  return o.filter.empty() ? kDefaultAccountFilter : o.filter;
}
// Tombstones move to the domain's Deleted Objects container and lose
// objectCategory, so they are found by objectClass, anywhere in the domain.
std::string TombstoneFilter(absl::string_view and_also) {
  return absl::StrCat(
      "(&(isDeleted=TRUE)(objectClass=user)(!(objectClass=computer))", and_also,
      ")");
}
}  // namespace

absl::StatusOr<CycleStats> ChangeTracker::FullSync(const ControllerState& dc) {
  pending_.Clear();
  begin_pending_ = true;
  CycleStats stats;
  stats.watermark_usn = dc.highest_committed_usn;
  for (const std::string& base : Bases(options_, dc)) {
    SearchRequest req;
    req.base = base;
    req.filter = Filter(options_);
    req.attributes = AccountAttributes();
    req.page_size = options_.page_size;
    RETURN_IF_ERROR(Stream(req, &stats));
  }
  pending_.set_full_sync_end(true);
  // The coordinator holds the sweep when entries could not be read: they
  // exist in AD, and must not count as gone.
  pending_.set_skipped_entries(stats.skipped);
  RETURN_IF_ERROR(FlushBatch(true, &dc));
  return stats;
}

absl::StatusOr<CycleStats> ChangeTracker::Incremental(const ControllerState& dc,
                                                      int64_t since_usn) {
  pending_.Clear();
  begin_pending_ = false;
  CycleStats stats;
  stats.watermark_usn = dc.highest_committed_usn;
  const std::string usn_clause =
      absl::StrCat("(uSNChanged>=", since_usn + 1, ")");
  for (const std::string& base : Bases(options_, dc)) {
    SearchRequest req;
    req.base = base;
    req.filter = absl::StrCat("(&", Filter(options_), usn_clause, ")");
    req.attributes = AccountAttributes();
    req.page_size = options_.page_size;
    RETURN_IF_ERROR(Stream(req, &stats));
  }
  SearchRequest deleted;
  deleted.base = dc.naming_context;
  deleted.filter = TombstoneFilter(usn_clause);
  deleted.attributes = AccountAttributes();
  deleted.show_deleted = true;
  deleted.page_size = options_.page_size;
  RETURN_IF_ERROR(Stream(deleted, &stats));
  RETURN_IF_ERROR(FlushBatch(true, &dc));
  return stats;
}

const std::vector<std::string>& NotificationAttributes() {
  static const std::vector<std::string>* const kAttributes = [] {
    auto* attributes = new std::vector<std::string>(AccountAttributes());
    attributes->push_back("objectClass");
    attributes->push_back("objectCategory");
    return attributes;
  }();
  return *kAttributes;
}

namespace {
bool InScope(const std::string& dn, const std::vector<std::string>& bases) {
  return std::any_of(bases.begin(), bases.end(),
                     [&](const std::string& b) { return IsUnderDn(dn, b); });
}
}  // namespace

ChangeTracker::NotifiedKind ChangeTracker::Classify(
    const LdapEntry& object, const std::vector<std::string>& bases) const {
  auto classes = object.attributes.find("objectclass");
  if (classes == object.attributes.end()) return NotifiedKind::kRead;
  bool user = false, computer = false;
  for (const std::string& c : classes->second) {
    user |= absl::EqualsIgnoreCase(c, "user");
    computer |= absl::EqualsIgnoreCase(c, "computer");
  }
  if (absl::EqualsIgnoreCase(object.First("isdeleted"), "TRUE")) {
    // The tombstone search's rule, whatever the filter: anywhere in the
    // domain.
    return user && !computer ? NotifiedKind::kAccount : NotifiedKind::kOther;
  }
  if (!InScope(object.dn, bases)) return NotifiedKind::kOther;
  // Only the default filter is judged here; any other is the DC's to
  // evaluate, on a read of the object.
  if (Filter(options_) != kDefaultAccountFilter) return NotifiedKind::kReadLive;
  // (objectCategory=person) matches the category Person of the schema.
  const bool person =
      absl::StartsWithIgnoreCase(object.First("objectcategory"), "CN=Person,");
  return user && person ? NotifiedKind::kAccount : NotifiedKind::kOther;
}

absl::Status ChangeTracker::ReadNotified(const std::string& dn,
                                         const std::vector<std::string>& bases,
                                         bool live_only, absl::Duration timeout,
                                         CycleStats* stats) {
  const uint64_t before = stats->deltas + stats->skipped;
  if (InScope(dn, bases)) {
    SearchRequest live = BaseObject(dn, AccountAttributes());
    live.filter = Filter(options_);
    live.timeout = timeout;
    RETURN_IF_ERROR(IgnoreGone(Stream(live, stats)));
  }
  if (live_only || stats->deltas + stats->skipped > before) {
    return absl::OkStatus();
  }
  SearchRequest tombstone = BaseObject(dn, AccountAttributes());
  tombstone.filter = TombstoneFilter("");
  tombstone.show_deleted = true;
  tombstone.timeout = timeout;
  return IgnoreGone(Stream(tombstone, stats));
}

absl::StatusOr<CycleStats> ChangeTracker::SendNotified(
    const ControllerState& dc, const std::vector<LdapEntry>& objects,
    absl::Duration read_timeout) {
  pending_.Clear();
  begin_pending_ = false;
  CycleStats stats;
  const std::vector<std::string> bases = Bases(options_, dc);
  std::set<std::string> read;  // an object changed twice: read once
  for (const LdapEntry& object : objects) {
    if (int64_t usn = 0; absl::SimpleAtoi(object.First("usnchanged"), &usn)) {
      stats.highest_usn_seen = std::max(stats.highest_usn_seen, usn);
    }
    const NotifiedKind kind = Classify(object, bases);
    switch (kind) {
      case NotifiedKind::kAccount:
        RETURN_IF_ERROR(Add(object, &stats));
        break;
      case NotifiedKind::kOther:
        break;
      case NotifiedKind::kRead:
      case NotifiedKind::kReadLive:
        if (!read.insert(object.dn).second) break;
        RETURN_IF_ERROR(ReadNotified(object.dn, bases,
                                     kind == NotifiedKind::kReadLive,
                                     read_timeout, &stats));
        break;
    }
  }
  RETURN_IF_ERROR(FlushBatch(false, nullptr));
  return stats;
}

}  // namespace adsync
