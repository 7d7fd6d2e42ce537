// The Windows agent's installer (packaging/windows/adsync-agent.wxs, built
// by scripts/build_windows_msi.sh): its tables as msiinfo reads them, then
// an install, an upgrade and an uninstall by Wine's msiexec in a fresh
// prefix each.
//
// What Wine cannot show (docs/operations.md, "Windows agent"): Wine's
// services.exe ignores failure actions (SERVICE_CONFIG_FAILURE_ACTIONS is a
// FIXME there) and its sc.exe has no `failureflag` (the MSI ignores that
// step's exit code, as the agent only warns), so only that the MSI ran
// sc.exe is checked; its sc.exe has no `qc` either: the service's
// configuration is read from the registry instead. Wine's msi also ignores
// the MsiLockPermissionsEx table (msi.dll has no code for it) and its
// icacls.exe does nothing, so the lock on C:\ProgramData\adsync is checked
// in the tables, and under Wine only that its steps ran and succeeded (with
// the folder absent and present).
//
// The service's settings are compared with
// packaging/windows/service_settings.env, from which the MSI is built.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/test_util.h"
#include "tests/windows/wine.h"

namespace adsync::testing {
namespace {

constexpr char kUpgradeCode[] = "{DC16D971-9562-43C0-A271-264BB75A4CFE}";
constexpr char kServiceKey[] =
    "HKLM\\System\\CurrentControlSet\\Services\\adsync-agent";
constexpr char kEventSourceKey[] =
    "SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\adsync-agent";
constexpr char kUninstallKey[] =
    "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\";
// The service's command line, as Windows Installer formats ServiceInstall's
// Arguments after the installed exe.
constexpr char kExePath[] = "C:\\Program Files\\adsync\\adsync-agent.exe";
constexpr char kServiceArgs[] =
    " service run --config \"C:\\ProgramData\\adsync\\agent.textproto\"";
constexpr char kAdminEdit[] = "\n# edited by the admin\n";

// SDDL of C:\ProgramData\adsync: a protected DACL (no entries inherited
// from ProgramData, where Users may create files), full control for SYSTEM
// and Administrators, inherited by everything in it.
constexpr char kConfigDirSddl[] = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

using Row = std::map<std::string, std::string>;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// One table of `msi` as rows keyed by column name. `msiinfo export` prints
// the column names, their types, the table name with its keys, then one
// tab-separated row per line.
std::vector<Row> ExportTable(const std::string& msi, const std::string& table) {
  RunResult r = RunCommand({"msiinfo", "export", msi, table});
  EXPECT_EQ(r.exit_code, 0) << "msiinfo export " << table << ": " << r.output;
  std::vector<std::string> lines =
      absl::StrSplit(r.output, absl::ByAnyChar("\r\n"), absl::SkipEmpty());
  std::vector<Row> rows;
  if (lines.size() < 3) {
    ADD_FAILURE() << "no table " << table << " in " << msi << ": " << r.output;
    return rows;
  }
  const std::vector<std::string> columns = absl::StrSplit(lines[0], '\t');
  for (size_t i = 3; i < lines.size(); ++i) {
    const std::vector<std::string> fields = absl::StrSplit(lines[i], '\t');
    Row row;
    for (size_t c = 0; c < columns.size(); ++c)
      row[columns[c]] = c < fields.size() ? fields[c] : "";
    rows.push_back(std::move(row));
  }
  return rows;
}

// The row whose `column` is `value` (empty when there is none).
Row FindRow(const std::vector<Row>& rows, const std::string& column,
            const std::string& value) {
  for (const Row& row : rows) {
    auto it = row.find(column);
    if (it != row.end() && it->second == value) return row;
  }
  return {};
}

std::map<std::string, std::string> Properties(const std::string& msi) {
  std::map<std::string, std::string> properties;
  for (const Row& row : ExportTable(msi, "Property"))
    properties[row.at("Property")] = row.at("Value");
  return properties;
}

int Sequence(const std::vector<Row>& sequence, const std::string& action) {
  int n = -1;
  Row row = FindRow(sequence, "Action", action);
  if (row.empty() || !absl::SimpleAtoi(row.at("Sequence"), &n))
    ADD_FAILURE() << action << " is not in InstallExecuteSequence";
  return n;
}

// How an action ended in a verbose msiexec log ("1" success; Windows writes
// 3 for a failure, Wine 0); empty when it did not run.
std::string ActionReturn(const std::string& log, const std::string& action) {
  const std::string ended = absl::StrCat(": ", action, ". Return value ");
  const size_t at = log.find(ended);
  if (at == std::string::npos) return "";
  const size_t from = at + ended.size();
  return log.substr(from, log.find('.', from) - from);
}

// packaging/windows/service_settings.env: NAME="value" lines.
std::map<std::string, std::string> ServiceSettings() {
  std::map<std::string, std::string> settings;
  std::istringstream in(
      ReadAll(SourcePath("packaging/windows/service_settings.env")));
  for (std::string line; std::getline(in, line);) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#') continue;
    const size_t eq = l.find('=');
    absl::string_view value = l.substr(eq + 1);
    EXPECT_TRUE(eq != absl::string_view::npos &&
                absl::ConsumePrefix(&value, "\"") &&
                absl::ConsumeSuffix(&value, "\""))
        << "not NAME=\"value\": " << l;
    settings[std::string(l.substr(0, eq))] = std::string(value);
  }
  for (const char* name :
       {"SERVICE_NAME", "SERVICE_DISPLAY_NAME", "SERVICE_DESCRIPTION",
        "EVENT_SOURCE", "RESTART_DELAY_SECONDS", "RESTART_COUNT",
        "FAILURE_RESET_SECONDS"})
    EXPECT_FALSE(settings[name].empty()) << name;
  return settings;
}

int IntColumn(const Row& row, const std::string& column) {
  int n = -1;
  auto it = row.find(column);
  EXPECT_TRUE(it != row.end() && absl::SimpleAtoi(it->second, &n))
      << column << " in a row with " << row.size() << " columns";
  return n;
}

TEST(WindowsMsi, TablesInstallTheAgentTheServiceAndAKeptConfig) {
  const std::string msi = AgentMsi();
  auto settings = ServiceSettings();

  RunResult summary = RunCommand({"msiinfo", "suminfo", msi});
  ASSERT_EQ(summary.exit_code, 0) << summary.output;
  EXPECT_TRUE(absl::StrContains(summary.output, "Template: x64;1033"))
      << "a 64-bit package: " << summary.output;

  const auto properties = Properties(msi);
  // Changing the UpgradeCode would make the next MSI install beside the old
  // one instead of replacing it.
  EXPECT_EQ(properties.count("UpgradeCode") ? properties.at("UpgradeCode") : "",
            kUpgradeCode);
  EXPECT_EQ(properties.count("ALLUSERS") ? properties.at("ALLUSERS") : "", "1")
      << "per-machine";
  const std::string version =
      properties.count("ProductVersion") ? properties.at("ProductVersion") : "";
  const std::vector<std::string> parts = absl::StrSplit(version, '.');
  int part = 0;
  EXPECT_TRUE(parts.size() == 3 && absl::SimpleAtoi(parts[0], &part) &&
              absl::SimpleAtoi(parts[1], &part) &&
              absl::SimpleAtoi(parts[2], &part))
      << "ProductVersion \"" << version << "\"";

  const auto directories = ExportTable(msi, "Directory");
  Row program_files = FindRow(directories, "Directory", "INSTALLDIR");
  EXPECT_EQ(program_files["Directory_Parent"], "ProgramFiles64Folder");
  EXPECT_EQ(program_files["DefaultDir"], "adsync");
  EXPECT_EQ(FindRow(directories, "Directory",
                    "ProgramFiles64Folder")["Directory_Parent"],
            "TARGETDIR");
  Row config_dir = FindRow(directories, "Directory", "CONFIGDIR");
  EXPECT_EQ(config_dir["Directory_Parent"], "CommonAppDataFolder");
  EXPECT_EQ(config_dir["DefaultDir"], "adsync");

  const auto files = ExportTable(msi, "File");
  ASSERT_EQ(files.size(), 2u);
  Row exe = FindRow(files, "FileName", "adsync-agent.exe");
  Row config = FindRow(files, "FileName", "agent.textproto");
  ASSERT_FALSE(exe.empty());
  ASSERT_FALSE(config.empty());
  EXPECT_EQ(IntColumn(exe, "FileSize"),
            static_cast<int>(ReadAll(AgentExe()).size()))
      << "the MSI holds another build of the agent than " << AgentExe()
      << ": scripts/build_windows.sh builds both";
  EXPECT_EQ(IntColumn(config, "FileSize"),
            static_cast<int>(
                ReadAll(SourcePath("configs/windows/agent.textproto")).size()));

  const auto components = ExportTable(msi, "Component");
  Row exe_component = FindRow(components, "Component", exe["Component_"]);
  EXPECT_EQ(exe_component["Directory_"], "INSTALLDIR");
  EXPECT_EQ(exe_component["KeyPath"], exe["File"]);
  EXPECT_EQ(IntColumn(exe_component, "Attributes"), 256) << "64-bit only";
  Row config_component = FindRow(components, "Component", config["Component_"]);
  EXPECT_EQ(config_component["Directory_"], "CONFIGDIR");
  EXPECT_EQ(config_component["KeyPath"], config["File"]);
  // 256 64-bit, 128 NeverOverwrite (an upgrade keeps the admin's config),
  // 16 Permanent (so does an uninstall).
  EXPECT_EQ(IntColumn(config_component, "Attributes"), 256 | 128 | 16);

  const auto services = ExportTable(msi, "ServiceInstall");
  ASSERT_EQ(services.size(), 1u);
  const Row& service = services[0];
  EXPECT_EQ(service.at("Name"), settings["SERVICE_NAME"]);
  EXPECT_EQ(service.at("DisplayName"), settings["SERVICE_DISPLAY_NAME"]);
  EXPECT_EQ(service.at("Description"), settings["SERVICE_DESCRIPTION"]);
  // The tests below look the service up as adsync-agent.
  EXPECT_EQ(settings["SERVICE_NAME"], "adsync-agent");
  EXPECT_EQ(settings["EVENT_SOURCE"], "adsync-agent");
  EXPECT_EQ(IntColumn(service, "ServiceType"), 0x10) << "own process";
  EXPECT_EQ(IntColumn(service, "StartType"), 2) << "automatic";
  EXPECT_EQ(IntColumn(service, "ErrorControl"), 1) << "normal";
  // SERVICEACCOUNT from the command line, else the installed service's
  // account (ObjectName, read by AppSearch into EXISTINGSERVICEACCOUNT: an
  // upgrade keeps a gMSA), else LocalSystem. No value in the Property table:
  // one there would hide that it was not given.
  EXPECT_EQ(service.at("StartName"), "[SERVICEACCOUNT]");
  EXPECT_EQ(properties.count("SERVICEACCOUNT"), 0u);
  const std::vector<std::string> secure =
      absl::StrSplit(properties.count("SecureCustomProperties")
                         ? properties.at("SecureCustomProperties")
                         : "",
                     ';');
  EXPECT_TRUE(std::count(secure.begin(), secure.end(), "SERVICEACCOUNT"));
  Row search = FindRow(ExportTable(msi, "AppSearch"), "Property",
                       "EXISTINGSERVICEACCOUNT");
  Row locator = FindRow(ExportTable(msi, "RegLocator"), "Signature_",
                        search["Signature_"]);
  EXPECT_EQ(locator["Root"], "2") << "HKLM";
  EXPECT_EQ(locator["Key"],
            "SYSTEM\\CurrentControlSet\\Services\\" + settings["SERVICE_NAME"]);
  EXPECT_EQ(locator["Name"], "ObjectName");
  // 2 the raw value, 16 the 64-bit registry.
  EXPECT_EQ(IntColumn(locator, "Type"), 2 | 16);
  const auto actions = ExportTable(msi, "CustomAction");
  Row keep = FindRow(actions, "Action", "KeepServiceAccount");
  Row fallback = FindRow(actions, "Action", "DefaultServiceAccount");
  // 51: set a property.
  EXPECT_EQ(IntColumn(keep, "Type"), 51);
  EXPECT_EQ(keep["Source"], "SERVICEACCOUNT");
  EXPECT_EQ(keep["Target"], "[EXISTINGSERVICEACCOUNT]");
  EXPECT_EQ(IntColumn(fallback, "Type"), 51);
  EXPECT_EQ(fallback["Source"], "SERVICEACCOUNT");
  EXPECT_EQ(fallback["Target"], "LocalSystem");
  const auto sequence = ExportTable(msi, "InstallExecuteSequence");
  // Both sequences: a quiet install runs only the execute sequence.
  for (const auto& seq : {sequence, ExportTable(msi, "InstallUISequence")}) {
    const int found = Sequence(seq, "AppSearch");
    EXPECT_GT(Sequence(seq, "KeepServiceAccount"), found);
    EXPECT_GT(Sequence(seq, "DefaultServiceAccount"),
              Sequence(seq, "KeepServiceAccount"));
    EXPECT_LT(Sequence(seq, "DefaultServiceAccount"),
              Sequence(seq, "LaunchConditions"));
    EXPECT_EQ(FindRow(seq, "Action", "KeepServiceAccount")["Condition"],
              "NOT SERVICEACCOUNT AND EXISTINGSERVICEACCOUNT");
    EXPECT_EQ(FindRow(seq, "Action", "DefaultServiceAccount")["Condition"],
              "NOT SERVICEACCOUNT");
  }

  // The service's command line. Windows Installer writes ImagePath as the
  // component's key file, in quotes, then Arguments (Wine's msi leaves the
  // path unquoted: see ExpectService). So the exe must be the key file of
  // the service's component, Arguments must not name the exe again, and
  // nothing else may write ImagePath or change the service's binary path
  // (a Registry row, `sc config binPath=`), as those would leave
  // "C:\Program Files\..." unquoted.
  EXPECT_EQ(service.at("Arguments"),
            "service run --config "
            "\"[CommonAppDataFolder]adsync\\agent.textproto\"");
  EXPECT_EQ(service.at("Component_"), exe["Component_"]);
  for (const Row& action : actions) {
    EXPECT_FALSE(absl::StrContains(absl::AsciiStrToLower(action.at("Target")),
                                   "binpath"))
        << action.at("Action");
    EXPECT_FALSE(absl::StrContains(action.at("Target"), "ImagePath"))
        << action.at("Action");
  }

  const auto controls = ExportTable(msi, "ServiceControl");
  ASSERT_EQ(controls.size(), 1u);
  EXPECT_EQ(controls[0].at("Name"), "adsync-agent");
  EXPECT_EQ(controls[0].at("Component_"), exe["Component_"]);
  const int events = IntColumn(controls[0], "Event");
  // Stop on install (2) and uninstall (0x20), remove on uninstall (0x80);
  // never started by the installer (1, 0x10): the config comes first.
  EXPECT_EQ(events, 0x02 | 0x20 | 0x80);
  EXPECT_EQ(events & (0x01 | 0x10), 0) << "the MSI must not start the service";

  // MajorUpgrade: an older product of this UpgradeCode is found and removed
  // before anything is installed; a newer one stops the install.
  const auto upgrades = ExportTable(msi, "Upgrade");
  Row older = FindRow(upgrades, "ActionProperty", "WIX_UPGRADE_DETECTED");
  EXPECT_EQ(older["UpgradeCode"], kUpgradeCode);
  EXPECT_EQ(older["VersionMax"], version);
  Row newer = FindRow(upgrades, "ActionProperty", "WIX_DOWNGRADE_DETECTED");
  EXPECT_EQ(newer["UpgradeCode"], kUpgradeCode);
  EXPECT_EQ(newer["VersionMin"], version);
  EXPECT_FALSE(FindRow(ExportTable(msi, "LaunchCondition"), "Condition",
                       "NOT WIX_DOWNGRADE_DETECTED")
                   .empty());
  const int remove_existing = Sequence(sequence, "RemoveExistingProducts");
  EXPECT_GT(remove_existing, Sequence(sequence, "InstallValidate"));
  EXPECT_LT(remove_existing, Sequence(sequence, "InstallInitialize"));

  // Restart on failure as `service install` sets it: sc.exe as SYSTEM
  // right after the service exists (34 exe in a directory + 1024 deferred +
  // 2048 no impersonation; + 64 exit code ignored for the flag, which the
  // agent only warns about).
  Row recovery = FindRow(actions, "Action", "SetServiceRecovery");
  EXPECT_EQ(IntColumn(recovery, "Type"), 34 | 1024 | 2048);
  EXPECT_EQ(recovery["Source"], "INSTALLDIR");
  int restart_count = 0, restart_delay = 0;
  ASSERT_TRUE(absl::SimpleAtoi(settings["RESTART_COUNT"], &restart_count));
  ASSERT_TRUE(
      absl::SimpleAtoi(settings["RESTART_DELAY_SECONDS"], &restart_delay));
  std::vector<std::string> restarts(
      restart_count, absl::StrCat("restart/", restart_delay * 1000));
  EXPECT_EQ(recovery["Target"],
            absl::StrCat("\"[System64Folder]sc.exe\" failure ",
                         settings["SERVICE_NAME"],
                         " reset= ", settings["FAILURE_RESET_SECONDS"],
                         " actions= ", absl::StrJoin(restarts, "/")));
  Row on_error = FindRow(actions, "Action", "SetServiceRecoveryOnError");
  EXPECT_EQ(IntColumn(on_error, "Type"), 34 | 64 | 1024 | 2048);
  EXPECT_EQ(on_error["Target"],
            absl::StrCat("\"[System64Folder]sc.exe\" failureflag ",
                         settings["SERVICE_NAME"], " 1"));
  for (const char* action :
       {"SetServiceRecovery", "SetServiceRecoveryOnError"}) {
    const int at = Sequence(sequence, action);
    EXPECT_GT(at, Sequence(sequence, "InstallServices")) << action;
    EXPECT_LT(at, Sequence(sequence, "InstallFinalize")) << action;
    EXPECT_EQ(FindRow(sequence, "Action", action)["Condition"], "NOT REMOVE")
        << action;
  }

  // The Application event source, in the exe's component so that it goes
  // with it: "#%" is REG_EXPAND_SZ, "#" a DWORD.
  const auto registry = ExportTable(msi, "Registry");
  ASSERT_EQ(registry.size(), 2u);
  for (const Row& value : registry) {
    EXPECT_EQ(value.at("Root"), "2") << "HKLM";
    EXPECT_EQ(value.at("Key"),
              absl::StrCat("SYSTEM\\CurrentControlSet\\Services\\EventLog\\"
                           "Application\\",
                           settings["EVENT_SOURCE"]));
    EXPECT_NE(value.at("Name"), "ImagePath");
    EXPECT_EQ(value.at("Component_"), exe["Component_"]);
  }
  EXPECT_EQ(FindRow(registry, "Name", "EventMessageFile")["Value"],
            absl::StrCat("#%[#", exe["File"], "]"));
  EXPECT_EQ(FindRow(registry, "Name", "TypesSupported")["Value"], "#7");

  // C:\ProgramData\adsync locked (SYSTEM and Administrators only), as
  // Windows Installer applies it in CreateFolders to the folder's
  // CreateFolder row: at every install, also to a folder that exists.
  Row create_folder =
      FindRow(ExportTable(msi, "CreateFolder"), "Directory_", "CONFIGDIR");
  EXPECT_EQ(create_folder["Component_"], config["Component_"]);
  const auto locks = ExportTable(msi, "MsiLockPermissionsEx");
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].at("LockObject"), "CONFIGDIR");
  EXPECT_EQ(locks[0].at("Table"), "CreateFolder");
  EXPECT_EQ(locks[0].at("SDDL"), kConfigDirSddl);
  EXPECT_EQ(locks[0].at("Condition"), "");
  // The old LockPermissions table may not be used with it.
  EXPECT_NE(RunCommand({"msiinfo", "export", msi, "LockPermissions"}).exit_code,
            0);
  // On a first install a folder that exists already (a user may have made
  // it, owning it and what is in it) gets Administrators as owner before
  // CreateFolders, and what is in it loses its own entries after it; then
  // a service account other than LocalSystem may read it. Deferred, as
  // SYSTEM, failing the install if icacls fails.
  const std::string cmd = "\"[System64Folder]cmd.exe\" /d /c ";
  const std::string icacls = "\"[System64Folder]icacls.exe\" ";
  const std::string first_install =
      "NOT Installed AND NOT WIX_UPGRADE_DETECTED";
  const std::map<std::string, std::pair<std::string, std::string>> lock_steps =
      {{"OwnConfigDir",
        {cmd + "if exist \"[CONFIGDIR].\" " + icacls +
             "\"[CONFIGDIR].\" /setowner *S-1-5-32-544 /T /C /Q",
         first_install}},
       {"ResetConfigDirFiles",
        {cmd + "if exist \"[CONFIGDIR]*\" " + icacls +
             "\"[CONFIGDIR]*\" /reset /T /C /Q",
         first_install}},
       {"GrantConfigDirToServiceAccount",
        {icacls + "\"[CONFIGDIR].\" /grant \"[SERVICEACCOUNT]:(OI)(CI)RX\" /Q",
         "NOT REMOVE AND SERVICEACCOUNT <> \"LocalSystem\""}}};
  for (const auto& [name, step] : lock_steps) {
    Row action = FindRow(actions, "Action", name);
    EXPECT_EQ(IntColumn(action, "Type"), 34 | 1024 | 2048) << name;
    EXPECT_EQ(action["Target"], step.first) << name;
    EXPECT_EQ(FindRow(sequence, "Action", name)["Condition"], step.second)
        << name;
  }
  const int create_folders = Sequence(sequence, "CreateFolders");
  EXPECT_GT(Sequence(sequence, "OwnConfigDir"),
            Sequence(sequence, "InstallInitialize"));
  EXPECT_LT(Sequence(sequence, "OwnConfigDir"), create_folders);
  EXPECT_GT(Sequence(sequence, "ResetConfigDirFiles"), create_folders);
  EXPECT_LT(Sequence(sequence, "ResetConfigDirFiles"),
            Sequence(sequence, "InstallFiles"));
  EXPECT_GT(Sequence(sequence, "GrantConfigDirToServiceAccount"),
            Sequence(sequence, "InstallFiles"));
  EXPECT_LT(Sequence(sequence, "GrantConfigDirToServiceAccount"),
            Sequence(sequence, "InstallFinalize"));
}

