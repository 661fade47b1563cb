// Attacks on the run policy through a real dkd and engine: bind sources
// redirected by a symbolic-link swap (across a restart, across containers and
// under concurrent runs), the host network reached through the networks list
// or a network id prefix, and ephemeral published ports outside the allowed
// range. Each attack is followed by an allowed neighbour that still works.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "tests/integration/security_helpers.h"

namespace dkd::testing {
namespace {

using dkd::v1::DockerManager;
using grpc::StatusCode;

class RunAttackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = new std::string(FixtureEnv("DKD_TEST_BASE_IMAGE"));
    ASSERT_FALSE(base_->empty()) << "fixtures not up: run scripts/fixtures.sh up";
    root_ = new std::string(MakeTempDir());
    for (const char* d : {"alice/a", "bob", "carol/a", "dave/a", "erin/a", "race/a"}) {
      RunCommand({"mkdir", "-p", *root_ + "/" + d});
    }
    auto d = StartDaemon({"",
                          {},
                          absl::StrCat(R"({"run":{"bind_roots":[")", *root_, R"("],)",
                                       R"("published_ports":"20000-20999"}})")});
    ASSERT_TRUE(d.ok()) << d.status();
    dkd_ = d->release();
    stub_ = DockerManager::NewStub(PlainChannel(dkd_->unix_target())).release();
  }
  static void TearDownTestSuite() {
    delete stub_;
    delete dkd_;
    RunCommand({"rm", "-rf", *root_});
    delete root_;
    delete base_;
  }
  void SetUp() override { ASSERT_NE(stub_, nullptr) << "dkd did not start"; }
  void TearDown() override {
    for (const std::string& id : created_) Docker({"rm", "-f", "-v", id});
  }

  static dkd::v1::RunContainerRequest Request(const std::vector<std::string>& command) {
    dkd::v1::RunContainerRequest r;
    r.mutable_config()->set_image_name(base_->substr(0, base_->rfind(':')));
    r.mutable_config()->set_tag(base_->substr(base_->rfind(':') + 1));
    for (const auto& c : command) r.add_command(c);
    r.set_detach(true);
    r.set_pull_policy(dkd::v1::RunContainerRequest::NEVER);
    return r;
  }
  // Runs detached; the container (if any) is removed after the test.
  grpc::Status Run(const dkd::v1::RunContainerRequest& r, std::string* id = nullptr) {
    grpc::ClientContext ctx;
    dkd::v1::RunContainerResponse resp;
    grpc::Status s = stub_->RunContainer(&ctx, r, &resp);
    if (s.ok()) {
      created_.push_back(resp.id());
      if (id != nullptr) *id = resp.id();
    }
    return s;
  }
  static void Bind(dkd::v1::RunContainerRequest* r, const std::string& sub,
                   const std::string& target) {
    (*r->mutable_config()->mutable_volumes())[*root_ + "/" + sub] = target;
  }

  std::vector<std::string> created_;
  static std::string* base_;
  static std::string* root_;
  static DaemonProcess* dkd_;
  static DockerManager::Stub* stub_;
};
std::string* RunAttackTest::base_ = nullptr;
std::string* RunAttackTest::root_ = nullptr;
DaemonProcess* RunAttackTest::dkd_ = nullptr;
DockerManager::Stub* RunAttackTest::stub_ = nullptr;

// The attack of the issue: /data is ROOT/alice, /a is ROOT/alice/a. The first
// start swaps /data/a for a symbolic link to "/" and fails; the restart policy
// starts it again and the engine, resolving ROOT/alice/a afresh, mounts the
// host's root filesystem at /a.
TEST_F(RunAttackTest, SymlinkSwapAcrossARestartCannotMountHostRoot) {
  auto r = Request({"sh", "-c",
                    "if [ -S /a/run/docker.sock ]; then echo HOSTROOT; "
                    "sleep 30; fi; rm -rf /data/a && ln -s / /data/a; exit 1"});
  Bind(&r, "alice", "/data");
  Bind(&r, "alice/a", "/a");
  r.mutable_config()->set_restart_policy("on-failure:1");
  std::string id;
  grpc::Status s = Run(r, &id);
  if (s.ok()) {
    // Without the rule the container now holds the host's root at /a.
    for (int i = 0; i < 100 && Docker({"logs", id}).find("HOSTROOT") == std::string::npos; ++i) {
      usleep(100 * 1000);
    }
    FAIL() << "the nested bind layout was accepted; container logs: " << Docker({"logs", id});
  }
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("alice/a"), std::string::npos) << s.error_message();
  EXPECT_TRUE(std::string(Docker({"ps", "-aq", "--filter", "volume=" + *root_ + "/alice"})).empty())
      << "a refused run left a container";

  // Neighbour: the same two binds read-only cannot be swapped, and work.
  auto ok = Request({"true"});
  (*ok.mutable_config()->mutable_volumes())[*root_ + "/alice"] = "/data:ro";
  (*ok.mutable_config()->mutable_volumes())[*root_ + "/alice/a"] = "/a:ro";
  s = Run(ok);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// A second container that can write the parent directory could swap the
