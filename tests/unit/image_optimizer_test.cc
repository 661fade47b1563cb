// ImageOptimizer's pure parts: analysis from engine records, the export stream,
// reclaimable bytes, suggestions, score, plan, comparison and OptimizeConfig.
#include "core/image/image_optimizer.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "core/buildgen/build_generator.h"
#include "core/engine/engine_address.h"
#include "core/image/export_stream.h"
#include "core/image/image_analysis.h"
#include "core/image/image_suggestions.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

constexpr int64_t kMiB = 1 << 20;

LayerFile File(std::string path, int64_t size) {
  LayerFile f;
  f.path = std::move(path);
  f.size = size;
  return f;
}

LayerFile Whiteout(std::string path) {
  LayerFile f = File(std::move(path), 0);
  f.is_whiteout = true;
  return f;
}

LayerFile Opaque(std::string dir) {
  LayerFile f = File(std::move(dir), 0);
  f.is_opaque_whiteout = true;
  return f;
}

ExportLayer Layer(std::string created_by, std::vector<LayerFile> files) {
  ExportLayer l;
  l.created_by = std::move(created_by);
  for (const LayerFile& f : files) l.content_bytes += f.size;
  l.files = std::move(files);
  return l;
}

const OptimizationSuggestion* Find(const std::vector<OptimizationSuggestion>& list,
                                   absl::string_view category, absl::string_view text) {
  for (const auto& s : list) {
    if (s.category == category && absl::StrContains(s.description, text)) return &s;
  }
  return nullptr;
}

// A non-root image with a health check and a pinned name: nothing to say.
ImageAnalysis CleanAnalysis() {
  ImageAnalysis a;
  a.image_name = "app:1.0";
  a.user = "app";
  a.has_health_check = true;
  a.layers = {{"sha256:a", 5'000'000, "ADD rootfs.tar /", "", "", false}};
  return a;
}

// Deep analysis of synthetic layers, with layer 0 being the base.
ImageAnalysis DeepAnalysisOf(const std::vector<ExportLayer>& layers) {
  ImageAnalysis a = CleanAnalysis();
  a.base_layer_count = 1;
  DeepAnalysis d;
  d.efficiency = AnalyzeLayerEfficiency(layers);
  d.reclaimable = MeasureReclaimable(layers, 20);
  a.deep = d;
  return a;
}

TEST(ImageOptimizerImageAnalysisTest, FromEngineListsHistoryOldestFirstWithDiffIds) {
  auto inspect = nlohmann::json::parse(R"({
    "Id": "sha256:img", "RepoTags": ["app:1"], "Size": 1100,
    "Config": {"User": "", "Env": ["PATH=/bin", "A=b=c"], "ExposedPorts": {"80/tcp": {}},
               "Volumes": {"/data": {}}, "Entrypoint": ["/run"], "Cmd": ["x"],
               "Healthcheck": {"Test": ["NONE"]}},
    "RootFS": {"Layers": ["sha256:l0", "sha256:l1"]}})");
  auto history = nlohmann::json::parse(R"([
    {"Created": 1700000003, "CreatedBy": "/bin/sh -c #(nop)  CMD [\"x\"]", "Size": 0},
    {"Created": 1700000002, "CreatedBy": "/bin/sh -c echo hi > /f", "Size": 100},
    {"Created": 1700000001, "CreatedBy": "/bin/sh -c #(nop)  ENV A=b=c", "Size": 0},
    {"Created": 1700000000, "CreatedBy": "/bin/sh -c #(nop) ADD file:abc in / ", "Size": 1000}])");
  auto a = AnalysisFromEngine("app:1", inspect, history);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->layers.size(), 4u);
  EXPECT_EQ(a->layers[0].digest, "sha256:l0");
  EXPECT_TRUE(a->layers[1].empty_layer);
  EXPECT_EQ(a->layers[2].digest, "sha256:l1");
  EXPECT_EQ(a->layers[2].size_bytes, 100);
  EXPECT_TRUE(a->layers[3].empty_layer);
  EXPECT_EQ(a->layers[0].created, "2023-11-14T22:13:20Z");
  EXPECT_EQ(a->environment_vars.at("A"), "b=c");
  EXPECT_EQ(a->exposed_ports, std::vector<std::string>{"80/tcp"});
  EXPECT_EQ(a->volumes, std::vector<std::string>{"/data"});
  EXPECT_EQ(a->commands.entrypoint, std::vector<std::string>{"/run"});
  EXPECT_EQ(a->commands.history.size(), 4u);
  EXPECT_FALSE(a->has_health_check);  // NONE disables it
  EXPECT_EQ(a->LayerDigests(), (std::vector<std::string>{"sha256:l0", "sha256:l1"}));
}