// A fresh Wine prefix for one test.
class WineMsiTest : public ::testing::Test {
 protected:
  WineMsiTest() : wine_(dir_.File("wine")) {
    // A prefix's first boot leaves a second services.exe answering the
    // service manager's pipe until the prefix's processes exit: a service
    // one of them creates is then unknown to the other (OpenService fails
    // with 1060), and the MSI's sc.exe step fails at random. Waiting for
    // the boot's processes to end leaves one.
    RunResult r =
        RunCommand({"env", "WINEPREFIX=" + wine_.dir(), "wineserver", "-w"}, "",
                   absl::Seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }

  // Runs msiexec quietly; the result's output ends with its verbose log.
  RunResult Msiexec(const std::string& option, const std::string& msi,
                    const std::string& log_name,
                    const std::string& property = "") {
    const std::string log = dir_.File(log_name);
    std::vector<std::string> argv = {"msiexec", option, WinePrefix::Path(msi),
                                     "/qn",     "/l*v", WinePrefix::Path(log)};
    if (!property.empty()) argv.push_back(property);
    RunResult r = wine_.Run(argv, absl::Seconds(180));
    r.output += ReadAll(log);
    return r;
  }

  // The values under a registry key (name -> data); empty if it is absent.
  std::map<std::string, std::string> Registry(const std::string& key) {
    std::map<std::string, std::string> values;
    RunResult r = wine_.Run({"reg", "query", key});
    if (r.exit_code != 0) return values;
    for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
      line = absl::StripSuffix(line, "\r");
      if (!absl::ConsumePrefix(&line, "    ")) continue;
      const size_t type = line.find("    REG_");
      if (type == absl::string_view::npos) continue;
      const size_t data = line.find("    ", type + 4);
      values[std::string(line.substr(0, type))] =
          data == absl::string_view::npos ? ""
                                          : std::string(line.substr(data + 4));
    }
    return values;
  }

