// UnixTestServer: a server on a unix socket in a fresh temporary directory,
// serving each accepted connection on its own thread with `serve(fd)` (which
// must not close fd). Destruction stops accepting, shuts down the open
// connections and joins every thread. For unit tests of engine clients.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/engine/engine_address.h"
#include "gtest/gtest.h"

namespace dkd::core::testing {

class UnixTestServer {
 public:
  explicit UnixTestServer(std::function<void(int fd)> serve, int backlog = 1024)
      : serve_(std::move(serve)) {
    signal(SIGPIPE, SIG_IGN);  // A client that gave up closes first.
    char tmpl[] = "/tmp/dkdts.XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/e.sock";
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, backlog), 0);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~UnixTestServer() {
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
  UnixTestServer(const UnixTestServer&) = delete;
  UnixTestServer& operator=(const UnixTestServer&) = delete;

  EngineAddress address() const {
    EngineAddress a;
    a.socket_path = path_;
    return a;
  }

 private:
  void Accept() {
    while (!stopping_) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard<std::mutex> lock(mu_);
      open_.push_back(fd);
      workers_.emplace_back([this, fd] {
        serve_(fd);
        std::lock_guard<std::mutex> l(mu_);
        open_.erase(std::find(open_.begin(), open_.end(), fd));
        close(fd);
      });
    }
  }

  std::function<void(int fd)> serve_;
  std::string dir_, path_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
};

}  // namespace dkd::core::testing
