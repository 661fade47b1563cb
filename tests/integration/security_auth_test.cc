// Listeners, TLS, client certificates, bearer tokens and the role of every
// RPC, against a real dkd. Certificates are made by the test with openssl.
#include <gtest/gtest.h>

#include <map>

#include "dkd/v1/docker_manager.grpc.pb.h"
#include "server/auth.h"
#include "tests/integration/security_helpers.h"

namespace dkd::testing {
namespace {

using grpc::StatusCode;

std::string TlsConfig(const TestPki& pki, bool require_client_cert, const std::string& extra) {
  return absl::StrCat(R"({"tls":{"cert":")", pki.Cert("server"), R"(","key":")", pki.Key("server"),
                      R"(","client_ca":")", pki.Cert("ca"), R"(","require_client_cert":)",
                      require_client_cert ? "true" : "false", "}", extra, "}");
}

grpc::Status Ping(const std::shared_ptr<grpc::Channel>& channel, const std::string& token = "") {
  return CallByName(channel, "/dkd.v1.DockerManager/Ping", token);
}

class MutualTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki({"alice", "carol", "dave"});
    ASSERT_TRUE(pki_->ok());
    auto d = StartDaemon(
        {"", {}, TlsConfig(*pki_, true, R"(,"auth":{"roles":{"alice":"admin","carol":"read"}})")});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = d->release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    delete pki_;
  }
  std::shared_ptr<grpc::Channel> As(const std::string& who) {
    return TlsChannel(daemon_->tcp_target(), pki_->Cert("ca"), pki_->Cert(who), pki_->Key(who));
  }
  static TestPki* pki_;
  static DaemonProcess* daemon_;
};
TestPki* MutualTlsTest::pki_ = nullptr;
DaemonProcess* MutualTlsTest::daemon_ = nullptr;

