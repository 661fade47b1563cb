// Reliability against an engine that hangs, dies, or a dkd out of file
// descriptors: each test starts dkd itself, and the engine tests an engine of
// their own (tests/support/test_engine.h) that they stop, kill and restart.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/test_engine.h"

namespace dkd::testing {
namespace {

using Clock = std::chrono::steady_clock;
using grpc::health::v1::HealthCheckResponse;

std::shared_ptr<grpc::Channel> Channel(const DaemonProcess& d) {
  return grpc::CreateChannel(d.unix_target(), grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext* ctx, int seconds) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

HealthCheckResponse::ServingStatus Health(const DaemonProcess& d) {
  auto stub = grpc::health::v1::Health::NewStub(Channel(d));
  grpc::ClientContext ctx;
  SetDeadline(&ctx, 5);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  if (!stub->Check(&ctx, req, &resp).ok()) return HealthCheckResponse::UNKNOWN;
  return resp.status();
}

// Polls `done` every 100 ms until it holds or `limit` passes.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Whether the engine answered: OK, or NOT_FOUND for an absent container.
bool Answered(const grpc::Status& s) {
  return s.ok() || s.error_code() == grpc::StatusCode::NOT_FOUND;
}

// The calls an engine answers promptly, each returning its status.
std::vector<std::pair<std::string, std::function<grpc::Status()>>> PromptCalls(
    dkd::v1::DockerManager::Stub* stub) {
  return {
      {"Ping",
       [stub] {
         grpc::ClientContext ctx;
         SetDeadline(&ctx, 60);
         dkd::v1::PingResponse r;
         return stub->Ping(&ctx, dkd::v1::PingRequest(), &r);
       }},
      {"GetEngineInfo",
       [stub] {
         grpc::ClientContext ctx;
         SetDeadline(&ctx, 60);
         dkd::v1::EngineInfo r;
         return stub->GetEngineInfo(&ctx, dkd::v1::GetEngineInfoRequest(), &r);
       }},
      {"ListContainers",
       [stub] {
         grpc::ClientContext ctx;
         SetDeadline(&ctx, 60);
         dkd::v1::ListContainersRequest req;
         req.set_show_all(true);
         dkd::v1::ListContainersResponse r;
         return stub->ListContainers(&ctx, req, &r);
       }},
      {"ListImages",
       [stub] {
         grpc::ClientContext ctx;
         SetDeadline(&ctx, 60);
         dkd::v1::ListImagesResponse r;
         return stub->ListImages(&ctx, dkd::v1::ListImagesRequest(), &r);
       }},
      {"InspectImage",
       [stub] {
         grpc::ClientContext ctx;
         SetDeadline(&ctx, 60);
         dkd::v1::InspectImageRequest req;
         req.set_image("busybox:latest");
         dkd::v1::ImageDetails r;
         return stub->InspectImage(&ctx, req, &r);
       }},
      // POST and DELETE: NOT_FOUND when the engine answers.
      {"StopContainer",
       [stub] {
         grpc::ClientContext ctx;
         SetDeadline(&ctx, 60);
         dkd::v1::StopContainerRequest req;
         req.set_id(absl::StrCat("dkdt-absent-", getpid()));
         req.mutable_timeout_seconds()->set_value(0);
         dkd::v1::StopContainerResponse r;
         return stub->StopContainer(&ctx, req, &r);
       }},
      {"RemoveContainer",
       [stub] {
         grpc::ClientContext ctx;
         SetDeadline(&ctx, 60);
         dkd::v1::RemoveContainerRequest req;
         req.set_id(absl::StrCat("dkdt-absent-", getpid()));
         dkd::v1::RemoveContainerResponse r;
         return stub->RemoveContainer(&ctx, req, &r);
       }},
  };
}

TEST(ReliabilityEngineTest, HungEngineFailsCallsUnavailableWithinTheBoundAndRecoversAfterSigcont) {
  auto engine = TestEngine::Start();
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto daemon = DaemonProcess::Start({(*engine)->host(),
                                      {"--engine-response-timeout", "2", "--health-interval", "0.3",
                                       "--list-cache-max-age", "0"}});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  DaemonProcess& d = **daemon;
  auto stub = dkd::v1::DockerManager::NewStub(Channel(d));
  for (auto& [name, call] : PromptCalls(stub.get())) {
    grpc::Status s = call();
    ASSERT_TRUE(Answered(s)) << name << ": " << s.error_message();
  }
  ASSERT_EQ(Health(d), HealthCheckResponse::SERVING);

  // A log follow is legitimately quiet: the container prints, stays silent
  // for twice the bound (the engine paused meanwhile), then prints again.
  const std::string name = absl::StrCat("dkdt-follow-", getpid());
  CommandResult run = (*engine)->Docker(
      {"run", "-d", "--name", name, "busybox", "sh", "-c", "echo ready; sleep 6; echo done"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::atomic<bool> follow_done{false};
  std::atomic<bool> follow_ready{false};
  grpc::Status follow_status;
  std::string followed;
  grpc::ClientContext follow_ctx;
  SetDeadline(&follow_ctx, 120);
  std::thread follower([&] {
    dkd::v1::ContainerLogsRequest req;
    req.set_id(name);
    req.set_follow(true);
    auto reader = stub->ContainerLogs(&follow_ctx, req);
    dkd::v1::LogEntry e;
    while (reader->Read(&e)) {
      followed += e.data();
      if (absl::StrContains(followed, "ready")) follow_ready = true;
    }
    follow_status = reader->Finish();
    follow_done = true;
  });
  ASSERT_TRUE(Eventually([&] { return follow_ready.load(); }, std::chrono::seconds(20)));

  ASSERT_TRUE((*engine)->Pause().ok());
  for (auto& [call_name, call] : PromptCalls(stub.get())) {
    const auto start = Clock::now();
    grpc::Status s = call();
    const double took = Seconds(Clock::now() - start);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
        << call_name << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "did not answer in 2 s"))
        << call_name << ": " << s.error_message();
    EXPECT_LT(took, 2.0 + 3.0) << call_name;  // The bound, plus scheduling slack.
  }
  const auto paused_at = Clock::now();
  EXPECT_TRUE(Eventually([&] { return Health(d) == HealthCheckResponse::NOT_SERVING; },
                         std::chrono::seconds(8)))
      << d.Log();
  EXPECT_LT(Seconds(Clock::now() - paused_at), 2.0 + 0.3 + 5.0);
  EXPECT_FALSE(follow_done.load());

  ASSERT_TRUE((*engine)->Resume().ok());
  EXPECT_TRUE(Eventually([&] { return Health(d) == HealthCheckResponse::SERVING; },
                         std::chrono::seconds(15)))
      << d.Log();
  for (auto& [call_name, call] : PromptCalls(stub.get())) {
    grpc::Status s = call();
    EXPECT_TRUE(Answered(s)) << call_name << " after SIGCONT: " << s.error_message();
  }
  follower.join();
  EXPECT_TRUE(follow_status.ok()) << follow_status.error_message();
  EXPECT_EQ(followed, "ready\ndone\n");
  (*engine)->Docker({"rm", "-f", name});
  EXPECT_EQ(d.Stop(), 0) << d.Log();
}

int OpenDescriptors(pid_t pid) {
  int n = 0;
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) return -1;
  while (dirent* ent = readdir(dir)) {
    if (ent->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

// Lines of dkd's log at `level` that contain `needle`.
int CountLines(const std::string& log, absl::string_view level, absl::string_view needle) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, absl::StrCat(" ", level, " ")) && absl::StrContains(line, needle)) {
      ++n;
    }
  }
  return n;
}

grpc::Status StopMissing(dkd::v1::DockerManager::Stub* stub, int deadline_seconds = 30) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline_seconds);
  dkd::v1::StopContainerRequest req;
  req.set_id(absl::StrCat("dkdt-missing-", getpid()));
  dkd::v1::StopContainerResponse r;
  return stub->StopContainer(&ctx, req, &r);
}

