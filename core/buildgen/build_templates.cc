// The language templates of BuildGenerator (build_templates.h): Python, Node,
// Java, Go, Rust, .NET and generic Plans.
#include "core/buildgen/build_templates.h"

#include <cctype>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/shell_quote.h"
#include "core/base/status_macros.h"

namespace dkd::core::build_templates {
namespace {

constexpr char kUid[] = "10001";
// The python images' PATH with the virtualenv first.
constexpr char kDebianPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string Version(const BuildConfig& c, const char* fallback) {
  return c.language_version.empty() ? fallback : c.language_version;
}

// The name a template needs (rust binary, dotnet project): main, else
// metadata project_name.
absl::StatusOr<std::string> ProjectName(const BuildConfig& c) {
  std::string name = !c.main.empty() ? c.main : "";
  if (name.empty()) {
    auto it = c.metadata.find("project_name");
    if (it != c.metadata.end()) name = it->second;
  }
  if (name.empty()) {
    return Invalid("config.metadata[\"project_name\"]",
                   "required for build_type " + c.build_type + " (or set config.main)");
  }
  if (!OnlyChars(name, "._-")) {
    return Invalid(c.main.empty() ? "config.metadata[\"project_name\"]" : "config.main",
                   "must match [A-Za-z0-9._-]+ here");
  }
  return name;
}

CopyCommand Copy(std::vector<std::string> sources, std::string dest, std::string from = "") {
  return CopyCommand{std::move(sources), std::move(dest), std::move(from), ""};
}

// Dependency manifests, one install RUN, then the sources.
void AddDependencyLayers(Plan& p, std::vector<std::string> manifests, std::string install) {
  p.build.copy_commands.push_back(Copy(std::move(manifests), "./"));
  p.build.commands.push_back(StageInstruction::Run(std::move(install)));
  p.build.commands.push_back(StageInstruction::Copy(Copy({"."}, ".")));
}

}  // namespace

bool OnlyChars(const std::string& s, const char* extra) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr(extra, c)) return false;
  }
  return !s.empty();
}

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(field + ": " + why);
}

Family FamilyOf(const std::string& image) {
  std::string lower = absl::AsciiStrToLower(image);
  if (absl::StrContains(lower, "distroless") || lower == "scratch") return Family::kNoShell;
  if (absl::StrContains(lower, "busybox")) return Family::kBusybox;
  if (absl::StrContains(lower, "alpine")) return Family::kAlpine;
  return Family::kDebian;
}

// Checks every string of the config for control characters, then the rules
// of each field.

absl::Status PythonTemplate(const BuildConfig& c, Plan& p) {
  std::string pm = c.package_manager.empty() ? "pip" : c.package_manager;
  if (pm != "pip" && pm != "poetry") {
    return Invalid("config.package_manager",
                   "python supports \"pip\" or \"poetry\", not \"" + pm + "\"");
  }
  p.global_args["PYTHON_VERSION"] = Version(c, "3.12");
  std::string image = "python:${PYTHON_VERSION}-slim";
  p.build.base_image = c.base_image.empty() ? image : c.base_image;
  p.runtime.base_image = !c.runtime_base_image.empty() ? c.runtime_base_image : p.build.base_image;
  // A virtualenv at a fixed path holds the dependencies; its interpreter link
  // points at the same python in both stages, whatever the image's version.
  std::string no_cache = c.use_buildkit_cache ? "" : " --no-cache-dir";
  std::map<std::string, std::string> env = {{"PYTHONDONTWRITEBYTECODE", "1"},
                                            {"PYTHONUNBUFFERED", "1"},
                                            {"PIP_DISABLE_PIP_VERSION_CHECK", "1"},
                                            {"VIRTUAL_ENV", "/opt/venv"},
                                            {"PATH", std::string("/opt/venv/bin:") + kDebianPath}};
  p.build.environment = env;
  p.runtime.environment = env;
  if (c.use_buildkit_cache) p.build.run_mounts.push_back("type=cache,target=/root/.cache/pip");
  if (pm == "pip") {
    AddDependencyLayers(
        p, {"requirements.txt"},
        "python -m venv /opt/venv && pip install" + no_cache + " -r requirements.txt");
  } else {
    p.build.args["POETRY_VERSION"] = "1.8.3";
    p.build.environment["POETRY_NO_INTERACTION"] = "1";
    if (c.use_buildkit_cache)
      p.build.run_mounts.push_back("type=cache,target=/root/.cache/pypoetry");
    // Poetry lives in the build image's own python; it installs into the
    // active virtualenv (VIRTUAL_ENV), which is all the runtime copies.
    AddDependencyLayers(p, {"pyproject.toml", "poetry.lock*"},
                        "python -m venv /opt/venv && /usr/local/bin/python -m pip install" +
                            no_cache +
                            " \"poetry==${POETRY_VERSION}\" && /usr/local/bin/python -m poetry "
                            "install --only main --no-root");
    p.build_step = "/usr/local/bin/python -m poetry install --only main";
  }
  p.runtime.copy_commands.push_back(Copy({"/opt/venv"}, "/opt/venv", "build"));
  p.runtime.copy_commands.push_back(
      Copy({p.build.working_directory}, p.build.working_directory, "build"));
  if (absl::EndsWith(c.main, ".py")) {
    p.cmd = {"python", c.main};
  } else {
    p.cmd = {"python", "-m", c.main.empty() ? "app" : c.main};
  }
  p.health = {"python", "-c",
              absl::StrCat("import urllib.request; urllib.request.urlopen('http://127.0.0.1:",
                           c.port, "/', timeout=4)")};
  p.dockerignore =
      "__pycache__/\n*.py[cod]\n.venv/\nvenv/\n.pytest_cache/\n.mypy_cache/\n.tox/\n"
      "*.egg-info/\ndist/\nbuild/\n";
  return absl::OkStatus();
}

