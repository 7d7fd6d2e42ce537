#include "coordinator/coordinator_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/net.h"
#include "common/status_macros.h"
#include "common/tls.h"
#include "coordinator/metrics.h"
#include "coordinator/postgres/postgres_store.h"
#include "coordinator/sqlite/sqlite_store.h"

namespace adsync {

absl::StatusOr<adsync::v1::CoordinatorConfig> ResolveCoordinatorConfig(
    adsync::v1::CoordinatorConfig c) {
  if (c.database_path().empty() == c.postgres().empty()) {
    return absl::InvalidArgumentError(
        "give exactly one store: database_path (SQLite, e.g. database_path: "
        "\"/var/lib/adsync/coordinator.db\") or postgres (a connection "
        "string, e.g. postgres: \"host=db1,db2 dbname=adsync user=adsync "
        "target_session_attrs=read-write\")");
  }
  if (!c.postgres().empty())
    RETURN_IF_ERROR(CheckPostgresConnInfo(c.postgres()));
  if (c.admin_token_file().empty()) {
    return absl::InvalidArgumentError(
        "admin_token_file is required: a file (mode 600) holding the token "
        "adsyncctl presents");
  }
  if (c.agent_listen().empty()) c.set_agent_listen("0.0.0.0:7443");
  if (c.admin_listen().empty()) c.set_admin_listen("127.0.0.1:7444");
  const adsync::v1::AgentTls& admin_tls = c.admin_tls();
  if (admin_tls.cert_file().empty() &&
      (!admin_tls.key_file().empty() || !admin_tls.client_ca_file().empty())) {
    return absl::InvalidArgumentError(
        "admin_tls.cert_file is required when admin_tls is set: the PEM "
        "certificate adsyncctl verifies with --ca-file");
  }
  if (admin_tls.cert_file().empty() &&
      !IsLoopbackListenAddress(c.admin_listen())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin_listen \"", c.admin_listen(),
        "\" is reachable from the network but admin_tls is not configured: "
        "the admin token and every org's data would cross it in the clear. "
        "Listen on loopback (admin_listen: \"127.0.0.1:7444\") or a unix "
        "socket (admin_listen: \"unix:/run/adsync/admin.sock\"), or set "
        "admin_tls { cert_file key_file } and run adsyncctl with --ca-file"));
  }
  if (!c.status_token_file().empty() && c.metrics_listen().empty()) {
    return absl::InvalidArgumentError(
        "status_token_file is set but metrics_listen is empty: the status "
        "page is served there; set metrics_listen (e.g. \"127.0.0.1:9464\") "
        "or remove status_token_file");
  }
  if (!c.metrics_token_file().empty() && c.metrics_listen().empty()) {
    return absl::InvalidArgumentError(
        "metrics_token_file is set but metrics_listen is empty; set "
        "metrics_listen (e.g. \"127.0.0.1:9464\") or remove "
        "metrics_token_file");
  }
  if (c.metrics_refresh_ms() == 0) c.set_metrics_refresh_ms(2000);
  if (c.max_unacked_batches() == 0) c.set_max_unacked_batches(8);
  if (c.max_deltas_per_batch() == 0) c.set_max_deltas_per_batch(1000);
  if (c.max_deltas_per_batch() > 1000) {
    return absl::InvalidArgumentError(
        "max_deltas_per_batch must be at most 1000");
  }
  if (c.max_message_bytes() == 0) c.set_max_message_bytes(8 << 20);
  if (c.heartbeat_interval_ms() == 0) c.set_heartbeat_interval_ms(2000);
  if (c.lease_ttl_ms() == 0) c.set_lease_ttl_ms(6000);
  if (c.lease_ttl_ms() < 2 * c.heartbeat_interval_ms()) {
    return absl::InvalidArgumentError(
        "lease_ttl_ms must be at least twice heartbeat_interval_ms, or a "
        "primary "
        "that is merely slow loses its lease");
  }
  if (c.agent_tls().cert_file().empty() && !c.allow_plaintext_agents() &&
      !IsLoopbackListenAddress(c.agent_listen())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "agent_listen \"", c.agent_listen(),
        "\" is reachable from the network but agent_tls is not configured: "
        "agents' sync keys would cross it in the clear. Set agent_tls "
        "{ cert_file key_file } (scripts/make_certs.sh makes a private CA), "
        "or listen on a loopback address"));
  }
  if (c.failed_hellos_per_minute() == 0) c.set_failed_hellos_per_minute(10);
  if (c.stalled_stream_ms() == 0) c.set_stalled_stream_ms(30000);
  if (c.rejections_kept() == 0) c.set_rejections_kept(50);
  if (c.read_connections() == 0) c.set_read_connections(4);
  if (c.read_connections() > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "read_connections is ", c.read_connections(),
        ", at most 64: more connections than that only add memory (reads "
        "are limited by cores); set read_connections to 64 or less"));
  }
  if (c.log_format().empty()) c.set_log_format("text");
  adsync::v1::PanelConfig* panel = c.mutable_panel();
  if (!panel->base_url().empty()) {
    if (panel->token_file().empty()) {
      return absl::InvalidArgumentError(
          "panel.token_file is required with panel.base_url: a file (mode 600) "
          "holding K12Panel's bearer token");
    }
    if (!absl::StartsWith(panel->base_url(), "http://") &&
        !absl::StartsWith(panel->base_url(), "https://")) {
      return absl::InvalidArgumentError(
          absl::StrCat("panel.base_url \"", panel->base_url(),
                       "\" must start with https:// (or http://)"));
    }
  }
  if (panel->batch_size() == 0) panel->set_batch_size(100);
  if (panel->push_interval_ms() == 0) panel->set_push_interval_ms(500);
  if (panel->backoff_initial_ms() == 0) panel->set_backoff_initial_ms(1000);
  if (panel->backoff_max_ms() == 0) panel->set_backoff_max_ms(60000);
  if (panel->request_timeout_seconds() == 0)
    panel->set_request_timeout_seconds(30);
  if (panel->people_pull_interval_seconds() == 0)
    panel->set_people_pull_interval_seconds(900);
  if (panel->report_interval_seconds() == 0)
    panel->set_report_interval_seconds(3600);
  if (panel->report_min_gap_seconds() == 0)
    panel->set_report_min_gap_seconds(60);
  if (panel->quarantine_min_people() == 0) panel->set_quarantine_min_people(20);
  if (panel->quarantine_fraction() == 0) panel->set_quarantine_fraction(0.05);
  if (panel->quarantine_fraction() < 0 || panel->quarantine_fraction() > 1) {
    return absl::InvalidArgumentError(
        "panel.quarantine_fraction must be between 0 and 1");
  }
  if (c.log_format() != "text" && c.log_format() != "json") {
    return absl::InvalidArgumentError(absl::StrCat(
        "log_format \"", c.log_format(), "\" must be text or json"));
  }
  return c;
}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const adsync::v1::CoordinatorConfig& raw,
    const StoreTestHooks& store_hooks) {
  ASSIGN_OR_RETURN(adsync::v1::CoordinatorConfig config,
                   ResolveCoordinatorConfig(raw));
  ASSIGN_OR_RETURN(std::string token, ReadSecretFile(config.admin_token_file(),
                                                     "admin token file"));
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  RETURN_IF_ERROR(server->OpenStore(config, store_hooks));
  RETURN_IF_ERROR(server->CreateServices(config, token));
  RETURN_IF_ERROR(server->ListenForAgents(config));
  RETURN_IF_ERROR(server->ListenForAdmin(config));
  RETURN_IF_ERROR(server->ServeMetricsIfConfigured(config, token));
  if (server->panel_) server->panel_->Start();
  if (server->reporter_) server->reporter_->Start();
  Log(LogLevel::kInfo, "coordinator started",
      {{"agents", absl::StrCat(config.agent_listen(), " (port ",
                               server->agent_port_, ")")},
       {"admin", config.admin_listen()},
       {"database",
        config.postgres().empty() ? config.database_path() : "PostgreSQL"}});
  return server;
}