TEST(ReliabilityEngineTest, RunningOutOfDescriptorsIsResourceExhaustedNamingTheLimitAndLoggedOnce) {
  auto daemon = DaemonProcess::Start({"", {"--max-streams-per-identity", "500"}});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  DaemonProcess& d = **daemon;
  EXPECT_TRUE(absl::StrContains(d.Log(), "open-file limit (RLIMIT_NOFILE)")) << d.Log();
  auto stub = dkd::v1::DockerManager::NewStub(Channel(d));
  ASSERT_EQ(StopMissing(stub.get()).error_code(), grpc::StatusCode::NOT_FOUND);

  // As `prlimit --nofile=N:N` would: a little room above what dkd holds now.
  const int open_now = OpenDescriptors(d.pid());
  ASSERT_GT(open_now, 0);
  const rlim_t limit = static_cast<rlim_t>(open_now + 16);
  struct rlimit low = {limit, limit};
  ASSERT_EQ(prlimit(d.pid(), RLIMIT_NOFILE, &low, nullptr), 0) << strerror(errno);

  // Event streams hold an engine connection each: open more than fit.
  constexpr int kStreams = 40;
  std::mutex mu;
  std::vector<grpc::Status> ended;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::thread> readers;
  for (int i = 0; i < kStreams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    grpc::ClientContext* ctx = contexts.back().get();
    readers.emplace_back([&, ctx] {
      auto reader = stub->StreamEvents(ctx, dkd::v1::StreamEventsRequest());
      dkd::v1::EngineEvent e;
      while (reader->Read(&e)) {
      }
      grpc::Status s = reader->Finish();
      std::lock_guard<std::mutex> lock(mu);
      ended.push_back(s);
    });
  }
  const auto first_refusal = Clock::now();
  ASSERT_TRUE(Eventually(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return ended.size() >= 5;
      },
      std::chrono::seconds(30)))
      << d.Log();
  grpc::Status unary = StopMissing(stub.get());
  // A new connection while no descriptor is left cannot be served (accept
  // fails, or the engine connection does); the listener must survive it.
  auto during = dkd::v1::DockerManager::NewStub(Channel(d));
  grpc::Status refused = StopMissing(during.get(), 3);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.error_code(), grpc::StatusCode::NOT_FOUND) << refused.error_message();
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& s : ended) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
      EXPECT_TRUE(absl::StrContains(
          s.error_message(),
          absl::StrCat("dkd has no file descriptors left (RLIMIT_NOFILE ", limit, ")")))
          << s.error_message();
      EXPECT_FALSE(absl::StrContains(s.error_message(), "unreachable")) << s.error_message();
    }
  }
  EXPECT_EQ(unary.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << unary.error_message();
  const double elapsed = Seconds(Clock::now() - first_refusal);
  const std::string log = d.Log();
  // At error level, once per 10 s however many calls were refused.
  const int reports = CountLines(log, "error", "dkd has no file descriptors left (RLIMIT_NOFILE");
  EXPECT_GE(reports, 1) << log;
  EXPECT_LE(reports, 1 + static_cast<int>(elapsed / 10.0)) << log;
  EXPECT_EQ(CountLines(log, "error", "unreachable"), 0) << log;
  EXPECT_EQ(CountLines(log, "warn", "unreachable"), 0) << log;

  // Streams closed: dkd serves again, on this connection and on a new one.
  for (auto& ctx : contexts) ctx->TryCancel();
  for (auto& t : readers) t.join();
  EXPECT_TRUE(Eventually(
      [&] { return StopMissing(stub.get()).error_code() == grpc::StatusCode::NOT_FOUND; },
      std::chrono::seconds(15)))
      << d.Log();
  auto fresh = dkd::v1::DockerManager::NewStub(Channel(d));
  EXPECT_EQ(StopMissing(fresh.get()).error_code(), grpc::StatusCode::NOT_FOUND) << d.Log();
  EXPECT_EQ(d.Stop(), 0) << d.Log();
}

