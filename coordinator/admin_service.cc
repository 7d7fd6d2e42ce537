#include "coordinator/admin_service.h"

#include <openssl/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/guid.h"
#include "common/status_macros.h"
#include "coordinator/people_import.h"
#include "coordinator/preview.h"
#include "coordinator/store_errors.h"

namespace adsync {
namespace {

// Runs `fn` after the token check, turning its Status into grpc::Status.
template <typename Fn>
grpc::Status Handle(const grpc::ServerContext& context,
                    const std::string& token, Fn fn) {
  grpc::Status auth = CheckAdminToken(context, token);
  if (!auth.ok()) return auth;
  return ToGrpcStatus(fn());
}

// Copies a StatusOr's value into `out`.
template <typename T, typename U>
absl::Status Assign(absl::StatusOr<T> value, U* out) {
  if (!value.ok()) return value.status();
  *out = *std::move(value);
  return absl::OkStatus();
}

}  // namespace

grpc::Status CheckAdminToken(const grpc::ServerContext& context,
                             const std::string& token) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  const std::string given =
      it == md.end() ? "" : std::string(it->second.data(), it->second.size());
  const std::string expected = "Bearer " + token;
  if (given.size() != expected.size() ||
      CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing or wrong admin token; pass --token-file with "
                        "the coordinator's admin_token_file (or set "
                        "ADSYNC_ADMIN_TOKEN)");
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::CreateOrg(
    grpc::ServerContext* context, const adsync::v1::CreateOrgRequest* request,
    adsync::v1::Org* response) {
  return Handle(*context, token_,
                [&] { return Assign(store_->CreateOrg(*request), response); });
}

grpc::Status AdminService::ListOrgs(grpc::ServerContext* context,
                                    const adsync::v1::ListOrgsRequest*,
                                    adsync::v1::ListOrgsResponse* response) {
  return Handle(*context, token_, [&]() -> absl::Status {
    auto orgs = store_->ListOrgs();
    if (!orgs.ok()) return orgs.status();
    for (auto& o : *orgs) *response->add_orgs() = std::move(o);
    return absl::OkStatus();
  });
}

grpc::Status AdminService::AddSync(grpc::ServerContext* context,
                                   const adsync::v1::AddSyncRequest* request,
                                   adsync::v1::AddSyncResponse* response) {
  return Handle(*context, token_,
                [&] { return Assign(store_->AddSync(*request), response); });
}

grpc::Status AdminService::ListSyncs(
    grpc::ServerContext* context, const adsync::v1::ListSyncsRequest* request,
    adsync::v1::ListSyncsResponse* response) {
  return Handle(*context, token_, [&]() -> absl::Status {
    auto syncs = store_->ListSyncs(request->org_id());
    if (!syncs.ok()) return syncs.status();
    for (auto& s : *syncs) *response->add_syncs() = std::move(s);
    return absl::OkStatus();
  });
}

grpc::Status AdminService::RotateSyncKey(
    grpc::ServerContext* context,
    const adsync::v1::RotateSyncKeyRequest* request,
    adsync::v1::AddSyncResponse* response) {
  return Handle(*context, token_, [&]() -> absl::Status {
    absl::Status s = Assign(
        store_->RotateSyncKey(request->org_id(), request->sync_id()), response);
    if (s.ok()) {
      sync_revoked_(response->sync().sync_id(),
                    "the AD Sync's key was rotated; put the new key (shown by "
                    "`adsyncctl sync rotate-key`) into the agent's key file");
    }
    return s;
  });
}

grpc::Status AdminService::RemoveSync(
    grpc::ServerContext* context, const adsync::v1::RemoveSyncRequest* request,
    adsync::v1::RemoveSyncResponse*) {
  return Handle(*context, token_, [&]() -> absl::Status {
    absl::Status s = store_->RemoveSync(request->org_id(), request->sync_id());
    if (s.ok()) {
      auto sync_id = CanonicalGuid(request->sync_id(), "AD Sync ID");
      if (sync_id.ok()) {
        sync_revoked_(*sync_id,
                      "the AD Sync was removed; stop this agent, or register "
                      "it again with `adsyncctl sync add`");
      }
    }
    return s;
  });
}

grpc::Status AdminService::ImportPeople(
    grpc::ServerContext* context,
    const adsync::v1::ImportPeopleRequest* request,
    adsync::v1::ImportPeopleResponse* response) {
  return Handle(*context, token_, [&]() -> absl::Status {
    auto people = ParsePeopleCsv(request->csv(), request->format());
    if (!people.ok()) return people.status();
    if (request->dry_run()) {
      response->set_people(people->size());
      for (const Person& p : *people) {
        response->set_emails(response->emails() + p.emails.size());
      }
      return absl::OkStatus();
    }
    return Assign(store_->ReplacePeople(request->org_id(), *people), response);
  });
}

grpc::Status AdminService::PullPeople(
    grpc::ServerContext* context, const adsync::v1::PullPeopleRequest* request,
    adsync::v1::ImportPeopleResponse* response) {
  return Handle(*context, token_, [&]() -> absl::Status {
    if (panel_ == nullptr) {
      return absl::FailedPreconditionError(
          "no K12Panel is configured (panel.base_url in the coordinator "
          "config); "
          "import People from CSV with `adsyncctl people import` instead");
    }
    return Assign(panel_->PullPeople(request->org_id()), response);
  });
}

absl::StatusOr<std::vector<adsync::v1::PanelPersonIdentities>>
AdminService::ReadHeldIdentities(const std::string& org_id,
                                 const char* purpose) {
  if (panel_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no K12Panel is configured (panel.base_url in the coordinator "
        "config): ",
        purpose, " compares the org's mappings with what K12Panel holds"));
  }
  auto held = panel_->ReadHeldIdentities(org_id);
  if (!held.ok()) {
    return absl::Status(
        held.status().code(),
        absl::StrCat("reading the identities K12Panel holds for org ", org_id,
                     " failed: ", held.status().message(), "; ", purpose,
                     " needs them"));
  }
  return held;
}

