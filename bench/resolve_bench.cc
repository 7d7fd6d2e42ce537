// Read throughput over gRPC on loopback while an ingest writes (issue 18).
//
// An in-process coordinator holds N accounts of one org matched to People.
// For each client count in --clients, that many threads call
// Status.ResolveLogin (DOMAIN\sam) or Status.GetStatus (the org) for
// --seconds each, while (with --ingest) another thread keeps writing new
// accounts of a second org through the store's ingest path, batches of
// 1000, as an agent's full sync would. Prints, per client count, the calls
// per second, the latency percentiles and the ingest rate meanwhile.
//   build/bench/resolve_bench [--accounts=100000] [--clients=1,2,4]
//       [--seconds=8] [--read=resolve|status] [--ingest=true]
//       [--read_connections=4] [--long_reads=false]
//       [--engine=sqlite|postgres]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "adsync/v1/admin.grpc.pb.h"
#include "bench/bench_setup.h"
#include "tests/support/test_util.h"

ABSL_FLAG(int, accounts, 100000, "accounts of the org the clients read");
ABSL_FLAG(std::string, clients, "1,2,4", "client thread counts, one run each");
ABSL_FLAG(int, seconds, 8, "measurement time per client count");
ABSL_FLAG(std::string, read, "resolve", "resolve (ResolveLogin) or status");
ABSL_FLAG(bool, ingest, true, "write new accounts of another org meanwhile");
ABSL_FLAG(
    bool, long_reads, false,
    "a thread lists 20,000 of the org's accounts over and over meanwhile (an "
    "operator's export): a long read beside the short ones");
ABSL_FLAG(int, read_connections, 4, "the coordinator's read_connections");
ABSL_FLAG(std::string, engine, "sqlite", "sqlite or postgres");

