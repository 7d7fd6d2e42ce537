#include "agent/ldap_tls_check.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace adsync {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using StorePtr =
    std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX,
                    Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using CtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

void FreeX509Stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
using X509StackPtr =
    std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), FreeX509Stack>>;

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out.empty() ? "no detail" : out;
}

bool IsIpAddress(const std::string& host) {
  return host.find(':') != std::string::npos ||
         (!host.empty() && absl::ascii_isdigit(host.back()) &&
          host.find_first_not_of("0123456789.") == std::string::npos);
}

absl::Status TlsFailure(const std::string& host, const std::string& what) {
  return absl::UnavailableError(absl::StrCat(
      "the TLS certificate of the DC ", host, " is not trusted: ", what,
      "; check that ldap.ca_file is the CA that issued the DC's certificate "
      "and that the certificate names the host in ldap.uri"));
}

absl::StatusOr<StorePtr> LoadCaStore(const std::string& ca_file) {
  StorePtr store(X509_STORE_new());
  if (X509_STORE_load_file(store.get(), ca_file.c_str()) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ldap.ca_file ", ca_file, " holds no usable PEM certificate (",
        OpenSslErrors(), "); check the path and export the CA as PEM"));
  }
  return store;
}

// Sets the host check on `param`: DNS name, or IP address. Fails rather
// than verify without a name check.
absl::Status ExpectHost(X509_VERIFY_PARAM* param, const std::string& host) {
  const int ok =
      IsIpAddress(host)
          ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
          : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (ok != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", host,
        "\" in ldap.uri is neither a valid IP address nor a host name; use "
        "the DC's DNS name"));
  }
  return absl::OkStatus();
}

// The BER of an LDAPv3 ExtendedRequest for StartTLS (RFC 4511 4.14.1),
// message ID 1.
const std::string& StartTlsRequest() {
  static const std::string* request = [] {
    const std::string oid = "1.3.6.1.4.1.1466.20037";
    std::string ext = "\x77";  // [APPLICATION 23] ExtendedRequest
    ext.push_back(static_cast<char>(oid.size() + 2));
    ext += "\x80";  // requestName [0]
    ext.push_back(static_cast<char>(oid.size()));
    ext += oid;
    std::string body = std::string("\x02\x01\x01", 3) + ext;  // messageID 1
    return new std::string(
        "\x30" + std::string(1, static_cast<char>(body.size())) + body);
  }();
  return *request;
}

// Waits until a non-blocking BIO operation may be retried, up to `deadline`.
absl::Status WaitToRetry(BIO* bio, time_t deadline, const std::string& target,
                         const char* during) {
  if (BIO_should_retry(bio) && BIO_wait(bio, deadline, 50) == 1) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "no answer from the DC at ", target, " while ", during,
      " (ldap.timeout_seconds); check that the DC is up and ldap.uri names "
      "its LDAP port"));
}

// Reads exactly `size` bytes before `deadline`.
absl::Status ReadFully(BIO* bio, void* out, size_t size, time_t deadline,
                       const std::string& target) {
  size_t got = 0;
  while (got < size) {
    const int n = BIO_read(bio, static_cast<char*>(out) + got,
                           static_cast<int>(size - got));
    if (n > 0) {
      got += n;
      continue;
    }
    if (absl::Status s =
            WaitToRetry(bio, deadline, target, "reading StartTLS's answer");
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Reads one LDAPMessage and checks that it is an ExtendedResponse whose
// resultCode is success (0).
absl::Status ReadStartTlsResponse(BIO* bio, const std::string& host,
                                  time_t deadline) {
  unsigned char header[2];
  RETURN_IF_ERROR(ReadFully(bio, header, 2, deadline, host));
  if (header[0] != 0x30) {
    return absl::UnavailableError(
        absl::StrCat("the DC ", host,
                     " did not answer the StartTLS request; check ldap.uri"));
  }
  size_t length = header[1];
  if (length & 0x80) {  // long form
    const int bytes = length & 0x7f;
    if (bytes < 1 || bytes > 4)
      return absl::DataLossError("malformed LDAP reply");
    unsigned char len[4];
    RETURN_IF_ERROR(ReadFully(bio, len, bytes, deadline, host));
    length = 0;
    for (int i = 0; i < bytes; ++i) length = (length << 8) | len[i];
  }
  if (length > 65536) return absl::DataLossError("oversized LDAP reply");
  std::string body(length, '\0');
  RETURN_IF_ERROR(ReadFully(bio, body.data(), length, deadline, host));
  // messageID (02 len ...), then [APPLICATION 24] ExtendedResponse whose
  // first element is the ENUMERATED resultCode (0a 01 code).
  size_t pos = 0;
  if (body.size() < 3 || body[0] != 0x02)
    return absl::DataLossError("malformed LDAP reply");
  pos = 2 + static_cast<unsigned char>(body[1]);
  if (pos + 2 > body.size() || static_cast<unsigned char>(body[pos]) != 0x78) {
    return absl::DataLossError(
        "the DC's StartTLS reply is not an ExtendedResponse");
  }
  pos += 2;
  if (static_cast<unsigned char>(body[pos - 1]) & 0x80)
    pos += body[pos - 1] & 0x7f;
  if (pos + 3 > body.size() || body[pos] != 0x0a || body[pos + 1] != 0x01) {
    return absl::DataLossError("malformed StartTLS reply");
  }
  if (body[pos + 2] != 0) {
    return absl::UnavailableError(
        absl::StrCat("the DC ", host, " refused StartTLS (LDAP result ",
                     static_cast<int>(body[pos + 2]),
                     "); give it a certificate, or use ldaps://"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LdapEndpoint> ParseLdapUri(const std::string& uri) {
  LdapEndpoint endpoint;
  std::string rest;
  if (absl::StartsWithIgnoreCase(uri, "ldaps://")) {
    rest = uri.substr(8);
  } else if (absl::StartsWithIgnoreCase(uri, "ldap://")) {
    rest = uri.substr(7);
    endpoint.port = 389;
    endpoint.starttls = true;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "ldap.uri \"", uri,
        "\" must be ldaps://host[:port] (or ldap://host for StartTLS)"));
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ldap.uri \"", uri, "\" has an unclosed [IPv6 address]"));
    }
    endpoint.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("ldap.uri \"", uri, "\": expected :port after ]"));
      }
      port = rest.substr(close + 2);
    }
  } else {
    const size_t colon = rest.find(':');
    endpoint.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (endpoint.host.empty() ||
      endpoint.host.find_first_of("/?# ") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ldap.uri \"", uri, "\" must name one host: ldaps://host[:port]"));
  }
  if (!port.empty()) {
    uint32_t value = 0;
    if (!absl::SimpleAtoi(port, &value) || value == 0 || value > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ldap.uri \"", uri, "\" has an invalid port \"", port, "\""));
    }
    endpoint.port = static_cast<uint16_t>(value);
  }
  return endpoint;
}

