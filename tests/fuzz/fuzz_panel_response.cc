// Fuzzes the parsing of K12Panel's answers (People pages, batchUpdate
// results): JSON from another service over the network.
#include <cstddef>
#include <cstdint>

#include "adsync/v1/panel.pb.h"
#include "coordinator/panel_sync.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  adsync::v1::ListPeopleResponse page;
  if (adsync::ParsePanelJson(body, &page).ok())
    (void)adsync::PeopleOfPage(page);
  adsync::v1::BatchUpdateResponse result;
  (void)adsync::ParsePanelJson(body, &result);
  return 0;
}
