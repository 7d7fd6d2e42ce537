// The Windows agent's platform parts, run under Wine: the service (install,
// start, stop, uninstall through the Service Control Manager), secret files
// (the DACL check, protect-secret with DPAPI) and the event log sink.
//
// Owners and DACLs Wine cannot give a file are checked as security
// descriptors by private_file_check_test.exe (built beside the agent).
//
// What Wine shows and how these tests read it:
//   - `sc query` works; `sc qc` does not exist in Wine 8, so the service's
//     configuration is read where the SCM keeps it, the registry.
//   - A file's DACL comes from its Unix mode: 0600 gives SYSTEM and the
//     user, 0644 adds Everyone:read. A DACL set through SetSecurityInfo is
//     ignored; one given to CreateFileW is kept (as the mode).
//   - The event log keeps nothing (wevtutil shows no events); ReportEventW
//     writes each event to Wine's debug channel "eventlog", as
//     "err:eventlog:ReportEventW L"<text>"" for errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "tests/support/process.h"
#include "tests/support/test_util.h"
#include "tests/windows/wine.h"

namespace adsync::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kServiceKey[] =
    "HKLM\\System\\CurrentControlSet\\Services\\adsync-agent";
constexpr char kEventSourceKey[] =
    "HKLM\\System\\CurrentControlSet\\Services\\EventLog\\Application\\"
    "adsync-agent";
constexpr char kKey[] = "5e1c3d4a-1111-4000-8000-00000000cafe";

class WindowsPlatformTest : public ::testing::Test {
 protected:
  // One prefix for all tests: creating one takes about 12 s.
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    wine_ = new WinePrefix(dir_->File("wine"));
    // Keeps the prefix's wineserver (and with it services.exe) up between
    // commands: a restart costs about 2 s each time and would auto-start
    // an installed service behind the test's back. ~WinePrefix ends it.
    RunCommand({"env", "WINEPREFIX=" + wine_->dir(), "wineserver", "-p"});
  }
  static void TearDownTestSuite() {
    delete wine_;
    delete dir_;
  }
  // Whatever a test did or where it failed, the next one finds no service.
  void TearDown() override { Agent({"service", "uninstall"}); }

  static RunResult Agent(std::vector<std::string> args) {
    args.insert(args.begin(), AgentExe());
    return wine_->Run(args);
  }
  static std::string ServiceState() {
    return wine_->Run({"sc", "query", "adsync-agent"}).output;
  }
  static RunResult Registry(const std::string& key) {
    return wine_->Run({"reg", "query", key});
  }
  // The secret-file (`read`) or config-file (`write`) rule applied to a
  // security descriptor given in SDDL, by private_file_check_test.exe.
  static RunResult CheckDescriptor(const std::string& mode,
                                   const std::string& sddl,
                                   const std::string& object_ace_sid = "") {
    const std::string exe = ADSYNC_PRIVATE_FILE_CHECK_EXE;
    struct stat st;
    EXPECT_EQ(stat(exe.c_str(), &st), 0)
        << exe << " is missing: scripts/build_windows.sh builds it";
    std::vector<std::string> args = {exe, mode, sddl};
    if (!object_ace_sid.empty()) {
      args.push_back("--object-ace");
      args.push_back(object_ace_sid);
    }
    return wine_->Run(args);
  }

  // A config the agent accepts, whose coordinator and DC nobody answers:
  // the agent runs and keeps retrying. `key_file` is a path on this machine.
  std::string WriteConfig(const std::string& key_file,
                          bool with_org_id = true) {
    const std::string password_file = test_dir_.File("ldap.pw");
    WriteFile(password_file, "Ldap-Password-1\n");
    auto quoted = [](const std::string& path) {
      return absl::StrCat("\"", absl::CEscape(WinePrefix::Path(path)), "\"");
    };
    const std::string config = absl::StrCat(
        "coordinator: \"127.0.0.1:", FreePort(), "\"\n",
        with_org_id ? "org_id: \"5e1c3d4a-0000-4000-8000-000000000001\"\n" : "",
        "sync_key_file: ", quoted(key_file), "\n",
        "domain: \"DISTRICT\"\n"
        "backoff_initial_ms: 200\n"
        "backoff_max_ms: 1000\n"
        "ldap {\n"
        "  uri: \"ldaps://127.0.0.1:",
        FreePort(), "\"\n",
        "  bind_dn: \"svc-adsync@district.test\"\n"
        "  password_file: ",
        quoted(password_file), "\n",
        "  timeout_seconds: 5\n"
        "  base_dn: \"DC=district,DC=test\"\n"
        "}\n");
    const std::string path = test_dir_.File("agent.textproto");
    WriteFile(path, config, 0644);
    return path;
  }

  static TempDir* dir_;
  static WinePrefix* wine_;
  TempDir test_dir_;
};