  bool ProductRegistered(const std::string& msi) {
    return !Registry(kUninstallKey + Properties(msi)["ProductCode"]).empty();
  }

  std::string Exe() {
    return wine_.DriveC("Program Files/adsync/adsync-agent.exe");
  }
  std::string Config() {
    return wine_.DriveC("ProgramData/adsync/agent.textproto");
  }

  // C:\ProgramData\adsync\agent.textproto: "the template", "the admin's"
  // (the template and kAdminEdit), "missing" or "other".
  std::string ConfigState() {
    if (!Exists(Config())) return "missing";
    const std::string config = ReadAll(Config());
    if (config == template_) return "the template";
    if (config == template_ + kAdminEdit) return "the admin's";
    return "other";
  }

  // The service as the installer registered it.
  void ExpectService(const std::string& account = "LocalSystem") {
    auto service = Registry(kServiceKey);
    ASSERT_FALSE(service.empty()) << "no service adsync-agent";
    // Wine 8's msi writes the key file's path unquoted whatever the tables
    // say; Windows Installer writes it in quotes. So this is Wine's form
    // exactly (the exe once, then Arguments), and the quoting is checked in
    // the tables (TablesInstallTheAgentTheServiceAndAKeptConfig: the path is
    // the key file, nothing else writes ImagePath) and on the real-Windows
    // checklist (docs/operations.md, "Windows agent").
    EXPECT_EQ(service["ImagePath"], absl::StrCat(kExePath, kServiceArgs));
    EXPECT_EQ(service["Start"], "0x2") << "automatic";
    EXPECT_EQ(service["Type"], "0x10") << "own process";
    EXPECT_EQ(service["ErrorControl"], "0x1");
    EXPECT_EQ(service["ObjectName"], account);
    EXPECT_EQ(service["DisplayName"], "adsync agent");
    RunResult sc = wine_.Run({"sc", "query", "adsync-agent"});
    EXPECT_EQ(sc.exit_code, 0) << sc.output;
    EXPECT_TRUE(absl::StrContains(sc.output, "WIN32_OWN_PROCESS")) << sc.output;
    auto source = Registry(absl::StrCat("HKLM\\", kEventSourceKey));
    EXPECT_EQ(source["EventMessageFile"], kExePath);
    EXPECT_EQ(source["TypesSupported"], "0x7");
  }

