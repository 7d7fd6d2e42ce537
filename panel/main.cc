// panel-sim --listen=127.0.0.1:8480 --db=FILE --token_file=FILE
//           [--max_body_bytes=N] [--max_connections=N]
#include <pthread.h>

#include <csignal>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "common/files.h"
#include "panel/panel_sim.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8480",
          "address:port to serve on (port 0 = any)");
ABSL_FLAG(std::string, db, "", "SQLite file for the simulated Panel's data");
ABSL_FLAG(std::string, token_file, "",
          "file holding the bearer token clients must send");
ABSL_FLAG(uint64_t, seed, 1, "random seed for fault injection");
// A batchUpdate of 100 People (the coordinator's default panel.batch_size)
// is typically ~100 KB of JSON; 8 MiB leaves room for People with many
// identities at the coordinator's 2048-byte field limit and for large seeds.
ABSL_FLAG(uint64_t, max_body_bytes, 8 << 20,
          "largest request body accepted (413 beyond); raise it for larger "
          "panel.batch_size or seeds");
ABSL_FLAG(int, max_connections, 16,
          "requests served at once (one worker thread each); as many more "
          "wait, any beyond get 503");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    std::fprintf(stderr, "error: --listen must be address:port\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_db).empty() ||
      absl::GetFlag(FLAGS_token_file).empty()) {
    std::fprintf(stderr, "error: --db and --token-file are required\n");
    return 2;
  }
  auto token = adsync::ReadSecretFile(absl::GetFlag(FLAGS_token_file),
                                      "panel token file");
  if (!token.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(token.status().message()).c_str());
    return 1;
  }
  auto sim = adsync::PanelSim::Open(absl::GetFlag(FLAGS_db), *token,
                                    absl::GetFlag(FLAGS_seed));
  if (!sim.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(sim.status().message()).c_str());
    return 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  adsync::HttpServerOptions options;
  options.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  options.max_connections = absl::GetFlag(FLAGS_max_connections);
  options.max_waiting = options.max_connections;
  adsync::HttpServer server(
      [&](const adsync::HttpServerRequest& r) { return (*sim)->Handle(r); },
      options);
  auto bound = server.Start(listen.substr(0, colon), port);
  if (!bound.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(bound.status().message()).c_str());
    return 1;
  }
  std::printf("panel-sim listening on %s:%d\n", listen.substr(0, colon).c_str(),
              *bound);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  server.Stop();
  return 0;
}
