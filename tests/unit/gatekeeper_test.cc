// Gatekeeper and GuardedCall through an in-process gRPC server: who the
// caller is, the role each method needs, closed unknown methods, per-identity
// caps, request ids and shutdown.
#include "server/gatekeeper.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "dkd/v1/build_generator.grpc.pb.h"
#include "server/audit.h"
#include "server/config.h"
#include "server/metrics.h"

namespace dkd::server {
namespace {

constexpr char kLintMethod[] = "/dkd.v1.BuildGenerator/LintDockerfile";

TokenEntry Token(const std::string& identity, const std::string& token) {
  TokenEntry e;
  e.identity = identity;
  const std::string hex = Sha256Hex(token);
  for (size_t i = 0; i < e.sha256.size(); ++i) {
    int byte = 0;
    EXPECT_TRUE(absl::SimpleHexAtoi(hex.substr(2 * i, 2), &byte));
    e.sha256[i] = static_cast<unsigned char>(byte);
  }
  return e;
}

// The value of the sample `name` ("family{label=\"v\"}") in `metrics`; -1 when absent.
double Sample(const Metrics& metrics, const std::string& name) {
  const std::string text = metrics.Render();
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    if (line.rfind(name + " ", 0) == 0) {
      double v = -1;
      if (absl::SimpleAtod(line.substr(name.size() + 1), &v)) return v;
    }
    at = end + 1;
  }
  return -1;
}

SecuritySettings Settings() {
  SecuritySettings s;
  s.auth.tokens = {Token("reader", "read-token"), Token("builder", "build-token"),
                   Token("admin", "admin-token"), Token("nobody", "none-token")};
  s.auth.roles = {{"reader", Role::kRead}, {"builder", Role::kBuild}, {"admin", Role::kAdmin}};
  s.auth.unix_socket_role = Role::kRead;
  return s;
}

// One RPC (LintDockerfile) whose handler runs a guarded call for the method
// named in `filename`, so a test can ask about any method. The body answers
// "identity role" in parse_error; with dockerfile "block" it waits for
// Release() first.
class ProbeService final : public dkd::v1::BuildGenerator::Service {
 public:
  explicit ProbeService(Gatekeeper* gatekeeper) : gatekeeper_(gatekeeper) {}

  grpc::Status LintDockerfile(grpc::ServerContext* context,
                              const dkd::v1::LintDockerfileRequest* request,
                              dkd::v1::LintDockerfileResponse* response) override {
    return gatekeeper_->Serve(
        context, request->filename(), "", [&](GuardedCall& call) -> absl::Status {
          if (request->dockerfile() == "block") {
            entered_.Notify();
            release_.WaitForNotification();
          }
          response->set_parse_error(call.caller().identity + " " + RoleName(call.caller().role));
          return absl::OkStatus();
        });
  }

  void AwaitEntered() { entered_.WaitForNotification(); }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

