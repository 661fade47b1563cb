// EngineStreamLoop against a local HTTP server (tests/unit/unix_test_server.h):
// streaming, errors, pause, cancel, timeouts, 500 streams on one thread, TLS.
#include "core/engine/engine_stream_loop.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/unit/unix_test_server.h"

namespace dkd::core {
namespace {

// A unix-socket server that answers /_ping itself and hands every other
// connection, with its request head, to the test's script on a thread.
class ScriptedEngine {
 public:
  using Script = std::function<void(int fd, const std::string& head)>;
  explicit ScriptedEngine(Script script)
      : script_(std::move(script)), server_([this](int fd) { Serve(fd); }) {}
  EngineAddress address() const { return server_.address(); }
  std::vector<std::string> heads() {
    std::lock_guard<std::mutex> lock(mu_);
    return heads_;
  }

 private:
  void Serve(int fd) {
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
    }
    const std::string head = in.substr(0, in.find("\r\n\r\n"));
    {
      std::lock_guard<std::mutex> lock(mu_);
      heads_.push_back(head.substr(0, head.find("\r\n")));
    }
    if (absl::StartsWith(head, "GET /_ping ")) {
      const std::string r = "HTTP/1.1 200 OK\r\nApi-Version: 1.40\r\nContent-Length: 2\r\n\r\nOK";
      (void)!write(fd, r.data(), r.size());
    } else {
      script_(fd, head);
    }
  }

