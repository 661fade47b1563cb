// Calls themselves as an attack surface, against a real dkd and engine:
// request bytes that do not parse as the request type, and many concurrent
// calls from one identity (the per-identity call cap, and WaitContainer
// holding no thread while it waits).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "dkd/v1/build_generator.grpc.pb.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "tests/integration/security_helpers.h"

namespace dkd::testing {
namespace {

using grpc::StatusCode;

// A length-delimited field `number` holding `bytes`, on the wire.
std::string LengthDelimited(int number, const std::string& bytes) {
  std::string out;
  out.push_back(static_cast<char>((number << 3) | 2));
  out.push_back(static_cast<char>(bytes.size()));
  return out + bytes;
}

int FieldNumber(const google::protobuf::Descriptor* d, const char* name) {
  return d->FindFieldByName(name)->number();
}

struct Garbage {
  std::string what;
  std::string bytes;
};

// Bytes that no proto3 message parses: an end-group tag with no start, a
// truncated varint, a length past the end, and (per message type) a string
// field holding invalid UTF-8.
std::vector<Garbage> GarbageFor(const google::protobuf::Descriptor* d, const char* string_field) {
  std::vector<Garbage> g = {{"stray end-group tag", "\x0c"},
                            {"truncated varint", std::string("\x08\xff\xff", 3)},
                            {"length past the end", std::string("\x0a\x7f", 2) + "abc"}};
  if (string_field != nullptr) {
    g.push_back({"invalid UTF-8 in a string field",
                 LengthDelimited(FieldNumber(d, string_field), "\xff\xfe")});
  }
  return g;
}

TEST(MalformedRequestTest, EveryKindOfRpcSaysInvalidArgumentNamingTheRequestType) {
  auto d = StartDaemon({"", {}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  auto channel = PlainChannel((*d)->unix_target());
  struct Rpc {
    std::string method;
    const google::protobuf::Descriptor* type;
    const char* string_field;
  };
  const std::vector<Rpc> rpcs = {
      // Unary.
      {"/dkd.v1.DockerManager/RunContainer", dkd::v1::RunContainerRequest::descriptor(), "name"},
      {"/dkd.v1.DockerManager/InspectContainer", dkd::v1::InspectContainerRequest::descriptor(),
       "id"},
      {"/dkd.v1.BuildGenerator/LintDockerfile", dkd::v1::LintDockerfileRequest::descriptor(),
       "dockerfile"},
      // Server streams.
      {"/dkd.v1.DockerManager/ContainerLogs", dkd::v1::ContainerLogsRequest::descriptor(), "id"},
      {"/dkd.v1.DockerManager/PullImage", dkd::v1::PullImageRequest::descriptor(), "image"},
  };
  for (const Rpc& rpc : rpcs) {
    for (const Garbage& g : GarbageFor(rpc.type, rpc.string_field)) {
      grpc::Status s = CallWithPayload(channel, rpc.method, g.bytes);
      EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << rpc.method << ", " << g.what;
      EXPECT_NE(s.error_message().find("does not parse as " + rpc.type->full_name()),
                std::string::npos)
          << rpc.method << ", " << g.what << ": " << s.error_message();
    }
  }
  // Bidi: the build stream whose first message is garbage.
  for (const Garbage& g : GarbageFor(dkd::v1::BuildImageRequest::descriptor(), nullptr)) {
    grpc::Status s = CallWithPayload(channel, "/dkd.v1.DockerManager/BuildImage", g.bytes);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << g.what;
    EXPECT_NE(s.error_message().find("does not parse as dkd.v1.BuildImageRequest"),
              std::string::npos)
        << g.what << ": " << s.error_message();
  }
  // Allowed neighbours on the same channel: valid bytes still work, and the
  // valid-but-empty request fails validation, naming the field.
  dkd::v1::InspectContainerRequest inspect;
  inspect.set_id("dkd-no-such-container-" + std::to_string(getpid()));
  grpc::Status s = CallWithPayload(channel, "/dkd.v1.DockerManager/InspectContainer",
                                   inspect.SerializeAsString());
  EXPECT_EQ(s.error_code(), StatusCode::NOT_FOUND) << s.error_message();
  s = CallByName(channel, "/dkd.v1.DockerManager/RunContainer");
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().find("does not parse"), std::string::npos) << s.error_message();
  EXPECT_TRUE(CallByName(channel, "/dkd.v1.DockerManager/Ping").ok()) << "dkd is still up";
}

TEST(MalformedRequestTest, GarbageNeverSkipsAuthentication) {
  // An anonymous TCP caller: its garbage is refused without running any
  // handler, and a valid request from it is still UNAUTHENTICATED.
  auto d = StartDaemon({"", {}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  auto tcp = PlainChannel((*d)->tcp_target());
  grpc::Status s = CallWithPayload(tcp, "/dkd.v1.DockerManager/RunContainer", "\x0c");
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(CallByName(tcp, "/dkd.v1.DockerManager/RunContainer").error_code(),
            StatusCode::UNAUTHENTICATED);
  // Only the valid request reached the guarded handler (one debug line per call).
  const std::string log = (*d)->Log();
  size_t calls = 0;
  for (size_t at = log.find("RunContainer identity="); at != std::string::npos;
       at = log.find("RunContainer identity=", at + 1)) {
    ++calls;
  }
  EXPECT_EQ(calls, 1u) << log;
}

// Threads of process `pid`, from /proc/PID/status.
int Threads(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

bool WaitFor(const std::function<bool()>& cond) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

// A container that exits with 7 when stopped.
std::string StartStoppable(const std::string& base, const std::string& label) {
  CommandResult r =
      RunCommand({"docker", "-H", TestEngineHost(), "run", "-d", "--label", label, base, "sh", "-c",
                  "trap 'exit 7' TERM; while true; do sleep 0.1; done"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, r.out.find('\n'));
}

TEST(WaitContainerTest, ThreeHundredWaitsHoldNoThreadsAndTheCapStopsOneIdentityOnly) {
  const std::string base = FixtureEnv("DKD_TEST_BASE_IMAGE");
  ASSERT_FALSE(base.empty());
  auto d = StartDaemon({"",
                        {},
                        TokenConfig({{"waiter", "read"}, {"other", "read"}}, "wait",
                                    R"("limits":{"max_calls_per_identity":300})")});
  ASSERT_TRUE(d.ok()) << d.status();
  auto channel = PlainChannel((*d)->unix_target());
  auto stub = dkd::v1::DockerManager::NewStub(channel);
  const std::string label = "dkd.test.wait=" + std::to_string(getpid());
  const std::string id = StartStoppable(base, label);
  ASSERT_FALSE(id.empty());
  const std::string waiter = TokenFor("waiter", "wait"), other = TokenFor("other", "wait");
  ASSERT_TRUE(CallByName(channel, "/dkd.v1.DockerManager/Ping", waiter).ok());
  const int baseline = Threads((*d)->pid());

  {
    AsyncWaits waits(stub.get(), id, waiter, 300);
    // All 300 are in progress once the next call of the same identity is over the cap.
    grpc::Status over;
    ASSERT_TRUE(WaitFor([&] {
      over = CallByName(channel, "/dkd.v1.DockerManager/Ping", waiter);
      return over.error_code() == StatusCode::RESOURCE_EXHAUSTED;
    })) << "last ping: code "
        << over.error_code() << " \"" << over.error_message() << "\"; " << WaitsRegistered(**d)
        << " waits registered; dkd log tail: "
        << (*d)->Log().substr((*d)->Log().size() > 3000 ? (*d)->Log().size() - 3000 : 0);
    EXPECT_NE(over.error_message().find("limits.max_calls_per_identity"), std::string::npos)
        << over.error_message();
    ASSERT_TRUE(WaitFor([&] { return WaitsRegistered(**d) >= 300; })) << WaitsRegistered(**d);
    // Another identity is not starved: it pings and waits on the same container.
    EXPECT_TRUE(CallByName(channel, "/dkd.v1.DockerManager/Ping", other).ok());
    AsyncWaits other_wait(stub.get(), id, other, 1);
    ASSERT_TRUE(WaitFor([&] { return WaitsRegistered(**d) >= 301; }));
    const int during = Threads((*d)->pid());
    ::testing::Test::RecordProperty("dkd_threads_before", baseline);
    ::testing::Test::RecordProperty("dkd_threads_waiting", during);
    EXPECT_LE(during, baseline + 12) << "baseline " << baseline;
    EXPECT_LT(during, 64);

    ASSERT_EQ(RunCommand({"docker", "-H", TestEngineHost(), "stop", "-t", "20", id}).exit_code, 0);
    int ok = 0;
    for (const auto& [status, code] : waits.All()) {
      EXPECT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(code, 7);
      ok += status.ok() && code == 7;
    }
    EXPECT_EQ(ok, 300);
    auto o = other_wait.All();
    EXPECT_TRUE(o[0].first.ok()) << o[0].first.error_message();
    EXPECT_EQ(o[0].second, 7);
  }
  // The slots are given back.
  EXPECT_TRUE(CallByName(channel, "/dkd.v1.DockerManager/Ping", waiter).ok());
  RunCommand({"docker", "-H", TestEngineHost(), "rm", "-f", id});
}

TEST(WaitContainerTest, ConditionsAndErrorsMatchTheEngine) {
  const std::string base = FixtureEnv("DKD_TEST_BASE_IMAGE");
  ASSERT_FALSE(base.empty());
  auto d = StartDaemon({"", {}, TokenConfig({{"w", "read"}}, "cond")});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = dkd::v1::DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  const std::string token = TokenFor("w", "cond");
  const std::string label = "dkd.test.wait-cond=" + std::to_string(getpid());
  auto wait = [&](const std::string& id, const std::string& condition, int* code,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    dkd::v1::WaitContainerRequest req;
    req.set_id(id);
    req.set_condition(condition);
    dkd::v1::WaitContainerResponse resp;
    grpc::Status s = stub->WaitContainer(&ctx, req, &resp);
    *code = resp.exit_code();
    return s;
  };
  // Exited before the wait: answered from the inspect, by name too.
  const std::string name = "dkd-wait-exited-" + std::to_string(getpid());
  ASSERT_EQ(RunCommand({"docker", "-H", TestEngineHost(), "run", "--name", name, "--label", label,
                        base, "sh", "-c", "exit 5"})
                .exit_code,
            5);
  int code = -1;
  grpc::Status s = wait(name, "", &code);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(code, 5);
  s = wait(name, "whenever", &code);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("condition"), std::string::npos) << s.error_message();
  EXPECT_EQ(wait("dkd-no-such-container-x", "", &code).error_code(), StatusCode::NOT_FOUND);

  // Running: a client deadline ends the wait; "next-exit" and "removed" see the exit.
  const std::string id = StartStoppable(base, label);
  EXPECT_EQ(wait(id, "", &code, std::chrono::milliseconds(300)).error_code(),
            StatusCode::DEADLINE_EXCEEDED);
  const size_t before = WaitsRegistered(**d);
  AsyncWaits next_exit(stub.get(), id, token, 1, "next-exit");
  AsyncWaits removed(stub.get(), id, token, 1, "removed");
  ASSERT_TRUE(WaitFor([&] { return WaitsRegistered(**d) >= before + 2; }));
  ASSERT_EQ(RunCommand({"docker", "-H", TestEngineHost(), "stop", "-t", "20", id}).exit_code, 0);
  auto n = next_exit.All();
  EXPECT_TRUE(n[0].first.ok()) << n[0].first.error_message();
  EXPECT_EQ(n[0].second, 7);
  ASSERT_EQ(RunCommand({"docker", "-H", TestEngineHost(), "rm", id}).exit_code, 0);
  auto r = removed.All();
  EXPECT_TRUE(r[0].first.ok()) << r[0].first.error_message();
  EXPECT_EQ(r[0].second, 7);
  RunCommand({"docker", "-H", TestEngineHost(), "rm", "-f", name, id});
}

TEST(WaitContainerTest, DkdsDeadlineAndShutdownEndWaitsCleanly) {
  const std::string base = FixtureEnv("DKD_TEST_BASE_IMAGE");
  ASSERT_FALSE(base.empty());
  auto d = StartDaemon(
      {"",
       {},
       TokenConfig({{"w", "read"}}, "end", R"("limits":{"deadlines":{"WaitContainer":0.5}})")});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = dkd::v1::DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  const std::string token = TokenFor("w", "end");
  const std::string id = StartStoppable(base, "dkd.test.wait-end=" + std::to_string(getpid()));
  {
    // dkd's own deadline for a call that came without one.
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    dkd::v1::WaitContainerRequest req;
    req.set_id(id);
    dkd::v1::WaitContainerResponse resp;
    grpc::Status s = stub->WaitContainer(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::DEADLINE_EXCEEDED) << s.error_message();
    EXPECT_NE(s.error_message().find("limits.deadlines.WaitContainer"), std::string::npos)
        << s.error_message();
  }
  // SIGTERM ends a pending wait with UNAVAILABLE and dkd exits 0.
  // Reload without the short deadline first.
  std::ofstream((*d)->dir() + "/dkd.json") << TokenConfig({{"w", "read"}}, "end");
  ASSERT_EQ(kill((*d)->pid(), SIGHUP), 0);
  ASSERT_TRUE(
      WaitFor([&] { return (*d)->Log().find("configuration reloaded") != std::string::npos; }));
  const size_t before = WaitsRegistered(**d);
  {
    AsyncWaits pending(stub.get(), id, token, 1);
    ASSERT_TRUE(WaitFor([&] { return WaitsRegistered(**d) >= before + 1; }));
    int code = -1;
    std::thread stopper([&] { code = (*d)->Stop(SIGTERM); });
    auto r = pending.All();
    EXPECT_EQ(r[0].first.error_code(), StatusCode::UNAVAILABLE) << r[0].first.error_message();
    EXPECT_NE(r[0].first.error_message().find("shutting down"), std::string::npos)
        << r[0].first.error_message();
    stopper.join();
    EXPECT_EQ(code, 0);
  }
  RunCommand({"docker", "-H", TestEngineHost(), "rm", "-f", id});
}

}  // namespace
}  // namespace dkd::testing
