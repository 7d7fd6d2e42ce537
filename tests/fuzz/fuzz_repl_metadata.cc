// Fuzzes the parsers of a DC's replication metadata (replPropertyMetaData,
// replUpToDateVector): attacker-influenced binary blobs read over LDAP.
// Round trip: what parses must re-encode to the same attributes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/repl_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view blob(reinterpret_cast<const char*>(data), size);
  auto meta = adsync::ParseReplPropertyMetaData(blob);
  if (meta.ok()) {
    auto again = adsync::ParseReplPropertyMetaData(
        adsync::EncodeReplPropertyMetaData(*meta));
    if (!again.ok() || again->size() != meta->size()) std::abort();
  }
  (void)adsync::ParseUpToDateVector(blob);
  return 0;
}
