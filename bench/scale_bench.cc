// Many orgs on one store (issue 16): --orgs orgs of --profiles_per_org
// profiles each, every profile matched to one of the org's People (so the
// outbox fills as on a first sync), written through the store's own
// ApplyBatch in batches of 1000 on one thread, on SQLite or PostgreSQL.
//
// Reports: ingest rate (store time only; the synthetic batches are built
// outside the clock), disk per profile, this process's memory (the store
// is the coordinator's), restart-to-ready (open the store again, then the
// first status answer and the first batch of an org), and status of one
// org and of all orgs.
//
//   build/bench/scale_bench [--orgs=1000] [--profiles_per_org=5000]
//                           [--engine=sqlite|postgres] [--dir=/tmp]
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_engine.h"
#include "tests/support/test_util.h"
#include "tests/support/wire_agent.h"

ABSL_FLAG(int, orgs, 1000, "orgs");
ABSL_FLAG(int, profiles_per_org, 5000, "profiles (and People) per org");
ABSL_FLAG(std::string, engine, "sqlite", "sqlite or postgres");
ABSL_FLAG(std::string, dir, "/tmp", "directory for SQLite files");

namespace adsync {
namespace {

using testing::DeltaSpec;

// VmRSS or VmHWM of this process, MB.
double MemoryMb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    int64_t kb = 0;
    std::string digits;
    for (char c : line)
      if (c >= '0' && c <= '9') digits.push_back(c);
    if (absl::SimpleAtoi(digits, &kb)) return kb / 1024.0;
  }
  return -1;
}

std::string Email(int org, int i) {
  return absl::StrCat("s", i, ".o", org, "@students.example.org");
}