TempDir* WindowsPlatformTest::dir_ = nullptr;
WinePrefix* WindowsPlatformTest::wine_ = nullptr;

TEST_F(WindowsPlatformTest, ServiceInstallStartStopUninstall) {
  WriteFile(test_dir_.File("sync.key"), kKey);
  const std::string config = WriteConfig(test_dir_.File("sync.key"));

  RunResult install =
      Agent({"service", "install", "--config", WinePrefix::Path(config)});
  ASSERT_EQ(install.exit_code, 0) << install.output;
  EXPECT_THAT(ServiceState(), HasSubstr("STOPPED"));
  // What `sc qc` shows on Windows, from where the SCM keeps it.
  RunResult service = Registry(kServiceKey);
  ASSERT_EQ(service.exit_code, 0) << service.output;
  EXPECT_THAT(service.output,
              HasSubstr(absl::StrCat(WinePrefix::Path(AgentExe()),
                                     " service run --config ",
                                     WinePrefix::Path(config))));
  EXPECT_THAT(service.output, HasSubstr("Start    REG_DWORD    0x2"));  // auto
  EXPECT_THAT(service.output, HasSubstr("ObjectName    REG_SZ    LocalSystem"));
  EXPECT_THAT(service.output,
              HasSubstr("DisplayName    REG_SZ    adsync agent"));
  RunResult source = Registry(kEventSourceKey);
  ASSERT_EQ(source.exit_code, 0) << source.output;
  EXPECT_THAT(source.output,
              HasSubstr(absl::StrCat("EventMessageFile    REG_EXPAND_SZ    ",
                                     WinePrefix::Path(AgentExe()))));

  RunResult start = Agent({"service", "start"});
  ASSERT_EQ(start.exit_code, 0) << start.output;
  EXPECT_THAT(ServiceState(), HasSubstr("RUNNING"));
  RunResult again = Agent({"service", "start"});
  EXPECT_EQ(again.exit_code, 0) << again.output;

  RunResult stop = Agent({"service", "stop"});
  ASSERT_EQ(stop.exit_code, 0) << stop.output;
  EXPECT_THAT(ServiceState(), HasSubstr("STOPPED"));

  RunResult uninstall = Agent({"service", "uninstall"});
  ASSERT_EQ(uninstall.exit_code, 0) << uninstall.output;
  RunResult query = wine_->Run({"sc", "query", "adsync-agent"});
  EXPECT_NE(query.exit_code, 0) << query.output;  // 1060: does not exist
  EXPECT_THAT(query.output, Not(HasSubstr("SERVICE_NAME")));
  EXPECT_NE(Registry(kServiceKey).exit_code, 0);
  EXPECT_NE(Registry(kEventSourceKey).exit_code, 0);
}

TEST_F(WindowsPlatformTest, UninstallStopsARunningService) {
  WriteFile(test_dir_.File("sync.key"), kKey);
  const std::string config = WriteConfig(test_dir_.File("sync.key"));
  ASSERT_EQ(Agent({"service", "install", "--config", WinePrefix::Path(config)})
                .exit_code,
            0);
  ASSERT_EQ(Agent({"service", "start"}).exit_code, 0);
  RunResult uninstall = Agent({"service", "uninstall"});
  ASSERT_EQ(uninstall.exit_code, 0) << uninstall.output;
  EXPECT_NE(wine_->Run({"sc", "query", "adsync-agent"}).exit_code, 0);
  RunResult twice = Agent({"service", "uninstall"});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_THAT(twice.output, HasSubstr("is not installed"));
}