 private:
  Gatekeeper* gatekeeper_;
  absl::Notification entered_;
  absl::Notification release_;
};

class GatekeeperTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(Settings()); }

  void Start(SecuritySettings settings) {
    char tmpl[] = "/tmp/dkdgk.XXXXXX";
    dir_ = mkdtemp(tmpl);
    gatekeeper_ = std::make_unique<Gatekeeper>(std::move(settings), &metrics_, &audit_);
    probe_ = std::make_unique<ProbeService>(gatekeeper_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.AddListeningPort("unix:" + dir_ + "/g.sock", grpc::InsecureServerCredentials());
    builder.RegisterService(probe_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  void TearDown() override {
    probe_->Release();
    server_->Shutdown();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::shared_ptr<grpc::Channel> Tcp() {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                               grpc::InsecureChannelCredentials());
  }
  std::shared_ptr<grpc::Channel> Unix() {
    return grpc::CreateChannel("unix:" + dir_ + "/g.sock", grpc::InsecureChannelCredentials());
  }

  struct Result {
    grpc::Status status;
    std::string caller;  // "identity role" when admitted.
    std::string request_id;
  };

  // Calls `method` through the probe, with `token` as bearer token ("" =
  // none) and `request_id` as x-request-id ("" = none).
  static Result Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& token = "", const std::string& request_id = "",
                     const std::string& body = "") {
    auto stub = dkd::v1::BuildGenerator::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) context.AddMetadata("authorization", token);
    if (!request_id.empty()) context.AddMetadata("x-request-id", request_id);
    dkd::v1::LintDockerfileRequest request;
    request.set_filename(method);
    request.set_dockerfile(body);
    dkd::v1::LintDockerfileResponse response;
    Result r;
    r.status = stub->LintDockerfile(&context, request, &response);
    r.caller = response.parse_error();
    auto md = context.GetServerInitialMetadata();
    if (auto it = md.find("x-request-id"); it != md.end()) {
      r.request_id = std::string(it->second.data(), it->second.size());
    }
    return r;
  }

  static bool Says(const grpc::Status& s, const std::string& text) {
    return s.error_message().find(text) != std::string::npos;
  }

  std::string dir_;
  Metrics metrics_;
  AuditLog audit_{""};
  std::unique_ptr<Gatekeeper> gatekeeper_;
  std::unique_ptr<ProbeService> probe_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(GatekeeperTest, TokensUnixSocketAndAnonymousTcpAreAuthenticatedAsConfigured) {
  Result r = Call(Tcp(), kLintMethod, "Bearer read-token");
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.caller, "reader read");
  r = Call(Tcp(), kLintMethod, "bearer   admin-token");
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.caller, "admin admin");
  // The unix socket needs no credentials: identity "unix" with its role.
  r = Call(Unix(), kLintMethod);
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.caller, "unix read");
  // Anonymous TCP, a wrong token and a malformed header are refused.
  r = Call(Tcp(), kLintMethod);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Says(r.status, "credentials required")) << r.status.error_message();
  r = Call(Tcp(), kLintMethod, "Bearer wrong-token");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Says(r.status, "the bearer token is not valid")) << r.status.error_message();
  EXPECT_FALSE(Says(r.status, "wrong-token")) << "a credential is echoed";
  r = Call(Unix(), kLintMethod, "Basic cmVhZDp0b2tlbg==");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Says(r.status, "Bearer TOKEN")) << r.status.error_message();
  EXPECT_EQ(Sample(metrics_, "dkd_auth_failures_total{reason=\"unauthenticated\"}"), 3)
      << metrics_.Render();
}

TEST_F(GatekeeperTest, AnonymousTcpGetsTheAnonymousRoleWhenTheOperatorOptsIn) {
  SecuritySettings s = Settings();
  s.auth.anonymous_role = Role::kRead;
  gatekeeper_->Update(s);
  Result r = Call(Tcp(), kLintMethod);
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.caller, "anonymous read");
}

TEST_F(GatekeeperTest, EachMethodNeedsTheRoleInTheTable) {
  struct Case {
    const char* method;
    const char* token;
    bool allowed;
  };
  const Case cases[] = {
      {"/dkd.v1.DockerManager/ListContainers", "Bearer read-token", true},
      {"/dkd.v1.DockerManager/ContainerLogs", "Bearer read-token", true},
      {"/dkd.v1.ImageOptimizer/AnalyzeImage", "Bearer read-token", true},
      {"/dkd.v1.DockerManager/BuildImage", "Bearer read-token", false},
      {"/dkd.v1.DockerManager/BuildImage", "Bearer build-token", true},
      {"/dkd.v1.DockerManager/PushImage", "Bearer build-token", true},
      {"/dkd.v1.DockerManager/RunContainer", "Bearer build-token", false},
      {"/dkd.v1.DockerManager/RunContainer", "Bearer admin-token", true},
      {"/dkd.v1.DockerManager/RemoveImage", "Bearer build-token", false},
      {"/dkd.v1.DockerManager/RemoveImage", "Bearer admin-token", true},
      // An identity with no role entry has role none: even reading is refused.
      {"/dkd.v1.DockerManager/Ping", "Bearer none-token", false},
  };
  for (const Case& c : cases) {
    Result r = Call(Tcp(), c.method, c.token);
    if (c.allowed) {
      EXPECT_TRUE(r.status.ok()) << c.method << " " << c.token << ": " << r.status.error_message();
    } else {
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << c.method << " " << c.token;
      EXPECT_TRUE(Says(r.status, " needs role ")) << r.status.error_message();
    }
  }
  Result r = Call(Tcp(), "/dkd.v1.DockerManager/RunContainer", "Bearer read-token");
  EXPECT_EQ(r.status.error_message(),
            "RunContainer needs role admin; identity \"reader\" has role read");
}

