// Layer efficiency: the figures dive (github.com/wagoodman/dive) reports for
// an image, computed from the layers ImageExport reading produces, plus the
// rule checks of `dive --ci` and facts about caches left in the final image.
//
// Definitions (dive's filetree/efficiency.go and image/analysis.go):
//  - Each layer is a tree; only its leaves are counted (a directory entry with
//    anything under it in the same layer is not a leaf). A path's cumulative
//    size is the sum over every layer where it is a leaf; a regular leaf
//    counts its header size, a whiteout counts 0 if it deletes a file and the
//    total size of the deleted subtree if it deletes a directory (measured in
//    the stack of the layers below). Its minimum is the smallest of those.
//  - efficiency = Σ minimum / Σ cumulative over all paths (1 if Σ cumulative
//    is 0); wasted bytes = Σ cumulative over paths seen in 2 or more layers
//    (the surviving copy included, as dive does); user size = Σ layer sizes
//    except the first; user wasted percent = wasted / user size (a fraction:
//    1.0 is 100%; 0 when both are 0, +inf when only the user size is 0).
//  - Opaque whiteouts (`.wh..wh..opq`) are ignored for efficiency, exactly as
//    dive ignores them: the lower directory's files are not counted as
//    deleted. Cache facts use real overlay semantics instead (an opaque
//    directory hides everything below it), since they describe the final
//    filesystem.
//  - Where dive errs, this does not: a whiteout of a path absent below is
//    skipped (dive aborts the rest of that layer's walk), and a directory that
//    only exists implicitly below (never declared in a tar) still counts its
//    subtree when whited out (dive counts 0).
//
// Memory: O(distinct paths) for the per-path table and one stacked tree.
// Thread-safety: all functions are pure and reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/image/image_export_reader.h"

namespace dkd::core {

// A path seen in two or more layers, i.e. bytes dive counts as wasted.
struct WastedPath {
  std::string path;
  int64_t cumulative_bytes = 0;  // Σ sizes over its occurrences
  int64_t min_bytes = 0;         // smallest single occurrence
  int occurrences = 0;           // number of layers where it is a leaf
  std::vector<int> layers;       // those layers' indexes, ascending
  // The layer whose added bytes were later replaced or deleted (the largest
  // such addition; the earliest on ties), and its history created_by.
  int blame_layer = -1;
  std::string blame_created_by;
  int last_layer = -1;   // the layer of the last occurrence
  bool removed = false;  // the last occurrence is a whiteout
};

// Bytes under well-known cache directories that survive into the final
// image, attributed to the layer that wrote them.
struct CacheBytes {
  int64_t apt_lists = 0;  // /var/lib/apt/lists/
  int64_t apt_cache = 0;  // /var/cache/apt/
  int64_t pip_cache = 0;  // /root/.cache/pip/
  int64_t npm_cache = 0;  // /root/.npm/
  int64_t Total() const { return apt_lists + apt_cache + pip_cache + npm_cache; }
};

struct LayerSummary {
  int index = 0;
  std::string diff_id;
  std::string created_by;
  int64_t size_bytes = 0;  // Σ entry sizes, dive's layer size
  CacheBytes final_cache_bytes;
};

struct EfficiencyReport {
  double efficiency = 1.0;
  int64_t size_bytes = 0;
  int64_t user_size_bytes = 0;
  int64_t wasted_bytes = 0;
  double user_wasted_percent = 0.0;    // a fraction, like dive's
  size_t wasted_path_count = 0;        // all paths seen in 2+ layers
  std::vector<WastedPath> top_wasted;  // by cumulative bytes desc, then path
  std::vector<LayerSummary> layers;
  CacheBytes final_cache_bytes;  // Σ over layers
};

// Computes dive's efficiency figures for `layers` (base first), keeping the
// `top_n` most wasteful paths (0 keeps all).
EfficiencyReport AnalyzeLayerEfficiency(const std::vector<ExportLayer>& layers, size_t top_n = 20);

enum class CiRuleStatus { kPassed, kFailed, kDisabled };

struct CiRuleResult {
  std::string key;  // dive's names: lowestEfficiency, highestWastedBytes, …
  CiRuleStatus status = CiRuleStatus::kPassed;
  std::string message;
};

// Thresholds as dive's `.dive-ci` takes them; "", "disabled", "off" or
// "false" (any case) disables a rule.
struct CiRuleConfig {
  std::string lowest_efficiency = "0.9";
  std::string highest_wasted_bytes = "disabled";  // e.g. "20MB", "1.5 GiB"
  std::string highest_user_wasted_percent = "0.1";
};

// Evaluates the three rules in dive's order. Returns InvalidArgument naming the
// rule if a threshold does not parse or a fraction is outside [0, 1], as
// `dive --ci` refuses to run with such a configuration.
absl::StatusOr<std::vector<CiRuleResult>> EvaluateCiRules(const EfficiencyReport& report,
                                                          const CiRuleConfig& config = {});

// True if no rule failed.
bool CiRulesPassed(const std::vector<CiRuleResult>& results);

// go-humanize's ParseBytes, which dive uses: digits with optional '.' and ','
// then an optional unit, case-insensitive, spaces allowed before it: "" / "b",
// SI "k"/"kb" … "e"/"eb" (powers of 1000), IEC "ki"/"kib" … "ei"/"eib"
// (powers of 1024). Fractions are truncated: "1.5k" is 1500. Returns
// InvalidArgument otherwise or if the value does not fit in 64 bits.
absl::StatusOr<uint64_t> ParseHumanBytes(absl::string_view text);

}  // namespace dkd::core
