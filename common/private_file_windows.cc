// common/private_file.h for Windows: the file's DACL decides who may read a
// secret, and DPAPI (machine scope) may additionally encrypt it.
//
// The owner is checked as well as the DACL: an owner may always read and
// rewrite the DACL, so it must be SYSTEM, Administrators or the account the
// agent runs as, unless an OWNER RIGHTS entry limits what the owner may do.
// The same walk decides who may change a config or CA file (GuardedAccess).
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
#include <cstring>
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

// Access that lets its holder learn a secret: reading the data, or
// rewriting the DACL or the owner so as to read it. FILE_ALL_ACCESS and the
// generic rights include FILE_READ_DATA once mapped, but an ACE may carry
// them unmapped.
constexpr ACCESS_MASK kReadingAccess =
    FILE_READ_DATA | GENERIC_READ | GENERIC_ALL | WRITE_DAC | WRITE_OWNER;
// Access that lets its holder change what a config or CA file says: its
// data, its DACL or owner (to then change the data), or deleting it (to put
// another file in its place).
constexpr ACCESS_MASK kWritingAccess = FILE_WRITE_DATA | FILE_APPEND_DATA |
                                       WRITE_DAC | WRITE_OWNER | GENERIC_WRITE |
                                       GENERIC_ALL | DELETE;

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

SidBuffer SidFromString(const char* text) {
  PSID sid = nullptr;
  // Cannot fail for the constant SIDs of private_file.h.
  if (!ConvertStringSidToSidA(text, &sid)) return SidBuffer();
  std::unique_ptr<void, LocalFreeDeleter> owned(sid);
  const BYTE* begin = static_cast<const BYTE*>(sid);
  return SidBuffer(begin, begin + GetLengthSid(sid));
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

bool IsDenyAce(BYTE type) {
  return type == ACCESS_DENIED_ACE_TYPE ||
         type == ACCESS_DENIED_OBJECT_ACE_TYPE ||
         type == ACCESS_DENIED_CALLBACK_ACE_TYPE ||
         type == ACCESS_DENIED_CALLBACK_OBJECT_ACE_TYPE;
}

// The access mask of any ACE (it follows the header in every type), or all
// access for one too short to hold it.
ACCESS_MASK AceMask(const ACE_HEADER* header) {
  if (header->AceSize < sizeof(ACE_HEADER) + sizeof(ACCESS_MASK)) {
    return ~ACCESS_MASK{0};
  }
  ACCESS_MASK mask;
  std::memcpy(&mask, reinterpret_cast<const BYTE*>(header) + sizeof(ACE_HEADER),
              sizeof(mask));
  return mask;
}

// The SID an ACE applies to: after the mask, or for the object types after
// their optional GUIDs. nullptr when it does not fit in the ACE.
PSID AceSid(ACE_HEADER* header) {
  BYTE* const begin = reinterpret_cast<BYTE*>(header);
  BYTE* const end = begin + header->AceSize;
  BYTE* sid = begin + sizeof(ACE_HEADER) + sizeof(ACCESS_MASK);
  switch (header->AceType) {
    case ACCESS_ALLOWED_OBJECT_ACE_TYPE:
    case ACCESS_DENIED_OBJECT_ACE_TYPE:
    case SYSTEM_AUDIT_OBJECT_ACE_TYPE:
    case SYSTEM_ALARM_OBJECT_ACE_TYPE:
    case ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE:
    case ACCESS_DENIED_CALLBACK_OBJECT_ACE_TYPE:
    case SYSTEM_AUDIT_CALLBACK_OBJECT_ACE_TYPE:
    case SYSTEM_ALARM_CALLBACK_OBJECT_ACE_TYPE: {
      DWORD flags;
      if (sid + sizeof(flags) > end) return nullptr;
      std::memcpy(&flags, sid, sizeof(flags));
      sid += sizeof(flags);
      if (flags & ACE_OBJECT_TYPE_PRESENT) sid += sizeof(GUID);
      if (flags & ACE_INHERITED_OBJECT_TYPE_PRESENT) sid += sizeof(GUID);
      break;
    }
    default:
      break;
  }
  // A SID's fixed part (revision, count, authority) is 8 bytes.
  if (sid + 8 > end || !IsValidSid(sid) || sid + GetLengthSid(sid) > end) {
    return nullptr;
  }
  return sid;
}

// How to fix `path`: protect-secret rewrites a secret as a new file whose
// DACL has only SYSTEM and Administrators; icacls fixes any file in place.
// icacls takes SIDs (*S-...) because account names are translated on
// non-English Windows. When `needs_own_entry`, the account running the agent
// (a gMSA) must be granted read again afterwards.
std::string FixCommand(absl::string_view path,
                       const std::vector<std::string>& holder_sids,
                       PSID process_user, bool needs_own_entry,
                       GuardedAccess guarded) {
  std::string remove;
  for (const std::string& sid : holder_sids)
    absl::StrAppend(&remove, " /remove:g *", sid);
  std::string grant;
  for (const char* sid : kPrivateFileSids)
    absl::StrAppend(&grant, " *", sid, ":F");
  const std::string icacls = absl::StrCat(
      "`icacls \"", path, "\" /inheritance:r", remove, " /grant:r", grant,
      "` and `icacls \"", path, "\" /setowner *", kAdministratorsSid, "`");
  std::string fix =
      guarded == GuardedAccess::kRead
          ? absl::StrCat("run `adsync-agent.exe protect-secret --in \"", path,
                         "\" --out \"", path, "\"` (or: ", icacls,
                         ", which leave SYSTEM and Administrators)")
          : absl::StrCat("run ", icacls,
                         ", which let only SYSTEM and Administrators change "
                         "(and read) it");
  if (needs_own_entry) {
    absl::StrAppend(&fix, ", then `icacls \"", path, "\" /grant *",
                    SidString(process_user), ":R` so that ",
                    AccountName(process_user),
                    ", which runs the agent, can "
                    "read it");
  }
  return fix;
}

// The file's owner and DACL; NotFound when it does not exist.
absl::StatusOr<std::unique_ptr<void, LocalFreeDeleter>> ReadDescriptor(
    absl::string_view path, absl::string_view what) {
  const std::wstring wide_path = Utf8ToWide(path);
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  const DWORD error = GetNamedSecurityInfoW(
      wide_path.c_str(), SE_FILE_OBJECT,
      OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, nullptr, nullptr,
      nullptr, nullptr, &descriptor);
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
  return std::unique_ptr<void, LocalFreeDeleter>(descriptor);
}

}  // namespace

