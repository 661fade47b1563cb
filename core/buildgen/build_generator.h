// BuildGenerator writes multi-stage Dockerfiles, their .dockerignore, and bash
// build scripts from a typed configuration (the spec's config dict).
//
// Every template has the same shape: a `build` stage that copies dependency
// manifests before sources (so dependency layers stay cached), and a
// `runtime` stage holding only what runs, owned by root and run as a
// non-root user, with exec-form ENTRYPOINT/CMD, OCI labels, and EXPOSE plus a
// HEALTHCHECK when a port is given. Toolchain versions are pinned by global
// ARGs (PYTHON_VERSION, NODE_VERSION, ...). Output builds with the classic
// builder; BuildKit cache mounts appear only with use_buildkit_cache (the
// engine's built-in frontend reads them), and a `# syntax` line only when
// config.syntax names a frontend image. Generated Dockerfiles lint clean under
// DockerfileLinter, and generated scripts pass shellcheck.
//
// The runtime image's family is chosen from its name: "alpine" -> apk and
// `adduser -D`; "busybox" -> no package manager, `adduser -D` when the
// applet exists, else a direct /etc/passwd entry (Debian's busybox-static
// has no adduser); "distroless" or "scratch" -> no shell, so no RUN, user
// 65532; anything else -> the Debian family (apt-get, useradd).
//
// Default health checks use a tool the runtime image has: python ->
// `python -c` urllib GET of "/"; node -> `node -e` http GET of "/" (any
// status below 500 is healthy); alpine and busybox runtimes -> `wget -q
// --spider`; other Debian-family runtimes (java, rust, dotnet, generic) ->
// a bash TCP connect to the port. Callers override with `health_check`.
//
// Every caller value is validated first: a control character anywhere, an
// unknown build_type or package_manager, a port above 65535, a missing
// project name where one is needed is InvalidArgument naming the field
// (`config.environment["X"]`).
//
// BuildGenerator holds no state; all methods are const and thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "core/buildgen/build_types.h"

namespace dkd::core {

struct GeneratedDockerfile {
  std::string dockerfile;
  std::string dockerignore;
  MultiStageBuild build;
};

struct GeneratedBuildScript {
  BuildScript script;
  std::string shell_script;
};

class BuildGenerator {
 public:
  // Builds the typed stages for `config`, dispatching on build_type
  // (python, node, java, go, rust, dotnet, generic). InvalidArgument naming
  // the field on any invalid value.
  absl::StatusOr<MultiStageBuild> CreateMultiStageBuild(const BuildConfig& config) const;

  // CreateMultiStageBuild, rendered, plus a .dockerignore that keeps VCS data,
  // secrets (.env) and local build output out of the context but never the
  // manifests the Dockerfile copies.
  absl::StatusOr<GeneratedDockerfile> GenerateDockerfile(const BuildConfig& config) const;

  // `config` with its empty paths defaulted ("Dockerfile", ".") and its bash
  // text. InvalidArgument naming the field for a control character, a bad tag
  // or push target, a bad build-arg name, or a dependency that is neither a
  // .sh path nor an image.
  absl::StatusOr<GeneratedBuildScript> GenerateBuildScript(const BuildScript& config) const;
};

}  // namespace dkd::core
