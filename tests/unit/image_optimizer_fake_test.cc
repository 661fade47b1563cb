// ImageOptimizer against the in-memory engine: analysis from inspect and
// history, the base image found by layer prefix, suggestions, and engine
// errors.
#include <memory>
#include <string>
#include <vector>

#include "core/image/image_optimizer.h"
#include "gtest/gtest.h"
#include "tests/support/fake_docker_engine.h"

namespace dkd::core {
namespace {

using testing::FakeDockerEngine;

ImageHistoryEntry Step(const std::string& created_by, int64_t size) {
  ImageHistoryEntry e;
  e.id = "<missing>";
  e.created = 1700000000;
  e.created_by = created_by;
  e.size = size;
  return e;
}

class ImageOptimizerFakeTest : public ::testing::Test {
 protected:
  ImageOptimizerFakeTest() : engine_(std::make_shared<FakeDockerEngine>()), optimizer_(engine_) {
    ImageDetails base;
    base.repo_tags = {"debian:12"};
    base.size = 100000000;
    base.layers = {"sha256:l1"};
    base_id_ = engine_->AddImage(base, {Step("/bin/sh -c #(nop) ADD file:abc in / ", 100000000)});

    ImageDetails app;
    app.repo_tags = {"app:1"};
    app.size = 180000000;
    app.layers = {"sha256:l1", "sha256:l2", "sha256:l3"};
    app.env = {"PATH=/usr/bin", "MODE=prod"};
    app.exposed_ports = {"8080/tcp"};
    // Newest first, as the engine lists history.
    app_history_ = {Step("/bin/sh -c #(nop)  CMD [\"./app\"]", 0),
                    Step("/bin/sh -c apt-get install -y build-essential", 60000000),
                    Step("/bin/sh -c #(nop) COPY dir:src in /app ", 20000000),
                    Step("/bin/sh -c #(nop) ADD file:abc in / ", 100000000)};
    engine_->AddImage(app, app_history_);
    engine_->ClearCalls();
  }

  std::shared_ptr<FakeDockerEngine> engine_;
  ImageOptimizer optimizer_;
  std::string base_id_;
  std::vector<ImageHistoryEntry> app_history_;
};

TEST_F(ImageOptimizerFakeTest, AnalysisReadsLayersConfigAndHistoryFromTheEngine) {
  auto a = optimizer_.AnalyzeImage("app:1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->size_bytes, 180000000);
  ASSERT_EQ(a->layers.size(), 4u);
  EXPECT_EQ(a->layers[0].digest, "sha256:l1");
  EXPECT_EQ(a->layers[1].digest, "sha256:l2");
  EXPECT_EQ(a->layers[2].digest, "sha256:l3");
  EXPECT_TRUE(a->layers[3].empty_layer);
  EXPECT_EQ(a->environment_vars.at("MODE"), "prod");
  EXPECT_EQ(a->exposed_ports, std::vector<std::string>{"8080/tcp"});
  EXPECT_EQ(engine_->CallCount("InspectImage"), 2);  // The image, then the one base candidate.
  EXPECT_EQ(engine_->CallCount("ImageHistory"), 1);
}

TEST_F(ImageOptimizerFakeTest, BaseImageIsTheLocalImageWhoseLayersArePrefix) {
  auto a = optimizer_.AnalyzeImage("app:1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->base_image, "debian:12");
  EXPECT_EQ(a->base_image_method, BaseImageMethod::kLayerPrefix);
  EXPECT_EQ(a->base_layer_count, 1);
  EXPECT_EQ(a->base_image_size_bytes, 100000000);
}

TEST_F(ImageOptimizerFakeTest, WithoutALocalBaseTheFirstHistoryInstructionNamesIt) {
  ImageDetails lone;
  lone.repo_tags = {"lone:1"};
  lone.size = 5;
  lone.layers = {"sha256:x1"};
  engine_->AddImage(lone, {Step("/bin/sh -c #(nop) ADD file:zzz in / ", 5)});
  auto a = optimizer_.AnalyzeImage("lone:1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->base_image_method, BaseImageMethod::kHistory);
  EXPECT_EQ(engine_->CallCount("ListImages"), 0);  // One layer: no prefix to look for.
}

TEST_F(ImageOptimizerFakeTest, RootUserWithoutHealthcheckYieldsSecurityAndReliabilitySuggestions) {
  auto s = optimizer_.SuggestOptimizations("app:1");
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<std::string> categories;
  for (const auto& o : *s) categories.push_back(o.category);
  EXPECT_NE(std::find(categories.begin(), categories.end(), "security"), categories.end());
  EXPECT_NE(std::find(categories.begin(), categories.end(), "reliability"), categories.end());

  ImageDetails hardened;
  hardened.repo_tags = {"hardened:1"};
  hardened.user = "app";
  hardened.healthcheck = {"CMD", "true"};
  hardened.size = 10;
  hardened.layers = {"sha256:h1"};
  engine_->AddImage(hardened, {Step("/bin/sh -c #(nop) ADD file:h in / ", 10)});
  auto h = optimizer_.AnalyzeImage("hardened:1");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(h->has_health_check);
  EXPECT_EQ(h->user, "app");
  for (const auto& o : h->potential_optimizations) {
    EXPECT_NE(o.category, "security") << o.description;
    EXPECT_NE(o.category, "reliability") << o.description;
  }
  EXPECT_GT(h->optimization_score, optimizer_.AnalyzeImage("app:1")->optimization_score);
}

TEST_F(ImageOptimizerFakeTest, MissingImageIsNotFoundAndBadReferenceNeverReachesTheEngine) {
  EXPECT_EQ(optimizer_.AnalyzeImage("absent:1").status().code(), absl::StatusCode::kNotFound);
  engine_->ClearCalls();
  EXPECT_EQ(optimizer_.AnalyzeImage("Bad Ref!").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(engine_->calls().empty());
}

TEST_F(ImageOptimizerFakeTest, EngineDownIsUnavailableAndAnalysisRecovers) {
  engine_->FailNextCalls(1);
  EXPECT_EQ(optimizer_.AnalyzeImage("app:1").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(optimizer_.AnalyzeImage("app:1").ok());
}

TEST_F(ImageOptimizerFakeTest, CompareNamesTheFieldOfTheMissingImage) {
  auto c = optimizer_.CompareImages("app:1", "absent:2");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  auto ok = optimizer_.CompareImages("app:1", "debian:12");
  EXPECT_TRUE(ok.ok()) << ok.status();
}

}  // namespace
}  // namespace dkd::core
