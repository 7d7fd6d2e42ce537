// Agent configuration: validation with documented defaults, secrets loaded
// from private files, and the Windows Task Scheduler command line.
// Thread-safe (pure, apart from reading files).
#ifndef ADSYNC_AGENT_AGENT_CONFIG_H_
#define ADSYNC_AGENT_AGENT_CONFIG_H_

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adsync/v1/config.pb.h"

namespace adsync {

// Fills defaults and checks required fields; errors name the field.
absl::StatusOr<adsync::v1::AgentConfig> ResolveAgentConfig(
    adsync::v1::AgentConfig config);

// The coordinator addresses of a resolved config, in the order given.
std::vector<std::string> CoordinatorAddresses(
    const adsync::v1::AgentConfig& config);

struct AgentSecrets {
  std::string sync_key;
  std::string ldap_password;  // simple bind only
  // TLS to the coordinator (plaintext without coordinator_ca_file).
  std::shared_ptr<grpc::ChannelCredentials> coordinator_credentials;
};

// Reads the key and password files, refusing files others can read, and
// the coordinator's CA (and the agent's certificate and key).
absl::StatusOr<AgentSecrets> LoadAgentSecrets(
    const adsync::v1::AgentConfig& config);

// Quotes one argument so Windows' CommandLineToArgvW reads it back exactly
// (backslashes before a quote or at the end are doubled).
std::string QuoteWindowsArgument(const std::string& arg);

// What to enter in Task Scheduler, and the equivalent schtasks command, for
// running `program --config config_path` at start-up as SYSTEM.
std::string FormatWindowsTask(const std::string& program,
                              const std::string& config_path);

}  // namespace adsync

#endif  // ADSYNC_AGENT_AGENT_CONFIG_H_
