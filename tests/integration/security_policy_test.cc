// The run, push and build-context policy enforced through dkd, each rule with
// a denied and an allowed case, engine-socket mount attempts by several
// spellings, and ownership isolation between two identities.
#include <gtest/gtest.h>
#include <unistd.h>

#include "dkd/v1/docker_manager.grpc.pb.h"
#include "tests/integration/security_helpers.h"

namespace dkd::testing {
namespace {

using dkd::v1::DockerManager;
using grpc::StatusCode;

std::set<std::string> AllContainerIds() {
  CommandResult r = RunCommand({"docker", "-H", TestEngineHost(), "ps", "-aq", "--no-trunc"});
  std::set<std::string> ids;
  std::stringstream ss(r.out);
  for (std::string line; std::getline(ss, line);) ids.insert(line);
  return ids;
}

class PolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = new std::string(FixtureEnv("DKD_TEST_BASE_IMAGE"));
    ASSERT_FALSE(base_->empty()) << "fixtures not up: run scripts/fixtures.sh up";
    root_ = new std::string(MakeTempDir());
    RunCommand({"mkdir", "-p", *root_ + "/data", *root_ + "/ctx/app"});
    std::ofstream(*root_ + "/ctx/app/Dockerfile") << "FROM " << *base_ << "\nRUN true\n";
    symlink("/var/run/docker.sock", (*root_ + "/data/sock-link").c_str());
    symlink("/", (*root_ + "/ctx/escape").c_str());
    // Strict: the defaults, one bind root, a port range, one allowed registry.
    auto d = StartDaemon({"",
                          {},
                          absl::StrCat(R"({"run":{"bind_roots":[")", *root_,
                                       R"(/data"],"published_ports":"20000-20999"},)",
                                       R"("push":{"registries":["127.0.0.1:1"]},)",
                                       R"("build":{"context_roots":[")", *root_, R"(/ctx"]}})")});
    ASSERT_TRUE(d.ok()) << d.status();
    strict_ = d->release();
    // Permissive: every allow flag and "/" as a bind root; the engine socket
    // must still be refused.
    d = StartDaemon(
        {"", {}, R"({"run":{"bind_roots":["/"],"allow_privileged":true,"allow_host_network":true,
              "allow_host_pid":true,"allow_host_ipc":true,"allow_cap_add":true,
              "allow_devices":true}})"});
    ASSERT_TRUE(d.ok()) << d.status();
    open_ = d->release();
  }
  static void TearDownTestSuite() {
    delete strict_;
    delete open_;
    RunCommand({"rm", "-rf", *root_});
    delete root_;
    delete base_;
  }

  static dkd::v1::RunContainerRequest TrueRun() {
    dkd::v1::RunContainerRequest r;
    r.mutable_config()->set_image_name(base_->substr(0, base_->rfind(':')));
    r.mutable_config()->set_tag(base_->substr(base_->rfind(':') + 1));
    r.add_command("true");
    r.set_auto_remove(true);
    r.set_pull_policy(dkd::v1::RunContainerRequest::NEVER);
    return r;
  }
  static grpc::Status Run(DaemonProcess* d, const dkd::v1::RunContainerRequest& r) {
    auto stub = DockerManager::NewStub(PlainChannel(d->unix_target()));
    grpc::ClientContext ctx;
    dkd::v1::RunContainerResponse resp;
    grpc::Status s = stub->RunContainer(&ctx, r, &resp);
    if (s.ok()) {
      EXPECT_EQ(resp.exit_code(), 0) << resp.stderr();
    }
    return s;
  }

  static std::string* base_;
  static std::string* root_;
  static DaemonProcess* strict_;
  static DaemonProcess* open_;
};
std::string* PolicyTest::base_ = nullptr;
std::string* PolicyTest::root_ = nullptr;
DaemonProcess* PolicyTest::strict_ = nullptr;
DaemonProcess* PolicyTest::open_ = nullptr;

