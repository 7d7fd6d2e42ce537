// panel-sim --listen 127.0.0.1:8480 --db FILE --token-file FILE
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
  adsync::HttpServer server(
      [&](const adsync::HttpServerRequest& r) { return (*sim)->Handle(r); });
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
