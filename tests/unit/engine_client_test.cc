// EngineClient and BuildLeftovers against a local test engine: a unix socket
// served by a thread that answers (or stays silent) as each test needs.
#include "core/engine_client.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/build_leftovers.h"
#include "core/fd_limit.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

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

FakeResponse Json(const std::string& body) {
  FakeResponse r;
  r.body = body;
  return r;
}

TEST(EngineClientTest, PromptCallFailsUnavailableWithinTheResponseTimeoutWhenTheEngineIsSilent) {
  FakeEngine fake([](const std::string&, const std::string&) {
    FakeResponse r;
    r.never_answer = true;
    return r;
  });
  EngineClient client(fake.address(), absl::Milliseconds(400));
  EngineRequest req;
  req.path = "/containers/json";
  const absl::Time start = absl::Now();
  auto res = client.Call(req);
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
  EXPECT_TRUE(absl::StrContains(res.status().message(), "did not answer in 0.4 s")) << res.status();
  EXPECT_TRUE(absl::StrContains(res.status().message(), "GET /containers/json")) << res.status();
  EXPECT_GE(took, absl::Milliseconds(350));
  EXPECT_LT(took, absl::Seconds(3));
}

TEST(EngineClientTest, PostCallsAndPingAreBoundedToo) {
  FakeEngine fake([](const std::string&, const std::string&) {
    FakeResponse r;
    r.never_answer = true;
    return r;
  });
  EngineClient client(fake.address(), absl::Milliseconds(300));
  ASSERT_TRUE(client.Ping().ok());
  for (const char* method : {"POST", "DELETE"}) {
    EngineRequest req;
    req.method = method;
    req.path = "/containers/abc/start";
    req.body = "{}";
    auto res = client.Call(req);
    EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << method;
    EXPECT_TRUE(absl::StrContains(res.status().message(), "did not answer")) << res.status();
  }
}

TEST(EngineClientTest, SilenceMidResponseIsCaughtAsWellAsBeforeTheHeaders) {
  FakeEngine fake([](const std::string&, const std::string&) {
    FakeResponse r = Json("[]");
    r.delay_body = absl::Seconds(2);
    return r;
  });
  EngineClient client(fake.address(), absl::Milliseconds(300));
  EngineRequest req;
  req.path = "/images/json";
  auto res = client.Call(req);
  ASSERT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
  EXPECT_TRUE(absl::StrContains(res.status().message(), "mid-response")) << res.status();
}

TEST(EngineClientTest, QuietStreamWithItsOwnBoundOutlivesTheResponseTimeout) {
  FakeEngine fake([](const std::string&, const std::string&) {
    FakeResponse r = Json("{\"StatusCode\":0}");
    r.delay_headers = absl::Milliseconds(900);  // Three response timeouts of silence.
    return r;
  });
  EngineClient client(fake.address(), absl::Milliseconds(300));
  EngineRequest req;
  req.method = "POST";
  req.path = "/containers/abc/wait";
  req.read_timeout = absl::Hours(1);
  std::string body;
  absl::Status s = client.Stream(req, [&](absl::string_view d) {
    body.append(d.data(), d.size());
    return true;
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(body, "{\"StatusCode\":0}");
}

TEST(EngineClientTest, AnsweringEngineWithinTheBoundIsNotCutOff) {
  FakeEngine fake([](const std::string&, const std::string&) {
    FakeResponse r = Json("{\"Id\":\"x\"}");
    r.delay_headers = absl::Milliseconds(150);
    return r;
  });
  EngineClient client(fake.address(), absl::Milliseconds(800));
  EngineRequest req;
  req.path = "/containers/x/json";
  auto res = client.CallJson(req);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->value("Id", ""), "x");
}

TEST(EngineClientTest, NoDescriptorsLeftIsResourceExhaustedNamingTheLimitNotUnavailable) {
  FakeEngine fake([](const std::string&, const std::string&) { return Json("[]"); });
  EngineClient client(fake.address(), absl::Seconds(5));
  ASSERT_TRUE(client.Ping().ok());
  // Lower the soft limit to the descriptors open now: the next socket() fails.
  struct rlimit saved {};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  int highest = 0;
  for (int fd = 0; fd < 4096; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0) highest = fd;
  }
  struct rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(highest + 1);
  const uint64_t before = FdExhaustionCount();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;  // Take the free descriptors below the limit.
  for (int fd; (fd = dup(0)) >= 0;) fillers.push_back(fd);
  EngineRequest req;
  req.method = "POST";  // Never a pooled connection.
  req.path = "/containers/create";
  req.body = "{}";
  auto first = client.Call(req);
  auto second = client.Call(req);
  for (int fd : fillers) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(first.status().code(), absl::StatusCode::kResourceExhausted) << first.status();
  EXPECT_TRUE(absl::StrContains(
      first.status().message(),
      absl::StrCat("dkd has no file descriptors left (RLIMIT_NOFILE ", highest + 1, ")")))
      << first.status();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FdExhaustionCount() - before, 2u);
  // The engine was never the problem: with descriptors back, the call works
  // without renegotiating.
  auto after = client.Call(req);
  EXPECT_TRUE(after.ok()) << after.status();
}

