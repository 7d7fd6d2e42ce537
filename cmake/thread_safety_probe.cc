// Compiled twice at configure time under ADSYNC_THREAD_SAFETY
// (CMakeLists.txt): with PROBE_LOCKED it must compile, without it it must
// not, because it reads a guarded member without its lock. This proves that
// clang's lock checking is really on; a build that silently lost the flag
// would pass with every annotation ignored.
#include "absl/base/thread_annotations.h"

class ABSL_LOCKABLE Lock {
 public:
  void Acquire() ABSL_EXCLUSIVE_LOCK_FUNCTION() {}
  void Release() ABSL_UNLOCK_FUNCTION() {}
};

class Counter {
 public:
  int Read() {
#ifdef PROBE_LOCKED
    mu_.Acquire();
    const int value = value_;
    mu_.Release();
    return value;
#else
    return value_;  // no lock held: -Wthread-safety rejects this
#endif
  }

 private:
  Lock mu_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
};

int ReadCounter() { return Counter().Read(); }