  Script script_;
  std::mutex mu_;
  std::vector<std::string> heads_;
  testing::UnixTestServer server_;  // Last: stopped first.
};

void Send(int fd, const std::string& s) { (void)!write(fd, s.data(), s.size()); }
std::string Chunk(const std::string& s) {
  char size[32];
  snprintf(size, sizeof(size), "%zx\r\n", s.size());
  return absl::StrCat(size, s, "\r\n");
}
const char kChunkedHead[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

// Collects what a stream delivers; can pause after the first piece.
class Collector final : public StreamSink {
 public:
  explicit Collector(bool pause_first = false) : pause_first_(pause_first) {}
  bool OnData(absl::string_view data) override {
    absl::MutexLock lock(&mu_);
    body_.append(data.data(), data.size());
    ++pieces_;
    return !(pause_first_ && pieces_ == 1);
  }
  void OnEnd(absl::Status status) override {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(ended_) << "OnEnd twice";
    ended_ = true;
    status_ = std::move(status);
  }
  // Waits for the end; false on timeout.
  bool AwaitEnd(absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
  }
  bool AwaitBytes(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return body_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  std::string body() {
    absl::MutexLock lock(&mu_);
    return body_;
  }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  const bool pause_first_;
  absl::Mutex mu_;
  std::string body_ ABSL_GUARDED_BY(mu_);
  int pieces_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

EngineRequest Get(const std::string& path) {
  EngineRequest r;
  r.path = path;
  return r;
}

TEST(EngineStreamLoopTest, NegotiatesThenStreamsAChunkedBodyAsItArrives) {
  absl::Notification second;
  ScriptedEngine engine([&](int fd, const std::string&) {
    Send(fd, kChunkedHead);
    Send(fd, Chunk("first "));
    second.WaitForNotification();
    Send(fd, Chunk("second"));
    Send(fd, "0\r\n\r\n");
  });
  EngineClient client(engine.address());
  EngineStreamLoop loop(&client);
  auto sink = std::make_shared<Collector>();
  loop.Start(Get("/events"), sink);
  // The first piece arrives before the engine sends the rest.
  ASSERT_TRUE(sink->AwaitBytes(6));
  EXPECT_EQ(sink->body(), "first ");
  second.Notify();
  ASSERT_TRUE(sink->AwaitEnd());
  EXPECT_TRUE(sink->status().ok()) << sink->status();
  EXPECT_EQ(sink->body(), "first second");
  EXPECT_EQ(engine.heads(),
            (std::vector<std::string>{"GET /_ping HTTP/1.1", "GET /v1.40/events HTTP/1.1"}));
  EXPECT_EQ(loop.active(), 0u);
}

TEST(EngineStreamLoopTest, EngineErrorsMapLikeTheBlockingClient) {
  ScriptedEngine engine([](int fd, const std::string&) {
    Send(fd,
         "HTTP/1.1 404 Not Found\r\nContent-Length: 39\r\n\r\n"
         "{\"message\":\"No such container: nope1\"}\n");
  });
  EngineClient client(engine.address());
  EngineStreamLoop loop(&client);
  auto sink = std::make_shared<Collector>();
  loop.Start(Get("/containers/nope1/logs"), sink);
  ASSERT_TRUE(sink->AwaitEnd());
  EXPECT_EQ(sink->status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(sink->status().message(), "No such container: nope1");
  EXPECT_EQ(sink->body(), "");  // An error body is never handed to the sink.

  absl::Notification done;
  absl::StatusOr<EngineResponse> answer;
  loop.Call(Get("/containers/nope1/json"), [&](absl::StatusOr<EngineResponse> r) {
    answer = std::move(r);
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kNotFound);
}

TEST(EngineStreamLoopTest, CallReturnsTheWholeBodyAndBoundsIt) {
  ScriptedEngine engine([](int fd, const std::string&) {
    Send(fd, absl::StrCat(kChunkedHead, Chunk("{\"Id\":"), Chunk("\"abc\"}"), "0\r\n\r\n"));
  });
  EngineClient client(engine.address());
  EngineStreamLoop loop(&client);
  absl::Notification done, done_small;
  absl::StatusOr<EngineResponse> whole, bounded;
  loop.Call(Get("/containers/abc/json"), [&](absl::StatusOr<EngineResponse> r) {
    whole = std::move(r);
    done.Notify();
  });
  loop.Call(
      Get("/containers/abc/json"),
      [&](absl::StatusOr<EngineResponse> r) {
        bounded = std::move(r);
        done_small.Notify();
      },
      /*max_body=*/4);
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(done_small.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->body, "{\"Id\":\"abc\"}");
  EXPECT_EQ(bounded.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(EngineStreamLoopTest, APausedStreamReadsNothingUntilResumed) {
  const std::string big(4 << 20, 'x');
  std::atomic<bool> all_written{false};
  ScriptedEngine engine([&](int fd, const std::string&) {
    Send(fd, absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", 1 + big.size(), "\r\n\r\n"));
    Send(fd, "a");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Send(fd, big);  // Blocks once the socket buffers are full.
    all_written = true;
  });
  EngineClient client(engine.address());
  EngineStreamLoop loop(&client);
  auto sink = std::make_shared<Collector>(/*pause_first=*/true);
  const EngineStreamLoop::Id id = loop.Start(Get("/containers/x/logs"), sink);
  ASSERT_TRUE(sink->AwaitBytes(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Nothing was read past the first piece: the engine is held by the socket.
  EXPECT_EQ(sink->body(), "a");
  EXPECT_FALSE(all_written.load());
  loop.Resume(id);
  ASSERT_TRUE(sink->AwaitEnd());
  EXPECT_TRUE(sink->status().ok()) << sink->status();
  EXPECT_EQ(sink->body().size(), 1 + big.size());
  EXPECT_TRUE(all_written.load());
}

TEST(EngineStreamLoopTest, CancelClosesTheConnectionAndEndsWithCancelled) {
  absl::Notification engine_saw_close;
  ScriptedEngine engine([&](int fd, const std::string&) {
    Send(fd, absl::StrCat(kChunkedHead, Chunk("line\n")));
    char buf[16];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    engine_saw_close.Notify();
  });
  EngineClient client(engine.address());
  EngineStreamLoop loop(&client);
  auto sink = std::make_shared<Collector>();
  const EngineStreamLoop::Id id = loop.Start(Get("/events"), sink);
  ASSERT_TRUE(sink->AwaitBytes(5));
  loop.Cancel(id);
  ASSERT_TRUE(sink->AwaitEnd());
  EXPECT_EQ(sink->status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(engine_saw_close.WaitForNotificationWithTimeout(absl::Seconds(10)));
  loop.Cancel(id);  // A second cancel of an ended request is a no-op.
  loop.Resume(id);
}

TEST(EngineStreamLoopTest, SilenceHangUpsAndAMissingEngineAreUnavailable) {
  absl::Notification release;
  ScriptedEngine engine([&](int fd, const std::string& head) {
    if (absl::StrContains(head, "/silent")) {
      release.WaitForNotificationWithTimeout(absl::Seconds(20));
      return;
    }
    // Cut in the middle of a chunk.
    Send(fd, absl::StrCat(kChunkedHead, "10\r\nonly part"));
  });
  EngineClient client(engine.address(), absl::Milliseconds(300));
  EngineStreamLoop loop(&client);
  auto silent = std::make_shared<Collector>();
  auto cut = std::make_shared<Collector>();
  loop.Start(Get("/silent"), silent);
  loop.Start(Get("/cut"), cut);
  ASSERT_TRUE(silent->AwaitEnd());
  EXPECT_EQ(silent->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(silent->status().message(), "did not answer in 0.3 s"))
      << silent->status();
  release.Notify();
  ASSERT_TRUE(cut->AwaitEnd());
  EXPECT_EQ(cut->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(cut->status().message(), "middle of the response"))
      << cut->status();

  EngineAddress gone;
  gone.socket_path = "/tmp/dkd-no-such-engine.sock";
  EngineClient missing(gone);
  EngineStreamLoop loop2(&missing);
  auto none = std::make_shared<Collector>();
  loop2.Start(Get("/events"), none);
  ASSERT_TRUE(none->AwaitEnd());
  EXPECT_EQ(none->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(none->status().message(), "unreachable")) << none->status();
}

TEST(EngineStreamLoopTest, AQuietStreamWithItsOwnBoundOutlivesTheResponseTimeout) {
  ScriptedEngine engine([](int fd, const std::string&) {
    Send(fd, kChunkedHead);
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    Send(fd, absl::StrCat(Chunk("late"), "0\r\n\r\n"));
  });
  EngineClient client(engine.address(), absl::Milliseconds(200));
  EngineStreamLoop loop(&client);
  auto sink = std::make_shared<Collector>();
  EngineRequest r = Get("/events");
  r.read_timeout = absl::Seconds(30);
  loop.Start(r, sink);
  ASSERT_TRUE(sink->AwaitEnd());
  EXPECT_TRUE(sink->status().ok()) << sink->status();
  EXPECT_EQ(sink->body(), "late");
}

TEST(EngineStreamLoopTest, FiveHundredStreamsOnOneThreadAndDestructionEndsTheRest) {
  std::atomic<int> served{0};
  absl::Notification release;
  ScriptedEngine engine([&](int fd, const std::string& head) {
    Send(fd, absl::StrCat(kChunkedHead, Chunk(head.substr(4, head.find(' ', 4) - 4))));
    ++served;
    release.WaitForNotificationWithTimeout(absl::Seconds(30));
  });
  EngineClient client(engine.address());
  std::vector<std::shared_ptr<Collector>> sinks;
  {
    EngineStreamLoop loop(&client);
    for (int i = 0; i < 500; ++i) {
      sinks.push_back(std::make_shared<Collector>());
      loop.Start(Get(absl::StrCat("/s/", i)), sinks.back());
    }
    for (int i = 0; i < 500; ++i) {
      ASSERT_TRUE(sinks[i]->AwaitBytes(1)) << i;
      EXPECT_EQ(sinks[i]->body(), absl::StrCat("/v1.40/s/", i));
    }
    EXPECT_EQ(loop.active(), 500u);
  }
  for (auto& s : sinks) {
    ASSERT_TRUE(s->AwaitEnd(absl::Seconds(1)));
    EXPECT_EQ(s->status().code(), absl::StatusCode::kUnavailable);
  }
  release.Notify();
}

TEST(EngineStreamLoopTest, AsyncCallCancelsWhicheverRequestIsCurrent) {
  ScriptedEngine engine([](int fd, const std::string&) {
    Send(fd, absl::StrCat(kChunkedHead, Chunk("x")));
    char buf[16];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
  });
  EngineClient client(engine.address());
  EngineStreamLoop loop(&client);
  auto first = std::make_shared<Collector>();
  auto second = std::make_shared<Collector>();
  AsyncCall call(&loop);
  const EngineStreamLoop::Id first_id = loop.Start(Get("/one"), first);
  ASSERT_TRUE(call.Attach(first_id));
  const EngineStreamLoop::Id later = loop.Start(Get("/two"), second);
  ASSERT_TRUE(call.Attach(later));
  ASSERT_TRUE(second->AwaitBytes(1));
  call.Cancel();
  ASSERT_TRUE(second->AwaitEnd());
  EXPECT_EQ(second->status().code(), absl::StatusCode::kCancelled);
  // A request attached after the cancel is cancelled at once.
  auto third = std::make_shared<Collector>();
  EXPECT_FALSE(call.Attach(loop.Start(Get("/three"), third)));
  ASSERT_TRUE(third->AwaitEnd());
  EXPECT_EQ(third->status().code(), absl::StatusCode::kCancelled);
  loop.Cancel(first_id);
  ASSERT_TRUE(first->AwaitEnd());
}

// An HTTPS engine: TLS engines are served one thread per request, with the
// same sink contract (pause, resume, cancel, end once).
TEST(EngineStreamLoopTest, OverTlsTheSameContractHoldsOnAThreadPerRequest) {
  char tmpl[] = "/tmp/dkdtls.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string cmd =
      absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout ",
                   dir, "/key.pem -out ", dir, "/cert.pem 2>/dev/null");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  httplib::SSLServer server((dir + "/cert.pem").c_str(), (dir + "/key.pem").c_str());
  ASSERT_TRUE(server.is_valid());
  const std::string big(32 << 20, 'y');  // More than every buffer on the way.
  std::atomic<bool> all_written{false};
  server.Get("/_ping", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Api-Version", "1.41");
    res.set_content("OK", "text/plain");
  });
  server.Get("/v1.41/events", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      sink.write("a", 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      sink.write(big.data(), big.size());  // Blocks while the reader is paused.
      all_written = true;
      sink.done();
      return true;
    });
  });
  server.Get("/v1.41/forever", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      sink.write("b", 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return sink.is_writable();
    });
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });

  EngineAddress address;
  address.scheme = EngineAddress::Scheme::kTcp;
  address.host = "127.0.0.1";
  address.port = port;
  address.tls = true;
  EngineClient client(address);
  {
    EngineStreamLoop loop(&client);
    auto sink = std::make_shared<Collector>(/*pause_first=*/true);
    const EngineStreamLoop::Id id = loop.Start(Get("/events"), sink);
    ASSERT_TRUE(sink->AwaitBytes(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_LT(sink->body().size(), big.size());  // Paused: the rest waits in the engine.
    EXPECT_FALSE(all_written.load());
    loop.Resume(id);
    ASSERT_TRUE(sink->AwaitEnd());
    EXPECT_TRUE(sink->status().ok()) << sink->status();
    EXPECT_EQ(sink->body().size(), 1 + big.size());

    auto endless = std::make_shared<Collector>();
    const EngineStreamLoop::Id forever = loop.Start(Get("/forever"), endless);
    ASSERT_TRUE(endless->AwaitBytes(3));
    loop.Cancel(forever);
    ASSERT_TRUE(endless->AwaitEnd());
    EXPECT_EQ(endless->status().code(), absl::StatusCode::kCancelled) << endless->status();

    // Destroying the loop ends what is still open.
    auto open = std::make_shared<Collector>(/*pause_first=*/true);
    loop.Start(Get("/forever"), open);
    ASSERT_TRUE(open->AwaitBytes(1));
  }
  server.stop();
  serving.join();
  std::system(absl::StrCat("rm -rf ", dir).c_str());
}

}  // namespace
}  // namespace dkd::core