absl::Status NodeTemplate(const BuildConfig& c, Plan& p) {
  std::string pm = c.package_manager.empty() ? "npm" : c.package_manager;
  p.global_args["NODE_VERSION"] = Version(c, "20");
  std::string image = "node:${NODE_VERSION}-slim";
  p.build.base_image = c.base_image.empty() ? image : c.base_image;
  p.runtime.base_image = !c.runtime_base_image.empty() ? c.runtime_base_image : p.build.base_image;
  // Dev dependencies are installed for the build and pruned after it; the
  // runtime copies the pruned tree. NODE_ENV=production is runtime-only.
  p.build_step = "npm run build --if-present";
  if (pm == "npm") {
    if (c.use_buildkit_cache) p.build.run_mounts.push_back("type=cache,target=/root/.npm");
    AddDependencyLayers(p, {"package.json", "package-lock.json"}, "npm ci");
    p.post_build = "npm prune --omit=dev";
  } else if (pm == "yarn") {
    if (c.use_buildkit_cache) {
      p.build.run_mounts.push_back("type=cache,target=/usr/local/share/.cache/yarn");
    }
    AddDependencyLayers(p, {"package.json", "yarn.lock"}, "yarn install --frozen-lockfile");
    p.post_build = "yarn install --production --frozen-lockfile --ignore-scripts --prefer-offline";
  } else if (pm == "pnpm") {
    if (c.use_buildkit_cache) {
      p.build.run_mounts.push_back("type=cache,target=/root/.local/share/pnpm/store");
    }
    AddDependencyLayers(p, {"package.json", "pnpm-lock.yaml"},
                        "corepack enable && pnpm install --frozen-lockfile");
    p.post_build = "pnpm prune --prod";
  } else {
    return Invalid("config.package_manager",
                   "node supports \"npm\", \"yarn\" or \"pnpm\", not \"" + pm + "\"");
  }
  p.runtime.environment["NODE_ENV"] = "production";
  p.runtime.copy_commands.push_back(
      Copy({p.build.working_directory}, p.build.working_directory, "build"));
  p.cmd = {"node", c.main.empty() ? "index.js" : c.main};
  p.health = {"node", "-e",
              absl::StrCat("require('http').get('http://127.0.0.1:", c.port,
                           "/', (r) => process.exit(r.statusCode < 500 ? 0 : 1))"
                           ".on('error', () => process.exit(1))")};
  p.dockerignore = "node_modules/\nnpm-debug.log*\nyarn-error.log*\n.npm/\ncoverage/\ndist/\n";
  return absl::OkStatus();
}

