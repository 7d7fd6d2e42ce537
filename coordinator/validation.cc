#include "coordinator/validation.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/guid.h"
#include "common/sid.h"
#include "common/text.h"

namespace adsync {

absl::StatusOr<std::string> ValidateDomainName(absl::string_view raw) {
  absl::string_view name = absl::StripAsciiWhitespace(raw);
  if (name.empty()) {
    return absl::InvalidArgumentError(
        "domain is required: the domain's simple (NetBIOS) name, e.g. "
        "\"DISTRICT\" for district.org");
  }
  const size_t dot = name.find('.');
  if (dot != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("domain \"", name,
                     "\" has an extension; use the simple name without "
                     "it (\"",
                     name.substr(0, dot), "\" for ", name, ")"));
  }
  if (name.size() > 15) {
    return absl::InvalidArgumentError(
        absl::StrCat("domain \"", name,
                     "\" is longer than 15 characters; a NetBIOS domain "
                     "name has at most 15 (see `nbtstat -n` or the DOMAIN part "
                     "of DOMAIN\\user)"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '_') {
      return absl::InvalidArgumentError(
          absl::StrCat("domain \"", name, "\" contains '", std::string(1, c),
                       "'; use letters, digits, '-' or '_'"));
    }
  }
  return absl::AsciiStrToUpper(name);
}

namespace {

// An account of domain D has the SID D-RID.
bool SidInDomain(absl::string_view sid, absl::string_view domain_sid) {
  if (sid.size() <= domain_sid.size() + 1 ||
      !absl::StartsWith(sid, domain_sid) || sid[domain_sid.size()] != '-') {
    return false;
  }
  for (char c : sid.substr(domain_sid.size() + 1)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::Status CheckUtf8(int index, absl::string_view field,
                       absl::string_view value) {
  if (!IsValidUtf8(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("delta ", index, ": ", field, " is not valid UTF-8"));
  }
  return absl::OkStatus();
}

// An account's single-valued text attributes, by their AD names.
struct TextField {
  const char* name;
  const std::string& value;
};
std::array<TextField, 4> TextFields(const adsync::v1::ProfileDelta& d) {
  return {TextField{"sAMAccountName", d.sam_account_name()},
          TextField{"userPrincipalName", d.user_principal_name()},
          TextField{"mail", d.mail()},
          TextField{"displayName", d.display_name()}};
}

// Why an account's values are over the limits (what to change in AD), or
// "" when they are within them.
std::string OversizedReason(const adsync::v1::ProfileDelta& d,
                            const BatchLimits& limits) {
  for (const TextField& f : TextFields(d)) {
    if (f.value.size() > limits.max_string_bytes) {
      return absl::StrCat(f.name, " is ", f.value.size(),
                          " bytes, over the limit of ", limits.max_string_bytes,
                          "; shorten it in AD");
    }
  }
  if (d.proxy_addresses_size() > static_cast<int>(limits.max_proxy_addresses)) {
    return absl::StrCat("it has ", d.proxy_addresses_size(),
                        " proxyAddresses, over the limit of ",
                        limits.max_proxy_addresses,
                        "; remove addresses no longer used in AD");
  }
  for (const std::string& p : d.proxy_addresses()) {
    if (p.size() > limits.max_string_bytes) {
      return absl::StrCat("a proxyAddresses value is ", p.size(),
                          " bytes, over the limit of ", limits.max_string_bytes,
                          "; shorten or remove it in AD");
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<PreparedBatch> PrepareBatch(adsync::v1::Batch* wire,
                                           const BatchLimits& limits) {
  const adsync::v1::Batch& batch = *wire;
  if (batch.deltas_size() > static_cast<int>(limits.max_deltas)) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch ", batch.sequence(), " has ", batch.deltas_size(),
                     " deltas; the coordinator accepts at most ",
                     limits.max_deltas, " per batch"));
  }
  if (batch.has_watermark() && batch.watermark().invocation_id().size() != 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch ", batch.sequence(),
                     ": watermark invocationId must be 16 bytes"));
  }
  PreparedBatch prepared;
  prepared.sequence = batch.sequence();
  prepared.lease_epoch = batch.lease_epoch();
  prepared.full_sync_begin = batch.full_sync_begin();
  prepared.full_sync_end = batch.full_sync_end();
  prepared.has_watermark = batch.has_watermark();
  prepared.watermark = batch.watermark();
  prepared.skipped_entries = batch.skipped_entries();
  prepared.accounts.reserve(batch.deltas_size());
  for (int i = 0; i < batch.deltas_size(); ++i) {
    const adsync::v1::ProfileDelta& d = batch.deltas(i);
    if (d.object_guid().size() != 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("delta ", i, ": objectGUID must be 16 bytes, got ",
                       d.object_guid().size()));
    }
    std::string sid;
    if (!d.object_sid().empty() || !d.deleted()) {
      auto parsed = SidBinaryToString(d.object_sid());
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "delta ", i, " (objectGUID ", *GuidBinaryToString(d.object_guid()),
            "): objectSid: ", parsed.status().message()));
      }
      sid = *std::move(parsed);
      if (!limits.domain_sid.empty() && !SidInDomain(sid, limits.domain_sid)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "delta ", i, " (objectGUID ", *GuidBinaryToString(d.object_guid()),
            "): objectSid ", sid, " is not in the agent's domain ",
            limits.domain_sid, "; the agent must read only its own domain"));
      }
    }
    for (const TextField& f : TextFields(d)) {
      absl::Status s = CheckUtf8(i, f.name, f.value);
      if (!s.ok()) return s;
    }
    for (const std::string& p : d.proxy_addresses()) {
      absl::Status s = CheckUtf8(i, "proxyAddresses", p);
      if (!s.ok()) return s;
    }
    std::string oversized = OversizedReason(d, limits);
    if (!oversized.empty()) {
      SkippedAccount& skipped = prepared.skipped.emplace_back();
      skipped.object_guid = d.object_guid();
      if (d.sam_account_name().size() <= 256) {
        skipped.sam_account_name = d.sam_account_name();
      }
      skipped.reason = std::move(oversized);
      continue;
    }
    if (!d.deleted() && d.sam_account_name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("delta ", i, ": sAMAccountName is empty"));
    }
    bool has_sam_stamp = false;
    for (const auto& st : d.stamps()) {
      if (st.attribute() <= adsync::v1::ATTRIBUTE_UNSPECIFIED ||
          st.attribute() > adsync::v1::ATTRIBUTE_IS_DELETED) {
        return absl::InvalidArgumentError(absl::StrCat(
            "delta ", i, ": stamp for unknown attribute ", st.attribute()));
      }
      if (st.originating_invocation_id().size() != 16) {
        return absl::InvalidArgumentError(absl::StrCat(
            "delta ", i, ": stamp originating invocationId must be 16 bytes"));
      }
      has_sam_stamp |= st.attribute() == adsync::v1::ATTRIBUTE_SAM_ACCOUNT_NAME;
    }
    if (!has_sam_stamp) {
      return absl::InvalidArgumentError(absl::StrCat(
          "delta ", i,
          ": replication metadata for sAMAccountName is missing; "
          "the agent must read replPropertyMetaData (upgrade the agent)"));
    }
    prepared.accounts.push_back(
        StateFromDelta(wire->mutable_deltas(i), std::move(sid)));
  }
  return prepared;
}

}  // namespace adsync
