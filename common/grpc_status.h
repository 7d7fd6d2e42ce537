// absl::Status to grpc::Status. Both use the canonical codes of
// google.rpc.Code, so the code passes through unchanged; the message is
// copied (payloads stay in the process).
//
//   return ToGrpcStatus(store->AddOrg(name));
#ifndef ADSYNC_COMMON_GRPC_STATUS_H_
#define ADSYNC_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace adsync {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace adsync

#endif  // ADSYNC_COMMON_GRPC_STATUS_H_
