#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace adsync {
namespace {

std::string UrlDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      if (absl::SimpleHexAtoi(s.substr(i + 1, 2), &v)) {
        out.push_back(static_cast<char>(v));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> ParseUrlEncoded(absl::string_view text) {
  std::map<std::string, std::string> fields;
  for (absl::string_view kv : absl::StrSplit(text, '&', absl::SkipEmpty())) {
    const size_t eq = kv.find('=');
    fields[UrlDecode(kv.substr(0, eq))] =
        eq == absl::string_view::npos ? "" : UrlDecode(kv.substr(eq + 1));
  }
  return fields;
}

namespace {

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 303:
      return "See Other";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string Serialize(const HttpServerResponse& resp, bool close) {
  std::string out =
      absl::StrCat("HTTP/1.1 ", resp.status, " ", Reason(resp.status),
                   "\r\nContent-Length: ", resp.body.size(), "\r\n");
  bool has_type = false;
  for (const auto& [k, v] : resp.headers) {
    if (absl::EqualsIgnoreCase(k, "content-type")) has_type = true;
    absl::StrAppend(&out, k, ": ", v, "\r\n");
  }
  if (!has_type) out += "Content-Type: application/json\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  out += resp.body;
  return out;
}

// An error answer that ends the connection; `message` says what to change.
std::string ErrorAnswer(int status, absl::string_view message) {
  HttpServerResponse resp;
  resp.status = status;
  resp.body = absl::StrCat("{\"error\":\"", message, "\"}");
  if (status == 503) resp.headers["Retry-After"] = "1";
  return Serialize(resp, /*close=*/true);
}

int PollMillis(absl::Duration left) {
  if (left <= absl::ZeroDuration()) return 0;
  // Round up: a poll that wakes a hair early would spin until the deadline.
  const int64_t ms = absl::ToInt64Milliseconds(left + absl::Milliseconds(1));
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace

HttpServer::HttpServer(HttpHandler handler, HttpServerOptions options)
    : handler_(std::move(handler)), options_(options) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start(const std::string& host, int port) {
  if (listen_fd_ >= 0 || stopping_.load()) {
    return absl::FailedPreconditionError(
        "HttpServer::Start called twice; make a new server instead");
  }
  if (options_.max_connections < 1 || options_.max_waiting < 0) {
    return absl::InvalidArgumentError(
        "the HTTP server needs max_connections >= 1 and max_waiting >= 0");
  }
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string literal(absl::StripSuffix(absl::StripPrefix(host, "["), "]"));
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, literal.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    addr_len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, literal.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    addr_len = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", host,
        "\" is not an IP address; listen on an address literal such as "
        "127.0.0.1 or [::1]"));
  }
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 ||
      listen(fd, 128) != 0) {
    const int err = errno;
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", host, ":", port, ": ", std::strerror(err),
        "; is another process using the port? Choose another "
        "address or stop that process"));
  }
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    const int err = errno;
    close(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat("eventfd: ", std::strerror(err),
                     "; raise the open-file limit (ulimit -n)"));
  }
  listen_fd_ = fd;
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  const int bound =
      ntohs(addr.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  workers_.reserve(options_.max_connections);
  for (int i = 0; i < options_.max_connections; ++i)
    workers_.emplace_back([this] { WorkerLoop(); });
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return bound;
}

void HttpServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_.load()) return;
    stopping_ = true;
  }
  if (stop_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof(one));
  }
  work_.SignalAll();
  if (acceptor_.joinable()) acceptor_.join();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  absl::MutexLock lock(&mu_);
  for (const Waiting& w : waiting_) close(w.fd);
  waiting_.clear();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
  listen_fd_ = stop_fd_ = -1;
}

HttpServer::Stats HttpServer::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void HttpServer::Count(uint64_t Stats::*counter) {
  absl::MutexLock lock(&mu_);
  ++(stats_.*counter);
}