std::string PrivateFileSddl() {
  std::string sddl = absl::StrCat("O:", kAdministratorsSid, "D:P");
  for (const char* sid : kPrivateFileSids)
    absl::StrAppend(&sddl, "(A;;FA;;;", sid, ")");
  return sddl;
}

absl::Status CheckDescriptorIsPrivate(void* descriptor, GuardedAccess guarded,
                                      absl::string_view path,
                                      absl::string_view what) {
  ASSIGN_OR_RETURN(SidBuffer process_user, ProcessUserSid());
  PSID self = process_user.data();
  std::vector<SidBuffer> allowed;
  for (const char* sid : kPrivateFileSids)
    allowed.push_back(SidFromString(sid));
  auto is_allowed = [&](PSID sid) {
    if (sid == nullptr) return false;
    for (SidBuffer& a : allowed) {
      if (!a.empty() && EqualSid(sid, a.data())) return true;
    }
    return EqualSid(sid, self) != FALSE;
  };
  // SYSTEM and administrators read the file through its SYSTEM and
  // Administrators entries; any other account running the agent (a gMSA)
  // needs one of its own after the fix.
  SidBuffer administrators = SidFromString(kAdministratorsSid);
  BOOL is_administrator = FALSE;
  CheckTokenMembership(nullptr, administrators.data(), &is_administrator);
  const bool needs_own_entry =
      !EqualSid(self, SidFromString(kSystemSid).data()) && !is_administrator;

  const bool read = guarded == GuardedAccess::kRead;
  const ACCESS_MASK guarded_mask = read ? kReadingAccess : kWritingAccess;
  const char* const may = read ? " may be read by " : " may be changed by ";
  const std::string risk =
      read ? "so the secret may be known to other users"
           : "who could make the agent send the AD Sync key to a server of "
             "their choosing";

  PSID owner = nullptr;
  BOOL defaulted = FALSE;
  GetSecurityDescriptorOwner(descriptor, &owner, &defaulted);
  BOOL dacl_present = FALSE;
  PACL dacl = nullptr;
  GetSecurityDescriptorDacl(descriptor, &dacl_present, &dacl, &defaulted);
  if (!dacl_present || dacl == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " ", path, " has no DACL (a NULL DACL), so everyone may ",
        read ? "read" : "change", " it, ", risk, "; ",
        FixCommand(path, {}, self, needs_own_entry, guarded),
        ", then start again"));
  }

  // Every entry that is not a deny counts by its mask, whatever its type:
  // one this code does not know must not let a file through.
  SidBuffer owner_rights = WellKnownSid(WinCreatorOwnerRightsSid);
  bool owner_limited = false;  // an OWNER RIGHTS entry replaces its rights
  std::vector<std::string> holder_names;
  std::vector<std::string> holder_sids;
  auto add = [&](const std::string& name, const std::string& sid) {
    if (std::find(holder_names.begin(), holder_names.end(), name) !=
        holder_names.end()) {
      return;
    }
    holder_names.push_back(name);
    if (!sid.empty()) holder_sids.push_back(sid);
  };
  for (DWORD i = 0; i < dacl->AceCount; ++i) {
    ACE_HEADER* header = nullptr;
    if (!GetAce(dacl, i, reinterpret_cast<void**>(&header))) continue;
    // Inherit-only ACEs are for files created inside a folder, not this one.
    if (header->AceFlags & INHERIT_ONLY_ACE) continue;
    if (IsDenyAce(header->AceType)) continue;
    PSID sid = AceSid(header);
    const bool for_owner = sid != nullptr && EqualSid(sid, owner_rights.data());
    if (for_owner) owner_limited = true;
    if ((AceMask(header) & guarded_mask) == 0) continue;
    if (sid == nullptr) {
      add(absl::StrCat("an access entry of type ",
                       static_cast<int>(header->AceType),
                       " that names no readable account"),
          "");
    } else if (for_owner) {
      if (is_allowed(owner)) continue;
      add(absl::StrCat(owner ? AccountName(owner) : "nobody",
                       " (its owner, by an OWNER RIGHTS entry)"),
          SidString(sid));
    } else if (!is_allowed(sid)) {
      add(AccountName(sid), SidString(sid));
    }
  }
  // The owner may always read and change the DACL, and so grant itself
  // anything, unless an OWNER RIGHTS entry says what it may do.
  if (!owner_limited && !is_allowed(owner)) {
    add(absl::StrCat(
            owner ? AccountName(owner) : "anyone (it has no owner)",
            owner ? " (its owner, who may change its permissions)" : ""),
        "");
  }
  if (!holder_names.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " ", path, may, absl::StrJoin(holder_names, ", "), ", ", risk,
        "; ", FixCommand(path, holder_sids, self, needs_own_entry, guarded),
        ", then start again"));
  }
  return absl::OkStatus();
}

absl::Status CheckFileIsPrivate(absl::string_view path,
                                absl::string_view what) {
  ASSIGN_OR_RETURN(auto descriptor, ReadDescriptor(path, what));
  return CheckDescriptorIsPrivate(descriptor.get(), GuardedAccess::kRead, path,
                                  what);
}

absl::Status CheckFileIsAdminWritable(absl::string_view path,
                                      absl::string_view what) {
  ASSIGN_OR_RETURN(auto descriptor, ReadDescriptor(path, what));
  return CheckDescriptorIsPrivate(descriptor.get(), GuardedAccess::kWrite, path,
                                  what);
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
