// BuildImage with builder BUILDER_BUILDKIT through a real dkd and the real
// engine: the step graph arrives as vertex events, a failing RUN ends with
// its exit code after its log, a secret reaches its RUN and no event, image,
// history or dkd log line, a private base is pulled with the request's
// credentials, a cache mount caches across builds, sandbox-leaving RUN
// options are refused before the engine is touched, and a cancelled build
// leaves no step process running.
#include <dirent.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/security_helpers.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/tar_craft.h"

namespace dkd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using v1::BuildEvent;

std::string Unique(const std::string& prefix) {
  static int n = 0;
  return absl::StrCat(prefix, "-", ::getpid(), "-", ++n, "-", absl::ToUnixMicros(absl::Now()));
}

std::string Context(const std::string& dockerfile) {
  return TarFile("Dockerfile", dockerfile) + TarEnd();
}

// Every process's command line that contains `needle`.
std::vector<std::string> ProcessesWith(const std::string& needle) {
  std::vector<std::string> found;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return found;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(absl::StrCat("/proc/", e->d_name, "/cmdline"));
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmd) {
      if (c == '\0') c = ' ';
    }
    if (absl::StrContains(cmd, needle)) found.push_back(cmd);
  }
  ::closedir(d);
  return found;
}

class BuildKitBuildTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto d = StartDaemon({});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = d->release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void TearDown() override {
    for (const std::string& image : cleanup_) Docker({"rmi", "-f", image});
  }

  std::unique_ptr<v1::DockerManager::Stub> Stub() {
    return v1::DockerManager::NewStub(PlainChannel(daemon_->unix_target()));
  }

  // Builds `dockerfile` with BuildKit as `name`:1 after `tweak` edits the spec.
  grpc::Status Build(const std::string& name, const std::string& dockerfile,
                     std::vector<BuildEvent>* events,
                     const std::function<void(v1::BuildSpec*)>& tweak = nullptr) {
    auto stub = Stub();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    auto stream = stub->BuildImage(&ctx);
    v1::BuildImageRequest first;
    v1::BuildSpec* spec = first.mutable_spec();
    spec->mutable_config()->set_image_name(name);
    spec->mutable_config()->set_tag("1");
    spec->set_no_pull(true);
    spec->set_builder(v1::BuildSpec::BUILDER_BUILDKIT);
    if (tweak) tweak(spec);
    stream->Write(first);
    v1::BuildImageRequest chunk;
    chunk.set_context_chunk(Context(dockerfile));
    stream->Write(chunk);
    stream->WritesDone();
    BuildEvent e;
    while (stream->Read(&e)) events->push_back(e);
    cleanup_.push_back(name + ":1");
    return stream->Finish();
  }

  static std::string Base() { return FixtureEnv("DKD_TEST_BASE_IMAGE"); }

  static DaemonProcess* daemon_;
  std::vector<std::string> cleanup_;
};

DaemonProcess* BuildKitBuildTest::daemon_ = nullptr;

TEST_F(BuildKitBuildTest, StepsArriveAsVertexEventsThenTheResult) {
  std::vector<BuildEvent> events;
  const std::string marker = Unique("bk-out");
  grpc::Status s = Build(Unique("bk-steps"),
                         absl::StrCat("FROM ", Base(), "\nRUN echo ", marker, "\n"), &events);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.back().has_result());
  EXPECT_THAT(events.back().result().image_id(), ::testing::StartsWith("sha256:"));
  bool run_done = false;
  std::string logs;
  for (const auto& e : events) {
    if (e.has_vertex() && absl::StrContains(e.vertex().name(), "RUN echo " + marker) &&
        e.vertex().has_completed()) {
      run_done = e.vertex().error().empty() && e.vertex().inputs_size() == 1;
    }
    if (e.has_vertex_log()) logs += e.vertex_log().data();
    EXPECT_FALSE(e.has_step()) << "a classic-builder step on a BuildKit build";
  }
  EXPECT_TRUE(run_done);
  EXPECT_THAT(logs, HasSubstr(marker));
}

TEST_F(BuildKitBuildTest, AFailingRunEndsWithItsExitCodeAfterItsLog) {
  std::vector<BuildEvent> events;
  grpc::Status s =
      Build(Unique("bk-fail"),
            absl::StrCat("FROM ", Base(), "\nRUN echo before-the-failure && exit 7\n"), &events);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("exit code: 7"));
  std::string logs;
  std::string vertex_error;
  for (const auto& e : events) {
    if (e.has_vertex_log()) logs += e.vertex_log().data();
    if (e.has_vertex() && !e.vertex().error().empty()) vertex_error = e.vertex().error();
  }
  EXPECT_THAT(logs, HasSubstr("before-the-failure"));
  EXPECT_THAT(vertex_error, HasSubstr("exit code: 7"));
  // The last event is the typed failure: the step's vertex and exit code.
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(events.back().has_failure()) << events.back().DebugString();
  const v1::BuildFailure& failure = events.back().failure();
  EXPECT_THAT(failure.step(), HasSubstr("RUN echo before-the-failure && exit 7"));
  EXPECT_EQ(failure.exit_code(), 7);
  EXPECT_FALSE(failure.vertex_digest().empty());
  EXPECT_THAT(failure.message(), HasSubstr("exit code: 7"));
}

