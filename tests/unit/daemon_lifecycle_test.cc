// The Daemon without an engine: start-up with the engine down, reload,
// single-instance refusal and shutdown, over its real unix socket.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "dkd/v1/build_generator.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/config.h"
#include "server/daemon.h"
#include "server/daemon_options.h"

namespace dkd::server {
namespace {

// A fresh directory short enough for unix socket paths, removed at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dkddm.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  operator const std::string&() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// A config for a dkd on `dir`/d.sock only, whose engine socket does not
// exist; `unix_socket_role` is the role of the socket's callers.
std::string ConfigText(const std::string& dir, const std::string& unix_socket_role) {
  return R"({"engine": "unix://)" + dir + R"(/no-engine.sock",
             "listen": {"unix_socket": ")" +
         dir + R"(/d.sock", "tcp": "",
                        "unix_socket_role": ")" +
         unix_socket_role + R"("},
             "http": {"listen": ""},
             "shutdown_grace_seconds": 0})";
}

DaemonOptions OptionsFor(const std::string& config_path) {
  DaemonOptions options;
  options.config_path = config_path;
  return options;
}

absl::StatusOr<std::unique_ptr<Daemon>> StartFrom(const std::string& config_path) {
  auto config = LoadConfig(config_path, ConfigOverrides());
  if (!config.ok()) return config.status();
  return Daemon::Start(OptionsFor(config_path), *std::move(config));
}

std::shared_ptr<grpc::Channel> SocketChannel(const std::string& dir) {
  return grpc::CreateChannel("unix://" + dir + "/d.sock", grpc::InsecureChannelCredentials());
}

grpc::health::v1::HealthCheckResponse::ServingStatus HealthOf(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.status();
}

// A call that needs no engine and role read.
grpc::StatusCode Lint(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::BuildGenerator::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::LintDockerfileRequest request;
  request.set_dockerfile("FROM alpine:3.19\n");
  v1::LintDockerfileResponse response;
  return stub->LintDockerfile(&context, request, &response).error_code();
}

using Serving = grpc::health::v1::HealthCheckResponse;

TEST(DaemonTest, StartsWithTheEngineDownAndHealthSaysNotServing) {
  const TempDir temp;
  const std::string& dir = temp;
  WriteFile(dir + "/dkd.json", ConfigText(dir, "read"));
  auto daemon = StartFrom(dir + "/dkd.json");
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto channel = SocketChannel(dir);
  EXPECT_EQ(HealthOf(channel, ""), Serving::NOT_SERVING);
  EXPECT_EQ(HealthOf(channel, "dkd.v1.DockerManager"), Serving::NOT_SERVING);
  EXPECT_EQ(HealthOf(channel, "dkd.v1.BuildGenerator"), Serving::SERVING);
  EXPECT_EQ(Lint(channel), grpc::StatusCode::OK);  // Needs no engine.
}

TEST(DaemonTest, ReloadAppliesANewConfigAndRefusesABadOneKeepingTheRunningOne) {
  const TempDir temp;
  const std::string& dir = temp;
  const std::string path = dir + "/dkd.json";
  WriteFile(path, ConfigText(dir, "none"));
  auto daemon = StartFrom(path);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto channel = SocketChannel(dir);
  EXPECT_EQ(Lint(channel), grpc::StatusCode::PERMISSION_DENIED);

  WriteFile(path, ConfigText(dir, "read"));
  ASSERT_TRUE((*daemon)->Reload().ok());
  EXPECT_EQ(Lint(channel), grpc::StatusCode::OK);

  // A typo and a bad role are refused whole: the socket keeps role read.
  WriteFile(path, R"({"listen": {"unix_socket_role": "none"}, "auht": {}})");
  absl::Status refused = (*daemon)->Reload();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(refused.message()).find("auht"), std::string::npos) << refused;
  WriteFile(path, ConfigText(dir, "superuser"));
  EXPECT_EQ((*daemon)->Reload().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Lint(channel), grpc::StatusCode::OK);
}

TEST(DaemonTest, StartRefusesASocketAnotherDaemonServes) {
  const TempDir temp;
  const std::string& dir = temp;
  WriteFile(dir + "/dkd.json", ConfigText(dir, "read"));
  auto first = StartFrom(dir + "/dkd.json");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = StartFrom(dir + "/dkd.json");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  // The first one is untouched.
  EXPECT_EQ(Lint(SocketChannel(dir)), grpc::StatusCode::OK);
}

TEST(DaemonTest, ShutdownEndsWaitAndRemovesTheSocket) {
  const TempDir temp;
  const std::string& dir = temp;
  WriteFile(dir + "/dkd.json", ConfigText(dir, "read"));
  auto daemon = StartFrom(dir + "/dkd.json");
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  EXPECT_EQ(Lint(SocketChannel(dir)), grpc::StatusCode::OK);
  ASSERT_TRUE(Exists(dir + "/d.sock"));
  (*daemon)->Shutdown(absl::ZeroDuration());
  EXPECT_EQ((*daemon)->Wait(), 0);
  EXPECT_FALSE(Exists(dir + "/d.sock"));
  EXPECT_NE(Lint(SocketChannel(dir)), grpc::StatusCode::OK);
}

}  // namespace
}  // namespace dkd::server