TEST_F(MutualTlsTest, TlsWithoutClientCertificateIsRefused) {
  grpc::Status s = Ping(TlsChannel(daemon_->tcp_target(), pki_->Cert("ca")));
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(MutualTlsTest, CertificateFromAnotherCaIsRefusedEvenWithAnAdminName) {
  // mallory's certificate says CN=alice but is signed by an unrelated CA.
  grpc::Status s = Ping(As("mallory"));
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(MutualTlsTest, PlainTextClientOnTheTlsPortIsRefused) {
  grpc::Status s = Ping(PlainChannel(daemon_->tcp_target()));
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(MutualTlsTest, ValidCertificateIdentityGetsItsRole) {
  EXPECT_TRUE(Ping(As("alice")).ok());
  EXPECT_TRUE(Ping(As("carol")).ok());
  // carol is read-only: a run is refused before the engine is touched.
  grpc::Status s = CallByName(As("carol"), "/dkd.v1.DockerManager/RunContainer");
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("needs role admin"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("\"carol\" has role read"), std::string::npos);
  // alice (admin) gets past authorization: the empty request fails validation instead.
  s = CallByName(As("alice"), "/dkd.v1.DockerManager/RunContainer");
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  // dave has a valid certificate and no role.
  s = Ping(As("dave"));
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("has role none"), std::string::npos) << s.error_message();
}

// One rule: the identity is the subject CN when there is one, else the first
// SAN, and only that name's role counts.
TEST(CertificateIdentityTest, CnWinsOverSansAndOnlyTheFirstSanStandsInForAMissingCn) {
  TestPki pki({});
  pki.AddClient("cn-nobody-san-admin", "/CN=nobody", "subjectAltName=DNS:ops-admin");
  pki.AddClient("no-cn-san-admin", "/O=dkd-test", "subjectAltName=DNS:ops-admin");
  pki.AddClient("no-cn-second-san-admin", "/O=dkd-test", "subjectAltName=DNS:nobody,DNS:ops-admin");
  pki.AddClient("no-cn-uri-then-admin", "/O=dkd-test",
                "subjectAltName=URI:spiffe://x/nobody,DNS:ops-admin");
  pki.AddClient("cn-admin-san-nobody", "/CN=ops-admin", "subjectAltName=DNS:nobody");
  // Two CNs: which one a reader takes differs between TLS stacks, so neither counts.
  pki.AddClient("two-cns-admin-first", "/CN=ops-admin/CN=nobody", "subjectAltName=DNS:nobody");
  pki.AddClient("two-cns-admin-last", "/CN=nobody/CN=ops-admin", "subjectAltName=DNS:nobody");
  // A non-DNS SAN is qualified by its kind, so "ops-admin" as an e-mail or URI
  // SAN is not the DNS-named identity ops-admin.
  pki.AddClient("no-cn-email-admin", "/O=dkd-test", "subjectAltName=email:ops-admin");
  pki.AddClient("no-cn-uri-admin", "/O=dkd-test", "subjectAltName=URI:ops-admin");
  ASSERT_TRUE(pki.ok());
  auto d =
      StartDaemon({"", {}, TlsConfig(pki, true, R"(,"auth":{"roles":{"ops-admin":"admin"}})")});
  ASSERT_TRUE(d.ok()) << d.status();
  auto as = [&](const std::string& who) {
    return TlsChannel((*d)->tcp_target(), pki.Cert("ca"), pki.Cert(who), pki.Key(who));
  };
  const std::string run = "/dkd.v1.DockerManager/RunContainer";
  // The attack: CN=nobody borrowing the role of its SAN.
  grpc::Status s = CallByName(as("cn-nobody-san-admin"), run);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("\"nobody\" has role none"), std::string::npos)
      << s.error_message();
  // No CN: the first SAN is the identity, whatever later SANs say.
  for (const char* who : {"no-cn-second-san-admin", "no-cn-uri-then-admin"}) {
    s = CallByName(as(who), run);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << who << ": " << s.error_message();
  }
  for (const char* who : {"two-cns-admin-first", "two-cns-admin-last"}) {
    s = CallByName(as(who), run);
    EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << who << ": " << s.error_message();
  }
  for (const char* who : {"no-cn-email-admin", "no-cn-uri-admin"}) {
    s = CallByName(as(who), run);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << who << ": " << s.error_message();
  }
  // Allowed neighbours: the same SAN as the first name, or the CN itself,
  // gets past authorization (the empty request then fails validation).
  for (const char* who : {"no-cn-san-admin", "cn-admin-san-nobody"}) {
    s = CallByName(as(who), run);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << who << ": " << s.error_message();
  }
}

TEST_F(MutualTlsTest, DkctlConnectsWithTlsFlags) {
  CommandResult r =
      RunCommand({DKCTL_BINARY, "--host", daemon_->tcp_host(), "--tlscacert", pki_->Cert("ca"),
                  "--tlscert", pki_->Cert("alice"), "--tlskey", pki_->Key("alice"), "version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Engine:"), std::string::npos) << r.out;
  r = RunCommand(
      {DKCTL_BINARY, "--host", daemon_->tcp_host(), "--tlscacert", pki_->Cert("ca"), "version"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
}

class TokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki({});
    ASSERT_TRUE(pki_->ok());
    // TLS with optional client certificates: tokens authenticate instead.
    const std::string tokens = TokenConfig({{"ci", "build"}}, "tls");
    auto d =
        StartDaemon({"", {}, TlsConfig(*pki_, false, "," + tokens.substr(1, tokens.size() - 2))});
    ASSERT_TRUE(d.ok()) << d.status();
    tls_daemon_ = d->release();
    d = StartDaemon({"", {}, TokenConfig({{"ci", "build"}}, "plain")});
    ASSERT_TRUE(d.ok()) << d.status();
    plain_daemon_ = d->release();
  }
  static void TearDownTestSuite() {
    delete tls_daemon_;
    delete plain_daemon_;
    delete pki_;
  }
  static TestPki* pki_;
  static DaemonProcess* tls_daemon_;
  static DaemonProcess* plain_daemon_;
};
TestPki* TokenTest::pki_ = nullptr;
DaemonProcess* TokenTest::tls_daemon_ = nullptr;
DaemonProcess* TokenTest::plain_daemon_ = nullptr;

TEST_F(TokenTest, GoodBadAndMissingTokensOverTls) {
  auto ch = TlsChannel(tls_daemon_->tcp_target(), pki_->Cert("ca"));
  EXPECT_TRUE(Ping(ch, TokenFor("ci", "tls")).ok());
  for (const std::string& bad :
       {std::string("tok-ci-wrong"), TokenFor("ci", "plain"), std::string("")}) {
    grpc::Status s = Ping(ch, bad);
    EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << "token \"" << bad << "\"";
    if (!bad.empty()) {
      EXPECT_EQ(s.error_message().find(bad), std::string::npos);
    }
  }
}

TEST_F(TokenTest, GoodBadAndMissingTokensOverLoopbackTcpAndUnix) {
  auto tcp = PlainChannel(plain_daemon_->tcp_target());
  EXPECT_TRUE(Ping(tcp, TokenFor("ci", "plain")).ok());
  EXPECT_EQ(Ping(tcp, "tok-ci-nope").error_code(), StatusCode::UNAUTHENTICATED);
  // With tokens configured, anonymous TCP callers have no role.
  grpc::Status s = Ping(tcp);
  EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("credentials required"), std::string::npos);
  // The unix socket keeps its configured role; a token given there still counts.
  auto unix = PlainChannel(plain_daemon_->unix_target());
  EXPECT_TRUE(Ping(unix).ok());
  EXPECT_EQ(Ping(unix, "tok-ci-nope").error_code(), StatusCode::UNAUTHENTICATED);
  s = CallByName(unix, "/dkd.v1.DockerManager/RemoveImage", TokenFor("ci", "plain"));
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
}

