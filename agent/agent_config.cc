#include "agent/agent_config.h"

#include <openssl/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/guid.h"
#include "common/status_macros.h"
#include "common/tls.h"

namespace adsync {
namespace {

#ifdef _WIN32
constexpr bool kWindows = true;
#else
constexpr bool kWindows = false;
#endif

}  // namespace

absl::StatusOr<adsync::v1::AgentConfig> ResolveAgentConfig(
    adsync::v1::AgentConfig c) {
  auto required = [](const std::string& value, const char* field,
                     const char* example) {
    return value.empty() ? absl::InvalidArgumentError(absl::StrCat(
                               field, " is required, e.g. ", example))
                         : absl::OkStatus();
  };
  RETURN_IF_ERROR(required(c.coordinator(), "coordinator",
                           "coordinator: \"adsync.example.org:7443\""));
  std::vector<std::string> coordinators;
  for (absl::string_view address : absl::StrSplit(c.coordinator(), ',')) {
    address = absl::StripAsciiWhitespace(address);
    if (address.empty() || absl::StrContains(address, ' ')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "coordinator \"", c.coordinator(),
          "\" must be host:port, or several separated by commas, e.g. "
          "\"coord1.example.org:7443,coord2.example.org:7443\""));
    }
    coordinators.emplace_back(address);
  }
  c.set_coordinator(absl::StrJoin(coordinators, ","));
  RETURN_IF_ERROR(required(c.org_id(), "org_id",
                           "the Org ID shown by `adsyncctl org list`"));
  ASSIGN_OR_RETURN(std::string org, CanonicalGuid(c.org_id(), "org_id"));
  c.set_org_id(org);
  RETURN_IF_ERROR(required(c.sync_key_file(), "sync_key_file",
                           "sync_key_file: \"/etc/adsync/sync.key\""));
  RETURN_IF_ERROR(required(c.domain(), "domain",
                           "domain: \"DISTRICT\" (the NetBIOS name)"));
  RETURN_IF_ERROR(required(c.ldap().uri(), "ldap.uri",
                           "uri: \"ldaps://dc1.district.org\""));
  auto* ldap = c.mutable_ldap();
  if (!absl::StartsWithIgnoreCase(ldap->uri(), "ldaps://") &&
      !absl::StartsWithIgnoreCase(ldap->uri(), "ldap://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("ldap.uri \"", ldap->uri(),
                     "\" must start with ldaps:// (or ldap:// for StartTLS)"));
  }
  if (ldap->bind_method().empty()) ldap->set_bind_method("simple");
  if (ldap->bind_method() == "simple") {
    RETURN_IF_ERROR(required(ldap->bind_dn(), "ldap.bind_dn",
                             "bind_dn: \"svc-adsync@district.org\""));
    RETURN_IF_ERROR(required(ldap->password_file(), "ldap.password_file",
                             "password_file: \"/etc/adsync/ldap.password\""));
  } else if (ldap->bind_method() == "gssapi" && !kWindows) {
    RETURN_IF_ERROR(required(ldap->keytab_file(), "ldap.keytab_file",
                             "keytab_file: \"/etc/adsync/adsync.keytab\""));
  } else if (ldap->bind_method() == "negotiate" && kWindows) {
    if (!ldap->password_file().empty() || !ldap->keytab_file().empty()) {
      return absl::InvalidArgumentError(
          "ldap.bind_method \"negotiate\" binds as the account the agent runs "
          "as: remove ldap.password_file and ldap.keytab_file");
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "ldap.bind_method \"", ldap->bind_method(), "\" must be ",
        kWindows ? "simple, or negotiate (Kerberos as the account the agent "
                   "runs as: on a DC, its machine account)"
                 : "simple, or gssapi with a keytab (negotiate is for "
                   "adsync-agent.exe on Windows)"));
  }
  if (ldap->separate_certificate_check() &&
      (!kWindows || ldap->ca_file().empty())) {
    return absl::InvalidArgumentError(
        "ldap.separate_certificate_check is for adsync-agent.exe test rigs "
        "with ldap.ca_file set; remove it");
  }
  if (ldap->filter().empty())
    ldap->set_filter("(&(objectCategory=person)(objectClass=user))");
  if (ldap->page_size() == 0) ldap->set_page_size(1000);
  if (ldap->page_size() > 1000) {
    return absl::InvalidArgumentError(
        "ldap.page_size must be at most 1000 (AD's MaxPageSize)");
  }
  if (ldap->timeout_seconds() == 0) ldap->set_timeout_seconds(30);
  if (c.poll_interval_seconds() == 0) c.set_poll_interval_seconds(3);
  if (!c.has_change_notification()) c.set_change_notification(true);
  if (c.backstop_interval_seconds() == 0) c.set_backstop_interval_seconds(60);
  if (c.backstop_interval_seconds() > 3600) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backstop_interval_seconds is ", c.backstop_interval_seconds(),
        "; it must be at most 3600 (an hour): it bounds how long a change "
        "no notification carried can wait"));
  }
  if (c.backoff_initial_ms() == 0) c.set_backoff_initial_ms(500);
  if (c.backoff_max_ms() == 0) c.set_backoff_max_ms(30000);
  if (c.backoff_max_ms() < c.backoff_initial_ms()) {
    return absl::InvalidArgumentError(
        "backoff_max_ms must be at least backoff_initial_ms");
  }
  if (c.coordinator_client_cert_file().empty() !=
      c.coordinator_client_key_file().empty()) {
    return absl::InvalidArgumentError(
        "coordinator_client_cert_file and coordinator_client_key_file go "
        "together: set both (the coordinator requires client certificates) "
        "or neither");
  }
  if (!c.coordinator_client_cert_file().empty() &&
      c.coordinator_ca_file().empty()) {
    return absl::InvalidArgumentError(
        "coordinator_client_cert_file needs coordinator_ca_file: a client "
        "certificate is only sent over TLS");
  }
  if (c.log_format().empty()) c.set_log_format("text");
  if (c.log_format() != "text" && c.log_format() != "json") {
    return absl::InvalidArgumentError("log_format must be text or json");
  }
  return c;
}

