#include "agent/wldap_directory.h"

// winldap.h needs windows.h first, and winber.h needs winldap.h.
// clang-format off
#include <windows.h>
#include <wincrypt.h>
#include <winldap.h>
#include <winber.h>
// clang-format on

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/ldap_errors.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace adsync {
namespace {

// wldap32's certificate callback carries no context pointer; it runs on the
// connecting thread inside ldap_connect/ldap_start_tls_sA, so the directory
// being connected is found through a thread-local.
struct CertificateCheck {
  std::string ca_file;
  std::string host;
  std::string* error;
  bool verified = false;  // the callback ran and accepted the certificate
};
thread_local CertificateCheck* current_check = nullptr;

// The Windows SDK's VERIFYSERVERCERT: the certificate arrives by pointer and
// the callback must release it (MinGW's header drops one indirection).
BOOLEAN __cdecl VerifyServerCertificate(PLDAP, PCCERT_CONTEXT* server_cert) {
  CertificateCheck* check = current_check;
  PCCERT_CONTEXT leaf = server_cert != nullptr ? *server_cert : nullptr;
  if (leaf == nullptr || check == nullptr) {
    // No check in progress: a connection outside Connect() (wldap32's own
    // reconnect is switched off) is refused.
    if (check != nullptr) *check->error = "the DC sent no certificate";
    if (leaf != nullptr) CertFreeCertificateContext(leaf);
    return FALSE;
  }
  std::vector<std::string> chain = {std::string(
      reinterpret_cast<const char*>(leaf->pbCertEncoded), leaf->cbCertEncoded)};
  // The other certificates the DC sent travel in the leaf's store.
  PCCERT_CONTEXT other = nullptr;
  while ((other = CertEnumCertificatesInStore(leaf->hCertStore, other)) !=
         nullptr) {
    if (CertCompareCertificate(X509_ASN_ENCODING, leaf->pCertInfo,
                               other->pCertInfo)) {
      continue;
    }
    chain.emplace_back(reinterpret_cast<const char*>(other->pbCertEncoded),
                       other->cbCertEncoded);
  }
  absl::Status s = VerifyDcCertificate(chain, check->ca_file, check->host);
  CertFreeCertificateContext(leaf);
  if (!s.ok()) *check->error = std::string(s.message());
  check->verified = s.ok();
  return s.ok() ? TRUE : FALSE;
}

struct MessageDeleter {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, MessageDeleter>;

l_timeval ToLdapTimeval(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  return {static_cast<LONG>(ms / 1000), static_cast<LONG>((ms % 1000) * 1000)};
}

// Logged once per process: the first connection that has to probe.
std::atomic<bool> probe_warned{false};

}  // namespace

WldapDirectory::WldapDirectory(LdapOptions options)
    : options_(std::move(options)) {}

WldapDirectory::~WldapDirectory() { Close(); }

void WldapDirectory::Close() {
  if (ld_ != nullptr) ldap_unbind(ld_);
  ld_ = nullptr;
  notify_msgid_ = -1;
  notify_ended_ = absl::OkStatus();
}

absl::Status WldapDirectory::LdapError(unsigned long rc,
                                       const std::string& during) const {
  std::string detail = ldap_err2stringA(rc);
  char* server_error = nullptr;
  if (ld_ != nullptr &&
      ldap_get_option(ld_, LDAP_OPT_SERVER_ERROR, &server_error) ==
          LDAP_SUCCESS &&
      server_error != nullptr) {
    if (*server_error) absl::StrAppend(&detail, " (", server_error, ")");
    ldap_memfreeA(server_error);
  }
  const std::string msg =
      absl::StrCat(during, " on ", options_.uri, ": ", detail);
  switch (rc) {  // wldap32's own client-side codes first
    case LDAP_SERVER_DOWN:
    case LDAP_TIMEOUT:
      return LdapFailureStatus(LdapFailure::kUnreachable, msg);
    case LDAP_CONNECT_ERROR:
      return LdapFailureStatus(LdapFailure::kTlsFailed, msg);
    case LDAP_FILTER_ERROR:
      return LdapFailureStatus(LdapFailure::kBadFilter, msg);
    default:
      return LdapFailureStatus(ClassifyLdapResultCode(static_cast<int>(rc)),
                               msg);
  }
}

absl::Status WldapDirectory::PrepareTls(const LdapEndpoint& endpoint,
                                        bool* callback_set) {
  *callback_set = false;
  if (options_.ca_file.empty()) return absl::OkStatus();  // Windows' store
  if (ldap_set_option(ld_, LDAP_OPT_SERVER_CERTIFICATE,
                      reinterpret_cast<const void*>(
                          &VerifyServerCertificate)) == LDAP_SUCCESS) {
    *callback_set = true;
    return absl::OkStatus();
  }
  // This LDAP client cannot show us the certificate it receives (Wine).
  if (!options_.separate_certificate_check) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this system's LDAP client cannot show the DC's certificate to the "
        "agent, so ldap.ca_file cannot be enforced on ",
        options_.uri,
        "; remove ldap.ca_file to let Windows verify the DC against the "
        "machine's trust store"));
  }
  if (!probe_warned.exchange(true)) {
    Log(LogLevel::kWarning,
        "this system's LDAP client does not offer the DC's certificate to the "
        "agent; checking it against ldap.ca_file with a separate TLS "
        "handshake before each connection instead",
        {{"dc", options_.uri}});
  }
  return ProbeDcCertificate(endpoint, options_.ca_file, options_.timeout);
}

