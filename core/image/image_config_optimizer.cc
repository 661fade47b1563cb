// OptimizeConfig: the spec's optimize_image, applied to a BuildConfig.
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/image/image_suggestions.h"

namespace dkd::core {
namespace {

// Rewrites one shell command so that package managers leave no cache behind.
// Appends a note per change to `notes`.
std::string DropCaches(const std::string& field, std::string cmd, std::vector<std::string>& notes) {
  const std::string before = cmd;
  if ((absl::StrContains(cmd, "pip install") || absl::StrContains(cmd, "pip3 install")) &&
      !absl::StrContains(cmd, "--no-cache-dir")) {
    cmd = absl::StrReplaceAll(cmd, {{"pip install", "pip install --no-cache-dir"},
                                    {"pip3 install", "pip3 install --no-cache-dir"}});
  }
  if (absl::StrContains(cmd, "apt-get install")) {
    if (!absl::StrContains(cmd, "--no-install-recommends")) {
      cmd = absl::StrReplaceAll(cmd,
                                {{"apt-get install", "apt-get install --no-install-recommends"}});
    }
    if (!absl::StrContains(cmd, "/var/lib/apt/lists"))
      absl::StrAppend(&cmd, " && rm -rf /var/lib/apt/lists/*");
  }
  if ((absl::StrContains(cmd, "npm install") || absl::StrContains(cmd, "npm ci")) &&
      !absl::StrContains(cmd, "npm cache clean")) {
    absl::StrAppend(&cmd, " && npm cache clean --force");
  }
  if (cmd != before) notes.push_back(absl::StrCat(field, ": package caches dropped: ", cmd));
  return cmd;
}

}  // namespace

ImageOptimizeResult OptimizeConfig(const BuildConfig& config, const ImageAnalysis* analysis) {
  ImageOptimizeResult r;
  r.optimized_config = config;
  BuildConfig& out = r.optimized_config;

  // The runtime stage is what ships: give it the slim variant of what was asked
  // for, keeping the version; else the analysed image's base.
  std::string runtime =
      !config.runtime_base_image.empty() ? config.runtime_base_image : config.base_image;
  if (runtime.empty() && analysis != nullptr &&
      (analysis->base_image_method == BaseImageMethod::kLayerPrefix ||
       analysis->base_image_method == BaseImageMethod::kLabel)) {
    runtime = analysis->base_image;
  }
  if (auto slim = runtime.empty() ? std::nullopt : SlimVariantFor(runtime)) {
    r.suggested_base_image = slim->image;
    out.runtime_base_image = slim->image;
    const double saving = slim->typical_full_mb - slim->typical_slim_mb;
    r.optimization_notes.push_back(
        absl::StrCat("runtime stage uses ", slim->image, " instead of ", runtime, ": typically ",
                     static_cast<int64_t>(saving), " MB smaller (estimate)"));
    OptimizationSuggestion s;
    s.category = "base_image";
    s.description = absl::StrCat("Use the slim variant ", slim->image, " for the runtime stage");
    s.impact = saving >= 100 ? Impact::kHigh : Impact::kMedium;
    s.effort = Impact::kLow;
    s.dockerfile_changes = {absl::StrCat("FROM ", slim->image, " AS runtime")};
    s.size_reduction_mb = saving;
    s.size_measured = false;
    s.evidence = absl::StrCat("config asks for ", runtime);
    r.suggestions.push_back(std::move(s));
  } else if (!runtime.empty()) {
    r.suggested_base_image = runtime;
  }

  for (const std::string* image : {&config.base_image, &config.runtime_base_image}) {
    if (image->empty() || !UsesLatestTag(*image)) continue;
    r.optimization_notes.push_back(
        absl::StrCat(*image, " is a moving `latest` tag: pin a version or digest"));
    OptimizationSuggestion s;
    s.category = "reproducibility";
    s.description = absl::StrCat("Pin ", *image, " to a version");
    s.impact = Impact::kLow;
    s.effort = Impact::kLow;
    s.dockerfile_changes = {"FROM IMAGE:VERSION (or IMAGE@sha256:DIGEST)"};
    s.size_measured = true;
    s.evidence = absl::StrCat("config image ", *image);
    r.suggestions.push_back(std::move(s));
  }

  if (!config.user.empty() && IsRootUser(config.user)) {
    out.user.clear();  // BuildGenerator's default: a created, non-root "app".
    r.optimization_notes.push_back(
        absl::StrCat("user \"", config.user, "\" is root: the runtime stage runs as app instead"));
    OptimizationSuggestion s;
    s.category = "security";
    s.description = "Run as a non-root user";
    s.impact = Impact::kHigh;
    s.effort = Impact::kLow;
    s.dockerfile_changes = {"USER app"};
    s.size_measured = true;
    s.evidence = absl::StrCat("config user \"", config.user, "\"");
    r.suggestions.push_back(std::move(s));
  }

  for (size_t i = 0; i < out.runtime_commands.size(); ++i) {
    out.runtime_commands[i] = DropCaches(absl::StrCat("runtime_commands[", i, "]"),
                                         out.runtime_commands[i], r.optimization_notes);
  }
  for (size_t i = 0; i < out.build_commands.size(); ++i) {
    out.build_commands[i] = DropCaches(absl::StrCat("build_commands[", i, "]"),
                                       out.build_commands[i], r.optimization_notes);
  }

  if (config.port == 0 && config.health_check.empty()) {
    r.optimization_notes.push_back(
        "no port and no health_check: the image gets no HEALTHCHECK; set health_check");
  }
  if (analysis != nullptr) {
    for (const auto& s : analysis->potential_optimizations) {
      r.suggestions.push_back(s);
      if (s.size_measured && s.size_reduction_mb > 0) {
        r.optimization_notes.push_back(absl::StrCat(analysis->image_name, ": ", s.description));
      }
    }
  }
  if (r.optimization_notes.empty()) r.optimization_notes.push_back("nothing to change");
  return r;
}

}  // namespace dkd::core
