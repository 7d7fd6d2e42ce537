// At the Win32 boundary: the project keeps strings (paths, names, messages)
// in UTF-8 while Win32's wide APIs take UTF-16, and Win32 errors are numbers
// that an operator needs as words and callers as absl status codes.
// Windows builds only. Header-only, so that common/ and agent/ share it
// without another library. Thread-safe (pure functions).
#ifndef ADSYNC_COMMON_WINDOWS_API_H_
#define ADSYNC_COMMON_WINDOWS_API_H_

#ifndef _WIN32
#error "common/windows_api.h is for the Windows build only"
#endif

#include <windows.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace adsync {

// UTF-8 to UTF-16; invalid sequences become U+FFFD rather than failing, so
// a bad byte in a path yields "file not found" naming it, not a crash.
inline std::wstring Utf8ToWide(absl::string_view utf8) {
  if (utf8.empty()) return std::wstring();
  const int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(),
                                    static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring wide(n, L'\0');
  MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()),
                      wide.data(), n);
  return wide;
}

inline std::string WideToUtf8(std::wstring_view wide) {
  if (wide.empty()) return std::string();
  const int n = WideCharToMultiByte(CP_UTF8, 0, wide.data(),
                                    static_cast<int>(wide.size()), nullptr, 0,
                                    nullptr, nullptr);
  std::string utf8(n, '\0');
  WideCharToMultiByte(CP_UTF8, 0, wide.data(), static_cast<int>(wide.size()),
                      utf8.data(), n, nullptr, nullptr);
  return utf8;
}

// "Access is denied (Win32 error 5)": the system's own words, in the
// system's language, with the number to search for.
inline std::string Win32ErrorText(DWORD error) {
  wchar_t* text = nullptr;
  const DWORD n = FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
          FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, error, 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
  std::string words;
  if (n != 0 && text != nullptr) {
    words = WideToUtf8(std::wstring_view(text, n));
    LocalFree(text);
  }
  // System messages end in ".\r\n"; the caller's sentence continues.
  absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(words);
  if (!trimmed.empty() && trimmed.back() == '.') trimmed.remove_suffix(1);
  if (trimmed.empty()) return absl::StrCat("Win32 error ", error);
  return absl::StrCat(trimmed, " (Win32 error ", error, ")");
}

// The status code that means what `error` means, for the errors the agent's
// Win32 calls (files, security, services, registry) report.
inline absl::StatusCode Win32ErrorCode(DWORD error) {
  switch (error) {
    case ERROR_ACCESS_DENIED:
    case ERROR_PRIVILEGE_NOT_HELD:
    case ERROR_INVALID_OWNER:  // an owner only an elevated token may set
      return absl::StatusCode::kPermissionDenied;
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_SERVICE_DOES_NOT_EXIST:
      return absl::StatusCode::kNotFound;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
    case ERROR_SERVICE_EXISTS:
      return absl::StatusCode::kAlreadyExists;
    case ERROR_SERVICE_MARKED_FOR_DELETE:
    case ERROR_SERVICE_DISABLED:
    case ERROR_SERVICE_LOGON_FAILED:
      return absl::StatusCode::kFailedPrecondition;
    case ERROR_INVALID_SERVICE_ACCOUNT:
      return absl::StatusCode::kInvalidArgument;
    case ERROR_TIMEOUT:
    case ERROR_SERVICE_REQUEST_TIMEOUT:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return absl::StatusCode::kUnknown;
  }
}

// For the buffers Win32 allocates with LocalAlloc (security descriptors,
// SID strings, DPAPI output).
struct LocalFreeDeleter {
  void operator()(void* p) const { LocalFree(p); }
};

}  // namespace adsync

#endif  // ADSYNC_COMMON_WINDOWS_API_H_