absl::Status VerifyDcCertificate(const std::vector<std::string>& chain_der,
                                 const std::string& ca_file,
                                 const std::string& host) {
  if (chain_der.empty()) return TlsFailure(host, "it sent no certificate");
  auto store = LoadCaStore(ca_file);
  if (!store.ok()) return store.status();
  std::vector<X509Ptr> certs;
  for (const std::string& der : chain_der) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (cert == nullptr)
      return TlsFailure(host, "a certificate does not parse");
    certs.push_back(std::move(cert));
  }
  X509StackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; i < certs.size(); ++i) {
    X509_up_ref(certs[i].get());
    sk_X509_push(untrusted.get(), certs[i].get());
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (X509_STORE_CTX_init(ctx.get(), store->get(), certs[0].get(),
                          untrusted.get()) != 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot check the DC's certificate: ", OpenSslErrors()));
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  RETURN_IF_ERROR(ExpectHost(param, host));
  if (X509_verify_cert(ctx.get()) != 1) {
    return TlsFailure(host, X509_verify_cert_error_string(
                                X509_STORE_CTX_get_error(ctx.get())));
  }
  return absl::OkStatus();
}

absl::Status ProbeDcCertificate(const LdapEndpoint& endpoint,
                                const std::string& ca_file,
                                absl::Duration timeout) {
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot set up TLS: ", OpenSslErrors()));
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ldap.ca_file ", ca_file, " holds no usable PEM certificate (",
        OpenSslErrors(), "); check the path and export the CA as PEM"));
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  RETURN_IF_ERROR(ExpectHost(SSL_CTX_get0_param(ctx.get()), endpoint.host));

  const std::string target =
      endpoint.host.find(':') != std::string::npos
          ? absl::StrCat("[", endpoint.host, "]:", endpoint.port)
          : absl::StrCat(endpoint.host, ":", endpoint.port);
  BioPtr connection(BIO_new_connect(target.c_str()));
  if (connection == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot set up a connection: ", OpenSslErrors()));
  }
  // Non-blocking, so a DC that accepts and then says nothing cannot hold the
  // agent past ldap.timeout_seconds.
  BIO_set_nbio(connection.get(), 1);
  const time_t deadline =
      time(nullptr) + std::max<int64_t>(1, absl::ToInt64Seconds(timeout));
  if (BIO_do_connect_retry(connection.get(),
                           static_cast<int>(deadline - time(nullptr)),
                           50) != 1) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reach the DC at ", target, " (", OpenSslErrors(),
        "); check that the DC is up, the host and port in ldap.uri, and "
        "that no firewall blocks it"));
  }
  if (endpoint.starttls) {
    // The request is 31 bytes: one write fits any socket buffer.
    const std::string& request = StartTlsRequest();
    if (BIO_write(connection.get(), request.data(),
                  static_cast<int>(request.size())) !=
        static_cast<int>(request.size())) {
      return absl::UnavailableError(
          absl::StrCat("cannot send StartTLS to ", target));
    }
    RETURN_IF_ERROR(
        ReadStartTlsResponse(connection.get(), endpoint.host, deadline));
  }
  BIO* ssl_bio = BIO_new_ssl(ctx.get(), /*client=*/1);
  SSL* ssl = nullptr;
  BIO_get_ssl(ssl_bio, &ssl);
  if (!IsIpAddress(endpoint.host))
    SSL_set_tlsext_host_name(ssl, endpoint.host.c_str());
  BioPtr chain(BIO_push(ssl_bio, connection.release()));
  int handshake;
  while ((handshake = BIO_do_handshake(chain.get())) != 1 &&
         BIO_should_retry(chain.get())) {
    RETURN_IF_ERROR(
        WaitToRetry(chain.get(), deadline, target, "in the TLS handshake"));
  }
  if (handshake != 1) {
    const long result = SSL_get_verify_result(ssl);
    if (result != X509_V_OK) {
      return TlsFailure(endpoint.host, X509_verify_cert_error_string(result));
    }
    return absl::UnavailableError(absl::StrCat(
        "the TLS handshake with the DC at ", target, " failed (",
        OpenSslErrors(),
        "); check that the DC has a certificate and that ldap.uri names its "
        "LDAPS port (636) or, with ldap://, that it offers StartTLS"));
  }
  return absl::OkStatus();
}

}  // namespace adsync