void HttpServer::AcceptLoop() {
  const std::string busy = ErrorAnswer(
      503, absl::StrCat("server busy: all ", options_.max_connections,
                        " connections and ", options_.max_waiting,
                        " waiting places are taken; retry in a moment"));
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    const int fd =
        accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the listener stays readable, so back off
      // instead of spinning until a connection closes.
      if (errno == EMFILE || errno == ENFILE) {
        pollfd stop = {stop_fd_, POLLIN, 0};
        poll(&stop, 1, 50);
      }
      continue;
    }
    bool queued = false;
    {
      absl::MutexLock lock(&mu_);
      const int idle = options_.max_connections - busy_workers_;
      if (static_cast<int>(waiting_.size()) < idle + options_.max_waiting) {
        waiting_.push_back({fd, absl::Now()});
        queued = true;
      } else {
        ++stats_.refused_busy;
      }
    }
    if (queued) {
      work_.Signal();
    } else {
      // Best effort and never blocking: the acceptor must not wait on a
      // client it is refusing.
      (void)!send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
    }
  }
}

bool HttpServer::ConnectionsWaiting() const {
  absl::MutexLock lock(&mu_);
  return !waiting_.empty();
}

void HttpServer::WorkerLoop() {
  while (true) {
    Waiting next;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_.load() && waiting_.empty()) work_.Wait(&mu_);
      if (stopping_.load()) return;
      next = waiting_.front();
      waiting_.pop_front();
      ++busy_workers_;
    }
    Serve(next.fd, next.accepted);
    close(next.fd);
    absl::MutexLock lock(&mu_);
    --busy_workers_;
  }
}

HttpServer::ReadResult HttpServer::ReadMore(int fd, std::string* buffer,
                                            absl::Time deadline) {
  char chunk[16384];
  while (true) {
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer->append(chunk, static_cast<size_t>(n));
      return ReadResult::kOk;
    }
    if (n == 0) return ReadResult::kClosed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ReadResult::kClosed;
    if (stopping_.load()) return ReadResult::kStopping;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return ReadResult::kTimedOut;
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, PollMillis(left)) < 0 && errno != EINTR)
      return ReadResult::kClosed;
    if (fds[1].revents != 0) return ReadResult::kStopping;
  }
}

bool HttpServer::WriteAll(int fd, const std::string& data) {
  const absl::Time deadline = absl::Now() + options_.write_timeout;
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n =
        send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd fds[2] = {{fd, POLLOUT, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, PollMillis(left)) < 0 && errno != EINTR) return false;
    if (fds[1].revents != 0) return false;
  }
  return true;
}