TEST(ImageOptimizerImageAnalysisTest, FromEngineTreatsZeroSizeRunAsLayerWhenTheChainSaysSo) {
  auto inspect = nlohmann::json::parse(
      R"({"Id": "sha256:i", "RootFS": {"Layers": ["sha256:a", "sha256:b", "sha256:c"]}})");
  auto history = nlohmann::json::parse(R"([
    {"CreatedBy": "/bin/sh -c rm /big", "Size": 0},
    {"CreatedBy": "ENV X=1", "Size": 0},
    {"CreatedBy": "/bin/sh -c dd of=/big", "Size": 10},
    {"CreatedBy": "", "Size": 5}])");
  auto a = AnalysisFromEngine("i", inspect, history);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->layers[3].digest, "sha256:c");
  EXPECT_TRUE(a->layers[2].empty_layer);
}

TEST(ImageOptimizerImageAnalysisTest, RejectsNonObjectInspect) {
  EXPECT_FALSE(AnalysisFromEngine("x", nlohmann::json::array(), nlohmann::json()).ok());
}

TEST(ImageOptimizerImageAnalysisTest, RootUserAndHumanSize) {
  for (const char* u : {"", "root", "0", "0:0", "root:staff"}) EXPECT_TRUE(IsRootUser(u)) << u;
  for (const char* u : {"app", "1000", "1000:0", "nobody"}) EXPECT_FALSE(IsRootUser(u)) << u;
  EXPECT_EQ(HumanSize(0), "0B");
  EXPECT_EQ(HumanSize(10 * kMiB), "10.5MB");
  EXPECT_EQ(HumanSize(1984241), "1.98MB");
  EXPECT_EQ(HumanSize(999), "999B");
}

TEST(ImageOptimizerImageAnalysisTest, ToDictShowsSizeInMb) {
  ImageAnalysis a = CleanAnalysis();
  a.size_bytes = 12'345'678;
  nlohmann::json j = a.ToDict();
  EXPECT_DOUBLE_EQ(j["size_mb"].get<double>(), 12.35);
  EXPECT_EQ(j["base_image_method"], "not_found");
  EXPECT_FALSE(j.contains("efficiency"));
}

TEST(ImageOptimizerReclaimableTest, MeasuresDeletedAndOverwrittenBytes) {
  std::vector<ExportLayer> layers = {
      Layer("ADD rootfs /", {File("/bin/sh", 1000)}),
      Layer("RUN dd of=/big", {File("/big", 10 * kMiB)}),
      Layer("RUN rm /big", {Whiteout("/big")}),
      Layer("RUN dd of=/f", {File("/f", 3 * kMiB)}),
      Layer("RUN dd of=/f again", {File("/f", 2 * kMiB)}),
  };
  ReclaimableBytes r = MeasureReclaimable(layers, 20);
  EXPECT_EQ(r.deleted_bytes, 10 * kMiB);
  EXPECT_EQ(r.overwritten_bytes, 3 * kMiB);
  ASSERT_EQ(r.top.size(), 2u);
  EXPECT_EQ(r.top[0].path, "/big");
  EXPECT_EQ(r.top[0].added_layer, 1);
  EXPECT_EQ(r.top[0].removed_layer, 2);
  EXPECT_EQ(r.top[0].added_created_by, "RUN dd of=/big");
  EXPECT_EQ(r.top[0].removed_created_by, "RUN rm /big");
  EXPECT_FALSE(r.top[1].deleted);
}

