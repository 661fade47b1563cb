// ImageOptimizer: the spec's image analysis over a Docker Engine, measured
// rather than guessed.
//
// AnalyzeImage reads the engine's image inspect and history: the user comes
// from the config's User, the health check from its Healthcheck, the base
// image from evidence (the local tagged image whose layer chain is the
// longest proper prefix of this one's, else the
// org.opencontainers.image.base.name label, else the first layer's history
// instruction). With `deep`, it also streams the image export (classic or OCI
// layout) through ReadImageExport and computes dive's efficiency figures and
// the bytes later layers delete or replace; memory is bounded by the number
// of paths in the image, never its size, and nothing touches the disk.
// Suggestions and the score are computed by core/image/image_suggestions.h.
//
// Errors: InvalidArgument naming `image` for a malformed reference, NotFound
// for a missing image (the spec's ValueError), Unavailable when the engine
// cannot be reached, Cancelled when `cancel` fires. OptimizeImage without an
// image needs no engine.
//
// Thread-safety: all methods are const and may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/buildgen/build_types.h"
#include "core/engine/docker_engine.h"
#include "core/engine/engine_client.h"
#include "core/image/image_analysis.h"
#include "core/image/image_suggestions.h"

namespace dkd::core {

struct AnalyzeOptions {
  bool deep = false;
  // Deep only: how many wasted paths to keep (0 = 20).
  int top_wasted_paths = 20;
};

// Returns InvalidArgument naming `field` unless `image` is an image id or a
// valid image reference.
absl::Status ValidateImageArgument(absl::string_view field, absl::string_view image);

class ImageOptimizer {
 public:
  explicit ImageOptimizer(std::shared_ptr<DockerEngine> engine);
  // Over the engine's HTTP API.
  explicit ImageOptimizer(std::shared_ptr<EngineClient> engine);

  // The spec's analyze_image.
  absl::StatusOr<ImageAnalysis> AnalyzeImage(absl::string_view image,
                                             const AnalyzeOptions& options = {},
                                             CancelToken* cancel = nullptr) const;

  // Suggestions only.
  absl::StatusOr<std::vector<OptimizationSuggestion>> SuggestOptimizations(
      absl::string_view image, const AnalyzeOptions& options = {},
      CancelToken* cancel = nullptr) const;

  // Both images analysed (fields `image_a`, `image_b` in errors) and compared.
  absl::StatusOr<ImageComparison> CompareImages(absl::string_view image_a,
                                                absl::string_view image_b,
                                                const AnalyzeOptions& options = {},
                                                CancelToken* cancel = nullptr) const;

  // Analysis plus an implementation plan.
  absl::StatusOr<OptimizationReport> GetOptimizationReport(absl::string_view image,
                                                           const AnalyzeOptions& options = {},
                                                           CancelToken* cancel = nullptr) const;

  // The spec's optimize_image. With `image` empty no engine is needed;
  // otherwise the image is analysed (not deep) to ground the result.
  // InvalidArgument naming config.base_image / config.runtime_base_image /
  // image when one is not a valid reference.
  absl::StatusOr<ImageOptimizeResult> OptimizeImage(const BuildConfig& config,
                                                    absl::string_view image = "",
                                                    CancelToken* cancel = nullptr) const;

 private:
  absl::StatusOr<ImageAnalysis> Analyze(absl::string_view field, absl::string_view image,
                                        const AnalyzeOptions& options, CancelToken* cancel) const;
  // Sets base_image, its method, size and layer count.
  absl::Status FindBaseImage(ImageAnalysis& analysis, CancelToken* cancel) const;
  absl::Status AnalyzeDeep(ImageAnalysis& analysis, const AnalyzeOptions& options,
                           CancelToken* cancel) const;

  std::shared_ptr<DockerEngine> engine_;
};

}  // namespace dkd::core
