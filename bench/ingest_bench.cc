// Coordinator ingest benchmark (issue 7).
//
// A synthetic agent streams N realistic profile deltas over loopback gRPC
// to an in-process coordinator (batches of 1000, acked only after commit),
// then re-sends them unchanged (what every full sync and failover does).
// The storage floor is measured in the same run: a raw upsert of the same
// rows into the same schema on the same engine, 1000 rows per transaction,
// prepared statements, no matching or merging.
//
//   build/bench/ingest_bench [--profiles=1000000] [--rounds=3] [--dir=/tmp]
//                            [--engine=sqlite|postgres]
#include <sys/stat.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define ADSYNC_HAVE_CALLGRIND 1
#endif

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_setup.h"
#include "common/sid.h"
#include "common/sqlite.h"
#include "coordinator/merge_rules.h"
#include "coordinator/sqlite/sqlite_store.h"
#include "tests/support/raw_stream.h"
#include "tests/support/test_util.h"
#include "tests/support/wire_agent.h"

ABSL_FLAG(int, profiles, 1000000, "profiles to stream");
ABSL_FLAG(std::string, dir, "/tmp", "directory for the benchmark databases");
ABSL_FLAG(bool, store_only, false,
          "only the raw upsert and the store alone (for profiling them)");
ABSL_FLAG(std::string, engine, "sqlite",
          "store engine: sqlite, or postgres (a server the benchmark starts)");
ABSL_FLAG(bool, callgrind_resends, false,
          "under valgrind --tool=callgrind --dump-instr=no: zero the counters "
          "before the unchanged re-send pass and dump them after it "
          "(callgrind.out.PID.1 holds the re-sends alone)");
ABSL_FLAG(int, rounds, 3,
          "rounds of (raw upsert, coordinator ingest, unchanged re-send); "
          "medians are reported because this machine's speed varies");

