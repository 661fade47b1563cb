// BuildLeftovers against a local test engine holding containers: step
// containers of builds the engine died under are removed; containers that
// build output merely names are not.
#include "core/docker/build_leftovers.h"

#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/engine/engine_client.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/unit/fake_engine.h"

namespace dkd::core {
namespace {

using testing::FakeEngine;
using testing::FakeResponse;
using testing::Json;

TEST(StepContainerLineTest, ParsesTheClassicBuilderLinesOnly) {
  EXPECT_EQ(StepContainerStarted(" ---> Running in 3f2a9c1b7d4e\n"), "3f2a9c1b7d4e");
  EXPECT_EQ(StepContainerStarted(" ---> Running in 3F2A9C1B7D4E"), "");  // Not the engine's case.
  EXPECT_EQ(StepContainerStarted(" ---> Running in 3f2a9c"), "");        // Too short.
  EXPECT_EQ(StepContainerStarted(" ---> Running in 3f2a9c1b7d4e; rm -rf"), "");
  EXPECT_EQ(StepContainerStarted(" ---> Running in ../../3f2a9c1b7d4e"), "");
  EXPECT_EQ(StepContainerStarted("Step 2/3 : RUN sleep 60"), "");
  EXPECT_EQ(StepContainerRemoved(" ---> Removed intermediate container 3f2a9c1b7d4e"),
            "3f2a9c1b7d4e");
  EXPECT_EQ(StepContainerRemoved("Removing intermediate container 3f2a9c1b7d4e"), "3f2a9c1b7d4e");
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

// A fake engine holding containers by id; records DELETEs.
struct ContainerTable {
  std::mutex mu;
  std::map<std::string, nlohmann::json> containers;
  std::vector<std::string> deleted;
  FakeResponse Handle(const std::string& method, const std::string& target) {
    std::lock_guard<std::mutex> lock(mu);
    const std::string prefix = "/v1.41/containers/";
    if (target.rfind(prefix, 0) != 0) return FakeResponse{404, "{\"message\":\"no\"}"};
    std::string rest = target.substr(prefix.size());
    std::string id = rest.substr(0, rest.find_first_of("/?"));
    for (const auto& [full, j] : containers) {
      if (full.rfind(id, 0) == 0) {
        if (method == "DELETE") {
          deleted.push_back(full);
          containers.erase(full);
          FakeResponse r;
          r.status = 204;
          return r;
        }
        return Json(j.dump());
      }
    }
    return FakeResponse{404, "{\"message\":\"No such container\"}"};
  }
};

nlohmann::json StepContainer(const std::string& id, absl::Time created, bool running,
                             const std::string& image) {
  return {{"Id", id},
          {"Created", Rfc3339(created)},
          {"State", {{"Running", running}, {"Status", running ? "running" : "exited"}}},
          {"Config", {{"Image", image}}}};
}

std::string Hex64(char c) { return std::string(64, c); }

TEST(BuildLeftoversTest, RemovesTheStepContainerOfABuildTheEngineDiedUnder) {
  ContainerTable table;
  FakeEngine fake([&](const std::string& m, const std::string& t) { return table.Handle(m, t); });
  auto engine = std::make_shared<EngineClient>(fake.address(), absl::Seconds(5));
  BuildLeftovers leftovers(engine, "");
  auto build = leftovers.Begin();
  const std::string id = Hex64('a');
  table.containers[id] = StepContainer(id, absl::Now(), false, "sha256:" + Hex64('1'));
  build->Observe("Step 2/3 : RUN sleep 600\n");
  build->Observe(" ---> Running in " + id.substr(0, 12) + "\n");
  EXPECT_FALSE(leftovers.HasPending());  // Still running: never touched.
  build->End(absl::UnavailableError("connection to the Docker Engine failed: Read"));
  ASSERT_EQ(leftovers.Pending(), std::vector<std::string>{id.substr(0, 12)});
  EXPECT_EQ(leftovers.Sweep(), 1);
  EXPECT_EQ(table.deleted, std::vector<std::string>{id});
  EXPECT_FALSE(leftovers.HasPending());
}

TEST(BuildLeftoversTest, ForgetsStepContainersOfBuildsThatEndedWithTheEngineAlive) {
  ContainerTable table;
  FakeEngine fake([&](const std::string& m, const std::string& t) { return table.Handle(m, t); });
  auto engine = std::make_shared<EngineClient>(fake.address(), absl::Seconds(5));
  BuildLeftovers leftovers(engine, "");
  for (absl::Status end : {absl::OkStatus(), absl::CancelledError("caller went away"),
                           absl::FailedPreconditionError("build failed at step 2/3")}) {
    auto build = leftovers.Begin();
    build->Observe(" ---> Running in " + Hex64('b').substr(0, 12) + "\n");
    build->End(end);
    EXPECT_FALSE(leftovers.HasPending()) << end;
  }
  auto removed = leftovers.Begin();
  removed->Observe(" ---> Running in " + Hex64('c').substr(0, 12));
  removed->Observe(" ---> Removed intermediate container " + Hex64('c').substr(0, 12));
  removed->End(absl::UnavailableError("engine died"));
  EXPECT_FALSE(leftovers.HasPending());
}

TEST(BuildLeftoversTest, BuildOutputNamingAnotherContainerCannotGetItRemoved) {
  ContainerTable table;
  FakeEngine fake([&](const std::string& m, const std::string& t) { return table.Handle(m, t); });
  auto engine = std::make_shared<EngineClient>(fake.address(), absl::Seconds(5));
  BuildLeftovers leftovers(engine, "");
  // Victims: one made before the build, one run from an image name (not a
  // step's image id), one still running. A RUN step prints their ids.
  const std::string older = Hex64('d'), named = Hex64('e'), running = Hex64('f');
  table.containers[older] =
      StepContainer(older, absl::Now() - absl::Minutes(5), false, "sha256:" + Hex64('1'));
  auto build = leftovers.Begin();
  table.containers[named] = StepContainer(named, absl::Now(), false, "busybox:latest");
  table.containers[running] = StepContainer(running, absl::Now(), true, "sha256:" + Hex64('1'));
  build->Observe(" ---> Running in " + Hex64('9').substr(0, 12) + "\n");
  for (const auto& victim : {older, named, running}) {
    build->Observe("Step 3/3 : RUN x\n ---> Running in " + victim.substr(0, 12) + "\n");
  }
  build->End(absl::UnavailableError("engine died"));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(leftovers.Sweep(), 0);
  EXPECT_TRUE(table.deleted.empty());
  EXPECT_EQ(table.containers.size(), 3u);
  EXPECT_FALSE(leftovers.HasPending());  // Running ones are given up after a few sweeps.
}

TEST(BuildLeftoversTest, IdsPersistedByAnEarlierProcessAreRemovedAfterARestart) {
  ContainerTable table;
  FakeEngine fake([&](const std::string& m, const std::string& t) { return table.Handle(m, t); });
  auto engine = std::make_shared<EngineClient>(fake.address(), absl::Seconds(5));
  char tmpl[] = "/tmp/dkdbl.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string file = dir + "/build-steps.json";
  const std::string id = Hex64('7');
  {
    // dkd dies with the engine mid-build: End() never runs.
    BuildLeftovers first(engine, file);
    auto build = first.Begin();
    table.containers[id] = StepContainer(id, absl::Now(), false, "sha256:" + Hex64('2'));
    build->Observe(" ---> Running in " + id.substr(0, 12) + "\n");
    build.release();  // NOLINT: simulates the process dying with the build open.
  }
  BuildLeftovers second(engine, file);
  ASSERT_TRUE(second.Load().ok());
  ASSERT_TRUE(second.HasPending());
  EXPECT_EQ(second.Sweep(), 1);
  EXPECT_EQ(table.deleted, std::vector<std::string>{id});
  BuildLeftovers third(engine, file);
  ASSERT_TRUE(third.Load().ok());
  EXPECT_FALSE(third.HasPending());
  unlink(file.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace dkd::core
