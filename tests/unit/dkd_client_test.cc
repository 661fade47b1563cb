// DkdClient's unary calls against the generated gMock stubs: what each method
// puts in its request, the deadline and token on its context, how dkd's
// statuses come back, and which calls are retried.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
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

TEST_F(DkdClientTest, PingSendsTheTokenWithATenSecondDeadline) {
  EXPECT_CALL(*docker_, Ping(_, EqualsProto(""), _))
      .WillOnce(Invoke([](grpc::ClientContext* c, const pb::PingRequest&, pb::PingResponse* r) {
        EXPECT_EQ(Authorization(c), "Bearer t0k");
        EXPECT_GT(DeadlineSeconds(c), 9);
        EXPECT_LE(DeadlineSeconds(c), 10);
        r->set_daemon_version("1.2.3");
        return grpc::Status::OK;
      }));
  auto ping = client_->Ping();
  ASSERT_TRUE(ping.ok()) << ping.status();
  EXPECT_EQ(ping->daemon_version(), "1.2.3");
}

TEST_F(DkdClientTest, NoTokenMeansNoAuthorizationMetadata) {
  auto docker = std::make_unique<pb::MockDockerManagerStub>();
  EXPECT_CALL(*docker, GetEngineInfo(_, _, _))
      .WillOnce(
          Invoke([](grpc::ClientContext* c, const pb::GetEngineInfoRequest&, pb::EngineInfo* info) {
            EXPECT_EQ(Authorization(c), "");
            EXPECT_GT(DeadlineSeconds(c), 1e9);  // No deadline, as before.
            info->set_ncpu(8);
            return grpc::Status::OK;
          }));
  DkdClient client(std::move(docker), std::make_unique<pb::MockBuildGeneratorStub>(),
                   std::make_unique<pb::MockImageOptimizerStub>());
  auto info = client.GetEngineInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->ncpu(), 8);
}

