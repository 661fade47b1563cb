// The DockerManager service adapter through an in-process gRPC server, over a
// real DockerManager on the in-memory engine: requests map to engine calls,
// results map back to protos, engine faults come back with the status a
// client can act on, and ownership hides another identity's containers (and
// the stop or remove of one never reaches the engine).
#include "server/docker_manager_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "core/docker/docker_manager.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "server/audit.h"
#include "server/config.h"
#include "server/gatekeeper.h"
#include "server/metrics.h"
#include "tests/support/fake_docker_engine.h"

namespace dkd::server {
namespace {

using core::testing::FakeDockerEngine;

TokenEntry Token(const std::string& identity, const std::string& token) {
  TokenEntry e;
  e.identity = identity;
  const std::string hex = Sha256Hex(token);
  for (size_t i = 0; i < e.sha256.size(); ++i) {
    int byte = 0;
    EXPECT_TRUE(absl::SimpleHexAtoi(hex.substr(2 * i, 2), &byte));
    e.sha256[i] = static_cast<unsigned char>(byte);
  }
  return e;
}

class DockerManagerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dkdsvc.XXXXXX";
    dir_ = mkdtemp(tmpl);
    SecuritySettings s;
    s.auth.tokens = {Token("alice", "alice-token"), Token("bob", "bob-token")};
    s.auth.roles = {{"alice", Role::kBuild}, {"bob", Role::kBuild}};
    s.auth.unix_socket_role = Role::kAdmin;
    s.ownership = true;
    gatekeeper_ = std::make_unique<Gatekeeper>(std::move(s), &metrics_, &audit_);
    engine_ = std::make_shared<FakeDockerEngine>();
    core::ImageDetails busybox;
    busybox.repo_tags = {"busybox:latest"};
    engine_->AddImage(busybox);
    manager_ = std::make_shared<core::DockerManager>(engine_, core::RunPolicy{});
    service_ = std::make_unique<DockerManagerService>(manager_, gatekeeper_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = dkd::v1::DockerManager::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  std::string AddContainer(const std::string& name, const std::string& owner) {
    FakeDockerEngine::ContainerSetup c;
    c.name = name;
    c.labels = {{core::kOwnerLabel, owner}};
    return engine_->AddContainer(c);
  }

  std::string dir_;
  Metrics metrics_;
  AuditLog audit_{""};
  std::unique_ptr<Gatekeeper> gatekeeper_;
  std::shared_ptr<FakeDockerEngine> engine_;
  std::shared_ptr<core::DockerManager> manager_;
  std::unique_ptr<DockerManagerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<dkd::v1::DockerManager::Stub> stub_;
  int port_ = 0;
};

TEST_F(DockerManagerServiceTest, RunLabelsTheContainerWithItsCallerAndListShowsOnlyItsOwn) {
  AddContainer("bobs", "bob");
  dkd::v1::RunContainerRequest run;
  run.mutable_config()->set_image_name("busybox");
  run.set_name("alices");
  run.set_detach(true);
  dkd::v1::RunContainerResponse ran;
  grpc::Status s = stub_->RunContainer(As("alice-token").get(), run, &ran);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto created = engine_->FindContainer("alices");
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->labels.at(core::kOwnerLabel), "alice");

  dkd::v1::ListContainersRequest list;
  list.set_show_all(true);
  dkd::v1::ListContainersResponse listed;
  ASSERT_TRUE(stub_->ListContainers(As("alice-token").get(), list, &listed).ok());
  ASSERT_EQ(listed.containers_size(), 1);
  EXPECT_EQ(listed.containers(0).name(), "alices");
}

TEST_F(DockerManagerServiceTest, AnotherIdentitysContainerIsNotFoundAndNeverStoppedOrRemoved) {
  const std::string id = AddContainer("bobs", "bob");
  engine_->ClearCalls();
  for (const std::string& ref : {std::string("bobs"), id, id.substr(0, 12)}) {
    dkd::v1::StopContainerRequest stop;
    stop.set_id(ref);
    dkd::v1::StopContainerResponse stopped;
    grpc::Status s = stub_->StopContainer(As("alice-token").get(), stop, &stopped);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << ref;
    EXPECT_EQ(s.error_message(), "No such container: " + ref);
    dkd::v1::RemoveContainerRequest rm;
    rm.set_id(ref);
    rm.set_force(true);
    dkd::v1::RemoveContainerResponse removed;
    EXPECT_EQ(stub_->RemoveContainer(As("alice-token").get(), rm, &removed).error_code(),
              grpc::StatusCode::NOT_FOUND)
        << ref;
    dkd::v1::InspectContainerRequest inspect;
    inspect.set_id(ref);
    dkd::v1::ContainerDetails details;
    EXPECT_EQ(stub_->InspectContainer(As("alice-token").get(), inspect, &details).error_code(),
              grpc::StatusCode::NOT_FOUND)
        << ref;
  }
  EXPECT_EQ(engine_->CallCount("StopContainer"), 0);
  EXPECT_EQ(engine_->CallCount("RemoveContainer"), 0);
  EXPECT_TRUE(engine_->FindContainer("bobs").has_value());
  // Its owner can.
  dkd::v1::StopContainerRequest stop;
  stop.set_id("bobs");
  dkd::v1::StopContainerResponse stopped;
  grpc::Status s = stub_->StopContainer(As("bob-token").get(), stop, &stopped);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(engine_->CallCount("StopContainer"), 1);
}

TEST_F(DockerManagerServiceTest, InspectMapsTheTypedResultToTheProto) {
  const std::string id = AddContainer("web", "alice");
  dkd::v1::InspectContainerRequest inspect;
  inspect.set_id("web");
  dkd::v1::ContainerDetails details;
  grpc::Status s = stub_->InspectContainer(As("alice-token").get(), inspect, &details);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(details.id(), id);
  EXPECT_EQ(details.name(), "web");
  EXPECT_EQ(details.labels().at(core::kOwnerLabel), "alice");
}

TEST_F(DockerManagerServiceTest, EngineFaultsComeBackAsStatusesAClientCanActOn) {
  AddContainer("web", "alice");
  dkd::v1::InspectContainerRequest inspect;
  inspect.set_id("web");
  dkd::v1::ContainerDetails details;
  engine_->SetDown(true);
  grpc::Status down = stub_->InspectContainer(As("alice-token").get(), inspect, &details);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << down.error_message();
  engine_->SetDown(false);
  engine_->FailOperation("InspectContainer", 500, "engine exploded", 1);
  grpc::Status internal = stub_->InspectContainer(As("alice-token").get(), inspect, &details);
  EXPECT_EQ(internal.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_NE(internal.error_message().find("engine exploded"), std::string::npos);
  // And the next call works: nothing was left broken.
  EXPECT_TRUE(stub_->InspectContainer(As("alice-token").get(), inspect, &details).ok());
}

TEST_F(DockerManagerServiceTest, BadInputIsInvalidArgumentBeforeTheEngine) {
  engine_->ClearCalls();
  dkd::v1::StopContainerRequest stop;
  stop.set_id("no such name!");
  dkd::v1::StopContainerResponse stopped;
  grpc::Status s = stub_->StopContainer(As("alice-token").get(), stop, &stopped);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("id"), std::string::npos);
  EXPECT_TRUE(engine_->calls().empty());
}

}  // namespace
}  // namespace dkd::server