absl::Status CoordinatorServer::OpenStore(
    const adsync::v1::CoordinatorConfig& config,
    const StoreTestHooks& store_hooks) {
  StoreOptions options;
  options.test_hooks = store_hooks;
  options.rejections_kept = config.rejections_kept();
  options.read_connections = static_cast<int>(config.read_connections());
  options.quarantine_min_people = config.panel().quarantine_min_people();
  options.quarantine_fraction = config.panel().quarantine_fraction();
  if (!config.postgres().empty()) {
    PostgresStoreOptions postgres;
    static_cast<StoreOptions&>(postgres) = options;
    postgres.conninfo = config.postgres();
    ASSIGN_OR_RETURN(store_, OpenPostgresStore(postgres));
    return absl::OkStatus();
  }
  SqliteStoreOptions sqlite;
  static_cast<StoreOptions&>(sqlite) = options;
  sqlite.path = config.database_path();
  ASSIGN_OR_RETURN(store_, OpenSqliteStore(sqlite));
  return absl::OkStatus();
}

absl::Status CoordinatorServer::CreateServices(
    const adsync::v1::CoordinatorConfig& config, const std::string& token) {
  if (!config.panel().base_url().empty()) {
    ASSIGN_OR_RETURN(
        std::string panel_token,
        ReadSecretFile(config.panel().token_file(), "K12Panel token file"));
    InitHttpClient();
    reporter_ = std::make_unique<SyncReporter>(store_.get(), store_.get(),
                                               config.panel(), panel_token);
    panel_ = std::make_unique<PanelSync>(
        store_.get(), store_.get(), config.panel(), std::move(panel_token));
  }
  GatewayOptions gateway_options;
  gateway_options.max_unacked_batches = config.max_unacked_batches();
  gateway_options.max_deltas_per_batch = config.max_deltas_per_batch();
  gateway_options.heartbeat_interval_ms = config.heartbeat_interval_ms();
  gateway_options.lease_ttl_ms = config.lease_ttl_ms();
  gateway_options.failed_hellos_per_minute = config.failed_hellos_per_minute();
  gateway_options.stalled_stream_ms = config.stalled_stream_ms();
  gateway_options.certificate_names_sync =
      !config.agent_tls().client_ca_file().empty();
  if (panel_ != nullptr) {
    PanelSync* panel = panel_.get();
    gateway_options.on_changes_committed = [panel] { panel->Wake(); };
  }
  gateway_ = std::make_unique<AgentGateway>(store_.get(), gateway_options);
  AgentGateway* gateway = gateway_.get();
  admin_ = std::make_unique<AdminService>(
      store_.get(), panel_.get(), token,
      [gateway](const std::string& sync_id, const std::string& why) {
        gateway->SyncRevoked(sync_id, why);
      });
  status_ = std::make_unique<StatusService>(store_.get(),
                                            gateway_->hello_limiter(), token);
  return absl::OkStatus();
}