// source between dkd's check and the engine's create, or before any restart.
TEST_F(RunAttackTest, BindInsideAnotherContainersWritableBindIsRefused) {
  auto writer = Request({"sleep", "60"});
  Bind(&writer, "carol", "/data");
  ASSERT_TRUE(Run(writer).ok());

  auto victim = Request({"true"});
  Bind(&victim, "carol/a", "/a");
  grpc::Status s = Run(victim);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("container"), std::string::npos) << s.error_message();

  // A stopped writer can restart, so it still counts.
  Docker({"stop", "-t", "0", created_.back()});
  s = Run(victim);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();

  // Neighbours: a sibling directory, and the same directory as the writer.
  auto sibling = Request({"true"});
  Bind(&sibling, "bob", "/b");
  EXPECT_TRUE(Run(sibling).ok());
  auto same = Request({"true"});
  Bind(&same, "carol", "/c");
  EXPECT_TRUE(Run(same).ok());
}

// The other direction: a new writable bind above an existing container's
// bind source would let the new container redirect the old one's mount.
TEST_F(RunAttackTest, WritableBindAboveAnotherContainersBindIsRefused) {
  auto victim = Request({"sleep", "60"});
  Bind(&victim, "dave/a", "/a");
  ASSERT_TRUE(Run(victim).ok());
  auto writer = Request({"true"});
  Bind(&writer, "dave", "/data");
  grpc::Status s = Run(writer);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  // Read-only above is allowed: nothing can be swapped through it.
  auto reader = Request({"true"});
  (*reader.mutable_config()->mutable_volumes())[*root_ + "/dave"] = "/data:ro";
  EXPECT_TRUE(Run(reader).ok());
}

// Concurrent runs: each layout alone is fine, together they are the attack.
// At most one of each pair may be created.
TEST_F(RunAttackTest, ConcurrentRunsCannotBuildANestedLayoutTogether) {
  for (int round = 0; round < 5; ++round) {
    const std::string dir = absl::StrCat("race", round);
    RunCommand({"mkdir", "-p", *root_ + "/" + dir + "/a"});
    auto outer = Request({"sleep", "60"});
    Bind(&outer, dir, "/data");
    auto inner = Request({"sleep", "60"});
    Bind(&inner, dir + "/a", "/a");
    grpc::Status s1, s2;
    std::string id1, id2;
    std::thread t1([&] { s1 = Run(outer, &id1); });
    std::thread t2([&] { s2 = Run(inner, &id2); });
    t1.join();
    t2.join();
    EXPECT_FALSE(s1.ok() && s2.ok()) << "round " << round << ": both layouts were created";
    EXPECT_TRUE(s1.ok() || s2.ok())
        << "round " << round << ": " << s1.error_message() << " / " << s2.error_message();
  }
}