void HttpServer::Serve(int fd, absl::Time accepted) {
  std::string buffer;
  absl::Time header_deadline = accepted + options_.header_timeout;
  bool first = true;
  while (!stopping_.load()) {
    if (!first && buffer.empty()) {
      // Between requests only the idle limit applies; the header clock
      // starts with the next request's first byte.
      if (ReadMore(fd, &buffer, absl::Now() + options_.idle_timeout) !=
          ReadResult::kOk) {
        return;
      }
      header_deadline = absl::Now() + options_.header_timeout;
    } else if (!first) {
      header_deadline = absl::Now() + options_.header_timeout;
    }
    first = false;

    size_t header_end;
    size_t searched = 0;
    while ((header_end = buffer.find("\r\n\r\n", searched)) ==
           std::string::npos) {
      if (buffer.size() > options_.max_header_bytes) break;
      searched = buffer.size() < 3 ? 0 : buffer.size() - 3;
      const ReadResult r = ReadMore(fd, &buffer, header_deadline);
      if (r == ReadResult::kTimedOut) {
        Count(&Stats::header_timeouts);
        WriteAll(fd, ErrorAnswer(
                         408, absl::StrCat(
                                  "request headers not received "
                                  "within ",
                                  absl::FormatDuration(options_.header_timeout),
                                  "; send the whole request at once")));
        return;
      }
      if (r != ReadResult::kOk) return;
    }
    if (header_end == std::string::npos ||
        header_end > options_.max_header_bytes) {
      Count(&Stats::too_large);
      WriteAll(fd,
               ErrorAnswer(431, absl::StrCat("request line and headers exceed ",
                                             options_.max_header_bytes,
                                             " bytes; send fewer or shorter "
                                             "headers")));
      return;
    }

    auto malformed = [&](int status, absl::string_view why) {
      Count(&Stats::malformed);
      WriteAll(fd, ErrorAnswer(status, why));
    };
    HttpServerRequest req;
    std::vector<absl::string_view> lines =
        absl::StrSplit(absl::string_view(buffer).substr(0, header_end), "\r\n");
    std::vector<absl::string_view> first_line = absl::StrSplit(lines[0], ' ');
    if (first_line.size() != 3 || !absl::StartsWith(first_line[2], "HTTP/1.")) {
      return malformed(400,
                       "malformed request line; expected METHOD PATH "
                       "HTTP/1.1");
    }
    req.method = std::string(first_line[0]);
    const absl::string_view target = first_line[1];
    const size_t q = target.find('?');
    req.path = UrlDecode(target.substr(0, q));
    if (q != absl::string_view::npos) {
      req.query = ParseUrlEncoded(target.substr(q + 1));
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos || colon == 0) {
        return malformed(400, "malformed header line; expected Name: value");
      }
      const std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
      const std::string value(
          absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      auto [it, inserted] = req.headers.emplace(name, value);
      if (!inserted) {
        // Two different lengths would let a proxy and this server disagree
        // on where the next request starts.
        if (name == "content-length" && it->second != value) {
          return malformed(400, "conflicting Content-Length headers");
        }
        it->second = value;
      }
    }
    if (req.headers.count("transfer-encoding")) {
      return malformed(501,
                       "Transfer-Encoding is not supported; send the "
                       "body with Content-Length");
    }
    uint64_t length = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
      if (!absl::SimpleAtoi(it->second, &length)) {
        return malformed(400, "Content-Length is not a number");
      }
    }
    if (length > options_.max_body_bytes) {
      Count(&Stats::too_large);
      WriteAll(fd,
               ErrorAnswer(413, absl::StrCat("request body of ", length,
                                             " bytes exceeds the limit of ",
                                             options_.max_body_bytes,
                                             " bytes; send smaller requests")));
      return;
    }
    const std::string version(first_line[2]);
    std::string connection;
    if (auto it = req.headers.find("connection"); it != req.headers.end())
      connection = absl::AsciiStrToLower(it->second);
    const bool keep_alive = version == "HTTP/1.0" ? connection == "keep-alive"
                                                  : connection != "close";
    buffer.erase(0, header_end + 4);
    if (length > buffer.size()) {
      if (auto it = req.headers.find("expect");
          it != req.headers.end() &&
          absl::EqualsIgnoreCase(it->second, "100-continue")) {
        if (!WriteAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return;
      }
      const absl::Time body_deadline = absl::Now() + options_.body_timeout;
      while (buffer.size() < length) {
        const ReadResult r = ReadMore(fd, &buffer, body_deadline);
        if (r == ReadResult::kTimedOut) {
          Count(&Stats::body_timeouts);
          WriteAll(fd,
                   ErrorAnswer(408, absl::StrCat("request body not received "
                                                 "within ",
                                                 absl::FormatDuration(
                                                     options_.body_timeout))));
          return;
        }
        if (r != ReadResult::kOk) return;
      }
    }
    req.body = buffer.substr(0, length);
    buffer.erase(0, length);
    Count(&Stats::requests);
    const HttpServerResponse resp = handler_(req);
    if (resp.drop_connection) return;
    // While other connections wait for a worker, a kept-alive client gets
    // its answer and Connection: close, and queues again like the rest: a
    // few clients repeating requests must not hold every worker for ever.
    const bool keep = keep_alive && !ConnectionsWaiting();
    if (!WriteAll(fd, Serialize(resp, !keep)) || !keep) return;
  }
}

}  // namespace adsync
