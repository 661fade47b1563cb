// DkdClient::BuildImage against the generated gMock stub: the spec goes
// first with the context's Dockerfile name, the packed context follows in
// chunks, events reach the callback, and the outcome is dkd's status, or a
// local error when only the context failed; the BuildKit fields the flags
// set (builder, secrets, platform, cache_from) reach dkd as given.
#include <gmock/gmock.h>
#include <grpcpp/test/mock_stream.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "client/build_flags.h"
#include "client/dkd_client.h"
#include "dkd/v1/build_generator_mock.grpc.pb.h"
#include "dkd/v1/docker_manager_mock.grpc.pb.h"
#include "dkd/v1/image_optimizer_mock.grpc.pb.h"

namespace dkd::client {
namespace {

namespace pb = ::dkd::v1;
using ::testing::_;
using ::testing::Invoke;
using ::testing::Return;
using Stream = grpc::testing::MockClientReaderWriter<pb::BuildImageRequest, pb::BuildEvent>;

class DkdClientBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dkdcb.XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto docker = std::make_unique<pb::MockDockerManagerStub>();
    docker_ = docker.get();
    client_ = std::make_unique<DkdClient>(std::move(docker),
                                          std::make_unique<pb::MockBuildGeneratorStub>(),
                                          std::make_unique<pb::MockImageOptimizerStub>());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& content) {
    const std::filesystem::path p = std::filesystem::path(dir_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }

  // A stream that records what is written (accepting while `accept`) and
  // answers with `events`, then `status`.
  Stream* Expect(std::vector<pb::BuildEvent> events, grpc::Status status, bool accept = true) {
    auto* stream = new Stream();
    EXPECT_CALL(*docker_, BuildImageRaw(_)).WillOnce(Return(stream));
    EXPECT_CALL(*stream, Write(_, _))
        .WillRepeatedly(Invoke([this, accept](const pb::BuildImageRequest& m, grpc::WriteOptions) {
          std::lock_guard<std::mutex> lock(mu_);
          written_.push_back(m);
          return accept || written_.size() == 1;  // The spec always goes.
        }));
    auto queue = std::make_shared<std::vector<pb::BuildEvent>>(std::move(events));
    auto next = std::make_shared<size_t>(0);
    EXPECT_CALL(*stream, Read(_)).WillRepeatedly(Invoke([queue, next](pb::BuildEvent* e) {
      if (*next >= queue->size()) return false;
      *e = (*queue)[(*next)++];
      return true;
    }));
    EXPECT_CALL(*stream, WritesDone()).WillOnce(Return(true));
    EXPECT_CALL(*stream, Finish()).WillOnce(Return(status));
    return stream;
  }
  std::string ContextBytes() {
    std::string tar;
    for (size_t i = 1; i < written_.size(); ++i) {
      EXPECT_EQ(written_[i].payload_case(), pb::BuildImageRequest::kContextChunk);
      tar += written_[i].context_chunk();
    }
    return tar;
  }

  std::string dir_;
  pb::MockDockerManagerStub* docker_ = nullptr;
  std::unique_ptr<DkdClient> client_;
  std::mutex mu_;
  std::vector<pb::BuildImageRequest> written_;
};

pb::BuildEvent Log(const std::string& text) {
  pb::BuildEvent e;
  e.mutable_log()->set_text(text);
  return e;
}

TEST_F(DkdClientBuildTest, SendsTheSpecThenTheContextAndReturnsTheResult) {
  Write("Dockerfile", "FROM scratch\nCOPY app.txt /\n");
  Write("app.txt", "app-content");
  Write("debug.log", "left-out");
  Write(".dockerignore", "*.log\n");
  pb::BuildEvent result;
  result.mutable_result()->set_image_id("sha256:abc");
  Expect({Log("Step 1/2\n"), Log("Step 2/2\n"), result}, grpc::Status::OK);

  auto context = BuildContext::Open(dir_, "");
  ASSERT_TRUE(context.ok()) << context.status();
  pb::BuildSpec spec;
  spec.mutable_config()->set_image_name("app");
  spec.mutable_config()->set_tag("1");
  spec.set_no_pull(true);
  std::vector<std::string> logs;
  bool done = false;
  uint64_t sent = 0;
  DkdClient::BuildCallbacks callbacks;
  callbacks.on_event = [&](const pb::BuildEvent& e) {
    if (e.has_log()) logs.push_back(e.log().text());
  };
  callbacks.on_context = [&](const core::ContextStats& s) { sent = s.tar_bytes; };
  callbacks.on_context_done = [&] { done = true; };
  auto built = client_->BuildImage(spec, *context, callbacks);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ(built->image_id(), "sha256:abc");
  EXPECT_EQ(logs, (std::vector<std::string>{"Step 1/2\n", "Step 2/2\n"}));
  EXPECT_TRUE(done);

  ASSERT_GE(written_.size(), 2u);
  const pb::BuildSpec& first = written_[0].spec();
  EXPECT_EQ(first.config().image_name(), "app");
  EXPECT_EQ(first.config().tag(), "1");
  EXPECT_TRUE(first.no_pull());
  EXPECT_EQ(first.config().dockerfile_path(), "Dockerfile");
  EXPECT_EQ(first.context_source(), pb::BuildSpec::STREAMED);
  const std::string tar = ContextBytes();
  EXPECT_EQ(tar.size(), sent);
  EXPECT_EQ(tar.size() % 512, 0u);
  EXPECT_NE(tar.find("app-content"), std::string::npos);
  EXPECT_EQ(tar.find("left-out"), std::string::npos);
}

TEST_F(DkdClientBuildTest, DockerfileOutsideTheContextTravelsUnderAGeneratedName) {
  Write("ctx/data.txt", "payload");
  Write("elsewhere/Build.dockerfile", "FROM scratch\nCOPY data.txt /\n");
  Expect({}, grpc::Status::OK);
  auto context = BuildContext::Open(dir_ + "/ctx", dir_ + "/elsewhere/Build.dockerfile");
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_TRUE(absl::StartsWith(context->dockerfile_name(), ".dockerfile."))
      << context->dockerfile_name();
  ASSERT_TRUE(client_->BuildImage({}, *context, {}).ok());
  EXPECT_EQ(written_[0].spec().config().dockerfile_path(), context->dockerfile_name());
  EXPECT_NE(ContextBytes().find("COPY data.txt"), std::string::npos);
}

TEST_F(DkdClientBuildTest, DockerfileInsideTheContextIsNamedRelativeToIt) {
  Write("docker/Dockerfile.dev", "FROM scratch\n");
  Expect({}, grpc::Status::OK);
  auto context = BuildContext::Open(dir_, dir_ + "/docker/Dockerfile.dev");
  ASSERT_TRUE(context.ok()) << context.status();
  ASSERT_TRUE(client_->BuildImage({}, *context, {}).ok());
  EXPECT_EQ(written_[0].spec().config().dockerfile_path(), "docker/Dockerfile.dev");
}

TEST_F(DkdClientBuildTest, MissingDockerfileIsNotFoundBeforeAnyCall) {
  EXPECT_CALL(*docker_, BuildImageRaw(_)).Times(0);
  auto none = BuildContext::Open(dir_, "");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(none.status().message(), "Cannot locate specified Dockerfile: " + dir_ + "/Dockerfile");
  auto named = BuildContext::Open(dir_, "nope.dockerfile");
  EXPECT_EQ(named.status().message(), "Cannot locate specified Dockerfile: nope.dockerfile");
}

TEST_F(DkdClientBuildTest, DkdsErrorComesBackAsItIs) {
  Write("Dockerfile", "FROM scratch\nRUN false\n");
  Expect({Log("Step 2/2 : RUN false\n")},
         grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "build failed at step 2/2"),
         /*accept=*/false);
  auto context = BuildContext::Open(dir_, "");
  ASSERT_TRUE(context.ok());
  auto built = client_->BuildImage({}, *context, {});
  EXPECT_EQ(built.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(built.status().message(), "build failed at step 2/2");
  EXPECT_FALSE(IsLocalError(built.status()));
}

TEST_F(DkdClientBuildTest, ContextThatFailsWhileDkdIsContentIsALocalError) {
  Write("Dockerfile", "FROM scratch\n");
  Expect({}, grpc::Status::OK, /*accept=*/false);
  auto context = BuildContext::Open(dir_, "");
  ASSERT_TRUE(context.ok());
  auto built = client_->BuildImage({}, *context, {});
  ASSERT_FALSE(built.ok());
  EXPECT_TRUE(IsLocalError(built.status()));
  EXPECT_TRUE(absl::StartsWith(built.status().message(), "error sending the build context: "))
      << built.status();
}

TEST_F(DkdClientBuildTest, RefusedSpecEndsTheCallWithDkdsStatus) {
  Write("Dockerfile", "FROM scratch\n");
  auto* stream = new Stream();
  EXPECT_CALL(*docker_, BuildImageRaw(_)).WillOnce(Return(stream));
  EXPECT_CALL(*stream, Write(_, _)).WillOnce(Return(false));
  EXPECT_CALL(*stream, Read(_)).Times(0);
  EXPECT_CALL(*stream, Finish())
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no credentials")));
  auto context = BuildContext::Open(dir_, "");
  ASSERT_TRUE(context.ok());
  auto built = client_->BuildImage({}, *context, {});
  EXPECT_EQ(built.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(DkdClientBuildTest, BuildKitFieldsFromTheFlagsReachDkdInTheFirstMessage) {
  Write("Dockerfile", "FROM scratch\n");
  Write("token", "secret-bytes");
  pb::BuildEvent vertex;
  vertex.mutable_vertex()->set_digest("sha256:v");
  vertex.mutable_vertex()->set_name("[1/1] FROM scratch");
  pb::BuildEvent result;
  result.mutable_result()->set_image_id("sha256:bk");
  Expect({vertex, result}, grpc::Status::OK);
  auto context = BuildContext::Open(dir_, "");
  ASSERT_TRUE(context.ok());
  BuildKitFlags flags;
  flags.builder = "buildkit";
  flags.secrets = {"id=npm,src=" + dir_ + "/token", "id=api,env=DKD_CLIENT_BUILD_TEST_KEY"};
  flags.platform = "linux/amd64";
  flags.cache_from = {"type=registry,ref=reg:5000/app:cache", "reg:5000/app:1"};
  pb::BuildSpec spec;
  EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "DKD_CLIENT_BUILD_TEST_KEY") return std::string("env-bytes");
    return std::nullopt;
  };
  ASSERT_TRUE(ApplyBuildKitFlags(flags, env, &spec).ok());
  std::vector<std::string> vertexes;
  DkdClient::BuildCallbacks callbacks;
  callbacks.on_event = [&](const pb::BuildEvent& e) {
    if (e.has_vertex()) vertexes.push_back(e.vertex().name());
  };
  auto built = client_->BuildImage(spec, *context, callbacks);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ(built->image_id(), "sha256:bk");
  EXPECT_EQ(vertexes, std::vector<std::string>{"[1/1] FROM scratch"});

  ASSERT_GE(written_.size(), 2u);
  const pb::BuildSpec& first = written_[0].spec();
  EXPECT_EQ(first.builder(), pb::BuildSpec::BUILDER_BUILDKIT);
  EXPECT_EQ(first.platform(), "linux/amd64");
  ASSERT_EQ(first.cache_from_size(), 2);
  EXPECT_EQ(first.cache_from(0), "reg:5000/app:cache");
  EXPECT_EQ(first.cache_from(1), "reg:5000/app:1");
  ASSERT_EQ(first.secrets_size(), 2);
  EXPECT_EQ(first.secrets(0).id(), "npm");
  EXPECT_EQ(first.secrets(0).data(), "secret-bytes");
  EXPECT_EQ(first.secrets(1).id(), "api");
  EXPECT_EQ(first.secrets(1).data(), "env-bytes");
  // The secrets travel in the spec only, never in a context chunk.
  for (size_t i = 1; i < written_.size(); ++i) EXPECT_FALSE(written_[i].has_spec());
}

TEST_F(DkdClientBuildTest, ClassicBuilderIsAskedForByName) {
  Write("Dockerfile", "FROM scratch\n");
  Expect({}, grpc::Status::OK);
  auto context = BuildContext::Open(dir_, "");
  ASSERT_TRUE(context.ok());
  BuildKitFlags flags;
  flags.builder = "classic";
  pb::BuildSpec spec;
  ASSERT_TRUE(ApplyBuildKitFlags(flags, ProcessEnv(), &spec).ok());
  ASSERT_TRUE(client_->BuildImage(spec, *context, {}).ok());
  EXPECT_EQ(written_[0].spec().builder(), pb::BuildSpec::BUILDER_CLASSIC);
  EXPECT_EQ(written_[0].spec().secrets_size(), 0);
  EXPECT_EQ(written_[0].spec().platform(), "");
  EXPECT_EQ(written_[0].spec().cache_from_size(), 0);
}

}  // namespace
}  // namespace dkd::client
