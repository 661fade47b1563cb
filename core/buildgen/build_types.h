// Plain value types of BuildGenerator, mirroring proto/dkd/v1/build_generator.proto
// (same field names), and their renderers: a BuildStage and a MultiStageBuild
// render to Dockerfile text, a BuildScript to a bash script.
//
// Rendering is where caller values meet generated text, so every renderer
// validates before it writes: a value with a control character, a malformed
// ARG/ENV name or label key is InvalidArgument naming the field
// (`stages[1].environment["X"]`). Values are written quoted (Dockerfile
// double quotes with `$` escaped, exec-form JSON, single-quoted shell words),
// so they are data, never instructions. Shell commands (`RUN` text) are taken
// as given, minus control characters: they are shell by contract.
//
// Maps are std::map so output is deterministic. All types are plain values;
// const methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dkd::core {

// Input to the generators (the spec's config dict, typed). See the proto for
// the meaning of each field.
struct BuildConfig {
  std::string build_type;
  std::string base_image;
  std::string runtime_base_image;
  std::vector<std::string> build_commands;
  std::vector<std::string> runtime_commands;
  std::map<std::string, std::string> metadata;
  std::string language_version;
  std::string package_manager;
  std::vector<std::string> entrypoint;
  std::vector<std::string> command;
  uint32_t port = 0;
  std::vector<std::string> health_check;
  std::vector<std::string> extra_packages;
  std::map<std::string, std::string> environment;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> build_args;
  std::string user;
  std::string working_directory;
  bool use_buildkit_cache = false;
  std::string main;
  std::string syntax;  // `# syntax=` frontend image; "" = none.
};

// A COPY instruction. `from_stage` "" copies from the build context.
struct CopyCommand {
  std::vector<std::string> sources;
  std::string destination;
  std::string from_stage;
  std::string chown;
};

// One body instruction: a shell-form RUN, or a COPY.
struct StageInstruction {
  std::optional<std::string> run;
  std::optional<CopyCommand> copy;

  static StageInstruction Run(std::string command);
  static StageInstruction Copy(CopyCommand copy);
};

struct HealthCheck {
  std::vector<std::string> test;  // exec form; empty = no HEALTHCHECK
  int32_t interval_seconds = 0;
  int32_t timeout_seconds = 0;
  int32_t start_period_seconds = 0;
  int32_t retries = 0;
};

// One stage of a Dockerfile. Rendered in this order: FROM, ARG, setup RUN
// (as root), ENV, WORKDIR, copy_commands, commands, EXPOSE, LABEL, USER,
// HEALTHCHECK, ENTRYPOINT, CMD. Labels come late so a new version label does
// not invalidate the cached layers above it.
struct BuildStage {
  std::string name;
  std::string base_image;
  std::vector<StageInstruction> commands;
  std::vector<CopyCommand> copy_commands;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> environment;
  std::string working_directory;
  std::string user;
  std::map<std::string, std::string> args;
  std::vector<uint32_t> expose_ports;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  HealthCheck health_check;
  std::vector<std::string> setup_commands;
  // Extra `--mount=` flags for every RUN in `commands` (BuildKit cache mounts);
  // not part of the proto: the renderer's choice, empty for the classic builder.
  std::vector<std::string> run_mounts;

  // Renders the stage. `field` prefixes error messages ("stages[0]").
  // Returns InvalidArgument naming the offending field.
  absl::StatusOr<std::string> ToDockerfile(const std::string& field = "stage") const;
};

// The spec's MultiStageBuild: global ARGs, then each stage in order. The last
// stage is the image produced; nothing follows it.
struct MultiStageBuild {
  std::vector<BuildStage> stages;
  std::string final_stage;
  std::map<std::string, std::string> metadata;
  std::map<std::string, std::string> global_args;
  // Parser directives written first ("syntax" -> "docker/dockerfile:1"); only
  // set when BuildKit features are used.
  std::map<std::string, std::string> directives;

  // Renders the whole Dockerfile. InvalidArgument when there is no stage, when
  // final_stage is not the last stage's name, or when a value is invalid.
  absl::StatusOr<std::string> ToDockerfile() const;
};

// The spec's BuildScript, plus the build flags it renders. Also the input of
// GenerateBuildScript (the proto's BuildScriptConfig, which has the same
// fields), which fills in the default paths.
struct BuildScript {
  std::string name;
  std::string dockerfile_path;
  std::string context_path;
  std::map<std::string, std::string> build_args;
  std::vector<std::string> tags;
  std::vector<std::string> push_targets;
  // An entry ending in ".sh" is a build script run (with bash) first; any other
  // entry is an image reference that must exist locally.
  std::vector<std::string> dependencies;
  std::string target;
  bool no_cache = false;
  bool pull = false;
  std::map<std::string, std::string> labels;

  // Renders a bash script: `set -euo pipefail`, relative paths resolved from
  // the script's own directory, dependencies checked or run, one
  // `docker build` with every tag, then `docker push` of each push target
  // (tagged from the first tag first when it is not one of the tags). Every
  // value is single-quoted. InvalidArgument on control characters, a bad
  // build-arg name, or no tag.
  absl::StatusOr<std::string> ToShellScript() const;
};

// Returns InvalidArgument naming `field` unless `name` is a valid ARG/ENV
// name: [A-Za-z_][A-Za-z0-9_]*.
absl::Status ValidateVariableName(const std::string& field, const std::string& name);

// Returns InvalidArgument naming `field` unless `key` is a label key made of
// [A-Za-z0-9._/-] (OCI and reverse-DNS keys).
absl::Status ValidateLabelKey(const std::string& field, const std::string& key);

// Field path helper: MapField("config.environment", "X") ->
// `config.environment["X"]`, with the key JSON-escaped.
std::string MapField(const std::string& field, const std::string& key);

}  // namespace dkd::core
