#include "common/files.h"

#include <openssl/crypto.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/private_file.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace adsync {

absl::StatusOr<std::string> ReadFile(absl::string_view path) {
  // u8path: on Windows a narrow path would be read in the ANSI code page.
  std::ifstream in{std::filesystem::u8path(std::string(path)),
                   std::ios::binary};
  if (!in) {
    const int err = errno;
    const std::string msg =
        absl::StrCat("cannot open ", path, ": ", std::strerror(err));
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(msg, "; check the path"));
    }
#ifdef _WIN32
    return absl::PermissionDeniedError(absl::StrCat(
        msg,
        "; check the path and that the account the agent runs as may "
        "read it"));
#else
    return absl::PermissionDeniedError(
        absl::StrCat(msg, "; check the file's owner and mode"));
#endif
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

absl::StatusOr<std::string> ReadSecretFile(absl::string_view path,
                                           absl::string_view what) {
  if (absl::Status s = CheckFileIsPrivate(path, what); !s.ok()) return s;
  auto content = ReadFile(path);
  if (!content.ok()) return content.status();
  std::string stored(absl::StripAsciiWhitespace(*content));
  if (stored.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path, " is empty; write the secret into it"));
  }
  return UnprotectSecret(stored, path, what);
}

bool SecretsEqual(absl::string_view presented, absl::string_view expected) {
  return presented.size() == expected.size() &&
         CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

namespace {

class CollectingErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectingErrors(absl::string_view source) : source_(source) {}
  void AddError(int line, int column, const std::string& message) override {
    errors_.push_back(
        absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int line, int column, const std::string& message) override {
    AddError(line, column, message);
  }
  std::string Joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

}  // namespace

absl::Status ParseTextProto(absl::string_view text, absl::string_view source,
                            google::protobuf::Message* message) {
  CollectingErrors errors(source);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), message)) {
    return absl::InvalidArgumentError(absl::StrCat(
        errors.Joined(), " (fields are documented in proto/adsync/v1/",
        "config.proto and the examples in configs/)"));
  }
  return absl::OkStatus();
}

absl::Status LoadTextProtoFile(absl::string_view path,
                               google::protobuf::Message* message) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseTextProto(*text, path, message);
}

}  // namespace adsync
