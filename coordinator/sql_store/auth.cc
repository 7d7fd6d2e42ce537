// SqlStore's side of an agent's connection: authentication by Org ID and
// key, rejected attempts, connection state, the watermark an agent resumes
// from, the domain SID it is pinned to and where its DC stands.

#include <openssl/crypto.h>

#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "adsync/v1/agent.pb.h"
#include "common/guid.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/sql_store/sql_store.h"
#include "coordinator/store_errors.h"
#include "coordinator/validation.h"

namespace adsync {

using sql_internal::HashKey;
using sql_internal::NowUnix;

absl::Status SqlStore::CheckCredentialLocked(const SyncRecord& sync) {
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("SELECT key_hash FROM syncs "
                                   "WHERE sync_id=?1"));
  q->Bind(1, sync.sync_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) {
    return SyncRemovedError(sync.sync_id);
  }
  const std::string stored = q->ColumnBlob(0);
  if (stored.size() != sync.key_hash.size() ||
      CRYPTO_memcmp(stored.data(), sync.key_hash.data(), stored.size()) != 0) {
    return SyncKeyRotatedError(sync.sync_id);
  }
  return absl::OkStatus();
}

absl::StatusOr<SyncRecord> SqlStore::Authenticate(const std::string& org_id,
                                                  const std::string& key_raw) {
  // One answer for an unknown org and a wrong key: an unauthenticated
  // caller must not learn which Org IDs exist.
  const absl::Status denied = AgentCredentialsDenied();
  // Hash whatever was sent (even a malformed key) so timing does not say
  // how far the check got.
  const std::string key(
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(key_raw)));
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  absl::StatusOr<OrgRow> org = LoadOrg(reader.get(), org_id);
  // A malformed Org ID is answered alike too: its error would echo it.
  if (absl::IsNotFound(org.status()) || absl::IsInvalidArgument(org.status())) {
    HashKey(std::string(16, '\0'), key);
    return denied;
  }
  if (!org.ok()) return org.status();
  ASSIGN_OR_RETURN(ScopedStatement q,
                   reader->Cached("SELECT sync_id, domain, allowed_ips, "
                                  "priority, key_salt, key_hash, dns_name "
                                  "FROM syncs WHERE org_key=?1"));
  q->Bind(1, org->key);
  std::optional<SyncRecord> found;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    const std::string hash = HashKey(q->ColumnBlob(4), key);
    const std::string stored = q->ColumnBlob(5);
    const bool equal =
        stored.size() == hash.size() &&
        CRYPTO_memcmp(stored.data(), hash.data(), hash.size()) == 0;
    if (equal && !found) {
      SyncRecord r;
      r.sync_id = q->ColumnText(0);
      r.org_id = org->org.org_id();
      r.domain = q->ColumnText(1);
      for (absl::string_view ip :
           absl::StrSplit(q->ColumnText(2), ',', absl::SkipEmpty())) {
        auto range = ParseIpRange(ip);
        if (range.ok()) r.allowed_ips.push_back(*range);
      }
      r.priority = static_cast<int>(q->ColumnInt(3));
      r.key_hash = stored;
      r.dns_name = q->ColumnText(6);
      found = std::move(r);
    }
  }
  if (!found) return denied;
  return *found;
}

absl::Status SqlStore::RecordRejection(const std::string& org_id,
                                       const std::string& sync_id,
                                       const std::string& source_ip,
                                       const std::string& reason) {
  // Only a well-formed Org ID is kept: whatever else an unauthenticated
  // agent claimed is never stored.
  auto canonical = CanonicalGuid(org_id.substr(0, 64), "Org ID");
  const std::string org = canonical.ok() ? *canonical : "";
  absl::MutexLock lock(&write_mu_);
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(
      ScopedStatement ins,
      writer_->Cached("INSERT INTO rejections(org_id, sync_id, at, "
                      "source_ip, reason) VALUES(?1,?2,?3,?4,?5)"));
  ins->Bind(1, org)
      .Bind(2, sync_id)
      .Bind(3, NowUnix())
      .Bind(4, source_ip)
      .Bind(5, reason);
  RETURN_IF_ERROR(ins->Run());
  ASSIGN_OR_RETURN(
      ScopedStatement trim,
      writer_->Cached("DELETE FROM rejections WHERE org_id=?1 AND "
                      "id <= (SELECT id FROM rejections WHERE "
                      "org_id=?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"));
  trim->Bind(1, org).Bind(2, options_.rejections_kept);
  RETURN_IF_ERROR(trim->Run());
  // Random Org IDs each start a list of their own: bound the table too.
  ASSIGN_OR_RETURN(
      ScopedStatement trim_all,
      writer_->Cached("DELETE FROM rejections WHERE id <= (SELECT id FROM "
                      "rejections ORDER BY id DESC LIMIT 1 OFFSET ?1)"));
  trim_all->Bind(1, options_.rejections_kept_total);
  RETURN_IF_ERROR(trim_all->Run());
  return txn.Commit();
}