TEST_F(WindowsPlatformTest, InstallRefusesABrokenConfigAndCreatesNoService) {
  WriteFile(test_dir_.File("sync.key"), kKey);
  const std::string config =
      WriteConfig(test_dir_.File("sync.key"), /*with_org_id=*/false);
  RunResult install =
      Agent({"service", "install", "--config", WinePrefix::Path(config)});
  EXPECT_NE(install.exit_code, 0);
  EXPECT_THAT(install.output, HasSubstr("not installing the service"));
  EXPECT_THAT(install.output, HasSubstr("org_id is required"));
  EXPECT_NE(wine_->Run({"sc", "query", "adsync-agent"}).exit_code, 0);
  EXPECT_NE(Registry(kServiceKey).exit_code, 0);
  EXPECT_NE(Registry(kEventSourceKey).exit_code, 0);
}

TEST_F(WindowsPlatformTest, StartReportsAServiceThatCannotLoadItsSecrets) {
  WriteFile(test_dir_.File("sync.key"), kKey);
  const std::string config = WriteConfig(test_dir_.File("sync.key"));
  ASSERT_EQ(Agent({"service", "install", "--config", WinePrefix::Path(config)})
                .exit_code,
            0);
  // Became readable by others after the install checked it.
  chmod(test_dir_.File("sync.key").c_str(), 0644);
  RunResult start = Agent({"service", "start"});
  EXPECT_NE(start.exit_code, 0);
  EXPECT_THAT(start.output, HasSubstr("stopped while starting"));
  EXPECT_THAT(start.output, HasSubstr("source adsync-agent"));
  EXPECT_THAT(ServiceState(), HasSubstr("STOPPED"));
}

TEST_F(WindowsPlatformTest, RefusesAKeyFileOthersCanRead) {
  const std::string key = test_dir_.File("sync.key");
  WriteFile(key, kKey, 0644);  // Wine: an Everyone:read ACE
  const std::string config = WriteConfig(key);
  RunResult check =
      Agent({"check-config", "--config", WinePrefix::Path(config)});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_THAT(check.output,
              HasSubstr(absl::StrCat("AD Sync key file ", WinePrefix::Path(key),
                                     " may be read by Everyone")));
  EXPECT_THAT(check.output, HasSubstr("protect-secret --in"));
  EXPECT_THAT(check.output, HasSubstr("icacls"));

  RunResult install =
      Agent({"service", "install", "--config", WinePrefix::Path(config)});
  EXPECT_NE(install.exit_code, 0);
  EXPECT_THAT(install.output, HasSubstr("may be read by Everyone"));
  EXPECT_NE(wine_->Run({"sc", "query", "adsync-agent"}).exit_code, 0);

  chmod(key.c_str(), 0600);  // SYSTEM and the (service) account only
  check = Agent({"check-config", "--config", WinePrefix::Path(config)});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("config OK"));
}

