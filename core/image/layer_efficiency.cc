// Layer efficiency (layer_efficiency.h): dive's wasted-bytes figures, the
// caches left in the final image, and the `dive --ci` rules.
#include "core/image/layer_efficiency.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace dkd::core {
namespace {

// Members of aufs bookkeeping directories (`.wh..wh.plnk/…`), which dive never
// places in a tree.
bool IsMeta(const LayerFile& f) { return absl::StrContains(f.path, "/.wh..wh."); }

// A stacked filesystem. Keys are absolute paths, so a directory's descendants
// are exactly the keys in ["<dir>/", "<dir>0") ('0' follows '/').
class StackedTree {
 public:
  struct Node {
    int64_t size;
    bool is_dir;
    int layer;
  };
  using Map = std::map<std::string, Node>;

  // Applies `layer` on top: whiteouts first, then additions. With `overlay`,
  // an opaque directory also hides what lower layers put under it; without,
  // opaque markers are ignored, as dive ignores them.
  void Apply(const ExportLayer& layer, int index, bool overlay) {
    for (const LayerFile& f : layer.files) {
      if (!f.is_whiteout) continue;
      auto [lo, hi] = Descendants(f.path);
      nodes_.erase(lo, hi);
      nodes_.erase(f.path);
    }
    for (const LayerFile& f : layer.files) {
      if (!overlay || !f.is_opaque_whiteout) continue;
      auto [lo, hi] = Descendants(f.path);
      nodes_.erase(lo, hi);
    }
    for (const LayerFile& f : layer.files) {
      if (f.is_whiteout || f.is_opaque_whiteout || IsMeta(f)) continue;
      nodes_[f.path] = Node{f.size, f.type == LayerFileType::kDirectory, index};
    }
  }

  // Bytes a whiteout of `path` removes: 0 for a file, the subtree's total for
  // a directory; nullopt if nothing is at `path`.
  std::optional<int64_t> WhiteoutSize(const std::string& path) {
    auto it = nodes_.find(path);
    auto [lo, hi] = Descendants(path);
    if (it == nodes_.end() && lo == hi) return std::nullopt;
    if (lo == hi && !it->second.is_dir) return 0;
    int64_t total = it != nodes_.end() ? it->second.size : 0;
    for (; lo != hi; ++lo) total += lo->second.size;
    return total;
  }

  std::pair<Map::iterator, Map::iterator> Descendants(const std::string& path) {
    std::string prefix = path == "/" ? "/" : path + "/";
    std::string end = prefix;
    end.back() = '0';
    return {nodes_.lower_bound(prefix), nodes_.lower_bound(end)};
  }

 private:
  Map nodes_;
};

// The layer's leaves in dive's sense; the last entry wins for a repeated path.
std::vector<const LayerFile*> Leaves(const ExportLayer& layer) {
  absl::flat_hash_set<absl::string_view> parents;
  absl::flat_hash_map<std::pair<absl::string_view, bool>, size_t> last;
  for (size_t i = 0; i < layer.files.size(); ++i) {
    const LayerFile& f = layer.files[i];
    if (f.is_opaque_whiteout || IsMeta(f)) continue;
    last[{f.path, f.is_whiteout}] = i;
    absl::string_view p = f.path;
    for (size_t pos = p.rfind('/'); pos != 0 && pos != p.npos; pos = p.rfind('/', pos - 1)) {
      if (!parents.insert(p.substr(0, pos)).second) break;
    }
  }
  std::vector<const LayerFile*> out;
  for (size_t i = 0; i < layer.files.size(); ++i) {
    const LayerFile& f = layer.files[i];
    if (f.is_opaque_whiteout || IsMeta(f)) continue;
    if (last[{f.path, f.is_whiteout}] != i) continue;
    // A whiteout is a leaf node of its own (`.wh.<name>`), whatever shares its path.
    if (!f.is_whiteout && parents.contains(f.path)) continue;
    out.push_back(&f);
  }
  return out;
}

struct Occurrence {
  int layer;
  int64_t size;
  bool whiteout;
};

struct PathStats {
  int64_t cumulative = 0;
  int64_t min = -1;
  std::vector<Occurrence> seen;
};

WastedPath MakeWasted(const std::string& path, const PathStats& s,
                      const std::vector<ExportLayer>& layers) {
  WastedPath w;
  w.path = path;
  w.cumulative_bytes = s.cumulative;
  w.min_bytes = s.min;
  w.occurrences = static_cast<int>(s.seen.size());
  for (const Occurrence& o : s.seen) w.layers.push_back(o.layer);
  w.last_layer = s.seen.back().layer;
  w.removed = s.seen.back().whiteout;
  int64_t best = -1;
  for (size_t i = 0; i + 1 < s.seen.size(); ++i) {
    if (!s.seen[i].whiteout && s.seen[i].size > best) {
      best = s.seen[i].size;
      w.blame_layer = s.seen[i].layer;
    }
  }
  if (w.blame_layer < 0) w.blame_layer = s.seen.front().layer;
  w.blame_created_by = layers[static_cast<size_t>(w.blame_layer)].created_by;
  return w;
}

void AddCacheFacts(StackedTree& final_tree, EfficiencyReport& report) {
  struct Category {
    const char* prefix;
    int64_t CacheBytes::*field;
  };
  static constexpr Category kCategories[] = {
      {"/var/lib/apt/lists", &CacheBytes::apt_lists},
      {"/var/cache/apt", &CacheBytes::apt_cache},
      {"/root/.cache/pip", &CacheBytes::pip_cache},
      {"/root/.npm", &CacheBytes::npm_cache},
  };
  for (const Category& c : kCategories) {
    auto [lo, hi] = final_tree.Descendants(c.prefix);
    for (; lo != hi; ++lo) {
      report.layers[static_cast<size_t>(lo->second.layer)].final_cache_bytes.*c.field +=
          lo->second.size;
      report.final_cache_bytes.*c.field += lo->second.size;
    }
  }
}

bool IsRuleDisabled(absl::string_view value) {
  std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  return v.empty() || v == "disabled" || v == "off" || v == "false";
}

absl::StatusOr<double> ParseFraction(absl::string_view key, absl::string_view value) {
  double d = 0;
  if (!absl::SimpleAtod(value, &d) || std::isnan(d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", key, " config value, given \"", value, "\""));
  }
  if (d < 0 || d > 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s config value is outside allowed range (0-1), given '%f'", key, d));
  }
  return d;
}

}  // namespace

