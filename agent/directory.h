// The LDAP reader's contract: what the agent needs from a domain controller,
// independent of the LDAP library. OpenLdapDirectory implements it with
// libldap, WldapDirectory with Windows' wldap32; the change-tracking logic
// sees only this interface.
//
// Thread-safety: a Directory is used by one thread.
#ifndef ADSYNC_AGENT_DIRECTORY_H_
#define ADSYNC_AGENT_DIRECTORY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace adsync {

// AD's LDAP controls (MS-ADTS 3.1.1.3.4.1).
inline constexpr char kShowDeletedControlOid[] = "1.2.840.113556.1.4.417";
inline constexpr char kChangeNotificationControlOid[] =
    "1.2.840.113556.1.4.528";

struct LdapEntry {
  std::string dn;
  // Attribute name (lower case) -> raw values (binary-safe).
  std::map<std::string, std::vector<std::string>> attributes;

  // First value of `name` (lower case), or "".
  const std::string& First(const std::string& name) const {
    static const std::string* const kEmpty = new std::string();
    auto it = attributes.find(name);
    return it == attributes.end() || it->second.empty() ? *kEmpty
                                                        : it->second[0];
  }
};

struct RootDse {
  std::string default_naming_context;
  std::string configuration_naming_context;
  std::string ds_service_name;  // the DC's NTDS Settings object
  std::string dns_host_name;
  int64_t highest_committed_usn = 0;
  std::vector<std::string> supported_controls;
};

struct SearchRequest {
  std::string base;
  std::string filter;
  std::vector<std::string> attributes;
  bool subtree = true;        // false: base object only
  bool show_deleted = false;  // include tombstones (Show Deleted control)
  uint32_t page_size = 1000;  // paged-results control; 0 = no paging
  // How long to wait for each answer (page); zero = the connection's
  // timeout (ldap timeout, 30 s).
  absl::Duration timeout = absl::ZeroDuration();
};

// A read of one object's attributes (base scope, no paging).
inline SearchRequest BaseObject(std::string dn,
                                std::vector<std::string> attributes) {
  SearchRequest r;
  r.base = std::move(dn);
  r.filter = "(objectClass=*)";
  r.subtree = false;
  r.page_size = 0;
  r.attributes = std::move(attributes);
  return r;
}

// What a wait for change notifications saw: whether anything changed, and
// the changed objects the DC sent, with the attributes WatchForChanges asked
// for. The agent sends those at once; when they are not all known
// (`complete` false: more than kMaxNoticedObjects, a DN too long to trust,
// a notification without an entry), only a search for everything changed
// since the watermark covers them.
struct ChangeNotice {
  static constexpr size_t kMaxNoticedObjects = 64;
  static constexpr size_t kMaxDnBytes = 2048;
  // A wait takes at most this many queued notifications, so that a DC
  // sending them without end cannot hold the agent (and its heartbeats).
  static constexpr size_t kMaxTakenPerWait = 4096;

  bool changed = false;            // false: the wait timed out
  bool complete = true;            // `objects` holds every changed object
  std::vector<LdapEntry> objects;  // in the order notified, repeats kept

  // Records one notification; an entry without a DN when it named none.
  void Add(LdapEntry object) {
    changed = true;
    if (object.dn.empty() || object.dn.size() > kMaxDnBytes ||
        objects.size() == kMaxNoticedObjects) {
      complete = false;
      return;
    }
    objects.push_back(std::move(object));
  }
  // Adds what a later wait saw.
  void Append(ChangeNotice later) {
    const bool later_complete = later.complete;
    for (LdapEntry& o : later.objects) Add(std::move(o));
    changed |= later.changed;
    complete = complete && later_complete;
  }
};

// Called for each entry; returning an error stops the search with it.
using EntryCallback = std::function<absl::Status(const LdapEntry&)>;

class Directory {
 public:
  virtual ~Directory() = default;

  // Connects, secures (LDAPS or StartTLS) and binds. Errors say what to
  // check: Unavailable (network/TLS), Unauthenticated (credentials).
  virtual absl::Status Connect() = 0;

  // Reads the rootDSE with Search; implementations need not override it.
  virtual absl::StatusOr<RootDse> ReadRootDse();

  // Reads the rootDSE's highestCommittedUSN, waiting at most `timeout` for
  // the answer: the cheapest question that shows the DC still answers. An
  // error (Unavailable when no answer came in time) says it did not. Uses
  // Search; implementations need not override it.
  virtual absl::StatusOr<int64_t> ProbeLiveness(absl::Duration timeout);

  // Runs a (paged) search, streaming entries to `on_entry` page by page so
  // memory stays flat however large the directory.
  virtual absl::Status Search(const SearchRequest& request,
                              const EntryCallback& on_entry) = 0;

  // Registers for change notifications under `naming_context` (the DC's
  // change-notification control, with Show Deleted so that deletions are
  // notified too); each notification carries the changed object's
  // `attributes`. Unimplemented when the DC does not offer it; the caller
  // then polls.
  virtual absl::Status WatchForChanges(
      const std::string& naming_context,
      const std::vector<std::string>& attributes) = 0;

  // Waits up to `timeout` for a notification registered by WatchForChanges,
  // then takes every further one already queued. Without a registration it
  // just sleeps for `timeout` and reports no change.
  virtual absl::StatusOr<ChangeNotice> WaitForChange(
      absl::Duration timeout) = 0;
};

}  // namespace adsync

#endif  // ADSYNC_AGENT_DIRECTORY_H_
