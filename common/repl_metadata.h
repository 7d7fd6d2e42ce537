// Parser for AD's replPropertyMetaData attribute (the NDR-encoded
// replPropertyMetaDataBlob, version 1), which records for every attribute of
// an object the version and originating write that produced its value. This
// is what orders two controllers' views of one account (docs/design.md,
// rule 6). Thread-safe (pure).
#ifndef ADSYNC_COMMON_REPL_METADATA_H_
#define ADSYNC_COMMON_REPL_METADATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace adsync {

// Attribute IDs (ATTIDs) from the standard prefix table, as a Samba 4.17 DC
// reports them (verified by tests/agent_e2e_test against a real DC).
inline constexpr uint32_t kAttidDisplayName = 0x0002000d;
inline constexpr uint32_t kAttidIsDeleted = 0x00020030;
inline constexpr uint32_t kAttidProxyAddresses = 0x000200d2;
inline constexpr uint32_t kAttidUserAccountControl = 0x00090008;
inline constexpr uint32_t kAttidSamAccountName = 0x000900dd;
inline constexpr uint32_t kAttidUserPrincipalName = 0x00090290;
inline constexpr uint32_t kAttidMail = 0x00150003;

struct ReplAttributeMeta {
  uint32_t attid = 0;
  uint32_t version = 0;
  int64_t originating_time = 0;           // seconds since 1601-01-01 UTC
  std::string originating_invocation_id;  // 16 bytes
  uint64_t originating_usn = 0;
  uint64_t local_usn = 0;
};

// Layout (little-endian): uint32 version (=1), uint32 reserved, uint32 count,
// uint32 reserved, then `count` 48-byte entries: attid u32, version u32,
// originating time u64, originating invocationId 16 bytes, originating USN
// u64, local USN u64. Returns InvalidArgument for any other shape.
absl::StatusOr<std::vector<ReplAttributeMeta>> ParseReplPropertyMetaData(
    absl::string_view blob);

// One cursor of a DC's replUpToDateVector (on its naming-context head): how
// far this DC has applied the changes that originated on another DC.
struct UpToDateCursor {
  std::string invocation_id;     // the source DC's invocationId, 16 bytes
  int64_t usn = 0;               // highest of its USNs applied here
  int64_t last_sync_nttime = 0;  // 100 ns units since 1601; may be unset
};

// Parses a version-2 replUpToDateVector blob: uint32 version (=2), uint32
// reserved, uint32 count, uint32 reserved, then 32-byte cursors
// (invocationId, USN int64, NTTIME int64).
absl::StatusOr<std::vector<UpToDateCursor>> ParseUpToDateVector(
    absl::string_view blob);

// Inverse of the parser; used by tests and the synthetic benchmark agent.
std::string EncodeReplPropertyMetaData(
    const std::vector<ReplAttributeMeta>& entries);

}  // namespace adsync

#endif  // ADSYNC_COMMON_REPL_METADATA_H_
