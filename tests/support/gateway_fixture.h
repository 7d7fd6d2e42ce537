// The gateway tests' fixture: an in-process coordinator on real gRPC over
// loopback, one org and one AD Sync allowed from kAgentIp. Source addresses
// are real: connections dialed to 127.0.0.21 / 127.0.0.23 arrive from them.
#ifndef ADSYNC_TESTS_GATEWAY_FIXTURE_H_
#define ADSYNC_TESTS_GATEWAY_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "adsync/v1/admin.grpc.pb.h"
#include "adsync/v1/agent.grpc.pb.h"
#include "coordinator/coordinator_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"
#include "tests/support/wire_agent.h"

namespace adsync {

using testing::TempDir;

inline constexpr char kAgentIp[] = "127.0.0.21";
inline constexpr char kOtherIp[] = "127.0.0.23";
inline constexpr char kToken[] = "test-admin-token";

class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::EnsureLoopbackSource(kAgentIp);
    testing::EnsureLoopbackSource(kOtherIp);
  }

  // Derived fixtures adjust the coordinator's configuration here.
  virtual void Configure(adsync::v1::CoordinatorConfig* config) {
    config->set_allow_plaintext_agents(true);
  }

  // Derived fixtures inject store faults here.
  virtual StoreTestHooks Hooks() { return {}; }

  void SetUp() override {
    testing::WriteFile(dir_.File("token"), kToken);
    config_.set_agent_listen("0.0.0.0:0");
    config_.set_admin_listen("127.0.0.1:0");
    config_.set_database_path(dir_.File("coordinator.db"));
    config_.set_admin_token_file(dir_.File("token"));
    config_.set_max_unacked_batches(4);
    config_.set_metrics_listen("127.0.0.1:0");
    Configure(&config_);
    auto server = CoordinatorServer::Start(config_, Hooks());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto channel =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->admin_port()),
                            grpc::InsecureChannelCredentials());
    admin_ = adsync::v1::Admin::NewStub(channel);
    status_ = adsync::v1::Status::NewStub(channel);

    adsync::v1::CreateOrgRequest org;
    org.set_name("Springfield USD");
    org.set_live(true);
    adsync::v1::Org created;
    ASSERT_TRUE(admin_->CreateOrg(Ctx().get(), org, &created).ok());
    org_id_ = created.org_id();
    adsync::v1::AddSyncRequest sync;
    sync.set_org_id(org_id_);
    sync.set_domain("DISTRICT");
    sync.add_allowed_ips(kAgentIp);
    adsync::v1::AddSyncResponse added;
    ASSERT_TRUE(admin_->AddSync(Ctx().get(), sync, &added).ok());
    key_ = added.sync_key();
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = kToken) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(10));
    return ctx;
  }

  std::string Target(const char* ip) {
    return absl::StrCat(ip, ":", server_->agent_port());
  }

  adsync::v1::OrgStatus Status() {
    adsync::v1::GetStatusRequest req;
    req.set_org_id(org_id_);
    adsync::v1::GetStatusResponse resp;
    EXPECT_TRUE(status_->GetStatus(Ctx().get(), req, &resp).ok());
    return resp.orgs(0);
  }

  adsync::v1::ResolveLoginResponse Resolve(const std::string& login) {
    adsync::v1::ResolveLoginRequest req;
    req.set_org_id(org_id_);
    req.set_login(login);
    adsync::v1::ResolveLoginResponse resp;
    EXPECT_TRUE(status_->ResolveLogin(Ctx().get(), req, &resp).ok());
    return resp;
  }

  TempDir dir_;
  adsync::v1::CoordinatorConfig config_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<adsync::v1::Admin::Stub> admin_;
  std::unique_ptr<adsync::v1::Status::Stub> status_;
  std::string org_id_;
  std::string key_;
  const std::string invocation_ = testing::TestGuid(500);
};

}  // namespace adsync

#endif  // ADSYNC_TESTS_GATEWAY_FIXTURE_H_