EfficiencyReport AnalyzeLayerEfficiency(const std::vector<ExportLayer>& layers, size_t top_n) {
  EfficiencyReport report;
  absl::flat_hash_map<std::string, PathStats> stats;
  {
    StackedTree below;  // layers [0, i), dive's way
    for (size_t i = 0; i < layers.size(); ++i) {
      const int index = static_cast<int>(i);
      for (const LayerFile* f : Leaves(layers[i])) {
        int64_t size = f->size;
        if (f->is_whiteout) {
          std::optional<int64_t> removed = below.WhiteoutSize(f->path);
          if (!removed.has_value()) continue;
          size = *removed;
        }
        PathStats& s = stats[f->path];
        s.cumulative += size;
        if (s.min < 0 || size < s.min) s.min = size;
        s.seen.push_back({index, size, f->is_whiteout});
      }
      below.Apply(layers[i], index, /*overlay=*/false);
    }
  }
  int64_t sum_min = 0;
  int64_t sum_cumulative = 0;
  std::vector<const std::pair<const std::string, PathStats>*> wasted;
  for (const auto& entry : stats) {
    sum_min += entry.second.min;
    sum_cumulative += entry.second.cumulative;
    if (entry.second.seen.size() >= 2) {
      report.wasted_bytes += entry.second.cumulative;
      wasted.push_back(&entry);
    }
  }
  report.efficiency = sum_cumulative == 0
                          ? 1.0
                          : static_cast<double>(sum_min) / static_cast<double>(sum_cumulative);
  report.wasted_path_count = wasted.size();
  size_t keep = top_n == 0 ? wasted.size() : std::min(top_n, wasted.size());
  std::partial_sort(wasted.begin(), wasted.begin() + static_cast<std::ptrdiff_t>(keep),
                    wasted.end(), [](const auto* a, const auto* b) {
                      if (a->second.cumulative != b->second.cumulative) {
                        return a->second.cumulative > b->second.cumulative;
                      }
                      return a->first < b->first;
                    });
  for (size_t i = 0; i < keep; ++i) {
    report.top_wasted.push_back(MakeWasted(wasted[i]->first, wasted[i]->second, layers));
  }

  for (size_t i = 0; i < layers.size(); ++i) {
    LayerSummary summary;
    summary.index = static_cast<int>(i);
    summary.diff_id = layers[i].diff_id;
    summary.created_by = layers[i].created_by;
    summary.size_bytes = layers[i].content_bytes;
    report.size_bytes += summary.size_bytes;
    if (i != 0) report.user_size_bytes += summary.size_bytes;
    report.layers.push_back(std::move(summary));
  }
  if (report.user_size_bytes > 0) {
    report.user_wasted_percent =
        static_cast<double>(report.wasted_bytes) / static_cast<double>(report.user_size_bytes);
  } else if (report.wasted_bytes > 0) {
    report.user_wasted_percent = std::numeric_limits<double>::infinity();
  }

  StackedTree final_tree;
  for (size_t i = 0; i < layers.size(); ++i) {
    final_tree.Apply(layers[i], static_cast<int>(i), /*overlay=*/true);
  }
  AddCacheFacts(final_tree, report);
  return report;
}