// The ids of containers the engine has (all states).
std::vector<std::string> AllContainers(const TestEngine& engine) {
  CommandResult r = engine.Docker({"ps", "-a", "-q", "--no-trunc"});
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(line));
  }
  return out;
}

std::string MakeContext(const std::string& dockerfile) {
  char tmpl[] = "/tmp/dkdx.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/Dockerfile") << dockerfile;
  return dir;
}

// Starts a build whose RUN step sleeps, waits until its step container runs,
// and returns that container's id; the build runs on in `builder`.
std::string StartLongBuild(const DaemonProcess& d, const TestEngine& engine,
                           const std::string& context, std::thread* builder,
                           CommandResult* result) {
  const std::string tag = absl::StrCat("dkdt-leftover-", getpid());
  const std::string host = d.unix_host();
  *builder = std::thread([host, tag, context, result] {
    // Step containers are the classic builder's (BuildKit runs steps itself).
    *result = Dkctl(
        host, {"build", "--builder", "classic", "--pull=false", "--no-cache", "-t", tag, context});
  });
  std::string step;
  Eventually(
      [&] {
        CommandResult r = engine.Docker({"ps", "-q", "--no-trunc", "--filter", "status=running"});
        step = std::string(absl::StripAsciiWhitespace(r.out));
        return !step.empty();
      },
      std::chrono::seconds(60));
  return step;
}