  TempDir dir_;
  WinePrefix wine_;
  const std::string template_ =
      ReadAll(SourcePath("configs/windows/agent.textproto"));
};

TEST_F(WineMsiTest, InstallPlacesTheAgentAndServiceUninstallKeepsTheConfig) {
  const std::string msi = AgentMsi();
  // C:\ProgramData\adsync made before the install, as a user may: the
  // lock's steps for a folder that exists run (their `if exist` branch).
  ASSERT_EQ(mkdir(wine_.DriveC("ProgramData/adsync").c_str(), 0755), 0);
  std::ofstream(wine_.DriveC("ProgramData/adsync/planted.txt")) << "x\n";
  RunResult install = Msiexec("/i", msi, "install.log");
  ASSERT_EQ(install.exit_code, 0) << install.output;
  for (const char* step : {"OwnConfigDir", "ResetConfigDirFiles"})
    EXPECT_EQ(ActionReturn(install.output, step), "1")
        << step << install.output;
  // LocalSystem: no access to give.
  EXPECT_EQ(ActionReturn(install.output, "GrantConfigDirToServiceAccount"), "")
      << install.output;

  ASSERT_TRUE(Exists(Exe())) << install.output;
  EXPECT_TRUE(ReadAll(Exe()) == ReadAll(AgentExe()))
      << "C:\\Program Files\\adsync\\adsync-agent.exe is not " << AgentExe();
  EXPECT_EQ(ConfigState(), "the template");
  ExpectService();
  // The recovery step ran and sc.exe exited 0 (Wine keeps no failure
  // actions to read back).
  EXPECT_EQ(ActionReturn(install.output, "SetServiceRecovery"), "1")
      << install.output;
  EXPECT_EQ(ActionReturn(install.output, "SetServiceRecoveryOnError"), "1")
      << install.output;
  EXPECT_TRUE(ProductRegistered(msi));

  // The admin fills in the config; uninstalling must not take it away.
  std::ofstream(Config(), std::ios::app) << kAdminEdit;
  RunResult uninstall = Msiexec("/x", msi, "uninstall.log");
  ASSERT_EQ(uninstall.exit_code, 0) << uninstall.output;
  EXPECT_FALSE(Exists(Exe()));
  EXPECT_TRUE(Registry(kServiceKey).empty()) << "service adsync-agent remains";
  EXPECT_NE(wine_.Run({"sc", "query", "adsync-agent"}).exit_code, 0);
  EXPECT_TRUE(Registry(absl::StrCat("HKLM\\", kEventSourceKey)).empty())
      << "the event source remains";
  EXPECT_FALSE(ProductRegistered(msi));
  EXPECT_EQ(ConfigState(), "the admin's");
}

