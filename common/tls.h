// TLS material for the agent <-> coordinator link, loaded and checked before
// gRPC sees it: gRPC reports a bad certificate only as a failed handshake,
// so a wrong path, an unparsable file or a key that does not belong to the
// certificate is caught here, with the file named. Thread-safe (pure).
#ifndef ADSYNC_COMMON_TLS_H_
#define ADSYNC_COMMON_TLS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "adsync/v1/config.pb.h"

namespace adsync {

// The gateway's credentials from `tls` (cert_file, key_file, optional
// client_ca_file: then agents must present a certificate it signed).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> LoadServerTls(
    const adsync::v1::AgentTls& tls);

// An agent's credentials: verify the coordinator against `ca_file`; present
// `cert_file`/`key_file` when both are set.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LoadClientTls(
    const std::string& ca_file, const std::string& cert_file,
    const std::string& key_file);

}  // namespace adsync

#endif  // ADSYNC_COMMON_TLS_H_
