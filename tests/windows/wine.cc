#include "tests/windows/wine.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_replace.h"

namespace adsync::testing {

std::string AgentExe() {
  const std::string exe = ADSYNC_WINDOWS_AGENT_EXE;
  struct stat st;
  EXPECT_EQ(stat(exe.c_str(), &st), 0)
      << exe << " is missing: scripts/build_windows.sh builds it";
  return exe;
}

std::string AgentMsi() {
  const std::string msi = ADSYNC_WINDOWS_AGENT_MSI;
  struct stat st;
  EXPECT_EQ(stat(msi.c_str(), &st), 0)
      << msi << " is missing: scripts/build_windows.sh builds it";
  return msi;
}

WinePrefix::WinePrefix(std::string dir) : dir_(std::move(dir)) {
  mkdir(dir_.c_str(), 0700);
  // wineboot creates the prefix; later runs return at once.
  RunResult r = Run({"wineboot", "--init"}, absl::Seconds(180));
  EXPECT_EQ(r.exit_code, 0) << "wineboot failed: " << r.output;
  // Wine 8.0's own wldap32 loses LDAP replies over TLS larger than about
  // 1 KiB (tests/windows/wine/wldap32-tls-read.patch); the prefix gets the
  // fixed build, which Command() tells Wine to prefer. Without it every
  // agent test would fail on LDAP, far from the cause: stop here instead.
  const std::string fixed = ADSYNC_WINE_WLDAP32;
  const RunResult copied =
      RunCommand({"cp", fixed, DriveC("windows/system32/wldap32.dll")});
  if (copied.exit_code != 0) {
    std::fprintf(stderr,
                 "%s could not be installed in the Wine prefix (%s): "
                 "scripts/test.sh builds it with "
                 "scripts/build_wine_wldap32.sh\n",
                 fixed.c_str(), copied.output.c_str());
    std::exit(1);
  }
  // Until the first boot's processes exit, a second services.exe may answer
  // the service manager and not know services the first one created.
  RunCommand({"env", "WINEPREFIX=" + dir_, "wineserver", "-w"}, "",
             absl::Seconds(180));
}

WinePrefix::~WinePrefix() {
  RunCommand({"env", "WINEPREFIX=" + dir_, "wineserver", "-k"});
  RunCommand({"env", "WINEPREFIX=" + dir_, "wineserver", "-w"});
}

std::vector<std::string> WinePrefix::Command(
    const std::vector<std::string>& argv) const {
  std::vector<std::string> command = {
      "env", "WINEPREFIX=" + dir_, "WINEDEBUG=-all",
      "WINEDLLOVERRIDES=mscoree,mshtml=;wldap32=n", "wine"};
  command.insert(command.end(), argv.begin(), argv.end());
  return command;
}

RunResult WinePrefix::Run(const std::vector<std::string>& argv,
                          absl::Duration timeout) {
  return RunCommand(Command(argv), "", timeout);
}

std::unique_ptr<Process> WinePrefix::Start(const std::vector<std::string>& argv,
                                           const std::string& log) {
  return std::make_unique<Process>(Command(argv), log);
}

std::string WinePrefix::Path(const std::string& linux_path) {
  return "Z:" + absl::StrReplaceAll(linux_path, {{"/", "\\"}});
}

std::string WinePrefix::DriveC(const std::string& relative) const {
  return dir_ + "/drive_c/" + absl::StrReplaceAll(relative, {{"\\", "/"}});
}

}  // namespace adsync::testing
