#include "common/sid.h"

#include <cstdint>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace adsync {

absl::StatusOr<std::string> SidBinaryToString(absl::string_view b) {
  if (b.size() < 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("a binary SID needs at least 8 bytes, got ", b.size()));
  }
  const uint8_t revision = static_cast<uint8_t>(b[0]);
  const uint8_t count = static_cast<uint8_t>(b[1]);
  if (revision != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("SID revision must be 1, got ", revision));
  }
  if (count > 15) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SID has ", count, " sub-authorities; at most 15 are allowed"));
  }
  if (b.size() != 8u + 4u * count) {
    return absl::InvalidArgumentError(
        absl::StrCat("SID with ", count, " sub-authorities must be ",
                     8 + 4 * count, " bytes, got ", b.size()));
  }
  uint64_t authority = 0;
  for (int i = 2; i < 8; ++i) {
    authority = authority << 8 | static_cast<uint8_t>(b[i]);
  }
  std::string out = absl::StrCat("S-1-", authority);
  for (int i = 0; i < count; ++i) {
    const size_t p = 8 + 4 * i;
    uint32_t sub = static_cast<uint32_t>(static_cast<uint8_t>(b[p])) |
                   static_cast<uint32_t>(static_cast<uint8_t>(b[p + 1])) << 8 |
                   static_cast<uint32_t>(static_cast<uint8_t>(b[p + 2])) << 16 |
                   static_cast<uint32_t>(static_cast<uint8_t>(b[p + 3])) << 24;
    absl::StrAppend(&out, "-", sub);
  }
  return out;
}

absl::StatusOr<std::string> SidStringToBinary(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not a SID (", why,
        "); expected S-1-<authority>-<sub>..., e.g. S-1-5-21-1-2-3-1104"));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  if (parts.size() < 3 || (parts[0] != "S" && parts[0] != "s")) {
    return bad("must start with S-1-");
  }
  if (parts[1] != "1") return bad("revision must be 1");
  if (parts.size() - 3 > 15) return bad("more than 15 sub-authorities");
  uint64_t authority;
  if (!absl::SimpleAtoi(parts[2], &authority) || authority >= (1ull << 48)) {
    return bad("identifier authority is not a 48-bit number");
  }
  std::string b;
  b.push_back(1);
  b.push_back(static_cast<char>(parts.size() - 3));
  for (int i = 5; i >= 0; --i) {
    b.push_back(static_cast<char>((authority >> (8 * i)) & 0xff));
  }
  for (size_t i = 3; i < parts.size(); ++i) {
    uint32_t sub;
    if (parts[i].empty() || !absl::SimpleAtoi(parts[i], &sub)) {
      return bad("a sub-authority is not a 32-bit number");
    }
    for (int k = 0; k < 4; ++k) b.push_back(static_cast<char>(sub >> (8 * k)));
  }
  return b;
}

}  // namespace adsync
