// A small HTTP/1.1 server for panel-sim and the coordinator's /metrics:
// keep-alive, Content-Length bodies, nothing else (no chunked requests, no
// TLS). Everything a client can make it hold is bounded:
//   - threads: a fixed pool of `max_connections` workers plus one acceptor;
//     up to `max_waiting` further connections wait for a worker, any beyond
//     that get 503 and are closed at once. No thread per connection.
//   - time: the request line and headers must arrive within
//     `header_timeout` (a total, not per read: a client dripping one byte
//     every few seconds is cut off with 408), the body within
//     `body_timeout`, a response must be written within `write_timeout`,
//     and an idle keep-alive connection is closed after `idle_timeout`.
//   - memory: headers up to `max_header_bytes` (431 beyond), bodies up to
//     `max_body_bytes` (413 before the body is read; the handler never sees
//     the request).
// Stop() returns only once every worker has finished and no thread touches
// the server any more.
//
// Why not cpp-httplib (Debian's libcpp-httplib-dev 0.11.4) although a kept
// library is preferable: it was evaluated and cannot provide three of these.
// Its only read limit is a per-read timeout (a byte every few seconds keeps
// a worker forever); a handler cannot close a connection without answering
// (panel-sim's drop_connection fault) because the socket is never exposed
// to application code and the function that owns it
// (Server::process_and_close_socket) is private; and its TaskQueue::enqueue
// returns void, so a bounded queue cannot refuse a connection without
// leaking its socket (the default ThreadPool queues without bound). Stop()
// there also waits for workers that a drip-feeding client keeps busy. The
// parsing below is small; the limits are what matters and are tested in
// tests/http_server_test.cc.
//
// Thread-safety: the handler is called concurrently from up to
// `max_connections` worker threads. Start() and Stop() from one thread;
// stats() from any.
#ifndef ADSYNC_COMMON_HTTP_SERVER_H_
#define ADSYNC_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace adsync {

struct HttpServerRequest {
  std::string method;
  std::string path;                            // without the query
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// "a=1&b=x%20y" (a query, or a form body of type
// application/x-www-form-urlencoded) as decoded fields; the last of a
// repeated name wins.
std::map<std::string, std::string> ParseUrlEncoded(absl::string_view text);

struct HttpServerResponse {
  int status = 200;
  std::map<std::string, std::string> headers;
  std::string body;
  bool drop_connection = false;  // close without answering (fault injection)
};

using HttpHandler = std::function<HttpServerResponse(const HttpServerRequest&)>;

struct HttpServerOptions {
  // Connections served at once; one worker thread each, started by Start().
  int max_connections = 8;
  // Accepted connections waiting for a free worker. Their header_timeout
  // runs while they wait.
  int max_waiting = 16;
  // From accepting a connection (or from the first byte of a later request
  // on a kept-alive one) until the blank line ending the headers.
  absl::Duration header_timeout = absl::Seconds(10);
  // From the end of the headers until the last byte of the body.
  absl::Duration body_timeout = absl::Seconds(30);
  absl::Duration write_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(5);
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
};

class HttpServer {
 public:
  // What clients were refused or cut off for, since Start().
  struct Stats {
    uint64_t requests = 0;         // handed to the handler
    uint64_t refused_busy = 0;     // 503: every worker and waiting slot taken
    uint64_t header_timeouts = 0;  // 408: headers not complete in time
    uint64_t body_timeouts = 0;    // 408: body not complete in time
    uint64_t too_large = 0;        // 413 / 431
    uint64_t malformed = 0;        // 400 / 501
  };

  explicit HttpServer(HttpHandler handler, HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on host:port (IPv4 or IPv6 literal; port 0 = any free port),
  // starts the workers and returns the port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Closes the listener, ends every connection (a handler already running
  // finishes first; its answer is not sent) and joins every thread.
  // Idempotent.
  void Stop();

  Stats stats() const;

 private:
  struct Waiting {
    int fd;
    absl::Time accepted;
  };
  enum class ReadResult { kOk, kClosed, kTimedOut, kStopping };

  void AcceptLoop();
  void WorkerLoop();
  bool ConnectionsWaiting() const;
  void Serve(int fd, absl::Time accepted);
  // Reads at least one more byte into `buffer` before `deadline`.
  ReadResult ReadMore(int fd, std::string* buffer, absl::Time deadline);
  bool WriteAll(int fd, const std::string& data);
  void Count(uint64_t Stats::*counter);

  const HttpHandler handler_;
  const HttpServerOptions options_;
  int listen_fd_ = -1;
  // Readable once Stop() begins: every poll() includes it, so blocked
  // acceptor and workers wake at once.
  int stop_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;

  mutable absl::Mutex mu_;
  absl::CondVar work_;
  std::deque<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  int busy_workers_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace adsync

#endif  // ADSYNC_COMMON_HTTP_SERVER_H_
