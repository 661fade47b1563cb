// BuildKit build sessions against the real engine: a private base image from
// the htpasswd registry resolves only through the session's credentials, a
// secret reaches its RUN step and nowhere else (not the image, its history,
// its export or the build's progress), and a missing secret or a wrong
// password fails the build with the engine's reason.
#include "server/buildkit_session.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/engine/engine_client.h"
#include "core/engine/engine_hijack.h"
#include "core/engine/engine_streams.h"
#include "core/engine/registry_auth.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/buildkit_trace.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/string_source.h"
#include "tests/support/tar_craft.h"

namespace dkd::server {
namespace {

using ::dkd::testing::FixtureEnv;
using ::dkd::testing::TestEngineHost;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Unique(const std::string& prefix) {
  static int n = 0;
  return absl::StrCat(prefix, "-", ::getpid(), "-", ++n, "-", absl::ToUnixMicros(absl::Now()));
}

// What a BuildKit build said: its progress text (logs, errors) and the
// stream's final error, if any.
struct BuildResult {
  std::string image_id;
  std::string error;
  std::string progress;  // Every vertex name, log and error, concatenated.
};

class BuildKitSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto address = core::ParseEngineAddress(TestEngineHost());
    ASSERT_TRUE(address.ok()) << address.status();
    engine_ = std::make_unique<core::EngineClient>(*address);
    registry_ = FixtureEnv("DKD_TEST_AUTH_REGISTRY");
    auth_.username = FixtureEnv("DKD_TEST_AUTH_USER");
    auth_.password = FixtureEnv("DKD_TEST_AUTH_PASSWORD");
    auth_.server_address = registry_;
    ASSERT_FALSE(registry_.empty()) << "run scripts/fixtures.sh up and eval its env";
  }

  void TearDown() override {
    for (const std::string& image : cleanup_) {
      core::EngineRequest rm;
      rm.method = "DELETE";
      rm.path = "/images/" + image;
      rm.query = {{"force", "1"}};
      (void)engine_->Call(rm);
    }
  }

  // Pushes the fixture base image to the protected registry under a new name
  // and removes the local tag, so a build must fetch it from the registry.
  std::string PrivateBase() {
    const std::string repo = absl::StrCat(registry_, "/", Unique("bk-private"));
    core::EngineRequest tag;
    tag.method = "POST";
    tag.path = "/images/" + FixtureEnv("DKD_TEST_BASE_IMAGE") + "/tag";
    tag.query = {{"repo", repo}, {"tag", "v1"}};
    EXPECT_TRUE(engine_->Call(tag).ok());
    core::EngineRequest push;
    push.method = "POST";
    push.path = "/images/" + repo + "/push";
    push.query = {{"tag", "v1"}};
    push.headers = {{"X-Registry-Auth", core::EncodeRegistryAuthHeader(auth_)}};
    push.read_timeout = absl::Seconds(120);
    std::string body;
    EXPECT_TRUE(engine_
                    ->Stream(push,
                             [&](absl::string_view d) {
                               body.append(d.data(), d.size());
                               return true;
                             })
                    .ok());
    EXPECT_THAT(body, Not(HasSubstr("errorDetail"))) << body;
    core::EngineRequest rm;
    rm.method = "DELETE";
    rm.path = "/images/" + repo + ":v1";
    EXPECT_TRUE(engine_->Call(rm).ok());
    return repo + ":v1";
  }

  // With `context_from_session`, the request has no body and the engine
  // fetches the context from the session's file sync.
  BuildResult Build(const std::string& dockerfile, const std::string& tag,
                    const std::string& session_id, bool context_from_session = false) {
    const std::string context =
        dkd::testing::TarFile("Dockerfile", dockerfile) + dkd::testing::TarEnd();
    core::EngineRequest req;
    req.method = "POST";
    req.path = "/build";
    req.query = {{"version", "2"}, {"buildid", Unique("bk")}, {"t", tag}, {"rm", "1"}};
    if (!session_id.empty()) req.query.emplace_back("session", session_id);
    if (context_from_session) {
      req.query.emplace_back("remote", "client-session");
      req.query.emplace_back("dockerfile", "sub/Dockerfile");
    } else {
      req.body = context;
    }
    req.content_type = "application/x-tar";
    req.read_timeout = absl::Seconds(120);
    BuildResult result;
    core::LineSplitter lines;
    auto on_line = [&](absl::string_view line) {
      core::JsonMessage m;
      if (!core::ParseJsonMessage(line, m).ok()) return true;
      if (!m.error.empty()) result.error = m.error;
      if (m.id == "moby.buildkit.trace" && m.aux.is_string()) {
        std::vector<dkd::v1::BuildEvent> events;
        absl::Status decoded = AppendBuildKitTraceEvents(m.aux.get<std::string>(), &events);
        EXPECT_TRUE(decoded.ok()) << decoded;
        for (const auto& e : events) {
          // Everything an event could carry to a client, secrets included.
          absl::StrAppend(&result.progress, e.DebugString(), "\n");
          if (e.has_vertex_log()) absl::StrAppend(&result.progress, e.vertex_log().data());
        }
      }
      if (m.id == "moby.image.id" && m.aux.is_object()) result.image_id = m.aux.value("ID", "");
      return true;
    };
    absl::Status s =
        engine_->Stream(req, [&](absl::string_view data) { return lines.Feed(data, on_line); });
    lines.Finish(on_line);
    if (!s.ok() && result.error.empty()) result.error = s.ToString();
    if (!tag.empty()) cleanup_.push_back(tag);
    return result;
  }

