// Which objectGUIDs an org may already have: a Bloom filter kept beside the
// profiles table so that an account never seen before (every account of a
// first full sync) is written without first being looked up.
//
// Contract: MayContain() is false only for a GUID never Add()ed. The store
// adds every GUID before it writes the profile row, so "false" is exact and
// "true" is checked in the table. Entries are never removed (a deleted or
// rolled-back row leaves a false positive, which only costs a lookup).
// Not thread-safe: the store uses it under its write lock.
#ifndef ADSYNC_COORDINATOR_ACCOUNT_FILTER_H_
#define ADSYNC_COORDINATOR_ACCOUNT_FILTER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace adsync {

class AccountFilter {
 public:
  // Sized for `capacity` GUIDs at about 1% false positives.
  explicit AccountFilter(size_t capacity);

  void Add(absl::string_view guid);
  bool MayContain(absl::string_view guid) const;

  // More GUIDs than it was sized for: false positives climb; rebuild it
  // larger.
  bool full() const { return added_ > capacity_; }
  size_t capacity() const { return capacity_; }

 private:
  static constexpr int kProbes = 7;  // optimal for 10 bits per entry
  std::array<uint64_t, kProbes> Bits(absl::string_view guid) const;

  size_t capacity_;
  size_t added_ = 0;
  std::vector<uint64_t> bits_;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_ACCOUNT_FILTER_H_