namespace adsync {
namespace {

using testing::DeltaSpec;

DeltaSpec Profile(int i) {
  DeltaSpec s;
  s.guid = static_cast<uint32_t>(i + 1);
  s.sam = absl::StrCat("student", i);
  s.upn = absl::StrCat("student", i, "@district.example.org");
  s.mail = absl::StrCat("student", i, "@students.district.example.org");
  s.display_name = absl::StrCat("Student Number ", i);
  s.proxy = {absl::StrCat("SMTP:student", i, "@students.district.example.org")};
  return s;
}

// The agent's messages, serialized before the clock starts: the benchmark
// measures the coordinator, not the synthetic agent (which in production
// runs on the DC, not on the coordinator's cores).
std::vector<grpc::ByteBuffer> SerializedBatches(int n, uint64_t* sequence,
                                                uint64_t lease_epoch) {
  std::vector<grpc::ByteBuffer> out;
  for (int first = 0; first < n; first += 1000) {
    std::vector<DeltaSpec> specs;
    for (int i = first; i < std::min(n, first + 1000); ++i)
      specs.push_back(Profile(i));
    adsync::v1::AgentMessage m;
    *m.mutable_batch() = testing::MakeBatch(++*sequence, specs);
    m.mutable_batch()->set_lease_epoch(lease_epoch);
    out.push_back(testing::Serialize(m));
  }
  return out;
}

// Sends every batch with at most 8 unacknowledged; returns the seconds
// until the last is acknowledged (acks come only after commit).
double StreamAll(testing::RawStream& agent,
                 const std::vector<grpc::ByteBuffer>& batches, int n) {
  const absl::Time start = absl::Now();
  const size_t kWindow = 8;
  int acked = 0;
  size_t next = 0;
  size_t in_flight = 0;
  while (acked < n) {
    while (next < batches.size() && in_flight < kWindow) {
      if (!agent.Write(batches[next++])) break;
      ++in_flight;
    }
    std::optional<adsync::v1::CoordinatorMessage> m = agent.Read();
    if (!m.has_value() || !m->has_ack()) {
      grpc::Status s = agent.Close();
      std::fprintf(stderr, "stream ended early: %s\n",
                   s.error_message().c_str());
      std::exit(1);
    }
    acked += m->ack().applied() + m->ack().unchanged();
    --in_flight;
  }
  return absl::ToDoubleSeconds(absl::Now() - start);
}

double RawUpsert(BenchEngine& engine, int n) {
  const std::string database = engine.NewDatabase("raw");
  // The store creates the schema (and, on SQLite, sets its pragmas).
  std::unique_ptr<SqlStore> store = engine.OpenStore(database, StoreOptions{});
  std::unique_ptr<Database> db = engine.OpenRaw(database);
  // The rows are built before the clock starts, as the agent's batches are,
  // and hold the bytes the store writes for them: the SID's text, the
  // stamps as EncodeStamps lays them out, the time of the write.
  std::vector<adsync::v1::ProfileDelta> rows;
  std::vector<std::string> sids;
  std::vector<std::string> stamps;
  rows.reserve(n);
  sids.reserve(n);
  stamps.reserve(n);
  for (int i = 0; i < n; ++i) {
    rows.push_back(testing::MakeDelta(Profile(i)));
    absl::StatusOr<std::string> sid =
        SidBinaryToString(rows.back().object_sid());
    if (!sid.ok()) {
      std::fprintf(stderr, "%s\n", std::string(sid.status().message()).c_str());
      std::exit(1);
    }
    sids.push_back(*std::move(sid));
    adsync::v1::ProfileDelta copy = rows.back();
    stamps.push_back(EncodeStamps(StateFromDelta(&copy, "").stamps));
  }
  const int64_t updated = absl::ToUnixSeconds(absl::Now());
  const absl::Time start = absl::Now();
  for (int first = 0; first < n; first += 1000) {
    Transaction txn(db.get());
    (void)txn.Begin();
    for (int i = first; i < std::min(n, first + 1000); ++i) {
      const adsync::v1::ProfileDelta& d = rows[i];
      auto q = db->Cached(
          "INSERT INTO profiles(org_key, object_guid, domain, sid, sam, upn, "
          "mail, proxy, "
          "display_name, uac, deleted, absent, stamps, outcome, person_id, "
          "matched_email, "
          "updated) "
          "VALUES(1,?1,'DISTRICT',?2,?3,?4,?5,?6,?7,512,0,0,?8,1,'','',?9) "
          "ON CONFLICT(org_key, object_guid) DO UPDATE SET sam=?3, upn=?4, "
          "mail=?5");
      (*q)->BindBlob(1, d.object_guid())
          .Bind(2, sids[i])
          .Bind(3, d.sam_account_name())
          .Bind(4, d.user_principal_name())
          .Bind(5, d.mail())
          .Bind(6, d.proxy_addresses(0))  // Profile() gives each one address
          .Bind(7, d.display_name())
          .BindBlob(8, stamps[i])
          .Bind(9, updated);
      (void)(*q)->Run();
    }
    (void)txn.Commit();
  }
  return absl::ToDoubleSeconds(absl::Now() - start);
}

// The coordinator's storage work alone: PrepareBatch and ApplyBatch called
// directly on one thread, no gRPC and nothing running beside it. Separates
// what the store costs from what sharing two cores with the gRPC threads
// costs.
double StoreOnly(BenchEngine& engine, int n) {
  std::unique_ptr<SqlStore> store =
      engine.OpenStore(engine.NewDatabase("store"), StoreOptions{});
  const BenchWriter writer = AddBenchWriter(store.get(), "Bench USD");
  const SyncRecord& sync = writer.sync;
  const uint64_t epoch = writer.epoch;
  std::vector<PreparedBatch> batches;
  uint64_t sequence = 0;
  for (int first = 0; first < n; first += 1000) {
    std::vector<DeltaSpec> specs;
    for (int i = first; i < std::min(n, first + 1000); ++i)
      specs.push_back(Profile(i));
    adsync::v1::Batch b = testing::MakeBatch(++sequence, specs);
    b.set_lease_epoch(epoch);
    batches.push_back(*PrepareBatch(&b, BatchLimits{}));
  }
  const absl::Time start = absl::Now();
  for (PreparedBatch& b : batches) {
    if (!store->ApplyBatch(sync, std::move(b), nullptr, 0).ok()) std::exit(1);
  }
  return absl::ToDoubleSeconds(absl::Now() - start);
}

struct Round {
  double raw_rows_per_s = 0;
  double store_ratio = 0;  // store alone, time / raw upsert time
  double new_per_s = 0;
  double ratio = 0;  // coordinator time / raw upsert time
  double unchanged_per_s = 0;
  double bytes_per_profile = 0;
};

// One round: the raw reference, then the coordinator on a fresh database,
// back to back so that both see the same machine conditions.
Round RunRound(BenchEngine& engine, const std::string& dir, int n) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Round r;
  const double raw = RawUpsert(engine, n);
  r.raw_rows_per_s = n / raw;
  r.store_ratio = StoreOnly(engine, n) / raw;
  if (absl::GetFlag(FLAGS_store_only)) return r;