TEST_F(BuildKitBuildTest, AFailingClassicStepEndsWithTheSameTypedFailure) {
  std::vector<BuildEvent> events;
  grpc::Status s =
      Build(Unique("classic-fail"), absl::StrCat("FROM ", Base(), "\nRUN exit 9\n"), &events,
            [](v1::BuildSpec* spec) { spec->set_builder(v1::BuildSpec::BUILDER_CLASSIC); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(events.back().has_failure()) << events.back().DebugString();
  EXPECT_EQ(events.back().failure().step(), "Step 2/2 : RUN exit 9");
  EXPECT_EQ(events.back().failure().exit_code(), 9);
  EXPECT_TRUE(events.back().failure().vertex_digest().empty());
}

TEST_F(BuildKitBuildTest, ARefusedBuildHasNoFailureEvent) {
  std::vector<BuildEvent> events;
  grpc::Status s = Build(Unique("bk-refused"),
                         absl::StrCat("FROM ", Base(), "\nRUN --network=host true\n"), &events);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  for (const auto& e : events) EXPECT_FALSE(e.has_failure()) << e.DebugString();
}

TEST_F(BuildKitBuildTest, ASecretReachesItsRunAndNoEventImageHistoryOrLog) {
  const std::string secret = Unique("top-secret");
  const std::string name = Unique("bk-secret");
  std::vector<BuildEvent> events;
  grpc::Status s = Build(
      name,
      absl::StrCat("FROM ", Base(), "\n",
                   "RUN --mount=type=secret,id=api test \"$(cat /run/secrets/api)\" = \"",
                   secret.substr(0, 8), "\"$(cut -c9- /run/secrets/api) && echo secret-was-seen\n"),
      &events, [&](v1::BuildSpec* spec) {
        auto* sec = spec->add_secrets();
        sec->set_id("api");
        sec->set_data(secret);
      });
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::string all;
  for (const auto& e : events) all += e.DebugString();
  EXPECT_THAT(all, HasSubstr("secret-was-seen"));
  EXPECT_THAT(all, Not(HasSubstr(secret)));
  EXPECT_THAT(Docker({"image", "inspect", name + ":1"}), Not(HasSubstr(secret)));
  EXPECT_THAT(Docker({"history", "--no-trunc", name + ":1"}), Not(HasSubstr(secret)));
  const std::string tar = absl::StrCat(MakeTempDir(), "/image.tar");
  Docker({"save", "-o", tar, name + ":1"});
  const std::string exported = Slurp(tar);
  EXPECT_GT(exported.size(), 1024u);
  EXPECT_EQ(exported.find(secret), std::string::npos);
  EXPECT_THAT(daemon_->Log(), Not(HasSubstr(secret)));
}

TEST_F(BuildKitBuildTest, SecretsNeedBuildKitAndOneValuePerId) {
  std::vector<BuildEvent> events;
  grpc::Status classic = Build(Unique("bk-classic-secret"), absl::StrCat("FROM ", Base(), "\n"),
                               &events, [](v1::BuildSpec* spec) {
                                 spec->set_builder(v1::BuildSpec::BUILDER_CLASSIC);
                                 spec->add_secrets()->set_id("x");
                               });
  EXPECT_EQ(classic.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(classic.error_message(), HasSubstr("secrets"));
  grpc::Status twice = Build(Unique("bk-twice"), absl::StrCat("FROM ", Base(), "\n"), &events,
                             [](v1::BuildSpec* spec) {
                               spec->add_secrets()->set_id("x");
                               spec->add_secrets()->set_id("x");
                             });
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(twice.error_message(), HasSubstr("once"));
}

TEST_F(BuildKitBuildTest, APrivateBaseIsPulledWithTheRequestsCredentials) {
  const std::string registry = FixtureEnv("DKD_TEST_AUTH_REGISTRY");
  const std::string repo = absl::StrCat(registry, "/", Unique("bk-base"));
  // Put the base in the protected registry, then forget it locally.
  ASSERT_EQ(RunCommand({"docker", "-H", TestEngineHost(), "login", "-u",
                        FixtureEnv("DKD_TEST_AUTH_USER"), "--password-stdin", registry},
                       {}, FixtureEnv("DKD_TEST_AUTH_PASSWORD"))
                .exit_code,
            0);
  Docker({"tag", Base(), repo + ":v1"});
  Docker({"push", repo + ":v1"});
  Docker({"logout", registry});
  Docker({"rmi", repo + ":v1"});
  auto with_auth = [&](const std::string& password) {
    return [=](v1::BuildSpec* spec) {
      spec->mutable_auth()->set_username(FixtureEnv("DKD_TEST_AUTH_USER"));
      spec->mutable_auth()->set_password(password);
      spec->mutable_auth()->set_server_address(registry);
    };
  };
  std::vector<BuildEvent> events;
  grpc::Status good = Build(Unique("bk-private"), absl::StrCat("FROM ", repo, ":v1\n"), &events,
                            with_auth(FixtureEnv("DKD_TEST_AUTH_PASSWORD")));
  EXPECT_TRUE(good.ok()) << good.error_message();
  const std::string wrong = "wrong-" + FixtureEnv("DKD_TEST_AUTH_PASSWORD");
  events.clear();
  grpc::Status bad = Build(Unique("bk-private-bad"), absl::StrCat("FROM ", repo, ":v1\n"), &events,
                           with_auth(wrong));
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.error_message(), HasSubstr("401"));
  EXPECT_THAT(bad.error_message(), Not(HasSubstr(wrong)));
  EXPECT_THAT(daemon_->Log(), Not(HasSubstr(wrong)));
}

TEST_F(BuildKitBuildTest, ACacheMountKeepsItsFilesForTheNextBuild) {
  const std::string id = Unique("bk-cache");
  const std::string dockerfile = absl::StrCat(
      "FROM ", Base(), "\nARG RUN_NO\n", "RUN --mount=type=cache,id=", id,
      ",target=/cache echo run-$RUN_NO; ls /cache; echo seen > /cache/from-first || true\n");
  std::vector<BuildEvent> first;
  ASSERT_TRUE(Build(Unique("bk-cache1"), dockerfile, &first, [](v1::BuildSpec* spec) {
                (*spec->mutable_config()->mutable_build_args())["RUN_NO"] = "1";
              }).ok());
  std::vector<BuildEvent> second;
  ASSERT_TRUE(Build(Unique("bk-cache2"), dockerfile, &second, [](v1::BuildSpec* spec) {
                (*spec->mutable_config()->mutable_build_args())["RUN_NO"] = "2";
              }).ok());
  std::string logs;
  for (const auto& e : second) {
    if (e.has_vertex_log()) logs += e.vertex_log().data();
  }
  EXPECT_THAT(logs, HasSubstr("run-2"));
  EXPECT_THAT(logs, HasSubstr("from-first"));
}

TEST_F(BuildKitBuildTest, RunOptionsLeavingTheSandboxAreRefusedBeforeTheEngine) {
  for (const std::string& flags :
       {std::string("--network=host"), std::string("--network=HOST"),
        std::string("--security=insecure"), std::string("--network=\"host\""),
        std::string("--network=$NET")}) {
    std::vector<BuildEvent> events;
    grpc::Status s = Build(
        Unique("bk-sandbox"),
        absl::StrCat("FROM ", Base(), "\nARG NET=host\nRUN ", flags, " echo escaped\n"), &events);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << flags << ": " << s.error_message();
    for (const auto& e : events) EXPECT_FALSE(e.has_vertex()) << flags << ": the engine ran it";
  }
  // --network=none stays in the sandbox: dkd lets it through. (The engine's
  // built-in Dockerfile frontend here predates RUN --network and says so.)
  std::vector<BuildEvent> events;
  grpc::Status none =
      Build(Unique("bk-none"), absl::StrCat("FROM ", Base(), "\nRUN --network=none echo inside\n"),
            &events);
  EXPECT_NE(none.error_code(), grpc::StatusCode::PERMISSION_DENIED) << none.error_message();
  if (!none.ok()) {
    EXPECT_THAT(none.error_message(), HasSubstr("Unknown flag: network"));
  }
}

TEST_F(BuildKitBuildTest, CancellingABuildLeavesNoStepProcess) {
  const std::string marker = absl::StrCat(6000 + (::getpid() % 3000));
  auto stub = Stub();
  grpc::ClientContext ctx;
  auto stream = stub->BuildImage(&ctx);
  v1::BuildImageRequest first;
  first.mutable_spec()->mutable_config()->set_image_name(Unique("bk-cancel"));
  first.mutable_spec()->set_no_pull(true);
  first.mutable_spec()->set_builder(v1::BuildSpec::BUILDER_BUILDKIT);
  stream->Write(first);
  v1::BuildImageRequest chunk;
  chunk.set_context_chunk(
      Context(absl::StrCat("FROM ", Base(), "\nRUN echo started && sleep ", marker, "\n")));
  stream->Write(chunk);
  stream->WritesDone();
  BuildEvent e;
  bool started = false;
  while (!started && stream->Read(&e)) {
    started = e.has_vertex_log() && absl::StrContains(e.vertex_log().data(), "started");
  }
  ASSERT_TRUE(started);
  ASSERT_FALSE(ProcessesWith("sleep " + marker).empty());
  ctx.TryCancel();
  const auto cancelled = std::chrono::steady_clock::now();
  while (!ProcessesWith("sleep " + marker).empty() &&
         std::chrono::steady_clock::now() - cancelled < std::chrono::seconds(2)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(ProcessesWith("sleep " + marker), ::testing::IsEmpty());
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace dkd::testing
