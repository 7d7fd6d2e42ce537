// Directory over OpenLDAP's libldap: simple binds only over ldaps:// or
// StartTLS with certificate verification; SASL/GSSAPI binds with a keytab
// over ldap:// sealed by Kerberos (minssf=56); paged results, Show Deleted,
// and the AD change-notification control.
//
// Thread-safety: one thread at a time.
#ifndef ADSYNC_AGENT_OPENLDAP_DIRECTORY_H_
#define ADSYNC_AGENT_OPENLDAP_DIRECTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "agent/directory.h"
#include "agent/ldap_options.h"

typedef struct ldap LDAP;
typedef struct ldapmsg LDAPMessage;

namespace adsync {

class OpenLdapDirectory : public Directory {
 public:
  explicit OpenLdapDirectory(LdapOptions options);
  ~OpenLdapDirectory() override;

  absl::Status Connect() override;
  absl::Status Search(const SearchRequest& request,
                      const EntryCallback& on_entry) override;
  absl::Status WatchForChanges(
      const std::string& naming_context,
      const std::vector<std::string>& attributes) override;
  absl::StatusOr<ChangeNotice> WaitForChange(absl::Duration timeout) override;

 private:
  absl::Status LdapError(int rc, const std::string& during) const;
  void Close();
  // An entry of a search result or notification, with its attributes.
  LdapEntry ReadEntry(LDAPMessage* entry);
  // Adds the object a notification of `type` (ldap_result's) carries, an
  // entry, to `notice`.
  void Note(int type, LDAPMessage* message, ChangeNotice* notice);
  // The DC's final answer to the registration, as an error.
  absl::Status RegistrationEnded(LDAPMessage* result);

  const LdapOptions options_;
  LDAP* ld_ = nullptr;
  int notify_msgid_ = -1;
  // Set when the registration ended while changes were being reported:
  // the next WaitForChange returns it.
  absl::Status notify_ended_;
};

}  // namespace adsync

#endif  // ADSYNC_AGENT_OPENLDAP_DIRECTORY_H_
