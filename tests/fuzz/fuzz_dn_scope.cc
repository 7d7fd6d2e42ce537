// Fuzzes the agent's scope test on DNs a DC sends (IsUnderDn) against the
// properties in tests/support/dn_scope_properties.h, and for reads past the
// input. The input is three DNs split at newlines: an object, a base, and a
// base above it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "tests/support/dn_scope_properties.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> dns = absl::StrSplit(in, absl::MaxSplits('\n', 2));
  dns.resize(3);
  if (!adsync::testing::DnScopeHolds(dns[0], dns[1], dns[2])) std::abort();
  return 0;
}
