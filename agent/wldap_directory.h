// Directory over Windows' own LDAP client (wldap32), for the agent on a
// domain controller: LDAPS or StartTLS with the DC's certificate checked,
// simple binds, and Negotiate binds as the account the agent runs as
// (Kerberos; on a DC running as SYSTEM, the DC's machine account, with no
// password file at all); paged results, Show Deleted, and AD's change
// notification control.
//
// Certificates: with ldap.ca_file empty, wldap32 checks the DC's chain and
// name against the machine's trust store, as every Windows LDAP client does.
// With ldap.ca_file set, the agent checks them itself against that CA
// (agent/ldap_tls_check.h) through wldap32's server-certificate callback,
// and refuses a connection the callback did not approve. A client that
// refuses the callback (Wine's wldap32) is refused, unless the test-only
// ldap.separate_certificate_check asks for a TLS handshake of the agent's
// own to the same port before every connection (which an attacker on the
// network could tell apart from wldap32's).
//
// Thread-safety: one thread at a time; Connect() runs the certificate
// callback on the calling thread (it finds its check through a
// thread-local).
#ifndef ADSYNC_AGENT_WLDAP_DIRECTORY_H_
#define ADSYNC_AGENT_WLDAP_DIRECTORY_H_

#include <string>
#include <vector>

#include "agent/directory.h"
#include "agent/ldap_options.h"
#include "agent/ldap_tls_check.h"

struct ldap;
struct ldapmsg;

namespace adsync {

class WldapDirectory : public Directory {
 public:
  explicit WldapDirectory(LdapOptions options);
  ~WldapDirectory() override;

  absl::Status Connect() override;
  absl::Status Search(const SearchRequest& request,
                      const EntryCallback& on_entry) override;
  absl::Status WatchForChanges(
      const std::string& naming_context,
      const std::vector<std::string>& attributes) override;
  absl::StatusOr<ChangeNotice> WaitForChange(absl::Duration timeout) override;

 private:
  absl::Status LdapError(unsigned long rc, const std::string& during) const;
  // Secures the connection: the certificate callback or the probe.
  absl::Status PrepareTls(const LdapEndpoint& endpoint, bool* callback_set);
  absl::Status Bind();
  void Close();
  // An entry of a search result or notification, with its attributes.
  LdapEntry ReadEntry(struct ldapmsg* entry);
  // Adds the object a notification of `type` (ldap_result's) carries, an
  // entry, to `notice`.
  void Note(unsigned long type, struct ldapmsg* message, ChangeNotice* notice);
  // The DC's final answer to the registration, as an error.
  absl::Status RegistrationEnded(struct ldapmsg* result);

  const LdapOptions options_;
  struct ldap* ld_ = nullptr;
  long notify_msgid_ = -1;
  // Set when the registration ended while changes were being reported:
  // the next WaitForChange returns it.
  absl::Status notify_ended_;
  // Why the certificate callback refused the DC, for the error message.
  std::string certificate_error_;
};

}  // namespace adsync

#endif  // ADSYNC_AGENT_WLDAP_DIRECTORY_H_
