// DockerManager against the in-memory engine: validation before the engine,
// run/list/inspect/stop/remove and images, ownership, engine faults (down,
// HTTP 500, a stream that breaks) and push/pull progress.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "core/docker/docker_manager.h"
#include "gtest/gtest.h"
#include "tests/support/fake_docker_engine.h"

namespace dkd::core {
namespace {

using testing::FakeDockerEngine;

class DockerManagerFakeTest : public ::testing::Test {
 protected:
  DockerManagerFakeTest()
      : engine_(std::make_shared<FakeDockerEngine>()), manager_(engine_, RunPolicy{}) {
    ImageDetails busybox;
    busybox.repo_tags = {"busybox:latest"};
    busybox.size = 4000000;
    engine_->AddImage(busybox);
    engine_->ClearCalls();
  }

  RunRequest Detached(const std::string& name) {
    RunRequest r;
    r.config.image_name = "busybox";
    r.name = name;
    r.detach = true;
    return r;
  }

  std::shared_ptr<FakeDockerEngine> engine_;
  DockerManager manager_;
};

TEST_F(DockerManagerFakeTest, RunDetachedCreatesAndStartsANamedContainer) {
  auto run = manager_.Run(Detached("web"), nullptr);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->name, "web");
  EXPECT_EQ(run->status, "running");
  EXPECT_FALSE(run->pulled);
  auto c = engine_->FindContainer("web");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->id, run->id);
  EXPECT_TRUE(c->state->running);
}

TEST_F(DockerManagerFakeTest, RunAttachedReturnsExitCodeAndSeparatedOutput) {
  engine_->SetExitOnStart(
      "busybox", 3,
      {{LogFrame::Stream::kStdout, "hello\n"}, {LogFrame::Stream::kStderr, "oops\n"}});
  RunRequest r = Detached("job");
  r.detach = false;
  auto run = manager_.Run(r, nullptr);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_EQ(run->status, "exited");
  EXPECT_EQ(run->stdout_data, "hello\n");
  EXPECT_EQ(run->stderr_data, "oops\n");
}

TEST_F(DockerManagerFakeTest, RunPullsAMissingImageFromTheRegistry) {
  ImageDetails app;
  app.size = 1000;
  engine_->AddRegistryImage("registry.example:5000/app:2", app);
  RunRequest r = Detached("pulled");
  r.config.image_name = "registry.example:5000/app";
  r.config.tag = "2";
  auto run = manager_.Run(r, nullptr);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->pulled);
  EXPECT_TRUE(engine_->FindImage("registry.example:5000/app:2").has_value());
}

TEST_F(DockerManagerFakeTest, RunWithNeverPullPolicyIsNotFoundAndCreatesNothing) {
  RunRequest r = Detached("never");
  r.config.image_name = "absent";
  r.pull_policy = RunRequest::PullPolicy::kNever;
  auto run = manager_.Run(r, nullptr);
  EXPECT_EQ(run.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->CallCount("CreateContainer"), 0);
  EXPECT_EQ(engine_->CallCount("Pull"), 0);
  EXPECT_EQ(engine_->container_count(), 0u);
}