absl::Status JavaTemplate(const BuildConfig& c, Plan& p) {
  std::string pm = c.package_manager.empty() ? "maven" : c.package_manager;
  p.global_args["JAVA_VERSION"] = Version(c, "21");
  std::string wd = p.build.working_directory;
  std::string out_dir;
  std::string skip;
  if (pm == "maven") {
    // The maven image, not ./mvnw: a project need not ship the wrapper.
    p.global_args["MAVEN_VERSION"] = "3.9";
    p.build.base_image = "maven:${MAVEN_VERSION}-eclipse-temurin-${JAVA_VERSION}";
    if (c.use_buildkit_cache) p.build.run_mounts.push_back("type=cache,target=/root/.m2");
    AddDependencyLayers(p, {"pom.xml"}, "mvn -B -q dependency:go-offline");
    p.build_step = "mvn -B -q package -DskipTests";
    out_dir = "target";
    skip = "! -name 'original-*'";
  } else if (pm == "gradle") {
    p.global_args["GRADLE_VERSION"] = "8.10";
    p.build.base_image = "gradle:${GRADLE_VERSION}-jdk${JAVA_VERSION}";
    if (c.use_buildkit_cache)
      p.build.run_mounts.push_back("type=cache,target=/home/gradle/.gradle");
    AddDependencyLayers(p, {"build.gradle*", "settings.gradle*"},
                        "gradle --no-daemon -q dependencies");
    p.build_step = "gradle --no-daemon -q build -x test";
    out_dir = "build/libs";
    skip = "! -name '*-plain.jar'";
  } else {
    return Invalid("config.package_manager",
                   "java supports \"maven\" or \"gradle\", not \"" + pm + "\"");
  }
  if (!c.base_image.empty()) p.build.base_image = c.base_image;
  p.runtime.base_image =
      c.runtime_base_image.empty() ? "eclipse-temurin:${JAVA_VERSION}-jre" : c.runtime_base_image;
  // config.main names the artifact; otherwise the one application jar is
  // picked, leaving out sources, javadoc and pre-repackaging jars.
  p.post_build =
      "mkdir -p /out && " +
      (c.main.empty()
           ? absl::StrCat("find ", out_dir, " -maxdepth 1 -name '*.jar' ", skip,
                          " ! -name '*-sources.jar' ! -name '*-javadoc.jar' -exec cp {} "
                          "/out/app.jar ';' && test -f /out/app.jar")
           : absl::StrCat("cp ", out_dir, "/", ShellQuoteIfNeeded(c.main), " /out/app.jar"));
  p.runtime.copy_commands.push_back(Copy({"/out/app.jar"}, wd + "/app.jar", "build"));
  p.cmd = {"java", "-jar", wd + "/app.jar"};
  p.dockerignore = "target/\nbuild/\n.gradle/\n.idea/\n*.iml\nout/\n";
  return absl::OkStatus();
}

absl::Status GoTemplate(const BuildConfig& c, Plan& p) {
  p.global_args["GO_VERSION"] = Version(c, "1.22");
  p.build.base_image = c.base_image.empty() ? "golang:${GO_VERSION}-alpine" : c.base_image;
  if (c.runtime_base_image.empty()) {
    p.global_args["ALPINE_VERSION"] = "3.20";
    p.runtime.base_image = "alpine:${ALPINE_VERSION}";
  } else {
    p.runtime.base_image = c.runtime_base_image;
  }
  if (c.use_buildkit_cache) {
    p.build.run_mounts = {"type=cache,target=/go/pkg/mod",
                          "type=cache,target=/root/.cache/go-build"};
  }
  AddDependencyLayers(p, {"go.mod", "go.sum*"}, "go mod download");
  // A static binary runs on any runtime image, alpine or distroless.
  p.build_step = "CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/app " +
                 ShellQuoteIfNeeded(c.main.empty() ? "." : c.main);
  p.runtime.copy_commands.push_back(Copy({"/out/app"}, "/usr/local/bin/app", "build"));
  p.entrypoint = {"/usr/local/bin/app"};
  p.dockerignore = "bin/\n*.test\ncoverage.out\n";
  return absl::OkStatus();
}

absl::Status RustTemplate(const BuildConfig& c, Plan& p) {
  ASSIGN_OR_RETURN(std::string bin, ProjectName(c));
  p.global_args["RUST_VERSION"] = Version(c, "1.79");
  p.build.base_image = c.base_image.empty() ? "rust:${RUST_VERSION}-slim-bookworm" : c.base_image;
  p.runtime.base_image =
      c.runtime_base_image.empty() ? "debian:bookworm-slim" : c.runtime_base_image;
  if (c.use_buildkit_cache)
    p.build.run_mounts.push_back("type=cache,target=/usr/local/cargo/registry");
  // Dependencies are compiled against a placeholder main.rs so that layer
  // survives source edits; touch makes cargo rebuild the real sources.
  AddDependencyLayers(p, {"Cargo.toml", "Cargo.lock"},
                      "mkdir -p src && echo 'fn main() {}' > src/main.rs && cargo build --release "
                      "--locked && rm -rf src");
  p.build_step = "touch src/main.rs && cargo build --release --locked";
  p.post_build = "mkdir -p /out && cp target/release/" + bin + " /out/" + bin;
  p.runtime.copy_commands.push_back(Copy({"/out/" + bin}, "/usr/local/bin/" + bin, "build"));
  p.entrypoint = {"/usr/local/bin/" + bin};
  p.dockerignore = "target/\n";
  return absl::OkStatus();
}