std::vector<std::string> CoordinatorAddresses(
    const adsync::v1::AgentConfig& config) {
  return absl::StrSplit(config.coordinator(), ',', absl::SkipEmpty());
}

absl::StatusOr<AgentSecrets> LoadAgentSecrets(
    const adsync::v1::AgentConfig& c) {
#ifdef _WIN32
  // OpenSSL would read a config file from the directory compiled into it, a
  // path under C:\ that any local user may create; the agent configures TLS
  // in code and, as a service, runs as SYSTEM. Must precede any TLS use.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
#endif
  AgentSecrets secrets;
  ASSIGN_OR_RETURN(secrets.sync_key,
                   ReadSecretFile(c.sync_key_file(), "AD Sync key file"));
  if (c.coordinator_ca_file().empty()) {
    secrets.coordinator_credentials = grpc::InsecureChannelCredentials();
  } else {
    ASSIGN_OR_RETURN(
        secrets.coordinator_credentials,
        LoadClientTls(c.coordinator_ca_file(), c.coordinator_client_cert_file(),
                      c.coordinator_client_key_file()));
  }
  if (c.ldap().bind_method() == "simple") {
    ASSIGN_OR_RETURN(
        secrets.ldap_password,
        ReadSecretFile(c.ldap().password_file(), "LDAP password file"));
  } else if (c.ldap().bind_method() == "gssapi") {
    // Only checked for privacy here; libldap's GSSAPI reads it itself.
    ASSIGN_OR_RETURN(std::string keytab,
                     ReadSecretFile(c.ldap().keytab_file(), "Kerberos keytab"));
  }
  return secrets;
}

std::string QuoteWindowsArgument(const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\"") == std::string::npos)
    return arg;
  std::string out = "\"";
  size_t backslashes = 0;
  for (char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    if (c == '"') {
      out.append(backslashes * 2 + 1, '\\');
    } else {
      out.append(backslashes, '\\');
    }
    backslashes = 0;
    out.push_back(c);
  }
  out.append(backslashes * 2, '\\');  // they precede the closing quote
  out.push_back('"');
  return out;
}

std::string FormatWindowsTask(const std::string& program,
                              const std::string& config_path) {
  const std::string arguments =
      absl::StrCat("--config ", QuoteWindowsArgument(config_path));
  const std::string command_line =
      absl::StrCat(QuoteWindowsArgument(program), " ", arguments);
  return absl::StrCat(
      "Task Scheduler (taskschd.msc), Actions > Start a program:\n"
      "  Program/script:  ",
      QuoteWindowsArgument(program), "\n", "  Add arguments:   ", arguments,
      "\n",
      "  Trigger: At startup; run as SYSTEM (or the gMSA that may read the "
      "config), \"Run whether user is logged on or not\".\n\n"
      "Or in an elevated command prompt:\n"
      "  schtasks /Create /F /TN \"adsync agent\" /SC ONSTART /RU SYSTEM /RL "
      "HIGHEST /TR ",
      QuoteWindowsArgument(command_line),
      "\n\n"
      "For a periodic single sync instead of a long-running agent, add --once "
      "to the\n"
      "arguments and use /SC MINUTE /MO 15.\n");
}

}  // namespace adsync
