// A small blocking HTTP client over libcurl, with a deadline on every
// request. Used by the coordinator to talk to K12Panel and by tests.
// Thread-safety: each call is independent; safe from any thread once
// InitHttpClient() has run.
#ifndef ADSYNC_COMMON_HTTP_CLIENT_H_
#define ADSYNC_COMMON_HTTP_CLIENT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace adsync {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::map<std::string, std::string> headers;
  std::string body;
  absl::Duration timeout = absl::Seconds(30);
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Call once per process before any thread uses the client.
void InitHttpClient();

// Transport failures (refused, reset, timed out) are Unavailable; any HTTP
// status, including errors, comes back as a response.
absl::StatusOr<HttpResponse> SendHttp(const HttpRequest& request);

}  // namespace adsync

#endif  // ADSYNC_COMMON_HTTP_CLIENT_H_