  BenchCoordinator bench = StartBenchCoordinator(dir, &engine);
  testing::RawStream agent(
      absl::StrCat("127.0.0.1:", bench.server->agent_port()),
      grpc::InsecureChannelCredentials(), absl::Hours(1));
  adsync::v1::AgentMessage hello;
  hello.mutable_hello()->set_org_id(bench.org_id);
  hello.mutable_hello()->set_sync_key(bench.sync_key);
  hello.mutable_hello()->set_controller("dc1.district.test");
  hello.mutable_hello()->set_invocation_id(testing::TestGuid(1));
  agent.Write(hello);
  const uint64_t epoch = agent.Read()->hello_result().lease_epoch();
  uint64_t sequence = 0;
  // The same profiles twice: new, then re-sent unchanged.
  const std::vector<grpc::ByteBuffer> first_pass =
      SerializedBatches(n, &sequence, epoch);
  const std::vector<grpc::ByteBuffer> second_pass =
      SerializedBatches(n, &sequence, epoch);
  const double fresh = StreamAll(agent, first_pass, n);
  r.new_per_s = n / fresh;
  r.ratio = fresh / raw;
  const bool profile = absl::GetFlag(FLAGS_callgrind_resends);
#ifdef ADSYNC_HAVE_CALLGRIND
  if (profile) CALLGRIND_ZERO_STATS;
#endif
  const double again = StreamAll(agent, second_pass, n);
#ifdef ADSYNC_HAVE_CALLGRIND
  if (profile) CALLGRIND_DUMP_STATS_AT("unchanged re-sends");
#endif
  (void)profile;
  r.unchanged_per_s = n / again;
  (void)agent.Close();
  bench.server->Shutdown();
  bench.server.reset();
  r.bytes_per_profile = static_cast<double>(engine.Bytes(bench.database)) / n;
  std::filesystem::remove_all(dir);
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main() {
  const int n = absl::GetFlag(FLAGS_profiles);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const std::string dir = absl::GetFlag(FLAGS_dir) + "/adsync-ingest-bench";
#ifndef ADSYNC_HAVE_CALLGRIND
  if (absl::GetFlag(FLAGS_callgrind_resends)) {
    std::fprintf(stderr,
                 "--callgrind_resends needs valgrind's callgrind.h: install "
                 "valgrind and rebuild\n");
    return 2;
  }
#endif
  BenchEngine engine(absl::GetFlag(FLAGS_engine), dir + "-files");
  std::printf("engine: %s\n", engine.name());
  std::printf(
      "round  raw upsert rows/s  store alone  new deltas/s  ratio  "
      "unchanged deltas/s  bytes/profile\n");
  std::vector<double> raw, store, fresh, ratio, unchanged;
  for (int i = 1; i <= rounds; ++i) {
    const Round r = RunRound(engine, dir, n);
    std::printf("%5d  %17.0f  %10.2fx  %12.0f  %4.2fx  %18.0f  %13.0f\n", i,
                r.raw_rows_per_s, r.store_ratio, r.new_per_s, r.ratio,
                r.unchanged_per_s, r.bytes_per_profile);
    std::fflush(stdout);
    raw.push_back(r.raw_rows_per_s);
    store.push_back(r.store_ratio);
    fresh.push_back(r.new_per_s);
    ratio.push_back(r.ratio);
    unchanged.push_back(r.unchanged_per_s);
  }
  std::printf("median %17.0f  %10.2fx  %12.0f  %4.2fx  %18.0f\n", Median(raw),
              Median(store), Median(fresh), Median(ratio), Median(unchanged));
  return 0;
}

}  // namespace
}  // namespace adsync

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return adsync::Main();
}
