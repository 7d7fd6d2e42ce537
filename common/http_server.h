// A minimal HTTP/1.1 server (panel-sim, /metrics): one thread per connection,
// keep-alive, Content-Length bodies. It serves tests and the demo on
// loopback; it is not meant to face the internet.
//
// Thread-safety: the handler is called concurrently from connection threads.
#ifndef ADSYNC_COMMON_HTTP_SERVER_H_
#define ADSYNC_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace adsync {

struct HttpServerRequest {
  std::string method;
  std::string path;                            // without the query
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct HttpServerResponse {
  int status = 200;
  std::map<std::string, std::string> headers;
  std::string body;
  bool drop_connection = false;  // close without answering (fault injection)
};

using HttpHandler = std::function<HttpServerResponse(const HttpServerRequest&)>;

class HttpServer {
 public:
  explicit HttpServer(HttpHandler handler) : handler_(std::move(handler)) {}
  ~HttpServer();

  // Listens on host:port (port 0 = any free port) and returns the port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);

  HttpHandler handler_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
};

}  // namespace adsync

#endif  // ADSYNC_COMMON_HTTP_SERVER_H_
