// TLS material for the agent <-> coordinator link and the admin listener,
// loaded and checked before gRPC sees it: gRPC reports a bad certificate only
// as a failed handshake, so a wrong path, an unparsable file or a key that does
// not belong to the certificate is caught here, with the file named.
// Thread-safe (pure).
#ifndef ADSYNC_COMMON_TLS_H_
#define ADSYNC_COMMON_TLS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adsync/v1/config.pb.h"

namespace adsync {

// A listener's credentials from `tls` (cert_file, key_file, optional
// client_ca_file: then clients must present a certificate it signed).
// Errors name the files as `field`.cert_file etc. ("agent_tls",
// "admin_tls").
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> LoadServerTls(
    const adsync::v1::AgentTls& tls, absl::string_view field = "agent_tls");

// How errors name the client's files: config fields or command-line flags.
struct ClientTlsNames {
  const char* ca_file = "coordinator_ca_file";
  const char* cert_file = "coordinator_client_cert_file";
  const char* key_file = "coordinator_client_key_file";
};

// A client's credentials (an agent's, adsyncctl's): verify the coordinator
// against `ca_file`; present `cert_file`/`key_file` when both are set.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LoadClientTls(
    const std::string& ca_file, const std::string& cert_file,
    const std::string& key_file, const ClientTlsNames& names = {});

}  // namespace adsync

#endif  // ADSYNC_COMMON_TLS_H_
