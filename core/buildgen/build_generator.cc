// BuildGenerator (build_generator.h): config validation, then the Dockerfile,
// .dockerignore and build script assembled from a template's Plan.
#include "core/buildgen/build_generator.h"

#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/reference.h"
#include "core/base/shell_quote.h"
#include "core/base/status_macros.h"
#include "core/buildgen/build_templates.h"

namespace dkd::core {
namespace {

using build_templates::Family;
using build_templates::Invalid;
using build_templates::OnlyChars;
using build_templates::Plan;

// Checks every string of the config for control characters, then the rules
// of each field.

absl::Status Validate(const BuildConfig& c) {
  auto check_list = [](const std::string& field, const std::vector<std::string>& v) {
    for (size_t i = 0; i < v.size(); ++i) {
      RETURN_IF_ERROR(CheckNoControlCharacters(absl::StrCat(field, "[", i, "]"), v[i]));
    }
    return absl::OkStatus();
  };
  auto check_map = [](const std::string& field, const std::map<std::string, std::string>& m) {
    for (const auto& [k, v] : m) {
      RETURN_IF_ERROR(CheckNoControlCharacters(field + " key", k));
      RETURN_IF_ERROR(CheckNoControlCharacters(MapField(field, k), v));
    }
    return absl::OkStatus();
  };
  const std::pair<const char*, const std::string*> scalars[] = {
      {"config.build_type", &c.build_type},
      {"config.base_image", &c.base_image},
      {"config.runtime_base_image", &c.runtime_base_image},
      {"config.language_version", &c.language_version},
      {"config.package_manager", &c.package_manager},
      {"config.user", &c.user},
      {"config.working_directory", &c.working_directory},
      {"config.main", &c.main},
      {"config.syntax", &c.syntax}};
  for (const auto& [field, value] : scalars)
    RETURN_IF_ERROR(CheckNoControlCharacters(field, *value));
  RETURN_IF_ERROR(check_list("config.build_commands", c.build_commands));
  RETURN_IF_ERROR(check_list("config.runtime_commands", c.runtime_commands));
  RETURN_IF_ERROR(check_list("config.entrypoint", c.entrypoint));
  RETURN_IF_ERROR(check_list("config.command", c.command));
  RETURN_IF_ERROR(check_list("config.health_check", c.health_check));
  RETURN_IF_ERROR(check_list("config.extra_packages", c.extra_packages));
  RETURN_IF_ERROR(check_map("config.metadata", c.metadata));
  RETURN_IF_ERROR(check_map("config.environment", c.environment));
  RETURN_IF_ERROR(check_map("config.labels", c.labels));
  RETURN_IF_ERROR(check_map("config.build_args", c.build_args));

  if (c.port > 65535) return Invalid("config.port", absl::StrCat(c.port, " is above 65535"));
  for (const auto* field : {"config.base_image", "config.runtime_base_image", "config.syntax"}) {
    const std::string& image = std::string(field) == "config.base_image" ? c.base_image
                               : std::string(field) == "config.syntax"   ? c.syntax
                                                                         : c.runtime_base_image;
    if (image.empty() || image == "scratch") continue;
    absl::Status s = ParseImageReference(image).status();
    if (!s.ok()) return Invalid(field, std::string(s.message()));
  }
  if (!c.language_version.empty() && !OnlyChars(c.language_version, "._-")) {
    return Invalid("config.language_version", "must match [A-Za-z0-9._-]+");
  }
  if (!c.user.empty()) {
    if (!OnlyChars(c.user, "_-") || std::isdigit(static_cast<unsigned char>(c.user[0])) ||
        c.user != absl::AsciiStrToLower(c.user) || c.user.size() > 32) {
      return Invalid("config.user", "must match [a-z_][a-z0-9_-]{0,31}");
    }
    if (c.user == "root") return Invalid("config.user", "the runtime user must not be root");
  }
  if (!c.working_directory.empty() &&
      (c.working_directory[0] != '/' || !OnlyChars(c.working_directory, "._/-"))) {
    return Invalid("config.working_directory", "must be an absolute path of [A-Za-z0-9._/-]");
  }
  if (!c.main.empty() && !OnlyChars(c.main, "._/@+:=*-")) {
    return Invalid("config.main", "must match [A-Za-z0-9._/@+:=*-]+");
  }
  for (size_t i = 0; i < c.extra_packages.size(); ++i) {
    const std::string& p = c.extra_packages[i];
    if (!OnlyChars(p, ".+_:=~-") || !std::isalnum(static_cast<unsigned char>(p[0]))) {
      return Invalid(absl::StrCat("config.extra_packages[", i, "]"),
                     "must be a package name (optionally pinned, name=version)");
    }
  }
  static const std::set<std::string> kMetadata = {
      "project_name", "version", "description", "authors",       "source", "licenses",
      "vendor",       "url",     "revision",    "documentation", "created"};
  for (const auto& [k, v] : c.metadata) {
    if (!kMetadata.count(k)) {
      return Invalid(MapField("config.metadata", k),
                     "unknown key; known keys: " + absl::StrJoin(kMetadata, ", "));
    }
  }
  for (const auto& [k, v] : c.environment) {
    RETURN_IF_ERROR(ValidateVariableName(MapField("config.environment", k), k));
  }
  for (const auto& [k, v] : c.build_args) {
    RETURN_IF_ERROR(ValidateVariableName(MapField("config.build_args", k), k));
  }
  for (const auto& [k, v] : c.labels)
    RETURN_IF_ERROR(ValidateLabelKey(MapField("config.labels", k), k));
  for (size_t i = 0; i < c.build_commands.size(); ++i) {
    if (c.build_commands[i].empty()) {
      return Invalid(absl::StrCat("config.build_commands[", i, "]"), "must not be empty");
    }
  }
  for (size_t i = 0; i < c.runtime_commands.size(); ++i) {
    if (c.runtime_commands[i].empty()) {
      return Invalid(absl::StrCat("config.runtime_commands[", i, "]"), "must not be empty");
    }
  }
  return absl::OkStatus();
}

std::map<std::string, std::string> OciLabels(const BuildConfig& c) {
  std::map<std::string, std::string> labels;
  for (const auto& [key, value] : c.metadata) {
    std::string name = key == "project_name" ? "title" : key;
    labels["org.opencontainers.image." + name] = value;
  }
  for (const auto& [key, value] : c.labels) labels[key] = value;
  return labels;
}

constexpr char kCommonIgnore[] =
    "# Keeps VCS data, local secrets and build output out of the build context.\n"
    ".git\n.hg\n.svn\n.env\n.env.*\n*.log\n.DS_Store\n.idea/\n.vscode/\n";

// Validates `c`, runs its template and assembles the stages; also returns the
// template's .dockerignore lines.
absl::Status Assemble(const BuildConfig& c, MultiStageBuild* build, std::string* dockerignore) {
  RETURN_IF_ERROR(Validate(c));
  Plan p;
  std::string wd = c.working_directory.empty() ? "/app" : c.working_directory;
  std::string user = c.user.empty() ? "app" : c.user;
  p.build.name = "build";
  p.runtime.name = "runtime";
  p.build.working_directory = wd;
  p.runtime.working_directory = wd;
  using Template = absl::Status (*)(const BuildConfig&, Plan&);
  static const std::map<std::string, Template> kTemplates = {
      {"python", build_templates::PythonTemplate},  {"node", build_templates::NodeTemplate},
      {"java", build_templates::JavaTemplate},      {"go", build_templates::GoTemplate},
      {"rust", build_templates::RustTemplate},      {"dotnet", build_templates::DotnetTemplate},
      {"generic", build_templates::GenericTemplate}};
  auto it = kTemplates.find(c.build_type);
  if (it == kTemplates.end()) {
    return Invalid(
        "config.build_type",
        "\"" + c.build_type + "\" is not one of python, node, java, go, rust, dotnet, generic");
  }
  RETURN_IF_ERROR(it->second(c, p));

  bool two_stage = !p.build.base_image.empty();
  if (!c.build_commands.empty()) p.build_step = absl::StrJoin(c.build_commands, " && ");
  std::vector<std::string> build_run;
  for (const std::string& part : {p.build_step, p.post_build}) {
    if (!part.empty()) build_run.push_back(part);
  }
  if (two_stage && !build_run.empty()) {
    p.build.commands.push_back(StageInstruction::Run(absl::StrJoin(build_run, " && ")));
  }
  BuildStage& args_stage = two_stage ? p.build : p.runtime;
  for (const auto& [k, v] : c.build_args) args_stage.args[k] = v;

  BuildStage& r = p.runtime;
  Family family = build_templates::FamilyOf(r.base_image);
  ASSIGN_OR_RETURN(std::string setup, build_templates::SetupCommand(c, family, r.base_image, user));
  if (!setup.empty()) r.setup_commands.push_back(setup);
  if (!c.runtime_commands.empty()) {
    if (family == Family::kNoShell) {
      return Invalid("config.runtime_commands",
                     "the runtime image " + r.base_image + " has no shell");
    }
    r.commands.push_back(StageInstruction::Run(absl::StrJoin(c.runtime_commands, " && ")));
  }
  for (const auto& [k, v] : c.environment) r.environment[k] = v;
  if (c.port != 0) r.expose_ports.push_back(c.port);
  r.labels = OciLabels(c);
  // Shell-less images cannot create a user: 65532 is distroless's nonroot.
  r.user = family == Family::kNoShell ? "65532:65532" : user;
  std::vector<std::string> health = c.health_check;
  if (health.empty() && c.port != 0) {
    health = p.health.empty() ? build_templates::DefaultHealthCheck(family, c.port) : p.health;
  }
  if (!health.empty()) r.health_check = HealthCheck{health, 30, 5, 10, 3};
  // A caller's entrypoint replaces the template's; a caller's command
  // replaces the default command (and stays arguments to the entrypoint).
  r.entrypoint = c.entrypoint.empty() ? p.entrypoint : c.entrypoint;
  if (!c.command.empty()) {
    r.cmd = c.command;
  } else if (c.entrypoint.empty()) {
    r.cmd = p.cmd;
  }

  if (two_stage) build->stages.push_back(p.build);
  build->stages.push_back(p.runtime);
  build->final_stage = p.runtime.name;
  build->metadata = c.metadata;
  for (const auto& [name, value] : p.global_args) {
    for (const BuildStage& stage : build->stages) {
      if (absl::StrContains(stage.base_image, "${" + name + "}")) build->global_args[name] = value;
    }
  }
  // A syntax line only on request: it makes BuildKit fetch that frontend
  // image from its registry, which an air-gapped build host cannot, and the
  // engine's built-in frontend already reads cache mounts.
  if (!c.syntax.empty()) build->directives["syntax"] = c.syntax;
  *dockerignore = kCommonIgnore + p.dockerignore;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MultiStageBuild> BuildGenerator::CreateMultiStageBuild(const BuildConfig& c) const {
  MultiStageBuild build;
  std::string ignore;
  RETURN_IF_ERROR(Assemble(c, &build, &ignore));
  return build;
}

absl::StatusOr<GeneratedDockerfile> BuildGenerator::GenerateDockerfile(const BuildConfig& c) const {
  GeneratedDockerfile out;
  RETURN_IF_ERROR(Assemble(c, &out.build, &out.dockerignore));
  ASSIGN_OR_RETURN(out.dockerfile, out.build.ToDockerfile());
  return out;
}

absl::StatusOr<GeneratedBuildScript> BuildGenerator::GenerateBuildScript(
    const BuildScript& c) const {
  GeneratedBuildScript out;
  BuildScript& s = out.script;
  s = c;
  if (s.dockerfile_path.empty()) s.dockerfile_path = "Dockerfile";
  if (s.context_path.empty()) s.context_path = ".";
  absl::StatusOr<std::string> text = s.ToShellScript();
  // Fields are named as the caller sent them: config.tags[0], ...
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("config.", text.status().message()));
  }
  out.shell_script = *std::move(text);
  return out;
}

}  // namespace dkd::core
