// ContainerListCache against the in-memory engine: served from memory while
// events are followed, refreshed by events and invalidation, and straight
// from the engine (or Unavailable) while the engine is down.
#include "core/docker/container_cache.h"

#include <memory>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_docker_engine.h"

namespace dkd::core {
namespace {

using testing::FakeDockerEngine;

// Waits (bounded) until `done` holds; the cache's event thread runs apart.
template <typename F>
bool Eventually(F done) {
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (!done()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

class ContainerListCacheTest : public ::testing::Test {
 protected:
  ContainerListCacheTest()
      : engine_(std::make_shared<FakeDockerEngine>()), cache_(engine_, absl::Hours(1)) {}

  size_t Listed() {
    auto list = cache_.AllContainers();
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? (*list)->size() : 0;
  }

  std::shared_ptr<FakeDockerEngine> engine_;
  ContainerListCache cache_;
};

TEST_F(ContainerListCacheTest, WithoutStartEveryCallGoesToTheEngine) {
  engine_->AddContainer({});
  EXPECT_EQ(Listed(), 1u);
  EXPECT_EQ(Listed(), 1u);
  EXPECT_EQ(engine_->CallCount("ListContainers"), 2);
  EXPECT_FALSE(cache_.watching());
}

TEST_F(ContainerListCacheTest, WhileEventsAreFollowedTheListIsServedFromMemory) {
  FakeDockerEngine::ContainerSetup stopped;
  stopped.running = false;
  engine_->AddContainer(stopped);
  cache_.Start();
  ASSERT_TRUE(Eventually([&] { return cache_.watching(); }));
  EXPECT_EQ(Listed(), 1u);  // All states.
  EXPECT_EQ(Listed(), 1u);
  EXPECT_EQ(engine_->CallCount("ListContainers"), 1);
}

TEST_F(ContainerListCacheTest, AnEventDropsTheListSoTheNextCallSeesTheChange) {
  cache_.Start();
  ASSERT_TRUE(Eventually([&] { return cache_.watching(); }));
  EXPECT_EQ(Listed(), 0u);
  engine_->AddContainer({});
  EngineEvent created;
  created.type = "container";
  created.action = "create";
  engine_->EmitEvent(created);
  EXPECT_TRUE(Eventually([&] { return Listed() == 1u; }));
}

TEST_F(ContainerListCacheTest, InvalidateDropsTheList) {
  cache_.Start();
  ASSERT_TRUE(Eventually([&] { return cache_.watching(); }));
  EXPECT_EQ(Listed(), 0u);
  engine_->AddContainer({});  // No event: only dkd knows.
  EXPECT_EQ(Listed(), 0u);
  cache_.Invalidate();
  EXPECT_EQ(Listed(), 1u);
}

TEST_F(ContainerListCacheTest, EngineDownIsUnavailableAndTheCacheRecovers) {
  cache_.Start();
  ASSERT_TRUE(Eventually([&] { return cache_.watching(); }));
  EXPECT_EQ(Listed(), 0u);
  engine_->SetDown(true);
  // The follow breaks when the engine goes away; the cache stops serving.
  EngineEvent e;
  e.type = "container";
  engine_->BreakStreamAfter("Events", 0);
  engine_->EmitEvent(e);
  ASSERT_TRUE(Eventually([&] { return !cache_.watching(); }));
  EXPECT_EQ(cache_.AllContainers().status().code(), absl::StatusCode::kUnavailable);
  engine_->ClearFaults();
  engine_->AddContainer({});
  EXPECT_EQ(Listed(), 1u);
  EXPECT_TRUE(Eventually([&] { return cache_.watching(); }));
}

TEST_F(ContainerListCacheTest, StopEndsTheFollow) {
  cache_.Start();
  ASSERT_TRUE(Eventually([&] { return cache_.watching(); }));
  cache_.Stop();
  EXPECT_FALSE(cache_.watching());
  EXPECT_EQ(engine_->open_streams(), 0);
}

}  // namespace
}  // namespace dkd::core
