// Operations: limits, audit log, metrics and health endpoints, JSON logs,
// reload on SIGHUP and graceful shutdown on SIGTERM, against a real dkd.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "dkd/v1/build_generator.grpc.pb.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/integration/security_helpers.h"

namespace dkd::testing {
namespace {

using dkd::v1::DockerManager;
using grpc::StatusCode;

// GET http://127.0.0.1:port/path -> {status, body}.
std::pair<int, std::string> HttpGet(int port, const std::string& path) {
  CommandResult r = RunCommand(
      {"curl", "-s", "-w", "\n%{http_code}", absl::StrCat("http://127.0.0.1:", port, path)});
  const size_t nl = r.out.rfind('\n');
  if (nl == std::string::npos) return {0, ""};
  return {std::atoi(r.out.substr(nl + 1).c_str()), r.out.substr(0, nl)};
}

// Parses the Prometheus text format: "name{labels}" -> value. Fails the test
// on a malformed line.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    EXPECT_NE(sp, std::string::npos) << line;
    if (sp == std::string::npos) continue;
    char* end = nullptr;
    const std::string value = line.substr(sp + 1);
    const double v = std::strtod(value.c_str(), &end);
    EXPECT_TRUE(end != nullptr && *end == '\0') << line;
    out[line.substr(0, sp)] = v;
  }
  return out;
}

double Metric(int port, const std::string& key) {
  auto m = ParseMetrics(HttpGet(port, "/metrics").second);
  auto it = m.find(key);
  return it == m.end() ? -1 : it->second;
}

