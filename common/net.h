// Source-address checks for agents (docs/design.md, rule 1). Thread-safe
// (pure).
#ifndef ADSYNC_COMMON_NET_H_
#define ADSYNC_COMMON_NET_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace adsync {

// An address or CIDR block, IPv4 or IPv6 ("127.0.0.21", "10.1.0.0/16",
// "::1", "fd00::/8").
struct IpRange {
  int family = 0;  // AF_INET or AF_INET6
  unsigned char addr[16] = {};
  int prefix_len = 0;
  std::string text;  // canonical form as given back to operators
};

absl::StatusOr<IpRange> ParseIpRange(absl::string_view text);

// Extracts the address from a gRPC peer string ("ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000"). IPv4-mapped IPv6 addresses come back as IPv4.
// Returns InvalidArgument for other transports (unix sockets).
absl::StatusOr<std::string> PeerAddress(absl::string_view grpc_peer);

// True when a listen address ("127.0.0.1:7443", "[::1]:7443",
// "localhost:7443", "unix:/path") accepts connections only from this host.
// "0.0.0.0:7443" and "[::]:7443" are not.
bool IsLoopbackListenAddress(absl::string_view listen);

// True when `address` (a literal) lies in any of `ranges`.
bool AddressInRanges(absl::string_view address,
                     const std::vector<IpRange>& ranges);

}  // namespace adsync

#endif  // ADSYNC_COMMON_NET_H_
