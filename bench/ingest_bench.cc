// Coordinator ingest benchmark (issue 7).
//
// A synthetic agent streams N realistic profile deltas over loopback gRPC
// to an in-process coordinator (batches of 1000, acked only after commit),
// then re-sends them unchanged (what every full sync and failover does).
// The storage floor is measured in the same run: a raw SQLite upsert of the
// same rows into the same schema, 1000 rows per transaction, prepared
// statements, no matching or merging.
//
//   build/bench/ingest_bench [--profiles=1000000] [--dir=/tmp]
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_setup.h"
#include "common/sqlite.h"
#include "tests/test_util.h"
#include "tests/wire_agent.h"

ABSL_FLAG(int, profiles, 1000000, "profiles to stream");
ABSL_FLAG(std::string, dir, "/tmp", "directory for the benchmark databases");

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

// Built before the clock starts: the benchmark measures the coordinator,
// not the synthetic agent.
std::vector<adsync::v1::Batch> MakeBatches(int n) {
  std::vector<adsync::v1::Batch> batches;
  for (int first = 0; first < n; first += 1000) {
    std::vector<DeltaSpec> specs;
    for (int i = first; i < std::min(n, first + 1000); ++i)
      specs.push_back(Profile(i));
    batches.push_back(testing::MakeBatch(0, specs));
  }
  return batches;
}

// Takes the batches by value so that sending moves them (a const vector
// would silently copy every batch on the clock).
double StreamAll(testing::WireAgent& agent,
                 std::vector<adsync::v1::Batch> batches, int n, uint64_t* seq) {
  const absl::Time start = absl::Now();
  const int kWindow = 8;
  int acked = 0;
  size_t next = 0;
  uint64_t in_flight = 0;
  while (acked < n) {
    while (next < batches.size() && in_flight < kWindow) {
      adsync::v1::Batch b = std::move(batches[next++]);  // no copy on the clock
      b.set_sequence(++*seq);
      agent.Send(std::move(b));
      ++in_flight;
    }
    auto m = agent.Read();
    if (!m.has_ack()) {
      grpc::Status s = agent.Close();
      std::fprintf(stderr, "stream ended early: %s\n",
                   s.error_message().c_str());
      std::exit(1);
    }
    acked += m.ack().applied() + m.ack().unchanged();
    --in_flight;
  }
  return absl::ToDoubleSeconds(absl::Now() - start);
}

double RawUpsert(const std::string& path, int n) {
  SqliteStoreOptions options;
  options.path = path;
  auto store = SqliteStore::Open(options);  // same schema and pragmas
  if (!store.ok()) std::exit(1);
  auto db = Database::Open(path);
  // The rows are built before the clock starts, as the agent's batches are.
  std::vector<adsync::v1::ProfileDelta> rows;
  std::vector<std::string> sids;  // the store keeps the SID's text form
  rows.reserve(n);
  sids.reserve(n);
  for (int i = 0; i < n; ++i) {
    rows.push_back(testing::MakeDelta(Profile(i)));
    sids.push_back(absl::StrCat("S-1-5-21-1-2-3-", i));
  }
  const std::string stamps(224, '\x01');
  const absl::Time start = absl::Now();
  for (int first = 0; first < n; first += 1000) {
    Transaction txn(db->get());
    (void)txn.Begin();
    for (int i = first; i < std::min(n, first + 1000); ++i) {
      const adsync::v1::ProfileDelta& d = rows[i];
      auto q = (*db)->Cached(
          "INSERT INTO profiles(org_key, object_guid, domain, sid, sam, upn, "
          "mail, proxy, "
          "display_name, uac, deleted, absent, stamps, outcome, person_id, "
          "matched_email, "
          "updated) "
          "VALUES(1,?1,'DISTRICT',?2,?3,?4,?5,?6,?7,512,0,0,?8,1,'','',0) "
          "ON CONFLICT(org_key, object_guid) DO UPDATE SET sam=?3, upn=?4, "
          "mail=?5");
      (*q)->BindBlob(1, d.object_guid())
          .Bind(2, sids[i])
          .Bind(3, d.sam_account_name())
          .Bind(4, d.user_principal_name())
          .Bind(5, d.mail())
          .Bind(6, d.proxy_addresses(0))
          .Bind(7, d.display_name())
          .BindBlob(8, stamps);
      (void)(*q)->Run();
    }
    (void)txn.Commit();
  }
  return absl::ToDoubleSeconds(absl::Now() - start);
}

int64_t FileBytes(const std::string& path) {
  int64_t total = 0;
  for (const char* suffix : {"", "-wal"}) {
    struct stat st;
    if (stat((path + suffix).c_str(), &st) == 0) total += st.st_size;
  }
  return total;
}

int Main() {
  const int n = absl::GetFlag(FLAGS_profiles);
  const std::string dir = absl::GetFlag(FLAGS_dir) + "/adsync-ingest-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  const double raw = RawUpsert(dir + "/raw.db", n);
  std::printf("raw SQLite upsert:        %9.0f rows/s   (%d rows, %.1f s)\n",
              n / raw, n, raw);

  BenchCoordinator bench = StartBenchCoordinator(dir);
  // One set of batches per pass, built before the clock starts.
  std::vector<adsync::v1::Batch> first_pass = MakeBatches(n);
  std::vector<adsync::v1::Batch> second_pass = MakeBatches(n);
  testing::WireAgent agent(
      absl::StrCat("127.0.0.1:", bench.server->agent_port()), absl::Hours(1));
  agent.Hello(bench.org_id, bench.sync_key, testing::TestGuid(1));
  uint64_t seq = 0;
  const double fresh = StreamAll(agent, std::move(first_pass), n, &seq);
  std::printf(
      "ingest, new profiles:     %9.0f deltas/s (%.1f s; %.2fx the raw upsert "
      "time)\n",
      n / fresh, fresh, fresh / raw);
  const double again = StreamAll(agent, std::move(second_pass), n, &seq);
  std::printf("ingest, unchanged resend: %9.0f deltas/s (%.1f s)\n", n / again,
              again);
  (void)agent.Close();
  bench.server->Shutdown();
  bench.server.reset();
  std::printf(
      "coordinator database:     %9.0f bytes/profile (%lld bytes incl. WAL)\n",
      static_cast<double>(FileBytes(dir + "/coordinator.db")) / n,
      static_cast<long long>(FileBytes(dir + "/coordinator.db")));
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace adsync

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return adsync::Main();
}
