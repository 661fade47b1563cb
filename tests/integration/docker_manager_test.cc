// DockerManager through dkd against the real engine and the fixture
// registries. Every result is cross-checked with the engine's own view
// (`docker inspect`), never with dkd's answer alone.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/daemon_fixture.h"

namespace dkd::testing {
namespace {

using dkd::v1::DockerManager;

std::string Docker(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"docker", "-H", TestEngineHost()};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << ": " << r.err;
  return r.out;
}

nlohmann::json DockerInspect(const std::string& what) {
  auto j = nlohmann::json::parse(Docker({"inspect", what}), nullptr, false);
  if (j.is_array() && !j.empty()) return j[0];
  ADD_FAILURE() << "docker inspect " << what << " returned nothing";
  return nlohmann::json::object();
}

std::set<std::string> AllContainerIds() {
  CommandResult r = RunCommand({"docker", "-H", TestEngineHost(), "ps", "-aq", "--no-trunc"});
  std::set<std::string> out;
  for (absl::string_view l : absl::StrSplit(r.out, '\n', absl::SkipEmpty()))
    out.insert(std::string(l));
  return out;
}

// Ids of containers (any state) whose command line contains `marker`.
std::set<std::string> ContainersWithCommand(const std::string& marker) {
  CommandResult r = RunCommand({"docker", "-H", TestEngineHost(), "ps", "-a", "--no-trunc",
                                "--format", "{{.ID}} {{.Command}}"});
  std::set<std::string> out;
  for (absl::string_view l : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    if (l.find(marker) != absl::string_view::npos)
      out.insert(std::string(l.substr(0, l.find(' '))));
  }
  return out;
}

std::string TempDir() {
  char tmpl[] = "/tmp/dkdm.XXXXXX";
  return mkdtemp(tmpl);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

class DockerManagerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    bind_root_ = new std::string(TempDir());
    auto d =
        DaemonProcess::Start({"", {"--bind-root", *bind_root_, "--context-root", *bind_root_}});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = d->release();
    base_ = new std::string(FixtureEnv("DKD_TEST_BASE_IMAGE"));
    ASSERT_FALSE(base_->empty()) << "fixtures not up: run scripts/fixtures.sh up";
  }
  static void TearDownTestSuite() {
    delete daemon_;
    RunCommand({"rm", "-rf", *bind_root_});
    delete bind_root_;
    delete base_;
  }
  void TearDown() override {
    for (const auto& c : cleanup_containers_) {
      RunCommand({"docker", "-H", TestEngineHost(), "rm", "-f", "-v", c});
    }
    for (const auto& i : cleanup_images_) {
      RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", i});
    }
  }

  std::unique_ptr<DockerManager::Stub> Stub() {
    return DockerManager::NewStub(
        grpc::CreateChannel(daemon_->unix_target(), grpc::InsecureChannelCredentials()));
  }

  // A unique name for this test's objects.
  std::string Unique(const std::string& prefix) {
    return absl::StrCat(prefix, "-", getpid(), "-", counter_++);
  }

  grpc::Status Run(const dkd::v1::RunContainerRequest& req, dkd::v1::RunContainerResponse* resp) {
    grpc::ClientContext ctx;
    grpc::Status s = Stub()->RunContainer(&ctx, req, resp);
    if (s.ok()) cleanup_containers_.push_back(resp->id());
    return s;
  }

  // Builds `dockerfile` (plus files) through dkd's BuildImage with a streamed
  // context made by `tar`; returns the final status and collects events.
  std::vector<dkd::v1::BuildEvent> BuildMultiStage(const std::string& tag,
                                                   dkd::v1::BuildSpec::Builder builder,
                                                   dkd::v1::BuildSpec::Builder expected);
  grpc::Status Build(const std::string& tag, const std::string& dockerfile,
                     const std::map<std::string, std::string>& files,
                     std::vector<dkd::v1::BuildEvent>* events,
                     std::function<void(dkd::v1::BuildSpec*)> tweak = nullptr,
                     grpc::ClientContext* ctx_in = nullptr) {
    const std::string dir = TempDir();
    WriteFile(dir + "/Dockerfile", dockerfile);
    for (const auto& [name, content] : files) WriteFile(dir + "/" + name, content);
    CommandResult tar = RunCommand({"tar", "-C", dir, "-cf", "-", "."});
    RunCommand({"rm", "-rf", dir});
    grpc::ClientContext local;
    grpc::ClientContext* ctx = ctx_in ? ctx_in : &local;
    auto stub = Stub();
    auto stream = stub->BuildImage(ctx);
    dkd::v1::BuildImageRequest first;
    const size_t colon = tag.rfind(':');  // The tag follows the last ':' (not a port's).
    first.mutable_spec()->mutable_config()->set_image_name(tag.substr(0, colon));
    first.mutable_spec()->mutable_config()->set_tag(tag.substr(colon + 1));
    first.mutable_spec()->set_no_pull(true);
    if (tweak) tweak(first.mutable_spec());
    stream->Write(first);
    for (size_t off = 0; off < tar.out.size(); off += 4096) {
      dkd::v1::BuildImageRequest chunk;
      chunk.set_context_chunk(tar.out.substr(off, 4096));
      if (!stream->Write(chunk)) break;
    }
    stream->WritesDone();
    dkd::v1::BuildEvent e;
    while (stream->Read(&e)) events->push_back(e);
    cleanup_images_.push_back(tag);
    return stream->Finish();
  }

