#include "tests/support/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "tests/support/test_util.h"

namespace adsync::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& argv, int stdin_fd, int out_fd) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(stdin_fd, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Waits up to `timeout` for `pid`; returns its exit code or -1.
int WaitPid(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return DecodeStatus(status);
    if (r < 0) return -1;
    if (absl::Now() > deadline) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

Process::Process(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
  const int out = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int in = open("/dev/null", O_RDONLY);
  pid_ = Spawn(argv, in, out);
  close(out);
  close(in);
}

Process::~Process() {
  if (Running()) Stop(SIGTERM, absl::Seconds(5));
}

bool Process::Running() {
  if (exit_code_ != -1 || pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_code_ = DecodeStatus(status);
    return false;
  }
  return true;
}

int Process::Stop(int signal, absl::Duration timeout) {
  if (!Running()) return exit_code_;
  kill(-pid_, signal);
  int code = WaitPid(pid_, timeout);
  if (code == -2) {
    kill(-pid_, SIGKILL);
    code = WaitPid(pid_, absl::Seconds(10));
  }
  exit_code_ = code;
  return code;
}

int Process::Wait(absl::Duration timeout) {
  if (!Running()) return exit_code_;
  const int code = WaitPid(pid_, timeout);
  if (code >= 0) exit_code_ = code;
  return code;
}

std::string Process::Log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

RunResult RunCommand(const std::vector<std::string>& argv,
                     const std::string& stdin_text, absl::Duration timeout) {
  TempDir dir;
  WriteFile(dir.File("in"), stdin_text);
  const int in = open(dir.File("in").c_str(), O_RDONLY);
  const int out = open(dir.File("out").c_str(), O_WRONLY | O_CREAT, 0644);
  const pid_t pid = Spawn(argv, in, out);
  close(in);
  close(out);
  RunResult r;
  r.exit_code = WaitPid(pid, timeout);
  if (r.exit_code == -2) {
    kill(-pid, SIGKILL);
    WaitPid(pid, absl::Seconds(5));
  }
  std::ifstream o(dir.File("out"));
  std::stringstream s;
  s << o.rdbuf();
  r.output = s.str();
  return r;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

}  // namespace adsync::testing

namespace adsync::testing {

bool PortOpen(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool open =
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return open;
}

}  // namespace adsync::testing
