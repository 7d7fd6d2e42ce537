#include "agent/openldap_directory.h"

#include <ldap.h>
#include <netdb.h>
#include <poll.h>
#include <sasl/sasl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/ldap_errors.h"

namespace adsync {
namespace {

// Frees an LDAPMessage chain on scope exit.
struct MessageDeleter {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, MessageDeleter>;

// True when the URI's host:port accepts a TCP connection. Tells a TLS
// failure (port open, handshake failed) apart from an unreachable DC, which
// libldap reports alike for ldaps://.
bool TcpReachable(const std::string& uri, absl::Duration timeout) {
  LDAPURLDesc* url = nullptr;
  if (ldap_url_parse(uri.c_str(), &url) != LDAP_URL_SUCCESS) return false;
  const std::string host = url->lud_host ? url->lud_host : "localhost";
  const std::string port = std::to_string(url->lud_port ? url->lud_port : 636);
  ldap_free_urldesc(url);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return false;
  bool reachable = false;
  for (addrinfo* a = res; a != nullptr && !reachable; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      reachable = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof(err);
      reachable =
          poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) ==
              1 &&
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    close(fd);
  }
  freeaddrinfo(res);
  return reachable;
}

int SaslInteract(LDAP*, unsigned, void*, void* in) {
  // GSSAPI needs no prompts: credentials come from the keytab.
  for (auto* i = static_cast<sasl_interact_t*>(in); i->id != SASL_CB_LIST_END;
       ++i) {
    i->result = "";
    i->len = 0;
  }
  return LDAP_SUCCESS;
}

}  // namespace

OpenLdapDirectory::OpenLdapDirectory(LdapOptions options)
    : options_(std::move(options)) {}

OpenLdapDirectory::~OpenLdapDirectory() { Close(); }

void OpenLdapDirectory::Close() {
  if (ld_ != nullptr) ldap_unbind_ext_s(ld_, nullptr, nullptr);
  ld_ = nullptr;
  notify_msgid_ = -1;
  notify_ended_ = absl::OkStatus();
}

absl::Status OpenLdapDirectory::LdapError(int rc,
                                          const std::string& during) const {
  std::string detail = ldap_err2string(rc);
  char* diag = nullptr;
  if (ld_ != nullptr &&
      ldap_get_option(ld_, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) ==
          LDAP_OPT_SUCCESS &&
      diag != nullptr) {
    if (*diag) absl::StrAppend(&detail, " (", diag, ")");
    ldap_memfree(diag);
  }
  const std::string msg =
      absl::StrCat(during, " on ", options_.uri, ": ", detail);
  switch (rc) {  // libldap's own (negative) codes first
    case LDAP_SERVER_DOWN:
    case LDAP_TIMEOUT:
      return LdapFailureStatus(LdapFailure::kUnreachable, msg);
    case LDAP_CONNECT_ERROR:
      return LdapFailureStatus(LdapFailure::kTlsFailed, msg);
    case LDAP_FILTER_ERROR:
      return LdapFailureStatus(LdapFailure::kBadFilter, msg);
    default:
      return LdapFailureStatus(ClassifyLdapResultCode(rc), msg);
  }
}

absl::Status OpenLdapDirectory::Connect() {
  Close();
  const bool ldaps = absl::StartsWithIgnoreCase(options_.uri, "ldaps://");
  if (!ldaps && !absl::StartsWithIgnoreCase(options_.uri, "ldap://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("ldap.uri \"", options_.uri,
                     "\" must start with ldaps:// (or ldap:// for StartTLS)"));
  }
  int rc = ldap_initialize(&ld_, options_.uri.c_str());
  if (rc != LDAP_SUCCESS) return LdapError(rc, "parsing ldap.uri");
  const int version = LDAP_VERSION3;
  ldap_set_option(ld_, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(ld_, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  const struct timeval tv = absl::ToTimeval(options_.timeout);
  ldap_set_option(ld_, LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option(ld_, LDAP_OPT_TIMEOUT, &tv);
  const int demand = LDAP_OPT_X_TLS_DEMAND;
  ldap_set_option(ld_, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
  if (!options_.ca_file.empty()) {
    ldap_set_option(ld_, LDAP_OPT_X_TLS_CACERTFILE, options_.ca_file.c_str());
  }
  const int is_server = 0;
  ldap_set_option(ld_, LDAP_OPT_X_TLS_NEWCTX, &is_server);
  const bool gssapi = options_.bind_method == "gssapi";
  if (gssapi) {
    // With ldap:// Kerberos signs and seals the connection itself (require
    // it: minssf); inside TLS no second layer is negotiated (Samba refuses
    // GSSAPI sealing within TLS).
    const char* secprops = ldaps ? "maxssf=0" : "minssf=56";
    ldap_set_option(ld_, LDAP_OPT_X_SASL_SECPROPS, secprops);
  } else if (!ldaps) {
    rc = ldap_start_tls_s(ld_, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
      return LdapError(
          rc == LDAP_SERVER_DOWN ? LDAP_SERVER_DOWN : LDAP_CONNECT_ERROR,
          "StartTLS");
    }
  }
  if (options_.bind_method == "gssapi") {
    if (!options_.keytab_file.empty()) {
      setenv("KRB5_CLIENT_KTNAME", options_.keytab_file.c_str(), 1);
    }
    rc = ldap_sasl_interactive_bind_s(ld_, nullptr, "GSSAPI", nullptr, nullptr,
                                      LDAP_SASL_QUIET, SaslInteract, nullptr);
    if (rc == LDAP_SERVER_DOWN && ldaps &&
        TcpReachable(options_.uri, options_.timeout)) {
      rc = LDAP_CONNECT_ERROR;
    }
    if (rc != LDAP_SUCCESS) {
      absl::Status s = LdapError(rc, "SASL/GSSAPI bind");
      return absl::Status(s.code(), absl::StrCat(s.message(),
                                                 "; check ldap.keytab_file, "
                                                 "krb5.conf and the clock"));
    }
    return absl::OkStatus();
  }
  struct berval cred;
  cred.bv_val = const_cast<char*>(options_.password.data());
  cred.bv_len = options_.password.size();
  rc = ldap_sasl_bind_s(ld_, options_.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred,
                        nullptr, nullptr, nullptr);
  if (rc == LDAP_SERVER_DOWN && ldaps &&
      TcpReachable(options_.uri, options_.timeout)) {
    rc = LDAP_CONNECT_ERROR;  // the port answers, so the TLS handshake failed
  }
  if (rc != LDAP_SUCCESS) {
    return LdapError(rc, absl::StrCat("bind as ", options_.bind_dn));
  }
  return absl::OkStatus();
}

absl::Status OpenLdapDirectory::Search(const SearchRequest& request,
                                       const EntryCallback& on_entry) {
  if (ld_ == nullptr) return absl::FailedPreconditionError("not connected");
  std::vector<char*> attrs;
  for (const auto& a : request.attributes)
    attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  struct berval* cookie = nullptr;
  struct timeval tv = absl::ToTimeval(request.timeout > absl::ZeroDuration()
                                          ? request.timeout
                                          : options_.timeout);
  absl::Status result;
  while (true) {
    std::vector<LDAPControl*> controls;
    LDAPControl show_deleted{
        const_cast<char*>(kShowDeletedControlOid), {0, nullptr}, 1};
    if (request.show_deleted) controls.push_back(&show_deleted);
    LDAPControl* page = nullptr;
    if (request.page_size > 0) {
      int rc =
          ldap_create_page_control(ld_, request.page_size, cookie, 1, &page);
      if (rc != LDAP_SUCCESS) {
        result = LdapError(rc, "creating the paged-results control");
        break;
      }
      controls.push_back(page);
    }
    controls.push_back(nullptr);
    LDAPMessage* raw = nullptr;
    int rc = ldap_search_ext_s(
        ld_, request.base.c_str(),
        request.subtree ? LDAP_SCOPE_SUBTREE : LDAP_SCOPE_BASE,
        request.filter.c_str(), attrs.data(), 0, controls.data(), nullptr, &tv,
        LDAP_NO_LIMIT, &raw);
    MessagePtr res(raw);
    if (page) ldap_control_free(page);
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
    if (cookie) {
      ber_bvfree(cookie);
      cookie = nullptr;
    }
    if (request.page_size == 0) break;
    LDAPControl** returned = nullptr;
    int err = LDAP_SUCCESS;
    rc = ldap_parse_result(ld_, res.get(), &err, nullptr, nullptr, nullptr,
                           &returned, 0);
    if (rc != LDAP_SUCCESS || err != LDAP_SUCCESS) {
      if (returned) ldap_controls_free(returned);
      result = LdapError(rc != LDAP_SUCCESS ? rc : err, "paging results");
      break;
    }
    LDAPControl* resp =
        ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, returned, nullptr);
    ber_int_t estimate = 0;
    struct berval next = {0, nullptr};
    if (resp) ldap_parse_pageresponse_control(ld_, resp, &estimate, &next);
    if (returned) ldap_controls_free(returned);
    if (next.bv_len == 0) {
      ber_memfree(next.bv_val);
      break;
    }
    cookie = ber_bvdup(&next);
    ber_memfree(next.bv_val);
  }
  if (cookie) ber_bvfree(cookie);
  return result;
}

absl::Status OpenLdapDirectory::WatchForChanges(
    const std::string& naming_context,
    const std::vector<std::string>& attributes) {
  if (ld_ == nullptr) return absl::FailedPreconditionError("not connected");
  LDAPControl notify{
      const_cast<char*>(kChangeNotificationControlOid), {0, nullptr}, 1};
  // Without Show Deleted, AD does not notify a deletion: it would wait for
  // the next search for all changes.
  LDAPControl show_deleted{
      const_cast<char*>(kShowDeletedControlOid), {0, nullptr}, 1};
  LDAPControl* controls[] = {&notify, &show_deleted, nullptr};
  std::vector<char*> attrs;
  for (const auto& a : attributes)
    attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  int msgid = -1;
  // AD allows subtree-scope notifications only at a naming context's root,
  // and only with (objectClass=*).
  const int rc = ldap_search_ext(
      ld_, naming_context.c_str(), LDAP_SCOPE_SUBTREE, "(objectClass=*)",
      attrs.data(), 0, controls, nullptr, nullptr, LDAP_NO_LIMIT, &msgid);
  if (rc != LDAP_SUCCESS)
    return LdapError(rc, "registering for change notifications");
  notify_msgid_ = msgid;
  return absl::OkStatus();
}

absl::Status OpenLdapDirectory::RegistrationEnded(LDAPMessage* result) {
  int err = LDAP_OTHER;
  ldap_parse_result(ld_, result, &err, nullptr, nullptr, nullptr, nullptr, 0);
  notify_msgid_ = -1;
  return RegistrationEndedError(LdapError(err, "change notification ended"));
}

LdapEntry OpenLdapDirectory::ReadEntry(LDAPMessage* e) {
  LdapEntry entry;
  if (char* dn = ldap_get_dn(ld_, e)) {
    entry.dn = dn;
    ldap_memfree(dn);
  }
  BerElement* ber = nullptr;
  for (char* a = ldap_first_attribute(ld_, e, &ber); a != nullptr;
       a = ldap_next_attribute(ld_, e, ber)) {
    std::vector<std::string>& values =
        entry.attributes[absl::AsciiStrToLower(a)];
    if (struct berval** vals = ldap_get_values_len(ld_, e, a)) {
      for (int i = 0; vals[i] != nullptr; ++i) {
        values.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
      }
      ldap_value_free_len(vals);
    }
    ldap_memfree(a);
  }
  if (ber) ber_free(ber, 0);
  return entry;
}

void OpenLdapDirectory::Note(int type, LDAPMessage* message,
                             ChangeNotice* notice) {
  // A search reference, or anything but an entry, names no object; once
  // the notice is incomplete, the search for all changes covers the rest
  // and entries need not be read.
  notice->Add(type == LDAP_RES_SEARCH_ENTRY && notice->complete
                  ? ReadEntry(message)
                  : LdapEntry());
}

absl::StatusOr<ChangeNotice> OpenLdapDirectory::WaitForChange(
    absl::Duration timeout) {
  ChangeNotice notice;
  if (!notify_ended_.ok()) return std::exchange(notify_ended_, {});
  if (notify_msgid_ < 0) {
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(timeout));
    return notice;
  }
  struct timeval tv = absl::ToTimeval(timeout);
  LDAPMessage* raw = nullptr;
  const int rc = ldap_result(ld_, notify_msgid_, LDAP_MSG_ONE, &tv, &raw);
  MessagePtr msg(raw);
  if (rc == 0) return notice;  // timed out: nothing changed
  if (rc < 0) {
    int err = LDAP_SERVER_DOWN;
    ldap_get_option(ld_, LDAP_OPT_RESULT_CODE, &err);
    notify_msgid_ = -1;
    return LdapError(err, "waiting for change notifications");
  }
  if (rc == LDAP_RES_SEARCH_RESULT) return RegistrationEnded(msg.get());
  Note(rc, msg.get(), &notice);
  // Take the further notifications already queued: one look covers them.
  for (size_t taken = 1; taken < ChangeNotice::kMaxTakenPerWait; ++taken) {
    struct timeval zero = {0, 0};
    LDAPMessage* raw_more = nullptr;
    const int more_rc =
        ldap_result(ld_, notify_msgid_, LDAP_MSG_ONE, &zero, &raw_more);
    MessagePtr more(raw_more);
    if (more_rc <= 0) break;
    if (more_rc == LDAP_RES_SEARCH_RESULT) {
      // Report the changes now and the end at the next wait.
      notify_ended_ = RegistrationEnded(more.get());
      break;
    }
    Note(more_rc, more.get(), &notice);
  }
  return notice;
}

}  // namespace adsync
