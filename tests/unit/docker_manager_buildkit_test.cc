// DockerManager's BuildKit path against the in-memory engine: the build
// session gets exactly the request's credentials and secrets, the engine gets
// version=2 options naming that session, trace lines pass through as trace
// events, a cancelled build is cancelled by id, and the rules (secrets need
// BuildKit, a session factory, allowed cache sources, sandboxed RUN options)
// hold before anything runs; auto is BuildKit when the engine offers it.
#include <memory>
#include <string>
#include <vector>

#include "core/docker/docker_manager.h"
#include "core/engine/engine_streams.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_docker_engine.h"
#include "tests/support/tar_craft.h"

namespace dkd::core {
namespace {

using testing::FakeDockerEngine;
using ::testing::HasSubstr;

class FakeSession final : public BuildSession {
 public:
  explicit FakeSession(std::string id) : id_(std::move(id)) {}
  const std::string& id() const override { return id_; }

 private:
  std::string id_;
};

JsonMessage Message(const nlohmann::json& j) {
  JsonMessage m;
  EXPECT_TRUE(ParseJsonMessage(j.dump(), m).ok());
  return m;
}

class DockerManagerBuildKitTest : public ::testing::Test {
 protected:
  DockerManagerBuildKitTest()
      : engine_(std::make_shared<FakeDockerEngine>()), manager_(engine_, Policy()) {
    manager_.SetContextSpoolDir(::testing::TempDir());
    manager_.SetBuildSessionFactory(
        [this](const BuildSessionOptions& o) -> absl::StatusOr<std::unique_ptr<BuildSession>> {
          ++sessions_opened_;
          credentials_ = o.credentials;
          secrets_ = o.secrets;
          context_ = o.context;
          return std::make_unique<FakeSession>("session-" + std::to_string(sessions_opened_));
        });
  }

  static RunPolicy Policy() {
    RunPolicy p;
    p.base_registries = {"docker.io", "127.0.0.1:5000"};
    return p;
  }

  BuildRequest Request(BuildRequest::Builder builder = BuildRequest::Builder::kBuildKit) {
    BuildRequest r;
    r.config.image_name = "app";
    r.config.tag = "1";
    r.pull = false;
    r.builder = builder;
    return r;
  }

  absl::StatusOr<BuildResult> Build(const BuildRequest& r, const std::string& dockerfile,
                                    std::vector<BuildEvent>* events = nullptr,
                                    CancelToken* cancel = nullptr) {
    const std::string tar =
        dkd::testing::TarFile("Dockerfile", dockerfile) + dkd::testing::TarEnd();
    size_t off = 0;
    ContextReader reader = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
      const size_t k = std::min(n, tar.size() - off);
      std::memcpy(buf, tar.data() + off, k);
      off += k;
      return k;
    };
    return manager_.Build(
        r, reader,
        [&](const BuildEvent& e) {
          if (events) events->push_back(e);
          return true;
        },
        cancel);
  }

  std::shared_ptr<FakeDockerEngine> engine_;
  DockerManager manager_;
  int sessions_opened_ = 0;
  std::vector<RegistryAuth> credentials_;
  std::map<std::string, std::string> secrets_;
  std::shared_ptr<const ContextStore> context_;
};

TEST_F(DockerManagerBuildKitTest, TheSessionGetsTheRequestsCredentialsAndSecretsOnly) {
  BuildRequest r = Request();
  r.auth.username = "u";
  r.auth.password = "p";
  r.secrets = {{"npmrc", "token-bytes"}};
  r.platform = "linux/amd64";
  r.cache_from = {"127.0.0.1:5000/app:cache"};
  auto result = Build(r, "FROM busybox\nRUN true\n");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(sessions_opened_, 1);
  ASSERT_EQ(credentials_.size(), 1u);
  // No server address given: the credentials are for the result's registry.
  EXPECT_EQ(credentials_[0].server_address, "docker.io");
  EXPECT_EQ(secrets_.at("npmrc"), "token-bytes");
  const std::vector<BuildOptions> builds = engine_->Builds();
  ASSERT_EQ(builds.size(), 1u);
  EXPECT_TRUE(builds[0].buildkit);
  EXPECT_EQ(builds[0].session_id, "session-1");
  EXPECT_FALSE(builds[0].build_id.empty());
  EXPECT_EQ(builds[0].platform, "linux/amd64");
  EXPECT_EQ(builds[0].cache_from, std::vector<std::string>{"127.0.0.1:5000/app:cache"});
  // The context goes through the session's file sync, not the request body.
  EXPECT_TRUE(builds[0].context_from_session);
  EXPECT_EQ(builds[0].dockerfile, "Dockerfile");
  ASSERT_NE(context_, nullptr);
  const ContextEntry* dockerfile = context_->Find("Dockerfile");
  ASSERT_NE(dockerfile, nullptr);
  std::string text(static_cast<size_t>(dockerfile->size), '\0');
  ASSERT_EQ(*context_->ReadAt(*dockerfile, 0, text.data(), text.size()), text.size());
  EXPECT_EQ(text, "FROM busybox\nRUN true\n");
}

TEST_F(DockerManagerBuildKitTest, ARefusedContextOpensNoSessionAndNeverReachesTheEngine) {
  // The whole context is read and checked before the session opens.
  auto result = Build(Request(), "FROM busybox\nRUN --network=host true\n");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied) << result.status();
  EXPECT_EQ(sessions_opened_, 0);
  EXPECT_TRUE(engine_->Builds().empty());
}

