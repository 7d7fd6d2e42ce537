#include "agent/ldap_options.h"

#ifdef _WIN32
#include "agent/wldap_directory.h"
#else
#include "agent/openldap_directory.h"
#endif

namespace adsync {

LdapOptions LdapOptionsFromConfig(const adsync::v1::AgentConfig& config,
                                  const AgentSecrets& secrets) {
  LdapOptions options;
  options.uri = config.ldap().uri();
  options.ca_file = config.ldap().ca_file();
  options.bind_method = config.ldap().bind_method();
  options.bind_dn = config.ldap().bind_dn();
  options.password = secrets.ldap_password;
  options.keytab_file = config.ldap().keytab_file();
  options.timeout = absl::Seconds(config.ldap().timeout_seconds());
  options.separate_certificate_check =
      config.ldap().separate_certificate_check();
  return options;
}

DirectoryFactory MakeLdapDirectoryFactory(const adsync::v1::AgentConfig& config,
                                          const AgentSecrets& secrets) {
  LdapOptions options = LdapOptionsFromConfig(config, secrets);
#ifdef _WIN32
  return [options] { return std::make_unique<WldapDirectory>(options); };
#else
  return [options] { return std::make_unique<OpenLdapDirectory>(options); };
#endif
}

}  // namespace adsync
