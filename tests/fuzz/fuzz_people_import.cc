// Fuzzes the People import (OneRoster users.csv and plain CSV), which an
// operator uploads from a SIS export.
#include <cstddef>
#include <cstdint>

#include "coordinator/people_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view csv(reinterpret_cast<const char*>(data), size);
  (void)adsync::ParseCsv(csv);
  for (auto format : {adsync::v1::ImportPeopleRequest::FORMAT_UNSPECIFIED,
                      adsync::v1::ImportPeopleRequest::FORMAT_ONEROSTER,
                      adsync::v1::ImportPeopleRequest::FORMAT_PLAIN}) {
    (void)adsync::ParsePeopleCsv(csv, format);
  }
  return 0;
}
