#include "agent/windows_secret_file.h"

#include <windows.h>
// Windows headers after windows.h.
#include <sddl.h>
#include <wincrypt.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/private_file.h"
#include "common/status_macros.h"
#include "common/windows_api.h"

namespace adsync {
namespace {

absl::Status FileError(DWORD error, absl::string_view action,
                       absl::string_view path) {
  std::string next;
  switch (Win32ErrorCode(error)) {
    case absl::StatusCode::kPermissionDenied:
      next = "; run it from an elevated prompt (Run as administrator)";
      break;
    case absl::StatusCode::kNotFound:
      next = "; create the folder first";
      break;
    default:
      next = "; check the path and the free space on its volume";
  }
  return absl::Status(Win32ErrorCode(error),
                      absl::StrCat("cannot ", action, " ", path, ": ",
                                   Win32ErrorText(error), next));
}

absl::StatusOr<std::string> ProtectWithDpapi(absl::string_view secret) {
  DATA_BLOB in{static_cast<DWORD>(secret.size()),
               reinterpret_cast<BYTE*>(const_cast<char*>(secret.data()))};
  DATA_BLOB out{0, nullptr};
  if (!CryptProtectData(&in, L"adsync-agent secret", nullptr, nullptr, nullptr,
                        CRYPTPROTECT_LOCAL_MACHINE | CRYPTPROTECT_UI_FORBIDDEN,
                        &out)) {
    return absl::UnknownError(absl::StrCat(
        "cannot encrypt the secret with DPAPI: ",
        Win32ErrorText(GetLastError()),
        "; check that the Windows DPAPI service (CryptSvc) is running"));
  }
  std::unique_ptr<BYTE, LocalFreeDeleter> owned(out.pbData);
  return absl::StrCat(
      kDpapiPrefix,
      absl::Base64Escape(absl::string_view(
          reinterpret_cast<const char*>(out.pbData), out.cbData)));
}

// Writes `content` into a new file `path` that has the private DACL from
// its creation, so that it is never readable by others, not even briefly.
absl::Status CreatePrivateFile(const std::wstring& path,
                               absl::string_view content,
                               absl::string_view display_path) {
  // Owned by Administrators and readable only by kPrivateFileSids
  // (common/private_file.h), the rule CheckFileIsPrivate applies.
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
          Utf8ToWide(PrivateFileSddl()).c_str(), SDDL_REVISION_1, &descriptor,
          nullptr)) {
    return absl::InternalError(
        absl::StrCat("cannot build the private file permissions: ",
                     Win32ErrorText(GetLastError())));
  }
  std::unique_ptr<void, LocalFreeDeleter> owned(descriptor);
  SECURITY_ATTRIBUTES attributes{sizeof(attributes), descriptor, FALSE};
  // CREATE_NEW: Windows applies the descriptor only to a file it creates.
  HANDLE file = CreateFileW(path.c_str(), GENERIC_WRITE, 0, &attributes,
                            CREATE_NEW, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file == INVALID_HANDLE_VALUE) {
    return FileError(GetLastError(), "create", display_path);
  }
  DWORD written = 0;
  const bool ok =
      WriteFile(file, content.data(), static_cast<DWORD>(content.size()),
                &written, nullptr) &&
      written == content.size() && FlushFileBuffers(file);
  const DWORD error = GetLastError();
  CloseHandle(file);
  if (!ok) return FileError(error, "write", display_path);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadSecretToProtect(absl::string_view in) {
  std::string input;
  std::string source;
  if (in == "-") {
    source = "standard input";
    HANDLE console = GetStdHandle(STD_INPUT_HANDLE);
    DWORD mode = 0;
    if (GetConsoleMode(console, &mode)) {
      // Typed: not shown on screen, and Enter ends it.
      std::fprintf(stderr, "secret (not shown): ");
      SetConsoleMode(console, mode & ~ENABLE_ECHO_INPUT);
      std::getline(std::cin, input);
      SetConsoleMode(console, mode);
      std::fprintf(stderr, "\n");
    } else {
      input.assign(std::istreambuf_iterator<char>(std::cin),
                   std::istreambuf_iterator<char>());
    }
  } else {
    source = std::string(in);
    ASSIGN_OR_RETURN(input, ReadFile(in));
  }
  std::string secret(absl::StripAsciiWhitespace(input));
  SecureZeroMemory(input.data(), input.size());
  if (secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source,
        " is empty; give the secret (the AD Sync key or the LDAP "
        "password) in a file, or with --in - type it or pipe it in"));
  }
  if (absl::StartsWith(secret, kDpapiPrefix)) {
    return UnprotectSecret(secret, source, "protected secret");
  }
  return secret;
}

absl::Status WriteProtectedSecretFile(absl::string_view path,
                                      absl::string_view secret) {
  if (secret.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing to write an empty secret to ", path));
  }
  ASSIGN_OR_RETURN(std::string content, ProtectWithDpapi(secret));
  absl::StrAppend(&content, "\r\n");

  // A new file renamed over the old one: the old file's DACL (perhaps the
  // very one that made it unsafe) goes with it, and readers see the old or
  // the new secret, never a partial one.
  const std::string temp = absl::StrCat(path, ".new");
  const std::wstring wide_temp = Utf8ToWide(temp);
  const std::wstring wide_path = Utf8ToWide(path);
  DeleteFileW(wide_temp.c_str());  // a leftover of an interrupted run
  RETURN_IF_ERROR(CreatePrivateFile(wide_temp, content, temp));
  if (!MoveFileExW(wide_temp.c_str(), wide_path.c_str(),
                   MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    const DWORD error = GetLastError();
    DeleteFileW(wide_temp.c_str());
    return FileError(error, "replace", path);
  }

  // What the agent will do at start-up; catches a volume that keeps no
  // permissions (FAT, some network shares) before the operator relies on it.
  absl::StatusOr<std::string> read_back = ReadSecretFile(path, "secret file");
  if (!read_back.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wrote ", path,
        " but the agent would refuse it: ", read_back.status().message(),
        " (keep secrets on a local NTFS volume, e.g. under "
        "C:\\ProgramData\\adsync)"));
  }
  if (*read_back != secret) {
    return absl::InternalError(absl::StrCat(
        "wrote ", path,
        " but reading it back did not give the secret that was written; "
        "delete it and report this as a bug"));
  }
  return absl::OkStatus();
}

}  // namespace adsync
