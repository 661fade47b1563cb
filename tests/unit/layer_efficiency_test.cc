// AnalyzeLayerEfficiency, ParseHumanBytes and the CI rules: dive's figures
// and messages.
#include "core/image/layer_efficiency.h"

#include <cmath>
#include <string>
#include <vector>

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

LayerFile Dir(std::string path) {
  LayerFile f;
  f.path = std::move(path);
  f.type = LayerFileType::kDirectory;
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

ExportLayer Base() { return Layer("ADD rootfs.tar /", {Dir("/bin"), File("/bin/sh", 1000)}); }

TEST(LayerEfficiencyTest, CountsDeletedFileAsWastedWhenWhitedOut) {
  std::vector<ExportLayer> layers = {
      Base(),
      Layer("COPY big.bin /data/", {Dir("/data"), File("/data/big.bin", 10 * kMiB)}),
      Layer("RUN rm /data/big.bin", {Dir("/data"), Whiteout("/data/big.bin")}),
  };
  EfficiencyReport r = AnalyzeLayerEfficiency(layers);
  // Paths: /bin/sh cum 1000 min 1000; /data/big.bin cum 10485760 + 0, min 0.
  EXPECT_DOUBLE_EQ(r.efficiency, 1000.0 / 10486760.0);
  EXPECT_EQ(r.wasted_bytes, 10485760);
  EXPECT_EQ(r.size_bytes, 10486760);
  EXPECT_EQ(r.user_size_bytes, 10485760);
  EXPECT_DOUBLE_EQ(r.user_wasted_percent, 1.0);
  ASSERT_EQ(r.wasted_path_count, 1u);
  const WastedPath& w = r.top_wasted.at(0);
  EXPECT_EQ(w.path, "/data/big.bin");
  EXPECT_EQ(w.cumulative_bytes, 10485760);
  EXPECT_EQ(w.min_bytes, 0);
  EXPECT_EQ(w.occurrences, 2);
  EXPECT_EQ(w.layers, (std::vector<int>{1, 2}));
  EXPECT_EQ(w.blame_layer, 1);
  EXPECT_EQ(w.blame_created_by, "COPY big.bin /data/");
  EXPECT_EQ(w.last_layer, 2);
  EXPECT_TRUE(w.removed);
}

TEST(LayerEfficiencyTest, BlamesLargestReplacedCopyWhenOverwrittenThreeTimes) {
  std::vector<ExportLayer> layers = {
      Base(),
      Layer("RUN gen 2M", {Dir("/app"), File("/app/data.bin", 2 * kMiB)}),
      Layer("RUN gen 3M", {Dir("/app"), File("/app/data.bin", 3 * kMiB)}),
      Layer("RUN gen 1M", {Dir("/app"), File("/app/data.bin", 1 * kMiB)}),
  };
  EfficiencyReport r = AnalyzeLayerEfficiency(layers);
  // /app/data.bin: cum 2+3+1 MiB = 6291456, min 1048576; /bin/sh 1000/1000.
  // efficiency = (1000 + 1048576) / (1000 + 6291456) = 1049576 / 6292456.
  EXPECT_DOUBLE_EQ(r.efficiency, 1049576.0 / 6292456.0);
  EXPECT_NEAR(r.efficiency, 0.166799, 1e-6);
  EXPECT_EQ(r.wasted_bytes, 6291456);  // dive counts the surviving copy too
  EXPECT_EQ(r.user_size_bytes, 6291456);
  EXPECT_DOUBLE_EQ(r.user_wasted_percent, 1.0);
  const WastedPath& w = r.top_wasted.at(0);
  EXPECT_EQ(w.occurrences, 3);
  EXPECT_EQ(w.min_bytes, 1048576);
  EXPECT_EQ(w.blame_layer, 2);  // the 3 MiB copy, replaced by layer 3
  EXPECT_EQ(w.blame_created_by, "RUN gen 3M");
  EXPECT_EQ(w.last_layer, 3);
  EXPECT_FALSE(w.removed);
}

TEST(LayerEfficiencyTest, MeasuresCachesInFinalImageWhenAptListsPartlyRemoved) {
  std::vector<ExportLayer> layers = {
      Base(),
      Layer("RUN apt-get update && apt-get install -y curl",
            {Dir("/var"), Dir("/var/lib"), Dir("/var/lib/apt"), Dir("/var/lib/apt/lists"),
             File("/var/lib/apt/lists/deb_Packages", 5000),
             File("/var/lib/apt/lists/deb_Release", 200), File("/var/lib/apt/lists/lock", 0),
             Dir("/var/cache"), Dir("/var/cache/apt"), File("/var/cache/apt/pkgcache.bin", 3000),
             Dir("/usr"), Dir("/usr/bin"), File("/usr/bin/curl", 700)}),
      Layer("RUN pip install x && npm i y && rm lists",
            {Dir("/root"), File("/root/.cache/pip/http/a", 400), File("/root/.npm/_cacache/b", 300),
             Dir("/var/lib/apt/lists"), Whiteout("/var/lib/apt/lists/deb_Packages"),
             Whiteout("/var/lib/apt/lists/lock")}),
      Layer("RUN rm -rf /var/cache/apt", {Dir("/var/cache"), Whiteout("/var/cache/apt")}),
  };
  EfficiencyReport r = AnalyzeLayerEfficiency(layers);
  // cum/min: sh 1000/1000, deb_Packages 5000+0/0, deb_Release 200/200,
  // lock 0+0/0, pkgcache.bin 3000/3000, curl 700/700, pip a 400/400,
  // npm b 300/300, and /var/cache/apt (a directory whiteout: its subtree
  // below, 3000, seen once so not wasted) 3000/3000.
  // Σcum = 13600, Σmin = 8600.
  EXPECT_DOUBLE_EQ(r.efficiency, 8600.0 / 13600.0);
  EXPECT_EQ(r.wasted_bytes, 5000);
  EXPECT_EQ(r.wasted_path_count, 2u);
  EXPECT_EQ(r.top_wasted.at(0).path, "/var/lib/apt/lists/deb_Packages");
  EXPECT_EQ(r.top_wasted.at(1).path, "/var/lib/apt/lists/lock");
  // Layer sizes 1000, 8900, 700, 0.
  EXPECT_EQ(r.size_bytes, 10600);
  EXPECT_EQ(r.user_size_bytes, 9600);
  EXPECT_DOUBLE_EQ(r.user_wasted_percent, 5000.0 / 9600.0);
  // Final image: deb_Release (layer 1) is the only list left, the apt cache
  // is gone, pip and npm caches come from layer 2.
  EXPECT_EQ(r.layers.at(1).final_cache_bytes.apt_lists, 200);
  EXPECT_EQ(r.layers.at(1).final_cache_bytes.apt_cache, 0);
  EXPECT_EQ(r.layers.at(2).final_cache_bytes.pip_cache, 400);
  EXPECT_EQ(r.layers.at(2).final_cache_bytes.npm_cache, 300);
  EXPECT_EQ(r.final_cache_bytes.Total(), 900);
  EXPECT_EQ(r.layers.at(1).created_by, "RUN apt-get update && apt-get install -y curl");
}

TEST(LayerEfficiencyTest, IgnoresOpaqueWhiteoutForEfficiencyButNotForFinalImage) {
  std::vector<ExportLayer> layers = {
      Layer("base", {Dir("/var/lib/apt/lists"), File("/var/lib/apt/lists/a", 100)}),
      Layer("RUN refresh", {Dir("/var/lib/apt/lists"), Opaque("/var/lib/apt/lists"),
                            File("/var/lib/apt/lists/b", 50)}),
  };
  EfficiencyReport r = AnalyzeLayerEfficiency(layers);
  // dive: leaves are a (100) and b (50), each seen once; nothing wasted.
  EXPECT_DOUBLE_EQ(r.efficiency, 1.0);
  EXPECT_EQ(r.wasted_bytes, 0);
  // Overlay semantics: the opaque directory hides a.
  EXPECT_EQ(r.layers.at(0).final_cache_bytes.apt_lists, 0);
  EXPECT_EQ(r.layers.at(1).final_cache_bytes.apt_lists, 50);
}

TEST(LayerEfficiencyTest, SkipsWhiteoutWhenPathAbsentBelow) {
  std::vector<ExportLayer> layers = {Base(), Layer("RUN rm -f /nope", {Whiteout("/nope")})};
  EfficiencyReport r = AnalyzeLayerEfficiency(layers);
  EXPECT_DOUBLE_EQ(r.efficiency, 1.0);
  EXPECT_EQ(r.wasted_path_count, 0u);
  EXPECT_DOUBLE_EQ(r.user_wasted_percent, 0.0);
}

TEST(LayerEfficiencyTest, KeepsTopNByCumulativeBytes) {
  std::vector<ExportLayer> layers = {
      Layer("a", {File("/x", 10), File("/y", 30), File("/z", 20)}),
      Layer("b", {File("/x", 10), File("/y", 30), File("/z", 20)}),
  };
  EfficiencyReport r = AnalyzeLayerEfficiency(layers, 2);
  EXPECT_EQ(r.wasted_path_count, 3u);
  EXPECT_EQ(r.wasted_bytes, 120);
  ASSERT_EQ(r.top_wasted.size(), 2u);
  EXPECT_EQ(r.top_wasted[0].path, "/y");
  EXPECT_EQ(r.top_wasted[1].path, "/z");
  EXPECT_DOUBLE_EQ(r.efficiency, 0.5);
}

TEST(LayerEfficiencyTest, ReportsPerfectScoreWhenNoLayers) {
  EfficiencyReport r = AnalyzeLayerEfficiency({});
  EXPECT_DOUBLE_EQ(r.efficiency, 1.0);
  EXPECT_EQ(r.wasted_bytes, 0);
  EXPECT_DOUBLE_EQ(r.user_wasted_percent, 0.0);
}

TEST(ParseHumanBytesTest, ParsesSizesAsGoHumanizeDoes) {
  EXPECT_EQ(*ParseHumanBytes("20MB"), 20000000u);
  EXPECT_EQ(*ParseHumanBytes("20 mib"), 20971520u);
  EXPECT_EQ(*ParseHumanBytes("1.5k"), 1500u);
  EXPECT_EQ(*ParseHumanBytes("1,000"), 1000u);
  EXPECT_EQ(*ParseHumanBytes("42"), 42u);
  EXPECT_EQ(*ParseHumanBytes("0.5b"), 0u);
  EXPECT_EQ(*ParseHumanBytes("2GiB"), 2147483648u);
  EXPECT_EQ(*ParseHumanBytes("16e"), 16000000000000000000u);
}

TEST(ParseHumanBytesTest, RejectsMalformedSizes) {
  for (const char* bad : {"", "MB", " 20MB", "10XB", "1.2.3", ".", "17EiB"}) {
    EXPECT_EQ(ParseHumanBytes(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

EfficiencyReport Report(double efficiency, int64_t wasted, double user_percent) {
  EfficiencyReport r;
  r.efficiency = efficiency;
  r.wasted_bytes = wasted;
  r.user_wasted_percent = user_percent;
  return r;
}

TEST(CiRulesTest, PassesWhenUnderAllThresholds) {
  CiRuleConfig config;
  config.highest_wasted_bytes = "20MB";
  auto results = EvaluateCiRules(Report(0.95, 1000, 0.05), config);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  for (const CiRuleResult& r : *results) EXPECT_EQ(r.status, CiRuleStatus::kPassed) << r.key;
  EXPECT_TRUE(CiRulesPassed(*results));
}

TEST(CiRulesTest, FailsWithDiveMessagesWhenOverThresholds) {
  CiRuleConfig config;
  config.highest_wasted_bytes = "20MB";
  auto results = EvaluateCiRules(Report(0.5, 30000000, 0.25), config);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_FALSE(CiRulesPassed(*results));
  EXPECT_EQ((*results)[0].key, "lowestEfficiency");
  EXPECT_EQ((*results)[0].status, CiRuleStatus::kFailed);
  EXPECT_EQ((*results)[0].message, "image efficiency is too low (efficiency=0.50 < threshold=0.9)");
  EXPECT_EQ((*results)[1].status, CiRuleStatus::kFailed);
  EXPECT_EQ((*results)[1].message,
            "too many bytes wasted (wasted-bytes=30000000 > threshold=20000000)");
  EXPECT_EQ((*results)[2].status, CiRuleStatus::kFailed);
  EXPECT_EQ((*results)[2].message,
            "too many bytes wasted, relative to the user bytes added "
            "(%-user-wasted-bytes=0.25 > threshold=0.1)");
}

TEST(CiRulesTest, PassesWhenWastedBytesEqualThreshold) {
  CiRuleConfig config;
  config.highest_wasted_bytes = "10MiB";
  auto results = EvaluateCiRules(Report(1.0, 10485760, 0.0), config);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[1].status, CiRuleStatus::kPassed);
}

TEST(CiRulesTest, SkipsDisabledRules) {
  CiRuleConfig config{"disabled", "", "OFF"};
  auto results = EvaluateCiRules(Report(0.0, 1 << 30, 9.0), config);
  ASSERT_TRUE(results.ok());
  for (const CiRuleResult& r : *results) {
    EXPECT_EQ(r.status, CiRuleStatus::kDisabled) << r.key;
    EXPECT_EQ(r.message, "rule disabled");
  }
  EXPECT_TRUE(CiRulesPassed(*results));
}

TEST(CiRulesTest, FailsUserPercentWhenOnlyBaseLayerAndWaste) {
  EfficiencyReport r = AnalyzeLayerEfficiency({Layer("a", {File("/x", 5), File("/x", 5)})});
  EXPECT_EQ(r.wasted_bytes, 0);  // a repeat inside one layer is one leaf
  r.wasted_bytes = 5;
  r.user_wasted_percent = INFINITY;
  auto results = EvaluateCiRules(r);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[2].status, CiRuleStatus::kFailed);
}

TEST(CiRulesTest, RejectsMisconfiguredThresholds) {
  auto bad_fraction = EvaluateCiRules(Report(1, 0, 0), CiRuleConfig{"abc", "disabled", "0.1"});
  EXPECT_EQ(bad_fraction.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_fraction.status().message().find("lowestEfficiency"), std::string::npos);
  auto out_of_range = EvaluateCiRules(Report(1, 0, 0), CiRuleConfig{"0.9", "disabled", "1.5"});
  EXPECT_NE(out_of_range.status().message().find("outside allowed range"), std::string::npos);
  auto bad_size = EvaluateCiRules(Report(1, 0, 0), CiRuleConfig{"0.9", "20XB", "0.1"});
  EXPECT_NE(bad_size.status().message().find("highestWastedBytes"), std::string::npos);
}

}  // namespace
}  // namespace dkd::core