TEST(ImageOptimizerReclaimableTest, DirectoryWhiteoutAndOpaqueDirectoryHideLowerFilesOnly) {
  std::vector<ExportLayer> layers = {
      Layer("base", {File("/d/a", 10), File("/d/sub/b", 20), File("/dx", 5), File("/o/x", 7)}),
      Layer("rm", {Whiteout("/d"), Opaque("/o"), File("/o/new", 3)}),
  };
  ReclaimableBytes r = MeasureReclaimable(layers, 1);
  EXPECT_EQ(r.deleted_bytes, 37);  // /d/a, /d/sub/b and /o/x; /dx survives
  EXPECT_EQ(r.deleted_paths, 3u);
  ASSERT_EQ(r.top.size(), 1u);
  EXPECT_EQ(r.top[0].path, "/d/sub/b");
}

TEST(ImageOptimizerSuggestionsTest, MeasuresAptListsLeftBehind) {
  std::vector<ExportLayer> layers = {
      Layer("ADD rootfs /", {File("/bin/sh", 1000)}),
      Layer("RUN apt-get update", {File("/var/lib/apt/lists/deb_Packages", 3 * kMiB),
                                   File("/var/cache/apt/pkgcache.bin", 1 * kMiB)}),
  };
  auto list = SuggestFor(DeepAnalysisOf(layers));
  const OptimizationSuggestion* s = Find(list, "size", "apt package lists");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->size_measured);
  EXPECT_DOUBLE_EQ(s->size_reduction_mb, 4.0 * kMiB / 1e6);
  EXPECT_EQ(s->impact, Impact::kMedium);
  EXPECT_TRUE(absl::StrContains(s->evidence, "RUN apt-get update")) << s->evidence;
}

TEST(ImageOptimizerSuggestionsTest, IgnoresCachesInTheBaseLayers) {
  std::vector<ExportLayer> layers = {
      Layer("ADD rootfs /", {File("/var/lib/apt/lists/x", 5 * kMiB)}),
      Layer("RUN true", {File("/app", 1)}),
  };
  EXPECT_EQ(Find(SuggestFor(DeepAnalysisOf(layers)), "size", "apt"), nullptr);
}

TEST(ImageOptimizerSuggestionsTest, MeasuresFilesDeletedByALaterLayer) {
  std::vector<ExportLayer> layers = {
      Layer("ADD rootfs /", {File("/bin/sh", 1000)}),
      Layer("RUN dd of=/big", {File("/big", 10 * kMiB)}),
      Layer("RUN rm /big", {Whiteout("/big")}),
  };
  auto list = SuggestFor(DeepAnalysisOf(layers));
  const OptimizationSuggestion* s = Find(list, "size", "deleted by a later layer");
  ASSERT_NE(s, nullptr);
  EXPECT_DOUBLE_EQ(s->size_reduction_mb, 10.48576);
  EXPECT_TRUE(s->size_measured);
  EXPECT_EQ(s->impact, Impact::kHigh);
  EXPECT_TRUE(absl::StrContains(s->evidence, "/big: 10485760 bytes added by layer 1"));
}

TEST(ImageOptimizerSuggestionsTest, EstimatesCachesFromHistoryWithoutDeepAnalysis) {
  ImageAnalysis a = CleanAnalysis();
  a.layers.push_back({"sha256:b", 50'000'000,
                      "/bin/sh -c apt-get update && apt-get install -y curl", "", "", false});
  a.layers.push_back(
      {"sha256:c", 20'000'000, "/bin/sh -c pip install --no-cache-dir flask", "", "", false});
  a.base_layer_count = 1;
  auto list = SuggestFor(a);
  const OptimizationSuggestion* apt = Find(list, "size", "apt");
  ASSERT_NE(apt, nullptr);
  EXPECT_FALSE(apt->size_measured);
  EXPECT_TRUE(absl::StrContains(apt->description, "estimate"));
  EXPECT_DOUBLE_EQ(apt->size_reduction_mb, 10.0);
  EXPECT_EQ(Find(list, "size", "pip"), nullptr);  // --no-cache-dir already used
}

