// ImageAnalysis and its parts: the spec's analysis value types, built from the
// engine's own records (image inspect and history) and, for deep analysis,
// from the layers of the image export.
//
// Sizes shown "in MB" are decimal megabytes (1 MB = 1e6 bytes), the unit
// docker prints. Layers are listed oldest first, one per history entry;
// `empty_layer` marks metadata-only entries (ENV, CMD, ...), and the n-th
// non-empty entry carries the n-th RootFS diff id, the way dive maps them.
//
// All types are plain values; the functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/engine/engine_types.h"
#include "core/image/image_export_reader.h"
#include "core/image/layer_efficiency.h"
#include "nlohmann/json.hpp"

namespace dkd::core {

inline constexpr double kBytesPerMb = 1e6;

enum class BaseImageMethod { kUnspecified, kLayerPrefix, kLabel, kHistory, kNotFound };
enum class Impact { kUnspecified = 0, kLow = 1, kMedium = 2, kHigh = 3 };

const char* BaseImageMethodName(BaseImageMethod m);  // "layer_prefix", ...
const char* ImpactName(Impact i);                    // "low", "medium", "high"

struct ImageLayer {
  std::string digest;  // diff id, "" for an empty layer
  int64_t size_bytes = 0;
  std::string created_by;
  std::string created;  // RFC 3339
  std::string comment;
  bool empty_layer = false;
};

// The spec's OptimizationSuggestion.
struct OptimizationSuggestion {
  std::string category;  // size, security, layers, reliability, reproducibility, base_image
  std::string description;
  Impact impact = Impact::kLow;
  Impact effort = Impact::kLow;
  std::vector<std::string> dockerfile_changes;
  double size_reduction_mb = 0;
  // True when size_reduction_mb was measured from the layers (or is exactly
  // 0 because the change saves no space); false when it is an estimate.
  bool size_measured = false;
  std::string evidence;

  nlohmann::json ToDict() const;
};

struct ImageCommands {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> history;  // every history instruction, oldest first
};

// Bytes a later layer deleted or replaced: they still ship in the layer that
// added them. Measured with overlay semantics (whiteouts, opaque directories).
struct ReclaimableBytes {
  struct Item {
    std::string path;
    int64_t bytes = 0;
    int added_layer = -1;    // index into the export's layers
    int removed_layer = -1;  // the layer that deleted or replaced it
    bool deleted = false;    // false: replaced by a newer copy
    std::string added_created_by;
    std::string removed_created_by;
  };
  int64_t deleted_bytes = 0;
  int64_t overwritten_bytes = 0;
  size_t deleted_paths = 0;
  size_t overwritten_paths = 0;
  std::vector<Item> top;  // largest first, then by path
};

// Figures only deep analysis (a walk of every layer's files) can give.
struct DeepAnalysis {
  ExportLayout layout = ExportLayout::kClassic;
  EfficiencyReport efficiency;  // top_wasted trimmed to the requested count
  int64_t files_walked = 0;
  ReclaimableBytes reclaimable;
};

// The spec's ImageAnalysis.
struct ImageAnalysis {
  std::string image_name;
  std::string image_id;
  int64_t size_bytes = 0;
  std::vector<ImageLayer> layers;
  std::vector<std::string> repo_tags;
  // Image ids the history names (locally built images only; evidence for
  // the base image search).
  std::vector<std::string> history_image_ids;
  std::string base_image;
  BaseImageMethod base_image_method = BaseImageMethod::kNotFound;
  int64_t base_image_size_bytes = -1;  // -1 when unknown
  int base_layer_count = 0;            // non-empty layers that belong to the base
  std::vector<std::string> exposed_ports;
  std::vector<std::string> volumes;
  std::map<std::string, std::string> environment_vars;
  std::map<std::string, std::string> labels;
  ImageCommands commands;
  std::string user;  // "" means root
  bool has_health_check = false;
  std::vector<OptimizationSuggestion> potential_optimizations;
  int optimization_score = 100;
  std::optional<DeepAnalysis> deep;

  double SizeMb() const { return static_cast<double>(size_bytes) / kBytesPerMb; }
  // Non-empty layers' diff ids, oldest first.
  std::vector<std::string> LayerDigests() const;
  // The spec's to_dict: size shown in MB ("size_mb"), enums as names.
  nlohmann::json ToDict() const;
};

// Builds the engine-side facts of an analysis from `GET /images/{name}/json`
// and `GET /images/{name}/history` answers. Empty layers are told apart with
// the history sizes and instructions, then reconciled with RootFS.Layers so
// that the non-empty entries match the diff ids one to one. InvalidArgument
// if the inspect answer is not an object.
absl::StatusOr<ImageAnalysis> AnalysisFromEngine(absl::string_view image_name,
                                                 const ImageDetails& inspect,
                                                 const std::vector<ImageHistoryEntry>& history);
// As above from the engine's JSON answers (decoded by core/engine/engine_json.h).
absl::StatusOr<ImageAnalysis> AnalysisFromEngine(absl::string_view image_name,
                                                 const nlohmann::json& inspect,
                                                 const nlohmann::json& history);

// Replaces the empty-layer flags with the image config's own (deep analysis
// knows them exactly) when its history has as many entries as `analysis`.
void ApplyExportHistory(const ImageExport& exported, ImageAnalysis& analysis);

// Measures bytes deleted or replaced by later layers, keeping the `top_n`
// largest items (0 keeps all). Memory: O(live paths).
ReclaimableBytes MeasureReclaimable(const std::vector<ExportLayer>& layers, size_t top_n);

// True when `user` (a config User) means root: "", "root", "0", "root:…", "0:…".
bool IsRootUser(absl::string_view user);

// Docker's human-readable size ("10.5MB"), decimal units, 3 significant digits.
std::string HumanSize(int64_t bytes);

}  // namespace dkd::core
