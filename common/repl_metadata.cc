#include "common/repl_metadata.h"

#include "absl/strings/str_cat.h"

namespace adsync {
namespace {

constexpr size_t kHeaderBytes = 16;
constexpr size_t kEntryBytes = 48;

uint64_t ReadLe(absl::string_view b, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = v << 8 | static_cast<uint8_t>(b[pos + i]);
  }
  return v;
}

void AppendLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out->push_back(static_cast<char>(v >> (8 * i)));
}

}  // namespace

absl::StatusOr<std::vector<ReplAttributeMeta>> ParseReplPropertyMetaData(
    absl::string_view blob) {
  if (blob.size() < kHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("replPropertyMetaData is ", blob.size(),
                     " bytes; a version-1 blob has a 16-byte header"));
  }
  const uint32_t version = ReadLe(blob, 0, 4);
  if (version != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("replPropertyMetaData version ", version,
                     " is not supported (only 1)"));
  }
  const uint64_t count = ReadLe(blob, 8, 4);
  if (blob.size() != kHeaderBytes + count * kEntryBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("replPropertyMetaData claims ", count, " entries (",
                     kHeaderBytes + count * kEntryBytes, " bytes) but is ",
                     blob.size(), " bytes"));
  }
  std::vector<ReplAttributeMeta> out(count);
  for (uint64_t i = 0; i < count; ++i) {
    const size_t p = kHeaderBytes + i * kEntryBytes;
    ReplAttributeMeta& m = out[i];
    m.attid = ReadLe(blob, p, 4);
    m.version = ReadLe(blob, p + 4, 4);
    const uint64_t time = ReadLe(blob, p + 8, 8);
    if (time > static_cast<uint64_t>(INT64_MAX)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "replPropertyMetaData entry ", i, " has an impossible time ", time));
    }
    m.originating_time = static_cast<int64_t>(time);
    m.originating_invocation_id = std::string(blob.substr(p + 16, 16));
    m.originating_usn = ReadLe(blob, p + 32, 8);
    m.local_usn = ReadLe(blob, p + 40, 8);
  }
  return out;
}

absl::StatusOr<std::vector<UpToDateCursor>> ParseUpToDateVector(
    absl::string_view blob) {
  constexpr size_t kCursorBytes = 32;
  if (blob.size() < kHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("replUpToDateVector is ", blob.size(),
                     " bytes; a version-2 blob has a 16-byte header"));
  }
  const uint32_t version = ReadLe(blob, 0, 4);
  if (version != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "replUpToDateVector version ", version, " is not supported (only 2)"));
  }
  const uint64_t count = ReadLe(blob, 8, 4);
  if (blob.size() != kHeaderBytes + count * kCursorBytes) {
    return absl::InvalidArgumentError(absl::StrCat("replUpToDateVector claims ",
                                                   count, " cursors but is ",
                                                   blob.size(), " bytes"));
  }
  std::vector<UpToDateCursor> out(count);
  for (uint64_t i = 0; i < count; ++i) {
    const size_t p = kHeaderBytes + i * kCursorBytes;
    out[i].invocation_id = std::string(blob.substr(p, 16));
    out[i].usn = static_cast<int64_t>(ReadLe(blob, p + 16, 8));
    out[i].last_sync_nttime = static_cast<int64_t>(ReadLe(blob, p + 24, 8));
  }
  return out;
}

std::string EncodeReplPropertyMetaData(
    const std::vector<ReplAttributeMeta>& entries) {
  std::string out;
  AppendLe(&out, 1, 4);
  AppendLe(&out, 0, 4);
  AppendLe(&out, entries.size(), 4);
  AppendLe(&out, 0, 4);
  for (const ReplAttributeMeta& m : entries) {
    AppendLe(&out, m.attid, 4);
    AppendLe(&out, m.version, 4);
    AppendLe(&out, static_cast<uint64_t>(m.originating_time), 8);
    std::string id = m.originating_invocation_id;
    id.resize(16, '\0');
    out += id;
    AppendLe(&out, m.originating_usn, 8);
    AppendLe(&out, m.local_usn, 8);
  }
  return out;
}

}  // namespace adsync