TEST(ImageOptimizerSuggestionsTest, SecurityReliabilityReproducibilityAndLayers) {
  EXPECT_TRUE(SuggestFor(CleanAnalysis()).empty());
  ImageAnalysis a = CleanAnalysis();
  a.image_name = "app";
  a.user = "";
  a.has_health_check = false;
  for (int i = 0; i < 5; ++i) a.layers.push_back({"sha256:x", 100, "RUN x", "", "", false});
  a.base_image = "busybox:latest";
  a.base_image_method = BaseImageMethod::kLayerPrefix;
  a.base_layer_count = 1;
  auto list = SuggestFor(a);
  EXPECT_NE(Find(list, "security", "root"), nullptr);
  EXPECT_NE(Find(list, "reliability", "HEALTHCHECK"), nullptr);
  const OptimizationSuggestion* latest = Find(list, "reproducibility", "latest");
  ASSERT_NE(latest, nullptr);
  EXPECT_TRUE(absl::StrContains(latest->evidence, "base image busybox:latest"));
  EXPECT_NE(Find(list, "layers", "5 layers"), nullptr);
}

TEST(ImageOptimizerSuggestionsTest, LargeBaseWithSlimVariant) {
  ImageAnalysis a = CleanAnalysis();
  a.base_image = "python:3.12";
  a.base_image_method = BaseImageMethod::kLayerPrefix;
  a.base_image_size_bytes = 1'000'000'000;
  const auto list = SuggestFor(a);  // Find points into it.
  const OptimizationSuggestion* s = Find(list, "base_image", "python:3.12-slim");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->size_measured);
  EXPECT_DOUBLE_EQ(s->size_reduction_mb, 870.0);
}

TEST(ImageOptimizerSuggestionsTest, SlimVariants) {
  auto v = [](const char* image) {
    auto s = SlimVariantFor(image);
    return s ? s->image : std::string("-");
  };
  EXPECT_EQ(v("python:3.12"), "python:3.12-slim");
  EXPECT_EQ(v("python:3.12-bookworm"), "python:3.12-slim-bookworm");
  EXPECT_EQ(v("docker.io/library/node:20-bookworm"), "node:20-bookworm-slim");
  EXPECT_EQ(v("127.0.0.1:5000/python:3.11"), "127.0.0.1:5000/python:3.11-slim");
  EXPECT_EQ(v("golang:1.22"), "gcr.io/distroless/static-debian12");
  EXPECT_EQ(v("eclipse-temurin:21-jdk"), "eclipse-temurin:21-jre");
  EXPECT_EQ(v("python:3.12-slim"), "-");
  EXPECT_EQ(v("alpine:3.19"), "-");
  EXPECT_TRUE(UsesLatestTag("busybox"));
  EXPECT_TRUE(UsesLatestTag("busybox:latest"));
  EXPECT_FALSE(UsesLatestTag("busybox:1.36"));
}

TEST(ImageOptimizerScoreTest, FollowsTheDocumentedFormula) {
  ImageAnalysis a = CleanAnalysis();
  EXPECT_EQ(OptimizationScore(a), 100);
  OptimizationSuggestion high, medium, low;
  high.impact = Impact::kHigh;
  medium.impact = Impact::kMedium;
  low.impact = Impact::kLow;
  a.potential_optimizations = {high, medium, low};
  EXPECT_EQ(OptimizationScore(a), 100 - 15 - 8 - 3);
  a.deep = DeepAnalysis{};
  a.deep->efficiency.efficiency = 0.5;
  EXPECT_EQ(OptimizationScore(a), 100 - 15 - 8 - 3 - 20);
  a.potential_optimizations.assign(10, high);
  EXPECT_EQ(OptimizationScore(a), 0);
}

