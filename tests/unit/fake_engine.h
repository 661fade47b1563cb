// Test support for unit tests of the engine client: a local test engine, an
// HTTP/1.1 server on a unix socket served by threads, answering (or staying
// silent) as each test decides. Header-only; one FakeEngine per test.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/engine_address.h"
#include "gtest/gtest.h"

namespace dkd::core::testing {

struct FakeResponse {
  int status = 200;
  std::string body;
  // Silence before the headers, and between the headers and the body.
  absl::Duration delay_headers = absl::ZeroDuration();
  absl::Duration delay_body = absl::ZeroDuration();
  bool never_answer = false;
};

// An HTTP/1.1 server on a unix socket, one connection at a time per thread.
// `handler(method, target)` decides each answer; /_ping is answered for it.
class FakeEngine {
 public:
  using Handler = std::function<FakeResponse(const std::string&, const std::string&)>;
  explicit FakeEngine(Handler handler) : handler_(std::move(handler)) {
    signal(SIGPIPE, SIG_IGN);  // A client that gave up closes first.
    char tmpl[] = "/tmp/dkdfe.XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/e.sock";
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, 64), 0);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~FakeEngine() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_) shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  EngineAddress address() const {
    EngineAddress a;
    a.socket_path = path_;
    return a;
  }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Accept() {
    while (!stopping_) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard<std::mutex> lock(mu_);
      open_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }
  void Serve(int fd) {
    std::string in;
    char buf[4096];
    while (true) {
      size_t end = in.find("\r\n\r\n");
      while (end == std::string::npos) {
        const ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) return Close(fd);
        in.append(buf, static_cast<size_t>(n));
        end = in.find("\r\n\r\n");
      }
      const std::string head = in.substr(0, end);
      in.erase(0, end + 4);
      const size_t sp1 = head.find(' ');
      const size_t sp2 = head.find(' ', sp1 + 1);
      const std::string method = head.substr(0, sp1);
      const std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(method + " " + target);
      }
      FakeResponse r;
      if (target == "/_ping") {
        r.body = "OK";
      } else {
        r = handler_(method, target);
      }
      if (r.never_answer) {
        while (read(fd, buf, sizeof(buf)) > 0) {
        }
        return Close(fd);
      }
      std::this_thread::sleep_for(absl::ToChronoMicroseconds(r.delay_headers));
      const std::string headers =
          absl::StrCat("HTTP/1.1 ", r.status, " X\r\nApi-Version: 1.41\r\nContent-Type: ",
                       "application/json\r\nContent-Length: ", r.body.size(), "\r\n\r\n");
      if (write(fd, headers.data(), headers.size()) < 0) return Close(fd);
      std::this_thread::sleep_for(absl::ToChronoMicroseconds(r.delay_body));
      if (write(fd, r.body.data(), r.body.size()) < 0) return Close(fd);
    }
  }
  void Close(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = open_.begin(); it != open_.end(); ++it) {
      if (*it == fd) {
        open_.erase(it);
        break;
      }
    }
    close(fd);
  }

  Handler handler_;
  std::string dir_, path_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
  std::vector<std::string> requests_;
};

inline FakeResponse Json(const std::string& body) {
  FakeResponse r;
  r.body = body;
  return r;
}

}  // namespace dkd::core::testing
