// panel-sim: a faithful local K12Panel (docs/design.md, section 6) with its
// own SQLite storage, bearer-token auth, idempotency keys, per-person
// version ordering, and fault injection. Tests and the demo drive it over
// real HTTP; /sim/* endpoints seed People, set faults and show state.
//
// Thread-safety: Handle() is called concurrently; storage is serialized.
#ifndef ADSYNC_PANEL_PANEL_SIM_H_
#define ADSYNC_PANEL_PANEL_SIM_H_

#include <memory>
#include <optional>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "adsync/v1/panel.pb.h"
#include "common/http_server.h"
#include "common/sqlite.h"

namespace adsync {

class PanelSim {
 public:
  static absl::StatusOr<std::unique_ptr<PanelSim>> Open(
      const std::string& db_path, std::string token, uint64_t seed);

  HttpServerResponse Handle(const HttpServerRequest& request);
  void SetFaults(const adsync::v1::SimFaults& faults);

 private:
  PanelSim(std::unique_ptr<Database> db, std::string token, uint64_t seed)
      : db_(std::move(db)), token_(std::move(token)), rng_(seed) {}

  // Returns a response when a fault applies to this API request.
  std::optional<HttpServerResponse> InjectFault();
  HttpServerResponse ListPeople(const std::string& org,
                                const HttpServerRequest& r);
  HttpServerResponse BatchUpdate(const std::string& org,
                                 const HttpServerRequest& r);
  HttpServerResponse SeedPeople(const std::string& org,
                                const HttpServerRequest& r);
  HttpServerResponse OrgState(const std::string& org);

  absl::Mutex mu_;
  std::unique_ptr<Database> db_ ABSL_GUARDED_BY(mu_);
  const std::string token_;
  adsync::v1::SimFaults faults_ ABSL_GUARDED_BY(mu_);
  adsync::v1::SimStats stats_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace adsync

#endif  // ADSYNC_PANEL_PANEL_SIM_H_