TEST_F(GatekeeperTest, UnderOwnershipTheBuildRoleMayCallOwnerScopedMethods) {
  SecuritySettings s = Settings();
  s.ownership = true;
  gatekeeper_->Update(s);
  for (const char* rpc : {"RunContainer", "StopContainer", "RemoveContainer"}) {
    const std::string method = std::string("/dkd.v1.DockerManager/") + rpc;
    EXPECT_TRUE(Call(Tcp(), method, "Bearer build-token").status.ok()) << rpc;
    EXPECT_EQ(Call(Tcp(), method, "Bearer read-token").status.error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << rpc;
  }
  // Not owner-scoped: still admin only.
  EXPECT_EQ(
      Call(Tcp(), "/dkd.v1.DockerManager/RemoveImage", "Bearer build-token").status.error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(GatekeeperTest, AMethodMissingFromTheRoleTableIsClosedToEveryone) {
  for (const char* method : {"/dkd.v1.DockerManager/Exec", "/dkd.v1.DockerManager/listcontainers",
                             "ListContainers", ""}) {
    Result r = Call(Tcp(), method, "Bearer admin-token");
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
    EXPECT_TRUE(Says(r.status, "has no entry in dkd's role table")) << r.status.error_message();
    EXPECT_TRUE(r.caller.empty()) << method << " ran its body";
  }
  // Also without credentials: closed before anything else is looked at.
  Result r = Call(Tcp(), "/dkd.v1.DockerManager/Exec");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(GatekeeperTest, CallsPerIdentityAreCapped) {
  SecuritySettings s = Settings();
  s.limits.max_calls_per_identity = 1;
  gatekeeper_->Update(s);
  Result first;
  std::thread held([&] { first = Call(Tcp(), kLintMethod, "Bearer read-token", "", "block"); });
  probe_->AwaitEntered();
  Result second = Call(Tcp(), kLintMethod, "Bearer read-token");
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Says(second.status, "limits.max_calls_per_identity"))
      << second.status.error_message();
  // The cap is per identity: another one is not held back.
  EXPECT_TRUE(Call(Tcp(), kLintMethod, "Bearer admin-token").status.ok());
  probe_->Release();
  held.join();
  EXPECT_TRUE(first.status.ok()) << first.status.error_message();
  // The finished call gave its place back.
  EXPECT_TRUE(Call(Tcp(), kLintMethod, "Bearer read-token").status.ok());
  EXPECT_EQ(Sample(metrics_, "dkd_limit_rejections_total{limit=\"max_calls_per_identity\"}"), 1)
      << metrics_.Render();
}

TEST_F(GatekeeperTest, StreamsPerIdentityAreCappedApartFromOtherCalls) {
  SecuritySettings s = Settings();
  s.limits.max_streams_per_identity = 1;
  gatekeeper_->Update(s);
  const std::string logs = "/dkd.v1.DockerManager/ContainerLogs";
  Result first;
  std::thread held([&] { first = Call(Tcp(), logs, "Bearer read-token", "", "block"); });
  probe_->AwaitEntered();
  Result second = Call(Tcp(), logs, "Bearer read-token");
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Says(second.status, "limits.max_streams_per_identity"))
      << second.status.error_message();
  // A call that is not a stream is not counted against the stream cap.
  EXPECT_TRUE(Call(Tcp(), "/dkd.v1.DockerManager/ListContainers", "Bearer read-token").status.ok());
  probe_->Release();
  held.join();
  EXPECT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_TRUE(Call(Tcp(), logs, "Bearer read-token").status.ok());
}

TEST_F(GatekeeperTest, EveryCallGetsARequestIdAndAPlainClientChosenOneIsKept) {
  Result a = Call(Tcp(), kLintMethod, "Bearer read-token");
  Result b = Call(Tcp(), kLintMethod, "Bearer read-token");
  EXPECT_FALSE(a.request_id.empty());
  EXPECT_FALSE(b.request_id.empty());
  EXPECT_NE(a.request_id, b.request_id);
  EXPECT_EQ(Call(Tcp(), kLintMethod, "Bearer read-token", "ci-job_42.7").request_id, "ci-job_42.7");
  // Refused calls carry one too.
  Result refused = Call(Tcp(), kLintMethod, "", "refused-1");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(refused.request_id, "refused-1");
  // One that is not plain, or too long, is replaced.
  for (const std::string& bad :
       {std::string("two words"), std::string("x\"y"), std::string(65, 'a')}) {
    Result r = Call(Tcp(), kLintMethod, "Bearer read-token", bad);
    EXPECT_FALSE(r.request_id.empty()) << bad;
    EXPECT_NE(r.request_id, bad);
  }
}

TEST_F(GatekeeperTest, ShutdownRefusesNewCallsWithUnavailable) {
  gatekeeper_->BeginShutdown();
  EXPECT_TRUE(gatekeeper_->shutting_down());
  Result r = Call(Tcp(), kLintMethod, "Bearer admin-token");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(r.status.error_message(), "dkd is shutting down");
  EXPECT_TRUE(gatekeeper_->AwaitCallsDone(absl::Now() + absl::Seconds(10)));
}

}  // namespace
}  // namespace dkd::server