// Owners and DACLs Wine cannot give a file (it derives them from the Unix
// owner and mode), as descriptors.
TEST_F(WindowsPlatformTest, SecretFileRuleOnDescriptors) {
  constexpr char kPrivate[] = "D:P(A;;FA;;;SY)(A;;FA;;;BA)";
  // SYSTEM and Administrators only, owned by either: private.
  for (const char* owner : {"O:SY", "O:BA"}) {
    RunResult r = CheckDescriptor("read", absl::StrCat(owner, kPrivate));
    EXPECT_EQ(r.exit_code, 0) << owner << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("OK"));
  }
  // A NULL DACL (no D: part; Wine reads D:NO_ACCESS_CONTROL as empty).
  RunResult null_dacl = CheckDescriptor("read", "O:SY");
  EXPECT_EQ(null_dacl.exit_code, 1) << null_dacl.output;
  EXPECT_THAT(null_dacl.output, HasSubstr("has no DACL (a NULL DACL)"));

  struct Case {
    const char* name;
    const char* sddl;
    const char* who;
  };
  for (const Case& c : {
           Case{"Everyone read", "O:SYD:(A;;FA;;;SY)(A;;FR;;;WD)", "Everyone"},
           Case{"Users GENERIC_READ", "O:SYD:(A;;FA;;;SY)(A;;GR;;;BU)",
                "BUILTIN\\Users"},
           // A deny entry is not credited, even for the same account.
           Case{"deny", "O:SYD:(D;;FA;;;BU)(A;;FA;;;SY)(A;;FR;;;BU)",
                "BUILTIN\\Users"},
           Case{"inherited", "O:SYD:(A;;FA;;;SY)(A;ID;FR;;;BU)",
                "BUILTIN\\Users"},
       }) {
    RunResult r = CheckDescriptor("read", c.sddl);
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.output;
    EXPECT_THAT(r.output,
                HasSubstr(absl::StrCat(
                    "test file C:\\test\\file may be read by ", c.who)))
        << c.name;
    EXPECT_THAT(r.output, HasSubstr("protect-secret --in")) << c.name;
  }
  // Inherit-only: for files created in a folder, not this one.
  RunResult inherit_only =
      CheckDescriptor("read", "O:SYD:P(A;;FA;;;SY)(A;OICIIO;FR;;;BU)");
  EXPECT_EQ(inherit_only.exit_code, 0) << inherit_only.output;

  // An owner may always rewrite the DACL and grant itself read.
  RunResult owner = CheckDescriptor("read", absl::StrCat("O:BU", kPrivate));
  EXPECT_EQ(owner.exit_code, 1) << owner.output;
  EXPECT_THAT(owner.output,
              HasSubstr("may be read by BUILTIN\\Users (its owner"));
  EXPECT_THAT(owner.output,
              HasSubstr("icacls \"C:\\test\\file\" /setowner *S-1-5-32-544"));
  // ... unless an OWNER RIGHTS entry limits it (here to READ_CONTROL).
  RunResult limited = CheckDescriptor(
      "read", absl::StrCat("O:BU", kPrivate, "(A;;RC;;;S-1-3-4)"));
  EXPECT_EQ(limited.exit_code, 0) << limited.output;
  RunResult owner_rights = CheckDescriptor(
      "read", absl::StrCat("O:BU", kPrivate, "(A;;FR;;;S-1-3-4)"));
  EXPECT_EQ(owner_rights.exit_code, 1) << owner_rights.output;
  EXPECT_THAT(owner_rights.output, HasSubstr("BUILTIN\\Users (its owner"));

  // An entry type the check has no special case for still counts.
  RunResult object =
      CheckDescriptor("read", absl::StrCat("O:SY", kPrivate), "S-1-5-32-545");
  EXPECT_EQ(object.exit_code, 1) << object.output;
  EXPECT_THAT(object.output, HasSubstr("may be read by BUILTIN\\Users"));
  RunResult object_system =
      CheckDescriptor("read", absl::StrCat("O:SY", kPrivate), "S-1-5-18");
  EXPECT_EQ(object_system.exit_code, 0) << object_system.output;
}

// Config and CA files: others may read them, only administrators change.
TEST_F(WindowsPlatformTest, ConfigFileRuleOnDescriptors) {
  constexpr char kAdminOnly[] = "O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)";
  RunResult readable =
      CheckDescriptor("write", absl::StrCat(kAdminOnly, "(A;;FR;;;BU)"));
  EXPECT_EQ(readable.exit_code, 0) << readable.output;
  struct Case {
    const char* name;
    const char* sddl;
  };
  for (const Case& c : {
           Case{"append", "O:BAD:P(A;;FA;;;SY)(A;;0x4;;;BU)"},
           Case{"write", "O:BAD:P(A;;FA;;;SY)(A;;FW;;;BU)"},
           Case{"delete", "O:BAD:P(A;;FA;;;SY)(A;;SD;;;BU)"},
           Case{"write DAC", "O:BAD:P(A;;FA;;;SY)(A;;WD;;;BU)"},
           Case{"generic write", "O:BAD:P(A;;FA;;;SY)(A;;GW;;;BU)"},
           Case{"owner", "O:BUD:P(A;;FA;;;SY)(A;;FA;;;BA)"},
       }) {
    RunResult r = CheckDescriptor("write", c.sddl);
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.output;
    EXPECT_THAT(r.output,
                HasSubstr("test file C:\\test\\file may be changed by "
                          "BUILTIN\\Users"))
        << c.name;
    EXPECT_THAT(r.output, HasSubstr("/setowner *S-1-5-32-544")) << c.name;
    EXPECT_THAT(r.output, Not(HasSubstr("protect-secret"))) << c.name;
  }
}

