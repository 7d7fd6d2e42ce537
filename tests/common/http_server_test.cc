// The HTTP server's limits over real loopback sockets: a fixed number of
// threads whatever clients do, a total deadline for the request headers,
// bodies over the limit refused before the handler runs, and a Stop() that
// leaves no thread behind. Threads are counted in /proc/self/task.
#include "common/http_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

int ThreadCount() {
  DIR* dir = opendir("/proc/self/task");
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void Send(int fd, const std::string& data) {
  (void)!send(fd, data.data(), data.size(), MSG_NOSIGNAL);
}

// Reads until the peer closes or `timeout` passes; `closed` tells which.
std::string ReadUntilClosed(int fd, absl::Duration timeout,
                            bool* closed = nullptr) {
  std::string out;
  const absl::Time deadline = absl::Now() + timeout;
  if (closed) *closed = false;
  while (absl::Now() < deadline) {
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1,
             static_cast<int>(
                 absl::ToInt64Milliseconds(deadline - absl::Now()))) <= 0) {
      break;
    }
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    out.append(buf, n);
  }
  return out;
}

// One whole response (headers and Content-Length body, or an interim 100
// Continue) on a kept-alive connection.
std::string ReadResponse(int fd) {
  std::string out;
  while (true) {
    const size_t end = out.find("\r\n\r\n");
    if (end != std::string::npos) {
      const size_t at = out.find("Content-Length: ");
      if (at == std::string::npos || at > end) return out;  // 100 Continue
      const size_t length = std::stoul(out.substr(at + 16));
      if (out.size() >= end + 4 + length) return out;
    }
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return out;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return out;
    out.append(buf, n);
  }
}

void WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition() && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(10));
}

HttpServerResponse Echo(const HttpServerRequest& r) {
  HttpServerResponse resp;
  resp.body = absl::StrCat(r.method, " ", r.path,
                           " q=", r.query.count("q") ? r.query.at("q") : "",
                           " body=", r.body);
  return resp;
}

// Echo, counting the requests that reached the handler.
HttpHandler CountingEcho(std::atomic<int>* handled) {
  return [handled](const HttpServerRequest& r) {
    ++*handled;
    return Echo(r);
  };
}

