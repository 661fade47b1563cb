// Shared by the DkdClient tests that use the generated gMock stubs: a
// fixture holding a client over the three mock stubs (token "t0k", backoff
// waits recorded instead of slept), a proto matcher and small helpers.
#pragma once

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/test/client_context_test_peer.h>
#include <grpcpp/test/mock_stream.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "client/dkd_client.h"
#include "dkd/v1/build_generator_mock.grpc.pb.h"
#include "dkd/v1/docker_manager_mock.grpc.pb.h"
#include "dkd/v1/image_optimizer_mock.grpc.pb.h"

namespace dkd::client::test_support {

namespace pb = ::dkd::v1;

// Parses `text` as the argument's message type and compares.
MATCHER_P(EqualsProto, text, "") {
  std::decay_t<decltype(arg)> expected;
  if (!google::protobuf::TextFormat::ParseFromString(text, &expected)) {
    *result_listener << "bad expected text";
    return false;
  }
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  if (d.Compare(arg, expected)) return true;
  *result_listener << diff;
  return false;
}

// `text` in protobuf text format, as message T.
template <typename T>
T Parse(const std::string& text) {
  T m;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &m)) << text;
  return m;
}

class DkdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto docker = std::make_unique<pb::MockDockerManagerStub>();
    auto generator = std::make_unique<pb::MockBuildGeneratorStub>();
    auto optimizer = std::make_unique<pb::MockImageOptimizerStub>();
    docker_ = docker.get();
    generator_ = generator.get();
    optimizer_ = optimizer.get();
    DkdClient::Options options;
    options.token = "t0k";
    options.retry.sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d.count()); };
    client_ = std::make_unique<DkdClient>(std::move(docker), std::move(generator),
                                          std::move(optimizer), std::move(options));
  }

  pb::MockDockerManagerStub* docker_ = nullptr;
  pb::MockBuildGeneratorStub* generator_ = nullptr;
  pb::MockImageOptimizerStub* optimizer_ = nullptr;
  std::vector<int64_t> sleeps_;
  std::unique_ptr<DkdClient> client_;
};

// Seconds from now to the context's deadline (huge when it has none).
inline double DeadlineSeconds(const grpc::ClientContext* c) {
  if (c->deadline() == std::chrono::system_clock::time_point::max()) return 1e18;
  return std::chrono::duration<double>(c->deadline() - std::chrono::system_clock::now()).count();
}

inline std::string Authorization(grpc::ClientContext* c) {
  grpc::testing::ClientContextTestPeer peer(c);
  auto md = peer.GetSendInitialMetadata();
  auto it = md.find("authorization");
  return it == md.end() ? "" : it->second;
}

// A reader that yields `messages`, then ends with `status`.
template <typename T>
::grpc::testing::MockClientReader<T>* Reader(std::vector<T> messages, grpc::Status status) {
  auto* r = new ::grpc::testing::MockClientReader<T>();
  auto queue = std::make_shared<std::vector<T>>(std::move(messages));
  auto next = std::make_shared<size_t>(0);
  EXPECT_CALL(*r, Read(::testing::_)).WillRepeatedly(::testing::Invoke([queue, next](T* out) {
    if (*next >= queue->size()) return false;
    *out = (*queue)[(*next)++];
    return true;
  }));
  EXPECT_CALL(*r, Finish()).WillOnce(::testing::Return(status));
  return r;
}

}  // namespace dkd::client::test_support