TEST(ImageOptimizerPlanTest, OrdersByImpactThenEffortThenSaving) {
  auto s = [](const char* name, Impact impact, Impact effort, double mb) {
    OptimizationSuggestion x;
    x.description = name;
    x.impact = impact;
    x.effort = effort;
    x.size_reduction_mb = mb;
    return x;
  };
  auto plan = ImplementationPlan(
      {s("a", Impact::kLow, Impact::kLow, 0), s("b", Impact::kHigh, Impact::kMedium, 1),
       s("c", Impact::kHigh, Impact::kLow, 0), s("d", Impact::kHigh, Impact::kMedium, 5),
       s("e", Impact::kMedium, Impact::kLow, 0)});
  std::string order;
  for (const auto& x : plan) order += x.description;
  EXPECT_EQ(order, "cdbea");
  OptimizationReport r = BuildReport([&] {
    ImageAnalysis a = CleanAnalysis();
    a.potential_optimizations = plan;
    return a;
  }());
  EXPECT_DOUBLE_EQ(r.total_potential_savings_mb, 6.0);
  EXPECT_EQ(r.implementation_plan.front().description, "c");
}

TEST(ImageOptimizerCompareTest, CountsSharedLayersAndDifferences) {
  ImageAnalysis a = CleanAnalysis(), b = CleanAnalysis();
  b.image_name = "app:2.0";
  b.size_bytes = a.size_bytes + 1000;
  b.layers.push_back({"sha256:b", 1000, "RUN x", "", "", false});
  b.optimization_score = 90;
  ImageComparison c = CompareAnalyses(a, b);
  EXPECT_EQ(c.shared_layers, 1);
  EXPECT_EQ(c.layer_count_difference, 1);
  EXPECT_EQ(c.size_difference_bytes, 1000);
  EXPECT_EQ(c.score_difference, -10);
  EXPECT_TRUE(absl::StrContains(c.summary[0], "1kB larger")) << c.summary[0];
}

TEST(ImageOptimizerOptimizeConfigTest, AppliesSlimRuntimeNonRootAndCacheFlags) {
  BuildConfig config;
  config.build_type = "python";
  config.base_image = "python:3.12";
  config.user = "root";
  config.port = 8000;
  config.metadata["project_name"] = "demo";
  config.runtime_commands = {"apt-get update && apt-get install -y curl", "pip install flask"};
  ImageOptimizeResult r = OptimizeConfig(config);
  EXPECT_EQ(r.suggested_base_image, "python:3.12-slim");
  EXPECT_EQ(r.optimized_config.runtime_base_image, "python:3.12-slim");
  EXPECT_EQ(r.optimized_config.base_image, "python:3.12");
  EXPECT_EQ(r.optimized_config.user, "");
  EXPECT_EQ(r.optimized_config.runtime_commands[0],
            "apt-get update && apt-get install --no-install-recommends -y curl && rm -rf "
            "/var/lib/apt/lists/*");
  EXPECT_EQ(r.optimized_config.runtime_commands[1], "pip install --no-cache-dir flask");
  EXPECT_NE(Find(r.suggestions, "security", "non-root"), nullptr);
  EXPECT_GE(r.optimization_notes.size(), 4u);

  // The optimized config is BuildGenerator input.
  auto generated = BuildGenerator().GenerateDockerfile(r.optimized_config);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_TRUE(absl::StrContains(generated->dockerfile, "python:3.12-slim"));
}