namespace adsync {
namespace {

// Applies batches of 1000 matched accounts numbered from `first`; returns
// the next number, or exits on an error.
uint64_t ApplyAccounts(Store* store, const SyncRecord& sync, uint64_t epoch,
                       uint64_t* sequence, uint64_t first, uint64_t count) {
  for (uint64_t begin = first; begin < first + count; begin += 1000) {
    adsync::v1::Batch b;
    b.set_lease_epoch(epoch);
    b.set_sequence(++*sequence);
    for (uint64_t i = begin; i < std::min(first + count, begin + 1000); ++i) {
      testing::DeltaSpec s;
      s.guid = i + 1;
      s.sam = absl::StrCat("u", i);
      s.mail = absl::StrCat("u", i, "@d.org");
      *b.add_deltas() = testing::MakeDelta(s);
    }
    absl::StatusOr<BatchOutcome> applied =
        store->PrepareAndApply(sync, b, nullptr);
    if (!applied.ok()) {
      std::fprintf(stderr, "applying accounts failed: %s\n",
                   std::string(applied.status().message()).c_str());
      std::exit(1);
    }
  }
  return first + count;
}

double Percentile(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  std::sort(v->begin(), v->end());
  return (*v)[static_cast<size_t>(p * (v->size() - 1))];
}

int Main() {
  const int n = absl::GetFlag(FLAGS_accounts);
  const bool status_reads = absl::GetFlag(FLAGS_read) == "status";
  std::vector<int> client_counts;
  for (absl::string_view c :
       absl::StrSplit(absl::GetFlag(FLAGS_clients), ',')) {
    int k = 0;
    if (!absl::SimpleAtoi(c, &k) || k < 1) {
      std::fprintf(stderr, "--clients: \"%s\" is not a count\n",
                   std::string(c).c_str());
      return 2;
    }
    client_counts.push_back(k);
  }
  const std::string dir = "/tmp/adsync-resolve-bench";
  std::filesystem::remove_all(dir);
  std::unique_ptr<BenchEngine> engine;
  if (absl::GetFlag(FLAGS_engine) != "sqlite") {
    engine = std::make_unique<BenchEngine>(absl::GetFlag(FLAGS_engine), dir);
  }
  BenchCoordinator bench = StartBenchCoordinator(
      dir, engine.get(),
      static_cast<uint32_t>(absl::GetFlag(FLAGS_read_connections)));
  Store* store = bench.server->store();
  const std::string& org = bench.org_id;
  SyncRecord sync = *store->Authenticate(org, bench.sync_key);
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
  uint64_t sequence = 0;
  ApplyAccounts(store, sync, epoch, &sequence, 0, n);

  std::atomic<bool> stop_ingest{false};
  std::atomic<uint64_t> ingested{0};
  std::thread ingest;
  if (absl::GetFlag(FLAGS_ingest)) {
    ingest = std::thread([&] {
      const BenchWriter w = AddBenchWriter(store, "Ingesting USD");
      uint64_t sequence = 0;
      uint64_t next = 0;
      while (!stop_ingest.load()) {
        next = ApplyAccounts(store, w.sync, w.epoch, &sequence, next, 1000);
        ingested += 1000;
      }
    });
  }

  auto channel = grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", bench.server->admin_port()),
      grpc::InsecureChannelCredentials());
  std::atomic<uint64_t> long_reads{0};
  std::thread lister;
  if (absl::GetFlag(FLAGS_long_reads)) {
    lister = std::thread([&] {
      auto stub = adsync::v1::Status::NewStub(channel);
      while (!stop_ingest.load()) {
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", "Bearer bench-token");
        adsync::v1::ListAccountsRequest req;
        req.set_org_id(org);
        // Within gRPC's default 4 MB answer.
        req.set_limit(20000);
        adsync::v1::ListAccountsResponse resp;
        if (stub->ListAccounts(&ctx, req, &resp).ok()) ++long_reads;
      }
    });
  }
  std::printf(
      "%s over %d accounts, %s, read_connections %d, ingest %s, long reads "
      "%s\n",
      status_reads ? "GetStatus(org)" : "ResolveLogin", n,
      absl::GetFlag(FLAGS_engine).c_str(),
      absl::GetFlag(FLAGS_read_connections),
      absl::GetFlag(FLAGS_ingest) ? "running" : "off",
      absl::GetFlag(FLAGS_long_reads) ? "running" : "off");
  std::printf("clients  calls/s  p50 ms  p99 ms  errors  ingest deltas/s\n");
  bool any_error = false;
  for (int clients : client_counts) {
    std::atomic<uint64_t> errors{0};
    std::atomic<bool> stop{false};
    std::vector<std::vector<double>> latencies(clients);
    std::vector<std::thread> threads;
    const uint64_t ingested_before = ingested.load();
    const absl::Time start = absl::Now();
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        auto stub = adsync::v1::Status::NewStub(channel);
        uint64_t i = c;
        while (!stop.load()) {
          grpc::ClientContext ctx;
          ctx.AddMetadata("authorization", "Bearer bench-token");
          ctx.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(30));
          const absl::Time t0 = absl::Now();
          grpc::Status s;
          bool ok = false;
          if (status_reads) {
            adsync::v1::GetStatusRequest req;
            req.set_org_id(org);
            adsync::v1::GetStatusResponse resp;
            s = stub->GetStatus(&ctx, req, &resp);
            ok = s.ok() && resp.orgs_size() == 1;
          } else {
            adsync::v1::ResolveLoginRequest req;
            req.set_org_id(org);
            req.set_login(absl::StrCat("DISTRICT\\u", (i * 7919) % n));
            adsync::v1::ResolveLoginResponse resp;
            s = stub->ResolveLogin(&ctx, req, &resp);
            ok = s.ok() && resp.found();
          }
          latencies[c].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
          if (!ok) ++errors;
          ++i;
        }
      });
    }
    std::this_thread::sleep_for(
        std::chrono::seconds(absl::GetFlag(FLAGS_seconds)));
    stop = true;
    for (auto& t : threads) t.join();
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    std::vector<double> all;
    for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    const double calls = static_cast<double>(all.size());
    std::printf("%7d  %7.0f  %6.2f  %6.2f  %6llu  %15.0f\n", clients,
                calls / secs, Percentile(&all, 0.50), Percentile(&all, 0.99),
                static_cast<unsigned long long>(errors.load()),
                (ingested.load() - ingested_before) / secs);
    any_error = any_error || errors.load() != 0;
  }
  stop_ingest = true;
  if (ingest.joinable()) ingest.join();
  if (lister.joinable()) lister.join();
  if (absl::GetFlag(FLAGS_long_reads)) {
    std::printf(
        "long reads (ListAccounts of 20,000 accounts) completed: %llu\n",
        static_cast<unsigned long long>(long_reads.load()));
  }
  bench.server->Shutdown();
  std::filesystem::remove_all(dir);
  return any_error ? 1 : 0;
}

}  // namespace
}  // namespace adsync

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return adsync::Main();
}
