// Image suggestions (image_suggestions.h): suggestions with their measured
// impact, score, plan, comparison and report.
#include "core/image/image_suggestions.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/reference.h"

namespace dkd::core {
namespace {

constexpr double kMb = kBytesPerMb;

Impact ImpactForBytes(int64_t bytes) {
  if (bytes >= 10'000'000) return Impact::kHigh;
  if (bytes >= 1'000'000) return Impact::kMedium;
  return Impact::kLow;
}

// "1.2 MB (1234567 bytes)".
std::string Bytes(int64_t bytes) { return absl::StrCat(HumanSize(bytes), " (", bytes, " bytes)"); }

// The history entries the image adds on top of its base, with their index
// among the non-empty layers (-1 for empty entries).
std::vector<std::pair<const ImageLayer*, int>> UserLayers(const ImageAnalysis& a) {
  std::vector<std::pair<const ImageLayer*, int>> out;
  int index = -1;
  for (const ImageLayer& l : a.layers) {
    if (!l.empty_layer) ++index;
    if (index >= a.base_layer_count) out.emplace_back(&l, l.empty_layer ? -1 : index);
  }
  return out;
}

void CacheSuggestion(const ImageAnalysis& a, absl::string_view what, int64_t CacheBytes::*field1,
                     int64_t CacheBytes::*field2, const std::vector<std::string>& changes,
                     const std::vector<absl::string_view>& history_markers,
                     const std::vector<absl::string_view>& history_fixes,
                     std::vector<OptimizationSuggestion>& out) {
  OptimizationSuggestion s;
  s.category = "size";
  s.effort = Impact::kLow;
  s.dockerfile_changes = changes;
  if (a.deep) {
    int64_t total = 0;
    std::vector<std::string> evidence;
    for (const LayerSummary& l : a.deep->efficiency.layers) {
      if (l.index < a.base_layer_count) continue;
      int64_t bytes = l.final_cache_bytes.*field1 + (field2 ? l.final_cache_bytes.*field2 : 0);
      if (bytes == 0) continue;
      total += bytes;
      evidence.push_back(
          absl::StrCat(bytes, " bytes from layer ", l.index, " (", l.created_by, ")"));
    }
    if (total == 0) return;
    s.description = absl::StrCat(what, " left in the image: ", Bytes(total), ", measured");
    s.impact = ImpactForBytes(total);
    s.size_reduction_mb = static_cast<double>(total) / kMb;
    s.size_measured = true;
    s.evidence = absl::StrJoin(evidence, "; ");
    out.push_back(std::move(s));
    return;
  }
  for (const auto& [layer, index] : UserLayers(a)) {
    const std::string& c = layer->created_by;
    bool uses = std::any_of(history_markers.begin(), history_markers.end(),
                            [&](absl::string_view m) { return absl::StrContains(c, m); });
    bool fixed = std::any_of(history_fixes.begin(), history_fixes.end(),
                             [&](absl::string_view m) { return absl::StrContains(c, m); });
    if (!uses || fixed) continue;
    // Caches are typically a fifth of what the install step writes.
    const int64_t estimate = layer->size_bytes / 5;
    s.description = absl::StrCat(what, " probably left in the image by layer ", index, ": about ",
                                 HumanSize(estimate), " (estimate; --deep measures it)");
    s.impact = ImpactForBytes(estimate) == Impact::kLow ? Impact::kLow : Impact::kMedium;
    s.size_reduction_mb = static_cast<double>(estimate) / kMb;
    s.size_measured = false;
    s.evidence = absl::StrCat("layer ", index, " (", HumanSize(layer->size_bytes), ") runs: ", c);
    out.push_back(std::move(s));
    return;
  }
}

void ReclaimSuggestions(const ImageAnalysis& a, std::vector<OptimizationSuggestion>& out) {
  if (!a.deep) return;
  const ReclaimableBytes& r = a.deep->reclaimable;
  for (bool deleted : {true, false}) {
    const int64_t bytes = deleted ? r.deleted_bytes : r.overwritten_bytes;
    if (bytes == 0) continue;
    OptimizationSuggestion s;
    s.category = "size";
    s.impact = ImpactForBytes(bytes);
    s.effort = Impact::kMedium;
    s.size_reduction_mb = static_cast<double>(bytes) / kMb;
    s.size_measured = true;
    const size_t paths = deleted ? r.deleted_paths : r.overwritten_paths;
    s.description =
        deleted ? absl::StrCat(Bytes(bytes), " in ", paths,
                               " files are deleted by a later layer but still ship in the layer "
                               "that added them")
                : absl::StrCat(Bytes(bytes), " in ", paths,
                               " files are replaced by a later layer's copy; every copy ships");
    s.dockerfile_changes =
        deleted ? std::vector<std::string>{"Delete temporary files in the same RUN instruction "
                                           "that creates them",
                                           "Or build them in a separate stage and COPY --from= "
                                           "only the results"}
                : std::vector<std::string>{"Write each file in one instruction only (merge the "
                                           "RUN/COPY steps that rewrite it)",
                                           "Order instructions so that files which change are "
                                           "written once, last"};
    std::vector<std::string> evidence;
    for (const auto& item : r.top) {
      if (item.deleted != deleted || evidence.size() >= 3) continue;
      evidence.push_back(absl::StrCat(item.path, ": ", item.bytes, " bytes added by layer ",
                                      item.added_layer, " (", item.added_created_by, "), ",
                                      deleted ? "deleted" : "replaced", " by layer ",
                                      item.removed_layer, " (", item.removed_created_by, ")"));
    }
    s.evidence = absl::StrJoin(evidence, "; ");
    out.push_back(std::move(s));
  }
}

struct Family {
  const char* name;
  double full_mb;
  double slim_mb;
};

bool IsSlimTag(absl::string_view tag) {
  for (absl::string_view m : {"slim", "alpine", "distroless", "jre", "minimal", "busybox"}) {
    if (absl::StrContains(tag, m)) return true;
  }
  return false;
}

bool IsDebianCodename(absl::string_view s) {
  return s == "bookworm" || s == "bullseye" || s == "buster" || s == "trixie";
}

}  // namespace

bool UsesLatestTag(absl::string_view image) {
  if (IsImageId(std::string_view(image.data(), image.size()))) return false;
  auto ref = ParseImageReference(std::string_view(image.data(), image.size()));
  if (!ref.ok()) return false;
  return (ref->tag.empty() && ref->digest.empty()) || ref->tag == "latest";
}

std::optional<SlimVariant> SlimVariantFor(absl::string_view image) {
  auto ref = ParseImageReference(std::string_view(image.data(), image.size()));
  if (!ref.ok()) return std::nullopt;
  const std::string& path = ref->path;
  const std::string family = path.substr(path.rfind('/') + 1);
  std::string tag = ref->tag.empty() || ref->tag == "latest" ? "" : ref->tag;
  if (IsSlimTag(tag) || absl::StrContains(path, "distroless")) return std::nullopt;
  // Keep the registry and repository of the input for same-family variants.
  std::string repo = ref->domain == kDefaultDomain ? ref->FamiliarName() : ref->FullName();
  const std::string version = tag.substr(0, tag.find('-'));
  const std::string rest = tag.find('-') == std::string::npos ? "" : tag.substr(tag.find('-') + 1);
  auto same = [&](std::string new_tag, double full, double slim) {
    return SlimVariant{absl::StrCat(repo, ":", new_tag), full, slim};
  };
  if (family == "python" || family == "ruby") {
    const double full = family == "python" ? 1000 : 1000, slim = family == "python" ? 130 : 200;
    if (tag.empty()) return same("slim", full, slim);
    if (rest.empty()) return same(version + "-slim", full, slim);
    if (IsDebianCodename(rest)) return same(absl::StrCat(version, "-slim-", rest), full, slim);
    return std::nullopt;
  }
  if (family == "node") {
    if (tag.empty()) return same("slim", 1100, 200);
    if (rest.empty() || IsDebianCodename(rest)) return same(tag + "-slim", 1100, 200);
    return std::nullopt;
  }
  if (family == "debian") {
    return same(tag.empty() ? "bookworm-slim" : tag + "-slim", 117, 75);
  }
  if (family == "golang") return SlimVariant{"gcr.io/distroless/static-debian12", 800, 2};
  if (family == "rust") return SlimVariant{"debian:bookworm-slim", 1400, 75};
  if (family == "openjdk" || family == "eclipse-temurin") {
    std::string v = version.empty() ? "21" : version;
    return SlimVariant{absl::StrCat("eclipse-temurin:", v, "-jre"), 470, 270};
  }
  if (family == "maven" || family == "gradle") {
    std::string v = "21";
    if (size_t t = tag.find("temurin-"); t != std::string::npos) {
      v = tag.substr(t + 8, tag.find('-', t + 8) - (t + 8));
    }
    return SlimVariant{absl::StrCat("eclipse-temurin:", v, "-jre"), 500, 270};
  }
  return std::nullopt;
}

std::vector<OptimizationSuggestion> SuggestFor(const ImageAnalysis& a) {
  std::vector<OptimizationSuggestion> out;
  CacheSuggestion(a, "apt package lists and cache", &CacheBytes::apt_lists, &CacheBytes::apt_cache,
                  {"RUN apt-get update && apt-get install -y --no-install-recommends PACKAGES && "
                   "rm -rf /var/lib/apt/lists/*",
                   "Run `apt-get clean` in the same RUN instruction"},
                  {"apt-get install", "apt install"}, {"/var/lib/apt/lists"}, out);
  CacheSuggestion(a, "pip cache", &CacheBytes::pip_cache, nullptr,
                  {"RUN pip install --no-cache-dir ...", "Or set ENV PIP_NO_CACHE_DIR=1"},
                  {"pip install", "pip3 install"}, {"--no-cache-dir", "PIP_NO_CACHE_DIR"}, out);
  CacheSuggestion(a, "npm cache", &CacheBytes::npm_cache, nullptr,
                  {"RUN npm ci --omit=dev && npm cache clean --force"}, {"npm install", "npm ci"},
                  {"npm cache clean"}, out);
  ReclaimSuggestions(a, out);

  int small = 0, user_layers = 0;
  for (const auto& [layer, index] : UserLayers(a)) {
    if (index < 0) continue;
    ++user_layers;
    if (layer->size_bytes < 1'000'000) ++small;
  }
  if (small >= 5 || user_layers > 30) {
    OptimizationSuggestion s;
    s.category = "layers";
    s.description = absl::StrCat(user_layers, " layers on top of the base, ", small,
                                 " of them under 1 MB: merge them");
    s.impact = user_layers > 30 || small >= 10 ? Impact::kMedium : Impact::kLow;
    s.effort = Impact::kLow;
    s.dockerfile_changes = {"Combine consecutive RUN instructions with &&",
                            "Copy related files with one COPY instruction"};
    s.size_measured = true;
    s.evidence = absl::StrCat(small, " small layers of ", user_layers);
    out.push_back(std::move(s));
  }
  if (IsRootUser(a.user)) {
    OptimizationSuggestion s;
    s.category = "security";
    s.description = "The image runs as root: a process that escapes its sandbox is root";
    s.impact = Impact::kHigh;
    s.effort = Impact::kLow;
    s.dockerfile_changes = {"RUN adduser -D -u 10001 app  (Debian: useradd --uid 10001 app)",
                            "USER app"};
    s.size_measured = true;
    s.evidence = absl::StrCat("image config User is \"", a.user, "\"");
    out.push_back(std::move(s));
  }
  if (!a.has_health_check) {
    OptimizationSuggestion s;
    s.category = "reliability";
    s.description = "No HEALTHCHECK: the engine cannot tell a hung container from a healthy one";
    s.impact = Impact::kMedium;
    s.effort = Impact::kLow;
    std::string port = a.exposed_ports.empty() ? "8080" : a.exposed_ports.front();
    port = port.substr(0, port.find('/'));
    s.dockerfile_changes = {absl::StrCat(
        "HEALTHCHECK --interval=30s --timeout=3s CMD wget -q --spider http://localhost:", port,
        "/ || exit 1")};
    s.size_measured = true;
    s.evidence = "image config has no Healthcheck";
    out.push_back(std::move(s));
  }
  std::vector<std::string> latest;
  if (UsesLatestTag(a.image_name)) latest.push_back(absl::StrCat("image ", a.image_name));
  const bool base_named = a.base_image_method == BaseImageMethod::kLayerPrefix ||
                          a.base_image_method == BaseImageMethod::kLabel;
  if (base_named && UsesLatestTag(a.base_image)) {
    latest.push_back(absl::StrCat("base image ", a.base_image));
  }
  if (!latest.empty()) {
    OptimizationSuggestion s;
    s.category = "reproducibility";
    s.description = "`latest` tags: rebuilds and deployments may silently change";
    s.impact = Impact::kLow;
    s.effort = Impact::kLow;
    s.dockerfile_changes = {"FROM IMAGE:VERSION (or IMAGE@sha256:DIGEST)",
                            "Tag builds with a version: docker build -t app:1.2.3 ."};
    s.size_measured = true;
    s.evidence = absl::StrJoin(latest, "; ");
    out.push_back(std::move(s));
  }
  if (base_named) {
    if (auto slim = SlimVariantFor(a.base_image)) {
      const double base_mb = a.base_image_size_bytes >= 0
                                 ? static_cast<double>(a.base_image_size_bytes) / kMb
                                 : slim->typical_full_mb;
      const double saving = std::max(0.0, base_mb - slim->typical_slim_mb);
      if (base_mb >= 100 && saving > 0) {
        OptimizationSuggestion s;
        s.category = "base_image";
        s.description = absl::StrCat("Large base ", a.base_image, " (",
                                     HumanSize(static_cast<int64_t>(base_mb * kMb)),
                                     ") has a slim variant ", slim->image, ": about ",
                                     static_cast<int64_t>(saving), " MB smaller (estimate)");
        s.impact = saving >= 100 ? Impact::kHigh : Impact::kMedium;
        s.effort = Impact::kMedium;
        s.dockerfile_changes = {absl::StrCat("FROM ", slim->image),
                                "Or build in a full stage and copy the result into it"};
        s.size_reduction_mb = saving;
        s.size_measured = false;
        s.evidence = absl::StrCat("base found by ", BaseImageMethodName(a.base_image_method));
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

int OptimizationScore(const ImageAnalysis& a) {
  int score = 100;
  for (const auto& s : a.potential_optimizations) {
    score -= s.impact == Impact::kHigh ? 15 : s.impact == Impact::kMedium ? 8 : 3;
  }
  if (a.deep) score -= static_cast<int>(std::lround(40.0 * (1.0 - a.deep->efficiency.efficiency)));
  return std::clamp(score, 0, 100);
}

std::vector<OptimizationSuggestion> ImplementationPlan(std::vector<OptimizationSuggestion> s) {
  std::stable_sort(s.begin(), s.end(), [](const auto& x, const auto& y) {
    if (x.impact != y.impact) return x.impact > y.impact;
    if (x.effort != y.effort) return x.effort < y.effort;
    return x.size_reduction_mb > y.size_reduction_mb;
  });
  return s;
}

ImageComparison CompareAnalyses(ImageAnalysis a, ImageAnalysis b) {
  ImageComparison c;
  c.size_difference_bytes = b.size_bytes - a.size_bytes;
  const std::vector<std::string> la = a.LayerDigests(), lb = b.LayerDigests();
  c.layer_count_difference = static_cast<int>(lb.size()) - static_cast<int>(la.size());
  c.score_difference = b.optimization_score - a.optimization_score;
  const std::set<std::string> in_b(lb.begin(), lb.end());
  for (const std::string& d : std::set<std::string>(la.begin(), la.end())) {
    if (in_b.count(d) > 0) ++c.shared_layers;
  }
  const int64_t diff = c.size_difference_bytes;
  c.summary.push_back(
      diff == 0 ? absl::StrCat(b.image_name, " is the same size as ", a.image_name)
                : absl::StrCat(b.image_name, " is ", HumanSize(diff < 0 ? -diff : diff),
                               diff < 0 ? " smaller" : " larger", " than ", a.image_name));
  c.summary.push_back(
      absl::StrCat(la.size(), " vs ", lb.size(), " layers, ", c.shared_layers, " shared"));
  c.summary.push_back(
      absl::StrCat("optimization score ", a.optimization_score, " vs ", b.optimization_score));
  if (a.deep && b.deep) {
    c.summary.push_back(absl::StrCat("wasted ", HumanSize(a.deep->efficiency.wasted_bytes), " vs ",
                                     HumanSize(b.deep->efficiency.wasted_bytes)));
  }
  c.a = std::move(a);
  c.b = std::move(b);
  return c;
}

OptimizationReport BuildReport(ImageAnalysis analysis) {
  OptimizationReport r;
  r.implementation_plan = ImplementationPlan(analysis.potential_optimizations);
  double measured = 0, estimated = 0;
  int high = 0;
  for (const auto& s : r.implementation_plan) {
    (s.size_measured ? measured : estimated) += s.size_reduction_mb;
    if (s.impact == Impact::kHigh) ++high;
  }
  r.total_potential_savings_mb = measured + estimated;
  r.summary.push_back(absl::StrCat(analysis.image_name, ": ", HumanSize(analysis.size_bytes),
                                   ", optimization score ", analysis.optimization_score, "/100"));
  r.summary.push_back(
      absl::StrCat(r.implementation_plan.size(), " suggestions, ", high, " of high impact"));
  r.summary.push_back(
      absl::StrCat("potential savings: ", HumanSize(static_cast<int64_t>(measured * kMb)),
                   " measured, ", HumanSize(static_cast<int64_t>(estimated * kMb)), " estimated"));
  if (analysis.deep) {
    const EfficiencyReport& e = analysis.deep->efficiency;
    r.summary.push_back(absl::StrCat("efficiency ", std::lround(e.efficiency * 10000) / 100.0,
                                     "%, wasted ", HumanSize(e.wasted_bytes)));
  }
  r.analysis = std::move(analysis);
  return r;
}

}  // namespace dkd::core