absl::Status CoordinatorServer::ListenForAgents(
    const adsync::v1::CoordinatorConfig& config) {
  grpc::EnableDefaultHealthCheckService(true);
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::InsecureServerCredentials();
  if (!config.agent_tls().cert_file().empty()) {
    ASSIGN_OR_RETURN(credentials, LoadServerTls(config.agent_tls()));
  } else if (config.allow_plaintext_agents()) {
    Log(LogLevel::kWarning,
        "agent gateway is plaintext (allow_plaintext_agents): sync keys "
        "cross the network in the clear; configure agent_tls",
        {{"agent_listen", config.agent_listen()}});
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.agent_listen(), credentials, &agent_port_);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(config.max_message_bytes()));
  // Detect dead agents' connections within ~30 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(gateway_.get());
  agent_server_ = builder.BuildAndStart();
  if (!agent_server_ || agent_port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for agents on ", config.agent_listen(),
        "; is another process using the port? (agent_listen in the config)"));
  }
  return absl::OkStatus();
}

absl::Status CoordinatorServer::ListenForAdmin(
    const adsync::v1::CoordinatorConfig& config) {
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::InsecureServerCredentials();
  if (!config.admin_tls().cert_file().empty()) {
    ASSIGN_OR_RETURN(credentials,
                     LoadServerTls(config.admin_tls(), "admin_tls"));
  }
  grpc::ServerBuilder builder;
  const bool unix_socket = absl::StartsWith(config.admin_listen(), "unix:");
  builder.AddListeningPort(config.admin_listen(), credentials,
                           unix_socket ? nullptr : &admin_port_);
  builder.RegisterService(admin_.get());
  builder.RegisterService(status_.get());
  admin_server_ = builder.BuildAndStart();
  if (!admin_server_ || (!unix_socket && admin_port_ == 0)) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for admin calls on ", config.admin_listen(),
        "; is another process using it? (admin_listen in the config)"));
  }
  return absl::OkStatus();
}