TEST_F(PolicyTest, EngineSocketCannotBeMountedByAnySpelling) {
  const std::set<std::string> before = AllContainerIds();
  for (const std::string& path :
       {std::string("/var/run/docker.sock"), std::string("/run/docker.sock"),
        *root_ + "/data/sock-link", std::string("/var/run"), std::string("/run"),
        std::string("/var"), std::string("/"), std::string("//var/run//docker.sock"),
        std::string("/var/run/docker.sock/"), std::string("/var/run/../run/docker.sock")}) {
    for (DaemonProcess* d : {strict_, open_}) {
      auto r = TrueRun();
      (*r.mutable_config()->mutable_volumes())[path] = "/mnt/x";
      grpc::Status s = Run(d, r);
      EXPECT_TRUE(s.error_code() == StatusCode::PERMISSION_DENIED ||
                  s.error_code() == StatusCode::INVALID_ARGUMENT)
          << path << ": " << s.error_code() << " " << s.error_message();
    }
  }
  EXPECT_EQ(AllContainerIds(), before) << "a refused run created a container";
}

TEST_F(PolicyTest, BindMountsOnlyUnderAllowedRoots) {
  auto r = TrueRun();
  (*r.mutable_config()->mutable_volumes())["/etc"] = "/mnt/etc";
  grpc::Status s = Run(strict_, r);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("config.volumes"), std::string::npos) << s.error_message();
  r = TrueRun();
  (*r.mutable_config()->mutable_volumes())[*root_ + "/data"] = "/mnt/data";
  s = Run(strict_, r);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(PolicyTest, HostModesPrivilegedCapabilitiesAndDevicesNeedThePolicy) {
  struct Case {
    const char* name;
    std::function<void(dkd::v1::RunContainerRequest*)> set;
    const char* key;
  };
  const std::vector<Case> cases = {
      {"privileged", [](auto* r) { r->set_privileged(true); }, "run.allow_privileged"},
      {"host network", [](auto* r) { r->set_network_mode("host"); }, "run.allow_host_network"},
      {"host pid", [](auto* r) { r->set_pid_mode("host"); }, "run.allow_host_pid"},
      {"host ipc", [](auto* r) { r->set_ipc_mode("host"); }, "run.allow_host_ipc"},
      {"cap_add", [](auto* r) { r->add_cap_add("NET_ADMIN"); }, "run.allow_cap_add"},
      {"devices", [](auto* r) { r->add_devices("/dev/null"); }, "run.allow_devices"},
  };
  for (const auto& c : cases) {
    auto r = TrueRun();
    c.set(&r);
    grpc::Status s = Run(strict_, r);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << c.name;
    EXPECT_NE(s.error_message().find(c.key), std::string::npos)
        << c.name << ": " << s.error_message();
    // Allowed by the policy: it reaches the engine. A nested engine may still
    // refuse some modes itself (privileged needs real capabilities).
    s = Run(open_, r);
    EXPECT_TRUE(s.ok() || s.error_message().find("policy:") == std::string::npos)
        << c.name << " allowed: " << s.error_message();
    if (std::string(c.name) != "privileged") {
      EXPECT_TRUE(s.ok()) << c.name << ": " << s.error_message();
    }
  }
}

