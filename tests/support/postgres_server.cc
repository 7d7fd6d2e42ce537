#include "tests/support/postgres_server.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "tests/support/process.h"
#include "tests/support/test_util.h"

namespace adsync::testing {
namespace {

// initdb, a base backup or a start on a busy machine; the script has its own
// shorter limits and says what went wrong.
constexpr absl::Duration kScriptTimeout = absl::Seconds(300);

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(
    const std::string& dir, int port) {
  std::unique_ptr<PostgresServer> server(new PostgresServer(dir, port));
  if (auto r = server->Script("init", {absl::StrCat(port)}); !r.ok())
    return r.status();
  if (auto r = server->Script("start"); !r.ok()) return r.status();
  if (absl::Status s = server->LoadConnInfo(); !s.ok()) return s;
  return server;
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::StartStandby(
    const std::string& dir, int port, const PostgresServer& primary) {
  std::unique_ptr<PostgresServer> server(new PostgresServer(dir, port));
  if (auto r = server->Script("standby", {primary.dir(), absl::StrCat(port)});
      !r.ok())
    return r.status();
  if (absl::Status s = server->LoadConnInfo(); !s.ok()) return s;
  return server;
}

PostgresServer::~PostgresServer() { Stop().IgnoreError(); }

absl::Status PostgresServer::Stop() { return Script("stop").status(); }

absl::Status PostgresServer::Kill() { return Script("kill").status(); }

absl::Status PostgresServer::Restart() { return Script("start").status(); }

absl::Status PostgresServer::Promote() { return Script("promote").status(); }

absl::StatusOr<std::string> PostgresServer::Psql(const std::string& sql) const {
  // Query output to a file of its own, so notices and warnings on stderr
  // (which RunCommand mixes in) stay out of the result.
  TempDir tmp;
  const std::string out = tmp.File("out");
  if (auto r = Script("psql", {"-Atc", sql, "-o", out}); !r.ok())
    return r.status();
  std::ifstream in(out);
  std::stringstream s;
  s << in.rdbuf();
  return std::string(absl::StripSuffix(s.str(), "\n"));
}

absl::StatusOr<std::string> PostgresServer::Script(
    const std::string& command, const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {SourcePath("scripts/postgres.sh"), command,
                                   dir_};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = RunCommand(argv, "", kScriptTimeout);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("postgres.sh ", command, " ", dir_,
                                            " failed (exit ", r.exit_code,
                                            "): ", r.output));
  }
  return std::move(r.output);
}

absl::Status PostgresServer::LoadConnInfo() {
  absl::StatusOr<std::string> conninfo = Script("conninfo");
  if (!conninfo.ok()) return conninfo.status();
  conninfo_ = std::string(absl::StripSuffix(*conninfo, "\n"));
  return absl::OkStatus();
}

}  // namespace adsync::testing