  std::unique_ptr<core::EngineClient> engine_;
  std::string registry_;
  core::RegistryAuth auth_;
  std::vector<std::string> cleanup_;
};

TEST_F(BuildKitSessionTest, APrivateBaseResolvesOnlyThroughTheSessionsCredentials) {
  const std::string base = PrivateBase();
  const std::string dockerfile = absl::StrCat("FROM ", base, "\nRUN echo built-on-private\n");

  BuildResult without = Build(dockerfile, Unique("bk-nosession") + ":1", "");
  EXPECT_FALSE(without.error.empty());
  EXPECT_TRUE(without.image_id.empty());
  EXPECT_THAT(without.error, HasSubstr("no active session"));

  BuildKitSessionOptions options;
  options.credentials = {auth_};
  auto session = BuildKitSession::Start(*engine_, options);
  ASSERT_TRUE(session.ok()) << session.status();
  BuildResult with = Build(dockerfile, Unique("bk-session") + ":1", (*session)->id());
  EXPECT_TRUE(with.error.empty()) << with.error;
  EXPECT_THAT(with.image_id, ::testing::StartsWith("sha256:"));
  EXPECT_THAT(with.progress, HasSubstr("built-on-private"));
  (*session)->Close();
}

TEST_F(BuildKitSessionTest, TheContextIsServedByFileSyncWithItsIgnoreRulesAndSymlinks) {
  // The engine's frontend fetches sub/Dockerfile through the "dockerfile"
  // directory, .dockerignore and the COPY sources through "context"; the
  // symlinked COPY source brings its target along.
  using dkd::testing::TarFile;
  const std::string dockerfile =
      absl::StrCat("FROM ", FixtureEnv("DKD_TEST_BASE_IMAGE"),
                   "\nCOPY app/ /app/\nCOPY link.txt /l.txt\n"
                   // A new step each run, so it runs rather than comes from the cache.
                   "RUN echo ",
                   Unique("run"),
                   " && cat /app/a.txt /l.txt && test ! -e /app/ignored.log && echo filesync-ok\n");
  const std::string tar = TarFile("sub/Dockerfile", dockerfile) +
                          TarFile(".dockerignore", "app/*.log\n") +
                          TarFile("app/a.txt", "from-a\n") + TarFile("app/ignored.log", "no\n") +
                          dkd::testing::TarSymlink("link.txt", "app/a.txt") +
                          TarFile("unused.bin", std::string(1 << 20, 'u')) + dkd::testing::TarEnd();
  auto store = dkd::testing::LoadStore(tar, ::testing::TempDir());
  ASSERT_TRUE(store.ok()) << store.status();
  BuildKitSessionOptions options;
  options.context = std::move(*store);
  auto session = BuildKitSession::Start(*engine_, options);
  ASSERT_TRUE(session.ok()) << session.status();
  BuildResult r = Build("", Unique("bk-filesync") + ":1", (*session)->id(),
                        /*context_from_session=*/true);
  EXPECT_TRUE(r.error.empty()) << r.error << r.progress;
  EXPECT_THAT(r.image_id, ::testing::StartsWith("sha256:"));
  EXPECT_THAT(r.progress, HasSubstr("filesync-ok"));
  // Printed twice: the file, and the symlink's target fetched with it.
  size_t printed = 0;
  for (size_t at = r.progress.find("from-a\n"); at != std::string::npos;
       at = r.progress.find("from-a\n", at + 1)) {
    ++printed;
  }
  EXPECT_GE(printed, 2u) << r.progress;
  (*session)->Close();
}

TEST_F(BuildKitSessionTest, AWrongPasswordFailsTheBuildWithoutEchoingIt) {
  const std::string base = PrivateBase();
  BuildKitSessionOptions options;
  core::RegistryAuth wrong = auth_;
  wrong.password = "wrong-" + auth_.password;
  // The session's host is spelled with a scheme and path: it is the same host.
  wrong.server_address = absl::StrCat("https://", registry_, "/v2/");
  options.credentials = {wrong};
  auto session = BuildKitSession::Start(*engine_, options);
  ASSERT_TRUE(session.ok()) << session.status();
  BuildResult r =
      Build(absl::StrCat("FROM ", base, "\n"), Unique("bk-wrong") + ":1", (*session)->id());
  EXPECT_FALSE(r.error.empty());
  EXPECT_THAT(r.error, HasSubstr("401 Unauthorized"));
  EXPECT_THAT(r.error + r.progress, Not(HasSubstr(wrong.password)));
}

