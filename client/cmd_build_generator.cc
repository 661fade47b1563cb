// dkctl generate, lint and optimize: BuildGenerator's RPCs on the command line.
//
// `lint` follows hadolint: output `FILE:LINE RULE severity: message` (or its
// JSON array with --format json), a parse failure reported as finding DL1000,
// and a failure threshold that defaults to "info": the exit code is 1 when any
// finding is at or above the threshold (so warnings fail, style findings do
// not), 0 otherwise. Usage errors exit 125, like docker.
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_flags.h"
#include "client/dkctl_commands.h"
#include "nlohmann/json.hpp"

namespace dkd::client {
namespace {

constexpr int kUsageExit = 125;

int UsageError(const absl::Status& s) {
  std::cerr << s.message() << "\n";
  return kUsageExit;
}

// "KEY=VALUE" values of repeated flag `name` into `out`.
absl::Status KeyValues(const FlagSet& flags, const char* name,
                       google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& kv : flags.GetAll(name)) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid argument \"", kv, "\" for --", name, ": expected KEY=VALUE"));
    }
    (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return absl::OkStatus();
}

// --entrypoint / --cmd: one JSON array (`["app", "-v"]`), or one word per flag.
absl::Status ExecForm(const FlagSet& flags, const char* name,
                      google::protobuf::RepeatedPtrField<std::string>* out) {
  const auto& values = flags.GetAll(name);
  if (values.size() == 1 && absl::StartsWith(values[0], "[")) {
    nlohmann::json j = nlohmann::json::parse(values[0], nullptr, false);
    if (!j.is_array()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": not a JSON array"));
    }
    for (const auto& e : j) {
      if (!e.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, ": array of strings expected"));
      }
      out->Add(e.get<std::string>());
    }
    return absl::OkStatus();
  }
  for (const auto& v : values) out->Add(std::string(v));
  return absl::OkStatus();
}