TEST(ReliabilityEngineTest, StepContainerOfABuildTheEngineDiedUnderIsRemovedWhenItReturns) {
  auto engine = TestEngine::Start();
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto daemon = DaemonProcess::Start({(*engine)->host(), {"--health-interval", "0.3"}});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  DaemonProcess& d = **daemon;
  // Someone else's stopped container, which the build's RUN step names the
  // way the builder names its step containers: it must stay.
  CommandResult keep = (*engine)->Docker({"create", "--name", "dkdt-keep", "busybox", "true"});
  ASSERT_EQ(keep.exit_code, 0) << keep.err;
  const std::string keep_id(absl::StripAsciiWhitespace(keep.out));
  const std::string context = MakeContext(absl::StrCat(
      "FROM busybox\nRUN echo step-", getpid(), " && echo ' ---> Running in ",
      keep_id.substr(0, 12), "' && echo ' ---> Running in ", keep_id, "' && sleep 300\n"));

  std::thread builder;
  CommandResult build;
  const std::string step = StartLongBuild(d, **engine, context, &builder, &build);
  ASSERT_FALSE(step.empty()) << d.Log() << (*engine)->Log();
  ASSERT_TRUE((*engine)->Kill().ok());
  builder.join();
  EXPECT_NE(build.exit_code, 0) << build.out;

  if (absl::Status s = (*engine)->Restart(); !s.ok()) FAIL() << s;
  // After the restart the engine has the step container, Exited; dkd
  // removes it once it sees the engine answer.
  EXPECT_TRUE(Eventually(
      [&] {
        std::vector<std::string> all = AllContainers(**engine);
        return std::find(all.begin(), all.end(), step) == all.end();
      },
      std::chrono::seconds(30)))
      << d.Log();
  EXPECT_TRUE(absl::StrContains(d.Log(), "removed step container " + step)) << d.Log();
  EXPECT_EQ(AllContainers(**engine), std::vector<std::string>{keep_id});
  EXPECT_TRUE(absl::StrContains(d.Log(), "not removing container " + keep_id.substr(0, 12)))
      << d.Log();
  EXPECT_EQ(d.Stop(), 0) << d.Log();
  RunCommand({"rm", "-rf", context});
}

TEST(ReliabilityEngineTest, StepContainerIsRemovedByTheNextDkdWhenDkdRestartedMeanwhile) {
  auto engine = TestEngine::Start();
  ASSERT_TRUE(engine.ok()) << engine.status();
  char tmpl[] = "/tmp/dkds.XXXXXX";
  const std::string state_dir = mkdtemp(tmpl);
  const DaemonProcess::Options options{(*engine)->host(),
                                       {"--health-interval", "0.3", "--state-dir", state_dir}};
  const std::string context =
      MakeContext(absl::StrCat("FROM busybox\nRUN echo step2-", getpid(), " && sleep 300\n"));
  std::string step;
  {
    auto daemon = DaemonProcess::Start(options);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    std::thread builder;
    CommandResult build;
    step = StartLongBuild(**daemon, **engine, context, &builder, &build);
    ASSERT_FALSE(step.empty()) << (*daemon)->Log();
    // The engine and dkd go down together: dkd never sees the build end.
    ASSERT_TRUE((*engine)->Kill().ok());
    (*daemon)->Stop(9);
    builder.join();
  }
  if (absl::Status s = (*engine)->Restart(); !s.ok()) FAIL() << s;
  auto daemon = DaemonProcess::Start(options);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  EXPECT_TRUE(Eventually(
      [&] {
        std::vector<std::string> all = AllContainers(**engine);
        return std::find(all.begin(), all.end(), step) == all.end();
      },
      std::chrono::seconds(30)))
      << (*daemon)->Log();
  EXPECT_TRUE(absl::StrContains((*daemon)->Log(), "removed step container " + step))
      << (*daemon)->Log();
  EXPECT_EQ((*daemon)->Stop(), 0);
  RunCommand({"rm", "-rf", context, state_dir});
}

}  // namespace
}  // namespace dkd::testing
