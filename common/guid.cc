#include "common/guid.h"

#include <openssl/rand.h>

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace adsync {
namespace {

// Byte order of the text form's 16 bytes within AD's binary layout.
constexpr int kTextOrder[16] = {3, 2, 1,  0,  5,  4,  7,  6,
                                8, 9, 10, 11, 12, 13, 14, 15};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> GuidBinaryToString(absl::string_view binary) {
  if (binary.size() != 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("a binary GUID must be 16 bytes, got ", binary.size()));
  }
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    absl::StrAppendFormat(&out, "%02x",
                          static_cast<uint8_t>(binary[kTextOrder[i]]));
  }
  return out;
}

absl::StatusOr<std::string> GuidStringToBinary(absl::string_view text) {
  absl::string_view t = text;
  if (t.size() == 38 && t.front() == '{' && t.back() == '}') {
    t = t.substr(1, 36);
  }
  auto bad = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text,
                     "\" is not a GUID; expected 8-4-4-4-12 hex digits, e.g. "
                     "95aeb0f1-75d2-4126-ba5c-a877fd138d42"));
  };
  if (t.size() != 36) return bad();
  std::string binary(16, '\0');
  int byte = 0;
  for (size_t i = 0; i < t.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (t[i] != '-') return bad();
      ++i;
      continue;
    }
    int hi = HexValue(t[i]);
    int lo = HexValue(t[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    binary[kTextOrder[byte++]] = static_cast<char>(hi << 4 | lo);
    i += 2;
  }
  return binary;
}

absl::StatusOr<std::string> CanonicalGuid(absl::string_view text,
                                          absl::string_view what) {
  auto binary = GuidStringToBinary(absl::StripAsciiWhitespace(text));
  if (!binary.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", binary.status().message()));
  }
  return GuidBinaryToString(*binary);
}

std::string NewRandomGuid() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // The CSPRNG failing means keys cannot be made safely; never fall back.
    std::abort();
  }
  bytes[7] = (bytes[7] & 0x0f) | 0x40;  // version 4 (byte 7 = text byte 6)
  bytes[8] = (bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant
  return *GuidBinaryToString(
      absl::string_view(reinterpret_cast<char*>(bytes), 16));
}

}  // namespace adsync