// Reads `path` ("-" = stdin).
absl::StatusOr<std::string> ReadInput(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status WriteOutput(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) out << text;
  out.close();
  if (!out)
    return absl::PermissionDeniedError(absl::StrCat("write ", path, ": ", std::strerror(errno)));
  if (::chmod(path.c_str(), mode) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("chmod ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

int GenerateDockerfile(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("generate dockerfile", "generate dockerfile --type TYPE [OPTIONS]");
  flags.String("type", 0, "python, node, java, go, rust, dotnet or generic");
  flags.String("base-image", 0, "Build-stage image (default: the template's)");
  flags.String("runtime-image", 0, "Runtime-stage image (default: the template's)");
  flags.String("version", 0, "Language/toolchain version, pinned by an ARG");
  flags.String("package-manager", 0, "pip|poetry, npm|yarn|pnpm, maven|gradle");
  flags.String("port", 0, "Port the application listens on (adds EXPOSE and HEALTHCHECK)");
  flags.String("name", 0, "Project name (metadata project_name)");
  flags.String("main", 0, "What to run or build (module, script, package, artifact)");
  flags.String("user", 0, "Runtime user (default \"app\")");
  flags.String("workdir", 0, "Working directory (default /app)");
  flags.Repeated("entrypoint", 0, "ENTRYPOINT: a JSON array, or one word per flag");
  flags.Repeated("cmd", 0, "CMD: a JSON array, or one word per flag");
  flags.Repeated("health-cmd", 0, "HEALTHCHECK command: a JSON array, or one word per flag");
  flags.Repeated("env", 'e', "Runtime environment variable KEY=VALUE");
  flags.Repeated("label", 0, "Image label KEY=VALUE");
  flags.Repeated("metadata", 0, "Project metadata KEY=VALUE (version, description, ...)");
  flags.Repeated("build-arg", 0, "Build argument KEY=VALUE declared in the build stage");
  flags.Repeated("package", 0, "OS package installed in the runtime stage");
  flags.Repeated("build-cmd", 0, "Build-stage shell command (replaces the template's)");
  flags.Repeated("runtime-cmd", 0, "Runtime-stage shell command");
  flags.Bool("buildkit-cache", 0, "Use BuildKit cache mounts for package managers");
  flags.String("syntax", 0,
               "Write \"# syntax=IMAGE\" first: a Dockerfile frontend image BuildKit pulls "
               "(default: none, the engine's built-in frontend)");
  flags.String("output", 'o', "Write Dockerfile and .dockerignore into this directory");
  flags.String("format", 0, "\"json\": print the result as JSON");
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
  if (!flags.positionals().empty()) {
    return UsageError(absl::InvalidArgumentError(
        "\"generate dockerfile\" accepts no arguments; see 'dkctl generate dockerfile --help'"));
  }
  if (!flags.Seen("type")) {
    return UsageError(
        absl::InvalidArgumentError("--type is required; see 'dkctl generate dockerfile --help'"));
  }
  dkd::v1::BuildConfig req;
  req.set_build_type(flags.Get("type"));
  req.set_base_image(flags.Get("base-image"));
  req.set_runtime_base_image(flags.Get("runtime-image"));
  req.set_language_version(flags.Get("version"));
  req.set_package_manager(flags.Get("package-manager"));
  req.set_main(flags.Get("main"));
  req.set_user(flags.Get("user"));
  req.set_working_directory(flags.Get("workdir"));
  req.set_use_buildkit_cache(flags.GetBool("buildkit-cache"));
  req.set_syntax(flags.Get("syntax"));
  if (flags.Seen("port")) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(flags.Get("port"), &port)) {
      return UsageError(absl::InvalidArgumentError(
          absl::StrCat("invalid argument \"", flags.Get("port"), "\" for --port")));
    }
    req.set_port(port);
  }
  absl::Status s = KeyValues(flags, "env", req.mutable_environment());
  if (s.ok()) s = KeyValues(flags, "label", req.mutable_labels());
  if (s.ok()) s = KeyValues(flags, "metadata", req.mutable_metadata());
  if (s.ok()) s = KeyValues(flags, "build-arg", req.mutable_build_args());
  if (s.ok()) s = ExecForm(flags, "entrypoint", req.mutable_entrypoint());
  if (s.ok()) s = ExecForm(flags, "cmd", req.mutable_command());
  if (s.ok()) s = ExecForm(flags, "health-cmd", req.mutable_health_check());
  if (!s.ok()) return UsageError(s);
  if (flags.Seen("name")) (*req.mutable_metadata())["project_name"] = flags.Get("name");
  for (const auto& p : flags.GetAll("package")) req.add_extra_packages(p);
  for (const auto& c : flags.GetAll("build-cmd")) req.add_build_commands(c);
  for (const auto& c : flags.GetAll("runtime-cmd")) req.add_runtime_commands(c);

  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  auto resp = (*client)->GenerateDockerfile(req);
  if (!resp.ok()) return ReportError(ctx, resp.status());
  const std::string& dir = flags.Get("output");
  if (!dir.empty()) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      std::cerr << "mkdir " << dir << ": " << std::strerror(errno) << "\n";
      return 1;
    }
    s = WriteOutput(dir + "/Dockerfile", resp->dockerfile());
    if (s.ok()) s = WriteOutput(dir + "/.dockerignore", resp->dockerignore());
    if (!s.ok()) {
      std::cerr << s.message() << "\n";
      return 1;
    }
    std::cerr << "Wrote " << dir << "/Dockerfile and " << dir << "/.dockerignore\n";
  }
  if (flags.Get("format") == "json") {
    nlohmann::json stages = nlohmann::json::array();
    for (const auto& st : resp->build().stages()) {
      stages.push_back({{"name", st.name()}, {"base_image", st.base_image()}});
    }
    nlohmann::json j = {{"dockerfile", resp->dockerfile()},
                        {"dockerignore", resp->dockerignore()},
                        {"stages", stages},
                        {"final_stage", resp->build().final_stage()}};
    std::cout << j.dump(2) << "\n";
  } else if (dir.empty()) {
    std::cout << resp->dockerfile();
  }
  return 0;
}

