// common/private_file.h for Windows: the file's DACL decides who may read a
// secret, and DPAPI (machine scope) may additionally encrypt it.
//
// The owner is not checked: Windows makes the creating administrator the
// owner on many editions, and whoever created the file already knows the
// secret. What matters is who else the DACL lets read it (or rewrite the
// DACL to read it), which is checked at every start.
//
// Deny ACEs are not credited: a file whose only protection is a deny ACE
// is refused. That may refuse an unusual but private DACL; the fix the
// message gives produces one that passes, so erring this way is cheap.
#include <windows.h>
// Windows headers after windows.h.
#include <aclapi.h>
#include <sddl.h>
#include <wincrypt.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/private_file.h"
#include "common/status_macros.h"
#include "common/windows_api.h"

namespace adsync {
namespace {

// Access that lets its holder learn the secret: reading the data, or
// rewriting the DACL or the owner so as to read it. FILE_ALL_ACCESS and the
// generic rights include FILE_READ_DATA once mapped, but an ACE may carry
// them unmapped.
constexpr ACCESS_MASK kExposingAccess =
    FILE_READ_DATA | GENERIC_READ | GENERIC_ALL | WRITE_DAC | WRITE_OWNER;

// A SID in a buffer of its own (the token's and CreateWellKnownSid's).
using SidBuffer = std::vector<BYTE>;

SidBuffer WellKnownSid(WELL_KNOWN_SID_TYPE type) {
  SidBuffer sid(SECURITY_MAX_SID_SIZE);
  DWORD size = static_cast<DWORD>(sid.size());
  // Cannot fail for the built-in types used here with a maximal buffer.
  CreateWellKnownSid(type, nullptr, sid.data(), &size);
  sid.resize(size);
  return sid;
}

// The account this process runs as: the service account when run by the
// Service Control Manager, the operator when run from a console.
absl::StatusOr<SidBuffer> ProcessUserSid() {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
    return absl::UnknownError(absl::StrCat(
        "cannot read this process's account to check secret files: ",
        Win32ErrorText(GetLastError())));
  }
  DWORD size = 0;
  GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  std::vector<BYTE> buffer(size);
  const bool ok =
      GetTokenInformation(token, TokenUser, buffer.data(), size, &size);
  const DWORD error = GetLastError();
  CloseHandle(token);
  if (!ok) {
    return absl::UnknownError(absl::StrCat(
        "cannot read this process's account to check secret files: ",
        Win32ErrorText(error)));
  }
  PSID sid = reinterpret_cast<TOKEN_USER*>(buffer.data())->User.Sid;
  const BYTE* begin = static_cast<const BYTE*>(sid);
  return SidBuffer(begin, begin + GetLengthSid(sid));
}

std::string SidString(PSID sid) {
  wchar_t* text = nullptr;
  if (!ConvertSidToStringSidW(sid, &text)) return "(unreadable SID)";
  std::unique_ptr<wchar_t, LocalFreeDeleter> owned(text);
  return WideToUtf8(text);
}

// "BUILTIN\Users", "Everyone"; the SID string when the name cannot be
// found (a deleted account, an unreachable domain).
std::string AccountName(PSID sid) {
  wchar_t name[256];
  wchar_t domain[256];
  DWORD name_size = 256;
  DWORD domain_size = 256;
  SID_NAME_USE use;
  if (!LookupAccountSidW(nullptr, sid, name, &name_size, domain, &domain_size,
                         &use)) {
    return SidString(sid);
  }
  if (domain_size == 0) return WideToUtf8(name);
  return absl::StrCat(WideToUtf8(domain), "\\", WideToUtf8(name));
}

// How to make `path` private: protect-secret rewrites it as a new file
// whose DACL has only SYSTEM and Administrators; icacls fixes it in place.
// icacls takes SIDs (*S-...) because account names are translated on
// non-English Windows. When `needs_own_entry`, the account running the agent
// (a gMSA) must be granted read again afterwards.
std::string FixCommand(absl::string_view path,
                       const std::vector<std::string>& reader_sids,
                       PSID process_user, bool needs_own_entry) {
  std::string remove;
  for (const std::string& sid : reader_sids)
    absl::StrAppend(&remove, " /remove:g *", sid);
  std::string fix = absl::StrCat(
      "run `adsync-agent.exe protect-secret --in \"", path, "\" --out \"", path,
      "\"` (or: icacls \"", path, "\" /inheritance:r", remove,
      " /grant:r *S-1-5-18:F *S-1-5-32-544:F, which leaves SYSTEM and "
      "Administrators)");
  if (needs_own_entry) {
    absl::StrAppend(&fix, ", then `icacls \"", path, "\" /grant *",
                    SidString(process_user), ":R` so that ",
                    AccountName(process_user),
                    ", which runs the agent, can "
                    "read it");
  }
  return fix;
}

}  // namespace

