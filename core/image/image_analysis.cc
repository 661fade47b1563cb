// ImageAnalysis (image_analysis.h): built from the engine's inspect and history
// and the export's layers, reclaimable bytes measured, and as a dict.
#include "core/image/image_analysis.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "core/base/status_macros.h"
#include "core/engine/engine_json.h"

namespace dkd::core {
namespace {

// True when a history instruction only changes the image config. Classic
// builder entries say "#(nop)"; BuildKit ones start with the instruction.
bool LooksMetadataOnly(absl::string_view created_by) {
  absl::string_view s = absl::StripAsciiWhitespace(created_by);
  if (size_t nop = s.find("#(nop)"); nop != absl::string_view::npos) {
    s = absl::StripLeadingAsciiWhitespace(s.substr(nop + 6));
    return !absl::StartsWithIgnoreCase(s, "ADD ") && !absl::StartsWithIgnoreCase(s, "COPY ");
  }
  static constexpr absl::string_view kMetadata[] = {
      "ENV ", "CMD ",        "ENTRYPOINT ",  "LABEL ", "EXPOSE ",  "USER ",    "VOLUME ",
      "ARG ", "STOPSIGNAL ", "HEALTHCHECK ", "SHELL ", "ONBUILD ", "WORKDIR ", "MAINTAINER "};
  for (absl::string_view m : kMetadata) {
    if (absl::StartsWith(s, m)) return true;
  }
  return false;
}

void PutItem(std::vector<ReclaimableBytes::Item>& items, ReclaimableBytes::Item item) {
  items.push_back(std::move(item));
}

}  // namespace

const char* BaseImageMethodName(BaseImageMethod m) {
  switch (m) {
    case BaseImageMethod::kLayerPrefix:
      return "layer_prefix";
    case BaseImageMethod::kLabel:
      return "label";
    case BaseImageMethod::kHistory:
      return "history";
    case BaseImageMethod::kNotFound:
      return "not_found";
    case BaseImageMethod::kUnspecified:
      break;
  }
  return "unspecified";
}

const char* ImpactName(Impact i) {
  switch (i) {
    case Impact::kLow:
      return "low";
    case Impact::kMedium:
      return "medium";
    case Impact::kHigh:
      return "high";
    case Impact::kUnspecified:
      break;
  }
  return "unspecified";
}

nlohmann::json OptimizationSuggestion::ToDict() const {
  return {{"category", category},
          {"description", description},
          {"impact", ImpactName(impact)},
          {"effort", ImpactName(effort)},
          {"dockerfile_changes", dockerfile_changes},
          {"size_reduction_mb", size_reduction_mb},
          {"size_measured", size_measured},
          {"evidence", evidence}};
}

std::vector<std::string> ImageAnalysis::LayerDigests() const {
  std::vector<std::string> out;
  for (const ImageLayer& l : layers) {
    if (!l.empty_layer && !l.digest.empty()) out.push_back(l.digest);
  }
  return out;
}

nlohmann::json ImageAnalysis::ToDict() const {
  nlohmann::json layer_list = nlohmann::json::array();
  for (const ImageLayer& l : layers) {
    layer_list.push_back({{"digest", l.digest},
                          {"size", l.size_bytes},
                          {"created_by", l.created_by},
                          {"created", l.created},
                          {"empty_layer", l.empty_layer}});
  }
  nlohmann::json suggestions = nlohmann::json::array();
  for (const auto& s : potential_optimizations) suggestions.push_back(s.ToDict());
  nlohmann::json j = {
      {"image_name", image_name},
      {"image_id", image_id},
      {"size_mb", static_cast<double>(static_cast<int64_t>(SizeMb() * 100 + 0.5)) / 100},
      {"layers", layer_list},
      {"base_image", base_image},
      {"base_image_method", BaseImageMethodName(base_image_method)},
      {"exposed_ports", exposed_ports},
      {"volumes", volumes},
      {"environment_vars", environment_vars},
      {"commands",
       {{"entrypoint", commands.entrypoint}, {"cmd", commands.cmd}, {"history", commands.history}}},
      {"user", user},
      {"has_health_check", has_health_check},
      {"potential_optimizations", suggestions},
      {"optimization_score", optimization_score},
  };
  if (deep) {
    const EfficiencyReport& e = deep->efficiency;
    j["efficiency"] = {{"efficiency", e.efficiency},
                       {"wasted_bytes", e.wasted_bytes},
                       {"user_size_bytes", e.user_size_bytes},
                       {"user_wasted_percent", e.user_wasted_percent},
                       {"files_walked", deep->files_walked}};
  }
  return j;
}

absl::StatusOr<ImageAnalysis> AnalysisFromEngine(absl::string_view image_name,
                                                 const nlohmann::json& inspect,
                                                 const nlohmann::json& history) {
  if (!inspect.is_object()) {
    return absl::InvalidArgumentError("image inspect answer is not a JSON object");
  }
  ASSIGN_OR_RETURN(ImageDetails details, DecodeImageDetails(inspect));
  return AnalysisFromEngine(image_name, details, DecodeImageHistory(history));
}

absl::StatusOr<ImageAnalysis> AnalysisFromEngine(absl::string_view image_name,
                                                 const ImageDetails& inspect,
                                                 const std::vector<ImageHistoryEntry>& history) {
  ImageAnalysis a;
  a.image_name = std::string(image_name);
  a.image_id = inspect.id;
  a.size_bytes = inspect.size;
  a.repo_tags = inspect.repo_tags;
  a.repo_tags.erase(std::remove(a.repo_tags.begin(), a.repo_tags.end(), "<none>:<none>"),
                    a.repo_tags.end());
  if (inspect.has_config) {
    a.user = inspect.user;
    for (const std::string& kv : inspect.env) {
      std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      a.environment_vars[p.first] = p.second;
    }
    a.exposed_ports = inspect.exposed_ports;
    std::sort(a.exposed_ports.begin(), a.exposed_ports.end());
    a.volumes = inspect.volumes;
    std::sort(a.volumes.begin(), a.volumes.end());
    a.commands.entrypoint = inspect.entrypoint;
    a.commands.cmd = inspect.cmd;
    for (const auto& [k, v] : inspect.labels) a.labels[k] = v;
    const std::vector<std::string>& test = inspect.healthcheck;
    a.has_health_check = !test.empty() && test[0] != "NONE";
  }
  const std::vector<std::string>& diff_ids = inspect.layers;

  // History is newest first; layers are listed oldest first.
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    ImageLayer l;
    l.created_by = it->created_by;
    l.comment = it->comment;
    l.size_bytes = it->size;
    if (it->created > 0) {
      l.created = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(it->created),
                                   absl::UTCTimeZone());
    }
    l.empty_layer = l.size_bytes == 0 && LooksMetadataOnly(l.created_by);
    a.commands.history.push_back(l.created_by);
    if (absl::StartsWith(it->id, "sha256:")) a.history_image_ids.push_back(it->id);
    a.layers.push_back(std::move(l));
  }
  // Reconcile with the layer chain: size-0 entries are the ambiguous ones.
  auto non_empty = [&a] {
    return static_cast<size_t>(std::count_if(a.layers.begin(), a.layers.end(),
                                             [](const ImageLayer& l) { return !l.empty_layer; }));
  };
  for (auto it = a.layers.rbegin(); it != a.layers.rend() && non_empty() > diff_ids.size(); ++it) {
    if (!it->empty_layer && it->size_bytes == 0) it->empty_layer = true;
  }
  for (auto it = a.layers.begin(); it != a.layers.end() && non_empty() < diff_ids.size(); ++it) {
    if (it->empty_layer) it->empty_layer = false;
  }
  size_t next = 0;
  for (ImageLayer& l : a.layers) {
    if (!l.empty_layer && next < diff_ids.size()) l.digest = diff_ids[next++];
  }
  if (a.layers.empty()) {
    // No history: one entry per layer, so the chain is still shown.
    for (const std::string& d : diff_ids) a.layers.push_back(ImageLayer{d, 0, "", "", "", false});
  }
  return a;
}