int GenerateScript(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("generate script", "generate script --name NAME -t TAG [OPTIONS]");
  flags.String("name", 0, "Script name (also the image name)");
  flags.Repeated("tag", 't', "Image reference to tag the build with (first = primary)");
  flags.Repeated("push", 0, "Reference to push after the build");
  flags.Repeated("build-arg", 0, "Build argument KEY=VALUE");
  flags.Repeated("label", 0, "Image label KEY=VALUE");
  flags.Repeated("dependency", 0, "Image that must exist locally, or a .sh script run first");
  flags.String("file", 'f', "Dockerfile path, relative to the script's directory");
  flags.String("context", 0, "Build context directory, relative to the script's directory");
  flags.String("target", 0, "Build target stage");
  flags.Bool("no-cache", 0, "Build without cache");
  flags.Bool("pull", 0, "Always pull the base images");
  flags.String("output", 'o', "Write the script to this file (mode 0755)");
  flags.String("format", 0, "\"json\": print the result as JSON");
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
  if (!flags.positionals().empty()) {
    return UsageError(absl::InvalidArgumentError(
        "\"generate script\" accepts no arguments; see 'dkctl generate script --help'"));
  }
  dkd::v1::BuildScriptConfig req;
  req.set_name(flags.Get("name"));
  req.set_dockerfile_path(flags.Get("file"));
  req.set_context_path(flags.Get("context"));
  req.set_target(flags.Get("target"));
  req.set_no_cache(flags.GetBool("no-cache"));
  req.set_pull(flags.GetBool("pull"));
  for (const auto& t : flags.GetAll("tag")) req.add_tags(t);
  for (const auto& t : flags.GetAll("push")) req.add_push_targets(t);
  for (const auto& d : flags.GetAll("dependency")) req.add_dependencies(d);
  absl::Status s = KeyValues(flags, "build-arg", req.mutable_build_args());
  if (s.ok()) s = KeyValues(flags, "label", req.mutable_labels());
  if (!s.ok()) return UsageError(s);

  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  auto resp = (*client)->GenerateBuildScript(req);
  if (!resp.ok()) return ReportError(ctx, resp.status());
  const std::string& out = flags.Get("output");
  if (!out.empty()) {
    if (s = WriteOutput(out, resp->shell_script(), 0755); !s.ok()) {
      std::cerr << s.message() << "\n";
      return 1;
    }
    std::cerr << "Wrote " << out << "\n";
  }
  if (flags.Get("format") == "json") {
    const auto& sc = resp->script();
    nlohmann::json j = {{"name", sc.name()},
                        {"tags", std::vector<std::string>(sc.tags().begin(), sc.tags().end())},
                        {"push_targets", std::vector<std::string>(sc.push_targets().begin(),
                                                                  sc.push_targets().end())},
                        {"shell_script", resp->shell_script()}};
    std::cout << j.dump(2) << "\n";
  } else if (out.empty()) {
    std::cout << resp->shell_script();
  }
  return 0;
}

// hadolint's level name and its rank for --failure-threshold
// (error 4 > warning 3 > info 2 > style 1).
struct Level {
  const char* name;
  int rank;
};
Level LevelOf(dkd::v1::Severity s) {
  switch (s) {
    case dkd::v1::SEVERITY_WARNING:
      return {"warning", 3};
    case dkd::v1::SEVERITY_INFO:
      return {"info", 2};
    case dkd::v1::SEVERITY_STYLE:
      return {"style", 1};
    default:
      return {"error", 4};
  }
}

nlohmann::json FindingsJson(const google::protobuf::RepeatedPtrField<dkd::v1::LintFinding>& fs,
                            const std::string& file) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : fs) {
    out.push_back({{"code", f.rule()},
                   {"column", 1},
                   {"file", file},
                   {"level", LevelOf(f.severity()).name},
                   {"line", f.line()},
                   {"message", f.message()}});
  }
  return out;
}

// The N of "line N:" in a parse error; 1 when absent.
int ParseErrorLine(const std::string& message) {
  const size_t at = message.find("line ");
  if (at == std::string::npos) return 1;
  size_t end = at + 5;
  while (end < message.size() && std::isdigit(static_cast<unsigned char>(message[end]))) ++end;
  int line = 1;
  if (!absl::SimpleAtoi(message.substr(at + 5, end - at - 5), &line)) return 1;
  return line;
}

}  // namespace

int CmdGenerate(CliContext& ctx, const std::vector<std::string>& args) {
  static constexpr char kUsage[] =
      "Usage:  dkctl generate COMMAND\n\n"
      "Generate Dockerfiles and build scripts.\n\n"
      "Commands:\n"
      "  dockerfile  Generate a multi-stage Dockerfile and .dockerignore\n"
      "  script      Generate a bash build script\n\n"
      "Run 'dkctl generate COMMAND --help' for more information on a command.\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? std::cerr : std::cout) << kUsage;
    return args.empty() ? 1 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "dockerfile") return GenerateDockerfile(ctx, rest);
  if (args[0] == "script") return GenerateScript(ctx, rest);
  std::cerr << "dkctl generate: unknown command \"" << args[0] << "\"\n" << kUsage;
  return kUsageExit;
}

