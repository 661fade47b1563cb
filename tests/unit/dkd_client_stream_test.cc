// DkdClient's server streams against the generated gMock stubs: every
// message reaches the callback, then the final status comes back; streams
// are never retried; a cancelled CallCanceller stops calls before they start.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/unit/dkd_client_mocks.h"

namespace dkd::client::test_support {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::SetArgPointee;

using DkdClientStreamTest = DkdClientTest;

TEST_F(DkdClientStreamTest, LogsDeliverEveryEntryThenTheFinalStatus) {
  const std::string req = "id: 'web' follow: true tail { value: 5 }";
  EXPECT_CALL(*docker_, ContainerLogsRaw(_, EqualsProto(req)))
      .WillOnce(Invoke([](grpc::ClientContext* c, const pb::ContainerLogsRequest&) {
        EXPECT_EQ(Authorization(c), "Bearer t0k");
        return Reader<pb::LogEntry>(
            {Parse<pb::LogEntry>("data: 'one\\n'"),
             Parse<pb::LogEntry>("stream: STDERR data: 'two\\n'")},
            grpc::Status(grpc::StatusCode::NOT_FOUND, "No such container: web"));
      }));
  std::vector<std::string> got;
  absl::Status s = client_->ContainerLogs(
      Parse<pb::ContainerLogsRequest>(req),
      [&](const pb::LogEntry& e) { got.push_back(absl::StrCat(e.stream(), ":", e.data())); });
  EXPECT_EQ(got, (std::vector<std::string>{"0:one\n", "1:two\n"}));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "No such container: web");
}

TEST_F(DkdClientStreamTest, EventsStreamEndsOkAfterItsEvents) {
  EXPECT_CALL(*docker_, StreamEventsRaw(_, EqualsProto("filters: 'type=container' since: 7")))
      .WillOnce(Return(Reader<pb::EngineEvent>(
          {Parse<pb::EngineEvent>("action: 'start'"), Parse<pb::EngineEvent>("action: 'die'")},
          grpc::Status::OK)));
  std::vector<std::string> actions;
  absl::Status s =
      client_->StreamEvents(Parse<pb::StreamEventsRequest>("filters: 'type=container' since: 7"),
                            [&](const pb::EngineEvent& e) { actions.push_back(e.action()); });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(actions, (std::vector<std::string>{"start", "die"}));
}

TEST_F(DkdClientStreamTest, PushReturnsTheLastDigestAndPullMapsItsRequest) {
  const std::string push = "image: 'reg/app:1' auth { username: 'u' password: 'p' }";
  EXPECT_CALL(*docker_, PushImageRaw(_, EqualsProto(push)))
      .WillOnce(
          Return(Reader<pb::ProgressEvent>({Parse<pb::ProgressEvent>("id: 'l1' status: 'Pushed'"),
                                            Parse<pb::ProgressEvent>("digest: 'sha256:aa'"),
                                            Parse<pb::ProgressEvent>("status: 'done'")},
                                           grpc::Status::OK)));
  const std::string pull = "image: 'reg/base:3' platform: 'linux/arm64' auth { username: 'u' }";
  EXPECT_CALL(*docker_, PullImageRaw(_, EqualsProto(pull)))
      .WillOnce(Return(Reader<pb::ProgressEvent>(
          {Parse<pb::ProgressEvent>("id: 'l1' status: 'Downloading' current: 1 total: 2")},
          grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "denied"))));
  int pushed = 0;
  auto digest =
      client_->PushImage("reg/app:1", Parse<pb::RegistryAuth>("username: 'u' password: 'p'"),
                         [&](const pb::ProgressEvent&) { ++pushed; });
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, "sha256:aa");
  EXPECT_EQ(pushed, 3);
  int pulled = 0;
  absl::Status s =
      client_->PullImage("reg/base:3", "linux/arm64", Parse<pb::RegistryAuth>("username: 'u'"),
                         [&](const pb::ProgressEvent&) { ++pulled; });
  EXPECT_EQ(pulled, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(DkdClientStreamTest, StreamsAreNeverRetried) {
  EXPECT_CALL(*docker_, PullImageRaw(_, _))
      .WillOnce(Return(Reader<pb::ProgressEvent>(
          {}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect"))));
  EXPECT_EQ(client_->PullImage("a", "", {}, nullptr).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(DkdClientStreamTest, CancelledCancellerStopsCallsBeforeTheyStart) {
  CallCanceller cancel;
  cancel.Cancel();
  EXPECT_CALL(*docker_, ContainerLogsRaw(_, _)).Times(0);
  EXPECT_CALL(*docker_, BuildImageRaw(_)).Times(0);
  EXPECT_EQ(client_->ContainerLogs({}, nullptr, &cancel).code(), absl::StatusCode::kCancelled);
  char tmpl[] = "/tmp/dkdct.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/Dockerfile") << "FROM scratch\n";
  auto context = BuildContext::Open(dir, "");
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_EQ(client_->BuildImage({}, *context, {}, &cancel).status().code(),
            absl::StatusCode::kCancelled);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dkd::client::test_support
