// Parses People files an admin exports from the SIS or Google: OneRoster 1.1
// users.csv, or a plain "id,email[,email...]" CSV. Validation is all or
// nothing: any bad row fails the whole file, and the error lists every bad
// row by line number (up to a limit). Thread-safe (pure).
#ifndef ADSYNC_COORDINATOR_PEOPLE_IMPORT_H_
#define ADSYNC_COORDINATOR_PEOPLE_IMPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adsync/v1/admin.pb.h"
#include "coordinator/store.h"

namespace adsync {

// Splits CSV text (RFC 4180: quoted fields, "" escapes, CRLF or LF, quoted
// newlines) into rows; each row remembers the line it starts on.
struct CsvRow {
  int line = 0;
  std::vector<std::string> fields;
};
absl::StatusOr<std::vector<CsvRow>> ParseCsv(absl::string_view text);

// FORMAT_UNSPECIFIED detects OneRoster by a "sourcedId" header column.
// OneRoster: person id = sourcedId, name = givenName familyName, emails =
// email plus any userIds identifier that is an email; rows with status
// "tobedeleted" are skipped. Plain: id, then one or more emails; an
// optional header row starting with "id" is skipped.
absl::StatusOr<std::vector<Person>> ParsePeopleCsv(
    absl::string_view csv, adsync::v1::ImportPeopleRequest::Format format);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_PEOPLE_IMPORT_H_
