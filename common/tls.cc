#include "common/tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace adsync {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Reads a PEM file holding at least one certificate; returns its text and
// (through `first`) the first certificate.
absl::StatusOr<std::string> ReadCertificates(
    const std::string& path, const std::string& what,
    std::unique_ptr<X509, X509Free>* first = nullptr) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is required (a PEM file)"));
  }
  ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  auto bio = MemoryBio(pem);
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", path,
        " holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\"); "
        "check the path, or convert it: openssl x509 -in FILE -out FILE.pem"));
  }
  if (first != nullptr) *first = std::move(cert);
  return pem;
}

// Reads the private key for `cert` (mode-checked like every secret).
absl::StatusOr<std::string> ReadKeyFor(const std::string& path, X509* cert,
                                       const std::string& what) {
  ASSIGN_OR_RETURN(std::string pem, ReadSecretFile(path, what));
  auto bio = MemoryBio(pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", path,
        " holds no unencrypted PEM private key; remove a passphrase with: "
        "openssl pkey -in FILE -out FILE"));
  }
  if (X509_check_private_key(cert, key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path,
                     " does not belong to the certificate next to it; "
                     "configure the key the certificate was issued for"));
  }
  return pem;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> LoadServerTls(
    const adsync::v1::AgentTls& tls, absl::string_view field) {
  const std::string cert_field = absl::StrCat(field, ".cert_file");
  const std::string key_field = absl::StrCat(field, ".key_file");
  std::unique_ptr<X509, X509Free> cert;
  ASSIGN_OR_RETURN(std::string cert_pem,
                   ReadCertificates(tls.cert_file(), cert_field, &cert));
  if (tls.key_file().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_field, " is required with ", cert_field,
                     ": the private key of that certificate (mode 600)"));
  }
  ASSIGN_OR_RETURN(std::string key_pem,
                   ReadKeyFor(tls.key_file(), cert.get(), key_field));
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({key_pem, cert_pem});
  if (!tls.client_ca_file().empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs,
                     ReadCertificates(tls.client_ca_file(),
                                      absl::StrCat(field, ".client_ca_file")));
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LoadClientTls(
    const std::string& ca_file, const std::string& cert_file,
    const std::string& key_file, const ClientTlsNames& names) {
  grpc::SslCredentialsOptions options;
  ASSIGN_OR_RETURN(options.pem_root_certs,
                   ReadCertificates(ca_file, names.ca_file));
  if (!cert_file.empty()) {
    std::unique_ptr<X509, X509Free> cert;
    ASSIGN_OR_RETURN(options.pem_cert_chain,
                     ReadCertificates(cert_file, names.cert_file, &cert));
    ASSIGN_OR_RETURN(options.pem_private_key,
                     ReadKeyFor(key_file, cert.get(), names.key_file));
  }
  return grpc::SslCredentials(options);
}

}  // namespace adsync
