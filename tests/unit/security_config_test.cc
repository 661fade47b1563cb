// Configuration validation, the role table and token matching: pure logic.
#include <gtest/gtest.h>

#include "client/dkd_client.h"
#include "dkd/v1/build_generator.grpc.pb.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "dkd/v1/image_optimizer.grpc.pb.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/daemon_options.h"
#include "server/listen_address.h"

namespace dkd::server {
namespace {

absl::StatusOr<DaemonConfig> Parse(const std::string& text) {
  return ParseConfig(nlohmann::json::parse(text), ConfigOverrides());
}

TEST(SecurityConfigTest, DefaultsGiveTheSocketAdminAndAnonymousTcpNothing) {
  auto c = Parse("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->security.auth.unix_socket_role, Role::kAdmin);
  // A TCP port cannot tell local users apart: anonymous callers get nothing,
  // with or without tokens and TLS configured.
  EXPECT_EQ(c->security.auth.anonymous_role, Role::kNone);
  EXPECT_EQ(c->security.auth.local_token_file, "/run/dkd/local-token");
  EXPECT_TRUE(c->security.policy.bind_roots.empty());
  EXPECT_FALSE(c->security.policy.allow_privileged);
  EXPECT_FALSE(c->security.ownership);
}

TEST(SecurityConfigTest, LocalTokenFileFollowsTheSocketAndAnonymousAccessIsOptIn) {
  auto c = Parse(R"({"listen": {"unix_socket": "/srv/x/dkd.sock"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->security.auth.local_token_file, "/srv/x/local-token");
  c = Parse(R"({"listen": {"unix_socket": ""}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->security.auth.local_token_file, "/run/dkd/local-token");
  c = Parse(R"({"auth": {"local_token_file": ""}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->security.auth.local_token_file, "");
  c = Parse(R"({"auth": {"anonymous_role": "read"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->security.auth.anonymous_role, Role::kRead);
  auto bad = Parse(R"({"auth": {"local_token_file": "relative/token"}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("auth.local_token_file"), std::string::npos);
}

TEST(SecurityConfigTest, LoopbackPeersAreTheOnlyOnesTheLocalTokenWorksFrom) {
  for (const char* peer : {"ipv4:127.0.0.1:5000", "ipv4:127.1.2.3:1", "ipv6:[::1]:5000",
                           "ipv6:[::ffff:127.0.0.1]:5000"}) {
    EXPECT_TRUE(IsLoopbackPeer(peer)) << peer;
  }
  for (const char* peer :
       {"ipv4:10.0.0.1:5000", "ipv4:128.0.0.1:1", "ipv6:[::2]:5000", "ipv6:[::ffff:10.0.0.1]:1",
        "ipv6:[fe80::1]:1", "unix:/x", "", "ipv4:1127.0.0.1:1"}) {
    EXPECT_FALSE(IsLoopbackPeer(peer)) << peer;
  }
}

TEST(SecurityConfigTest, DkctlSendsTheLocalTokenToLoopbackAddressLiteralsOnly) {
  for (const char* t : {"127.0.0.1:7575", "127.9.8.7:1", "localhost:7575", "[::1]:7575",
                        "[::ffff:127.0.0.1]:7575"}) {
    EXPECT_TRUE(client::IsLoopbackTarget(t)) << t;
  }
  for (const char* t : {"127.0.0.1.example.com:7575", "127.attacker.example:7575", "10.0.0.1:7575",
                        "[::2]:7575", "[::ffff:10.0.0.1]:1", "::1:7575", "unix:/run/dkd/dkd.sock",
                        "localhost.example:7575", "1127.0.0.1:1", "host:7575", "127.0.0.1"}) {
    EXPECT_FALSE(client::IsLoopbackTarget(t)) << t;
  }
}

TEST(SecurityConfigTest, TokensMakeAnonymousTcpCallersRoleNone) {
  auto c = Parse(R"({"auth": {"tokens": [{"identity": "ci", "sha256": ")" + Sha256Hex("s3cret") +
                 R"("}], "roles": {"ci": "build"}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->security.auth.anonymous_role, Role::kNone);
  EXPECT_EQ(c->security.auth.roles.at("ci"), Role::kBuild);
  auto id = MatchToken("s3cret", c->security.auth);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "ci");
  EXPECT_EQ(MatchToken("s3cret ", c->security.auth).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(MatchToken("", c->security.auth).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(SecurityConfigTest, BadValuesNameTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"listn": {}})", "config key listn"},
      {R"({"listen": {"tcp": 7}})", "config key listen.tcp"},
      {R"({"auth": {"roles": {"ci": "root"}}})", "config key auth.roles.ci"},
      {R"({"auth": {"tokens": [{"identity": "ci", "sha256": "plaintext"}]}})",
       "config key auth.tokens[0].sha256"},
      {R"({"auth": {"tokens": [{"identity": "", "sha256": "00"}]}})",
       "config key auth.tokens[0].identity"},
      {R"({"run": {"bind_roots": ["relative"]}})", "config key run.bind_roots[0]"},
      {R"({"run": {"published_ports": "9000-80"}})", "config key run.published_ports"},
      {R"({"run": {"allow_privileged": "yes"}})", "config key run.allow_privileged"},
      {R"({"limits": {"max_concurrent_builds": 0}})", "config key limits.max_concurrent_builds"},
      {R"({"limits": {"deadlines": {"RunContainer": -1}}})",
       "config key limits.deadlines.RunContainer"},
      {R"({"log": {"format": "xml"}})", "config key log.format"},
      {R"({"tls": {"cert": "/nonexistent.pem", "key": "/nonexistent.key"}})",
       "config key tls.cert"},
      {R"({"tls": {"cert": "/x"}})", "tls.cert and tls.key"},
      {R"({"audit": {"file": "audit.log"}})", "config key audit.file"},
      {R"({"listen": {"unix_socket": "", "tcp": ""}})", "config key listen"},
  };
  for (const auto& [text, want] : cases) {
    auto c = Parse(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(std::string(c.status().message()).find(want), std::string::npos)
        << text << " -> " << c.status().message();
  }
}

TEST(SecurityConfigTest, FlagsOverrideTheFileAndAreNamedInErrors) {
  auto o = ParseDaemonOptions({"--tcp", "127.0.0.1:9", "--bind-root", "/srv/a", "--bind-root",
                               "/srv/b", "--log-level", "loud"});
  ASSERT_TRUE(o.ok()) << o.status();
  auto bad =
      ParseConfig(nlohmann::json::parse(R"({"listen": {"tcp": "0.0.0.0:1"}})"), o->overrides);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("log.level (--log-level)"), std::string::npos)
      << bad.status();
  o = ParseDaemonOptions(
      {"--tcp", "127.0.0.1:9", "--bind-root", "/srv/a", "--bind-root", "/srv/b"});
  ASSERT_TRUE(o.ok());
  auto c = ParseConfig(nlohmann::json::parse(R"({"listen": {"tcp": "0.0.0.0:1"}})"), o->overrides);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tcp, "127.0.0.1:9");
  EXPECT_EQ(c->security.policy.bind_roots, (std::vector<std::string>{"/srv/a", "/srv/b"}));
  EXPECT_EQ(ParseDaemonOptions({"--no-such"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SecurityConfigTest, ExtraForbiddenPathsNeverRemoveTheEngineSocket) {
  auto c = Parse(R"({"run": {"forbidden_paths": ["/srv/secret"]}})");
  ASSERT_TRUE(c.ok());
  const auto& f = c->security.policy.forbidden_paths;
  EXPECT_NE(std::find(f.begin(), f.end(), "/var/run/docker.sock"), f.end());
  EXPECT_NE(std::find(f.begin(), f.end(), "/srv/secret"), f.end());
}

TEST(SecurityConfigTest, EveryRpcOfEveryServiceHasARole) {
  // Touch each generated file so its descriptors are in the pool.
  (void)dkd::v1::PingRequest::descriptor();
  (void)dkd::v1::BuildConfig::descriptor();
  (void)dkd::v1::AnalyzeImageRequest::descriptor();
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* name :
       {"dkd.v1.DockerManager", "dkd.v1.BuildGenerator", "dkd.v1.ImageOptimizer"}) {
    const auto* svc = pool->FindServiceByName(name);
    ASSERT_NE(svc, nullptr) << name;
    for (int i = 0; i < svc->method_count(); ++i) {
      const std::string full = "/" + svc->full_name() + "/" + svc->method(i)->name();
      EXPECT_NE(FindMethodRule(full), nullptr) << full << " has no role";
    }
  }
  EXPECT_EQ(FindMethodRule("/dkd.v1.DockerManager/Nope"), nullptr);
  const MethodRule* run = FindMethodRule("/dkd.v1.DockerManager/RunContainer");
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(RequiredRole(*run, false), Role::kAdmin);
  EXPECT_EQ(RequiredRole(*run, true), Role::kBuild);
  EXPECT_EQ(FindMethodRule("/dkd.v1.DockerManager/PushImage")->role, Role::kBuild);
  EXPECT_EQ(FindMethodRule("/dkd.v1.DockerManager/RemoveImage")->role, Role::kAdmin);
  EXPECT_EQ(FindMethodRule("/dkd.v1.ImageOptimizer/AnalyzeImage")->role, Role::kRead);
}

TEST(SecurityConfigTest, RemoteTcpNeedsTlsAndClientAuthUnlessInsecure) {
  auto remote = ParseListenAddress("t", "0.0.0.0:1");
  auto local = ParseListenAddress("t", "127.0.0.1:1");
  ASSERT_TRUE(remote.ok() && local.ok());
  EXPECT_TRUE(CheckTcpListenerAllowed(*local, false, false, false).ok());
  EXPECT_FALSE(CheckTcpListenerAllowed(*remote, false, false, false).ok());
  EXPECT_FALSE(CheckTcpListenerAllowed(*remote, true, false, false).ok());
  EXPECT_TRUE(CheckTcpListenerAllowed(*remote, true, true, false).ok());
  EXPECT_TRUE(CheckTcpListenerAllowed(*remote, false, false, true).ok());
}

}  // namespace
}  // namespace dkd::server