TEST_F(DkdClientTest, TypedArgumentsBecomeTheRequests) {
  EXPECT_CALL(*docker_, InspectContainer(_, EqualsProto("id: 'web'"), _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::ContainerDetails>("raw_json: '{}'")),
                      Return(grpc::Status::OK)));
  EXPECT_CALL(*docker_, InspectImage(_, EqualsProto("image: 'app:1'"), _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::ImageDetails>("raw_json: '[]'")),
                      Return(grpc::Status::OK)));
  EXPECT_CALL(*docker_, WaitContainer(_, EqualsProto("id: 'job'"), _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::WaitContainerResponse>("exit_code: 42")),
                      Return(grpc::Status::OK)));
  EXPECT_CALL(*docker_, StopContainer(_, EqualsProto("id: 'a' timeout_seconds { value: 0 }"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_CALL(*docker_, StopContainer(_, EqualsProto("id: 'b'"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_CALL(*docker_,
              RemoveContainer(_, EqualsProto("id: 'c' force: true remove_volumes: true"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_CALL(*docker_, RemoveImage(_, EqualsProto("image: 'old:1' no_prune: true"), _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::RemoveImageResponse>("untagged: 'old:1'")),
                      Return(grpc::Status::OK)));

  EXPECT_EQ(client_->InspectContainer("web")->raw_json(), "{}");
  EXPECT_EQ(client_->InspectImage("app:1")->raw_json(), "[]");
  EXPECT_EQ(client_->WaitContainer("job")->exit_code(), 42);
  EXPECT_TRUE(client_->StopContainer("a", 0).ok());
  EXPECT_TRUE(client_->StopContainer("b", std::nullopt).ok());
  EXPECT_TRUE(client_->RemoveContainer("c", {/*force=*/true, /*remove_volumes=*/true}).ok());
  auto removed = client_->RemoveImage("old:1", {/*force=*/false, /*no_prune=*/true});
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->untagged(0), "old:1");
}

TEST_F(DkdClientTest, MessageRequestsPassThroughUnchanged) {
  const std::string list = "show_all: true label_filters: 'team=x' limit: 3";
  EXPECT_CALL(*docker_, ListContainers(_, EqualsProto(list), _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::ListContainersResponse>(
                          "containers { id: 'abc' name: 'web' }")),
                      Return(grpc::Status::OK)));
  EXPECT_CALL(*docker_, ListImages(_, EqualsProto("all: true reference: 'app'"), _))
      .WillOnce(DoAll(
          SetArgPointee<2>(Parse<pb::ListImagesResponse>("images { id: 'sha256:1' size: 5 }")),
          Return(grpc::Status::OK)));
  const std::string run = "config { image_name: 'app' } name: 'web' detach: true";
  EXPECT_CALL(*docker_, RunContainer(_, EqualsProto(run), _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::RunContainerResponse>("id: 'c1' name: 'web'")),
                      Return(grpc::Status::OK)));

  auto containers = client_->ListContainers(Parse<pb::ListContainersRequest>(list));
  ASSERT_TRUE(containers.ok()) << containers.status();
  EXPECT_EQ(containers->containers(0).name(), "web");
  auto images = client_->ListImages(Parse<pb::ListImagesRequest>("all: true reference: 'app'"));
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->images(0).size(), 5);
  auto ran = client_->RunContainer(Parse<pb::RunContainerRequest>(run));
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(ran->id(), "c1");
}

TEST_F(DkdClientTest, GeneratorCallsCarryASixtySecondDeadline) {
  auto check = [](grpc::ClientContext* c) {
    EXPECT_GT(DeadlineSeconds(c), 59);
    EXPECT_LE(DeadlineSeconds(c), 60);
    EXPECT_EQ(Authorization(c), "Bearer t0k");
  };
  EXPECT_CALL(*generator_, GenerateDockerfile(_, EqualsProto("build_type: 'python'"), _))
      .WillOnce(
          Invoke([&](grpc::ClientContext* c, const pb::BuildConfig&, pb::GeneratedDockerfile* r) {
            check(c);
            r->set_dockerfile("FROM python\n");
            return grpc::Status::OK;
          }));
  EXPECT_CALL(*generator_, CreateMultiStageBuild(_, EqualsProto("build_type: 'go'"), _))
      .WillOnce(Invoke([&](grpc::ClientContext* c, const pb::BuildConfig&, pb::MultiStageBuild*) {
        check(c);
        return grpc::Status::OK;
      }));
  EXPECT_CALL(*generator_, GenerateBuildScript(_, EqualsProto("name: 'app' tags: 'a:1'"), _))
      .WillOnce(Invoke(
          [&](grpc::ClientContext* c, const pb::BuildScriptConfig&, pb::GeneratedBuildScript* r) {
            check(c);
            r->set_shell_script("#!/bin/sh\n");
            return grpc::Status::OK;
          }));
  EXPECT_CALL(*generator_,
              LintDockerfile(_, EqualsProto("dockerfile: 'FROM x' filename: 'Dockerfile'"), _))
      .WillOnce(Invoke([&](grpc::ClientContext* c, const pb::LintDockerfileRequest&,
                           pb::LintDockerfileResponse* r) {
        check(c);
        r->add_findings()->set_rule("DL3006");
        return grpc::Status::OK;
      }));
  EXPECT_CALL(*generator_, OptimizeDockerfile(_, EqualsProto("dockerfile: 'FROM y'"), _))
      .WillOnce(Invoke([&](grpc::ClientContext* c, const pb::OptimizeDockerfileRequest&,
                           pb::OptimizeDockerfileResponse* r) {
        check(c);
        r->add_changes("pinned");
        return grpc::Status::OK;
      }));

  EXPECT_EQ(
      client_->GenerateDockerfile(Parse<pb::BuildConfig>("build_type: 'python'"))->dockerfile(),
      "FROM python\n");
  EXPECT_TRUE(client_->CreateMultiStageBuild(Parse<pb::BuildConfig>("build_type: 'go'")).ok());
  EXPECT_EQ(client_->GenerateBuildScript(Parse<pb::BuildScriptConfig>("name: 'app' tags: 'a:1'"))
                ->shell_script(),
            "#!/bin/sh\n");
  EXPECT_EQ(client_
                ->LintDockerfile(
                    Parse<pb::LintDockerfileRequest>("dockerfile: 'FROM x' filename: 'Dockerfile'"))
                ->findings(0)
                .rule(),
            "DL3006");
  EXPECT_EQ(
      client_->OptimizeDockerfile(Parse<pb::OptimizeDockerfileRequest>("dockerfile: 'FROM y'"))
          ->changes(0),
      "pinned");
}

TEST_F(DkdClientTest, OptimizerCallsPassTheirRequests) {
  EXPECT_CALL(*optimizer_, AnalyzeImage(_, EqualsProto("image: 'a' deep: true"), _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::ImageAnalysis>("optimization_score: 70")),
                      Return(grpc::Status::OK)));
  EXPECT_CALL(*optimizer_, SuggestOptimizations(_, EqualsProto("image: 'a'"), _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_CALL(*optimizer_, CompareImages(_, EqualsProto("image_a: 'a' image_b: 'b'"), _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::ImageComparison>("summary: 'smaller'")),
                      Return(grpc::Status::OK)));
  EXPECT_CALL(*optimizer_, GetOptimizationReport(_, EqualsProto("image: 'r'"), _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::OptimizationReport>("summary: 'plan'")),
                      Return(grpc::Status::OK)));

  EXPECT_EQ(client_->AnalyzeImage(Parse<pb::AnalyzeImageRequest>("image: 'a' deep: true"))
                ->optimization_score(),
            70);
  EXPECT_TRUE(client_->SuggestOptimizations(Parse<pb::AnalyzeImageRequest>("image: 'a'")).ok());
  EXPECT_EQ(client_->CompareImages(Parse<pb::CompareImagesRequest>("image_a: 'a' image_b: 'b'"))
                ->summary(0),
            "smaller");
  EXPECT_EQ(
      client_->GetOptimizationReport(Parse<pb::AnalyzeImageRequest>("image: 'r'"))->summary(0),
      "plan");
}

// Every unary method, by name: how to make its stub fail and how to call it.
struct UnaryCase {
  const char* name;
  bool idempotent;
  std::function<void(DkdClientTest*, pb::MockDockerManagerStub*, pb::MockBuildGeneratorStub*,
                     pb::MockImageOptimizerStub*, const grpc::Status&, int times)>
      expect;
  std::function<absl::Status(DkdClient&)> call;
};

std::vector<UnaryCase> UnaryCases() {
#define DKD_CASE(stub, method, idem, invocation)                                         \
  UnaryCase {                                                                            \
#method, idem,                                                                         \
        [](DkdClientTest*, pb::MockDockerManagerStub* d, pb::MockBuildGeneratorStub* g,    \
           pb::MockImageOptimizerStub* o, const grpc::Status& s, int times) {              \
          (void)d;                                                                         \
          (void)g;                                                                         \
          (void)o;                                                                         \
          EXPECT_CALL(*stub, method(_, _, _)).Times(times).WillRepeatedly(Return(s));      \
        },                                                                                 \
        [](DkdClient& c) { return absl::Status(invocation); } \
  }
  return {
      DKD_CASE(d, Ping, true, c.Ping().status()),
      DKD_CASE(d, GetEngineInfo, true, c.GetEngineInfo().status()),
      DKD_CASE(d, ListContainers, true, c.ListContainers({}).status()),
      DKD_CASE(d, InspectContainer, true, c.InspectContainer("x").status()),
      DKD_CASE(d, ListImages, true, c.ListImages({}).status()),
      DKD_CASE(d, InspectImage, true, c.InspectImage("x").status()),
      DKD_CASE(d, RunContainer, false, c.RunContainer({}).status()),
      DKD_CASE(d, WaitContainer, false, c.WaitContainer("x").status()),
      DKD_CASE(d, StopContainer, false, c.StopContainer("x", std::nullopt)),
      DKD_CASE(d, RemoveContainer, false, c.RemoveContainer("x", {})),
      DKD_CASE(d, RemoveImage, false, c.RemoveImage("x", {}).status()),
      DKD_CASE(g, CreateMultiStageBuild, true, c.CreateMultiStageBuild({}).status()),
      DKD_CASE(g, GenerateDockerfile, true, c.GenerateDockerfile({}).status()),
      DKD_CASE(g, GenerateBuildScript, true, c.GenerateBuildScript({}).status()),
      DKD_CASE(g, LintDockerfile, true, c.LintDockerfile({}).status()),
      DKD_CASE(g, OptimizeDockerfile, true, c.OptimizeDockerfile({}).status()),
      DKD_CASE(o, AnalyzeImage, true, c.AnalyzeImage({}).status()),
      DKD_CASE(o, SuggestOptimizations, true, c.SuggestOptimizations({}).status()),
      DKD_CASE(o, CompareImages, true, c.CompareImages({}).status()),
      DKD_CASE(o, GetOptimizationReport, true, c.GetOptimizationReport({}).status()),
  };
#undef DKD_CASE
}

TEST_F(DkdClientTest, EveryUnaryMethodKeepsDkdsCodeAndMessage) {
  const grpc::Status errors[] = {
      {grpc::StatusCode::NOT_FOUND, "No such container: x"},
      {grpc::StatusCode::PERMISSION_DENIED, "needs role admin"},
      {grpc::StatusCode::INVALID_ARGUMENT, "config.restart_policy: bad"},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, "max_calls_per_identity"},
  };
  for (const UnaryCase& c : UnaryCases()) {
    for (const grpc::Status& e : errors) {
      c.expect(this, docker_, generator_, optimizer_, e, 1);
      absl::Status s = c.call(*client_);
      EXPECT_EQ(static_cast<int>(s.code()), static_cast<int>(e.error_code())) << c.name;
      EXPECT_EQ(s.message(), e.error_message()) << c.name;
      EXPECT_FALSE(IsLocalError(s)) << c.name;
      ::testing::Mock::VerifyAndClearExpectations(docker_);
      ::testing::Mock::VerifyAndClearExpectations(generator_);
      ::testing::Mock::VerifyAndClearExpectations(optimizer_);
    }
  }
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(DkdClientTest, IdempotentCallsRetryUnreachableDkdWithDoublingBackoff) {
  const grpc::Status unreachable(grpc::StatusCode::UNAVAILABLE,
                                 "failed to connect to all addresses");
  for (const UnaryCase& c : UnaryCases()) {
    sleeps_.clear();
    c.expect(this, docker_, generator_, optimizer_, unreachable, c.idempotent ? 3 : 1);
    absl::Status s = c.call(*client_);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << c.name;
    if (c.idempotent) {
      EXPECT_EQ(sleeps_, (std::vector<int64_t>{100, 200})) << c.name;
    } else {
      EXPECT_TRUE(sleeps_.empty()) << c.name << " changes state and must not be retried";
    }
    ::testing::Mock::VerifyAndClearExpectations(docker_);
    ::testing::Mock::VerifyAndClearExpectations(generator_);
    ::testing::Mock::VerifyAndClearExpectations(optimizer_);
  }
}

TEST_F(DkdClientTest, RetryStopsAtTheFirstAnswer) {
  EXPECT_CALL(*docker_, ListContainers(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "Connection refused")))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<pb::ListContainersResponse>("containers { id: 'a' }")),
                      Return(grpc::Status::OK)));
  auto list = client_->ListContainers({});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->containers_size(), 1);
  EXPECT_EQ(sleeps_, (std::vector<int64_t>{100}));
}

TEST_F(DkdClientTest, UnavailableSentByDkdItselfIsNotRetried) {
  // The engine's inactivity bound already waited; retrying would triple it.
  EXPECT_CALL(*docker_, ListContainers(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    "the Docker Engine at unix:///x did not answer in 10 s")));
  EXPECT_CALL(*docker_, ListImages(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "dkd is shutting down")));
  EXPECT_EQ(client_->ListContainers({}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client_->ListImages({}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(DkdClientTest, OneAttemptPolicyTurnsRetriesOff) {
  auto docker = std::make_unique<pb::MockDockerManagerStub>();
  EXPECT_CALL(*docker, Ping(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connect failed")));
  DkdClient::Options options;
  options.retry.max_attempts = 1;
  options.retry.sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d.count()); };
  DkdClient client(std::move(docker), std::make_unique<pb::MockBuildGeneratorStub>(),
                   std::make_unique<pb::MockImageOptimizerStub>(), std::move(options));
  EXPECT_EQ(client.Ping().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(sleeps_.empty());
}

}  // namespace
}  // namespace dkd::client::test_support