TEST_F(DockerManagerFakeTest, InvalidInputIsRejectedBeforeTheEngineSeesAnything) {
  RunRequest bad = Detached("x");
  bad.config.image_name = "Not A Reference!";
  EXPECT_EQ(manager_.Run(bad, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  RunRequest privileged = Detached("priv");
  privileged.privileged = true;
  auto refused = manager_.Run(privileged, nullptr);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_EQ(manager_.Stop("bad id!", std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_.Remove("", false, false).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_.InspectContainer("a b").status().code(), absl::StatusCode::kInvalidArgument);
  ListContainersRequest list;
  list.status_filters = {"sleeping"};
  EXPECT_EQ(manager_.ListContainers(list).status().code(), absl::StatusCode::kInvalidArgument);
  LogsRequest logs;
  logs.id = "web";
  logs.tail = -1;
  EXPECT_EQ(manager_
                .Logs(
                    logs, [](const LogChunk&) { return true; }, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_.Wait("web", "whenever", nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_.InspectImage("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      manager_.Push("app@sha256:" + std::string(64, 'a'), {}, nullptr, nullptr).status().code(),
      absl::StatusCode::kInvalidArgument);
  EventsRequest events;
  events.filters = {"type"};
  EXPECT_EQ(manager_
                .Events(
                    events, [](const EngineEvent&) { return true; }, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(engine_->calls().empty()) << engine_->calls().front();
}

TEST_F(DockerManagerFakeTest, ListContainersFiltersByLabelAndState) {
  FakeDockerEngine::ContainerSetup a;
  a.name = "a";
  a.labels = {{"team", "x"}};
  engine_->AddContainer(a);
  FakeDockerEngine::ContainerSetup b;
  b.name = "b";
  b.running = false;
  engine_->AddContainer(b);
  ListContainersRequest r;
  r.label_filters = {"team=x"};
  auto team = manager_.ListContainers(r);
  ASSERT_TRUE(team.ok()) << team.status();
  ASSERT_EQ(team->size(), 1u);
  EXPECT_EQ((*team)[0].name, "a");
  EXPECT_EQ((*team)[0].labels.at("team"), "x");
  auto running = manager_.ListContainers({});
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->size(), 1u);
  ListContainersRequest all;
  all.show_all = true;
  EXPECT_EQ(manager_.ListContainers(all)->size(), 2u);
}

TEST_F(DockerManagerFakeTest, InspectResolvesNamesAndMissingIsNotFoundWithTheEngineMessage) {
  FakeDockerEngine::ContainerSetup s;
  s.name = "db";
  s.labels = {{"tier", "data"}};
  const std::string id = engine_->AddContainer(s);
  auto by_name = manager_.InspectContainer("db");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->id, id);
  EXPECT_EQ(manager_.InspectContainer(id.substr(0, 12))->name, "db");
  auto missing = manager_.InspectContainer("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "No such container: nope");
}

TEST_F(DockerManagerFakeTest, StopReportsAlreadyStoppedAndRemoveNeedsForceWhileRunning) {
  auto run = manager_.Run(Detached("svc"), nullptr);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(manager_.Remove("svc", false, false).code(), absl::StatusCode::kFailedPrecondition);
  auto first = manager_.Stop("svc", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(*first);
  EXPECT_TRUE(*manager_.Stop("svc", 1));
  EXPECT_TRUE(manager_.Remove("svc", false, true).ok());
  EXPECT_FALSE(engine_->FindContainer("svc").has_value());
  EXPECT_EQ(manager_.Remove("svc", false, false).code(), absl::StatusCode::kNotFound);
}

TEST_F(DockerManagerFakeTest, ImagesAreListedInspectedAndRemoved) {
  ImageDetails app;
  app.repo_tags = {"app:1", "app:latest"};
  app.labels = {{"team", "x"}};
  app.size = 1234;
  const std::string id = engine_->AddImage(app);
  ListImagesRequest r;
  r.label_filters = {"team"};
  auto list = manager_.ListImages(r);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, id);
  EXPECT_EQ((*list)[0].size, 1234);
  auto inspected = manager_.InspectImage("app:1");
  ASSERT_TRUE(inspected.ok()) << inspected.status();
  EXPECT_EQ(inspected->id, id);
  auto untag = manager_.RemoveImage("app:1", false, false);
  ASSERT_TRUE(untag.ok()) << untag.status();
  EXPECT_EQ(untag->untagged, std::vector<std::string>{"app:1"});
  EXPECT_TRUE(untag->deleted.empty());
  auto removed = manager_.RemoveImage("app", false, false);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->deleted, std::vector<std::string>{id});
  EXPECT_EQ(manager_.InspectImage("app:1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DockerManagerFakeTest, EngineDownIsUnavailableAndTheNextCallRecovers) {
  engine_->FailNextCalls(1);
  auto down = manager_.ListContainers({});
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(manager_.ListContainers({}).ok());
  engine_->SetDown(true);
  EXPECT_EQ(manager_.Ping().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_.Run(Detached("while-down"), nullptr).status().code(),
            absl::StatusCode::kUnavailable);
  engine_->SetDown(false);
  EXPECT_TRUE(manager_.Ping().ok());
  EXPECT_TRUE(manager_.Run(Detached("after"), nullptr).ok());
}

TEST_F(DockerManagerFakeTest, EngineHttp500IsInternalCarryingTheEngineMessage) {
  engine_->FailOperation("InspectImage", 500, "layer store is corrupt", 1);
  auto s = manager_.InspectImage("busybox");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.status().message().find("layer store is corrupt"), absl::string_view::npos);
  EXPECT_TRUE(manager_.InspectImage("busybox").ok());
}

TEST_F(DockerManagerFakeTest, FailedStartRemovesTheCreatedContainer) {
  engine_->FailOperation("StartContainer", 500, "cannot start: OCI runtime failed", 1);
  auto run = manager_.Run(Detached("broken"), nullptr);
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(run.status().message().find("OCI runtime failed"), absl::string_view::npos);
  EXPECT_EQ(engine_->CallCount("RemoveContainer"), 1);
  EXPECT_EQ(engine_->container_count(), 0u);
}

TEST_F(DockerManagerFakeTest, LogsStreamBrokenMidwayEndsWithAnErrorNotAHang) {
  FakeDockerEngine::ContainerSetup s;
  s.name = "chatty";
  s.output = {{LogFrame::Stream::kStdout, "one\n"},
              {LogFrame::Stream::kStdout, "two\n"},
              {LogFrame::Stream::kStdout, "three\n"}};
  engine_->AddContainer(s);
  engine_->BreakStreamAfter("ContainerLogs", 1);
  std::vector<std::string> got;
  LogsRequest r;
  r.id = "chatty";
  r.follow = true;
  absl::Status st = manager_.Logs(
      r,
      [&](const LogChunk& c) {
        got.push_back(c.data);
        return true;
      },
      nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(got, std::vector<std::string>{"one\n"});

  absl::Notification ended;
  absl::Status async_end;
  auto call = manager_.LogsAsync(
      r, Owner{}, [](LogChunk) { return true; },
      [&](absl::Status end) {
        async_end = end;
        ended.Notify();
      });
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(async_end.code(), absl::StatusCode::kUnavailable);
}

TEST_F(DockerManagerFakeTest, LogsSplitTimestampsAndTtyLines) {
  FakeDockerEngine::ContainerSetup s;
  s.name = "tty";
  s.tty = true;
  s.output = {{LogFrame::Stream::kStdout, "a\nb"}, {LogFrame::Stream::kStdout, "c\n"}};
  engine_->AddContainer(s);
  std::vector<std::string> lines;
  LogsRequest r;
  r.id = "tty";
  ASSERT_TRUE(manager_
                  .Logs(
                      r,
                      [&](const LogChunk& c) {
                        EXPECT_EQ(c.stream, LogChunk::Stream::kConsole);
                        lines.push_back(c.data);
                        return true;
                      },
                      nullptr)
                  .ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"a\n", "bc\n"}));
}

TEST_F(DockerManagerFakeTest, AsyncLogsOfAnotherOwnersContainerAreNotFound) {
  FakeDockerEngine::ContainerSetup s;
  s.name = "bobs";
  s.labels = {{kOwnerLabel, "bob"}};
  engine_->AddContainer(s);
  absl::Notification ended;
  absl::Status end;
  LogsRequest r;
  r.id = "bobs";
  auto call = manager_.LogsAsync(
      r, Owner{"alice", true}, [](LogChunk) { return true; },
      [&](absl::Status s2) {
        end = s2;
        ended.Notify();
      });
  ASSERT_TRUE(call.ok());
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(end.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->CallCount("ContainerLogs"), 0);
}

TEST_F(DockerManagerFakeTest, PullRefusesToRepointATagAnotherIdentityBuilt) {
  ImageDetails bobs;
  bobs.repo_tags = {"shared:1"};
  bobs.labels = {{kOwnerLabel, "bob"}};
  engine_->AddImage(bobs);
  engine_->AddRegistryImage("shared:1", ImageDetails{});
  auto pull = manager_.Pull("shared:1", {}, "", nullptr, nullptr, Owner{"alice", true});
  EXPECT_EQ(pull.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(engine_->CallCount("Pull"), 0);
  EXPECT_TRUE(manager_.Pull("shared:1", {}, "", nullptr, nullptr, Owner{"bob", true}).ok());
}

TEST_F(DockerManagerFakeTest, RunCreatesTheOwnersVolumeAndRefusesAnotherOwnersVolume) {
  RunRequest r = Detached("withvol");
  r.owner = Owner{"alice", true};
  r.config.volumes = {{"data", "/data"}};
  auto run = manager_.Run(r, nullptr);
  ASSERT_TRUE(run.ok()) << run.status();
  auto volume = engine_->FindVolume("data");
  ASSERT_TRUE(volume.has_value());
  EXPECT_EQ(volume->labels, (std::map<std::string, std::string>{{kOwnerLabel, "alice"}}));

  RunRequest other = Detached("bobvol");
  other.owner = Owner{"bob", true};
  other.config.volumes = {{"data", "/data"}};
  EXPECT_EQ(manager_.Run(other, nullptr).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(engine_->FindContainer("bobvol").has_value());
}

TEST_F(DockerManagerFakeTest, PushReportsProgressAndTheDigest) {
  ImageDetails app;
  app.repo_tags = {"registry.example:5000/app:1"};
  engine_->AddImage(app);
  std::vector<Progress> progress;
  auto last = manager_.Push(
      "registry.example:5000/app:1", {},
      [&](const Progress& p) {
        progress.push_back(p);
        return true;
      },
      nullptr);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->digest.rfind("sha256:", 0), 0u);
  EXPECT_EQ(last->tag, "1");
  ASSERT_GE(progress.size(), 3u);
  EXPECT_EQ(progress[1].status, "Pushing");
  EXPECT_EQ(progress[1].current, 512);
  EXPECT_EQ(progress[1].total, 1024);
  auto missing = manager_.Push("registry.example:5000/absent:1", {}, nullptr, nullptr);
  EXPECT_FALSE(missing.ok());
}

TEST_F(DockerManagerFakeTest, PullReportsProgressAndAMissingImageIsNotFound) {
  engine_->AddRegistryImage("base:3", ImageDetails{});
  std::vector<std::string> statuses;
  auto last = manager_.Pull(
      "base:3", {}, "",
      [&](const Progress& p) {
        statuses.push_back(p.status);
        return true;
      },
      nullptr);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->tag, "3");
  EXPECT_EQ(last->digest.rfind("sha256:", 0), 0u);
  EXPECT_NE(std::find(statuses.begin(), statuses.end(), "Downloading"), statuses.end());
  EXPECT_TRUE(engine_->FindImage("base:3").has_value());
  auto missing = manager_.Pull("nothing:9", {}, "", nullptr, nullptr);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DockerManagerFakeTest, AsyncPushDeliversProgressThenTheDigest) {
  ImageDetails app;
  app.repo_tags = {"app:7"};
  engine_->AddImage(app);
  absl::Notification ended;
  absl::StatusOr<Progress> end = absl::UnknownError("not ended");
  int seen = 0;
  auto call = manager_.PushAsync(
      "app:7", {},
      [&](const Progress&) {
        ++seen;
        return true;
      },
      [&](absl::StatusOr<Progress> last) {
        end = std::move(last);
        ended.Notify();
      });
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_FALSE(end->digest.empty());
  EXPECT_GE(seen, 3);
}

TEST_F(DockerManagerFakeTest, PullStreamBrokenMidwayIsAnErrorAndLeavesNoImage) {
  engine_->AddRegistryImage("flaky:1", ImageDetails{});
  engine_->BreakStreamAfter("Pull", 2);
  auto pull = manager_.Pull("flaky:1", {}, "", nullptr, nullptr);
  EXPECT_EQ(pull.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(engine_->FindImage("flaky:1").has_value());
}

TEST_F(DockerManagerFakeTest, AsyncEventsFollowUntilCancelled) {
  absl::Notification got, ended;
  EngineEvent first;
  absl::Status end;
  EventsRequest r;
  r.filters = {"type=container"};
  auto call = manager_.EventsAsync(
      r,
      [&](EngineEvent e) {
        if (!got.HasBeenNotified()) {
          first = e;
          got.Notify();
        }
        return true;
      },
      [&](absl::Status s) {
        end = s;
        ended.Notify();
      });
  ASSERT_TRUE(call.ok()) << call.status();
  // The follow starts at the engine's present: the run below comes after.
  ASSERT_TRUE(manager_.Run(Detached("evented"), nullptr).ok());
  ASSERT_TRUE(got.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(first.type, "container");
  EXPECT_EQ(first.action, "create");
  (*call)->Cancel();
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(end.code(), absl::StatusCode::kCancelled);
}

TEST_F(DockerManagerFakeTest, CancellingASlowFollowEndsItWithCancelled) {
  FakeDockerEngine::ContainerSetup s;
  s.name = "slow";
  s.output = {{LogFrame::Stream::kStdout, "1\n"}, {LogFrame::Stream::kStdout, "2\n"}};
  engine_->AddContainer(s);
  engine_->SetItemDelay(absl::Milliseconds(20));
  CancelToken cancel;
  int chunks = 0;
  LogsRequest r;
  r.id = "slow";
  r.follow = true;
  absl::Status end = manager_.Logs(
      r,
      [&](const LogChunk&) {
        if (++chunks == 2) cancel.Cancel();  // The follow would otherwise wait for more.
        return true;
      },
      &cancel);
  EXPECT_EQ(end.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(chunks, 2);
  EXPECT_EQ(engine_->open_streams(), 0);
}

TEST_F(DockerManagerFakeTest, AsyncLogsPauseUntilResumed) {
  FakeDockerEngine::ContainerSetup s;
  s.name = "paced";
  s.output = {{LogFrame::Stream::kStdout, "a\n"},
              {LogFrame::Stream::kStdout, "b\n"},
              {LogFrame::Stream::kStdout, "c\n"}};
  s.running = false;
  engine_->AddContainer(s);
  absl::Mutex mu;
  int seen = 0;
  absl::Notification first, ended;
  absl::Status end;
  LogsRequest r;
  r.id = "paced";
  auto call = manager_.LogsAsync(
      r, Owner{},
      [&](LogChunk) {
        absl::MutexLock lock(&mu);
        if (++seen == 1) {
          first.Notify();
          return false;  // Pause.
        }
        return true;
      },
      [&](absl::Status st) {
        end = st;
        ended.Notify();
      });
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_TRUE(first.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(ended.HasBeenNotified());
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(seen, 1);
  }
  (*call)->Resume();
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(end.ok()) << end;
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen, 3);
}

TEST_F(DockerManagerFakeTest, InfoAndPingComeFromTheEngine) {
  auto info = manager_.Info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->images, 1);
  auto ping = manager_.Ping();
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->engine.version, "24.0.0-fake");
}

TEST_F(DockerManagerFakeTest, OwnedContainerIsTheCheckedIdAndHidesAnothersContainer) {
  FakeDockerEngine::ContainerSetup mine;
  mine.name = "web";
  mine.labels = {{kOwnerLabel, "alice"}};
  const std::string mine_id = engine_->AddContainer(mine);
  FakeDockerEngine::ContainerSetup theirs;
  theirs.name = "db";
  theirs.labels = {{kOwnerLabel, "bob"}};
  engine_->AddContainer(theirs);
  FakeDockerEngine::ContainerSetup unlabelled;
  unlabelled.name = "old";
  engine_->AddContainer(unlabelled);
  const Owner alice{"alice", true};
  // By name or id: the full id of what was checked, for the act.
  EXPECT_EQ(manager_.OwnedContainer("web", alice).value(), mine_id);
  EXPECT_EQ(manager_.OwnedContainer(mine_id, alice).value(), mine_id);
  // Another identity's and an unlabelled container read as missing.
  for (const std::string& other : {std::string("db"), std::string("old")}) {
    auto refused = manager_.OwnedContainer(other, alice);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound) << other;
    EXPECT_EQ(refused.status().message(), "No such container: " + other);
  }
  EXPECT_EQ(manager_.OwnedContainer("nope", alice).status().code(), absl::StatusCode::kNotFound);
  // An empty identity owns nothing, even containers labelled with "".
  FakeDockerEngine::ContainerSetup blank;
  blank.name = "blank";
  blank.labels = {{kOwnerLabel, ""}};
  engine_->AddContainer(blank);
  EXPECT_EQ(manager_.OwnedContainer("blank", Owner{"", true}).status().code(),
            absl::StatusCode::kNotFound);
  // Unenforced (ownership off, or admin): the reference as given, no engine call.
  engine_->ClearCalls();
  EXPECT_EQ(manager_.OwnedContainer("db", Owner{"admin", false}).value(), "db");
  EXPECT_TRUE(engine_->calls().empty());
  // Bad references are refused before the engine.
  EXPECT_EQ(manager_.OwnedContainer("bad name!", alice).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dkd::core
