// The store engine a benchmark runs on: SQLite files in a directory, or
// databases on a real PostgreSQL server the benchmark starts itself
// (scripts/postgres.sh, unix socket, stopped at exit), a fresh database
// for each NewDatabase call.
//
//   BenchEngine engine(absl::GetFlag(FLAGS_engine), "/tmp/bench");
//   const std::string db = engine.NewDatabase("raw");
//   std::unique_ptr<SqlStore> store = engine.OpenStore(db, StoreOptions{});
//
// Exits the benchmark with the error when anything fails.
// Thread-safety: not thread-safe.
#ifndef ADSYNC_BENCH_BENCH_ENGINE_H_
#define ADSYNC_BENCH_BENCH_ENGINE_H_

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "adsync/v1/config.pb.h"
#include "common/postgres.h"
#include "common/sqlite.h"
#include "coordinator/postgres/postgres_store.h"
#include "coordinator/sqlite/sqlite_store.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_util.h"

namespace adsync {

class BenchEngine {
 public:
  // `engine`: "sqlite" or "postgres"; SQLite files go in `dir`.
  BenchEngine(const std::string& engine, std::string dir)
      : postgres_(engine == "postgres"), dir_(std::move(dir)) {
    if (engine != "sqlite" && engine != "postgres") {
      Fail("--engine must be sqlite or postgres");
    }
    std::filesystem::create_directories(dir_);
    if (postgres_) {
      auto server = testing::PostgresServer::Start(server_dir_.path(), 5432);
      if (!server.ok()) Fail(std::string(server.status().message()));
      server_ = *std::move(server);
    }
  }

  bool postgres() const { return postgres_; }
  const char* name() const { return postgres_ ? "PostgreSQL" : "SQLite"; }

  // A new, empty database: a file path (SQLite) or a connection string.
  std::string NewDatabase(const std::string& label) {
    const std::string name = absl::StrCat(label, "_", ++databases_);
    if (!postgres_) {
      const std::string path = absl::StrCat(dir_, "/", name, ".db");
      for (const char* suffix : {"", "-wal", "-shm", ".lock"})
        std::filesystem::remove(path + suffix);
      return path;
    }
    auto made =
        server_->Psql(absl::StrCat("CREATE DATABASE ", name, " OWNER adsync"));
    if (!made.ok()) Fail(std::string(made.status().message()));
    return absl::StrCat(server_->ConnInfo(), " dbname=", name);
  }

  std::unique_ptr<SqlStore> OpenStore(const std::string& db,
                                      const StoreOptions& options) {
    absl::StatusOr<std::unique_ptr<SqlStore>> store;
    if (postgres_) {
      PostgresStoreOptions o;
      static_cast<StoreOptions&>(o) = options;
      o.conninfo = db;
      store = OpenPostgresStore(o);
    } else {
      SqliteStoreOptions o;
      static_cast<StoreOptions&>(o) = options;
      o.path = db;
      store = OpenSqliteStore(o);
    }
    if (!store.ok()) Fail(std::string(store.status().message()));
    return *std::move(store);
  }

  // A plain connection of its own (the raw-upsert floor).
  std::unique_ptr<Database> OpenRaw(const std::string& db) {
    if (postgres_) {
      auto raw = PostgresDatabase::Open(db);
      if (!raw.ok()) Fail(std::string(raw.status().message()));
      return *std::move(raw);
    }
    auto raw = SqliteDatabase::Open(db);
    if (!raw.ok()) Fail(std::string(raw.status().message()));
    return *std::move(raw);
  }

  // Bytes the database takes on disk (SQLite: the file and its WAL;
  // PostgreSQL: pg_database_size, an empty database's ~7.5 MB included).
  int64_t Bytes(const std::string& db) {
    if (postgres_) {
      std::unique_ptr<Database> raw = OpenRaw(db);
      auto q = raw->Cached("SELECT pg_database_size(current_database())");
      if (!q.ok() || !(*q)->Step().value_or(false)) Fail("pg_database_size");
      return (*q)->ColumnInt(0);
    }
    int64_t total = 0;
    for (const char* suffix : {"", "-wal"}) {
      struct stat st;
      if (stat((db + suffix).c_str(), &st) == 0) total += st.st_size;
    }
    return total;
  }

  // The store setting of a coordinator config for `db`.
  void Configure(const std::string& db, adsync::v1::CoordinatorConfig* config) {
    if (postgres_) {
      config->set_postgres(db);
    } else {
      config->set_database_path(db);
    }
  }

 private:
  // Exits, stopping the PostgreSQL server first (exit skips destructors).
  [[noreturn]] void Fail(const std::string& message) {
    std::fprintf(stderr, "%s\n", message.c_str());
    if (server_ != nullptr) server_->Stop().IgnoreError();
    std::exit(1);
  }

  const bool postgres_;
  const std::string dir_;
  testing::TempDir server_dir_;  // declared before server_: outlives it
  std::unique_ptr<testing::PostgresServer> server_;
  int databases_ = 0;
};

}  // namespace adsync

#endif  // ADSYNC_BENCH_BENCH_ENGINE_H_