int CmdLint(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("lint", "lint [OPTIONS] [FILE|-]");
  flags.Repeated("ignore", 0, "Rule to skip, e.g. DL3008");
  flags.Repeated("trusted-registry", 0, "Registry allowed in FROM (DL3026)");
  flags.String("failure-threshold", 't',
               "Exit 1 when a finding is at or above: error|warning|info|style|none", "info");
  flags.Bool("no-fail", 0, "Exit 0 whatever the findings");
  flags.String("format", 'f', "Output format: tty or json", "tty");
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
  if (flags.positionals().size() > 1) {
    return UsageError(
        absl::InvalidArgumentError("lint accepts at most one file; see 'dkctl lint --help'"));
  }
  static const std::map<std::string, int> kThresholds = {
      {"error", 4}, {"warning", 3}, {"info", 2}, {"style", 1}, {"none", 5}};
  auto threshold = kThresholds.find(flags.Get("failure-threshold"));
  if (threshold == kThresholds.end()) {
    return UsageError(absl::InvalidArgumentError(absl::StrCat(
        "invalid argument \"", flags.Get("failure-threshold"), "\" for --failure-threshold")));
  }
  const std::string path = flags.positionals().empty() ? "Dockerfile" : flags.positionals()[0];
  auto text = ReadInput(path);
  if (!text.ok()) {
    std::cerr << "dkctl lint: " << text.status().message() << "\n";
    return 1;
  }
  dkd::v1::LintDockerfileRequest req;
  req.set_dockerfile(*text);
  req.set_filename(path);
  for (const auto& r : flags.GetAll("ignore")) req.add_ignore_rules(r);
  for (const auto& r : flags.GetAll("trusted-registry")) req.add_trusted_registries(r);
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  auto resp = (*client)->LintDockerfile(req);
  if (!resp.ok()) return ReportError(ctx, resp.status());
  // A text that is not a Dockerfile is one error finding, DL1000, as in hadolint.
  if (!resp->parse_error().empty()) {
    auto* f = resp->add_findings();
    f->set_rule("DL1000");
    f->set_severity(dkd::v1::SEVERITY_ERROR);
    std::string message = resp->parse_error();
    if (absl::StartsWith(message, path + ": ")) message.erase(0, path.size() + 2);
    f->set_message(message);
    f->set_line(ParseErrorLine(resp->parse_error()));
  }
  if (flags.Get("format") == "json") {
    std::cout << FindingsJson(resp->findings(), path).dump() << "\n";
  } else {
    for (const auto& f : resp->findings()) {
      std::cout << path << ":" << f.line() << " " << f.rule() << " " << LevelOf(f.severity()).name
                << ": " << f.message() << "\n";
    }
  }
  if (flags.GetBool("no-fail")) return 0;
  for (const auto& f : resp->findings()) {
    if (LevelOf(f.severity()).rank >= threshold->second) return 1;
  }
  return 0;
}

int CmdOptimize(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("optimize", "optimize [OPTIONS] FILE|-");
  flags.String("output", 'o', "Write the optimized Dockerfile here (may be FILE itself)");
  flags.String("format", 'f', "\"json\": print the result as JSON");
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
  if (flags.positionals().size() != 1) {
    return UsageError(absl::InvalidArgumentError(
        "optimize requires exactly one file (\"-\" for stdin); see 'dkctl optimize --help'"));
  }
  const std::string& path = flags.positionals()[0];
  auto text = ReadInput(path);
  if (!text.ok()) {
    std::cerr << "dkctl optimize: " << text.status().message() << "\n";
    return 1;
  }
  dkd::v1::OptimizeDockerfileRequest req;
  req.set_dockerfile(*text);
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  auto resp = (*client)->OptimizeDockerfile(req);
  if (!resp.ok()) return ReportError(ctx, resp.status());
  const std::string& out = flags.Get("output");
  if (!out.empty()) {
    if (absl::Status s = WriteOutput(out, resp->dockerfile()); !s.ok()) {
      std::cerr << s.message() << "\n";
      return 1;
    }
  }
  if (flags.Get("format") == "json") {
    nlohmann::json j = {
        {"dockerfile", resp->dockerfile()},
        {"changes", std::vector<std::string>(resp->changes().begin(), resp->changes().end())},
        {"findings_before", FindingsJson(resp->findings_before(), path)},
        {"findings_after", FindingsJson(resp->findings_after(), path)}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  if (out.empty()) std::cout << resp->dockerfile();
  for (const auto& c : resp->changes()) std::cerr << c << "\n";
  if (resp->changes().empty()) std::cerr << "no changes\n";
  std::cerr << "findings: " << resp->findings_before_size() << " before, "
            << resp->findings_after_size() << " after\n";
  return 0;
}

}  // namespace dkd::client
