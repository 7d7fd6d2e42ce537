// Fuzzes SID and GUID conversions, binary and text, both directions: every
// SID that parses must format and parse back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/guid.h"
#include "common/sid.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  auto sid_text = adsync::SidBinaryToString(in);
  if (sid_text.ok()) {
    auto back = adsync::SidStringToBinary(*sid_text);
    if (!back.ok() || *back != in) std::abort();
  }
  (void)adsync::SidStringToBinary(in);
  auto guid_text = adsync::GuidBinaryToString(in);
  if (guid_text.ok()) {
    auto back = adsync::GuidStringToBinary(*guid_text);
    if (!back.ok() || *back != in) std::abort();
  }
  (void)adsync::GuidStringToBinary(in);
  (void)adsync::CanonicalGuid(in, "fuzz");
  return 0;
}