TEST_F(BuildKitSessionTest, CredentialsAreNotGivenToAnotherRegistryHost) {
  const std::string base = PrivateBase();
  BuildKitSessionOptions options;
  core::RegistryAuth other = auth_;
  other.server_address = "registry.example.invalid:5000";
  options.credentials = {other};
  auto session = BuildKitSession::Start(*engine_, options);
  ASSERT_TRUE(session.ok()) << session.status();
  BuildResult r =
      Build(absl::StrCat("FROM ", base, "\n"), Unique("bk-other") + ":1", (*session)->id());
  EXPECT_FALSE(r.error.empty()) << "the base resolved with credentials meant for another host";
  EXPECT_THAT(r.error, HasSubstr("401 Unauthorized"));
}

TEST_F(BuildKitSessionTest, ASecretReachesItsRunStepAndNothingElse) {
  const std::string secret = Unique("s3cr3t-value");
  BuildKitSessionOptions options;
  options.secrets = {{"token", secret}};
  auto session = BuildKitSession::Start(*engine_, options);
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string tag = Unique("bk-secret") + ":1";
  BuildResult r = Build(
      absl::StrCat("FROM ", FixtureEnv("DKD_TEST_BASE_IMAGE"), "\n",
                   "RUN --mount=type=secret,id=token test \"$(cat /run/secrets/token)\" = \"",
                   secret.substr(0, 6), "\"$(cut -c7- /run/secrets/token) && echo secret-seen\n"),
      tag, (*session)->id());
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_THAT(r.progress, HasSubstr("secret-seen"));
  EXPECT_THAT(r.progress, Not(HasSubstr(secret)));

  // Not in the image's config, history or layers.
  core::EngineRequest inspect;
  inspect.path = "/images/" + tag + "/json";
  auto config = engine_->Call(inspect);
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(config->body, Not(HasSubstr(secret)));
  core::EngineRequest history;
  history.path = "/images/" + tag + "/history";
  auto hist = engine_->Call(history);
  ASSERT_TRUE(hist.ok());
  EXPECT_THAT(hist->body, Not(HasSubstr(secret)));
  core::EngineRequest save;
  save.path = "/images/" + tag + "/get";
  save.read_timeout = absl::Seconds(60);
  std::string exported;
  ASSERT_TRUE(engine_
                  ->Stream(save,
                           [&](absl::string_view d) {
                             exported.append(d.data(), d.size());
                             return true;
                           })
                  .ok());
  EXPECT_GT(exported.size(), 1024u);
  EXPECT_EQ(exported.find(secret), std::string::npos);
}

TEST_F(BuildKitSessionTest, AMissingSecretFailsTheBuildNamingIt) {
  BuildKitSessionOptions options;
  auto session = BuildKitSession::Start(*engine_, options);
  ASSERT_TRUE(session.ok()) << session.status();
  BuildResult r = Build(absl::StrCat("FROM ", FixtureEnv("DKD_TEST_BASE_IMAGE"), "\n",
                                     "RUN --mount=type=secret,id=absent,required cat "
                                     "/run/secrets/absent\n"),
                        Unique("bk-nosecret") + ":1", (*session)->id());
  EXPECT_THAT(r.error, HasSubstr("absent"));
}

TEST_F(BuildKitSessionTest, AnEngineReachedOverTlsCannotCarryASession) {
  core::EngineAddress tls;
  tls.scheme = core::EngineAddress::Scheme::kTcp;
  tls.host = "127.0.0.1";
  tls.port = 1;
  tls.tls = true;
  core::EngineClient engine(tls);
  auto session = BuildKitSession::Start(engine, {});
  EXPECT_EQ(session.status().code(), absl::StatusCode::kFailedPrecondition) << session.status();
}

TEST(RegistryHostOfTest, SpellingsOfOneHostAreOneHost) {
  EXPECT_EQ(RegistryHostOf("127.0.0.1:5001"), "127.0.0.1:5001");
  EXPECT_EQ(RegistryHostOf("https://127.0.0.1:5001/v2/"), "127.0.0.1:5001");
  EXPECT_EQ(RegistryHostOf("HTTP://Reg.Example:5000"), "reg.example:5000");
  EXPECT_EQ(RegistryHostOf("https://index.docker.io/v1/"), "docker.io");
  EXPECT_EQ(RegistryHostOf("registry-1.docker.io"), "docker.io");
  EXPECT_EQ(RegistryHostOf(""), "docker.io");
}

}  // namespace
}  // namespace dkd::server