absl::Status CheckFileIsPrivate(absl::string_view path,
                                absl::string_view what) {
  const std::wstring wide_path = Utf8ToWide(path);
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  const DWORD error = GetNamedSecurityInfoW(
      wide_path.c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr,
      nullptr, &dacl, nullptr, &descriptor);
  if (error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND) {
    return absl::NotFoundError(absl::StrCat(what, " ", path, ": ",
                                            Win32ErrorText(error),
                                            "; check the path in the config"));
  }
  if (error == ERROR_ACCESS_DENIED) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot read the permissions of ", what, " ", path, ": ",
        Win32ErrorText(error),
        "; run the agent as SYSTEM, an administrator or the service account "
        "the file grants read access to"));
  }
  if (error != ERROR_SUCCESS) {
    return absl::UnknownError(
        absl::StrCat("cannot read the permissions of ", what, " ", path, ": ",
                     Win32ErrorText(error),
                     "; check that it is a file on a local NTFS "
                     "volume"));
  }
  std::unique_ptr<void, LocalFreeDeleter> owned_descriptor(descriptor);

  ASSIGN_OR_RETURN(SidBuffer process_user, ProcessUserSid());
  SidBuffer system = WellKnownSid(WinLocalSystemSid);
  SidBuffer administrators = WellKnownSid(WinBuiltinAdministratorsSid);
  PSID self = process_user.data();
  // SYSTEM and administrators read the file through its SYSTEM and
  // Administrators entries; any other account running the agent (a gMSA)
  // needs one of its own after the fix.
  BOOL is_administrator = FALSE;
  CheckTokenMembership(nullptr, administrators.data(), &is_administrator);
  const bool needs_own_entry =
      !EqualSid(self, system.data()) && !is_administrator;

  if (dacl == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " ", path,
        " has no DACL (a NULL DACL), so everyone can read it and the secret "
        "may be known to other users; ",
        FixCommand(path, {}, self, needs_own_entry), ", then start again"));
  }

  std::vector<std::string> reader_names;
  std::vector<std::string> reader_sids;
  for (DWORD i = 0; i < dacl->AceCount; ++i) {
    ACE_HEADER* header = nullptr;
    if (!GetAce(dacl, i, reinterpret_cast<void**>(&header))) continue;
    // Inherit-only ACEs are for files created inside a folder, not this one.
    if (header->AceFlags & INHERIT_ONLY_ACE) continue;
    // The callback variant has the same layout and grants the same way.
    if (header->AceType != ACCESS_ALLOWED_ACE_TYPE &&
        header->AceType != ACCESS_ALLOWED_CALLBACK_ACE_TYPE) {
      continue;
    }
    auto* ace = reinterpret_cast<ACCESS_ALLOWED_ACE*>(header);
    if ((ace->Mask & kExposingAccess) == 0) continue;
    PSID sid = &ace->SidStart;
    if (EqualSid(sid, system.data()) || EqualSid(sid, administrators.data()) ||
        EqualSid(sid, self)) {
      continue;
    }
    const std::string name = AccountName(sid);
    if (std::find(reader_names.begin(), reader_names.end(), name) ==
        reader_names.end()) {
      reader_names.push_back(name);
      reader_sids.push_back(SidString(sid));
    }
  }
  if (!reader_names.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " ", path, " may be read by ", absl::StrJoin(reader_names, ", "),
        ", so the secret may be known to other users; ",
        FixCommand(path, reader_sids, self, needs_own_entry),
        ", then start again"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> UnprotectSecret(const std::string& content,
                                            absl::string_view path,
                                            absl::string_view what) {
  if (!absl::StartsWith(content, kDpapiPrefix)) return content;
  const std::string redo = absl::StrCat(
      "; it must be protected on this same machine: run `adsync-agent.exe "
      "protect-secret --in SECRET_FILE --out \"",
      path,
      "\"` here (SECRET_FILE holding the plain secret, or - to type it), or "
      "write the plain secret into it and keep it private");
  std::string blob;
  if (!absl::Base64Unescape(content.substr(kDpapiPrefix.size()), &blob)) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path, " starts with ", kDpapiPrefix,
                     " but the rest is not base64, so it was damaged", redo));
  }
  DATA_BLOB in{static_cast<DWORD>(blob.size()),
               reinterpret_cast<BYTE*>(blob.data())};
  DATA_BLOB out{0, nullptr};
  if (!CryptUnprotectData(&in, nullptr, nullptr, nullptr, nullptr,
                          CRYPTPROTECT_UI_FORBIDDEN, &out)) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path,
                     " holds a DPAPI blob this machine cannot "
                     "decrypt (",
                     Win32ErrorText(GetLastError()), ")", redo));
  }
  std::unique_ptr<BYTE, LocalFreeDeleter> owned(out.pbData);
  std::string secret(reinterpret_cast<const char*>(out.pbData), out.cbData);
  SecureZeroMemory(out.pbData, out.cbData);
  return secret;
}

}  // namespace adsync