TEST_F(TokenTest, DkctlSendsTheTokenFromFlagOrEnvironment) {
  CommandResult r = RunCommand({DKCTL_BINARY, "--host", plain_daemon_->tcp_host(), "--token",
                                TokenFor("ci", "plain"), "version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunCommand({DKCTL_BINARY, "--host", plain_daemon_->tcp_host(), "version"},
                 {{"DKD_TOKEN", TokenFor("ci", "plain")}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunCommand({DKCTL_BINARY, "--host", plain_daemon_->tcp_host(), "version"});
  EXPECT_EQ(r.exit_code, 1);
}

// Every RPC of every service, for every role: allowed calls get past
// authorization (the empty request then fails validation or runs), denied
// ones get PERMISSION_DENIED naming the role needed.
TEST(RoleMatrixTest, EveryRoleAgainstEveryRpc) {
  auto d = StartDaemon(
      {"",
       {},
       TokenConfig(
           {{"reader", "read"}, {"builder", "build"}, {"boss", "admin"}, {"nobody", "none"}},
           "matrix")});
  ASSERT_TRUE(d.ok()) << d.status();
  auto channel = PlainChannel((*d)->unix_target());
  const std::map<std::string, server::Role> identities = {{"reader", server::Role::kRead},
                                                          {"builder", server::Role::kBuild},
                                                          {"boss", server::Role::kAdmin},
                                                          {"nobody", server::Role::kNone}};
  int checked = 0;
  for (const auto& [method, rule] : server::MethodRules()) {
    for (const auto& [identity, role] : identities) {
      grpc::Status s = CallByName(channel, method, TokenFor(identity, "matrix"),
                                  std::chrono::milliseconds(1500));
      const std::string where = method + " as " + identity;
      if (role >= rule.role) {
        EXPECT_NE(s.error_code(), StatusCode::PERMISSION_DENIED)
            << where << ": " << s.error_message();
        EXPECT_NE(s.error_code(), StatusCode::UNAUTHENTICATED) << where;
        EXPECT_NE(s.error_code(), StatusCode::UNIMPLEMENTED) << where;
      } else {
        EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << where;
        EXPECT_NE(s.error_message().find(absl::StrCat("needs role ", server::RoleName(rule.role))),
                  std::string::npos)
            << where << ": " << s.error_message();
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 26 * 4);  // 16 + 5 + 5 RPCs, 4 roles.
}

TEST(ListenerRuleTest, NonLoopbackTcpNeedsTlsAndClientAuthOrTheInsecureFlag) {
  CommandResult r = RunCommand({DKD_BINARY, "--unix-socket", "", "--tcp", "0.0.0.0:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("refusing to serve plain TCP"), std::string::npos) << r.out;
  TestPki pki({});
  r = RunCommand({DKD_BINARY, "--unix-socket", "", "--tcp", "0.0.0.0:0", "--tlscert",
                  pki.Cert("server"), "--tlskey", pki.Key("server"), "--http", ""});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("without client authentication"), std::string::npos) << r.out;

  auto d = StartDaemon({"", {"--tcp", "0.0.0.0:0", "--insecure-tcp"}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_NE((*d)->Log().find("INSECURE: plain TCP"), std::string::npos) << (*d)->Log();
}

TEST(ConfigFileTest, BadConfigStopsDkdNamingTheKey) {
  const std::string dir = MakeTempDir();
  std::ofstream(dir + "/bad.json") << R"({"run": {"allow_privileged": "sometimes"}})";
  CommandResult r = RunCommand({DKD_BINARY, "--config", dir + "/bad.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("run.allow_privileged"), std::string::npos) << r.err;
  std::ofstream(dir + "/typo.json") << R"({"limits": {"max_concurent_builds": 2}})";
  r = RunCommand({DKD_BINARY, "--config", dir + "/typo.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("limits.max_concurent_builds"), std::string::npos) << r.err;
  r = RunCommand({DKD_BINARY, "--config", dir + "/missing.json"});
  EXPECT_EQ(r.exit_code, 2);
  RunCommand({"rm", "-rf", dir});
}

TEST(ConfigFileTest, ExampleConfigIsValid) {
  // The example names TLS files and an audit path of a real host; blank them.
  CommandResult r = RunCommand({DKD_BINARY, "--config", DKD_SOURCE_DIR "/deploy/dkd.example.json",
                                "--tlscert=", "--tlskey=", "--tlscacert=", "--check-config"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace dkd::testing
