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
#include "core/engine/engine_address.h"
#include "gtest/gtest.h"
#include "tests/unit/unix_test_server.h"

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
  explicit FakeEngine(Handler handler)
      : handler_(std::move(handler)), server_([this](int fd) { Serve(fd); }, 64) {}
  EngineAddress address() const { return server_.address(); }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve(int fd) {
    std::string in;
    char buf[4096];
    while (true) {
      size_t end = in.find("\r\n\r\n");
      while (end == std::string::npos) {
        const ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) return;
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
        return;
      }
      std::this_thread::sleep_for(absl::ToChronoMicroseconds(r.delay_headers));
      const std::string headers =
          absl::StrCat("HTTP/1.1 ", r.status, " X\r\nApi-Version: 1.41\r\nContent-Type: ",
                       "application/json\r\nContent-Length: ", r.body.size(), "\r\n\r\n");
      if (write(fd, headers.data(), headers.size()) < 0) return;
      std::this_thread::sleep_for(absl::ToChronoMicroseconds(r.delay_body));
      if (write(fd, r.body.data(), r.body.size()) < 0) return;
    }
  }
  Handler handler_;
  std::mutex mu_;
  std::vector<std::string> requests_;
  UnixTestServer server_;  // Last: stopped first, while the rest still lives.
};

inline FakeResponse Json(const std::string& body) {
  FakeResponse r;
  r.body = body;
  return r;
}

}  // namespace dkd::core::testing
