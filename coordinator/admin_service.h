// Operator services (Admin, Status): thin handlers that check the admin
// token, validate, and call the Store. They run on gRPC's synchronous
// thread pool, separate from the agent gateway, so blocking on the store
// here never stalls agent streams.
//
// Thread-safety: safe for concurrent calls.
#ifndef ADSYNC_COORDINATOR_ADMIN_SERVICE_H_
#define ADSYNC_COORDINATOR_ADMIN_SERVICE_H_

#include <functional>
#include <string>

#include "adsync/v1/admin.grpc.pb.h"
#include "coordinator/hello_limiter.h"
#include "coordinator/panel_sync.h"
#include "coordinator/store.h"

namespace adsync {

// Checks "authorization: Bearer <token>" in constant time.
grpc::Status CheckAdminToken(const grpc::ServerContext& context,
                             const std::string& token);

class AdminService final : public adsync::v1::Admin::Service {
 public:
  // REQUIRES: `store` (and `panel`, which may be null when no K12Panel is
  // configured) outlive the service.
  // Called after an AD Sync was removed or its key rotated, with the sync
  // and why, so that its open streams end at once.
  using SyncRevokedFn =
      std::function<void(const std::string& sync_id, const std::string& why)>;

  AdminService(AdminStore* store, PanelSync* panel, std::string admin_token,
               SyncRevokedFn sync_revoked)
      : store_(store),
        panel_(panel),
        token_(std::move(admin_token)),
        sync_revoked_(std::move(sync_revoked)) {}

  grpc::Status CreateOrg(grpc::ServerContext* context,
                         const adsync::v1::CreateOrgRequest* request,
                         adsync::v1::Org* response) override;
  grpc::Status ListOrgs(grpc::ServerContext* context,
                        const adsync::v1::ListOrgsRequest* request,
                        adsync::v1::ListOrgsResponse* response) override;
  grpc::Status AddSync(grpc::ServerContext* context,
                       const adsync::v1::AddSyncRequest* request,
                       adsync::v1::AddSyncResponse* response) override;
  grpc::Status ListSyncs(grpc::ServerContext* context,
                         const adsync::v1::ListSyncsRequest* request,
                         adsync::v1::ListSyncsResponse* response) override;
  grpc::Status RotateSyncKey(grpc::ServerContext* context,
                             const adsync::v1::RotateSyncKeyRequest* request,
                             adsync::v1::AddSyncResponse* response) override;
  grpc::Status RemoveSync(grpc::ServerContext* context,
                          const adsync::v1::RemoveSyncRequest* request,
                          adsync::v1::RemoveSyncResponse* response) override;
  grpc::Status ImportPeople(
      grpc::ServerContext* context,
      const adsync::v1::ImportPeopleRequest* request,
      adsync::v1::ImportPeopleResponse* response) override;
  grpc::Status PullPeople(grpc::ServerContext* context,
                          const adsync::v1::PullPeopleRequest* request,
                          adsync::v1::ImportPeopleResponse* response) override;
  grpc::Status ResolveSweep(
      grpc::ServerContext* context,
      const adsync::v1::ResolveSweepRequest* request,
      adsync::v1::ResolveSweepResponse* response) override;
  grpc::Status ResolveQuarantine(
      grpc::ServerContext* context,
      const adsync::v1::ResolveQuarantineRequest* request,
      adsync::v1::PushStatus* response) override;
  grpc::Status PreviewOrg(grpc::ServerContext* context,
                          const adsync::v1::PreviewOrgRequest* request,
                          adsync::v1::PreviewOrgResponse* response) override;
  grpc::Status SetOrgLive(grpc::ServerContext* context,
                          const adsync::v1::SetOrgLiveRequest* request,
                          adsync::v1::Org* response) override;

 private:
  // The org by its ID (in any case); NotFound saying how to list them.
  absl::StatusOr<adsync::v1::Org> FindOrg(const std::string& org_id);
  // What K12Panel holds for the org (a canonical ID); FailedPrecondition
  // without a K12Panel. `purpose` ("a preview", "going live") is named in
  // errors.
  absl::StatusOr<std::vector<adsync::v1::PanelPersonIdentities>>
  ReadHeldIdentities(const std::string& org_id, const char* purpose);

  AdminStore* const store_;
  PanelSync* const panel_;
  const std::string token_;
  const SyncRevokedFn sync_revoked_;
};

class StatusService final : public adsync::v1::Status::Service {
 public:
  // REQUIRES: `store` and `hello_limiter` (may be null) outlive the service.
  StatusService(StatusStore* store, HelloLimiter* hello_limiter,
                std::string admin_token)
      : store_(store),
        hello_limiter_(hello_limiter),
        token_(std::move(admin_token)) {}

  grpc::Status GetStatus(grpc::ServerContext* context,
                         const adsync::v1::GetStatusRequest* request,
                         adsync::v1::GetStatusResponse* response) override;
  grpc::Status ResolveLogin(
      grpc::ServerContext* context,
      const adsync::v1::ResolveLoginRequest* request,
      adsync::v1::ResolveLoginResponse* response) override;
  grpc::Status ListAccounts(
      grpc::ServerContext* context,
      const adsync::v1::ListAccountsRequest* request,
      adsync::v1::ListAccountsResponse* response) override;

 private:
  StatusStore* const store_;
  HelloLimiter* const hello_limiter_;
  const std::string token_;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_ADMIN_SERVICE_H_
