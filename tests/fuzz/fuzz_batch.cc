// Fuzzes what an agent sends: bytes parsed as an AgentMessage, then the
// coordinator's checks and conversion (PrepareBatch) and the merge rules
// on whatever passes.
#include <cstddef>
#include <cstdint>

#include "adsync/v1/agent.pb.h"
#include "coordinator/merge_rules.h"
#include "coordinator/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  adsync::v1::AgentMessage message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (!message.has_batch()) return 0;
  auto prepared =
      adsync::PrepareBatch(message.mutable_batch(), adsync::BatchLimits{});
  if (!prepared.ok()) return 0;
  adsync::AccountState merged;
  for (const adsync::AccountState& a : prepared->accounts) {
    (void)adsync::NothingNewer(merged.stamps, a.stamps);
    (void)adsync::MergeAccount(a, &merged);
    (void)adsync::DecodeStamps(adsync::EncodeStamps(a.stamps));
  }
  return 0;
}
