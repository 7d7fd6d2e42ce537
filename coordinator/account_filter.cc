#include "coordinator/account_filter.h"

#include <algorithm>

namespace adsync {
namespace {

// splitmix64's finalizer: objectGUIDs are mostly random, but not all of
// them (and test GUIDs are sequential), so mix before probing.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t Load64(absl::string_view bytes, size_t offset) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && offset + i < bytes.size(); ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[offset + i]))
         << (8 * i);
  return v;
}

}  // namespace

AccountFilter::AccountFilter(size_t capacity)
    : capacity_(std::max<size_t>(capacity, 1024)),
      bits_((capacity_ * 10 + 63) / 64, 0) {}

std::array<uint64_t, AccountFilter::kProbes> AccountFilter::Bits(
    absl::string_view guid) const {
  // Double hashing: probe i is h1 + i * h2.
  // Both halves feed both hashes: some GUIDs differ only in one half.
  const uint64_t a = Load64(guid, 0);
  const uint64_t b = Load64(guid, 8);
  const uint64_t h1 = Mix(a + Mix(b));
  const uint64_t h2 = Mix(b + Mix(a ^ 0x9e3779b97f4a7c15ULL)) | 1;
  const uint64_t nbits = bits_.size() * 64;
  std::array<uint64_t, kProbes> out;
  for (int i = 0; i < kProbes; ++i) out[i] = (h1 + i * h2) % nbits;
  return out;
}

void AccountFilter::Add(absl::string_view guid) {
  for (uint64_t bit : Bits(guid)) bits_[bit / 64] |= uint64_t{1} << (bit % 64);
  ++added_;
}

bool AccountFilter::MayContain(absl::string_view guid) const {
  for (uint64_t bit : Bits(guid)) {
    if ((bits_[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
  }
  return true;
}

}  // namespace adsync
