// Language templates of BuildGenerator: each fills a Plan (build stage,
// runtime stage, pinned versions, default command and health check) for one
// build_type. Internal to BuildGenerator, which validates the config first
// and turns the Plan into a MultiStageBuild; see build_generator.h for the
// choices each template makes. All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/buildgen/build_types.h"

namespace dkd::core::build_templates {

// The runtime image's family decides how packages are installed, how the
// user is created and which tool checks health.
enum class Family { kDebian, kAlpine, kBusybox, kNoShell };

// "distroless"/"scratch" -> kNoShell, "busybox" -> kBusybox, "alpine" ->
// kAlpine, anything else -> kDebian (by substring of the lower-cased name).
Family FamilyOf(const std::string& image);

// What a template decides; BuildGenerator turns it into stages.
struct Plan {
  BuildStage build;  // base_image "" = single-stage image
  BuildStage runtime;
  std::map<std::string, std::string> global_args;
  std::string build_step;  // replaced by config.build_commands
  std::string post_build;  // always runs after the build step (prune, collect artifact)
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> health;  // overrides the family default when set
  std::string dockerignore;         // template-specific .dockerignore lines
};

// InvalidArgument "<field>: <why>".
absl::Status Invalid(const std::string& field, const std::string& why);

// True when `s` is non-empty and made of [A-Za-z0-9] and `extra`.
bool OnlyChars(const std::string& s, const char* extra);

// Each fills `p` (whose stages already carry names and working directories)
// for a validated config. InvalidArgument for a bad package_manager or a
// missing project name.
absl::Status PythonTemplate(const BuildConfig& c, Plan& p);
absl::Status NodeTemplate(const BuildConfig& c, Plan& p);
absl::Status JavaTemplate(const BuildConfig& c, Plan& p);
absl::Status GoTemplate(const BuildConfig& c, Plan& p);
absl::Status RustTemplate(const BuildConfig& c, Plan& p);
absl::Status DotnetTemplate(const BuildConfig& c, Plan& p);
absl::Status GenericTemplate(const BuildConfig& c, Plan& p);

// The runtime stage's root-only setup: extra packages, then creation of
// `user`. "" when there is nothing to do. InvalidArgument when packages are
// asked of an image without a package manager.
absl::StatusOr<std::string> SetupCommand(const BuildConfig& c, Family family,
                                         const std::string& base, const std::string& user);

// The family's default health check for `port`; empty for kNoShell.
std::vector<std::string> DefaultHealthCheck(Family family, uint32_t port);

}  // namespace dkd::core::build_templates
