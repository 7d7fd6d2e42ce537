// Reading the operator's files: secrets (keys, passwords, tokens) that must
// be private and comparing them, and text-format proto configuration.
// Thread-safe.
#ifndef ADSYNC_COMMON_FILES_H_
#define ADSYNC_COMMON_FILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace adsync {

// Reads a whole file. NotFound / PermissionDenied name the path.
absl::StatusOr<std::string> ReadFile(absl::string_view path);

// Reads a secret file and returns its content with surrounding whitespace
// removed. Refuses (FailedPrecondition) a file that group or others may read
// or write, naming the file, its mode and the chmod that fixes it; refuses an
// empty file. `what` names the secret ("AD Sync key file").
absl::StatusOr<std::string> ReadSecretFile(absl::string_view path,
                                           absl::string_view what);

// True when a presented secret (a bearer token) equals the expected one.
// The comparison reads every byte whatever differs, so answer times do not
// tell a client how much of its guess was right; only the length can leak.
bool SecretsEqual(absl::string_view presented, absl::string_view expected);

// Parses text-format proto `text` into `message`. Errors carry
// "<source>:<line>:<column>: <problem>" and unknown fields are errors.
absl::Status ParseTextProto(absl::string_view text, absl::string_view source,
                            google::protobuf::Message* message);

// ReadFile + ParseTextProto.
absl::Status LoadTextProtoFile(absl::string_view path,
                               google::protobuf::Message* message);

}  // namespace adsync

#endif  // ADSYNC_COMMON_FILES_H_