TEST_F(DockerManagerBuildKitTest, AutoIsBuildKitWhenTheEngineOffersIt) {
  auto result = Build(Request(BuildRequest::Builder::kAuto), "FROM busybox\n");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->builder, BuildRequest::Builder::kBuildKit);
  const std::vector<BuildOptions> builds = engine_->Builds();
  ASSERT_EQ(builds.size(), 1u);
  EXPECT_TRUE(builds[0].buildkit);
  EXPECT_FALSE(builds[0].session_id.empty());
  EXPECT_EQ(sessions_opened_, 1);
}

TEST_F(DockerManagerBuildKitTest, AutoIsClassicOnAnEngineWithoutBuildKitUnlessItNeedsSecrets) {
  // The operator turned BuildKit off (daemon.json features.buildkit=false).
  engine_->SetPing({"1.41", "linux", "1"});
  auto classic = Build(Request(BuildRequest::Builder::kAuto), "FROM busybox\n");
  ASSERT_TRUE(classic.ok()) << classic.status();
  EXPECT_EQ(classic->builder, BuildRequest::Builder::kClassic);
  // Secrets exist only on BuildKit: asking for them is asking for it.
  BuildRequest with_secret = Request(BuildRequest::Builder::kAuto);
  with_secret.secrets = {{"s", "v"}};
  auto buildkit = Build(with_secret, "FROM busybox\n");
  ASSERT_TRUE(buildkit.ok()) << buildkit.status();
  EXPECT_EQ(buildkit->builder, BuildRequest::Builder::kBuildKit);
  // Named builders are what they say, whatever the engine prefers.
  auto named = Build(Request(BuildRequest::Builder::kBuildKit), "FROM busybox\n");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->builder, BuildRequest::Builder::kBuildKit);
  const std::vector<BuildOptions> builds = engine_->Builds();
  ASSERT_EQ(builds.size(), 3u);
  EXPECT_FALSE(builds[0].buildkit);
  EXPECT_TRUE(builds[1].buildkit);
  EXPECT_TRUE(builds[2].buildkit);
  EXPECT_EQ(sessions_opened_, 2);
}

TEST_F(DockerManagerBuildKitTest, AutoAsksTheEngineOnlyAfterTheRequestIsChecked) {
  BuildRequest bad = Request(BuildRequest::Builder::kAuto);
  bad.config.tag = "no spaces allowed";
  EXPECT_EQ(Build(bad, "FROM busybox\n").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->CallCount("LastPing"), 0);
  // An engine that does not answer is the engine's problem, said as such.
  engine_->SetDown(true);
  auto down = Build(Request(BuildRequest::Builder::kAuto), "FROM busybox\n");
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_TRUE(engine_->Builds().empty());
  EXPECT_EQ(sessions_opened_, 0);
}

