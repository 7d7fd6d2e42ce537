#include "tests/support/test_databases.h"

#include <unistd.h>

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_util.h"

namespace adsync::testing {
namespace {

// Declared in this order so the server stops before its directory goes.
struct SharedServer {
  TempDir dir;
  std::unique_ptr<PostgresServer> server;
  int databases = 0;
};

absl::Mutex shared_mu;
SharedServer* shared ABSL_GUARDED_BY(shared_mu) = nullptr;

void StopSharedServer() {
  absl::MutexLock lock(&shared_mu);
  delete shared;
  shared = nullptr;
}

}  // namespace

std::string EngineName(const ::testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kSqlite ? "Sqlite" : "Postgres";
}

absl::StatusOr<std::string> FreshPostgresDatabase() {
  absl::MutexLock lock(&shared_mu);
  if (shared == nullptr) {
    auto created = std::make_unique<SharedServer>();
    // Unix socket only: the port names the socket file in its own
    // directory, so test binaries running at once never collide.
    auto server = PostgresServer::Start(created->dir.path(), 5432);
    if (!server.ok()) return server.status();
    created->server = *std::move(server);
    shared = created.release();
    std::atexit(StopSharedServer);
  }
  const std::string name = absl::StrCat("test_", ++shared->databases);
  auto made = shared->server->Psql(
      absl::StrCat("CREATE DATABASE ", name, " OWNER adsync"));
  if (!made.ok()) return made.status();
  return absl::StrCat(shared->server->ConnInfo(), " dbname=", name);
}

}  // namespace adsync::testing
