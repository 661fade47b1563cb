// ImageOptimizer (image_optimizer.h): argument checks, engine lookups, and the
// shallow and deep analyses behind each public call.
#include "core/image/image_optimizer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/reference.h"
#include "core/base/status_macros.h"
#include "core/engine/http_docker_engine.h"
#include "core/image/export_stream.h"
#include "core/image/layer_efficiency.h"

namespace dkd::core {
namespace {

constexpr size_t kMaxBaseCandidates = 256;
constexpr const char* kBaseNameLabel = "org.opencontainers.image.base.name";

absl::Status CheckCancel(CancelToken* cancel) {
  if (cancel != nullptr && cancel->IsCancelled()) {
    return absl::CancelledError("image analysis cancelled");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateImageArgument(absl::string_view field, absl::string_view image) {
  if (image.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  const std::string_view text(image.data(), image.size());
  if (IsImageId(text)) return absl::OkStatus();
  auto ref = ParseImageReference(text);
  if (!ref.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", ref.status().message()));
  }
  return absl::OkStatus();
}

ImageOptimizer::ImageOptimizer(std::shared_ptr<DockerEngine> engine) : engine_(std::move(engine)) {}

ImageOptimizer::ImageOptimizer(std::shared_ptr<EngineClient> engine)
    : ImageOptimizer(std::make_shared<HttpDockerEngine>(std::move(engine))) {}

absl::StatusOr<ImageAnalysis> ImageOptimizer::AnalyzeImage(absl::string_view image,
                                                           const AnalyzeOptions& options,
                                                           CancelToken* cancel) const {
  return Analyze("image", image, options, cancel);
}

absl::StatusOr<ImageAnalysis> ImageOptimizer::Analyze(absl::string_view field,
                                                      absl::string_view image,
                                                      const AnalyzeOptions& options,
                                                      CancelToken* cancel) const {
  RETURN_IF_ERROR(ValidateImageArgument(field, image));
  if (options.top_wasted_paths < 0) {
    return absl::InvalidArgumentError("top_wasted_paths: must not be negative");
  }
  const std::string name(image);
  ASSIGN_OR_RETURN(ImageDetails inspect, engine_->InspectImage(name));
  RETURN_IF_ERROR(CheckCancel(cancel));
  ASSIGN_OR_RETURN(std::vector<ImageHistoryEntry> history, engine_->ImageHistory(name));
  ASSIGN_OR_RETURN(ImageAnalysis analysis, AnalysisFromEngine(image, inspect, history));
  RETURN_IF_ERROR(CheckCancel(cancel));
  RETURN_IF_ERROR(FindBaseImage(analysis, cancel));
  if (options.deep) RETURN_IF_ERROR(AnalyzeDeep(analysis, options, cancel));
  analysis.potential_optimizations = SuggestFor(analysis);
  analysis.optimization_score = OptimizationScore(analysis);
  return analysis;
}

absl::Status ImageOptimizer::FindBaseImage(ImageAnalysis& a, CancelToken* cancel) const {
  const std::vector<std::string> layers = a.LayerDigests();
  if (layers.size() >= 2) {
    ASSIGN_OR_RETURN(std::vector<ImageSummary> list, engine_->ListImages(ImageListOptions{}));
    struct Candidate {
      std::string id;
      std::vector<std::string> tags;
      int64_t size;
      int64_t created;
    };
    std::vector<Candidate> candidates;
    for (ImageSummary& img : list) {
      Candidate c{img.id, std::move(img.repo_tags), img.size, img.created};
      // A base holds a subset of the layers, so it is never larger.
      if (c.id == a.image_id || c.tags.empty() || c.size > a.size_bytes) continue;
      candidates.push_back(std::move(c));
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& x, const Candidate& y) { return x.size > y.size; });
    if (candidates.size() > kMaxBaseCandidates) candidates.resize(kMaxBaseCandidates);
    // Among equally long prefixes, prefer the image the history names (the
    // parent of a local build), then the oldest, then the smallest tag.
    auto in_history = [&a](const Candidate& c) {
      return std::find(a.history_image_ids.begin(), a.history_image_ids.end(), c.id) !=
             a.history_image_ids.end();
    };
    auto better = [&](const Candidate& x, const Candidate& y) {
      if (in_history(x) != in_history(y)) return in_history(x);
      if (x.created != y.created) return x.created < y.created;
      return *std::min_element(x.tags.begin(), x.tags.end()) <
             *std::min_element(y.tags.begin(), y.tags.end());
    };
    size_t best_len = 0;
    const Candidate* best = nullptr;
    for (const Candidate& c : candidates) {
      RETURN_IF_ERROR(CheckCancel(cancel));
      auto inspect = engine_->InspectImage(c.id);
      if (!inspect.ok()) {
        if (absl::IsNotFound(inspect.status())) continue;  // removed meanwhile
        return inspect.status();
      }
      std::vector<std::string> chain = inspect->layers;
      chain.erase(std::remove(chain.begin(), chain.end(), "<none>:<none>"), chain.end());
      if (chain.empty() || chain.size() >= layers.size() || chain.size() < best_len) continue;
      if (!std::equal(chain.begin(), chain.end(), layers.begin())) continue;
      if (chain.size() == best_len && !better(c, *best)) continue;
      best_len = chain.size();
      best = &c;
    }
    if (best != nullptr) {
      a.base_image = *std::min_element(best->tags.begin(), best->tags.end());
      a.base_image_method = BaseImageMethod::kLayerPrefix;
      a.base_image_size_bytes = best->size;
      a.base_layer_count = static_cast<int>(best_len);
      return absl::OkStatus();
    }
  }
  if (auto it = a.labels.find(kBaseNameLabel); it != a.labels.end() && !it->second.empty()) {
    a.base_image = it->second;
    a.base_image_method = BaseImageMethod::kLabel;
    return absl::OkStatus();
  }
  for (const ImageLayer& l : a.layers) {
    if (l.empty_layer) continue;
    if (!l.created_by.empty()) {
      a.base_image = l.created_by;
      a.base_image_method = BaseImageMethod::kHistory;
      a.base_layer_count = 1;
      return absl::OkStatus();
    }
    break;
  }
  a.base_image.clear();
  a.base_image_method = BaseImageMethod::kNotFound;
  return absl::OkStatus();
}

absl::Status ImageOptimizer::AnalyzeDeep(ImageAnalysis& a, const AnalyzeOptions& options,
                                         CancelToken* cancel) const {
  ReadOptions read;
  read.expected_diff_ids = a.LayerDigests();
  ASSIGN_OR_RETURN(
      ImageExport exported,
      ReadEngineExport(*engine_, a.image_id.empty() ? a.image_name : a.image_id, read, cancel));
  ApplyExportHistory(exported, a);
  DeepAnalysis deep;
  deep.layout = exported.layout;
  const size_t top =
      options.top_wasted_paths == 0 ? 20 : static_cast<size_t>(options.top_wasted_paths);
  deep.efficiency = AnalyzeLayerEfficiency(exported.layers, top);
  for (const ExportLayer& l : exported.layers)
    deep.files_walked += static_cast<int64_t>(l.files.size());
  deep.reclaimable = MeasureReclaimable(exported.layers, 20);
  a.deep = std::move(deep);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OptimizationSuggestion>> ImageOptimizer::SuggestOptimizations(
    absl::string_view image, const AnalyzeOptions& options, CancelToken* cancel) const {
  ASSIGN_OR_RETURN(ImageAnalysis a, Analyze("image", image, options, cancel));
  return std::move(a.potential_optimizations);
}

absl::StatusOr<ImageComparison> ImageOptimizer::CompareImages(absl::string_view image_a,
                                                              absl::string_view image_b,
                                                              const AnalyzeOptions& options,
                                                              CancelToken* cancel) const {
  RETURN_IF_ERROR(ValidateImageArgument("image_b", image_b));
  ASSIGN_OR_RETURN(ImageAnalysis a, Analyze("image_a", image_a, options, cancel));
  ASSIGN_OR_RETURN(ImageAnalysis b, Analyze("image_b", image_b, options, cancel));
  return CompareAnalyses(std::move(a), std::move(b));
}

absl::StatusOr<OptimizationReport> ImageOptimizer::GetOptimizationReport(
    absl::string_view image, const AnalyzeOptions& options, CancelToken* cancel) const {
  ASSIGN_OR_RETURN(ImageAnalysis a, Analyze("image", image, options, cancel));
  return BuildReport(std::move(a));
}

absl::StatusOr<ImageOptimizeResult> ImageOptimizer::OptimizeImage(const BuildConfig& config,
                                                                  absl::string_view image,
                                                                  CancelToken* cancel) const {
  if (!config.base_image.empty()) {
    RETURN_IF_ERROR(ValidateImageArgument("config.base_image", config.base_image));
  }
  if (!config.runtime_base_image.empty()) {
    RETURN_IF_ERROR(ValidateImageArgument("config.runtime_base_image", config.runtime_base_image));
  }
  if (image.empty()) return OptimizeConfig(config);
  ASSIGN_OR_RETURN(ImageAnalysis a, Analyze("image", image, AnalyzeOptions{}, cancel));
  return OptimizeConfig(config, &a);
}

}  // namespace dkd::core