TEST(BuildKitByDefaultTest, FollowsWhatTheEngineSaysOfItself) {
  struct Case {
    EnginePing ping;
    bool buildkit;
  };
  const Case cases[] = {
      {{"1.41", "linux", ""}, true},    // docker.io 20.10: no preference stated.
      {{"1.41", "linux", "2"}, true},   // features.buildkit=true.
      {{"1.41", "linux", "1"}, false},  // features.buildkit=false.
      {{"1.39", "linux", ""}, true},    // Docker 18.09, BuildKit's first release.
      {{"1.38", "linux", ""}, false},   // Before it.
      {{"1.9", "linux", ""}, false},    // Compared as numbers, not text.
      {{"1.100", "linux", ""}, true},   {{"2.0", "linux", ""}, true},
      {{"1.41", "windows", ""}, false},  // No BuildKit worker on Windows.
      {{"1.41", "", ""}, false},         // An engine that does not say.
      {{"", "linux", ""}, false},       {{"one.41", "linux", ""}, false},
      {{"1.41.2", "linux", ""}, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(BuildKitByDefault(c.ping), c.buildkit)
        << c.ping.api_version << " " << c.ping.os_type << " " << c.ping.builder_version;
  }
}

TEST_F(DockerManagerBuildKitTest, EachBuildHasItsOwnIdAndSession) {
  ASSERT_TRUE(Build(Request(), "FROM busybox\n").ok());
  ASSERT_TRUE(Build(Request(), "FROM busybox\n").ok());
  const std::vector<BuildOptions> builds = engine_->Builds();
  ASSERT_EQ(builds.size(), 2u);
  EXPECT_NE(builds[0].build_id, builds[1].build_id);
  EXPECT_NE(builds[0].session_id, builds[1].session_id);
}

TEST_F(DockerManagerBuildKitTest, TheClassicBuilderOpensNoSessionAndTakesNoSecrets) {
  ASSERT_TRUE(Build(Request(BuildRequest::Builder::kClassic), "FROM busybox\n").ok());
  EXPECT_EQ(sessions_opened_, 0);
  EXPECT_FALSE(engine_->Builds().at(0).buildkit);
  BuildRequest r = Request(BuildRequest::Builder::kClassic);
  r.secrets = {{"x", "y"}};
  auto refused = Build(r, "FROM busybox\n");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("secrets"));
  EXPECT_EQ(engine_->Builds().size(), 1u) << "the refused build reached the engine";
}

TEST_F(DockerManagerBuildKitTest, TraceLinesPassThroughAsTraceEvents) {
  engine_->SetBuildOutput({Message({{"id", "moby.buildkit.trace"}, {"aux", "CgQKAmFi"}}),
                           Message({{"id", "moby.image.id"}, {"aux", {{"ID", "sha256:abc"}}}})});
  std::vector<BuildEvent> events;
  auto result = Build(Request(), "FROM busybox\n", &events);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->image_id, "sha256:abc");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, BuildEvent::Kind::kTrace);
  EXPECT_EQ(events[0].text, "CgQKAmFi");
}

TEST_F(DockerManagerBuildKitTest, ACancelledBuildIsCancelledByItsId) {
  CancelToken cancel;
  cancel.Cancel();
  auto result = Build(Request(), "FROM busybox\n", nullptr, &cancel);
  EXPECT_FALSE(result.ok());
  const std::vector<BuildOptions> builds = engine_->Builds();
  ASSERT_EQ(builds.size(), 1u);
  EXPECT_EQ(engine_->CancelledBuilds(), std::vector<std::string>{builds[0].build_id});
}

TEST_F(DockerManagerBuildKitTest, RulesHoldBeforeAnythingRuns) {
  DockerManager no_sessions(engine_, Policy());
  CancelToken* none = nullptr;
  auto no_factory = no_sessions.Build(
      Request(), [](char*, size_t) -> absl::StatusOr<size_t> { return 0; },
      [](const BuildEvent&) { return true; }, none);
  EXPECT_EQ(no_factory.status().code(), absl::StatusCode::kFailedPrecondition);

  BuildRequest cache = Request();
  cache.cache_from = {"evil.example.com/app:cache"};
  auto refused_cache = Build(cache, "FROM busybox\n");
  EXPECT_EQ(refused_cache.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused_cache.status().message(), HasSubstr("cache_from[0]"));

  BuildRequest secret = Request();
  secret.secrets = {{"bad id!", "x"}};
  EXPECT_EQ(Build(secret, "FROM busybox\n").status().code(), absl::StatusCode::kInvalidArgument);
  BuildRequest big = Request();
  big.secrets = {{"big", std::string(500 * 1024 + 1, 'x')}};
  auto too_big = Build(big, "FROM busybox\n");
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_big.status().message(), HasSubstr("secrets[\"big\"]"));
  BuildRequest at_limit = Request();
  at_limit.secrets = {{"ok", std::string(500 * 1024, 'x')}};
  EXPECT_TRUE(Build(at_limit, "FROM busybox\n").ok());

  for (const std::string& run :
       {std::string("RUN --network=host true"), std::string("RUN --security=insecure true"),
        std::string("ONBUILD RUN --network=host true"),
        std::string("RUN --network=host \\\n  true")}) {
    auto refused = Build(Request(), "FROM busybox\n" + run + "\n");
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << run;
  }
  // The RUN options are read from the Dockerfile as the context streams
  // (core/context/context_canon.h): the build stops before the Dockerfile's
  // bytes reach the engine, so its session can never serve a step.
}

