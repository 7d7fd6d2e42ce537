// Change tracking on one domain controller, as AD documents it ("Polling for
// changes using uSNChanged"): a full sync pages through every account; an
// incremental sync asks for uSNChanged above the watermark, live accounts
// under the configured bases plus tombstones (Show Deleted) anywhere in the
// domain. Watermarks are only valid for the invocationId that issued them.
//
// Deltas stream out in batches as pages arrive, so memory stays flat.
// Thread-safety: one thread.
#ifndef ADSYNC_AGENT_CHANGE_TRACKER_H_
#define ADSYNC_AGENT_CHANGE_TRACKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adsync/v1/agent.pb.h"
#include "agent/directory.h"
#include "common/repl_metadata.h"

namespace adsync {

// Receives batches. Send blocks while the window of unacknowledged batches
// is full and fails when the coordinator link broke.
class BatchSink {
 public:
  virtual ~BatchSink() = default;
  virtual absl::Status Send(adsync::v1::Batch batch) = 0;
};

// True when `dn` is `base` or an object under it: compared without case,
// without spaces after the commas between RDNs, and with escapes decoded
// ("OU=A\2CB" is "OU=A\,B", as the DC may write it).
bool IsUnderDn(absl::string_view dn, absl::string_view base);
// "DC=district,DC=test" -> "district.test".
std::string DnsNameOfNamingContext(absl::string_view naming_context);
// Escapes a value for an LDAP filter (RFC 4515).
std::string EscapeFilterValue(absl::string_view value);

// What WatchForChanges asks each notification to carry: the account
// attributes, and what the default filter is judged by.
const std::vector<std::string>& NotificationAttributes();

struct ControllerState {
  std::string host;
  std::string naming_context;
  std::string invocation_id;  // 16 bytes
  // The domain the DC serves, as the DC says: the coordinator refuses an
  // agent whose domain is not its AD Sync's.
  std::string domain_sid;       // binary objectSid of the domain object
  std::string netbios_name;     // from the domain's crossRef; may be empty
  std::string domain_dns_name;  // from the naming context: DC=a,DC=b -> a.b
  int64_t highest_committed_usn = 0;
  bool offers_change_notification = false;
  // The DC's replUpToDateVector: how far it has applied other DCs' changes.
  std::vector<UpToDateCursor> replication;
};

struct TrackerOptions {
  std::vector<std::string> base_dns;  // empty = the domain's naming context
  std::string filter;                 // empty = kDefaultAccountFilter
  uint32_t page_size = 1000;
  uint32_t max_deltas_per_batch = 1000;
};

struct CycleStats {
  uint64_t deltas = 0;
  uint64_t skipped = 0;  // entries that could not be read (logged)
  int64_t watermark_usn = 0;
  // The highest uSNChanged among the objects seen: the DC has committed at
  // least that much.
  int64_t highest_usn_seen = 0;
};

class ChangeTracker {
 public:
  // REQUIRES: `directory` and `sink` outlive the tracker.
  ChangeTracker(Directory* directory, BatchSink* sink, TrackerOptions options);

  // Reads the rootDSE and the DC's invocationId.
  absl::StatusOr<ControllerState> ReadController();

  // Sends every account, framed by full_sync_begin/end; the last batch
  // carries the watermark (invocationId, USN read before the first page).
  absl::StatusOr<CycleStats> FullSync(const ControllerState& dc);

  // Sends accounts changed (or deleted) since `since_usn`, then the new
  // watermark. REQUIRES: dc.invocation_id issued `since_usn`.
  absl::StatusOr<CycleStats> Incremental(const ControllerState& dc,
                                         int64_t since_usn);

  // Sends the accounts among `objects`, the changed objects notifications
  // carried (with NotificationAttributes), as they were notified: live
  // accounts under the bases that match the filter, and tombstones. With
  // the default filter they are judged here; with another, each live
  // object under the bases is read again by DN with the filter (a
  // base-scope search, which the DC answers from its index), once however
  // often it was notified. An object notified without its classes is read
  // live, then as a tombstone. An object that is no account, or no longer
  // exists, is not sent. The batch carries no watermark: the next
  // Incremental still covers these objects, which the coordinator takes as
  // no change (it orders by replication stamps). Each read by DN waits at
  // most `read_timeout` for its answer (zero: the connection's LDAP
  // timeout), so that a DC that hangs right after notifying holds the agent
  // no longer than its liveness bound; every answer starts the wait anew, so
  // a long notice of a DC that answers is read whole.
  absl::StatusOr<CycleStats> SendNotified(
      const ControllerState& dc, const std::vector<LdapEntry>& objects,
      absl::Duration read_timeout = absl::ZeroDuration());

 private:
  enum class NotifiedKind {
    kAccount,   // send it
    kOther,     // not an account in scope
    kReadLive,  // live and in scope: only the DC can apply the filter
    kRead,      // the notification carried no classes: read it
  };
  NotifiedKind Classify(const LdapEntry& object,
                        const std::vector<std::string>& bases) const;
  // Reads a notified object by DN (live under the bases with the filter,
  // then, unless `live_only`, as a tombstone) and adds it if it is an
  // account.
  absl::Status ReadNotified(const std::string& dn,
                            const std::vector<std::string>& bases,
                            bool live_only, absl::Duration timeout,
                            CycleStats* stats);
  // Adds an account's delta to the pending batch, sending it when full;
  // an entry that cannot be read is skipped (logged).
  absl::Status Add(const LdapEntry& entry, CycleStats* stats);
  absl::Status Stream(const SearchRequest& request, CycleStats* stats);
  absl::Status FlushBatch(bool final, const ControllerState* dc);

  Directory* const directory_;
  BatchSink* const sink_;
  const TrackerOptions options_;
  adsync::v1::Batch pending_;
  bool begin_pending_ = false;
};

}  // namespace adsync

#endif  // ADSYNC_AGENT_CHANGE_TRACKER_H_