struct Org {
  std::string org_id;
  SyncRecord sync;
  uint64_t epoch = 0;
  uint64_t sequence = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Seconds of `n` calls of `f`, median.
template <typename F>
double Timed(int n, F f) {
  std::vector<double> seconds;
  for (int i = 0; i < n; ++i) {
    const absl::Time start = absl::Now();
    f(i);
    seconds.push_back(absl::ToDoubleSeconds(absl::Now() - start));
  }
  return Median(seconds);
}

int Main() {
  const int orgs = absl::GetFlag(FLAGS_orgs);
  const int per_org = absl::GetFlag(FLAGS_profiles_per_org);
  BenchEngine engine(absl::GetFlag(FLAGS_engine),
                     absl::GetFlag(FLAGS_dir) + "/adsync-scale-bench");
  const std::string database = engine.NewDatabase("scale");
  std::unique_ptr<SqlStore> store = engine.OpenStore(database, StoreOptions{});
  std::printf("engine: %s, %d orgs x %d profiles\n", engine.name(), orgs,
              per_org);
  std::fflush(stdout);

  std::vector<Org> all(orgs);
  double ingest_seconds = 0;
  double people_seconds = 0;
  const int64_t now = absl::ToUnixMillis(absl::Now());
  for (int o = 0; o < orgs; ++o) {
    Org& org = all[o];
    adsync::v1::CreateOrgRequest create;
    create.set_name(absl::StrCat("District ", o));
    org.org_id = store->CreateOrg(create)->org_id();
    adsync::v1::AddSyncRequest add;
    add.set_org_id(org.org_id);
    add.set_domain("DISTRICT");
    add.add_allowed_ips("127.0.0.1");
    const std::string key = store->AddSync(add)->sync_key();
    org.sync = *store->Authenticate(org.org_id, key);
    org.epoch =
        store->AcquireLease(org.sync, now, 24 * 3600 * 1000, "bench", 0)->epoch;
    std::vector<Person> people;
    people.reserve(per_org);
    for (int i = 0; i < per_org; ++i) {
      people.push_back(
          {absl::StrCat("p-", i), absl::StrCat("Student ", i), {Email(o, i)}});
    }
    absl::Time start = absl::Now();
    if (!store->ReplacePeople(org.org_id, people).ok()) return 1;
    people_seconds += absl::ToDoubleSeconds(absl::Now() - start);
    for (int first = 0; first < per_org; first += 1000) {
      std::vector<DeltaSpec> specs;
      for (int i = first; i < std::min(per_org, first + 1000); ++i) {
        DeltaSpec s;
        s.guid = static_cast<uint32_t>(o * per_org + i + 1);
        s.sam = absl::StrCat("s", i);
        s.mail = Email(o, i);
        s.upn = absl::StrCat("s", i, "@district.example.org");
        s.display_name = absl::StrCat("Student ", i);
        specs.push_back(s);
      }
      adsync::v1::Batch batch = testing::MakeBatch(++org.sequence, specs);
      batch.set_lease_epoch(org.epoch);
      absl::StatusOr<PreparedBatch> prepared =
          PrepareBatch(&batch, BatchLimits{});
      start = absl::Now();
      auto applied =
          store->ApplyBatch(org.sync, *std::move(prepared), nullptr, 0);
      ingest_seconds += absl::ToDoubleSeconds(absl::Now() - start);
      if (!applied.ok()) {
        std::fprintf(stderr, "%s\n",
                     std::string(applied.status().message()).c_str());
        return 1;
      }
    }
    if ((o + 1) % 100 == 0) {
      std::printf("  %d orgs: %.0f profiles/s so far, RSS %.0f MB\n", o + 1,
                  (o + 1.0) * per_org / ingest_seconds, MemoryMb("VmRSS"));
      std::fflush(stdout);
    }
  }
  const double total = static_cast<double>(orgs) * per_org;
  std::printf(
      "ingest: %.0f profiles/s (store time %.0f s); People import "
      "%.0f people/s\n",
      total / ingest_seconds, ingest_seconds, total / people_seconds);
  std::printf("memory after ingest: RSS %.0f MB, peak %.0f MB\n",
              MemoryMb("VmRSS"), MemoryMb("VmHWM"));
  std::printf("disk: %.0f bytes/profile (%.2f GB)\n",
              engine.Bytes(database) / total, engine.Bytes(database) / 1e9);

  const double one = Timed(20, [&](int i) {
    if (!store->GetStatus(all[(i * 37) % orgs].org_id).ok()) std::exit(1);
  });
  const double every = Timed(3, [&](int) {
    if (!store->GetStatus("").ok()) std::exit(1);
  });
  std::printf(
      "status: one org %.1f ms (median of 20), all orgs %.0f ms "
      "(median of 3)\n",
      one * 1e3, every * 1e3);

  // Restart: a new store on the same database, then the first answers.
  store.reset();
  const absl::Time restart = absl::Now();
  store = engine.OpenStore(database, StoreOptions{});
  const double opened = absl::ToDoubleSeconds(absl::Now() - restart);
  if (!store->GetStatus(all[0].org_id).ok()) return 1;
  const double first_status = absl::ToDoubleSeconds(absl::Now() - restart);
  // The first batch of an org after the restart (SQLite rebuilds the org's
  // known-accounts filter from its table here).
  Org& org = all[orgs / 2];
  adsync::v1::Batch batch = testing::MakeBatch(
      ++org.sequence,
      {{.guid = static_cast<uint32_t>(orgs * per_org + 1), .sam = "new"}});
  batch.set_lease_epoch(org.epoch);
  absl::StatusOr<PreparedBatch> prepared = PrepareBatch(&batch, BatchLimits{});
  const absl::Time batch_start = absl::Now();
  if (!store->ApplyBatch(org.sync, *std::move(prepared), nullptr, 0).ok())
    return 1;
  const double first_batch = absl::ToDoubleSeconds(absl::Now() - batch_start);
  std::printf(
      "restart: open %.2f s, first status %.2f s, then an org's "
      "first batch %.3f s; RSS %.0f MB\n",
      opened, first_status, first_batch, MemoryMb("VmRSS"));
  return 0;
}

}  // namespace
}  // namespace adsync

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return adsync::Main();
}
