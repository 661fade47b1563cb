// DkdClient against a real gRPC server in this process (an in-process
// channel, no port): the token arrives as metadata, and a CallCanceller
// cancels a log follow and a build on the server's side.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/dkd_client.h"

namespace dkd::client {
namespace {

namespace pb = ::dkd::v1;

// Follows logs and builds forever, until the client goes away.
class EndlessDockerManager final : public pb::DockerManager::Service {
 public:
  grpc::Status Ping(grpc::ServerContext* context, const pb::PingRequest*,
                    pb::PingResponse* response) override {
    auto it = context->client_metadata().find("authorization");
    if (it == context->client_metadata().end()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token");
    }
    response->set_daemon_version(std::string(it->second.data(), it->second.size()));
    return grpc::Status::OK;
  }

  grpc::Status ContainerLogs(grpc::ServerContext*, const pb::ContainerLogsRequest* request,
                             grpc::ServerWriter<pb::LogEntry>* writer) override {
    pb::LogEntry entry;
    entry.set_data(request->id() + " says hello\n");
    // Write blocks once flow control is full and fails once the client
    // cancelled, so this ends exactly when the client goes away.
    while (writer->Write(entry)) {
    }
    logs_ended_.Notify();
    return grpc::Status::OK;
  }

  grpc::Status BuildImage(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<pb::BuildEvent, pb::BuildImageRequest>* stream) override {
    pb::BuildImageRequest first;
    if (!stream->Read(&first) || !first.has_spec()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "spec first");
    }
    pb::BuildEvent queued;
    queued.mutable_queued()->set_position(1);
    stream->Write(queued);
    // Never starts: reads the context and waits for a slot that never frees.
    pb::BuildImageRequest chunk;
    while (stream->Read(&chunk)) {
    }
    while (stream->Write(queued)) {
    }
    build_ended_.Notify();
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }

  // The handler saw its writes fail (the client went away) and returned.
  absl::Notification logs_ended_;
  absl::Notification build_ended_;
};

class DkdClientServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = server_->InProcessChannel(grpc::ChannelArguments());
    DkdClient::Options options;
    options.token = "s3cret";
    client_ = std::make_unique<DkdClient>(pb::DockerManager::NewStub(channel),
                                          pb::BuildGenerator::NewStub(channel),
                                          pb::ImageOptimizer::NewStub(channel), options);
  }
  void TearDown() override { server_->Shutdown(); }

  EndlessDockerManager service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<DkdClient> client_;
};

TEST_F(DkdClientServerTest, TokenTravelsAsBearerMetadata) {
  auto ping = client_->Ping();
  ASSERT_TRUE(ping.ok()) << ping.status();
  EXPECT_EQ(ping->daemon_version(), "Bearer s3cret");
}

TEST_F(DkdClientServerTest, CancelStopsAFollowOnBothSides) {
  CallCanceller cancel;
  int entries = 0;
  pb::ContainerLogsRequest request;
  request.set_id("web");
  request.set_follow(true);
  absl::Status s = client_->ContainerLogs(
      request,
      [&](const pb::LogEntry& e) {
        EXPECT_EQ(e.data(), "web says hello\n");
        if (++entries == 3) cancel.Cancel();  // As the SIGINT watcher does.
      },
      &cancel);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_GE(entries, 3);
  EXPECT_TRUE(cancel.cancelled());
  EXPECT_TRUE(service_.logs_ended_.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST_F(DkdClientServerTest, CancelStopsABuildWaitingForASlot) {
  char tmpl[] = "/tmp/dkdcs.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/Dockerfile") << "FROM scratch\n";
  auto context = BuildContext::Open(dir, "");
  ASSERT_TRUE(context.ok()) << context.status();
  CallCanceller cancel;
  DkdClient::BuildCallbacks callbacks;
  callbacks.on_event = [&](const pb::BuildEvent& e) {
    if (e.has_queued()) cancel.Cancel();
  };
  auto built = client_->BuildImage({}, *context, callbacks, &cancel);
  EXPECT_EQ(built.status().code(), absl::StatusCode::kCancelled) << built.status();
  // A cancelled call is the caller's doing, not a context failure.
  EXPECT_FALSE(IsLocalError(built.status()));
  EXPECT_TRUE(service_.build_ended_.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::filesystem::remove_all(dir);
}

TEST_F(DkdClientServerTest, LaterCallsWithACancelledCancellerNeverReachTheServer) {
  CallCanceller cancel;
  cancel.Cancel();
  int entries = 0;
  absl::Status s = client_->ContainerLogs(
      {}, [&](const pb::LogEntry&) { ++entries; }, &cancel);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(entries, 0);
  EXPECT_FALSE(service_.logs_ended_.HasBeenNotified());
}

}  // namespace
}  // namespace dkd::client
