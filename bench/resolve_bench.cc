// ResolveLogin throughput over gRPC on loopback (issue 7).
//
// An in-process coordinator holds N accounts matched to People; C client
// threads call Status.ResolveLogin with DOMAIN\sam logins for D seconds.
//   build/bench/resolve_bench [--accounts=100000] [--clients=4] [--seconds=10]
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adsync/v1/admin.grpc.pb.h"
#include "bench/bench_setup.h"
#include "tests/support/test_util.h"

ABSL_FLAG(int, accounts, 100000, "accounts in the store");
ABSL_FLAG(int, clients, 4, "concurrent client threads");
ABSL_FLAG(int, seconds, 10, "measurement time");

namespace adsync {
namespace {

int Main() {
  const int n = absl::GetFlag(FLAGS_accounts);
  const std::string dir = "/tmp/adsync-resolve-bench";
  std::filesystem::remove_all(dir);
  BenchCoordinator bench = StartBenchCoordinator(dir);
  Store* store = bench.server->store();
  const std::string& org = bench.org_id;
  const std::string& key = bench.sync_key;
  SyncRecord sync = *store->Authenticate(org, key);
  std::vector<Person> people;
  for (int i = 0; i < n; ++i) {
    people.push_back(
        {absl::StrCat("p", i), "", {absl::StrCat("u", i, "@d.org")}});
  }
  (void)store->ReplacePeople(org, people);
  const uint64_t epoch =
      store
          ->AcquireLease(sync, absl::ToUnixMillis(absl::Now()), 3600000,
                         "bench", 0)
          ->epoch;
  for (int first = 0; first < n; first += 1000) {
    adsync::v1::Batch b;
    b.set_lease_epoch(epoch);
    b.set_sequence(static_cast<uint64_t>(first / 1000 + 1));  // 1, 2, ...
    for (int i = first; i < std::min(n, first + 1000); ++i) {
      testing::DeltaSpec s;
      s.guid = i + 1;
      s.sam = absl::StrCat("u", i);
      s.mail = absl::StrCat("u", i, "@d.org");
      *b.add_deltas() = testing::MakeDelta(s);
    }
    absl::StatusOr<BatchOutcome> applied =
        store->PrepareAndApply(sync, b, nullptr);
    if (!applied.ok()) {
      std::fprintf(stderr, "setting up the accounts failed: %s\n",
                   std::string(applied.status().message()).c_str());
      return 1;
    }
  }
  auto channel = grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", bench.server->admin_port()),
      grpc::InsecureChannelCredentials());
  std::atomic<uint64_t> calls{0}, errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < absl::GetFlag(FLAGS_clients); ++c) {
    clients.emplace_back([&, c] {
      auto stub = adsync::v1::Status::NewStub(channel);
      uint64_t i = c;
      while (!stop.load()) {
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", "Bearer bench-token");
        ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
        adsync::v1::ResolveLoginRequest req;
        req.set_org_id(org);
        req.set_login(absl::StrCat("DISTRICT\\u", (i * 7919) % n));
        adsync::v1::ResolveLoginResponse resp;
        grpc::Status s = stub->ResolveLogin(&ctx, req, &resp);
        if (!s.ok() || !resp.found()) ++errors;
        ++calls;
        ++i;
      }
    });
  }
  const absl::Time start = absl::Now();
  std::this_thread::sleep_for(
      std::chrono::seconds(absl::GetFlag(FLAGS_seconds)));
  stop = true;
  for (auto& t : clients) t.join();
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf(
      "ResolveLogin: %.0f calls/s with %d clients over %d accounts (%llu "
      "calls, %llu errors)\n",
      calls.load() / secs, absl::GetFlag(FLAGS_clients), n,
      static_cast<unsigned long long>(calls.load()),
      static_cast<unsigned long long>(errors.load()));
  bench.server->Shutdown();
  std::filesystem::remove_all(dir);
  return errors.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace adsync

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return adsync::Main();
}
