#include "coordinator/session_policy.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/guid.h"
#include "common/net.h"
#include "common/sid.h"
#include "coordinator/validation.h"

namespace adsync {
namespace {

// Every Hello field within its own cap, plus the DC's replication
// position, fits easily.
constexpr size_t kMaxHelloBytes = 64 << 10;

// The Hello's domain must be the AD Sync's: a key copied onto an agent of
// another domain would otherwise write (and at its first full sync,
// remove) the registered domain's accounts. Returns the domain SID in text
// form ("" when the agent sent none).
absl::StatusOr<std::string> CheckHelloDomain(const SyncRecord& sync,
                                             const adsync::v1::Hello& hello) {
  const std::string& netbios = hello.domain_netbios_name();
  const std::string& dns = hello.domain_dns_name();
  if (!netbios.empty()) {
    if (!ValidateDomainName(netbios).ok()) {
      return absl::InvalidArgumentError(
          "Hello.domain_netbios_name is not a NetBIOS domain name; upgrade "
          "or reinstall the agent");
    }
    if (!absl::EqualsIgnoreCase(netbios, sync.domain)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "this agent's DC serves domain ", absl::AsciiStrToUpper(netbios),
          " but AD Sync ", sync.sync_id, " is registered for domain ",
          sync.domain, "; give this agent the key of an AD Sync of ",
          absl::AsciiStrToUpper(netbios), " (`adsyncctl sync add --domain ",
          absl::AsciiStrToUpper(netbios), "`), or point it at a DC of ",
          sync.domain));
    }
  }
  if (!dns.empty()) {
    for (char c : dns) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
          c != '-') {
        return absl::InvalidArgumentError(
            "Hello.domain_dns_name is not a DNS name; upgrade or reinstall "
            "the agent");
      }
    }
    if (!sync.dns_name.empty() && !absl::EqualsIgnoreCase(dns, sync.dns_name)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "this agent's DC serves ", dns, " but AD Sync ", sync.sync_id,
          " is registered for ", sync.dns_name, " (", sync.domain,
          "); point the agent at a DC of ", sync.dns_name,
          ", or use the key of an AD Sync of ", dns));
    }
  }
  if (hello.domain_sid().empty()) return std::string();
  absl::StatusOr<std::string> sid = SidBinaryToString(hello.domain_sid());
  if (!sid.ok()) {
    return absl::InvalidArgumentError(
        "Hello.domain_sid is not a SID; upgrade or reinstall the agent");
  }
  return sid;
}

// With mutual TLS, the agent's (CA-verified) certificate must name the AD
// Sync its key authenticated as: one agent's certificate is then no use
// with another's key.
absl::Status CheckCertificateNamesSync(const std::vector<std::string>& names,
                                       const std::string& sync_id) {
  std::string named;
  for (const std::string& name : names) {
    if (absl::EqualsIgnoreCase(name, sync_id)) return absl::OkStatus();
    if (named.empty()) named = name.substr(0, 64);
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "the agent's client certificate names \"", named, "\", not AD Sync ",
      sync_id,
      "; issue this agent a certificate whose subject CN is its AD "
      "Sync ID (scripts/make_certs.sh DIR agent NAME ",
      sync_id, " with the coordinator's client CA)"));
}

SessionPolicy::Role RoleOf(const LeaseGrant& lease,
                           const WatermarkState& watermark,
                           const std::string& invocation_id) {
  SessionPolicy::Role role;
  role.primary = lease.primary;
  role.epoch = lease.epoch;
  if (lease.primary) role.resume = DecideResume(watermark, invocation_id);
  return role;
}

}  // namespace

ResumePoint DecideResume(const WatermarkState& w,
                         const std::string& invocation_id) {
  ResumePoint r;
  if (!w.has_watermark) {
    r.full_sync = true;
    r.reason = w.full_sync_in_progress ? "the previous full sync did not finish"
                                       : "no watermark yet";
  } else if (w.invocation_id != invocation_id) {
    r.full_sync = true;
    r.reason =
        "the controller's invocationId changed (restored from backup, or a "
        "different DC); its USNs cannot be compared with the watermark";
  } else {
    r.watermark.set_invocation_id(w.invocation_id);
    r.watermark.set_usn(w.usn);
  }
  return r;
}

absl::Status CheckHelloSizes(const adsync::v1::Hello& hello) {
  if (const size_t size = hello.ByteSizeLong(); size > kMaxHelloBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the Hello is ", size, " bytes, more than ", kMaxHelloBytes,
        " allowed; upgrade or reinstall the agent"));
  }
  struct Field {
    const char* name;
    size_t size;
    size_t max;
    const char* what;
  };
  const Field fields[] = {
      {"org_id", hello.org_id().size(), 64, "an Org ID is a 36-character GUID"},
      {"sync_key", hello.sync_key().size(), 64,
       "an AD Sync key is a 36-character GUID"},
      {"agent_version", hello.agent_version().size(), 64,
       "upgrade or reinstall the agent"},
      {"controller", hello.controller().size(), 255,
       "a DC host name has at most 255 characters"},
      {"domain_dns_name", hello.domain_dns_name().size(), 255,
       "a DNS name has at most 255 characters"},
      {"domain_netbios_name", hello.domain_netbios_name().size(), 15,
       "a NetBIOS domain name has at most 15 characters"},
  };
  for (const Field& f : fields) {
    if (f.size > f.max) {
      return absl::InvalidArgumentError(
          absl::StrCat("Hello.", f.name, " is ", f.size, " bytes, more than ",
                       f.max, " allowed (", f.what, ")"));
    }
  }
  if (hello.invocation_id().size() != 16) {
    return absl::InvalidArgumentError(
        "Hello.invocation_id must be the DC's 16-byte invocationId; upgrade "
        "or reinstall the agent");
  }
  return absl::OkStatus();
}