void ApplyExportHistory(const ImageExport& exported, ImageAnalysis& analysis) {
  if (exported.history.size() != analysis.layers.size()) return;
  size_t next = 0;
  for (size_t i = 0; i < analysis.layers.size(); ++i) {
    ImageLayer& l = analysis.layers[i];
    l.empty_layer = exported.history[i].empty_layer;
    l.digest.clear();
    if (!l.empty_layer && next < exported.layers.size()) l.digest = exported.layers[next++].diff_id;
  }
}

ReclaimableBytes MeasureReclaimable(const std::vector<ExportLayer>& layers, size_t top_n) {
  struct Live {
    int64_t size;
    int layer;
  };
  // Ordered, so that deleting a directory is a range erase.
  std::map<std::string, Live> live;
  ReclaimableBytes r;
  std::vector<ReclaimableBytes::Item> items;
  auto remove = [&](std::map<std::string, Live>::iterator it, int layer, bool deleted) {
    if (it->second.size > 0 && it->second.layer != layer) {
      (deleted ? r.deleted_bytes : r.overwritten_bytes) += it->second.size;
      ++(deleted ? r.deleted_paths : r.overwritten_paths);
      PutItem(items, {it->first, it->second.size, it->second.layer, layer, deleted, {}, {}});
    }
    return live.erase(it);
  };
  auto remove_tree = [&](const std::string& path, int layer, bool keep_root) {
    if (!keep_root) {
      if (auto it = live.find(path); it != live.end()) remove(it, layer, true);
    }
    const std::string prefix = path == "/" ? "/" : path + "/";
    for (auto it = live.lower_bound(prefix);
         it != live.end() && absl::StartsWith(it->first, prefix);) {
      it = remove(it, layer, true);
    }
  };
  for (int i = 0; i < static_cast<int>(layers.size()); ++i) {
    // Whiteouts hide lower layers only, so they apply before this layer's files.
    for (const LayerFile& f : layers[i].files) {
      if (f.is_opaque_whiteout) remove_tree(f.path, i, /*keep_root=*/true);
      if (f.is_whiteout) remove_tree(f.path, i, /*keep_root=*/false);
    }
    for (const LayerFile& f : layers[i].files) {
      if (f.is_whiteout || f.is_opaque_whiteout) continue;
      auto it = live.find(f.path);
      if (it != live.end()) {
        if (it->second.layer == i) continue;  // the same path twice in one tar
        remove(it, i, /*deleted=*/false);
      }
      if (f.type == LayerFileType::kRegular && f.size > 0) live.emplace(f.path, Live{f.size, i});
    }
  }
  auto order = [](const ReclaimableBytes::Item& x, const ReclaimableBytes::Item& y) {
    return x.bytes != y.bytes ? x.bytes > y.bytes : x.path < y.path;
  };
  if (top_n > 0 && items.size() > top_n) {
    std::partial_sort(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(top_n),
                      items.end(), order);
    items.resize(top_n);
  } else {
    std::sort(items.begin(), items.end(), order);
  }
  for (auto& item : items) {
    item.added_created_by = layers[item.added_layer].created_by;
    item.removed_created_by = layers[item.removed_layer].created_by;
  }
  r.top = std::move(items);
  return r;
}

bool IsRootUser(absl::string_view user) {
  absl::string_view name = user.substr(0, user.find(':'));
  name = absl::StripAsciiWhitespace(name);
  return name.empty() || name == "root" || name == "0";
}

std::string HumanSize(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  double size = static_cast<double>(bytes);
  size_t unit = 0;
  while (size >= 1000.0 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    size /= 1000.0;
    ++unit;
  }
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.3g%s", size, kUnits[unit]);
  return buf;
}

}  // namespace dkd::core
