// Suggestions, score, comparison, report and config optimization: the pure
// half of ImageOptimizer, computed from an ImageAnalysis or a BuildConfig with
// no engine access.
//
// Suggestions are grounded in what the image holds. With deep analysis their
// savings are measured bytes (apt lists and cache, pip and npm caches, files
// deleted or replaced by a later layer); without it, the same problems are
// recognised from the history's instructions and the savings are estimates
// (`size_measured` false, and the description says "estimate").
//
// Optimization score (0-100):
//   score = 100
//         - Σ over suggestions: 15 for high impact, 8 for medium, 3 for low
//         - deep analysis only: round(40 × (1 - efficiency))
//   clamped to [0, 100]. An image with nothing to suggest and efficiency 1
//   scores 100.
//
// All functions are pure and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/buildgen/build_types.h"
#include "core/image/image_analysis.h"

namespace dkd::core {

// A smaller image of the same family ("python:3.12" -> "python:3.12-slim").
struct SlimVariant {
  std::string image;
  double typical_full_mb = 0;  // a typical size of the full image
  double typical_slim_mb = 0;  // a typical size of the variant
};

// The known slim variant of `image`, or nullopt when `image` is already slim
// (slim, alpine, distroless, jre, ...) or of an unknown family. Known
// families: python, node, ruby, debian, golang, rust, openjdk,
// eclipse-temurin, maven, gradle.
std::optional<SlimVariant> SlimVariantFor(absl::string_view image);

// True when `image` names no tag and no digest, or the tag "latest".
bool UsesLatestTag(absl::string_view image);

// Suggestions for `analysis`, in the order the rules run.
std::vector<OptimizationSuggestion> SuggestFor(const ImageAnalysis& analysis);

// The score described above, from analysis.potential_optimizations and
// analysis.deep.
int OptimizationScore(const ImageAnalysis& analysis);

// Orders suggestions by impact (high first), then effort (low first), then
// saving (larger first); otherwise stable.
std::vector<OptimizationSuggestion> ImplementationPlan(std::vector<OptimizationSuggestion> s);

struct ImageComparison {
  ImageAnalysis a;
  ImageAnalysis b;
  int64_t size_difference_bytes = 0;  // b - a
  int layer_count_difference = 0;     // non-empty layers, b - a
  int score_difference = 0;           // b - a
  int shared_layers = 0;              // diff ids both images hold
  std::vector<std::string> summary;
};
ImageComparison CompareAnalyses(ImageAnalysis a, ImageAnalysis b);

struct OptimizationReport {
  ImageAnalysis analysis;
  std::vector<OptimizationSuggestion> implementation_plan;
  double total_potential_savings_mb = 0;  // Σ size_reduction_mb over the plan
  std::vector<std::string> summary;
};
OptimizationReport BuildReport(ImageAnalysis analysis);

// The spec's optimize_image result.
struct ImageOptimizeResult {
  std::string suggested_base_image;
  std::vector<std::string> optimization_notes;
  // The input with the recommendations applied, ready for BuildGenerator.
  BuildConfig optimized_config;
  std::vector<OptimizationSuggestion> suggestions;
};

// Applies the recommendations to `config` (image_config_optimizer.cc): a slim runtime base (keeping
// the version), a non-root user, package-manager caches dropped in runtime commands
// (`--no-cache-dir`, apt lists removed, npm cache cleaned). When `analysis` is given, its
// suggestions are included and inform the notes.
ImageOptimizeResult OptimizeConfig(const BuildConfig& config,
                                   const ImageAnalysis* analysis = nullptr);

}  // namespace dkd::core
