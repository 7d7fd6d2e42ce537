#include "tests/support/test_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/sid.h"
#include "tests/support/process.h"

namespace adsync::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/adsync-test-XXXXXX");
  path_ = mkdtemp(tmpl.data());
}

TempDir::~TempDir() { std::filesystem::remove_all(path_); }

void WriteFile(const std::string& path, const std::string& content, int mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  chmod(path.c_str(), mode);
}

std::string TestGuid(uint32_t n) {
  std::string g(16, '\0');
  for (int i = 0; i < 4; ++i) g[12 + i] = static_cast<char>(n >> (8 * (3 - i)));
  g[0] = 0x5a;
  return g;
}

std::string TestSid(uint32_t rid) {
  return *SidStringToBinary(absl::StrCat("S-1-5-21-1-2-3-", rid));
}

adsync::v1::ProfileDelta MakeDelta(const DeltaSpec& s) {
  adsync::v1::ProfileDelta d;
  d.set_object_guid(TestGuid(s.guid));
  d.set_object_sid(TestSid(1000 + s.guid));
  d.set_sam_account_name(s.sam);
  d.set_user_principal_name(s.upn);
  d.set_mail(s.mail);
  for (const auto& p : s.proxy) d.add_proxy_addresses(p);
  d.set_display_name(s.display_name);
  d.set_user_account_control(s.uac);
  d.set_deleted(s.deleted);
  for (int a = adsync::v1::ATTRIBUTE_SAM_ACCOUNT_NAME;
       a <= adsync::v1::ATTRIBUTE_IS_DELETED; ++a) {
    auto* st = d.add_stamps();
    st->set_attribute(static_cast<adsync::v1::Attribute>(a));
    uint32_t v = s.version;
    if (a == adsync::v1::ATTRIBUTE_MAIL && s.mail_version) v = s.mail_version;
    if (a == adsync::v1::ATTRIBUTE_SAM_ACCOUNT_NAME && s.sam_version)
      v = s.sam_version;
    st->set_version(v);
    st->set_originating_time(s.time);
    st->set_originating_invocation_id(TestGuid(s.invocation));
    st->set_originating_usn(s.usn);
  }
  return d;
}

std::string SambaTombstoneBlob() {
  std::ifstream in(std::string(ADSYNC_TEST_DATA) +
                   "/samba_tombstone_replmeta.hex");
  std::string hex;
  in >> hex;
  return absl::HexStringToBytes(hex);
}

void EnsureLoopbackSource(const std::string& ip) {
  const std::string cmd = absl::StrCat("ip route replace local ", ip,
                                       "/32 dev lo src ", ip, " table local");
  if (std::system(cmd.c_str()) != 0) std::abort();
}

std::string SourcePath(const std::string& relative) {
  return absl::StrCat(ADSYNC_SOURCE_DIR, "/", relative);
}

void MakeTestCertificates(const std::string& dir) {
  std::vector<std::string> argv = {SourcePath("scripts/make_certs.sh"), dir,
                                   "127.0.0.1", "::1", "localhost"};
  for (int i = 2; i < 64; ++i) argv.push_back(absl::StrCat("127.0.0.", i));
  RunResult r = RunCommand(argv);
  if (r.exit_code != 0) {
    std::fprintf(stderr, "make_certs.sh failed: %s\n", r.output.c_str());
    std::abort();
  }
}

}  // namespace adsync::testing
