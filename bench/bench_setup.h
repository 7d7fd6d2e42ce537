// Shared set-up for the in-process benchmarks: a fresh directory, a running
// coordinator on loopback, one org and one AD Sync (DISTRICT, 127.0.0.1).
#ifndef ADSYNC_BENCH_BENCH_SETUP_H_
#define ADSYNC_BENCH_BENCH_SETUP_H_

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "bench/bench_engine.h"
#include "coordinator/coordinator_server.h"
#include "tests/support/test_util.h"

namespace adsync {

struct BenchCoordinator {
  std::unique_ptr<CoordinatorServer> server;
  std::string database;  // its file, or connection string
  std::string org_id;
  std::string sync_key;
};

// Starts the coordinator with a new database in `dir` (SQLite), or a new
// database of `engine`'s. `read_connections`: 0 for the default. Exits the
// benchmark with the error when anything fails.
// A new org with one AD Sync (DISTRICT, from 127.0.0.1) whose agent holds
// the domain's lease for an hour: what a benchmark writes batches as.
struct BenchWriter {
  std::string org_id;
  SyncRecord sync;
  uint64_t epoch = 0;
};
inline BenchWriter AddBenchWriter(Store* store, const std::string& org_name) {
  adsync::v1::CreateOrgRequest org;
  org.set_name(org_name);
  BenchWriter w;
  w.org_id = store->CreateOrg(org)->org_id();
  adsync::v1::AddSyncRequest add;
  add.set_org_id(w.org_id);
  add.set_domain("DISTRICT");
  add.add_allowed_ips("127.0.0.1");
  const std::string key = store->AddSync(add)->sync_key();
  w.sync = *store->Authenticate(w.org_id, key);
  w.epoch = store
                ->AcquireLease(w.sync, absl::ToUnixMillis(absl::Now()),
                               3600 * 1000, "bench", 0)
                ->epoch;
  return w;
}

inline BenchCoordinator StartBenchCoordinator(const std::string& dir,
                                              BenchEngine* engine = nullptr,
                                              uint32_t read_connections = 0) {
  std::filesystem::create_directories(dir);
  testing::WriteFile(dir + "/token", "bench-token");
  adsync::v1::CoordinatorConfig config;
  config.set_agent_listen("127.0.0.1:0");
  config.set_admin_listen("127.0.0.1:0");
  std::string database = dir + "/coordinator.db";
  if (engine != nullptr) {
    database = engine->NewDatabase("coordinator");
    engine->Configure(database, &config);
  } else {
    config.set_database_path(database);
  }
  config.set_admin_token_file(dir + "/token");
  // The synthetic agent sends no heartbeats while it prepares its batches
  // (seconds, for a million profiles): its lease must outlast that.
  config.set_lease_ttl_ms(3600 * 1000);
  config.set_read_connections(read_connections);
  auto server = CoordinatorServer::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(server.status().message()).c_str());
    std::exit(1);
  }
  BenchCoordinator bench;
  bench.server = *std::move(server);
  bench.database = database;
  Store* store = bench.server->store();
  adsync::v1::CreateOrgRequest org;
  org.set_name("Bench USD");
  bench.org_id = store->CreateOrg(org)->org_id();
  adsync::v1::AddSyncRequest sync;
  sync.set_org_id(bench.org_id);
  sync.set_domain("DISTRICT");
  sync.add_allowed_ips("127.0.0.1");
  bench.sync_key = store->AddSync(sync)->sync_key();
  return bench;
}

}  // namespace adsync

#endif  // ADSYNC_BENCH_BENCH_SETUP_H_
