// Runs the cross-compiled Windows agent under Wine for the Linux test
// binaries: one Wine prefix (a private C: drive and registry) per test
// binary, so tests never share services or secrets.
//
//   WinePrefix wine(TempDir() + "/wine");
//   RunResult r = wine.Run({AgentExe(), "--version"});
//   auto agent = wine.Start({AgentExe(), "--config", wine.Path(config)}, log);
//
// Thread-safety: one thread per prefix.
#ifndef ADSYNC_TESTS_WINDOWS_WINE_H_
#define ADSYNC_TESTS_WINDOWS_WINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/support/process.h"

namespace adsync::testing {

// The cross-compiled agent (ADSYNC_WINDOWS_AGENT_EXE at configure time).
// Fails the calling test when it was not built: the Windows tests are part
// of the test command and must not pass without it.
std::string AgentExe();
// The MSI built beside it.
std::string AgentMsi();

class WinePrefix {
 public:
  // Creates the prefix under `dir` on first use (about 12 s).
  explicit WinePrefix(std::string dir);
  ~WinePrefix();  // stops the prefix's wineserver and its services
  WinePrefix(const WinePrefix&) = delete;
  WinePrefix& operator=(const WinePrefix&) = delete;

  // Runs a Windows program (an .exe path on this machine, or a program of
  // the prefix such as "sc" or "msiexec") to completion.
  RunResult Run(const std::vector<std::string>& argv,
                absl::Duration timeout = absl::Seconds(120));
  // Starts one in the background; its output goes to `log`.
  std::unique_ptr<Process> Start(const std::vector<std::string>& argv,
                                 const std::string& log);

  // The Windows path (Z:\...) of a path on this machine.
  static std::string Path(const std::string& linux_path);
  // The path on this machine of C:\<relative> inside the prefix.
  std::string DriveC(const std::string& relative) const;
  const std::string& dir() const { return dir_; }

 private:
  std::vector<std::string> Command(const std::vector<std::string>& argv) const;
  std::string dir_;
};

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_WINDOWS_WINE_H_
