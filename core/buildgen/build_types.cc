// BuildGenerator's value types (build_types.h): their checks and their rendering
// to Dockerfile text and bash scripts.
#include "core/buildgen/build_types.h"

#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/reference.h"
#include "core/base/shell_quote.h"
#include "core/base/status_macros.h"

namespace dkd::core {
namespace {

constexpr char kContinuation[] = " \\\n    ";

bool AllOf(const std::string& s, const char* extra) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view(extra).find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

absl::Status CheckWord(const std::string& field, const std::string& value, bool allow_empty) {
  RETURN_IF_ERROR(CheckNoControlCharacters(field, value));
  if (value.empty() && !allow_empty)
    return absl::InvalidArgumentError(field + ": must not be empty");
  if (value.find(' ') != std::string::npos) {
    return absl::InvalidArgumentError(field + ": must not contain spaces");
  }
  return absl::OkStatus();
}

absl::Status ValidateStageName(const std::string& field, const std::string& name) {
  if (name.empty()) return absl::OkStatus();
  if (!std::islower(static_cast<unsigned char>(name[0])) || !AllOf(name, "_.-") ||
      name != absl::AsciiStrToLower(name)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: stage name %s must match [a-z][a-z0-9_.-]*", field, JsonQuote(name)));
  }
  return absl::OkStatus();
}

// Breaks a long shell command after each top-level " && " so the Dockerfile
// reads one step per line. Quoted text is left alone.
std::string FormatRun(const std::string& command) {
  std::string out;
  char quote = 0;
  for (size_t i = 0; i < command.size(); ++i) {
    char c = command[i];
    if (quote == 0 && c == '\\' && i + 1 < command.size()) {
      out += c;
      out += command[++i];
      continue;
    }
    if (quote == 0 && (c == '\'' || c == '"')) {
      quote = c;
    } else if (quote != 0 && c == quote) {
      quote = 0;
    }
    if (quote == 0 && command.compare(i, 4, " && ") == 0) {
      out += " \\\n    && ";
      i += 3;
      continue;
    }
    out += c;
  }
  return out;
}

// A value needs no quotes when it holds nothing the Dockerfile word lexer
// treats specially.
std::string PairValue(const std::string& value) {
  if (!value.empty() && AllOf(value, "._/:,+@%-")) return value;
  return DockerfileQuote(value);
}

absl::StatusOr<std::string> RenderPairs(const std::string& keyword, const std::string& field,
                                        const std::map<std::string, std::string>& pairs,
                                        bool label_keys) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : pairs) {
    std::string f = MapField(field, key);
    if (label_keys) {
      RETURN_IF_ERROR(ValidateLabelKey(f, key));
    } else {
      RETURN_IF_ERROR(ValidateVariableName(f, key));
    }
    RETURN_IF_ERROR(CheckNoControlCharacters(f, value));
    parts.push_back(absl::StrCat(key, "=", PairValue(value)));
  }
  if (parts.empty()) return std::string();
  return absl::StrCat(keyword, " ", absl::StrJoin(parts, kContinuation), "\n");
}

absl::StatusOr<std::string> RenderCopy(const std::string& field, const CopyCommand& copy) {
  if (copy.sources.empty())
    return absl::InvalidArgumentError(field + ".sources: must not be empty");
  RETURN_IF_ERROR(CheckWord(field + ".destination", copy.destination, false));
  RETURN_IF_ERROR(ValidateStageName(field + ".from_stage", copy.from_stage));
  RETURN_IF_ERROR(CheckWord(field + ".chown", copy.chown, true));
  std::string out = "COPY ";
  if (!copy.from_stage.empty()) absl::StrAppend(&out, "--from=", copy.from_stage, " ");
  if (!copy.chown.empty()) absl::StrAppend(&out, "--chown=", copy.chown, " ");
  bool json = false;
  std::vector<std::string> all;
  for (size_t i = 0; i < copy.sources.size(); ++i) {
    RETURN_IF_ERROR(
        CheckNoControlCharacters(absl::StrCat(field, ".sources[", i, "]"), copy.sources[i]));
    if (copy.sources[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".sources[", i, "]: must not be empty"));
    }
    all.push_back(copy.sources[i]);
  }
  all.push_back(copy.destination);
  for (const std::string& p : all) {
    json = json || p.find_first_of(" \t\"'\\") != std::string::npos;
  }
  absl::StrAppend(&out, json ? ExecFormJson(all) : absl::StrJoin(all, " "), "\n");
  return out;
}

