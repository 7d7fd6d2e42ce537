#include "common/net.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace adsync {
namespace {

bool ParseAddress(const std::string& s, int* family, unsigned char* out) {
  if (inet_pton(AF_INET, s.c_str(), out) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out) == 1) {
    // Treat ::ffff:a.b.c.d as the IPv4 address it carries.
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0,    0,
                                                  0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out, kMapped, 12) == 0) {
      std::memmove(out, out + 12, 4);
      *family = AF_INET;
      return true;
    }
    *family = AF_INET6;
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<IpRange> ParseIpRange(absl::string_view text) {
  IpRange range;
  std::string address(text);
  int prefix = -1;
  const size_t slash = address.find('/');
  if (slash != std::string::npos) {
    if (!absl::SimpleAtoi(address.substr(slash + 1), &prefix)) prefix = -2;
    address.resize(slash);
  }
  if (!ParseAddress(address, &range.family, range.addr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text,
        "\" is not an IP address or CIDR block; use e.g. 203.0.113.7, "
        "203.0.113.0/24 or 2001:db8::/48"));
  }
  const int max_prefix = range.family == AF_INET ? 32 : 128;
  if (prefix == -1) prefix = max_prefix;
  if (prefix < 0 || prefix > max_prefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": prefix length must be 0..", max_prefix));
  }
  range.prefix_len = prefix;
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(range.family, range.addr, buf, sizeof(buf));
  range.text =
      prefix == max_prefix ? std::string(buf) : absl::StrCat(buf, "/", prefix);
  return range;
}

bool IsLoopbackListenAddress(absl::string_view listen) {
  if (absl::StartsWith(listen, "unix:")) return true;
  absl::string_view host = listen;
  if (absl::ConsumePrefix(&host, "[")) {
    host = host.substr(0, host.find(']'));
  } else {
    host = host.substr(0, host.rfind(':'));
  }
  if (host == "localhost") return true;
  int family;
  unsigned char addr[16];
  if (!ParseAddress(std::string(host), &family, addr)) return false;
  if (family == AF_INET) return addr[0] == 127;
  static const unsigned char kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                               0, 0, 0, 0, 0, 0, 0, 1};
  return std::equal(addr, addr + 16, kLoopback6);
}

absl::StatusOr<std::string> PeerAddress(absl::string_view peer) {
  absl::string_view rest = peer;
  std::string host;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    const size_t colon = rest.rfind(':');
    host = std::string(rest.substr(0, colon));
  } else if (absl::ConsumePrefix(&rest, "ipv6:")) {
    const size_t close = rest.find(']');
    if (!absl::ConsumePrefix(&rest, "[") || close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("unrecognized peer \"", peer, "\""));
    }
    host = std::string(rest.substr(0, close - 1));
    // Strip a zone id ("fe80::1%eth0").
    host = host.substr(0, host.find('%'));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "peer \"", peer,
        "\" is not an IP connection; agents must connect over TCP"));
  }
  int family;
  unsigned char addr[16];
  if (!ParseAddress(host, &family, addr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unrecognized peer address \"", host, "\""));
  }
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family, addr, buf, sizeof(buf));
  return std::string(buf);
}

bool AddressInRanges(absl::string_view address,
                     const std::vector<IpRange>& ranges) {
  int family;
  unsigned char addr[16];
  if (!ParseAddress(std::string(address), &family, addr)) return false;
  for (const IpRange& r : ranges) {
    if (r.family != family) continue;
    const int full = r.prefix_len / 8;
    const int bits = r.prefix_len % 8;
    if (std::memcmp(addr, r.addr, full) != 0) continue;
    if (bits != 0) {
      const unsigned char mask = static_cast<unsigned char>(0xff << (8 - bits));
      if ((addr[full] & mask) != (r.addr[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

}  // namespace adsync