absl::Status CoordinatorServer::ServeMetricsIfConfigured(
    const adsync::v1::CoordinatorConfig& config,
    const std::string& admin_token) {
  if (config.metrics_listen().empty()) return absl::OkStatus();
  const std::string& listen = config.metrics_listen();
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_listen \"", listen,
                     "\" must be address:port, e.g. 127.0.0.1:9464"));
  }
  std::string metrics_token;
  if (!config.metrics_token_file().empty()) {
    ASSIGN_OR_RETURN(metrics_token, ReadSecretFile(config.metrics_token_file(),
                                                   "metrics token file"));
    if (!IsLoopbackListenAddress(listen)) {
      Log(LogLevel::kWarning,
          "the metrics token crosses the network in the clear "
          "(metrics_listen is plain HTTP); scrape over loopback or a "
          "private network",
          {{"metrics_listen", listen}});
    }
  }
  std::string status_token;
  if (!config.status_token_file().empty()) {
    ASSIGN_OR_RETURN(status_token, ReadSecretFile(config.status_token_file(),
                                                  "status token file"));
    if (status_token.size() < kMinStatusTokenLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the status token in ", config.status_token_file(),
          " is shorter "
          "than ",
          kMinStatusTokenLength, " characters; anyone who can reach ",
          "the sign-in form could guess it: write a random one (e.g. "
          "`openssl rand -hex 24 > FILE`)"));
    }
    if (status_token == admin_token || status_token == metrics_token) {
      return absl::InvalidArgumentError(absl::StrCat(
          "status_token_file holds the same token as ",
          status_token == admin_token ? "admin_token_file"
                                      : "metrics_token_file",
          ": the status page would then open with a token that does more; "
          "write a token of its own (e.g. `openssl rand -hex 24 > FILE`)"));
    }
  }
  store_gauges_ = std::make_unique<StoreGauges>(
      store_.get(), absl::Milliseconds(config.metrics_refresh_ms()));
  status_site_ = std::make_unique<StatusSite>(store_.get(), store_gauges_.get(),
                                              std::move(status_token));
  // Scrapers are one or two Prometheus servers; a few workers are plenty
  // and keep a flood of connections from costing the coordinator threads.
  HttpServerOptions http;
  http.max_connections = 4;
  http.max_waiting = 8;
  StoreGauges* gauges = store_gauges_.get();
  StatusSite* site = status_site_.get();
  metrics_server_ = std::make_unique<HttpServer>(
      [gauges, site, metrics_token](const HttpServerRequest& r) {
        if (StatusSite::Serves(r.path)) return site->Handle(r);
        return ServeMetrics(r, *gauges, metrics_token);
      },
      http);
  ASSIGN_OR_RETURN(metrics_port_,
                   metrics_server_->Start(listen.substr(0, colon), port));
  return absl::OkStatus();
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

void CoordinatorServer::Wait() {
  if (agent_server_) agent_server_->Wait();
}

void CoordinatorServer::Shutdown() {
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(2);
  if (agent_server_) agent_server_->Shutdown(deadline);
  if (admin_server_) admin_server_->Shutdown(deadline);
  if (metrics_server_) metrics_server_->Stop();
}

}  // namespace adsync
