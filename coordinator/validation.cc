#include "coordinator/validation.h"

#include "absl/strings/ascii.h"
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

absl::Status CheckText(int index, absl::string_view field,
                       absl::string_view value, const BatchLimits& limits) {
  if (value.size() > limits.max_string_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("delta ", index, ": ", field, " is ", value.size(),
                     " bytes; the limit is ", limits.max_string_bytes));
  }
  if (!IsValidUtf8(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("delta ", index, ": ", field, " is not valid UTF-8"));
  }
  return absl::OkStatus();
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
    }
    struct Field {
      const char* name;
      const std::string& value;
    };
    for (const Field& f :
         {Field{"sAMAccountName", d.sam_account_name()},
          Field{"userPrincipalName", d.user_principal_name()},
          Field{"mail", d.mail()}, Field{"displayName", d.display_name()}}) {
      absl::Status s = CheckText(i, f.name, f.value, limits);
      if (!s.ok()) return s;
    }
    if (d.proxy_addresses_size() >
        static_cast<int>(limits.max_proxy_addresses)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "delta ", i, ": ", d.proxy_addresses_size(),
          " proxyAddresses; the limit is ", limits.max_proxy_addresses));
    }
    for (const std::string& p : d.proxy_addresses()) {
      absl::Status s = CheckText(i, "proxyAddresses", p, limits);
      if (!s.ok()) return s;
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