absl::Status WldapDirectory::Connect() {
  Close();
  ASSIGN_OR_RETURN(LdapEndpoint endpoint, ParseLdapUri(options_.uri));
  const bool negotiate = options_.bind_method == "negotiate";
  ld_ = ldap_sslinitA(const_cast<char*>(endpoint.host.c_str()), endpoint.port,
                      endpoint.starttls ? 0 : 1);
  if (ld_ == nullptr) return LdapError(LdapGetLastError(), "opening");
  ULONG version = LDAP_VERSION3;
  ldap_set_option(ld_, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(ld_, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  // A reconnect inside a search would skip the certificate check.
  ldap_set_option(ld_, LDAP_OPT_AUTO_RECONNECT, LDAP_OPT_OFF);
  const bool kerberos_seals = negotiate && endpoint.starttls;
  bool callback_set = false;
  if (kerberos_seals) {
    // ldap:// with Negotiate: Kerberos signs and seals the connection
    // itself, as the Linux agent's GSSAPI binds do (minssf=56). A client
    // that cannot would send the directory in cleartext: refuse it.
    if (ldap_set_option(ld_, LDAP_OPT_SIGN, LDAP_OPT_ON) != LDAP_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_ENCRYPT, LDAP_OPT_ON) != LDAP_SUCCESS) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this system's LDAP client cannot seal a Negotiate session on ",
          options_.uri, "; use ldaps:// instead"));
    }
  } else {
    RETURN_IF_ERROR(PrepareTls(endpoint, &callback_set));
  }
  CertificateCheck check{options_.ca_file, endpoint.host, &certificate_error_};
  certificate_error_.clear();
  current_check = &check;
  l_timeval timeout = ToLdapTimeval(options_.timeout);
  ULONG rc = ldap_connect(ld_, &timeout);
  if (rc == LDAP_SUCCESS && endpoint.starttls && !kerberos_seals) {
    ULONG server_rc = 0;
    LDAPMessage* result = nullptr;
    rc = ldap_start_tls_sA(ld_, &server_rc, &result, nullptr, nullptr);
    if (result != nullptr) ldap_msgfree(result);
    if (rc != LDAP_SUCCESS && rc != LDAP_SERVER_DOWN) rc = LDAP_CONNECT_ERROR;
  }
  current_check = nullptr;
  if (!certificate_error_.empty()) {
    return absl::UnavailableError(certificate_error_);
  }
  if (rc != LDAP_SUCCESS) {
    return LdapError(rc, endpoint.starttls ? "StartTLS" : "connecting");
  }
  if (callback_set && !check.verified) {
    return absl::UnavailableError(absl::StrCat(
        "the LDAP client connected to ", options_.uri,
        " without showing the agent the DC's certificate; refusing, since "
        "ldap.ca_file could not be enforced"));
  }
  RETURN_IF_ERROR(Bind());
  if (kerberos_seals) {
    void* encrypt = LDAP_OPT_OFF;
    if (ldap_get_option(ld_, LDAP_OPT_ENCRYPT, &encrypt) != LDAP_SUCCESS ||
        encrypt != LDAP_OPT_ON) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the Negotiate session with ", options_.uri,
          " is not sealed (NTLM, or a DC that refused); use the DC's full "
          "DNS name in ldap.uri, or ldaps://"));
    }
  }
  return absl::OkStatus();
}

