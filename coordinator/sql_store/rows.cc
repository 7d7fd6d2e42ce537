#include "coordinator/sql_store/rows.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/guid.h"
#include "common/status_macros.h"

namespace adsync::sql_internal {

int64_t NowUnix() { return absl::ToUnixSeconds(absl::Now()); }

const char kIdentityColumns[] = "domain, sam, upn, sid, object_guid, uac";

absl::Status ReadIdentity(const Statement& q, int first,
                          adsync::v1::PanelIdentity* id) {
  id->set_domain(q.ColumnText(first));
  id->set_sam_account_name(q.ColumnText(first + 1));
  id->set_upn(q.ColumnText(first + 2));
  id->set_sid(q.ColumnText(first + 3));
  ASSIGN_OR_RETURN(std::string guid,
                   GuidBinaryToString(q.ColumnBlob(first + 4)));
  id->set_object_guid(std::move(guid));
  id->set_enabled(
      !AccountDisabled(static_cast<uint32_t>(q.ColumnInt(first + 5))));
  return absl::OkStatus();
}

std::string HashKey(const std::string& salt, const std::string& key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  const std::string input = salt + key;
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof(digest));
}

std::string RandomBytes(int n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), n) != 1) {
    std::abort();  // no safe keys without a CSPRNG
  }
  return out;
}

const char kSelectAccount[] =
    "SELECT domain, sid, sam, upn, mail, proxy, display_name, uac, deleted, "
    "absent, stamps, outcome, person_id, matched_email, object_guid "
    "FROM profiles WHERE org_key=?1 AND object_guid=?2";

void ReadAccountColumns(const Statement& q, AccountState* s,
                        std::string* domain, MatchResult* match) {
  *domain = q.ColumnText(0);
  s->sid = q.ColumnText(1);
  s->sam_account_name = q.ColumnText(2);
  s->user_principal_name = q.ColumnText(3);
  s->mail = q.ColumnText(4);
  const std::string proxy = q.ColumnText(5);
  s->proxy_addresses.clear();
  if (!proxy.empty()) s->proxy_addresses = absl::StrSplit(proxy, '\n');
  s->display_name = q.ColumnText(6);
  s->user_account_control = static_cast<uint32_t>(q.ColumnInt(7));
  s->deleted = q.ColumnInt(8) != 0;
  s->absent = q.ColumnInt(9) != 0;
  s->stamps = DecodeStamps(q.ColumnBlobView(10));
  match->outcome = static_cast<Outcome>(q.ColumnInt(11));
  match->person_id = q.ColumnText(12);
  match->matched_email = q.ColumnText(13);
  s->object_guid = q.ColumnBlob(14);
}

const char kSelectSyncs[] =
    "SELECT sync_id, domain, dns_name, allowed_ips, priority, created, "
    "key_rotated, connected, source_ip, last_contact, controller, "
    "wm_invocation, wm_usn, full_sync_in_progress, last_full_sync, batches, "
    "deltas, last_error, dc_invocation, dc_usn, dc_position, last_report_ms, "
    "report_error FROM syncs WHERE "
    "org_key=?1 ORDER BY domain, priority DESC, created";

void ReadSyncInfo(const Statement& q, const std::string& org_id,
                  adsync::v1::SyncInfo* info) {
  info->set_sync_id(q.ColumnText(0));
  info->set_org_id(org_id);
  info->set_domain(q.ColumnText(1));
  info->set_dns_name(q.ColumnText(2));
  for (absl::string_view ip :
       absl::StrSplit(q.ColumnText(3), ',', absl::SkipEmpty())) {
    info->add_allowed_ips(std::string(ip));
  }
  info->set_priority(static_cast<int32_t>(q.ColumnInt(4)));
  info->set_created_unix(q.ColumnInt(5));
  info->set_key_rotated_unix(q.ColumnInt(6));
}

absl::StatusOr<LeaseRow> ReadLease(Database* db, int64_t org_key,
                                   const std::string& domain) {
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      db->Cached("SELECT holder_sync_id, epoch, expires_ms, last_sequence "
                 "FROM leases WHERE org_key=?1 AND domain=?2"));
  q->Bind(1, org_key).Bind(2, domain);
  ASSIGN_OR_RETURN(bool row, q->Step());
  LeaseRow lease;
  if (row) {
    lease.exists = true;
    lease.holder = q->ColumnText(0);
    lease.epoch = q->ColumnInt(1);
    lease.expires_ms = q->ColumnInt(2);
    lease.last_sequence = static_cast<uint64_t>(q->ColumnInt(3));
  }
  return lease;
}

}  // namespace adsync::sql_internal
