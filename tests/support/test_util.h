// Helpers shared by the tests: temporary directories, wire deltas with
// replication stamps, and loopback source addresses.
#ifndef ADSYNC_TESTS_TEST_UTIL_H_
#define ADSYNC_TESTS_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "adsync/v1/agent.pb.h"

namespace adsync::testing {

// A fresh directory under $TMPDIR, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `content` to `path` with `mode`.
void WriteFile(const std::string& path, const std::string& content,
               int mode = 0600);

// A 16-byte GUID / invocationId made from a small number, for readable tests.
std::string TestGuid(uint32_t n);
// A binary SID S-1-5-21-1-2-3-<rid>.
std::string TestSid(uint32_t rid);

struct DeltaSpec {
  uint32_t guid = 1;
  std::string sam = "user";
  std::string upn;
  std::string mail;
  std::vector<std::string> proxy;
  std::string display_name;
  uint32_t uac = 0x200;  // NORMAL_ACCOUNT
  bool deleted = false;
  // Same version/time for every attribute unless overridden below.
  uint32_t version = 1;
  int64_t time = 13'300'000'000;
  uint32_t invocation = 100;
  uint32_t mail_version = 0;  // 0 = `version`
  uint32_t sam_version = 0;
  int64_t usn = 0;  // originating USN of every stamp (0 = not sent)
};

adsync::v1::ProfileDelta MakeDelta(const DeltaSpec& spec);

// replPropertyMetaData of a user tombstone read from a Samba 4.17 DC
// (tests/data/samba_tombstone_replmeta.hex).
std::string SambaTombstoneBlob();

// Makes connections dialed to `ip` (127.x.y.z) arrive from `ip`, so tests can
// present a chosen source address. Needs root; idempotent.
void EnsureLoopbackSource(const std::string& ip);

// A file of the source tree, e.g. SourcePath("scripts/samba_dc.sh").
std::string SourcePath(const std::string& relative);

// A private CA and certificates in `dir` (scripts/make_certs.sh): ca.pem,
// server.pem/.key naming 127.0.0.1, ::1 and the agents' test addresses
// 127.0.0.2-127.0.0.63, client.pem/.key, other-ca.pem. Idempotent.
void MakeTestCertificates(const std::string& dir);

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_TEST_UTIL_H_
