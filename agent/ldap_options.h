// How to reach and bind to a domain controller, shared by both Directory
// implementations (OpenLdapDirectory on Linux, WldapDirectory on Windows),
// and the production factory that picks the one for this platform.
#ifndef ADSYNC_AGENT_LDAP_OPTIONS_H_
#define ADSYNC_AGENT_LDAP_OPTIONS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "adsync/v1/config.pb.h"
#include "agent/agent_config.h"
#include "agent/directory.h"

namespace adsync {

struct LdapOptions {
  std::string uri;      // ldaps://host[:port] or ldap://host (StartTLS)
  std::string ca_file;  // PEM; empty = the system's trust store
  // "simple"; "gssapi" (Linux, keytab); "negotiate" (Windows: Kerberos as
  // the account the agent runs as, e.g. the DC's machine account).
  std::string bind_method = "simple";
  std::string bind_dn;
  std::string password;     // simple bind; never logged
  std::string keytab_file;  // gssapi
  absl::Duration timeout = absl::Seconds(30);
  // WldapDirectory: see AgentConfig.Ldap.separate_certificate_check.
  bool separate_certificate_check = false;
};

LdapOptions LdapOptionsFromConfig(const adsync::v1::AgentConfig& config,
                                  const AgentSecrets& secrets);

using DirectoryFactory = std::function<std::unique_ptr<Directory>()>;

// The production factory: this platform's Directory from the config.
DirectoryFactory MakeLdapDirectoryFactory(const adsync::v1::AgentConfig& config,
                                          const AgentSecrets& secrets);

}  // namespace adsync

#endif  // ADSYNC_AGENT_LDAP_OPTIONS_H_
