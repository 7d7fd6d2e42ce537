// A real PostgreSQL server for tests, run by scripts/postgres.sh (which see:
// the server runs as the user adsync-pg, in its own directory, listening only
// on a unix socket in that directory; needs root).
//
// Contract: Start() and StartStandby() return a running server accepting
// connections; the other calls map one to one to the script's commands and
// return its output in the error when it fails. The object owns the server's
// lifetime, not its directory: the destructor stops the server (ignoring
// errors) and leaves the directory to its owner (e.g. a TempDir, whose path
// itself can be `dir`; a directory inside a TempDir cannot, since adsync-pg
// cannot search the TempDir).
//
// Thread-safety: the const methods (ConnInfo, Psql, dir, port) may be called
// from several threads at once; Stop, Kill, Restart and Promote must not run
// concurrently with each other or with anything else on the same object.
#ifndef ADSYNC_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define ADSYNC_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace adsync::testing {

class PostgresServer {
 public:
  // Initializes a primary in `dir` (database and role adsync; idempotent) on
  // `port` and starts it.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(
      const std::string& dir, int port);
  // Makes `dir` a streaming standby of the running `primary` (a base backup
  // taken now) on `port` and starts it.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> StartStandby(
      const std::string& dir, int port, const PostgresServer& primary);

  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // libpq connection string for database adsync as role adsync over the
  // unix socket, e.g. "host=DIR/socket port=PORT dbname=adsync user=adsync".
  std::string ConnInfo() const { return conninfo_; }
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }

  // Fast shutdown; OK when not running.
  absl::Status Stop();
  // SIGKILL to the postmaster and its children, as in a crash; returns once
  // they are gone.
  absl::Status Kill();
  // Starts the server again (after Stop or Kill; OK when running).
  absl::Status Restart();
  // Turns a standby into a primary; returns once it accepts writes.
  absl::Status Promote();

  // Runs `sql` as superuser on database adsync (psql -Atc: unaligned, tuples
  // only, `|` between columns) and returns what it printed, without the
  // final newline: rows, and with several statements their command tags too
  // ("CREATE TABLE\nINSERT 0 1"). Notices are left out; when psql fails, the
  // error holds its messages.
  absl::StatusOr<std::string> Psql(const std::string& sql) const;

 private:
  PostgresServer(std::string dir, int port)
      : dir_(std::move(dir)), port_(port) {}

  // Runs `postgres.sh COMMAND DIR ARGS...`; returns its stdout and stderr.
  absl::StatusOr<std::string> Script(
      const std::string& command,
      const std::vector<std::string>& args = {}) const;
  // Reads conninfo_ from the script once the server exists.
  absl::Status LoadConnInfo();

  const std::string dir_;
  const int port_;
  std::string conninfo_;
};

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_SUPPORT_POSTGRES_SERVER_H_