absl::Status SqlStore::RecordConnection(const std::string& sync_id,
                                        bool connected,
                                        const std::string& source_ip,
                                        const std::string& controller) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("UPDATE syncs SET connected=?2, "
                                   "source_ip=?3, controller=?4, "
                                   "last_contact=?5 WHERE sync_id=?1"));
  q->Bind(1, sync_id)
      .Bind(2, connected ? 1 : 0)
      .Bind(3, source_ip)
      .Bind(4, controller)
      .Bind(5, NowUnix());
  return q->Run();
}

absl::StatusOr<WatermarkState> SqlStore::GetWatermark(
    const std::string& sync_id) {
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  ASSIGN_OR_RETURN(ScopedStatement q,
                   reader->Cached("SELECT wm_invocation, wm_usn, "
                                  "full_sync_in_progress FROM syncs "
                                  "WHERE sync_id=?1"));
  q->Bind(1, sync_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("AD Sync ", sync_id, " was removed"));
  }
  WatermarkState w;
  w.has_watermark = !q->ColumnIsNull(0);
  w.invocation_id = q->ColumnBlob(0);
  w.usn = q->ColumnInt(1);
  w.full_sync_in_progress = q->ColumnInt(2) != 0;
  return w;
}

absl::StatusOr<std::string> SqlStore::PinDomainSid(
    const SyncRecord& sync, const std::string& domain_sid) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), sync.org_id));
  // Read and pin in one write transaction: two agents of the domain
  // reporting at once (through two coordinators) pin one SID, and the
  // other hears the mismatch.
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("SELECT domain_sid, pinned_by FROM domains "
                                   "WHERE org_key=?1 AND domain=?2"));
  q->Bind(1, org.key).Bind(2, sync.domain);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (row) {
    std::string pinned = q->ColumnText(0);
    if (domain_sid.empty() || pinned == domain_sid) return pinned;
    return DomainSidMismatchError(domain_sid, sync.domain, pinned,
                                  q->ColumnText(1));
  }
  if (domain_sid.empty()) return std::string();
  ASSIGN_OR_RETURN(
      ScopedStatement put,
      writer_->Cached("INSERT INTO domains(org_key, domain, domain_sid, "
                      "pinned_by, at) VALUES(?1,?2,?3,?4,?5)"));
  put->Bind(1, org.key)
      .Bind(2, sync.domain)
      .Bind(3, domain_sid)
      .Bind(4, sync.sync_id)
      .Bind(5, NowUnix());
  RETURN_IF_ERROR(put->Run());
  RETURN_IF_ERROR(txn.Commit());
  return domain_sid;
}

absl::Status SqlStore::RecordControllerPosition(
    const std::string& sync_id, const std::string& invocation_id,
    const adsync::v1::Heartbeat& position) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached(
          "UPDATE syncs SET dc_invocation=coalesce(?2, dc_invocation), "
          "dc_usn=?3, dc_position=?4, last_contact=?5 WHERE sync_id=?1"));
  q->Bind(1, sync_id);
  if (invocation_id.empty()) {
    q->BindNull(2);
  } else {
    q->BindBlob(2, invocation_id);
  }
  q->Bind(3, position.highest_committed_usn())
      .BindBlob(4, position.SerializeAsString())
      .Bind(5, NowUnix());
  return q->Run();
}

}  // namespace adsync
