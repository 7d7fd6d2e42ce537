// panel-sim: a faithful local K12Panel (docs/design.md, section 6) with its
// own SQLite storage, bearer-token auth, idempotency keys, per-person
// version ordering, and fault injection. Tests and the demo drive it over
// real HTTP; /sim/* endpoints seed People, set faults and show state.
//
// The K12Panel API (Bearer token, then fault injection, on every call):
//   GET  /api/v1/orgs/{org}/people                     (6.1)
//   POST /api/v1/orgs/{org}/ad-identities:batchUpdate  (6.2)
//   GET  /api/v1/orgs/{org}/ad-identities              (6.3)
//   POST /api/v1/orgs/{org}/ad-syncs/{sync_id}/reports (6.4)
// Listings take page_size 1..1000 (100 when absent; 400 otherwise) and an
// opaque page_token (400 when it is not one panel-sim issued) and are
// ordered by id. The identity listing includes every Person batchUpdate
// stored, except one whose only update carried version 0 and no
// identities (nothing to report): a Person whose set became empty under a
// version > 0 is listed with "identities": [], so a preview sees the
// removal. A report needs an Idempotency-Key (400 without), an AD Sync ID
// (a GUID), RFC 3339 started_at/finished_at and bounded strings; a repeated
// key (per org, for reports only) answers the first answer again and
// stores nothing.
//
// The control surface (no token): POST /sim/faults, GET /sim/stats,
// POST /sim/orgs/{org}/people, GET /sim/orgs/{org}/state, and
// GET /sim/orgs/{org}/reports[?sync_id=] (newest first; reports.html is
// the same as a page for people).
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
  HttpServerResponse ListIdentities(const std::string& org,
                                    const HttpServerRequest& r);
  HttpServerResponse PostReport(const std::string& org,
                                const std::string& sync_id,
                                const HttpServerRequest& r);
  HttpServerResponse SeedPeople(const std::string& org,
                                const HttpServerRequest& r);
  HttpServerResponse OrgState(const std::string& org);
  HttpServerResponse Reports(const std::string& org, const HttpServerRequest& r,
                             bool html);

  absl::Mutex mu_;
  std::unique_ptr<Database> db_ ABSL_GUARDED_BY(mu_);
  const std::string token_;
  adsync::v1::SimFaults faults_ ABSL_GUARDED_BY(mu_);
  adsync::v1::SimStats stats_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace adsync

#endif  // ADSYNC_PANEL_PANEL_SIM_H_
