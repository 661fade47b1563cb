// The build.base_registries gate: every image a build can make the engine
// resolve must come from an allowed registry.
//
// The Dockerfile is read as the builder that will run it reads it
// (engine_dockerfile.h), and every image it can reach is listed: FROM, COPY
// --from and ADD --from, RUN --mount=...,from=..., the same inside ONBUILD
// triggers (they run in a downstream build), and on BuildKit the `# syntax`
// frontend image and the BUILDKIT_SYNTAX build arg. Stage names and indexes
// are recognised as the classic builder does (names case-insensitively,
// only stages that come earlier; numeric `--from` as an index); anything else
// is an image. Where dkd cannot be sure how the engine will read a name (shell
// quoting, escapes, `${VAR...}` forms other than `:-` and `:+`), it is
// refused rather than guessed. Images named by id (a hex string, which the
// engine matches as an id prefix, or `sha256:...`) bypass every registry and
// are refused.
//
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/policy/engine_dockerfile.h"

namespace dkd::core {

enum class BuilderKind { kClassic, kBuildKit };

// The Dockerfile as `builder` reads it: one reading for the classic builder
// (no heredocs); for BuildKit, whose frontend may or may not read heredocs
// (it depends on its version), both. InvalidArgument when a reading fails.
absl::StatusOr<std::vector<EngineDockerfile>> ParseAsBuilder(const std::string& dockerfile,
                                                             BuilderKind builder);

// An image a build can make the engine resolve.
struct ReachableImage {
  std::string image;  // after ARG expansion
  std::string where;  // "FROM", "COPY --from", "ONBUILD COPY --from", "# syntax", ...
  int line = 0;       // 0 when not from a line (a build arg)
};

// Every image the Dockerfile can reach when run by `builder` with
// `build_args`. InvalidArgument when it does not parse as that builder reads
// it, or names an image in a form dkd will not guess at, or by image id.
absl::StatusOr<std::vector<ReachableImage>> ReachableImages(
    const std::string& dockerfile, const std::map<std::string, std::string>& build_args,
    BuilderKind builder);

// PermissionDenied naming the image, the line and build.base_registries when a
// reachable image's registry is not in `allowed` (empty allows all and checks
// nothing). InvalidArgument as ReachableImages.
absl::Status CheckBaseImages(const std::string& dockerfile,
                             const std::map<std::string, std::string>& build_args,
                             const std::vector<std::string>& allowed, BuilderKind builder);

// BuildKit's RUN options that leave the step's sandbox: `--network` other
// than default/none (unless `allow_host_network`) and `--security` other than
// sandbox (unless `allow_insecure`), in RUN and ONBUILD RUN, in every reading
// of the Dockerfile. PermissionDenied naming the line and the config key;
// InvalidArgument when the Dockerfile does not parse.
absl::Status CheckBuildKitRunOptions(const std::string& dockerfile, bool allow_host_network,
                                     bool allow_insecure);

}  // namespace dkd::core