TEST_F(WineMsiTest, NewerMsiReplacesTheOldKeepingTheConfigOlderIsRefused) {
  const std::string msi = AgentMsi();
  // The same agent as a newer version: build + 1.
  const std::string version = Properties(msi)["ProductVersion"];
  const std::vector<std::string> parts = absl::StrSplit(version, '.');
  int build = 0;
  ASSERT_TRUE(parts.size() == 3 && absl::SimpleAtoi(parts[2], &build))
      << version;
  const std::string newer_version =
      absl::StrCat(parts[0], ".", parts[1], ".", build + 1);
  const std::string newer = dir_.File("adsync-agent-newer.msi");
  RunResult built =
      RunCommand({"bash", SourcePath("scripts/build_windows_msi.sh"),
                  AgentExe(), newer, newer_version});
  ASSERT_EQ(built.exit_code, 0) << built.output;

  // Installed with a gMSA (Wine does not check that the account exists),
  // upgraded without SERVICEACCOUNT: the upgrade creates the service again
  // with the installed service's account, not LocalSystem.
  const std::string gmsa = "DISTRICT\\svc-adsync$";
  RunResult install =
      Msiexec("/i", msi, "install.log", "SERVICEACCOUNT=" + gmsa);
  ASSERT_EQ(install.exit_code, 0) << install.output;
  ExpectService(gmsa);
  EXPECT_EQ(ActionReturn(install.output, "GrantConfigDirToServiceAccount"), "1")
      << install.output;
  std::ofstream(Config(), std::ios::app) << kAdminEdit;

  RunResult upgrade = Msiexec("/i", newer, "upgrade.log");
  ASSERT_EQ(upgrade.exit_code, 0) << upgrade.output;
  EXPECT_EQ(ActionReturn(upgrade.output, "KeepServiceAccount"), "1")
      << upgrade.output;
  // Not a first install: what is in the folder keeps its owner and DACL.
  EXPECT_EQ(ActionReturn(upgrade.output, "OwnConfigDir"), "") << upgrade.output;
  EXPECT_EQ(ActionReturn(upgrade.output, "GrantConfigDirToServiceAccount"), "1")
      << upgrade.output;
  EXPECT_EQ(ActionReturn(upgrade.output, "RemoveExistingProducts"), "1")
      << upgrade.output;
  EXPECT_FALSE(ProductRegistered(msi)) << "the old version is still installed";
  ASSERT_TRUE(ProductRegistered(newer));
  EXPECT_EQ(Registry(kUninstallKey +
                     Properties(newer)["ProductCode"])["DisplayVersion"],
            newer_version);
  EXPECT_EQ(ConfigState(), "the admin's");
  EXPECT_TRUE(Exists(Exe()));
  ExpectService(gmsa);

  // The older MSI now stops at its launch condition and changes nothing.
  // (Windows shows and logs "A newer version of adsync agent is already
  // installed."; Wine's quiet log has only the failed action.)
  RunResult downgrade = Msiexec("/i", msi, "downgrade.log");
  EXPECT_NE(downgrade.exit_code, 0) << downgrade.output;
  const std::string launch = ActionReturn(downgrade.output, "LaunchConditions");
  EXPECT_TRUE(!launch.empty() && launch != "1") << downgrade.output;
  EXPECT_TRUE(ProductRegistered(newer));
  EXPECT_FALSE(ProductRegistered(msi));
}

}  // namespace
}  // namespace adsync::testing
