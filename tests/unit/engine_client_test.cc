// EngineClient against a local test engine (tests/unit/fake_engine.h): the
// inactivity bound, and descriptor exhaustion told apart from a dead engine.
#include "core/engine/engine_client.h"

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
#include "core/base/fd_limit.h"
#include "gtest/gtest.h"
#include "tests/unit/fake_engine.h"

namespace dkd::core {
namespace {

using testing::FakeEngine;
using testing::FakeResponse;
using testing::Json;

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

}  // namespace
}  // namespace dkd::core