// The networks list is connected after create and used to skip the
// network_mode check; a network id prefix also reaches the host network.
TEST_F(RunAttackTest, HostNetworkCannotBeReachedByAnyName) {
  const std::string host_id = Docker({"network", "inspect", "-f", "{{.Id}}", "host"});
  ASSERT_EQ(host_id.size(), 64u) << host_id;
  const std::vector<std::string> spellings = {"host", host_id, host_id.substr(0, 12),
                                              host_id.substr(0, 5)};
  for (const std::string& name : spellings) {
    for (int where = 0; where < 3; ++where) {
      auto r = Request({"cat", "/proc/net/dev"});
      if (where == 0) r.mutable_config()->add_networks(name);
      if (where == 1) r.set_network_mode(name);
      if (where == 2) {
        r.mutable_config()->add_networks("bridge");
        r.mutable_config()->add_networks(name);
      }
      grpc::Status s = Run(r);
      EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED)
          << name << " (" << where << "): " << s.error_message();
    }
  }
  // Another container's namespace, by the networks list too.
  auto shared = Request({"true"});
  shared.mutable_config()->add_networks("container:" + host_id.substr(0, 12));
  EXPECT_EQ(Run(shared).error_code(), StatusCode::PERMISSION_DENIED);

  // Neighbour: a user-defined network, by name and by id prefix, is attached by its id.
  const std::string net = absl::StrCat("dkdsec-net-", getpid());
  const std::string net_id = Docker({"network", "create", net});
  ASSERT_EQ(net_id.size(), 64u) << net_id;
  for (const std::string& name : {net, net_id.substr(0, 10)}) {
    auto r = Request({"sleep", "30"});
    r.mutable_config()->add_networks(name);
    std::string id;
    grpc::Status s = Run(r, &id);
    ASSERT_TRUE(s.ok()) << name << ": " << s.error_message();
    EXPECT_NE(Docker({"inspect", "-f", "{{json .NetworkSettings.Networks}}", id}).find(net_id),
              std::string::npos);
    Docker({"rm", "-f", id});
  }
  created_.clear();
  Docker({"network", "rm", net});
}

// "80": "0.0.0.0:" used to leave the choice to the engine, which took an
// ephemeral port outside run.published_ports.
TEST_F(RunAttackTest, EphemeralPublishedPortsStayInTheAllowedRange) {
  auto r = Request({"sleep", "30"});
  (*r.mutable_config()->mutable_ports())["80/tcp"] = "0.0.0.0:";
  (*r.mutable_config()->mutable_ports())["81/tcp"] = "127.0.0.1:";
  (*r.mutable_config()->mutable_ports())["82/udp"] = "";
  std::string id;
  grpc::Status s = Run(r, &id);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string ports = Docker({"port", id});
  int seen = 0;
  for (absl::string_view line : absl::StrSplit(ports, '\n', absl::SkipEmpty())) {
    const size_t colon = line.rfind(':');
    ASSERT_NE(colon, absl::string_view::npos) << line;
    const int port = std::stoi(std::string(line.substr(colon + 1)));
    EXPECT_GE(port, 20000) << line;
    EXPECT_LE(port, 20999) << line;
    ++seen;
  }
  EXPECT_GE(seen, 3) << ports;
  // Neighbour: an explicit port in range is kept as given.
  auto explicit_port = Request({"sleep", "30"});
  (*explicit_port.mutable_config()->mutable_ports())["80/tcp"] = "127.0.0.1:20555";
  ASSERT_TRUE(Run(explicit_port, &id).ok());
  EXPECT_NE(Docker({"port", id}).find(":20555"), std::string::npos);
}

// dkd's own socket and local token give dkd's identity to whoever reads them;
// a bind root that contains them must not hand them to a container.
TEST(RunOwnFilesTest, DkdsOwnSocketAndTokenCannotBeMounted) {
  const std::string base = FixtureEnv("DKD_TEST_BASE_IMAGE");
  ASSERT_FALSE(base.empty());
  auto d = StartDaemon({"", {}, R"({"run":{"bind_roots":["/tmp"]}})"});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = DockerManager::NewStub(PlainChannel((*d)->unix_target()));
  auto run = [&](const std::string& source) {
    dkd::v1::RunContainerRequest r;
    r.mutable_config()->set_image_name(base.substr(0, base.rfind(':')));
    r.mutable_config()->set_tag(base.substr(base.rfind(':') + 1));
    r.add_command("true");
    r.set_auto_remove(true);
    r.set_pull_policy(dkd::v1::RunContainerRequest::NEVER);
    (*r.mutable_config()->mutable_volumes())[source] = "/r:ro";
    grpc::ClientContext ctx;
    dkd::v1::RunContainerResponse resp;
    return stub->RunContainer(&ctx, r, &resp);
  };
  const std::string dir = (*d)->dir();
  ASSERT_EQ(dir.rfind("/tmp/", 0), 0u) << dir;
  for (const std::string& source : {dir, dir + "/local-token", dir + "/dkd.sock"}) {
    grpc::Status s = run(source);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << source << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("may never be mounted"), std::string::npos)
        << s.error_message();
  }
  // Neighbour: another directory under the same root.
  const std::string other = MakeTempDir();
  grpc::Status s = run(other);
  EXPECT_TRUE(s.ok()) << s.error_message();
  RunCommand({"rm", "-rf", other});
}

}  // namespace
}  // namespace dkd::testing