grpc::Status AdminService::PreviewOrg(
    grpc::ServerContext* context, const adsync::v1::PreviewOrgRequest* request,
    adsync::v1::PreviewOrgResponse* response) {
  return Handle(*context, token_, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(adsync::v1::Org org, FindOrg(request->org_id()));
    ASSIGN_OR_RETURN(auto held, ReadHeldIdentities(org.org_id(), "a preview"));
    ASSIGN_OR_RETURN(std::vector<MappedPerson> mapped,
                     store_->MappedIdentities(org.org_id()));
    *response = ComputePreview(mapped, held);
    response->set_panel_read_unix(absl::ToUnixSeconds(absl::Now()));
    *response->mutable_org() = std::move(org);
    return absl::OkStatus();
  });
}

grpc::Status AdminService::SetOrgLive(
    grpc::ServerContext* context, const adsync::v1::SetOrgLiveRequest* request,
    adsync::v1::Org* response) {
  return Handle(*context, token_, [&]() -> absl::Status {
    if (!request->live()) {
      return Assign(store_->EnterPreview(request->org_id()), response);
    }
    ASSIGN_OR_RETURN(adsync::v1::Org org, FindOrg(request->org_id()));
    if (org.live()) {
      *response = std::move(org);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(auto held, ReadHeldIdentities(org.org_id(), "going live"));
    return Assign(store_->GoLive(org.org_id(), held, request->preview_digest()),
                  response);
  });
}

absl::StatusOr<adsync::v1::Org> AdminService::FindOrg(
    const std::string& org_id) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalGuid(org_id, "Org ID"));
  ASSIGN_OR_RETURN(std::vector<adsync::v1::Org> orgs, store_->ListOrgs());
  for (adsync::v1::Org& org : orgs) {
    if (org.org_id() == canonical) return std::move(org);
  }
  return UnknownOrgError(canonical);
}

grpc::Status AdminService::ResolveSweep(
    grpc::ServerContext* context,
    const adsync::v1::ResolveSweepRequest* request,
    adsync::v1::ResolveSweepResponse* response) {
  return Handle(*context, token_, [&]() -> absl::Status {
    auto removed = store_->ResolveSweep(request->org_id(), request->domain(),
                                        request->approve());
    if (!removed.ok()) return removed.status();
    response->set_removed(*removed);
    return absl::OkStatus();
  });
}

grpc::Status AdminService::ResolveQuarantine(
    grpc::ServerContext* context,
    const adsync::v1::ResolveQuarantineRequest* request,
    adsync::v1::PushStatus* response) {
  return Handle(*context, token_, [&] {
    return Assign(
        store_->ResolveQuarantine(request->org_id(), request->approve()),
        response);
  });
}

grpc::Status StatusService::GetStatus(
    grpc::ServerContext* context, const adsync::v1::GetStatusRequest* request,
    adsync::v1::GetStatusResponse* response) {
  return Handle(*context, token_, [&]() -> absl::Status {
    RETURN_IF_ERROR(Assign(store_->GetStatus(request->org_id()), response));
    if (hello_limiter_ == nullptr) return absl::OkStatus();
    const std::vector<BlockedSource> sources =
        hello_limiter_->Sources(absl::ToUnixMillis(absl::Now()));
    for (adsync::v1::OrgStatus& org : *response->mutable_orgs()) {
      for (const BlockedSource& b : sources) {
        if (b.org_id != org.org().org_id()) continue;
        adsync::v1::FailingSource* f = org.add_failing_sources();
        f->set_ip(b.ip);
        f->set_failed_hellos_last_minute(b.failures);
        f->set_refused_while_blocked(b.refused);
        f->set_blocked_until_unix_ms(b.blocked_until_ms);
      }
    }
    return absl::OkStatus();
  });
}

grpc::Status StatusService::ResolveLogin(
    grpc::ServerContext* context,
    const adsync::v1::ResolveLoginRequest* request,
    adsync::v1::ResolveLoginResponse* response) {
  return Handle(*context, token_, [&] {
    return Assign(store_->ResolveLogin(request->org_id(), request->login()),
                  response);
  });
}

grpc::Status StatusService::ListAccounts(
    grpc::ServerContext* context,
    const adsync::v1::ListAccountsRequest* request,
    adsync::v1::ListAccountsResponse* response) {
  return Handle(*context, token_, [&] {
    return Assign(store_->ListAccounts(*request), response);
  });
}

}  // namespace adsync
