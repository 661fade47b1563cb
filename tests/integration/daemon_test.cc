// dkd against the real engine: Ping, health, reflection, dkctl version, and
// behaviour with no engine behind the configured socket.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "dkd/v1/docker_manager.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/support/daemon_fixture.h"

namespace dkd::testing {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class DaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto d = DaemonProcess::Start({});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = d->release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  static DaemonProcess* daemon_;
};
DaemonProcess* DaemonTest::daemon_ = nullptr;

std::shared_ptr<grpc::Channel> Channel(const std::string& target) {
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

HealthCheckResponse::ServingStatus Health(const std::string& target, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(Channel(target));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) return HealthCheckResponse::UNKNOWN;
  return resp.status();
}

TEST_F(DaemonTest, PingReportsEngineVersionOverUnixAndTcp) {
  CommandResult docker =
      RunCommand({"docker", "-H", TestEngineHost(), "version", "--format", "{{.Server.Version}}"});
  ASSERT_EQ(docker.exit_code, 0) << docker.err;
  const std::string engine_version = docker.out.substr(0, docker.out.find('\n'));
  for (const std::string& target : {daemon_->unix_target(), daemon_->tcp_target()}) {
    auto stub = dkd::v1::DockerManager::NewStub(Channel(target));
    grpc::ClientContext ctx;
    // Loopback TCP callers present the local token (a unix-socket caller needs none).
    if (target == daemon_->tcp_target()) {
      ctx.AddMetadata("authorization", "Bearer " + daemon_->LocalToken());
    }
    dkd::v1::PingResponse resp;
    grpc::Status s = stub->Ping(&ctx, dkd::v1::PingRequest(), &resp);
    ASSERT_TRUE(s.ok()) << target << ": " << s.error_message();
    EXPECT_EQ(resp.engine_version(), engine_version);
    EXPECT_FALSE(resp.api_version().empty());
    EXPECT_FALSE(resp.daemon_version().empty());
    EXPECT_EQ(resp.os(), "linux");
    EXPECT_FALSE(resp.arch().empty());
  }
}

TEST_F(DaemonTest, HealthIsServingWhileEngineAnswers) {
  for (const char* svc :
       {"", "dkd.v1.DockerManager", "dkd.v1.BuildGenerator", "dkd.v1.ImageOptimizer"}) {
    EXPECT_EQ(Health(daemon_->unix_target(), svc), HealthCheckResponse::SERVING) << svc;
  }
}

TEST_F(DaemonTest, ReflectionListsTheThreeServices) {
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(Channel(daemon_->tcp_target()));
  grpc::ClientContext ctx;
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("*");
  ASSERT_TRUE(stream->Write(req));
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  stream->WritesDone();
  std::set<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.insert(s.name());
  EXPECT_TRUE(names.count("dkd.v1.DockerManager"));
  EXPECT_TRUE(names.count("dkd.v1.BuildGenerator"));
  EXPECT_TRUE(names.count("dkd.v1.ImageOptimizer"));
  EXPECT_TRUE(names.count("grpc.health.v1.Health"));
  ctx.TryCancel();
}

TEST_F(DaemonTest, DkctlVersionWorksOverUnixSocketAndTcp) {
  for (const std::string& host : {daemon_->unix_host(), daemon_->tcp_host()}) {
    CommandResult r = Dkctl(host, {"version"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("Engine:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("API version:"), std::string::npos) << r.out;
    CommandResult j = Dkctl(host, {"version", "--format", "json"});
    EXPECT_EQ(j.exit_code, 0) << j.err;
    EXPECT_NE(j.out.find("\"Engine\""), std::string::npos) << j.out;
  }
}

TEST_F(DaemonTest, DkctlHonoursDkdHostEnvironment) {
  CommandResult r = RunCommand({DKCTL_BINARY, "version"}, {{"DKD_HOST", daemon_->unix_host()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Engine:"), std::string::npos);
}

TEST(DaemonNoEngineTest, DkctlSaysWhenDkdIsUnreachable) {
  CommandResult r = Dkctl("unix:///tmp/dkd-nobody-listens-here.sock", {"version"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Cannot connect to dkd"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("Client:"), std::string::npos);
}

TEST(DaemonNoEngineTest, HealthIsNotServingAndPingUnavailableWithoutEngine) {
  auto d = DaemonProcess::Start({"unix:///tmp/dkd-no-engine-here.sock", {}});
  ASSERT_TRUE(d.ok()) << d.status();
  DaemonProcess& daemon = **d;
  EXPECT_EQ(Health(daemon.unix_target(), ""), HealthCheckResponse::NOT_SERVING) << daemon.Log();
  EXPECT_EQ(Health(daemon.unix_target(), "dkd.v1.DockerManager"), HealthCheckResponse::NOT_SERVING);
  // Generation and lint need no engine.
  EXPECT_EQ(Health(daemon.unix_target(), "dkd.v1.BuildGenerator"), HealthCheckResponse::SERVING);

  auto stub = dkd::v1::DockerManager::NewStub(Channel(daemon.unix_target()));
  grpc::ClientContext ctx;
  dkd::v1::PingResponse resp;
  grpc::Status s = stub->Ping(&ctx, dkd::v1::PingRequest(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("unreachable"), std::string::npos) << s.error_message();

  CommandResult r = Dkctl(daemon.unix_host(), {"version"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Docker Engine"), std::string::npos) << r.err;
  EXPECT_EQ(daemon.Stop(), 0) << daemon.Log();
}

TEST(DaemonStartupTest, RefusesPlainTcpOnNonLoopbackAddress) {
  CommandResult r = RunCommand({DKD_BINARY, "--unix-socket", "", "--tcp", "0.0.0.0:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("refusing to serve plain TCP"), std::string::npos) << r.out << r.err;
}

TEST(DaemonStartupTest, BadFlagIsAnErrorNamingIt) {
  CommandResult r = RunCommand({DKD_BINARY, "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dkd::testing