TEST(EngineClientTest, EngineThatIsGoneIsStillUnavailable) {
  EngineAddress a;
  a.socket_path = "/tmp/dkd-no-such-engine-" + std::to_string(getpid()) + ".sock";
  EngineClient client(a, absl::Seconds(1));
  absl::Status s = client.Ping();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "unreachable")) << s;
}

TEST(FdLimitTest, RaiseNoFileLimitToHardReachesTheHardLimit) {
  struct rlimit saved {};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(saved.rlim_max, 256);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  const NoFileRaise r = RaiseNoFileLimitToHard();
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.before.soft, low.rlim_cur);
  EXPECT_EQ(r.after.soft, r.after.hard);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

TEST(StepContainerLineTest, ParsesTheClassicBuilderLinesOnly) {
  EXPECT_EQ(StepContainerStarted(" ---> Running in 3f2a9c1b7d4e\n"), "3f2a9c1b7d4e");
  EXPECT_EQ(StepContainerStarted(" ---> Running in 3F2A9C1B7D4E"), "");  // Not the engine's case.
  EXPECT_EQ(StepContainerStarted(" ---> Running in 3f2a9c"), "");        // Too short.
  EXPECT_EQ(StepContainerStarted(" ---> Running in 3f2a9c1b7d4e; rm -rf"), "");
  EXPECT_EQ(StepContainerStarted(" ---> Running in ../../3f2a9c1b7d4e"), "");
  EXPECT_EQ(StepContainerStarted("Step 2/3 : RUN sleep 60"), "");
  EXPECT_EQ(StepContainerRemoved(" ---> Removed intermediate container 3f2a9c1b7d4e"),
            "3f2a9c1b7d4e");
  EXPECT_EQ(StepContainerRemoved("Removing intermediate container 3f2a9c1b7d4e"), "3f2a9c1b7d4e");
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

// A fake engine holding containers by id; records DELETEs.
struct ContainerTable {
  std::mutex mu;
  std::map<std::string, nlohmann::json> containers;
  std::vector<std::string> deleted;
  FakeResponse Handle(const std::string& method, const std::string& target) {
    std::lock_guard<std::mutex> lock(mu);
    const std::string prefix = "/v1.41/containers/";
    if (target.rfind(prefix, 0) != 0) return FakeResponse{404, "{\"message\":\"no\"}"};
    std::string rest = target.substr(prefix.size());
    std::string id = rest.substr(0, rest.find_first_of("/?"));
    for (const auto& [full, j] : containers) {
      if (full.rfind(id, 0) == 0) {
        if (method == "DELETE") {
          deleted.push_back(full);
          containers.erase(full);
          FakeResponse r;
          r.status = 204;
          return r;
        }
        return Json(j.dump());
      }
    }
    return FakeResponse{404, "{\"message\":\"No such container\"}"};
  }
};

nlohmann::json StepContainer(const std::string& id, absl::Time created, bool running,
                             const std::string& image) {
  return {{"Id", id},
          {"Created", Rfc3339(created)},
          {"State", {{"Running", running}, {"Status", running ? "running" : "exited"}}},
          {"Config", {{"Image", image}}}};
}

std::string Hex64(char c) { return std::string(64, c); }

TEST(BuildLeftoversTest, RemovesTheStepContainerOfABuildTheEngineDiedUnder) {
  ContainerTable table;
  FakeEngine fake([&](const std::string& m, const std::string& t) { return table.Handle(m, t); });
  auto engine = std::make_shared<EngineClient>(fake.address(), absl::Seconds(5));
  BuildLeftovers leftovers(engine, "");
  auto build = leftovers.Begin();
  const std::string id = Hex64('a');
  table.containers[id] = StepContainer(id, absl::Now(), false, "sha256:" + Hex64('1'));
  build->Observe("Step 2/3 : RUN sleep 600\n");
  build->Observe(" ---> Running in " + id.substr(0, 12) + "\n");
  EXPECT_FALSE(leftovers.HasPending());  // Still running: never touched.
  build->End(absl::UnavailableError("connection to the Docker Engine failed: Read"));
  ASSERT_EQ(leftovers.Pending(), std::vector<std::string>{id.substr(0, 12)});
  EXPECT_EQ(leftovers.Sweep(), 1);
  EXPECT_EQ(table.deleted, std::vector<std::string>{id});
  EXPECT_FALSE(leftovers.HasPending());
}

TEST(BuildLeftoversTest, ForgetsStepContainersOfBuildsThatEndedWithTheEngineAlive) {
  ContainerTable table;
  FakeEngine fake([&](const std::string& m, const std::string& t) { return table.Handle(m, t); });
  auto engine = std::make_shared<EngineClient>(fake.address(), absl::Seconds(5));
  BuildLeftovers leftovers(engine, "");
  for (absl::Status end : {absl::OkStatus(), absl::CancelledError("caller went away"),
                           absl::FailedPreconditionError("build failed at step 2/3")}) {
    auto build = leftovers.Begin();
    build->Observe(" ---> Running in " + Hex64('b').substr(0, 12) + "\n");
    build->End(end);
    EXPECT_FALSE(leftovers.HasPending()) << end;
  }
  auto removed = leftovers.Begin();
  removed->Observe(" ---> Running in " + Hex64('c').substr(0, 12));
  removed->Observe(" ---> Removed intermediate container " + Hex64('c').substr(0, 12));
  removed->End(absl::UnavailableError("engine died"));
  EXPECT_FALSE(leftovers.HasPending());
}

TEST(BuildLeftoversTest, BuildOutputNamingAnotherContainerCannotGetItRemoved) {
  ContainerTable table;
  FakeEngine fake([&](const std::string& m, const std::string& t) { return table.Handle(m, t); });
  auto engine = std::make_shared<EngineClient>(fake.address(), absl::Seconds(5));
  BuildLeftovers leftovers(engine, "");
  // Victims: one made before the build, one run from an image name (not a
  // step's image id), one still running. A RUN step prints their ids.
  const std::string older = Hex64('d'), named = Hex64('e'), running = Hex64('f');
  table.containers[older] =
      StepContainer(older, absl::Now() - absl::Minutes(5), false, "sha256:" + Hex64('1'));
  auto build = leftovers.Begin();
  table.containers[named] = StepContainer(named, absl::Now(), false, "busybox:latest");
  table.containers[running] = StepContainer(running, absl::Now(), true, "sha256:" + Hex64('1'));
  build->Observe(" ---> Running in " + Hex64('9').substr(0, 12) + "\n");
  for (const auto& victim : {older, named, running}) {
    build->Observe("Step 3/3 : RUN x\n ---> Running in " + victim.substr(0, 12) + "\n");
  }
  build->End(absl::UnavailableError("engine died"));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(leftovers.Sweep(), 0);
  EXPECT_TRUE(table.deleted.empty());
  EXPECT_EQ(table.containers.size(), 3u);
  EXPECT_FALSE(leftovers.HasPending());  // Running ones are given up after a few sweeps.
}

TEST(BuildLeftoversTest, IdsPersistedByAnEarlierProcessAreRemovedAfterARestart) {
  ContainerTable table;
  FakeEngine fake([&](const std::string& m, const std::string& t) { return table.Handle(m, t); });
  auto engine = std::make_shared<EngineClient>(fake.address(), absl::Seconds(5));
  char tmpl[] = "/tmp/dkdbl.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string file = dir + "/build-steps.json";
  const std::string id = Hex64('7');
  {
    // dkd dies with the engine mid-build: End() never runs.
    BuildLeftovers first(engine, file);
    auto build = first.Begin();
    table.containers[id] = StepContainer(id, absl::Now(), false, "sha256:" + Hex64('2'));
    build->Observe(" ---> Running in " + id.substr(0, 12) + "\n");
    build.release();  // NOLINT: simulates the process dying with the build open.
  }
  BuildLeftovers second(engine, file);
  ASSERT_TRUE(second.Load().ok());
  ASSERT_TRUE(second.HasPending());
  EXPECT_EQ(second.Sweep(), 1);
  EXPECT_EQ(table.deleted, std::vector<std::string>{id});
  BuildLeftovers third(engine, file);
  ASSERT_TRUE(third.Load().ok());
  EXPECT_FALSE(third.HasPending());
  unlink(file.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace dkd::core