TEST_F(PolicyTest, PublishedPortsMustBeInTheAllowedRange) {
  auto r = TrueRun();
  (*r.mutable_config()->mutable_ports())["80/tcp"] = "30080";
  grpc::Status s = Run(strict_, r);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("run.published_ports"), std::string::npos) << s.error_message();
  r = TrueRun();
  (*r.mutable_config()->mutable_ports())["80/tcp"] = std::to_string(20000 + getpid() % 1000);
  s = Run(strict_, r);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(PolicyTest, PushesOnlyToAllowedRegistries) {
  for (DaemonProcess* d : {strict_, open_}) {
    auto stub = DockerManager::NewStub(PlainChannel(d->unix_target()));
    grpc::ClientContext ctx;
    dkd::v1::PushImageRequest req;
    req.set_image(*base_);
    auto reader = stub->PushImage(&ctx, req);
    dkd::v1::ProgressEvent e;
    while (reader->Read(&e)) {
    }
    grpc::Status s = reader->Finish();
    if (d == strict_) {
      EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
      EXPECT_NE(s.error_message().find("push.registries"), std::string::npos) << s.error_message();
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
  }
}

TEST_F(PolicyTest, DaemonLocalBuildContextsOnlyUnderRoots) {
  auto build = [&](const std::string& dir) {
    auto stub = DockerManager::NewStub(PlainChannel(strict_->unix_target()));
    grpc::ClientContext ctx;
    auto stream = stub->BuildImage(&ctx);
    dkd::v1::BuildImageRequest first;
    auto* spec = first.mutable_spec();
    spec->mutable_config()->set_image_name("dkd-policy-ctx");
    spec->mutable_config()->set_tag(std::to_string(getpid()));
    spec->mutable_config()->set_build_context(dir);
    spec->set_context_source(dkd::v1::BuildSpec::DAEMON_PATH);
    spec->set_no_pull(true);
    stream->Write(first);
    stream->WritesDone();
    dkd::v1::BuildEvent e;
    while (stream->Read(&e)) {
    }
    return stream->Finish();
  };
  EXPECT_EQ(build("/etc").error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(build(*root_ + "/ctx/escape/etc").error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(build(*root_ + "/ctx/app/../../data").error_code(), StatusCode::INVALID_ARGUMENT);
  grpc::Status s = build(*root_ + "/ctx/app");
  EXPECT_TRUE(s.ok()) << s.error_message();
  RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f",
              "dkd-policy-ctx:" + std::to_string(getpid())});
}

TEST(OwnershipTest, IdentitiesSeeStopAndRemoveOnlyTheirOwnContainers) {
  const std::string base = FixtureEnv("DKD_TEST_BASE_IMAGE");
  ASSERT_FALSE(base.empty());
  auto d = StartDaemon({"",
                        {},
                        TokenConfig({{"alice", "build"}, {"bob", "build"}, {"boss", "admin"}},
                                    "own", R"("ownership":{"enabled":true})")});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = DockerManager::NewStub(PlainChannel((*d)->tcp_target()));
  auto as = [](grpc::ClientContext* ctx, const std::string& who) {
    ctx->AddMetadata("authorization", "Bearer " + TokenFor(who, "own"));
  };
  dkd::v1::RunContainerRequest run;
  run.mutable_config()->set_image_name(base.substr(0, base.rfind(':')));
  run.mutable_config()->set_tag(base.substr(base.rfind(':') + 1));
  (*run.mutable_config()->mutable_labels())["dkd.owner"] = "bob";  // A spoofing attempt.
  run.add_command("sleep");
  run.add_command("60");
  run.set_detach(true);
  run.set_pull_policy(dkd::v1::RunContainerRequest::NEVER);
  dkd::v1::RunContainerResponse created;
  {
    grpc::ClientContext ctx;
    as(&ctx, "alice");
    ASSERT_TRUE(stub->RunContainer(&ctx, run, &created).ok());
  }
  const std::string id = created.id();
  auto listed = [&](const std::string& who) {
    grpc::ClientContext ctx;
    as(&ctx, who);
    dkd::v1::ListContainersRequest req;
    req.set_show_all(true);
    dkd::v1::ListContainersResponse resp;
    EXPECT_TRUE(stub->ListContainers(&ctx, req, &resp).ok());
    for (const auto& c : resp.containers()) {
      if (c.id() == id) return true;
    }
    return false;
  };
  EXPECT_TRUE(listed("alice"));
  EXPECT_FALSE(listed("bob"));
  EXPECT_TRUE(listed("boss"));
  CommandResult label = RunCommand({"docker", "-H", TestEngineHost(), "inspect", "-f",
                                    "{{index .Config.Labels \"dkd.owner\"}}", id});
  EXPECT_EQ(label.out, "alice\n");
  {
    grpc::ClientContext ctx;
    as(&ctx, "bob");
    dkd::v1::InspectContainerRequest req;
    req.set_id(id);
    dkd::v1::ContainerDetails resp;
    EXPECT_EQ(stub->InspectContainer(&ctx, req, &resp).error_code(), StatusCode::NOT_FOUND);
  }
  // Logs: another identity's container is absent under every spelling of it,
  // followed or not; its owner and an admin read it.
  auto logs = [&](const std::string& who, const std::string& ref, bool follow) {
    grpc::ClientContext ctx;
    as(&ctx, who);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    dkd::v1::ContainerLogsRequest req;
    req.set_id(ref);
    req.set_follow(follow);
    auto reader = stub->ContainerLogs(&ctx, req);
    dkd::v1::LogEntry e;
    while (reader->Read(&e)) {
    }
    return reader->Finish().error_code();
  };
  for (const std::string& ref : {id, id.substr(0, 12), created.name(), "/" + created.name()}) {
    for (bool follow : {false, true}) {
      EXPECT_EQ(logs("bob", ref, follow), StatusCode::NOT_FOUND) << ref << " follow=" << follow;
    }
  }
  EXPECT_EQ(logs("alice", created.name(), false), StatusCode::OK);
  EXPECT_EQ(logs("boss", id, false), StatusCode::OK);
  // A container nobody owns (made on the engine directly) is hidden as well.
  const std::string unowned =
      Docker({"create", "--label", absl::StrCat("dkd.test.unowned=", getpid()), base, "true"});
  ASSERT_FALSE(unowned.empty());
  EXPECT_EQ(logs("bob", unowned, false), StatusCode::NOT_FOUND);
  EXPECT_EQ(logs("boss", unowned, false), StatusCode::OK);
  RunCommand({"docker", "-H", TestEngineHost(), "rm", "-f", unowned});
  // Events: the past minute replayed; bob sees none of alice's container's,
  // even when he asks for it by id.
  auto events_of = [&](const std::string& who, std::vector<std::string> filters) {
    grpc::ClientContext ctx;
    as(&ctx, who);
    dkd::v1::StreamEventsRequest req;
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    req.set_since(now - 60);
    req.set_until(now + 1);
    for (auto& f : filters) req.add_filters(f);
    auto reader = stub->StreamEvents(&ctx, req);
    int seen = 0;
    dkd::v1::EngineEvent e;
    while (reader->Read(&e)) seen += e.actor_id() == id;
    EXPECT_TRUE(reader->Finish().ok()) << who;
    return seen;
  };
  EXPECT_GT(events_of("alice", {}), 0);
  EXPECT_EQ(events_of("bob", {}), 0);
  EXPECT_EQ(events_of("bob", {"container=" + id}), 0);
  EXPECT_EQ(events_of("bob", {"label=dkd.owner=alice"}), 0);
  EXPECT_GT(events_of("boss", {"container=" + id}), 0);
  {
    grpc::ClientContext ctx;
    as(&ctx, "bob");
    dkd::v1::StopContainerRequest req;
    req.set_id(id);
    dkd::v1::StopContainerResponse resp;
    EXPECT_EQ(stub->StopContainer(&ctx, req, &resp).error_code(), StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    as(&ctx, "bob");
    dkd::v1::RemoveContainerRequest req;
    req.set_id(id);
    req.set_force(true);
    dkd::v1::RemoveContainerResponse resp;
    EXPECT_EQ(stub->RemoveContainer(&ctx, req, &resp).error_code(), StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    as(&ctx, "alice");
    dkd::v1::RemoveContainerRequest req;
    req.set_id(id);
    req.set_force(true);
    dkd::v1::RemoveContainerResponse resp;
    grpc::Status s = stub->RemoveContainer(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  RunCommand({"docker", "-H", TestEngineHost(), "rm", "-f", id});
}

}  // namespace
}  // namespace dkd::testing