absl::StatusOr<std::vector<CiRuleResult>> EvaluateCiRules(const EfficiencyReport& report,
                                                          const CiRuleConfig& config) {
  std::vector<CiRuleResult> results;
  std::vector<std::string> errors;
  auto disabled = [&](const char* key) {
    results.push_back({key, CiRuleStatus::kDisabled, "rule disabled"});
  };

  if (IsRuleDisabled(config.lowest_efficiency)) {
    disabled("lowestEfficiency");
  } else if (absl::StatusOr<double> t = ParseFraction("lowestEfficiency", config.lowest_efficiency);
             !t.ok()) {
    errors.emplace_back(t.status().message());
  } else if (*t > report.efficiency) {
    results.push_back(
        {"lowestEfficiency", CiRuleStatus::kFailed,
         absl::StrFormat("image efficiency is too low (efficiency=%2.2f < threshold=%s)",
                         report.efficiency, absl::StrCat(*t))});
  } else {
    results.push_back(
        {"lowestEfficiency", CiRuleStatus::kPassed,
         absl::StrFormat("efficiency=%2.2f >= threshold=%s", report.efficiency, absl::StrCat(*t))});
  }

  const uint64_t wasted = static_cast<uint64_t>(report.wasted_bytes);
  if (IsRuleDisabled(config.highest_wasted_bytes)) {
    disabled("highestWastedBytes");
  } else if (absl::StatusOr<uint64_t> t = ParseHumanBytes(config.highest_wasted_bytes); !t.ok()) {
    errors.push_back(absl::StrCat("invalid highestWastedBytes config value, given \"",
                                  config.highest_wasted_bytes, "\": ", t.status().message()));
  } else if (wasted > *t) {
    results.push_back(
        {"highestWastedBytes", CiRuleStatus::kFailed,
         absl::StrFormat("too many bytes wasted (wasted-bytes=%d > threshold=%d)", wasted, *t)});
  } else {
    results.push_back({"highestWastedBytes", CiRuleStatus::kPassed,
                       absl::StrFormat("wasted-bytes=%d <= threshold=%d", wasted, *t)});
  }

  if (IsRuleDisabled(config.highest_user_wasted_percent)) {
    disabled("highestUserWastedPercent");
  } else if (absl::StatusOr<double> t =
                 ParseFraction("highestUserWastedPercent", config.highest_user_wasted_percent);
             !t.ok()) {
    errors.emplace_back(t.status().message());
  } else if (report.user_wasted_percent > *t) {
    results.push_back({"highestUserWastedPercent", CiRuleStatus::kFailed,
                       absl::StrFormat("too many bytes wasted, relative to the user bytes added "
                                       "(%%-user-wasted-bytes=%2.2f > threshold=%s)",
                                       report.user_wasted_percent, absl::StrCat(*t))});
  } else {
    results.push_back({"highestUserWastedPercent", CiRuleStatus::kPassed,
                       absl::StrFormat("%%-user-wasted-bytes=%2.2f <= threshold=%s",
                                       report.user_wasted_percent, absl::StrCat(*t))});
  }

  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  return results;
}

bool CiRulesPassed(const std::vector<CiRuleResult>& results) {
  return std::none_of(results.begin(), results.end(),
                      [](const CiRuleResult& r) { return r.status == CiRuleStatus::kFailed; });
}

absl::StatusOr<uint64_t> ParseHumanBytes(absl::string_view text) {
  size_t end = 0;
  int dots = 0;
  int digits = 0;
  while (end < text.size() && (absl::ascii_isdigit(static_cast<unsigned char>(text[end])) ||
                               text[end] == '.' || text[end] == ',')) {
    dots += text[end] == '.';
    digits += absl::ascii_isdigit(static_cast<unsigned char>(text[end])) ? 1 : 0;
    ++end;
  }
  std::string number = absl::StrReplaceAll(text.substr(0, end), {{",", ""}});
  double value = 0;
  if (digits == 0 || dots > 1 || !absl::SimpleAtod(number, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid size \"", text, "\": no number"));
  }
  static constexpr std::pair<const char*, double> kUnits[] = {
      {"", 1.0},       {"b", 1.0},      {"k", 1e3},      {"kb", 1e3},     {"ki", 0x1p10},
      {"kib", 0x1p10}, {"m", 1e6},      {"mb", 1e6},     {"mi", 0x1p20},  {"mib", 0x1p20},
      {"g", 1e9},      {"gb", 1e9},     {"gi", 0x1p30},  {"gib", 0x1p30}, {"t", 1e12},
      {"tb", 1e12},    {"ti", 0x1p40},  {"tib", 0x1p40}, {"p", 1e15},     {"pb", 1e15},
      {"pi", 0x1p50},  {"pib", 0x1p50}, {"e", 1e18},     {"eb", 1e18},    {"ei", 0x1p60},
      {"eib", 0x1p60},
  };
  std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text.substr(end)));
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    value *= scale;
    if (value >= 0x1p64) return absl::InvalidArgumentError(absl::StrCat("too large: ", text));
    return static_cast<uint64_t>(value);
  }
  return absl::InvalidArgumentError(absl::StrCat("unhandled size name: ", unit));
}

}  // namespace dkd::core