TEST(HttpServer, ServesKeptAliveConnections) {
  HttpServer server(Echo);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  const int fd = Connect(*port);
  Send(fd, "GET /a%20b?q=x+y HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_THAT(ReadResponse(fd), HasSubstr("GET /a b q=x y body="));
  Send(fd, "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  const std::string second = ReadResponse(fd);
  EXPECT_THAT(second, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(second, HasSubstr("POST /p q= body=hello"));
  close(fd);
}

// A client repeating requests on a kept-alive connection is asked to close
// while others wait for a worker, so a few such clients cannot hold every
// worker for ever (the review's /metrics finding).
TEST(HttpServer, KeptAliveClientsGiveWayToWaitingConnections) {
  HttpServerOptions options;
  options.max_connections = 1;
  HttpServer server(Echo, options);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  const int hog = Connect(*port);
  Send(hog, "GET /1 HTTP/1.1\r\n\r\n");
  EXPECT_THAT(ReadResponse(hog), Not(HasSubstr("Connection: close")));
  const int waiting = Connect(*port);  // no free worker: it waits
  Send(waiting, "GET /w HTTP/1.1\r\n\r\n");
  absl::SleepFor(absl::Milliseconds(200));
  Send(hog, "GET /2 HTTP/1.1\r\n\r\n");
  EXPECT_THAT(ReadResponse(hog), HasSubstr("Connection: close"));
  EXPECT_THAT(ReadResponse(waiting), HasSubstr("GET /w"));
  close(hog);
  close(waiting);
}

// The audit's drip feed: many connections each sending one header byte every
// few hundred milliseconds. The old server made a thread for each and kept
// them all for as long as bytes kept coming.
TEST(HttpServer, DripFedConnectionsAreCappedAndCutOffAtTheHeaderDeadline) {
  const int baseline = ThreadCount();
  HttpServerOptions options;
  options.max_connections = 4;
  options.max_waiting = 4;
  options.header_timeout = absl::Seconds(2);
  std::atomic<int> handled{0};
  HttpServer server(CountingEcho(&handled), options);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(ThreadCount(), baseline + 5);  // four workers and the acceptor

  constexpr int kConnections = 300;
  struct Conn {
    int fd;
    absl::Time opened;
    absl::Time closed = absl::InfiniteFuture();
    std::string answer;
  };
  std::vector<Conn> conns;
  for (int i = 0; i < kConnections; ++i) {
    const int fd = Connect(*port);
    ASSERT_GE(fd, 0) << "connection " << i;
    conns.push_back({fd, absl::Now()});
  }
  // Let the acceptor refuse what it will before any byte is sent: closing a
  // socket with unread input resets it, which could swallow the 503.
  WaitFor([&] { return server.stats().refused_busy >= kConnections - 8; },
          absl::Seconds(1));
  const std::string drip = "GET / HTTP/1.1\r\nX-Drip: " + std::string(64, 'a');
  int max_threads = 0;
  const absl::Time start = absl::Now();
  for (size_t byte = 0; absl::Now() < start + absl::Seconds(6); ++byte) {
    for (Conn& c : conns) {
      if (c.closed != absl::InfiniteFuture()) continue;
      char buf[4096];
      ssize_t n;
      while ((n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        c.answer.append(buf, n);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        c.closed = absl::Now();
        continue;
      }
      Send(c.fd, drip.substr(byte % drip.size(), 1));
    }
    max_threads = std::max(max_threads, ThreadCount());
    absl::SleepFor(absl::Milliseconds(300));
  }

  EXPECT_LE(max_threads, baseline + 5);
  int refused = 0, cut_off = 0;
  absl::Duration longest_held;
  for (const Conn& c : conns) {
    ASSERT_NE(c.closed, absl::InfiniteFuture())
        << "a drip-fed connection is still open after 6 s";
    if (absl::StartsWith(c.answer, "HTTP/1.1 503 ")) {
      ++refused;
    } else {
      EXPECT_THAT(c.answer, StartsWith("HTTP/1.1 408 "));
      ++cut_off;
      longest_held = std::max(longest_held, c.closed - c.opened);
    }
    close(c.fd);
  }
  // Four served, four waiting; the rest refused at once.
  EXPECT_EQ(cut_off, 8);
  EXPECT_EQ(refused, kConnections - 8);
  // Cut off at the 2 s header deadline (seen by the next drip round).
  EXPECT_LT(longest_held, absl::Seconds(3));
  EXPECT_GE(longest_held, absl::Seconds(2));
  EXPECT_EQ(handled.load(), 0);
  const HttpServer::Stats stats = server.stats();
  EXPECT_EQ(stats.header_timeouts, 8u);
  EXPECT_EQ(stats.refused_busy, static_cast<uint64_t>(kConnections - 8));
  std::printf(
      "%d drip-fed connections: %d refused with 503, %d cut off with "
      "408 after at most %s; at most %d threads (%d before Start)\n",
      kConnections, refused, cut_off,
      absl::FormatDuration(longest_held).c_str(), max_threads, baseline);

  // The server is free again for well-behaved clients.
  const int fd = Connect(*port);
  Send(fd, "GET /ok HTTP/1.1\r\n\r\n");
  EXPECT_THAT(ReadResponse(fd), StartsWith("HTTP/1.1 200 OK"));
  close(fd);
}

TEST(HttpServer, OversizedBodiesGet413AndNeverReachTheHandler) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  options.max_header_bytes = 2048;
  std::atomic<int> handled{0};
  HttpServer server(CountingEcho(&handled), options);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();

  // Refused on the announced length, before a byte of the body is read.
  int fd = Connect(*port);
  Send(fd, "POST /big HTTP/1.1\r\nContent-Length: 1025\r\n\r\n");
  bool closed;
  std::string answer = ReadUntilClosed(fd, absl::Seconds(5), &closed);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 413 Payload Too Large"));
  EXPECT_THAT(answer, HasSubstr("exceeds the limit of 1024 bytes"));
  EXPECT_TRUE(closed);
  close(fd);

  // A client that asks first is told before it sends the body.
  fd = Connect(*port);
  Send(fd,
       "POST /big HTTP/1.1\r\nContent-Length: 4096\r\nExpect: "
       "100-continue\r\n\r\n");
  EXPECT_THAT(ReadUntilClosed(fd, absl::Seconds(5)),
              StartsWith("HTTP/1.1 413 "));
  close(fd);

  // Headers over their limit.
  fd = Connect(*port);
  Send(fd, "GET / HTTP/1.1\r\nX-Big: " + std::string(4096, 'x') + "\r\n\r\n");
  EXPECT_THAT(ReadUntilClosed(fd, absl::Seconds(5)),
              StartsWith("HTTP/1.1 431 "));
  close(fd);
  EXPECT_EQ(handled.load(), 0);
  EXPECT_EQ(server.stats().too_large, 3u);

  // Exactly the limit is served; so is a body announced with 100-continue.
  fd = Connect(*port);
  Send(fd, "POST /ok HTTP/1.1\r\nContent-Length: 1024\r\n\r\n" +
               std::string(1024, 'b'));
  EXPECT_THAT(ReadResponse(fd), StartsWith("HTTP/1.1 200 OK"));
  Send(
      fd,
      "POST /ok HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_THAT(ReadResponse(fd), StartsWith("HTTP/1.1 100 Continue\r\n\r\n"));
  Send(fd, "abc");
  EXPECT_THAT(ReadResponse(fd), HasSubstr("body=abc"));
  close(fd);
  EXPECT_EQ(handled.load(), 2);
}

TEST(HttpServer, MalformedAndChunkedRequestsAreRefused) {
  HttpServer server(Echo);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  for (const auto& [request, status] :
       std::vector<std::pair<std::string, std::string>>{
           {"GET /\r\n\r\n", "400"},
           {"GET / HTTP/1.1\r\nno colon here\r\n\r\n", "400"},
           {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: "
            "2\r\n\r\nab",
            "400"},
           {"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "400"},
           {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n"
            "0\r\n\r\n",
            "501"}}) {
    const int fd = Connect(*port);
    Send(fd, request);
    EXPECT_THAT(ReadUntilClosed(fd, absl::Seconds(5)),
                StartsWith("HTTP/1.1 " + status))
        << request;
    close(fd);
  }
}

// panel-sim's fault injection closes a connection without answering.
TEST(HttpServer, DropConnectionClosesWithoutAnAnswer) {
  HttpServer server([](const HttpServerRequest&) {
    HttpServerResponse resp;
    resp.drop_connection = true;
    return resp;
  });
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  const int fd = Connect(*port);
  Send(fd, "GET / HTTP/1.1\r\n\r\n");
  bool closed;
  EXPECT_EQ(ReadUntilClosed(fd, absl::Seconds(5), &closed), "");
  EXPECT_TRUE(closed);
  close(fd);
}

TEST(HttpServer, IdleKeptAliveConnectionsAreClosed) {
  HttpServerOptions options;
  options.idle_timeout = absl::Milliseconds(300);
  HttpServer server(Echo, options);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  const int fd = Connect(*port);
  Send(fd, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_THAT(ReadResponse(fd), StartsWith("HTTP/1.1 200"));
  const absl::Time start = absl::Now();
  bool closed;
  EXPECT_EQ(ReadUntilClosed(fd, absl::Seconds(5), &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  close(fd);
}

// Stop() waits for a handler in progress and for every worker, including
// ones holding idle or half-sent connections; afterwards no thread of the
// server exists and nothing listens.
TEST(HttpServer, StopReturnsWithNoWorkerLeft) {
  const int baseline = ThreadCount();
  std::atomic<bool> entered{false}, finished{false};
  auto server = std::make_unique<HttpServer>([&](const HttpServerRequest& r) {
    entered = true;
    absl::SleepFor(absl::Milliseconds(500));
    finished = true;
    return Echo(r);
  });
  auto port = server->Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  const int idle = Connect(*port);  // sends nothing
  const int half = Connect(*port);
  Send(half, "GET / HTTP/1.1\r\nX-Partial: ");
  const int busy = Connect(*port);
  Send(busy, "GET /slow HTTP/1.1\r\n\r\n");
  while (!entered) absl::SleepFor(absl::Milliseconds(5));

  const absl::Time start = absl::Now();
  server->Stop();
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(finished.load());
  EXPECT_EQ(ThreadCount(), baseline);
  EXPECT_LT(took, absl::Seconds(2));
  for (int fd : {idle, half, busy}) {
    bool closed;
    ReadUntilClosed(fd, absl::Seconds(2), &closed);
    EXPECT_TRUE(closed);
    close(fd);
  }
  EXPECT_EQ(Connect(*port), -1);
  server.reset();  // a second Stop() from the destructor is harmless
  EXPECT_EQ(ThreadCount(), baseline);
}

TEST(HttpServer, StartNamesTheAddressItCannotUse) {
  HttpServer server(Echo);
  auto bad = server.Start("not-an-address", 0);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("127.0.0.1"));

  HttpServer first(Echo);
  auto port = first.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  HttpServer second(Echo);
  auto taken = second.Start("127.0.0.1", *port);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(taken.status().message()),
              HasSubstr("another process"));

  HttpServer v6(Echo);
  auto v6_port = v6.Start("[::1]", 0);
  if (v6_port.ok()) {  // absent on hosts without IPv6
    EXPECT_GT(*v6_port, 0);
  }
}

}  // namespace
}  // namespace adsync