absl::StatusOr<std::string> RenderExec(const std::string& keyword, const std::string& field,
                                       const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    RETURN_IF_ERROR(CheckNoControlCharacters(absl::StrCat(field, "[", i, "]"), args[i]));
  }
  return absl::StrCat(keyword, " ", ExecFormJson(args), "\n");
}

std::string Duration(int32_t seconds) { return absl::StrCat(seconds, "s"); }

}  // namespace

StageInstruction StageInstruction::Run(std::string command) {
  StageInstruction s;
  s.run = std::move(command);
  return s;
}

StageInstruction StageInstruction::Copy(CopyCommand copy) {
  StageInstruction s;
  s.copy = std::move(copy);
  return s;
}

std::string MapField(const std::string& field, const std::string& key) {
  return absl::StrCat(field, "[", JsonQuote(key), "]");
}

absl::Status ValidateVariableName(const std::string& field, const std::string& name) {
  bool ok = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) && AllOf(name, "_");
  if (!ok) {
    return absl::InvalidArgumentError(field + ": name must match [A-Za-z_][A-Za-z0-9_]*");
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelKey(const std::string& field, const std::string& key) {
  if (key.empty() || !AllOf(key, "._/-")) {
    return absl::InvalidArgumentError(field + ": label key must match [A-Za-z0-9._/-]+");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> BuildStage::ToDockerfile(const std::string& field) const {
  RETURN_IF_ERROR(CheckWord(field + ".base_image", base_image, false));
  RETURN_IF_ERROR(ValidateStageName(field + ".name", name));
  std::string out = absl::StrCat("FROM ", base_image);
  if (!name.empty()) absl::StrAppend(&out, " AS ", name);
  out += "\n";
  for (const auto& [key, value] : args) {
    std::string f = MapField(field + ".args", key);
    RETURN_IF_ERROR(ValidateVariableName(f, key));
    RETURN_IF_ERROR(CheckNoControlCharacters(f, value));
    absl::StrAppend(&out, "ARG ", key, value.empty() ? "" : "=" + PairValue(value), "\n");
  }
  for (size_t i = 0; i < setup_commands.size(); ++i) {
    RETURN_IF_ERROR(CheckNoControlCharacters(absl::StrCat(field, ".setup_commands[", i, "]"),
                                             setup_commands[i]));
  }
  if (!setup_commands.empty()) {
    absl::StrAppend(&out, "RUN ", FormatRun(absl::StrJoin(setup_commands, " && ")), "\n");
  }
  ASSIGN_OR_RETURN(std::string env, RenderPairs("ENV", field + ".environment", environment, false));
  out += env;
  if (!working_directory.empty()) {
    RETURN_IF_ERROR(CheckWord(field + ".working_directory", working_directory, false));
    absl::StrAppend(&out, "WORKDIR ", working_directory, "\n");
  }
  for (size_t i = 0; i < copy_commands.size(); ++i) {
    ASSIGN_OR_RETURN(std::string copy,
                     RenderCopy(absl::StrCat(field, ".copy_commands[", i, "]"), copy_commands[i]));
    out += copy;
  }
  std::string mounts;
  for (const std::string& m : run_mounts) {
    RETURN_IF_ERROR(CheckWord(field + ".run_mounts", m, false));
    absl::StrAppend(&mounts, "--mount=", m, " ");
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    std::string f = absl::StrCat(field, ".commands[", i, "]");
    const StageInstruction& s = commands[i];
    if (s.run.has_value() == s.copy.has_value()) {
      return absl::InvalidArgumentError(f + ": exactly one of run and copy must be set");
    }
    if (s.run) {
      RETURN_IF_ERROR(CheckNoControlCharacters(f + ".run", *s.run));
      if (s.run->empty()) return absl::InvalidArgumentError(f + ".run: must not be empty");
      absl::StrAppend(&out, "RUN ", mounts, FormatRun(*s.run), "\n");
    } else {
      ASSIGN_OR_RETURN(std::string copy, RenderCopy(f + ".copy", *s.copy));
      out += copy;
    }
  }
  for (uint32_t port : expose_ports) {
    if (port == 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s.expose_ports: %d is not a port in 1..65535", field, port));
    }
    absl::StrAppend(&out, "EXPOSE ", port, "\n");
  }
  ASSIGN_OR_RETURN(std::string labels_text, RenderPairs("LABEL", field + ".labels", labels, true));
  out += labels_text;
  if (!user.empty()) {
    RETURN_IF_ERROR(CheckWord(field + ".user", user, false));
    absl::StrAppend(&out, "USER ", user, "\n");
  }
  if (!health_check.test.empty()) {
    const HealthCheck& h = health_check;
    std::string flags;
    if (h.interval_seconds > 0)
      absl::StrAppend(&flags, "--interval=", Duration(h.interval_seconds), " ");
    if (h.timeout_seconds > 0)
      absl::StrAppend(&flags, "--timeout=", Duration(h.timeout_seconds), " ");
    if (h.start_period_seconds > 0) {
      absl::StrAppend(&flags, "--start-period=", Duration(h.start_period_seconds), " ");
    }
    if (h.retries > 0) absl::StrAppend(&flags, "--retries=", h.retries, " ");
    ASSIGN_OR_RETURN(std::string test,
                     RenderExec("CMD", field + ".health_check.test", health_check.test));
    absl::StrAppend(&out, "HEALTHCHECK ", flags, test);
  }
  if (!entrypoint.empty()) {
    ASSIGN_OR_RETURN(std::string e, RenderExec("ENTRYPOINT", field + ".entrypoint", entrypoint));
    out += e;
  }
  if (!cmd.empty()) {
    ASSIGN_OR_RETURN(std::string c, RenderExec("CMD", field + ".cmd", cmd));
    out += c;
  }
  return out;
}

absl::StatusOr<std::string> MultiStageBuild::ToDockerfile() const {
  if (stages.empty()) return absl::InvalidArgumentError("stages: at least one stage is required");
  if (!final_stage.empty() && final_stage != stages.back().name) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "final_stage: %s is not the last stage (%s); the last stage is the image produced",
        JsonQuote(final_stage), JsonQuote(stages.back().name)));
  }
  std::string out;
  for (const auto& [key, value] : directives) {
    std::string f = MapField("directives", key);
    RETURN_IF_ERROR(ValidateVariableName(f, key));
    RETURN_IF_ERROR(CheckWord(f, value, false));
    absl::StrAppend(&out, "# ", key, "=", value, "\n");
  }
  for (const auto& [key, value] : global_args) {
    std::string f = MapField("global_args", key);
    RETURN_IF_ERROR(ValidateVariableName(f, key));
    RETURN_IF_ERROR(CheckNoControlCharacters(f, value));
    absl::StrAppend(&out, "ARG ", key, value.empty() ? "" : "=" + PairValue(value), "\n");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < stages.size(); ++i) {
    std::string field = absl::StrCat("stages[", i, "]");
    if (!stages[i].name.empty() && !names.insert(stages[i].name).second) {
      return absl::InvalidArgumentError(field + ".name: duplicate stage name " +
                                        JsonQuote(stages[i].name));
    }
    ASSIGN_OR_RETURN(std::string stage, stages[i].ToDockerfile(field));
    if (!out.empty()) out += "\n";
    out += stage;
  }
  return out;
}

