// Checks a domain controller's TLS certificate against the CA the operator
// named (ldap.ca_file) with OpenSSL, independent of the LDAP library:
//
//   * VerifyDcCertificate: the certificate chain an LDAP client handed us
//     (Windows' wldap32 passes it to LDAP_OPT_SERVER_CERTIFICATE callbacks).
//   * ProbeDcCertificate: a TLS handshake of our own to the DC's LDAPS port
//     (or its LDAP port after a StartTLS request), for LDAP clients that
//     cannot hand the certificate over (Wine's wldap32 refuses that option).
//
//   absl::Status s = ProbeDcCertificate({"dc1.district.org", 636, false},
//                                        "C:\\ProgramData\\adsync\\ca.pem",
//                                        absl::Seconds(30));
//
// Both check the chain up to a certificate of `ca_file` and that the
// certificate names `host` (DNS name, or IP address when host is one).
// Thread-safe (pure, apart from reading `ca_file` and the network).
#ifndef ADSYNC_AGENT_LDAP_TLS_CHECK_H_
#define ADSYNC_AGENT_LDAP_TLS_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace adsync {

struct LdapEndpoint {
  std::string host;
  uint16_t port = 636;
  bool starttls = false;  // ldap://: plain LDAP, then StartTLS
};

// Parses ldaps://host[:port] and ldap://host[:port] (IPv6 as [addr]).
// InvalidArgument names the URI and the expected form.
absl::StatusOr<LdapEndpoint> ParseLdapUri(const std::string& uri);

// `chain_der`: the DC's certificate first, then any intermediates it sent.
// Unavailable (the caller retries) naming what failed and what to check.
absl::Status VerifyDcCertificate(const std::vector<std::string>& chain_der,
                                 const std::string& ca_file,
                                 const std::string& host);

absl::Status ProbeDcCertificate(const LdapEndpoint& endpoint,
                                const std::string& ca_file,
                                absl::Duration timeout);

}  // namespace adsync

#endif  // ADSYNC_AGENT_LDAP_TLS_CHECK_H_