absl::Status WldapDirectory::Bind() {
  if (options_.bind_method == "negotiate") {
    // No name, no password: Windows uses the account the agent runs as.
    const ULONG rc = ldap_bind_sA(ld_, nullptr, nullptr, LDAP_AUTH_NEGOTIATE);
    if (rc != LDAP_SUCCESS) {
      absl::Status s = LdapError(rc, "Negotiate bind");
      return absl::Status(
          s.code(), absl::StrCat(s.message(),
                                 "; check that the account the agent runs as "
                                 "may read the domain (on a DC, SYSTEM binds "
                                 "as the DC's machine account)"));
    }
    return absl::OkStatus();
  }
  const ULONG rc =
      ldap_simple_bind_sA(ld_, const_cast<char*>(options_.bind_dn.c_str()),
                          const_cast<char*>(options_.password.c_str()));
  if (rc != LDAP_SUCCESS) {
    return LdapError(rc, absl::StrCat("bind as ", options_.bind_dn));
  }
  return absl::OkStatus();
}

absl::Status WldapDirectory::Search(const SearchRequest& request,
                                    const EntryCallback& on_entry) {
  if (ld_ == nullptr) return absl::FailedPreconditionError("not connected");
  std::vector<char*> attrs;
  for (const auto& a : request.attributes)
    attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  berval* cookie = nullptr;
  l_timeval timeout =
      ToLdapTimeval(request.timeout > absl::ZeroDuration() ? request.timeout
                                                           : options_.timeout);
  absl::Status result;
  while (true) {
    std::vector<LDAPControlA*> controls;
    LDAPControlA show_deleted{
        const_cast<char*>(kShowDeletedControlOid), {0, nullptr}, TRUE};
    if (request.show_deleted) controls.push_back(&show_deleted);
    LDAPControlA* page = nullptr;
    if (request.page_size > 0) {
      const ULONG rc = ldap_create_page_controlA(ld_, request.page_size, cookie,
                                                 TRUE, &page);
      if (rc != LDAP_SUCCESS) {
        result = LdapError(rc, "creating the paged-results control");
        break;
      }
      controls.push_back(page);
    }
    controls.push_back(nullptr);
    LDAPMessage* raw = nullptr;
    ULONG rc = ldap_search_ext_sA(
        ld_, const_cast<char*>(request.base.c_str()),
        request.subtree ? LDAP_SCOPE_SUBTREE : LDAP_SCOPE_BASE,
        const_cast<char*>(request.filter.c_str()), attrs.data(), 0,
        controls.data(), nullptr, &timeout, 0, &raw);
    MessagePtr res(raw);
    if (page != nullptr) ldap_control_freeA(page);
    if (rc != LDAP_SUCCESS) {
      result = LdapError(
          rc, absl::StrCat("searching ", request.base.empty() ? "the rootDSE"
                                                              : request.base));
      break;
    }
    for (LDAPMessage* e = ldap_first_entry(ld_, res.get()); e != nullptr;
         e = ldap_next_entry(ld_, e)) {
      result = on_entry(ReadEntry(e));
      if (!result.ok()) break;
    }
    if (!result.ok()) break;
    if (cookie != nullptr) {
      ber_bvfree(cookie);
      cookie = nullptr;
    }
    if (request.page_size == 0) break;
    ULONG server_rc = LDAP_SUCCESS;
    LDAPControlA** returned = nullptr;
    rc = ldap_parse_resultA(ld_, res.get(), &server_rc, nullptr, nullptr,
                            nullptr, &returned, FALSE);
    if (rc != LDAP_SUCCESS || server_rc != LDAP_SUCCESS) {
      if (returned != nullptr) ldap_controls_freeA(returned);
      result = LdapError(rc != LDAP_SUCCESS ? rc : server_rc, "paging results");
      break;
    }
    ULONG estimate = 0;
    berval* next = nullptr;
    const ULONG page_rc =
        returned != nullptr
            ? ldap_parse_page_controlA(ld_, returned, &estimate, &next)
            : static_cast<ULONG>(LDAP_CONTROL_NOT_FOUND);
    if (returned != nullptr) ldap_controls_freeA(returned);
    if (page_rc != LDAP_SUCCESS || next == nullptr || next->bv_len == 0) {
      if (next != nullptr) ber_bvfree(next);
      break;  // the last page (or a DC that ignored paging)
    }
    cookie = next;
  }
  if (cookie != nullptr) ber_bvfree(cookie);
  return result;
}