// A caller who names no builder gets BuildKit here, and with it BuildKit's
// rules: the Dockerfile is checked as the builder the engine is sent reads it.
TEST_F(DockerManagerBuildKitTest, TheDefaultBuilderIsCheckedAsTheBuilderItRuns) {
  for (const std::string& line :
       {std::string("RUN --network=host true"), std::string("RUN --security=insecure true"),
        std::string("RUN --mount=type=bind,from=evil.example.com/tools,target=/t true"),
        std::string("COPY --from=evil.example.com/tools /x /x")}) {
    auto refused = Build(Request(BuildRequest::Builder::kAuto), "FROM busybox\n" + line + "\n");
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied)
        << line << ": " << refused.status();
  }
  // What reached the engine for each was a BuildKit build stopped before its
  // Dockerfile's bytes, never a classic one.
  for (const BuildOptions& b : engine_->Builds()) EXPECT_TRUE(b.buildkit);
}

TEST_F(DockerManagerBuildKitTest, WithOwnershipEachIdentitysCacheMountsGetItsOwnNamespace) {
  BuildRequest alice = Request();
  alice.owner = {"alice", true};
  BuildRequest bob = Request();
  bob.owner = {"bob", true};
  bob.config.image_name = "bob-app";  // alice owns app:1.
  const std::string dockerfile = "FROM busybox\nRUN --mount=type=cache,id=pkgs,target=/c true\n";
  ASSERT_TRUE(Build(alice, dockerfile).ok());
  ASSERT_TRUE(Build(bob, dockerfile).ok());
  ASSERT_TRUE(Build(alice, dockerfile).ok());
  BuildRequest open = Request();  // Ownership off: BuildKit's own sharing.
  ASSERT_TRUE(Build(open, dockerfile).ok());
  const std::vector<BuildOptions> builds = engine_->Builds();
  ASSERT_EQ(builds.size(), 4u);
  const std::string a = builds[0].build_args.at(kCacheMountNamespaceArg);
  const std::string b = builds[1].build_args.at(kCacheMountNamespaceArg);
  EXPECT_EQ(a, CacheMountNamespace("alice"));
  EXPECT_NE(a, b);
  EXPECT_EQ(builds[2].build_args.at(kCacheMountNamespaceArg), a) << "one identity, one namespace";
  EXPECT_EQ(builds[3].build_args.count(kCacheMountNamespaceArg), 0u);
  // Fixed length, so no namespace followed by "/" is a prefix of another's.
  EXPECT_EQ(a.size(), CacheMountNamespace("alice/x").size());
  EXPECT_EQ(a.size(), std::string("dkd-owner-").size() + 32);
}

TEST_F(DockerManagerBuildKitTest, WithOwnershipTheCallerCannotChooseTheCacheNamespace) {
  BuildRequest r = Request();
  r.owner = {"mallory", true};
  r.config.build_args[kCacheMountNamespaceArg] = CacheMountNamespace("alice");
  auto refused = Build(r, "FROM busybox\nRUN --mount=type=cache,target=/c true\n");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("BUILDKIT_CACHE_MOUNT_NS"));
  EXPECT_TRUE(engine_->Builds().empty()) << "the refused build reached the engine";
  // Ownership off: the caller's own choice, passed as given.
  BuildRequest open = Request();
  open.config.build_args[kCacheMountNamespaceArg] = "team-a";
  ASSERT_TRUE(Build(open, "FROM busybox\n").ok());
  EXPECT_EQ(engine_->Builds().at(0).build_args.at(kCacheMountNamespaceArg), "team-a");
}

TEST_F(DockerManagerBuildKitTest, WithOwnershipAFrontendImageIsRefused) {
  BuildRequest r = Request();
  r.owner = {"mallory", true};
  for (const std::string& dockerfile :
       {std::string("# syntax=docker/dockerfile:1\nFROM busybox\n"),
        std::string("#syntax=docker.io/docker/dockerfile:1.4\nFROM busybox\n"),
        std::string("# escape=\\\n# syntax = docker/dockerfile:1\nFROM busybox\n")}) {
    auto refused = Build(r, dockerfile);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << dockerfile;
    EXPECT_THAT(refused.status().message(), HasSubstr("frontend")) << dockerfile;
  }
  BuildRequest by_arg = r;
  by_arg.config.build_args["BUILDKIT_SYNTAX"] = "docker/dockerfile:1";
  EXPECT_EQ(Build(by_arg, "FROM busybox\n").status().code(), absl::StatusCode::kPermissionDenied);
  // Ownership off: the frontend image is only a base-registry question.
  ASSERT_TRUE(Build(Request(), "# syntax=docker/dockerfile:1\nFROM busybox\n").ok());
}

}  // namespace
}  // namespace dkd::core