bool WaitFor(const std::function<bool()>& cond,
             std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

std::string Tar(const std::map<std::string, std::string>& files) {
  const std::string dir = MakeTempDir();
  for (const auto& [name, content] : files) std::ofstream(dir + "/" + name) << content;
  CommandResult tar = RunCommand({"tar", "-C", dir, "-cf", "-", "."});
  RunCommand({"rm", "-rf", dir});
  return tar.out;
}

// Streams a build of `context`; collects events.
std::string Base() { return FixtureEnv("DKD_TEST_BASE_IMAGE"); }

TEST(LimitsTest, StreamsPerIdentityAreCapped) {
  auto d = StartDaemon({"", {"--max-streams-per-identity", "2"}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  grpc::ClientContext c1, c2, c3;
  auto s1 = stub->StreamEvents(&c1, dkd::v1::StreamEventsRequest());
  auto s2 = stub->StreamEvents(&c2, dkd::v1::StreamEventsRequest());
  ASSERT_TRUE(
      WaitFor([&] { return Metric((*d)->http_port(), "dkd_grpc_streams_in_flight") == 2; }));
  auto s3 = stub->StreamEvents(&c3, dkd::v1::StreamEventsRequest());
  dkd::v1::EngineEvent e;
  EXPECT_FALSE(s3->Read(&e));
  grpc::Status s = s3->Finish();
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("limits.max_streams_per_identity"), std::string::npos)
      << s.error_message();
  c1.TryCancel();
  c2.TryCancel();
  s1->Finish();
  s2->Finish();
}

// A call without a client deadline gets dkd's default one; when it passes,
// the engine work stops and the caller sees DEADLINE_EXCEEDED naming the key.
TEST(LimitsTest, DefaultDeadlineEndsTheCallWithDeadlineExceeded) {
  auto d = StartDaemon({"", {}, R"({"limits": {"deadlines": {"WaitContainer": 1}}})"});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  dkd::v1::RunContainerRequest run;
  run.mutable_config()->set_image_name(Base());
  run.set_detach(true);
  run.add_command("sleep");
  run.add_command("60");
  dkd::v1::RunContainerResponse started;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->RunContainer(&ctx, run, &started).ok());
  }
  grpc::ClientContext ctx;
  dkd::v1::WaitContainerRequest wait;
  wait.set_id(started.id());
  dkd::v1::WaitContainerResponse resp;
  const auto t0 = std::chrono::steady_clock::now();
  grpc::Status s = stub->WaitContainer(&ctx, wait, &resp);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(s.error_code(), StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  EXPECT_NE(s.error_message().find("limits.deadlines.WaitContainer"), std::string::npos)
      << s.error_message();
  EXPECT_LT(took, std::chrono::seconds(3));
  RunCommand({"docker", "-H", TestEngineHost(), "rm", "-f", started.id()});
}

TEST(LimitsTest, BuildContextAndMessageSizeLimitsAreNamed) {
  ASSERT_FALSE(Base().empty());
  auto d = StartDaemon({"", {"--max-context-bytes", "20000", "--max-message-bytes", "8192"}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  grpc::ClientContext ctx;
  std::vector<dkd::v1::BuildEvent> events;
  grpc::Status s = Build(
      stub.get(), &ctx, "dkd-limit-big",
      Tar({{"Dockerfile", "FROM " + Base() + "\n"}, {"blob", std::string(200000, 'x')}}), &events);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("limits.max_context_bytes"), std::string::npos)
      << s.error_message();
  EXPECT_NE(RunCommand({"docker", "-H", TestEngineHost(), "image", "inspect", "dkd-limit-big:1"})
                .exit_code,
            0);

  auto gen = dkd::v1::BuildGenerator::NewStub(PlainChannel((*d)->unix_target()));
  grpc::ClientContext lint_ctx;
  dkd::v1::LintDockerfileRequest lint;
  lint.set_dockerfile(std::string(20000, '#'));
  dkd::v1::LintDockerfileResponse resp;
  s = gen->LintDockerfile(&lint_ctx, lint, &resp);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

TEST(LimitsTest, BuildsBeyondTheLimitQueueAndTheClientSeesIt) {
  ASSERT_FALSE(Base().empty());
  auto d = StartDaemon({"", {"--max-concurrent-builds", "1"}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string tag = absl::StrCat("dkd-queue-", getpid());
  std::thread first([&] {
    auto stub = DockerManager::NewStub(PlainChannel((*d)->unix_target()));
    grpc::ClientContext ctx;
    std::vector<dkd::v1::BuildEvent> events;
    grpc::Status s = Build(stub.get(), &ctx, tag + "-a",
                           Tar({{"Dockerfile", "FROM " + Base() + "\nRUN sleep 3\n"}}), &events);
    EXPECT_TRUE(s.ok()) << s.error_message();
  });
  ASSERT_TRUE(WaitFor([&] { return Metric((*d)->http_port(), "dkd_builds_active") == 1; }));
  auto stub = DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  grpc::ClientContext ctx;
  std::vector<dkd::v1::BuildEvent> events;
  grpc::Status s = Build(stub.get(), &ctx, tag + "-b",
                         Tar({{"Dockerfile", "FROM " + Base() + "\nRUN true\n"}}), &events);
  first.join();
  EXPECT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.front().has_queued());
  EXPECT_EQ(events.front().queued().position(), 1);
  EXPECT_TRUE(events.back().has_result());
  RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", tag + "-a:1", tag + "-b:1"});
}

TEST(AuditTest, MutatingCallsAreAuditedAndNoSecretAppearsInAnyLog) {
  const std::string dir = MakeTempDir();
  const std::string audit = dir + "/audit.log";
  auto d = StartDaemon({"",
                        {"--audit-log", audit},
                        TokenConfig({{"ci", "build"}, {"viewer", "read"}}, "audit-secret-x9")});
  ASSERT_TRUE(d.ok()) << d.status();
  auto channel = PlainChannel((*d)->tcp_target());
  auto stub = DockerManager::NewStub(channel);
  const std::string password = FixtureEnv("DKD_TEST_AUTH_PASSWORD");
  const std::string registry_password = password.empty() ? "registry-pw-zz1" : password;
  {  // A push with registry credentials, to a registry the image is not for: fails.
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + TokenFor("ci", "audit-secret-x9"));
    dkd::v1::PushImageRequest req;
    req.set_image("127.0.0.1:1/nothing:1");
    req.mutable_auth()->set_username("dkd-test");
    req.mutable_auth()->set_password(registry_password);
    auto r = stub->PushImage(&ctx, req);
    dkd::v1::ProgressEvent e;
    while (r->Read(&e)) {
    }
    r->Finish();
  }
  // Denied, unauthenticated and allowed calls.
  CallByName(channel, "/dkd.v1.DockerManager/RunContainer", TokenFor("viewer", "audit-secret-x9"));
  CallByName(channel, "/dkd.v1.DockerManager/RemoveImage", "tok-wrong-audit-secret-x9");
  CallByName(channel, "/dkd.v1.DockerManager/Ping", TokenFor("viewer", "audit-secret-x9"));
  EXPECT_EQ((*d)->Stop(), 0);

  const std::string lines = Slurp(audit);
  std::vector<nlohmann::json> records;
  std::stringstream ss(lines);
  for (std::string line; std::getline(ss, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    for (const char* k : {"time", "request_id", "identity", "rpc", "target", "outcome", "code"}) {
      EXPECT_TRUE(j.contains(k)) << k << " missing in " << line;
    }
    records.push_back(j);
  }
  auto has = [&](const std::string& rpc, const std::string& identity, const std::string& outcome) {
    for (const auto& r : records) {
      if (r["rpc"] == rpc && r["identity"] == identity && r["outcome"] == outcome) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("PushImage", "ci", "failed")) << lines;
  EXPECT_TRUE(has("RunContainer", "viewer", "denied")) << lines;
  EXPECT_TRUE(has("RemoveImage", "", "unauthenticated")) << lines;
  EXPECT_FALSE(has("Ping", "viewer", "ok")) << "read calls are not audited";
  for (const auto& r : records) {
    if (r["rpc"] == "PushImage") {
      EXPECT_EQ(r["target"], "127.0.0.1:1/nothing:1");
    }
  }
  const std::string all = lines + (*d)->Log();
  for (const std::string& secret : {std::string("audit-secret-x9"), registry_password,
                                    server::Sha256Hex(TokenFor("ci", "audit-secret-x9"))}) {
    EXPECT_EQ(all.find(secret), std::string::npos) << "secret in logs: " << secret;
  }
  RunCommand({"rm", "-rf", dir});
}

TEST(MetricsTest, HealthReadinessAndMetricsAreServed) {
  auto d = StartDaemon({"", {}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  CallByName(PlainChannel((*d)->unix_target()), "/dkd.v1.DockerManager/Ping");
  CallByName(PlainChannel((*d)->unix_target()), "/dkd.v1.DockerManager/InspectImage");
  EXPECT_EQ(HttpGet((*d)->http_port(), "/healthz").first, 200);
  EXPECT_EQ(HttpGet((*d)->http_port(), "/readyz").first, 200);
  auto [status, body] = HttpGet((*d)->http_port(), "/metrics");
  EXPECT_EQ(status, 200);
  auto m = ParseMetrics(body);
  EXPECT_EQ(m["dkd_grpc_requests_total{code=\"OK\",method=\"Ping\"}"], 1) << body;
  EXPECT_EQ(m["dkd_grpc_request_errors_total{method=\"InspectImage\"}"], 1) << body;
  EXPECT_EQ(m["dkd_grpc_request_duration_seconds_count{method=\"Ping\"}"], 1);
  EXPECT_EQ(m["dkd_engine_up"], 1);
  EXPECT_GE(m["dkd_engine_request_duration_seconds_count{operation=\"health_ping\"}"], 1);
  for (const char* name : {"dkd_grpc_streams_in_flight", "dkd_builds_active", "dkd_builds_queued",
                           "dkd_build_context_bytes_total"}) {
    EXPECT_TRUE(m.count(name)) << name;
  }

  auto down = StartDaemon({"unix:///tmp/dkd-metrics-no-engine.sock", {}, ""});
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(HttpGet((*down)->http_port(), "/healthz").first, 200);
  EXPECT_EQ(HttpGet((*down)->http_port(), "/readyz").first, 503);
}

TEST(MetricsTest, AuthFailuresAreCounted) {
  auto d = StartDaemon({"", {}, TokenConfig({{"ci", "read"}}, "m")});
  ASSERT_TRUE(d.ok());
  CallByName(PlainChannel((*d)->tcp_target()), "/dkd.v1.DockerManager/Ping");
  CallByName(PlainChannel((*d)->tcp_target()), "/dkd.v1.DockerManager/RemoveImage",
             TokenFor("ci", "m"));
  auto m = ParseMetrics(HttpGet((*d)->http_port(), "/metrics").second);
  EXPECT_EQ(m["dkd_auth_failures_total{reason=\"unauthenticated\"}"], 1);
  EXPECT_EQ(m["dkd_auth_failures_total{reason=\"permission_denied\"}"], 1);
}

TEST(LoggingTest, JsonLinesCarryTheRequestId) {
  auto d = StartDaemon({"", {"--log-format", "json"}, ""});
  ASSERT_TRUE(d.ok());
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-request-id", "trace-me-123");
  dkd::v1::PingResponse resp;
  auto stub = DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  ASSERT_TRUE(stub->Ping(&ctx, dkd::v1::PingRequest(), &resp).ok());
  auto it = ctx.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(it, ctx.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "trace-me-123");
  (*d)->Stop();
  std::stringstream ss((*d)->Log());
  bool seen = false;
  for (std::string line; std::getline(ss, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    seen = seen || j["request_id"] == "trace-me-123";
  }
  EXPECT_TRUE(seen) << (*d)->Log();
}

TEST(ReloadTest, SighupSwapsTokensWithoutDroppingStreams) {
  auto d = StartDaemon({"", {}, TokenConfig({{"ci", "read"}}, "before")});
  ASSERT_TRUE(d.ok());
  auto channel = PlainChannel((*d)->tcp_target());
  EXPECT_TRUE(CallByName(channel, "/dkd.v1.DockerManager/Ping", TokenFor("ci", "before")).ok());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + TokenFor("ci", "before"));
  auto events = DockerManager::NewStub(channel)->StreamEvents(&ctx, dkd::v1::StreamEventsRequest());
  ASSERT_TRUE(
      WaitFor([&] { return Metric((*d)->http_port(), "dkd_grpc_streams_in_flight") == 1; }));
  std::ofstream((*d)->dir() + "/dkd.json") << TokenConfig({{"ci", "read"}}, "after");
  kill((*d)->pid(), SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    return CallByName(channel, "/dkd.v1.DockerManager/Ping", TokenFor("ci", "after")).ok();
  }));
  EXPECT_EQ(
      CallByName(channel, "/dkd.v1.DockerManager/Ping", TokenFor("ci", "before")).error_code(),
      StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Metric((*d)->http_port(), "dkd_grpc_streams_in_flight"), 1) << "the stream survived";
  // A bad file is refused and the running configuration kept.
  std::ofstream((*d)->dir() + "/dkd.json") << R"({"auth": {"roles": 5}})";
  kill((*d)->pid(), SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return (*d)->Log().find("reload refused") != std::string::npos; }));
  EXPECT_TRUE(CallByName(channel, "/dkd.v1.DockerManager/Ping", TokenFor("ci", "after")).ok());
  ctx.TryCancel();
  events->Finish();
}

TEST(ShutdownTest, SigtermEndsStreamsCleanlyAndExitsZero) {
  ASSERT_FALSE(Base().empty());
  auto d = StartDaemon({"", {"--shutdown-grace", "2"}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string name = absl::StrCat("dkd-sigterm-", getpid());
  CommandResult run = RunCommand({"docker", "-H", TestEngineHost(), "run", "-d", "--name", name,
                                  Base(), "sh", "-c", "while true; do echo tick; sleep 0.2; done"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto channel = PlainChannel((*d)->unix_target());
  auto stub = DockerManager::NewStub(channel);

  grpc::Status logs_status, build_status;
  int lines = 0;
  std::thread logs([&] {
    grpc::ClientContext ctx;
    dkd::v1::ContainerLogsRequest req;
    req.set_id(name);
    req.set_follow(true);
    auto r = stub->ContainerLogs(&ctx, req);
    dkd::v1::LogEntry e;
    while (r->Read(&e)) ++lines;
    logs_status = r->Finish();
  });
  std::thread build([&] {
    grpc::ClientContext ctx;
    std::vector<dkd::v1::BuildEvent> events;
    // Unique per run: a cached step of an earlier build would end at once.
    build_status = Build(
        stub.get(), &ctx, name,
        Tar({{"Dockerfile", absl::StrCat("FROM ", Base(), "\nRUN echo ", name, " && sleep 30\n")}}),
        &events);
  });
  ASSERT_TRUE(WaitFor([&] {
    return Metric((*d)->http_port(), "dkd_builds_active") == 1 &&
           Metric((*d)->http_port(), "dkd_grpc_streams_in_flight") == 2 && lines > 0;
  })) << (*d)->Log();
  const auto started = std::chrono::steady_clock::now();
  const int code = (*d)->Stop(SIGTERM);
  const auto took = std::chrono::steady_clock::now() - started;
  logs.join();
  build.join();
  EXPECT_EQ(code, 0) << (*d)->Log();
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(logs_status.error_code(), StatusCode::UNAVAILABLE) << logs_status.error_message();
  EXPECT_NE(logs_status.error_message().find("shutting down"), std::string::npos);
  EXPECT_FALSE(build_status.ok());
  RunCommand({"docker", "-H", TestEngineHost(), "rm", "-f", name});
  RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", name + ":1"});
}

}  // namespace
}  // namespace dkd::testing