TEST(ImageOptimizerOptimizeConfigTest, LeavesAGoodConfigAlone) {
  BuildConfig config;
  config.build_type = "go";
  config.runtime_base_image = "gcr.io/distroless/static-debian12:nonroot";
  config.port = 8080;
  ImageOptimizeResult r = OptimizeConfig(config);
  EXPECT_EQ(r.suggested_base_image, "gcr.io/distroless/static-debian12:nonroot");
  EXPECT_TRUE(r.suggestions.empty());
  EXPECT_EQ(r.optimization_notes, std::vector<std::string>{"nothing to change"});
}

TEST(ImageOptimizerTest, ValidatesTheImageBeforeTheEngine) {
  EXPECT_TRUE(ValidateImageArgument("image", "busybox").ok());
  EXPECT_TRUE(ValidateImageArgument("image", std::string(64, 'a')).ok());
  absl::Status s = ValidateImageArgument("image", "Bad Name");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.message(), "image: ")) << s.message();
  EXPECT_EQ(ValidateImageArgument("image", "").code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImageOptimizerTest, EngineDownIsUnavailableButConfigOptimizationWorks) {
  auto address = ParseEngineAddress("unix:///nonexistent/dkd-test/docker.sock");
  ASSERT_TRUE(address.ok());
  ImageOptimizer optimizer(std::make_shared<EngineClient>(*address));
  EXPECT_EQ(optimizer.AnalyzeImage("busybox").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(optimizer.AnalyzeImage("Bad Name").status().code(), absl::StatusCode::kInvalidArgument);
  BuildConfig config;
  config.base_image = "node:20";
  auto r = optimizer.OptimizeImage(config);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->suggested_base_image, "node:20-slim");
  EXPECT_EQ(optimizer.OptimizeImage(config, "busybox").status().code(),
            absl::StatusCode::kUnavailable);
  config.base_image = "NOPE:";
  EXPECT_EQ(optimizer.OptimizeImage(config).status().message(),
            std::string(ValidateImageArgument("config.base_image", "NOPE:").message()));
}

TEST(ImageOptimizerExportStreamTest, DeliversEveryByteInOrderThenTheError) {
  ExportStream stream(/*chunk_bytes=*/7, /*max_chunks=*/2);
  std::string sent;
  for (int i = 0; i < 1000; ++i) sent += static_cast<char>('a' + i % 26);
  std::thread producer([&] {
    for (size_t i = 0; i < sent.size(); i += 13) {
      ASSERT_TRUE(stream.Push(absl::string_view(sent).substr(i, 13)));
    }
    stream.Finish(absl::DataLossError("cut"));
  });
  std::string got;
  char buf[5];
  absl::StatusOr<size_t> n;
  while ((n = stream.Read(buf, sizeof(buf))).ok() && *n > 0) got.append(buf, *n);
  producer.join();
  EXPECT_EQ(got, sent);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss);
}

TEST(ImageOptimizerExportStreamTest, CloseUnblocksAProducerThatOutrunsTheReader) {
  ExportStream stream(/*chunk_bytes=*/4, /*max_chunks=*/1);
  bool pushed = true;
  std::thread producer([&] {
    for (int i = 0; i < 100 && pushed; ++i) pushed = stream.Push("0123456789");
    stream.Finish(absl::OkStatus());
  });
  char buf[3];
  ASSERT_TRUE(stream.Read(buf, sizeof(buf)).ok());
  stream.Close();
  producer.join();
  EXPECT_FALSE(pushed);
  EXPECT_EQ(stream.Read(buf, sizeof(buf)).status().code(), absl::StatusCode::kCancelled);
}

TEST(ImageOptimizerExportStreamTest, EndsCleanlyAfterTheLastChunk) {
  ExportStream stream;
  std::thread producer([&] {
    stream.Push("abc");
    stream.Finish(absl::OkStatus());
  });
  std::string got;
  char buf[64];
  absl::StatusOr<size_t> n;
  while ((n = stream.Read(buf, sizeof(buf))).ok() && *n > 0) got.append(buf, *n);
  producer.join();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(got, "abc");
}

}  // namespace
}  // namespace dkd::core
