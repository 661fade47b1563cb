// BuildLeftovers against the in-memory engine: a step container of a build
// the engine died under is removed once the engine answers, kept while the
// engine is down, and left alone when it is running or not a step container.
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "core/docker/build_leftovers.h"
#include "gtest/gtest.h"
#include "tests/support/fake_docker_engine.h"

namespace dkd::core {
namespace {

using testing::FakeDockerEngine;

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

class BuildLeftoversFakeTest : public ::testing::Test {
 protected:
  BuildLeftoversFakeTest()
      : engine_(std::make_shared<FakeDockerEngine>()), leftovers_(engine_, "") {}

  // A container created now, as a build step's would be.
  std::string StepContainer(bool running, const std::string& image) {
    FakeDockerEngine::ContainerSetup s;
    s.image = image;
    s.running = running;
    s.created = Rfc3339(absl::Now());
    return engine_->AddContainer(s);
  }

  // A build whose output names `id` and whose engine connection broke.
  void BuildDiedUnder(const std::string& id) {
    auto build = leftovers_.Begin();
    build->Observe(" ---> Running in " + id.substr(0, 12) + "\n");
    build->End(absl::UnavailableError("the engine went away"));
  }

  std::shared_ptr<FakeDockerEngine> engine_;
  BuildLeftovers leftovers_;
};

TEST_F(BuildLeftoversFakeTest, SweepRemovesTheStepContainerOfABuildTheEngineDiedUnder) {
  const std::string id = StepContainer(false, "sha256:" + std::string(64, 'b'));
  BuildDiedUnder(id);
  EXPECT_TRUE(leftovers_.HasPending());
  EXPECT_EQ(leftovers_.Sweep(), 1);
  EXPECT_FALSE(engine_->FindContainer(id).has_value());
  EXPECT_FALSE(leftovers_.HasPending());
}

TEST_F(BuildLeftoversFakeTest, EngineDownKeepsTheIdForTheNextSweep) {
  const std::string id = StepContainer(false, "sha256:" + std::string(64, 'b'));
  BuildDiedUnder(id);
  engine_->SetDown(true);
  EXPECT_EQ(leftovers_.Sweep(), 0);
  EXPECT_TRUE(leftovers_.HasPending());
  engine_->SetDown(false);
  EXPECT_EQ(leftovers_.Sweep(), 1);
  EXPECT_FALSE(engine_->FindContainer(id).has_value());
}

TEST_F(BuildLeftoversFakeTest, ARemoveThatFailsIsRetriedAndARemovedOneIsForgotten) {
  const std::string id = StepContainer(false, "sha256:" + std::string(64, 'b'));
  BuildDiedUnder(id);
  engine_->FailOperation("RemoveContainer", 500, "driver busy", 1);
  EXPECT_EQ(leftovers_.Sweep(), 0);
  EXPECT_TRUE(leftovers_.HasPending());
  EXPECT_EQ(leftovers_.Sweep(), 1);
}

TEST_F(BuildLeftoversFakeTest, AContainerFromANamedImageIsNeverRemoved) {
  const std::string id = StepContainer(false, "busybox:latest");
  BuildDiedUnder(id);
  EXPECT_EQ(leftovers_.Sweep(), 0);
  EXPECT_TRUE(engine_->FindContainer(id).has_value());
  EXPECT_FALSE(leftovers_.HasPending());
  EXPECT_EQ(engine_->CallCount("RemoveContainer"), 0);
}

TEST_F(BuildLeftoversFakeTest, ARunningContainerIsLeftAlone) {
  const std::string id = StepContainer(true, "sha256:" + std::string(64, 'b'));
  BuildDiedUnder(id);
  EXPECT_EQ(leftovers_.Sweep(), 0);
  EXPECT_TRUE(engine_->FindContainer(id).has_value());
  EXPECT_EQ(engine_->CallCount("RemoveContainer"), 0);
}

TEST_F(BuildLeftoversFakeTest, ABuildThatEndedWithTheEngineAliveLeavesNothingPending) {
  const std::string id = StepContainer(false, "sha256:" + std::string(64, 'b'));
  auto build = leftovers_.Begin();
  build->Observe(" ---> Running in " + id.substr(0, 12) + "\n");
  build->End(absl::OkStatus());
  EXPECT_FALSE(leftovers_.HasPending());
  EXPECT_EQ(leftovers_.Sweep(), 0);
  EXPECT_TRUE(engine_->calls().empty());
}

}  // namespace
}  // namespace dkd::core
