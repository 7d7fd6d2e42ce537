// Every example in configs/ must parse and pass validation, so the
// documentation cannot drift from the code.
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adsync/v1/config.pb.h"
#include "agent/agent_config.h"
#include "common/files.h"
#include "coordinator/coordinator_server.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

TEST(Configs, EveryExampleLoadsAndValidates) {
  int checked = 0;
  // Recursive: configs/windows/agent.textproto is the Windows template.
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(ADSYNC_CONFIGS_DIR)) {
    const std::string path = entry.path().string();
    const std::string name = entry.path().filename().string();
    if (!absl::EndsWith(name, ".textproto")) continue;
    if (absl::StartsWith(name, "agent")) {
      adsync::v1::AgentConfig c;
      ASSERT_TRUE(LoadTextProtoFile(path, &c).ok()) << path;
      EXPECT_TRUE(ResolveAgentConfig(c).ok())
          << path << ": " << ResolveAgentConfig(c).status();
    } else if (absl::StartsWith(name, "coordinator")) {
      adsync::v1::CoordinatorConfig c;
      ASSERT_TRUE(LoadTextProtoFile(path, &c).ok()) << path;
      EXPECT_TRUE(ResolveCoordinatorConfig(c).ok()) << path;
    } else {
      ADD_FAILURE() << "no test knows how to load " << path;
    }
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

TEST(Configs, DeploymentFilesStartOurBinariesWithTheirConfigs) {
  for (const char* unit :
       {"systemd/adsync-coordinator.service", "systemd/adsync-agent.service"}) {
    auto text = ReadFile(absl::StrCat(ADSYNC_CONFIGS_DIR, "/", unit));
    ASSERT_TRUE(text.ok()) << unit;
    EXPECT_TRUE(absl::StrContains(*text, "ExecStart=/usr/local/bin/adsync-"))
        << unit;
    EXPECT_TRUE(absl::StrContains(*text, "--config /etc/adsync/")) << unit;
  }
  auto task = ReadFile(
      absl::StrCat(ADSYNC_CONFIGS_DIR, "/windows/adsync-agent-task.xml"));
  ASSERT_TRUE(task.ok());
  // The same quoting print-task produces.
  EXPECT_TRUE(absl::StrContains(
      *task, absl::StrCat("<Arguments>--config ",
                          QuoteWindowsArgument(
                              "C:\\ProgramData\\adsync\\agent.textproto"),
                          "</Arguments>")));
  EXPECT_TRUE(absl::StrContains(*task, "</Task>"));
}

TEST(Configs, TheStoreIsSQLiteOrPostgresNeverBoth) {
  adsync::v1::CoordinatorConfig c;
  c.set_admin_token_file("/t");
  c.set_database_path("/x.db");
  c.set_postgres("host=db1 dbname=adsync user=adsync");
  const absl::Status both = ResolveCoordinatorConfig(c).status();
  EXPECT_TRUE(absl::StrContains(both.message(), "exactly one store")) << both;
  c.clear_database_path();
  c.set_agent_listen("127.0.0.1:7443");  // no agent TLS needed on loopback
  const absl::Status postgres = ResolveCoordinatorConfig(c).status();
  EXPECT_TRUE(postgres.ok()) << postgres;
  c.set_postgres("host=db1 dbname=adsync user=adsync password=s3cret");
  const absl::Status password = ResolveCoordinatorConfig(c).status();
  EXPECT_TRUE(absl::StrContains(password.message(), "passfile")) << password;
  EXPECT_FALSE(absl::StrContains(password.message(), "s3cret")) << password;
}

TEST(Configs, CoordinatorConfigErrorsNameTheField) {
  adsync::v1::CoordinatorConfig c;
  EXPECT_TRUE(absl::StrContains(ResolveCoordinatorConfig(c).status().message(),
                                "database_path"));
  c.set_database_path("/x.db");
  EXPECT_TRUE(absl::StrContains(ResolveCoordinatorConfig(c).status().message(),
                                "admin_token_file"));
  c.set_admin_token_file("/t");
  c.set_log_format("xml");
  EXPECT_FALSE(ResolveCoordinatorConfig(c).ok());
  c.set_log_format("text");
  c.set_agent_listen("127.0.0.1:7443");
  // The admin listener is plaintext unless admin_tls is set: only loopback
  // or a unix socket.
  c.set_admin_listen("0.0.0.0:7444");
  const absl::Status network = ResolveCoordinatorConfig(c).status();
  EXPECT_TRUE(absl::StrContains(network.message(), "admin_listen")) << network;
  EXPECT_TRUE(absl::StrContains(network.message(), "admin_tls")) << network;
  c.mutable_admin_tls()->set_cert_file("/etc/adsync/tls/server.pem");
  c.mutable_admin_tls()->set_key_file("/etc/adsync/tls/server.key");
  EXPECT_TRUE(ResolveCoordinatorConfig(c).ok());
  c.set_metrics_token_file("/etc/adsync/metrics.token");
  EXPECT_TRUE(absl::StrContains(ResolveCoordinatorConfig(c).status().message(),
                                "metrics_listen"));
}

TEST(Configs, ReadConnectionsDefaultToFourAndAreBounded) {
  adsync::v1::CoordinatorConfig c;
  c.set_database_path("/x.db");
  c.set_admin_token_file("/t");
  c.set_agent_listen("127.0.0.1:7443");
  auto resolved = ResolveCoordinatorConfig(c);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->read_connections(), 4u);
  c.set_read_connections(65);
  const absl::Status many = ResolveCoordinatorConfig(c).status();
  EXPECT_TRUE(absl::StrContains(many.message(), "read_connections is 65"))
      << many;
  c.set_read_connections(64);
  EXPECT_TRUE(ResolveCoordinatorConfig(c).ok());
}

}  // namespace
}  // namespace adsync