SessionPolicy::SessionPolicy(AgentStore* store, int64_t lease_ttl_ms)
    : store_(store), lease_ttl_ms_(lease_ttl_ms) {}

SessionPolicy::HelloOutcome SessionPolicy::Admit(
    const adsync::v1::Hello& hello, const std::string& peer_ip,
    const std::optional<std::vector<std::string>>& certificate_names) const {
  // The gateway checks sizes on the gRPC thread before it posts the Hello;
  // checked again so that no caller can hand the store an unchecked one.
  if (absl::Status sizes = CheckHelloSizes(hello); !sizes.ok()) {
    Rejection r;
    r.status = sizes;
    r.metric = "bad_hello";
    r.failed_hello = true;
    HelloOutcome out;
    out.admission = std::move(sizes);
    out.rejection = std::move(r);
    return out;
  }
  absl::StatusOr<SyncRecord> sync =
      store_->Authenticate(hello.org_id(), hello.sync_key());
  if (!sync.ok()) {
    Rejection r;
    r.status = absl::UnauthenticatedError(sync.status().message());
    r.metric = absl::IsPermissionDenied(sync.status()) ? "bad_credentials"
                                                       : "bad_hello";
    absl::StatusOr<std::string> claimed =
        CanonicalGuid(hello.org_id(), "Org ID");
    if (claimed.ok()) r.org_id = *std::move(claimed);
    r.failed_hello =
        !absl::IsUnavailable(sync.status()) && !absl::IsInternal(sync.status());
    return Reject(std::move(r), hello.org_id(), peer_ip);
  }
  Rejection r;
  r.org_id = sync->org_id;
  r.sync_id = sync->sync_id;
  if (!AddressInRanges(peer_ip, sync->allowed_ips)) {
    std::vector<std::string> allowed;
    for (const IpRange& range : sync->allowed_ips)
      allowed.push_back(range.text);
    r.status = absl::PermissionDeniedError(absl::StrCat(
        "sync came from ", peer_ip, "; registered external IP",
        allowed.size() == 1 ? " is " : "s are ", absl::StrJoin(allowed, ", "),
        ". If the agent's address changed, update the AD Sync's IPs "
        "(remove and add it again with --ip ",
        peer_ip, ")"));
    r.metric = "wrong_source_ip";
    r.failed_hello = true;
    return Reject(std::move(r), sync->org_id, peer_ip);
  }
  if (certificate_names.has_value()) {
    r.status = CheckCertificateNamesSync(*certificate_names, sync->sync_id);
    if (!r.status.ok()) {
      r.metric = "wrong_certificate";
      return Reject(std::move(r), sync->org_id, peer_ip);
    }
  }
  absl::StatusOr<std::string> domain_sid = CheckHelloDomain(*sync, hello);
  if (domain_sid.ok()) domain_sid = store_->PinDomainSid(*sync, *domain_sid);
  if (!domain_sid.ok()) {
    r.status = domain_sid.status();
    r.metric = "wrong_domain";
    return Reject(std::move(r), sync->org_id, peer_ip);
  }

  absl::StatusOr<WatermarkState> watermark =
      store_->GetWatermark(sync->sync_id);
  if (!watermark.ok()) return {watermark.status(), std::nullopt};
  absl::Status recorded = store_->RecordConnection(sync->sync_id, true, peer_ip,
                                                   hello.controller());
  if (recorded.ok()) {
    // The DC's replUpToDateVector, from the Hello: a full sync right
    // after it must know how far this DC has replicated (its sweep).
    recorded = store_->RecordControllerPosition(
        sync->sync_id, hello.invocation_id(), hello.position());
  }
  if (!recorded.ok()) return {recorded, std::nullopt};
  return {Admission{*std::move(sync), *std::move(domain_sid),
                    *std::move(watermark)},
          std::nullopt};
}

SessionPolicy::HelloOutcome SessionPolicy::Reject(
    Rejection rejection, const std::string& org_id,
    const std::string& peer_ip) const {
  store_
      ->RecordRejection(org_id, rejection.sync_id, peer_ip,
                        std::string(rejection.status.message()))
      .IgnoreError();
  absl::Status status = rejection.status;
  return {std::move(status), std::move(rejection)};
}

absl::StatusOr<SessionPolicy::Role> SessionPolicy::TakeRole(
    const Admission& admission, const std::string& invocation_id,
    int64_t now_ms) const {
  absl::StatusOr<LeaseGrant> lease = store_->AcquireLease(
      admission.sync, now_ms, lease_ttl_ms_,
      "connected while the domain had no live primary", /*last_sequence=*/0);
  if (!lease.ok()) return lease.status();
  return RoleOf(*lease, admission.watermark, invocation_id);
}

absl::StatusOr<SessionPolicy::Role> SessionPolicy::Promote(
    const SyncRecord& sync, const std::string& invocation_id,
    const std::string& reason, uint64_t last_sequence, int64_t now_ms) const {
  absl::StatusOr<WatermarkState> watermark = store_->GetWatermark(sync.sync_id);
  if (!watermark.ok()) return watermark.status();
  absl::StatusOr<LeaseGrant> lease =
      store_->AcquireLease(sync, now_ms, lease_ttl_ms_, reason, last_sequence);
  if (absl::IsPermissionDenied(lease.status())) return lease.status();
  if (!lease.ok()) return Role();
  return RoleOf(*lease, *watermark, invocation_id);
}

}  // namespace adsync