absl::Status WldapDirectory::WatchForChanges(
    const std::string& naming_context,
    const std::vector<std::string>& attributes) {
  if (ld_ == nullptr) return absl::FailedPreconditionError("not connected");
  LDAPControlA notify{
      const_cast<char*>(kChangeNotificationControlOid), {0, nullptr}, TRUE};
  // Without Show Deleted, AD does not notify a deletion: it would wait for
  // the next search for all changes.
  LDAPControlA show_deleted{
      const_cast<char*>(kShowDeletedControlOid), {0, nullptr}, TRUE};
  LDAPControlA* controls[] = {&notify, &show_deleted, nullptr};
  std::vector<char*> attrs;
  for (const auto& a : attributes)
    attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  ULONG msgid = 0;
  // AD allows subtree-scope notifications only at a naming context's root,
  // and only with (objectClass=*).
  const ULONG rc =
      ldap_search_extA(ld_, const_cast<char*>(naming_context.c_str()),
                       LDAP_SCOPE_SUBTREE, const_cast<char*>("(objectClass=*)"),
                       attrs.data(), 0, controls, nullptr, 0, 0, &msgid);
  if (rc != LDAP_SUCCESS)
    return LdapError(rc, "registering for change notifications");
  notify_msgid_ = static_cast<long>(msgid);
  return absl::OkStatus();
}

absl::Status WldapDirectory::RegistrationEnded(LDAPMessage* result) {
  ULONG err = LDAP_OTHER;
  ldap_parse_resultA(ld_, result, &err, nullptr, nullptr, nullptr, nullptr,
                     FALSE);
  notify_msgid_ = -1;
  return RegistrationEndedError(LdapError(err, "change notification ended"));
}

LdapEntry WldapDirectory::ReadEntry(LDAPMessage* e) {
  LdapEntry entry;
  if (char* dn = ldap_get_dnA(ld_, e)) {
    entry.dn = dn;
    ldap_memfreeA(dn);
  }
  BerElement* ber = nullptr;
  for (char* a = ldap_first_attributeA(ld_, e, &ber); a != nullptr;
       a = ldap_next_attributeA(ld_, e, ber)) {
    std::vector<std::string>& values =
        entry.attributes[absl::AsciiStrToLower(a)];
    if (berval** vals = ldap_get_values_lenA(ld_, e, a)) {
      for (int i = 0; vals[i] != nullptr; ++i) {
        values.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
      }
      ldap_value_free_len(vals);
    }
    ldap_memfreeA(a);
  }
  if (ber != nullptr) ber_free(ber, 0);
  return entry;
}

void WldapDirectory::Note(ULONG type, LDAPMessage* message,
                          ChangeNotice* notice) {
  // A search reference, or anything but an entry, names no object; once
  // the notice is incomplete, the search for all changes covers the rest
  // and entries need not be read.
  notice->Add(type == LDAP_RES_SEARCH_ENTRY && notice->complete
                  ? ReadEntry(message)
                  : LdapEntry());
}

absl::StatusOr<ChangeNotice> WldapDirectory::WaitForChange(
    absl::Duration timeout) {
  ChangeNotice notice;
  if (!notify_ended_.ok()) return std::exchange(notify_ended_, {});
  if (notify_msgid_ < 0) {
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(timeout));
    return notice;
  }
  l_timeval tv = ToLdapTimeval(timeout);
  LDAPMessage* raw = nullptr;
  const ULONG rc = ldap_result(ld_, static_cast<ULONG>(notify_msgid_),
                               LDAP_MSG_ONE, &tv, &raw);
  MessagePtr msg(raw);
  if (rc == 0) return notice;  // timed out: nothing changed
  if (rc == static_cast<ULONG>(-1)) {
    notify_msgid_ = -1;
    return LdapError(LdapGetLastError(), "waiting for change notifications");
  }
  if (rc == static_cast<ULONG>(LDAP_RES_SEARCH_RESULT)) {
    return RegistrationEnded(msg.get());
  }
  Note(rc, msg.get(), &notice);
  // Take the further notifications already queued: one look covers them.
  for (size_t taken = 1; taken < ChangeNotice::kMaxTakenPerWait; ++taken) {
    l_timeval zero = {0, 0};
    LDAPMessage* raw_more = nullptr;
    const ULONG more_rc = ldap_result(ld_, static_cast<ULONG>(notify_msgid_),
                                      LDAP_MSG_ONE, &zero, &raw_more);
    MessagePtr more(raw_more);
    if (more_rc == 0 || more_rc == static_cast<ULONG>(-1)) break;
    if (more_rc == static_cast<ULONG>(LDAP_RES_SEARCH_RESULT)) {
      // Report the changes now and the end at the next wait.
      notify_ended_ = RegistrationEnded(more.get());
      break;
    }
    Note(more_rc, more.get(), &notice);
  }
  return notice;
}

}  // namespace adsync
