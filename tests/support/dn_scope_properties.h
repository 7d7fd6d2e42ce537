// What IsUnderDn (agent/change_tracker.h) must hold for any three DNs,
// however a DC or an operator spells them: shared by agent_test's random
// cases and the fuzz_dn_scope fuzzer.
//
//   if (!DnScopeHolds(object, base, top)) std::abort();
#ifndef ADSYNC_TESTS_SUPPORT_DN_SCOPE_PROPERTIES_H_
#define ADSYNC_TESTS_SUPPORT_DN_SCOPE_PROPERTIES_H_

#include <string>

#include "agent/change_tracker.h"

namespace adsync::testing {

// Scope is transitive, every DN is in its own, and a child of an object in
// scope is in scope: no spelling lets an object outside a base count as
// inside it through another. They do not pin what each escape means (an
// IsUnderDn that stopped re-escaping a decoded "\5C" keeps them): the
// example tests in agent_test do that.
inline bool DnScopeHolds(const std::string& object, const std::string& base,
                         const std::string& top) {
  const bool in_base = IsUnderDn(object, base);
  if (in_base && IsUnderDn(base, top) && !IsUnderDn(object, top)) return false;
  // An empty DN names nothing.
  if (!object.empty() && !IsUnderDn(object, object)) return false;
  // A DN's leading spaces are kept, and dropped after a comma: such an
  // object is left out here.
  if (in_base && object[0] != ' ' && !IsUnderDn("CN=x," + object, base)) {
    return false;
  }
  return true;
}

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_SUPPORT_DN_SCOPE_PROPERTIES_H_