TEST_F(WindowsPlatformTest, RefusesAConfigOrCaFileOthersCanChange) {
  auto run_install = [](const std::string& config) {
    return Agent({"service", "install", "--config", WinePrefix::Path(config)});
  };
  WriteFile(test_dir_.File("sync.key"), kKey);
  const std::string config = WriteConfig(test_dir_.File("sync.key"));
  chmod(config.c_str(), 0666);  // Wine: an Everyone:write ACE
  RunResult check =
      Agent({"check-config", "--config", WinePrefix::Path(config)});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_THAT(check.output,
              HasSubstr(absl::StrCat("config file ", WinePrefix::Path(config),
                                     " may be changed by Everyone")));
  EXPECT_THAT(check.output, HasSubstr("/setowner *S-1-5-32-544"));
  EXPECT_THAT(run_install(config).output, HasSubstr("may be changed by"));

  chmod(config.c_str(), 0644);
  check = Agent({"check-config", "--config", WinePrefix::Path(config)});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  for (const char* field : {"coordinator_ca_file", "ldap.ca_file"}) {
    const std::string ca = test_dir_.File("ca.pem");
    WriteFile(ca, "not read before the check\n", 0666);
    std::string text = *ReadFile(config);
    const std::string line = absl::StrCat(
        "ca_file: \"", absl::CEscape(WinePrefix::Path(ca)), "\"\n");
    if (std::string(field) == "ldap.ca_file") {
      text.insert(text.find("ldap {\n") + 7, "  " + line);
    } else {
      text = absl::StrCat("coordinator_", line, text);
    }
    const std::string with_ca = test_dir_.File("with_ca.textproto");
    WriteFile(with_ca, text, 0644);
    check = Agent({"check-config", "--config", WinePrefix::Path(with_ca)});
    EXPECT_EQ(check.exit_code, 1) << field;
    EXPECT_THAT(
        check.output,
        HasSubstr(absl::StrCat("CA file (", field, ") ", WinePrefix::Path(ca),
                               " may be changed by Everyone")))
        << check.output;
  }

  // `service run`, what the SCM starts, checks it at every start.
  Agent({"service", "uninstall"});  // had the refusal above failed
  ASSERT_EQ(run_install(config).exit_code, 0);
  chmod(config.c_str(), 0666);
  RunResult start = Agent({"service", "start"});
  EXPECT_NE(start.exit_code, 0);
  EXPECT_THAT(start.output, HasSubstr("stopped while starting"));
  EXPECT_THAT(ServiceState(), HasSubstr("STOPPED"));
}

TEST_F(WindowsPlatformTest, AConfigTheAgentCannotOpenSaysWhatToCheck) {
  // A folder: it has permissions, but cannot be read as a file.
  const std::string folder = test_dir_.File("folder");
  mkdir(folder.c_str(), 0755);
  RunResult check =
      Agent({"check-config", "--config", WinePrefix::Path(folder)});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_THAT(check.output,
              HasSubstr("check the path and that the account the agent runs "
                        "as may read it"));
  EXPECT_THAT(check.output, Not(HasSubstr("mode")));
}

