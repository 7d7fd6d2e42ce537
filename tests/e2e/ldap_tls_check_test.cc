// The DC certificate check the Windows agent relies on (agent/ldap_tls_check),
// run natively against the real Samba DC: LDAPS and StartTLS, the right CA,
// a wrong CA, a wrong host name, and a port where nothing answers.
#include "agent/ldap_tls_check.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/e2e_harness.h"

namespace adsync::testing {
namespace {

using ::testing::HasSubstr;

TEST(ParseLdapUriTest, AcceptsHostsPortsAndIpv6) {
  auto a = ParseLdapUri("ldaps://dc1.district.org");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "dc1.district.org");
  EXPECT_EQ(a->port, 636);
  EXPECT_FALSE(a->starttls);
  auto b = ParseLdapUri("LDAP://10.0.0.5:3890/");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->host, "10.0.0.5");
  EXPECT_EQ(b->port, 3890);
  EXPECT_TRUE(b->starttls);
  auto c = ParseLdapUri("ldaps://[fd00::5]:1636");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->host, "fd00::5");
  EXPECT_EQ(c->port, 1636);
}

TEST(ParseLdapUriTest, RefusesWhatIsNotOneHost) {
  for (const char* uri :
       {"http://dc1", "ldaps://", "ldaps://dc1:0", "ldaps://dc1:99999",
        "ldaps://dc1:x", "ldaps://[fd00::5", "ldaps://dc1/dc=x?cn",
        "ldaps://dc1 dc2"}) {
    auto r = ParseLdapUri(uri);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << uri;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("ldap.uri"))
        << uri;
  }
}

class DcCertificateTest : public ::testing::Test {
 protected:
  DcCertificateTest() : dc_(ADSYNC_E2E_DC_DIR) {}

  LdapEndpoint Endpoint(const std::string& host, bool starttls) {
    return {host, static_cast<uint16_t>(starttls ? 389 : 636), starttls};
  }

  std::string OtherCa() {
    // The e2e certificates' CA (coordinator TLS) did not sign the DC.
    return E2eCertDir() + "/ca.pem";
  }

  // The DC's own certificate, DER.
  std::string DcCertificateDer() {
    TempDir dir;
    RunResult r =
        RunCommand({"openssl", "x509", "-in", dc_.dir() + "/tls/cert.pem",
                    "-outform", "DER", "-out", dir.File("dc.der")});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::ifstream in(dir.File("dc.der"), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
  }

  Dc dc_;
};

TEST_F(DcCertificateTest, TrustsTheDcThroughLdapsAndStartTls) {
  for (bool starttls : {false, true}) {
    absl::Status s = ProbeDcCertificate(Endpoint(dc_.ip(), starttls),
                                        dc_.ca_file(), absl::Seconds(10));
    EXPECT_TRUE(s.ok()) << (starttls ? "StartTLS: " : "LDAPS: ") << s;
  }
}

TEST_F(DcCertificateTest, RefusesACertificateTheCaDidNotSign) {
  for (bool starttls : {false, true}) {
    absl::Status s = ProbeDcCertificate(Endpoint(dc_.ip(), starttls), OtherCa(),
                                        absl::Seconds(10));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("is not trusted"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("ldap.ca_file"));
  }
}

TEST_F(DcCertificateTest, RefusesACertificateForAnotherHost) {
  const std::string der = DcCertificateDer();
  EXPECT_EQ(VerifyDcCertificate({}, dc_.ca_file(), dc_.ip()).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(VerifyDcCertificate({der}, dc_.ca_file(), dc_.ip()).ok());
  EXPECT_TRUE(VerifyDcCertificate({der}, dc_.ca_file(), dc_.Env("HOST")).ok());
  absl::Status wrong_host =
      VerifyDcCertificate({der}, dc_.ca_file(), "dc9.district.test");
  EXPECT_EQ(wrong_host.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(wrong_host.message()),
              HasSubstr("hostname mismatch"));
  absl::Status wrong_ca = VerifyDcCertificate({der}, OtherCa(), dc_.ip());
  EXPECT_EQ(wrong_ca.code(), absl::StatusCode::kUnavailable);
}

TEST_F(DcCertificateTest, RefusesAHostItCannotCheckTheNameOf) {
  // Looks like an IP address but is none: without a name check the chain
  // alone would pass.
  absl::Status s =
      VerifyDcCertificate({DcCertificateDer()}, dc_.ca_file(), "10.0.0.256");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("use the DC's DNS name"));
}

TEST_F(DcCertificateTest, SaysWhenNothingAnswers) {
  absl::Status s = ProbeDcCertificate({"127.0.0.19", 636, false}, dc_.ca_file(),
                                      absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("cannot reach the DC"));
}

TEST_F(DcCertificateTest, RefusesACaFileWithoutCertificates) {
  TempDir dir;
  WriteFile(dir.File("empty.pem"), "not a certificate\n");
  absl::Status s = ProbeDcCertificate(Endpoint(dc_.ip(), false),
                                      dir.File("empty.pem"), absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("ldap.ca_file"));
}

}  // namespace
}  // namespace adsync::testing