absl::StatusOr<std::string> BuildScript::ToShellScript() const {
  RETURN_IF_ERROR(CheckNoControlCharacters("name", name));
  std::vector<std::string> all_tags = tags;
  if (all_tags.empty()) {
    if (name.empty())
      return absl::InvalidArgumentError("tags: at least one tag (or a name) is required");
    all_tags.push_back(name);
  }
  for (size_t i = 0; i < all_tags.size(); ++i) {
    std::string f = tags.empty() ? "name" : absl::StrCat("tags[", i, "]");
    RETURN_IF_ERROR(CheckNoControlCharacters(f, all_tags[i]));
    absl::Status s = ParseImageReference(all_tags[i]).status();
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(f, ": ", s.message()));
  }
  for (size_t i = 0; i < push_targets.size(); ++i) {
    std::string f = absl::StrCat("push_targets[", i, "]");
    RETURN_IF_ERROR(CheckNoControlCharacters(f, push_targets[i]));
    absl::Status s = ParseImageReference(push_targets[i]).status();
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(f, ": ", s.message()));
  }
  std::string dockerfile = dockerfile_path.empty() ? "Dockerfile" : dockerfile_path;
  std::string context = context_path.empty() ? "." : context_path;
  RETURN_IF_ERROR(CheckNoControlCharacters("dockerfile_path", dockerfile));
  RETURN_IF_ERROR(CheckNoControlCharacters("context_path", context));
  RETURN_IF_ERROR(ValidateStageName("target", target));
  // A context starting with "-" would read as an option (or stdin).
  if (context[0] == '-') context = "./" + context;

  std::string out = "#!/usr/bin/env bash\n";
  absl::StrAppend(&out, "# Builds ", all_tags[0], " with docker build.\n",
                  "# Relative paths are resolved from this script's directory.\n",
                  "set -euo pipefail\n\n", "cd \"$(dirname \"${BASH_SOURCE[0]}\")\"\n");

  std::vector<std::string> images;
  std::vector<std::string> scripts;
  for (size_t i = 0; i < dependencies.size(); ++i) {
    std::string f = absl::StrCat("dependencies[", i, "]");
    const std::string& d = dependencies[i];
    RETURN_IF_ERROR(CheckNoControlCharacters(f, d));
    if (d.size() > 3 && d.compare(d.size() - 3, 3, ".sh") == 0) {
      scripts.push_back(d);
    } else {
      absl::Status s = ParseImageReference(d).status();
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(f, ": neither a .sh build script nor an image reference: ", s.message()));
      }
      images.push_back(d);
    }
  }
  if (!scripts.empty()) out += "\n# Build scripts this build depends on run first.\n";
  for (const std::string& s : scripts) absl::StrAppend(&out, "bash ", ShellQuote(s), "\n");
  if (!images.empty()) {
    out +=
        "\n# Images this build depends on must exist locally.\n"
        "require_image() {\n"
        "  if ! docker image inspect \"$1\" >/dev/null 2>&1; then\n"
        "    echo \"error: required image $1 is not present; build or pull it first\" >&2\n"
        "    exit 1\n"
        "  fi\n"
        "}\n";
    for (const std::string& image : images) {
      absl::StrAppend(&out, "require_image ", ShellQuote(image), "\n");
    }
  }

  std::vector<std::string> lines = {"docker build", "--file " + ShellQuote(dockerfile)};
  for (const std::string& t : all_tags) lines.push_back("--tag " + ShellQuote(t));
  for (const auto& [key, value] : build_args) {
    std::string f = MapField("build_args", key);
    RETURN_IF_ERROR(ValidateVariableName(f, key));
    RETURN_IF_ERROR(CheckNoControlCharacters(f, value));
    lines.push_back("--build-arg " + ShellQuote(key + "=" + value));
  }
  for (const auto& [key, value] : labels) {
    std::string f = MapField("labels", key);
    RETURN_IF_ERROR(ValidateLabelKey(f, key));
    RETURN_IF_ERROR(CheckNoControlCharacters(f, value));
    lines.push_back("--label " + ShellQuote(key + "=" + value));
  }
  if (!target.empty()) lines.push_back("--target " + ShellQuote(target));
  if (no_cache) lines.push_back("--no-cache");
  if (pull) lines.push_back("--pull");
  lines.push_back(ShellQuote(context));
  absl::StrAppend(&out, "\n", absl::StrJoin(lines, " \\\n  "), "\n");

  std::set<std::string> tagged(all_tags.begin(), all_tags.end());
  for (const std::string& p : push_targets) {
    if (tagged.insert(p).second) {
      absl::StrAppend(&out, "docker tag ", ShellQuote(all_tags[0]), " ", ShellQuote(p), "\n");
    }
    absl::StrAppend(&out, "docker push ", ShellQuote(p), "\n");
  }
  return out;
}

}  // namespace dkd::core