TEST_F(WindowsPlatformTest, ProtectSecretWritesAFileTheAgentAccepts) {
  const std::string plain = test_dir_.File("key.txt");
  WriteFile(plain, absl::StrCat("  ", kKey, "\r\n"), 0644);
  const std::string key = test_dir_.File("sync.key");
  RunResult protect = Agent({"protect-secret", "--in", WinePrefix::Path(plain),
                             "--out", WinePrefix::Path(key)});
  ASSERT_EQ(protect.exit_code, 0) << protect.output;
  EXPECT_THAT(protect.output, HasSubstr("read back and checked"));
  EXPECT_THAT(protect.output, HasSubstr("delete " + WinePrefix::Path(plain)));
  const std::string stored = *ReadFile(key);
  EXPECT_TRUE(absl::StartsWith(stored, "adsync-dpapi:v1:")) << stored;
  EXPECT_THAT(stored, Not(HasSubstr(kKey)));

  const std::string config = WriteConfig(key);
  RunResult check =
      Agent({"check-config", "--config", WinePrefix::Path(config)});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("config OK"));
  // The agent itself gets past its secrets to the DC, which is not there.
  RunResult once = Agent({"--config", WinePrefix::Path(config), "--once"});
  EXPECT_EQ(once.exit_code, 1);
  EXPECT_THAT(once.output, HasSubstr("sync cycle failed"));
  EXPECT_THAT(once.output, Not(HasSubstr("key file")));

  // Re-protecting in place decrypts first: one layer, a fresh blob.
  RunResult again = Agent({"protect-secret", "--in", WinePrefix::Path(key),
                           "--out", WinePrefix::Path(key)});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const std::string restored = *ReadFile(key);
  EXPECT_NE(restored, stored);
  EXPECT_LT(restored.size(), stored.size() + 16);
  check = Agent({"check-config", "--config", WinePrefix::Path(config)});
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST_F(WindowsPlatformTest, ProtectSecretReadsStandardInput) {
  const std::string key = test_dir_.File("sync.key");
  RunResult protect =
      RunCommand({"env", "WINEPREFIX=" + wine_->dir(), "WINEDEBUG=-all", "wine",
                  AgentExe(), "protect-secret", "--in", "-", "--out",
                  WinePrefix::Path(key)},
                 absl::StrCat(kKey, "\n"));
  ASSERT_EQ(protect.exit_code, 0) << protect.output;
  EXPECT_TRUE(absl::StartsWith(*ReadFile(key), "adsync-dpapi:v1:"));
  RunResult check =
      Agent({"check-config", "--config", WinePrefix::Path(WriteConfig(key))});
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST_F(WindowsPlatformTest, RefusesADpapiBlobThisMachineCannotDecrypt) {
  const std::string key = test_dir_.File("sync.key");
  // A blob of another machine looks like this to CryptUnprotectData.
  WriteFile(key, absl::StrCat("adsync-dpapi:v1:",
                              absl::Base64Escape("not a DPAPI blob")));
  RunResult check =
      Agent({"check-config", "--config", WinePrefix::Path(WriteConfig(key))});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_THAT(check.output, HasSubstr(WinePrefix::Path(key)));
  EXPECT_THAT(check.output,
              HasSubstr("must be protected on this same machine"));
}

TEST_F(WindowsPlatformTest, ErrorsGoToTheEventLog) {
  WriteFile(test_dir_.File("sync.key"), kKey);
  const std::string config = WriteConfig(test_dir_.File("sync.key"));
  // Wine's ReportEventW writes to its "eventlog" debug channel.
  RunResult once =
      RunCommand({"env", "WINEPREFIX=" + wine_->dir(),
                  "WINEDEBUG=-all,err+eventlog,warn+eventlog", "wine",
                  AgentExe(), "--config", WinePrefix::Path(config), "--once"},
                 "", absl::Seconds(120));
  EXPECT_EQ(once.exit_code, 1);
  // The event is the log line, text and all.
  const size_t event = once.output.find("err:eventlog:ReportEventW L\"");
  ASSERT_NE(event, std::string::npos) << once.output;
  const std::string event_line =
      once.output.substr(event, once.output.find('\n', event) - event);
  EXPECT_THAT(event_line, HasSubstr("error sync cycle failed error="));
}

}  // namespace
}  // namespace adsync::testing
