// Builds a running coordinator from its config: the store, the agent
// gateway on its own listener, the admin/status services on a separate
// listener (loopback or unix socket, or any address with admin_tls) and
// the optional /metrics listener. Used by main() and by in-process
// integration tests.
//
// Thread-safety: Start() and Shutdown() from one thread.
#ifndef ADSYNC_COORDINATOR_COORDINATOR_SERVER_H_
#define ADSYNC_COORDINATOR_COORDINATOR_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "adsync/v1/config.pb.h"
#include "common/http_server.h"
#include "coordinator/admin_service.h"
#include "coordinator/agent_gateway.h"
#include "coordinator/metrics.h"
#include "coordinator/panel_sync.h"
#include "coordinator/sql_store/sql_store.h"
#include "coordinator/status_site.h"
#include "coordinator/sync_reporter.h"

namespace adsync {

// Validates a config and fills in documented defaults.
absl::StatusOr<adsync::v1::CoordinatorConfig> ResolveCoordinatorConfig(
    adsync::v1::CoordinatorConfig config);

class CoordinatorServer {
 public:
  // `store_hooks`: test hooks of the store (fault injection); a real
  // coordinator passes none.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(
      const adsync::v1::CoordinatorConfig& config,
      const StoreTestHooks& store_hooks = {});
  ~CoordinatorServer();

  int agent_port() const { return agent_port_; }
  int admin_port() const { return admin_port_; }
  int metrics_port() const { return metrics_port_; }  // 0 when off
  Store* store() { return store_.get(); }
  PanelSync* panel() { return panel_.get(); }  // null without panel.base_url

  void Wait();
  void Shutdown();

 private:
  CoordinatorServer() = default;

  // Start's steps, in order; each leaves the server ready for the next.
  absl::Status OpenStore(const adsync::v1::CoordinatorConfig& config,
                         const StoreTestHooks& store_hooks);
  absl::Status CreateServices(const adsync::v1::CoordinatorConfig& config,
                              const std::string& admin_token);
  absl::Status ListenForAgents(const adsync::v1::CoordinatorConfig& config);
  absl::Status ListenForAdmin(const adsync::v1::CoordinatorConfig& config);
  absl::Status ServeMetricsIfConfigured(
      const adsync::v1::CoordinatorConfig& config,
      const std::string& admin_token);

  std::unique_ptr<SqlStore> store_;
  std::unique_ptr<PanelSync> panel_;
  std::unique_ptr<SyncReporter> reporter_;
  std::unique_ptr<AgentGateway> gateway_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<StatusService> status_;
  std::unique_ptr<grpc::Server> agent_server_;
  std::unique_ptr<grpc::Server> admin_server_;
  // Declared after store_ and before metrics_server_: destroyed in the
  // reverse order, so the listener stops before the gauges it reads, and
  // those before the store they query.
  std::unique_ptr<StoreGauges> store_gauges_;
  std::unique_ptr<StatusSite> status_site_;
  std::unique_ptr<HttpServer> metrics_server_;
  int metrics_port_ = 0;
  int agent_port_ = 0;
  int admin_port_ = 0;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_COORDINATOR_SERVER_H_