absl::Status DotnetTemplate(const BuildConfig& c, Plan& p) {
  ASSIGN_OR_RETURN(std::string project, ProjectName(c));
  if (absl::EndsWith(project, ".csproj")) project.resize(project.size() - 7);
  p.global_args["DOTNET_VERSION"] = Version(c, "8.0");
  p.build.base_image =
      c.base_image.empty() ? "mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION}" : c.base_image;
  p.runtime.base_image = c.runtime_base_image.empty()
                             ? "mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}"
                             : c.runtime_base_image;
  if (c.use_buildkit_cache) p.build.run_mounts.push_back("type=cache,target=/root/.nuget/packages");
  AddDependencyLayers(p, {project + ".csproj"}, "dotnet restore " + project + ".csproj");
  p.build_step = "dotnet publish " + project + ".csproj -c Release -o /out";
  p.runtime.copy_commands.push_back(Copy({"/out/"}, p.build.working_directory + "/", "build"));
  if (c.port != 0) p.runtime.environment["ASPNETCORE_HTTP_PORTS"] = absl::StrCat(c.port);
  p.entrypoint = {"dotnet", p.build.working_directory + "/" + project + ".dll"};
  p.dockerignore = "bin/\nobj/\n*.user\n.vs/\n";
  return absl::OkStatus();
}

absl::Status GenericTemplate(const BuildConfig& c, Plan& p) {
  std::string base = c.base_image.empty() ? "debian:bookworm-slim" : c.base_image;
  std::string wd = p.build.working_directory;
  p.runtime.base_image = c.runtime_base_image.empty() ? base : c.runtime_base_image;
  if (!c.build_commands.empty()) {
    p.build.base_image = base;
    p.build.copy_commands.push_back(Copy({"."}, "."));
    p.runtime.copy_commands.push_back(Copy({wd}, wd, "build"));
  } else {
    p.build.base_image.clear();
    p.runtime.copy_commands.push_back(Copy({"."}, "."));
  }
  if (c.entrypoint.empty() && c.command.empty()) {
    if (c.main.empty()) {
      return Invalid("config.command", "the generic template needs command, entrypoint or main");
    }
    p.cmd = {c.main[0] == '/' ? c.main : wd + "/" + c.main};
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SetupCommand(const BuildConfig& c, Family family,
                                         const std::string& base, const std::string& user) {
  std::vector<std::string> steps;
  std::string packages = absl::StrJoin(c.extra_packages, " ");
  if (!c.extra_packages.empty()) {
    if (family == Family::kDebian) {
      steps.push_back("apt-get update && apt-get install -y --no-install-recommends " + packages +
                      " && rm -rf /var/lib/apt/lists/*");
    } else if (family == Family::kAlpine) {
      steps.push_back("apk add --no-cache " + packages);
    } else {
      return Invalid("config.extra_packages",
                     "the runtime image " + base + " has no package manager");
    }
  }
  // The user owns nothing in the image: the application stays read-only.
  if (family == Family::kDebian) {
    steps.push_back(absl::StrCat("{ id -u ", user, " >/dev/null 2>&1 || useradd --system --uid ",
                                 kUid, " --user-group --no-create-home --shell /usr/sbin/nologin ",
                                 user, "; }"));
  } else if (family == Family::kAlpine) {
    steps.push_back(absl::StrCat("{ id -u ", user, " >/dev/null 2>&1 || adduser -D -H -u ", kUid,
                                 " -s /sbin/nologin ", user, "; }"));
  } else if (family == Family::kBusybox) {
    steps.push_back(absl::StrCat("if command -v adduser >/dev/null 2>&1; then adduser -D -H -u ",
                                 kUid, " ", user, "; else mkdir -p /etc && echo '", user,
                                 ":x:", kUid, ":", kUid,
                                 "::/nonexistent:/bin/false' >>/etc/passwd && echo '", user,
                                 ":x:", kUid, ":' >>/etc/group; fi"));
  }
  return absl::StrJoin(steps, " && ");
}

std::vector<std::string> DefaultHealthCheck(Family family, uint32_t port) {
  switch (family) {
    case Family::kDebian:
      // bash is in every Debian-family image; curl and wget are not.
      return {"bash", "-c", absl::StrCat("exec 3<>/dev/tcp/127.0.0.1/", port)};
    case Family::kAlpine:
    case Family::kBusybox:
      return {"wget", "-q", "--spider", absl::StrCat("http://127.0.0.1:", port, "/")};
    case Family::kNoShell:
      break;
  }
  return {};
}

}  // namespace dkd::core::build_templates
