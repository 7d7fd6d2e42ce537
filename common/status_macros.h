// Status propagation helpers. Debian 12's Abseil ships no status macros.
#ifndef ADSYNC_COMMON_STATUS_MACROS_H_
#define ADSYNC_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ADSYNC_CONCAT_INNER(a, b) a##b
#define ADSYNC_CONCAT(a, b) ADSYNC_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status adsync_status_ = (expr);          \
    if (!adsync_status_.ok()) return adsync_status_; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(ADSYNC_CONCAT(adsync_statusor_, __LINE__), lhs, expr)

#endif  // ADSYNC_COMMON_STATUS_MACROS_H_