  static DaemonProcess* daemon_;
  static std::string* bind_root_;
  static std::string* base_;
  std::vector<std::string> cleanup_containers_;
  std::vector<std::string> cleanup_images_;
  int counter_ = 0;
};
DaemonProcess* DockerManagerTest::daemon_ = nullptr;
std::string* DockerManagerTest::bind_root_ = nullptr;
std::string* DockerManagerTest::base_ = nullptr;

TEST_F(DockerManagerTest, RunDetachedAppliesEveryOption) {
  const std::string net1 = Unique("dkdnet"), net2 = Unique("dkdnet"), vol = Unique("dkdvol");
  Docker({"network", "create", net1});
  Docker({"network", "create", net2});
  const std::string host_dir = *bind_root_ + "/data";
  RunCommand({"mkdir", "-p", host_dir});
  dkd::v1::RunContainerRequest req;
  auto* c = req.mutable_config();
  c->set_image_name(*base_);
  (*c->mutable_environment())["GREETING"] = "hello world";
  (*c->mutable_ports())["8080/tcp"] = "127.0.0.1:";
  (*c->mutable_ports())["53/udp"] = "";
  (*c->mutable_volumes())[vol] = "/vol";
  (*c->mutable_volumes())[host_dir] = "/data:ro";
  c->add_networks(net1);
  c->add_networks(net2);
  c->set_restart_policy("on-failure:2");
  (*c->mutable_labels())["dkd.test"] = "every-option";
  req.set_detach(true);
  req.set_name(Unique("dkd-run"));
  req.add_command("sleep");
  req.add_command("300");
  req.set_working_dir("/tmp");
  req.set_user("65534");
  req.set_memory_bytes(64 * 1024 * 1024);
  req.set_nano_cpus(500000000);
  dkd::v1::RunContainerResponse resp;
  grpc::Status s = Run(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.name(), req.name());
  EXPECT_EQ(resp.status(), "running");

  nlohmann::json j = DockerInspect(resp.id());
  EXPECT_TRUE(j["State"]["Running"].get<bool>());
  EXPECT_EQ(j["Name"], "/" + req.name());
  const auto env = j["Config"]["Env"];
  EXPECT_NE(std::find(env.begin(), env.end(), "GREETING=hello world"), env.end());
  EXPECT_EQ(j["Config"]["Labels"]["dkd.test"], "every-option");
  EXPECT_EQ(j["Config"]["WorkingDir"], "/tmp");
  EXPECT_EQ(j["Config"]["User"], "65534");
  EXPECT_EQ(j["Config"]["Cmd"], nlohmann::json({"sleep", "300"}));
  EXPECT_EQ(j["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
  EXPECT_EQ(j["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
  EXPECT_EQ(j["HostConfig"]["Memory"], 64 * 1024 * 1024);
  EXPECT_EQ(j["HostConfig"]["NanoCpus"], 500000000);
  EXPECT_EQ(j["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"], "127.0.0.1");
  EXPECT_TRUE(j["HostConfig"]["PortBindings"].contains("53/udp"));
  // Both networks: the first at create, the second connected before start.
  EXPECT_TRUE(j["NetworkSettings"]["Networks"].contains(net1));
  EXPECT_TRUE(j["NetworkSettings"]["Networks"].contains(net2));
  bool saw_volume = false, saw_bind = false;
  for (const auto& m : j["Mounts"]) {
    if (m["Type"] == "volume" && m["Name"] == vol && m["Destination"] == "/vol") saw_volume = true;
    if (m["Type"] == "bind" && m["Destination"] == "/data" && m["RW"] == false) saw_bind = true;
  }
  EXPECT_TRUE(saw_volume) << j["Mounts"].dump();
  EXPECT_TRUE(saw_bind) << j["Mounts"].dump();

  // InspectContainer agrees with the engine.
  grpc::ClientContext ctx;
  dkd::v1::InspectContainerRequest ireq;
  ireq.set_id(req.name());
  dkd::v1::ContainerDetails details;
  ASSERT_TRUE(Stub()->InspectContainer(&ctx, ireq, &details).ok());
  EXPECT_EQ(details.id(), resp.id());
  EXPECT_EQ(details.restart_policy(), "on-failure:2");
  EXPECT_EQ(details.networks_size(), 2);

  Docker({"rm", "-f", "-v", resp.id()});
  Docker({"volume", "rm", vol});
  Docker({"network", "rm", net1, net2});
}

TEST_F(DockerManagerTest, RunAttachedReturnsExitCodeAndSeparateStreams) {
  dkd::v1::RunContainerRequest req;
  req.mutable_config()->set_image_name(*base_);
  req.add_command("sh");
  req.add_command("-c");
  req.add_command("echo to-out; echo to-err >&2; exit 7");
  dkd::v1::RunContainerResponse resp;
  grpc::Status s = Run(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.exit_code(), 7);
  EXPECT_EQ(resp.stdout(), "to-out\n");
  EXPECT_EQ(resp.stderr(), "to-err\n");
  EXPECT_EQ(DockerInspect(resp.id())["State"]["ExitCode"], 7);
  // The default name is the spec's image_timestamp form.
  EXPECT_EQ(resp.name().rfind("busybox_", 0), 0u) << resp.name();
}

TEST_F(DockerManagerTest, AttachedRemoveLeavesNothingBehind) {
  dkd::v1::RunContainerRequest req;
  req.mutable_config()->set_image_name(*base_);
  req.set_auto_remove(true);
  req.add_command("echo");
  req.add_command("gone");
  dkd::v1::RunContainerResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(Stub()->RunContainer(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.stdout(), "gone\n");
  EXPECT_EQ(AllContainerIds().count(resp.id()), 0u);
}

struct BadRun {
  const char* name;
  std::function<void(dkd::v1::RunContainerRequest*)> mutate;
  grpc::StatusCode code;
  const char* field;
};

TEST_F(DockerManagerTest, RejectedRunsNameTheFieldAndCreateNothing) {
  const std::vector<BadRun> cases = {
      {"image", [](auto* r) { r->mutable_config()->set_image_name("app name"); },
       grpc::StatusCode::INVALID_ARGUMENT, "config.image_name"},
      {"empty image", [](auto* r) { r->mutable_config()->set_image_name(""); },
       grpc::StatusCode::INVALID_ARGUMENT, "config.image_name"},
      {"tag", [](auto* r) { r->mutable_config()->set_tag("bad tag"); },
       grpc::StatusCode::INVALID_ARGUMENT, "config.tag"},
      {"port key", [](auto* r) { (*r->mutable_config()->mutable_ports())["http"] = "80"; },
       grpc::StatusCode::INVALID_ARGUMENT, "config.ports"},
      {"port value", [](auto* r) { (*r->mutable_config()->mutable_ports())["80/tcp"] = "99999"; },
       grpc::StatusCode::INVALID_ARGUMENT, "config.ports"},
      {"volume target",
       [](auto* r) { (*r->mutable_config()->mutable_volumes())["myvol"] = "relative/path"; },
       grpc::StatusCode::INVALID_ARGUMENT, "config.volumes"},
      {"volume mode", [](auto* r) { (*r->mutable_config()->mutable_volumes())["v1"] = "/x:rx"; },
       grpc::StatusCode::INVALID_ARGUMENT, "config.volumes"},
      {"restart", [](auto* r) { r->mutable_config()->set_restart_policy("sometimes"); },
       grpc::StatusCode::INVALID_ARGUMENT, "config.restart_policy"},
      {"env key", [](auto* r) { (*r->mutable_config()->mutable_environment())["A=B"] = "x"; },
       grpc::StatusCode::INVALID_ARGUMENT, "config.environment"},
      {"label key", [](auto* r) { (*r->mutable_config()->mutable_labels())[""] = "x"; },
       grpc::StatusCode::INVALID_ARGUMENT, "config.labels"},
      {"network", [](auto* r) { r->mutable_config()->add_networks("bad net!"); },
       grpc::StatusCode::INVALID_ARGUMENT, "config.networks"},
      {"name", [](auto* r) { r->set_name("-bad"); }, grpc::StatusCode::INVALID_ARGUMENT, "name"},
      {"workdir", [](auto* r) { r->set_working_dir("relative"); },
       grpc::StatusCode::INVALID_ARGUMENT, "working_dir"},
      {"memory", [](auto* r) { r->set_memory_bytes(1024); }, grpc::StatusCode::INVALID_ARGUMENT,
       "memory_bytes"},
      {"privileged", [](auto* r) { r->set_privileged(true); }, grpc::StatusCode::PERMISSION_DENIED,
       "privileged"},
      {"host network", [](auto* r) { r->set_network_mode("host"); },
       grpc::StatusCode::PERMISSION_DENIED, "network_mode"},
      {"engine socket",
       [](auto* r) { (*r->mutable_config()->mutable_volumes())["/var/run/docker.sock"] = "/s"; },
       grpc::StatusCode::PERMISSION_DENIED, "config.volumes"},
      {"bind outside roots",
       [](auto* r) { (*r->mutable_config()->mutable_volumes())["/etc"] = "/e"; },
       grpc::StatusCode::PERMISSION_DENIED, "config.volumes"},
  };
  const std::string label = Unique("dkd.rejected");
  for (const auto& bad : cases) {
    dkd::v1::RunContainerRequest req;
    req.mutable_config()->set_image_name(*base_);
    (*req.mutable_config()->mutable_labels())[label] = "1";
    req.set_detach(true);
    req.add_command("true");
    bad.mutate(&req);
    dkd::v1::RunContainerResponse resp;
    grpc::Status s = Run(req, &resp);
    EXPECT_EQ(s.error_code(), bad.code) << bad.name << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(bad.field), std::string::npos)
        << bad.name << ": " << s.error_message();
  }
  EXPECT_EQ(Docker({"ps", "-aq", "--filter", "label=" + label}), "");
}

TEST_F(DockerManagerTest, MissingImageIsPulledOrNamedNotFound) {
  const std::string registry = FixtureEnv("DKD_TEST_REGISTRY");
  const std::string ref = absl::StrCat(registry, "/", Unique("pullme"), ":1");
  Docker({"tag", *base_, ref});
  Docker({"push", ref});
  Docker({"rmi", ref});
  cleanup_images_.push_back(ref);

  dkd::v1::RunContainerRequest req;
  req.mutable_config()->set_image_name(ref);
  req.set_pull_policy(dkd::v1::RunContainerRequest::NEVER);
  req.add_command("true");
  dkd::v1::RunContainerResponse resp;
  grpc::Status s = Run(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("not present locally"), std::string::npos) << s.error_message();

  req.set_pull_policy(dkd::v1::RunContainerRequest::MISSING);
  s = Run(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.pulled());
  EXPECT_EQ(resp.exit_code(), 0);
}

TEST_F(DockerManagerTest, ListUsesFiltersAndShowAll) {
  const std::string label = Unique("dkd.list");
  std::string running_id, exited_id;
  for (bool keep_running : {true, false}) {
    dkd::v1::RunContainerRequest req;
    req.mutable_config()->set_image_name(*base_);
    (*req.mutable_config()->mutable_labels())[label] = keep_running ? "up" : "down";
    req.set_detach(keep_running);
    req.add_command(keep_running ? "sleep" : "true");
    if (keep_running) req.add_command("300");
    dkd::v1::RunContainerResponse resp;
    ASSERT_TRUE(Run(req, &resp).ok());
    (keep_running ? running_id : exited_id) = resp.id();
  }
  auto list = [&](bool all, const std::string& filter) {
    grpc::ClientContext ctx;
    dkd::v1::ListContainersRequest req;
    req.set_show_all(all);
    req.add_label_filters(filter);
    dkd::v1::ListContainersResponse resp;
    EXPECT_TRUE(Stub()->ListContainers(&ctx, req, &resp).ok());
    std::set<std::string> ids;
    for (const auto& c : resp.containers()) {
      ids.insert(c.id());
      EXPECT_FALSE(c.name().empty());
      EXPECT_FALSE(c.state().empty());
      EXPECT_GT(c.created(), 0);
      EXPECT_TRUE(c.labels().count(label));
    }
    return ids;
  };
  EXPECT_EQ(list(false, label), std::set<std::string>({running_id}));
  EXPECT_EQ(list(true, label), std::set<std::string>({running_id, exited_id}));
  EXPECT_EQ(list(true, label + "=down"), std::set<std::string>({exited_id}));
}

TEST_F(DockerManagerTest, StopAndRemoveEdgeCases) {
  auto stub = Stub();
  {
    grpc::ClientContext ctx;
    dkd::v1::StopContainerRequest req;
    req.set_id("no-such-container-dkd");
    dkd::v1::StopContainerResponse resp;
    EXPECT_EQ(stub->StopContainer(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  dkd::v1::RunContainerRequest run;
  run.mutable_config()->set_image_name(*base_);
  run.set_detach(true);
  run.add_command("sleep");
  run.add_command("300");
  dkd::v1::RunContainerResponse started;
  ASSERT_TRUE(Run(run, &started).ok());
  {
    grpc::ClientContext ctx;
    dkd::v1::RemoveContainerRequest req;
    req.set_id(started.id());
    dkd::v1::RemoveContainerResponse resp;
    grpc::Status s = stub->RemoveContainer(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_NE(s.error_message().find("running"), std::string::npos) << s.error_message();
  }
  for (bool already : {false, true}) {
    grpc::ClientContext ctx;
    dkd::v1::StopContainerRequest req;
    req.set_id(started.id());
    req.mutable_timeout_seconds()->set_value(0);
    dkd::v1::StopContainerResponse resp;
    ASSERT_TRUE(stub->StopContainer(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.already_stopped(), already);
  }
  EXPECT_FALSE(DockerInspect(started.id())["State"]["Running"].get<bool>());
  {
    grpc::ClientContext ctx;
    dkd::v1::RemoveContainerRequest req;
    req.set_id(started.id());
    dkd::v1::RemoveContainerResponse resp;
    ASSERT_TRUE(stub->RemoveContainer(&ctx, req, &resp).ok());
  }
  EXPECT_EQ(AllContainerIds().count(started.id()), 0u);
}

TEST_F(DockerManagerTest, LogsFollowDeliversLinesLiveWithStreamsApart) {
  dkd::v1::RunContainerRequest run;
  run.mutable_config()->set_image_name(*base_);
  run.set_detach(true);
  run.add_command("sh");
  run.add_command("-c");
  run.add_command("for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done");
  dkd::v1::RunContainerResponse started;
  ASSERT_TRUE(Run(run, &started).ok());
  grpc::ClientContext ctx;
  dkd::v1::ContainerLogsRequest req;
  req.set_id(started.id());
  req.set_follow(true);
  req.set_timestamps(true);
  auto reader = Stub()->ContainerLogs(&ctx, req);
  std::string out, err;
  dkd::v1::LogEntry e;
  while (reader->Read(&e)) {
    EXPECT_FALSE(e.timestamp().empty());
    (e.stream() == dkd::v1::LogEntry::STDERR ? err : out) += e.data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(out, "out1\nout2\nout3\n");
  EXPECT_EQ(err, "err1\nerr2\nerr3\n");

  // tail counts lines of both streams together, as the engine does.
  grpc::ClientContext tail_ctx;
  req.set_follow(false);
  req.set_timestamps(false);
  req.mutable_tail()->set_value(2);
  auto tail = Stub()->ContainerLogs(&tail_ctx, req);
  std::string last_out, last_err;
  while (tail->Read(&e))
    (e.stream() == dkd::v1::LogEntry::STDERR ? last_err : last_out) += e.data();
  ASSERT_TRUE(tail->Finish().ok());
  EXPECT_EQ(last_out, "out3\n");
  EXPECT_EQ(last_err, "err3\n");
}

// Builds a two-stage Dockerfile with a build arg, a label and a target on
// `builder`, checks the image the engine has, and returns the build's events.
std::vector<dkd::v1::BuildEvent> DockerManagerTest::BuildMultiStage(
    const std::string& tag, dkd::v1::BuildSpec::Builder builder,
    dkd::v1::BuildSpec::Builder expected) {
  const std::string dockerfile =
      absl::StrCat("FROM ", *base_, " AS builder\n", "ARG MESSAGE=default\n",
                   "RUN echo \"$MESSAGE\" > /built.txt\n", "FROM ", *base_, " AS final\n",
                   "COPY --from=builder /built.txt /built.txt\n", "COPY hello.txt /hello.txt\n",
                   "CMD [\"cat\", \"/built.txt\"]\n");
  std::vector<dkd::v1::BuildEvent> events;
  grpc::Status s = Build(tag, dockerfile, {{"hello.txt", "hi\n"}}, &events, [builder](auto* spec) {
    (*spec->mutable_config()->mutable_build_args())["MESSAGE"] = "from-arg";
    (*spec->mutable_config()->mutable_labels())["dkd.built"] = "yes";
    spec->set_target("final");
    spec->set_builder(builder);
  });
  EXPECT_TRUE(s.ok()) << s.error_message();
  if (events.empty() || !events.back().has_result()) {
    ADD_FAILURE() << "no result event";
    return events;
  }
  const auto& result = events.back().result();
  EXPECT_EQ(result.builder(), expected);
  nlohmann::json j = DockerInspect(tag);
  EXPECT_EQ(j["Id"], result.image_id());
  EXPECT_EQ(j["Config"]["Labels"]["dkd.built"], "yes");
  EXPECT_GT(result.context_bytes(), 0);
  EXPECT_EQ(result.tags(0), tag);
  CommandResult run = RunCommand({"docker", "-H", TestEngineHost(), "run", "--rm", tag});
  EXPECT_EQ(run.out, "from-arg\n");
  return events;
}

TEST_F(DockerManagerTest, MultiStageBuildWithArgsAndTarget) {
  const std::vector<dkd::v1::BuildEvent> events =
      BuildMultiStage(Unique("dkd-build") + ":1", dkd::v1::BuildSpec::BUILDER_CLASSIC,
                      dkd::v1::BuildSpec::BUILDER_CLASSIC);
  std::vector<std::string> steps;
  for (const auto& e : events) {
    if (e.has_step()) {
      steps.push_back(
          absl::StrCat(e.step().number(), "/", e.step().total(), " ", e.step().instruction()));
    }
  }
  // Seven instructions, plus the LABEL step the engine adds for build labels.
  ASSERT_EQ(steps.size(), 8u) << absl::StrJoin(steps, "\n");
  EXPECT_EQ(steps[2], "3/8 RUN echo \"$MESSAGE\" > /built.txt");
  EXPECT_EQ(steps[7], "8/8 LABEL dkd.built=yes");
}

// The default builder on this engine is BuildKit: the same build, its
// stages as vertices.
TEST_F(DockerManagerTest, MultiStageBuildWithArgsAndTargetOnTheDefaultBuilder) {
  const std::vector<dkd::v1::BuildEvent> events =
      BuildMultiStage(Unique("dkd-build-bk") + ":1", dkd::v1::BuildSpec::BUILDER_AUTO,
                      dkd::v1::BuildSpec::BUILDER_BUILDKIT);
  std::set<std::string> vertices;
  for (const auto& e : events) {
    if (e.has_vertex()) vertices.insert(e.vertex().name());
    EXPECT_FALSE(e.has_step());
  }
  // BuildKit names a step with its build args expanded.
  EXPECT_TRUE(vertices.count("[builder 2/2] RUN echo \"from-arg\" > /built.txt"))
      << absl::StrJoin(vertices, "\n");
  EXPECT_TRUE(vertices.count("[final 3/3] COPY hello.txt /hello.txt"))
      << absl::StrJoin(vertices, "\n");
}

TEST_F(DockerManagerTest, FailingBuildNamesTheStepAfterItsLogs) {
  const std::string tag = Unique("dkd-fail") + ":1";
  std::vector<dkd::v1::BuildEvent> events;
  grpc::Status s = Build(
      tag,
      absl::StrCat("FROM ", *base_, "\nRUN echo before-failure\n",
                   "RUN echo about-to-fail && exit 3\n"),
      {}, &events, [](auto* spec) { spec->set_builder(dkd::v1::BuildSpec::BUILDER_CLASSIC); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("step 3/3"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("exit 3"), std::string::npos) << s.error_message();
  std::string log;
  for (const auto& e : events) {
    if (e.has_log()) log += e.log().text();
    EXPECT_FALSE(e.has_result());
  }
  EXPECT_NE(log.find("about-to-fail"), std::string::npos) << log;
}

TEST_F(DockerManagerTest, FailingBuildOnTheDefaultBuilderNamesTheStepInItsStatus) {
  const std::string tag = Unique("dkd-fail-bk") + ":1";
  std::vector<dkd::v1::BuildEvent> events;
  grpc::Status s = Build(tag,
                         absl::StrCat("FROM ", *base_, "\nRUN echo before-failure\n",
                                      "RUN echo about-to-fail && exit 3\n"),
                         {}, &events);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(),
              ::testing::StartsWith("build failed at [3/3] RUN echo about-to-fail && exit 3: "));
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("exit code: 3"));
  std::string log;
  for (const auto& e : events) {
    if (e.has_vertex_log()) log += e.vertex_log().data();
    EXPECT_FALSE(e.has_result());
  }
  EXPECT_NE(log.find("about-to-fail"), std::string::npos) << log;
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(events.back().has_failure());
  EXPECT_EQ(events.back().failure().step(), "[3/3] RUN echo about-to-fail && exit 3");
  EXPECT_EQ(events.back().failure().exit_code(), 3);
  EXPECT_EQ(events.back().failure().message(), s.error_message());
}

TEST_F(DockerManagerTest, CancelledBuildStopsOnTheEngine) {
  const std::string tag = Unique("dkd-cancel") + ":1";
  const std::string marker = Unique("cancel-marker");
  grpc::ClientContext ctx;
  std::vector<dkd::v1::BuildEvent> events;
  std::thread canceller([&] {
    // Cancel once the long step's container exists.
    for (int i = 0; i < 200; ++i) {
      if (!ContainersWithCommand(marker).empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ctx.TryCancel();
  });
  // The classic builder's step is an engine container (BuildKit's cancel is
  // buildkit_build_test's).
  grpc::Status s = Build(
      tag, absl::StrCat("FROM ", *base_, "\nRUN sleep 60 && echo ", marker, "\n"), {}, &events,
      [](auto* spec) { spec->set_builder(dkd::v1::BuildSpec::BUILDER_CLASSIC); }, &ctx);
  canceller.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED) << s.error_message();
  // The engine stops the step and removes the build's container within seconds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!ContainersWithCommand(marker).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(ContainersWithCommand(marker).empty());
  EXPECT_NE(RunCommand({"docker", "-H", TestEngineHost(), "image", "inspect", tag}).exit_code, 0);
}

TEST_F(DockerManagerTest, PushToProtectedRegistryWithGoodAndBadCredentials) {
  const std::string registry = FixtureEnv("DKD_TEST_AUTH_REGISTRY");
  const std::string user = FixtureEnv("DKD_TEST_AUTH_USER");
  const std::string password = FixtureEnv("DKD_TEST_AUTH_PASSWORD");
  const std::string ref = absl::StrCat(registry, "/", Unique("pushed"), ":v1");
  Docker({"tag", *base_, ref});
  cleanup_images_.push_back(ref);
  auto push = [&](const std::string& pw, std::vector<dkd::v1::ProgressEvent>* events) {
    grpc::ClientContext ctx;
    dkd::v1::PushImageRequest req;
    req.set_image(ref);
    req.mutable_auth()->set_username(user);
    req.mutable_auth()->set_password(pw);
    req.mutable_auth()->set_server_address(registry);
    auto reader = Stub()->PushImage(&ctx, req);
    dkd::v1::ProgressEvent e;
    while (reader->Read(&e)) events->push_back(e);
    return reader->Finish();
  };
  std::vector<dkd::v1::ProgressEvent> bad_events;
  const std::string wrong = "wrong-" + password;
  grpc::Status bad = push(wrong, &bad_events);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED) << bad.error_message();
  EXPECT_EQ(bad.error_message().find(wrong), std::string::npos);

  std::vector<dkd::v1::ProgressEvent> events;
  grpc::Status good = push(password, &events);
  ASSERT_TRUE(good.ok()) << good.error_message();
  std::string digest;
  for (const auto& e : events) {
    if (!e.digest().empty()) digest = e.digest();
  }
  ASSERT_EQ(digest.rfind("sha256:", 0), 0u) << digest;
  // The registry holds that manifest.
  CommandResult curl = RunCommand(
      {"curl", "-sf", "-u", user + ":" + password, "-H",
       "Accept: application/vnd.docker.distribution.manifest.v2+json", "-o", "/dev/null", "-w",
       "%{http_code}",
       absl::StrCat("http://", registry, "/v2/",
                    ref.substr(registry.size() + 1, ref.rfind(':') - registry.size() - 1),
                    "/manifests/", digest)});
  EXPECT_EQ(curl.out, "200");
  // Credentials never reach the log.
  EXPECT_EQ(daemon_->Log().find(password), std::string::npos);
}

TEST_F(DockerManagerTest, BuildThenPushInOneStreamAndPullItBack) {
  const std::string registry = FixtureEnv("DKD_TEST_REGISTRY");
  const std::string tag = absl::StrCat(registry, "/", Unique("built-pushed"), ":1");
  std::vector<dkd::v1::BuildEvent> events;
  grpc::Status s = Build(tag, absl::StrCat("FROM ", *base_, "\nRUN echo pushed > /p\n"), {},
                         &events, [](auto* spec) { spec->set_push(true); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  int push_events = 0;
  for (const auto& e : events) push_events += e.has_push_progress();
  EXPECT_GT(push_events, 0);
  ASSERT_TRUE(events.back().has_result());
  ASSERT_EQ(events.back().result().pushed_digests_size(), 1);
  const std::string digest = events.back().result().pushed_digests(0);
  EXPECT_EQ(digest.rfind("sha256:", 0), 0u);

  // Pull it back through dkd after removing it locally: progress, then the same digest.
  Docker({"rmi", tag});
  grpc::ClientContext ctx;
  dkd::v1::PullImageRequest req;
  req.set_image(tag);
  auto reader = Stub()->PullImage(&ctx, req);
  dkd::v1::ProgressEvent e;
  std::string pulled_digest;
  int progress = 0;
  while (reader->Read(&e)) {
    ++progress;
    if (!e.digest().empty()) pulled_digest = e.digest();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_GT(progress, 1);
  EXPECT_EQ(pulled_digest, digest);
  const auto repo_digests = DockerInspect(tag)["RepoDigests"];
  ASSERT_FALSE(repo_digests.empty());
  EXPECT_NE(repo_digests[0].get<std::string>().find(digest), std::string::npos);
}

TEST_F(DockerManagerTest, EventsStreamFiltersAndStaysOpen) {
  const std::string label = Unique("dkd.events");
  grpc::ClientContext ctx;
  dkd::v1::StreamEventsRequest req;
  req.add_filters("type=container");
  req.add_filters("label=" + label);
  auto reader = Stub()->StreamEvents(&ctx, req);
  std::thread runner([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    dkd::v1::RunContainerRequest run;
    run.mutable_config()->set_image_name(*base_);
    (*run.mutable_config()->mutable_labels())[label] = "1";
    run.add_command("true");
    dkd::v1::RunContainerResponse resp;
    EXPECT_TRUE(Run(run, &resp).ok());
  });
  std::set<std::string> actions;
  dkd::v1::EngineEvent e;
  while (reader->Read(&e)) {
    EXPECT_EQ(e.type(), "container");
    EXPECT_EQ(e.attributes().at(label), "1");
    actions.insert(e.action());
    if (actions.count("die")) break;
  }
  ctx.TryCancel();
  runner.join();
  EXPECT_TRUE(actions.count("create"));
  EXPECT_TRUE(actions.count("start"));
  EXPECT_TRUE(actions.count("die"));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(DockerManagerTest, ImagesListInspectAndRemove) {
  const std::string ref = Unique("dkd-img") + ":t";
  Docker({"tag", *base_, ref});
  auto stub = Stub();
  grpc::ClientContext lctx;
  dkd::v1::ListImagesRequest lreq;
  lreq.set_reference(ref);
  dkd::v1::ListImagesResponse list;
  ASSERT_TRUE(stub->ListImages(&lctx, lreq, &list).ok());
  ASSERT_EQ(list.images_size(), 1);
  EXPECT_EQ(list.images(0).id(), DockerInspect(ref)["Id"]);
  grpc::ClientContext ictx;
  dkd::v1::InspectImageRequest ireq;
  ireq.set_image(ref);
  dkd::v1::ImageDetails details;
  ASSERT_TRUE(stub->InspectImage(&ictx, ireq, &details).ok());
  EXPECT_FALSE(details.layers().empty());
  grpc::ClientContext rctx;
  dkd::v1::RemoveImageRequest rreq;
  rreq.set_image(ref);
  dkd::v1::RemoveImageResponse removed;
  ASSERT_TRUE(stub->RemoveImage(&rctx, rreq, &removed).ok());
  EXPECT_EQ(removed.untagged_size(), 1);
  grpc::ClientContext mctx;
  EXPECT_EQ(stub->InspectImage(&mctx, ireq, &details).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(DockerManagerRecoveryTest, UnavailableWhileEngineIsGoneThenWorksWithoutRestart) {
  const std::string dir = TempDir();
  const std::string sock = dir + "/engine.sock";
  auto d = DaemonProcess::Start({"unix://" + sock, {}});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = DockerManager::NewStub(
      grpc::CreateChannel((*d)->unix_target(), grpc::InsecureChannelCredentials()));
  auto list = [&] {
    grpc::ClientContext ctx;
    dkd::v1::ListContainersResponse resp;
    return stub->ListContainers(&ctx, dkd::v1::ListContainersRequest(), &resp);
  };
  EXPECT_EQ(list().error_code(), grpc::StatusCode::UNAVAILABLE);
  // The engine "comes back" at the configured address.
  std::string engine = TestEngineHost();
  ASSERT_EQ(engine.rfind("unix://", 0), 0u);
  ASSERT_EQ(symlink(engine.substr(7).c_str(), sock.c_str()), 0);
  grpc::Status s = list();
  EXPECT_TRUE(s.ok()) << s.error_message();
  RunCommand({"rm", "-rf", dir});
}

}  // namespace
}  // namespace dkd::testing
