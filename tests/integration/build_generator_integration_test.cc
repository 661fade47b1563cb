// BuildGenerator through a real dkd, checked against the real engine.
//
// No language image can be pulled here, so the templates' default Dockerfiles
// are proven in two honest steps, never by retagging busybox under python,
// node, ... names:
//  - Parser: every template variant is sent to the engine's own builder with
//    `--target` naming a stage that does not exist. The classic builder parses
//    every instruction of every stage (flags, durations, JSON forms, COPY
//    --from/--chown, RUN --mount) before it looks for the target, so the reply
//    "failed to reach build target" means the whole file was accepted; a
//    broken file gets "parse error" instead (checked as a control).
//  - Execution up to the toolchain: each template's build stage, with its FROM
//    lines pointed at the local busybox, runs on the engine over a context laid
//    out like a real project; it must fail exactly at the template's first
//    toolchain command, with "not found" (exit 127), so every ARG, ENV, WORKDIR
//    and manifest COPY before it executed.
//  - The same build stages, cache-mount variants included, through dkd's
//    BuildKit path, up to the same toolchain command.
// Not proven: that the toolchain steps themselves succeed in the real language
// images. The generic template, the optimizer and the
// build script are proven fully: built, run and inspected on the engine.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dkd/v1/build_generator.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/daemon_fixture.h"

namespace dkd::testing {
namespace {

using dkd::v1::BuildConfig;

constexpr char kNoSuchStage[] = "dkd-no-such-stage";

class BuildGeneratorIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto d = DaemonProcess::Start({});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = d->release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    base_ = FixtureEnv("DKD_TEST_BASE_IMAGE");
    ASSERT_FALSE(base_.empty()) << "run: eval \"$(scripts/fixtures.sh env)\"";
    stub_ = dkd::v1::BuildGenerator::NewStub(
        grpc::CreateChannel(daemon_->unix_target(), grpc::InsecureChannelCredentials()));
    char tmpl[] = "/tmp/dkd-bgi-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    // Newest first, so children go before the layers they were built on.
    for (auto it = images_.rbegin(); it != images_.rend(); ++it) Docker({"rmi", "-f", *it});
    RunCommand({"rm", "-rf", dir_});
  }

  static CommandResult Docker(std::vector<std::string> args) {
    args.insert(args.begin(), {"docker", "-H", TestEngineHost()});
    return RunCommand(args, {{"DOCKER_BUILDKIT", "0"}});
  }
  // `docker build` (classic builder); every layer image it created, not
  // reused from cache, is removed after the test, failed builds included.
  CommandResult Build(std::vector<std::string> args) {
    args.insert(args.begin(), {"build", "--force-rm"});
    CommandResult r = Docker(args);
    ForgetLayers(r.out);
    return r;
  }
  void ForgetLayers(const std::string& build_output) {
    bool cached = false;
    for (absl::string_view line : absl::StrSplit(build_output, '\n')) {
      if (absl::StartsWith(line, " ---> ") && line.size() == 18 &&
          line.find_first_not_of("0123456789abcdef", 6) == line.npos) {
        if (!cached) images_.emplace_back(line.substr(6));
      }
      cached = line == " ---> Using cache";
    }
  }
  // A tag unique to this process, removed after the test.
  std::string Image(const std::string& name) {
    images_.push_back(absl::StrCat("dkd-bgi-", name, ":", getpid()));
    return images_.back();
  }
  std::string Dir(const std::string& name) {
    std::string path = dir_ + "/" + name;
    RunCommand({"mkdir", "-p", path});
    return path;
  }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }
  grpc::Status Generate(const BuildConfig& config, dkd::v1::GeneratedDockerfile* out) {
    grpc::ClientContext ctx;
    return stub_->GenerateDockerfile(&ctx, config, out);
  }
  dkd::v1::LintDockerfileResponse Lint(const std::string& text) {
    grpc::ClientContext ctx;
    dkd::v1::LintDockerfileRequest req;
    req.set_dockerfile(text);
    dkd::v1::LintDockerfileResponse resp;
    EXPECT_TRUE(stub_->LintDockerfile(&ctx, req, &resp).ok());
    return resp;
  }
  // Writes Dockerfile and .dockerignore into a fresh context directory.
  std::string Context(const std::string& name, const dkd::v1::GeneratedDockerfile& g) {
    std::string ctx = Dir(name);
    Write(ctx + "/Dockerfile", g.dockerfile());
    Write(ctx + "/.dockerignore", g.dockerignore());
    return ctx;
  }

  static DaemonProcess* daemon_;
  std::string base_;
  std::string dir_;
  std::vector<std::string> images_;
  std::unique_ptr<dkd::v1::BuildGenerator::Stub> stub_;
};
DaemonProcess* BuildGeneratorIntegrationTest::daemon_ = nullptr;

struct Variant {
  std::string name;
  std::function<void(BuildConfig&)> edit;
  // Files of a minimal project for this template's manifest COPY.
  std::vector<std::string> manifests;
  // The program the template's first RUN needs from the language image.
  std::string tool;
};

BuildConfig Config(const std::string& type) {
  BuildConfig c;
  c.set_build_type(type);
  (*c.mutable_metadata())["project_name"] = "demo";
  return c;
}

std::vector<Variant> TemplateVariants() {
  auto none = [](BuildConfig&) {};
  auto port = [](BuildConfig& c) { c.set_port(8080); };
  auto pm = [](const char* p) { return [p](BuildConfig& c) { c.set_package_manager(p); }; };
  return {
      {"python", none, {"requirements.txt"}, "python"},
      {"python", pm("poetry"), {"pyproject.toml"}, "python"},
      {"python",
       [](BuildConfig& c) {
         c.set_port(8000);
         c.set_use_buildkit_cache(true);
         c.add_extra_packages("curl");
         c.set_language_version("3.11");
       },
       {"requirements.txt"},
       "python"},
      {"node", port, {"package.json", "package-lock.json"}, "npm"},
      {"node", pm("yarn"), {"package.json", "yarn.lock"}, "yarn"},
      {"node", pm("pnpm"), {"package.json", "pnpm-lock.yaml"}, "corepack"},
      {"java", port, {"pom.xml"}, "mvn"},
      {"java", pm("gradle"), {"build.gradle", "settings.gradle"}, "gradle"},
      {"go", port, {"go.mod"}, "go"},
      {"go",
       [](BuildConfig& c) {
         c.set_runtime_base_image("gcr.io/distroless/static-debian12");
         c.set_use_buildkit_cache(true);
         c.set_main("./cmd/server");
       },
       {"go.mod", "go.sum"},
       "go"},
      {"rust", port, {"Cargo.toml", "Cargo.lock"}, "cargo"},
      {"dotnet", port, {"demo.csproj"}, "dotnet"},
      {"dotnet",
       [](BuildConfig& c) {
         c.set_user("svc");
         c.set_working_directory("/srv/app");
       },
       {"demo.csproj"},
       "dotnet"},
  };
}

// The FROM lines pointed at `base`, stage names kept; nothing else changes.
std::string WithBase(const std::string& dockerfile, const std::string& base) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(dockerfile, '\n')) {
    if (absl::StartsWith(line, "FROM ")) {
      const size_t as = line.find(" AS ");
      out += absl::StrCat("FROM ", base, as == line.npos ? "" : line.substr(as), "\n");
    } else {
      out += absl::StrCat(line, "\n");
    }
  }
  return out;
}

TEST_F(BuildGeneratorIntegrationTest, EveryTemplateVariantPassesTheEngineParser) {
  const auto variants = TemplateVariants();
  for (size_t i = 0; i < variants.size(); ++i) {
    BuildConfig config = Config(variants[i].name);
    variants[i].edit(config);
    dkd::v1::GeneratedDockerfile g;
    grpc::Status s = Generate(config, &g);
    ASSERT_TRUE(s.ok()) << variants[i].name << ": " << s.error_message();
    const std::string ctx = Context(absl::StrCat("parse", i), g);
    CommandResult r = Build({"--target", kNoSuchStage, ctx});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(absl::StrContains(r.err, "failed to reach build target"))
        << variants[i].name << " #" << i << ":\n"
        << r.err << "\n"
        << g.dockerfile();
    EXPECT_FALSE(absl::StrContains(r.err, "parse error")) << r.err;
    EXPECT_EQ(Lint(g.dockerfile()).error_count(), 0) << g.dockerfile();
  }
}

TEST_F(BuildGeneratorIntegrationTest, EngineParserCheckRejectsBrokenDockerfiles) {
  for (const char* broken :
       {"FROM scratch AS build\nCOPY --frm=build /a /b\n",
        "FROM scratch\nHEALTHCHECK --interval=soon CMD [\"true\"]\n", "FROM scratch\nFOO bar\n"}) {
    const std::string ctx = Dir("broken");
    Write(ctx + "/Dockerfile", broken);
    CommandResult r = Build({"--target", kNoSuchStage, ctx});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(absl::StrContains(r.err, "dockerfile parse error line 2")) << broken << r.err;
  }
}

TEST_F(BuildGeneratorIntegrationTest, TemplateBuildStagesRunOnTheEngineUpToTheToolchain) {
  const auto variants = TemplateVariants();
  for (size_t i = 0; i < variants.size(); ++i) {
    BuildConfig config = Config(variants[i].name);
    variants[i].edit(config);
    dkd::v1::GeneratedDockerfile g;
    ASSERT_TRUE(Generate(config, &g).ok());
    const auto& build = g.build().stages(0);
    ASSERT_EQ(build.name(), "build");
    std::string first_run;
    for (const auto& c : build.commands()) {
      if (c.has_run()) {
        first_run = c.run();
        break;
      }
    }
    ASSERT_FALSE(first_run.empty()) << g.dockerfile();
    if (!build.run_mounts().empty()) continue;  // RUN --mount needs BuildKit to execute.
    dkd::v1::GeneratedDockerfile local = g;
    local.set_dockerfile(WithBase(g.dockerfile(), base_));
    const std::string ctx = Context(absl::StrCat("run", i), local);
    for (const auto& m : variants[i].manifests) Write(ctx + "/" + m, "\n");
    CommandResult r = Build({"--pull=false", "--target", "build", ctx});
    EXPECT_NE(r.exit_code, 0) << r.out;
    // The first toolchain command is the one that failed, for want of the tool.
    const std::string first_line = first_run.substr(0, first_run.find(' '));
    EXPECT_TRUE(absl::StrContains(r.err, "returned a non-zero code: 127"))
        << variants[i].name << " #" << i << ":\n"
        << r.out << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, "/bin/sh -c " + first_line)) << r.err;
    EXPECT_TRUE(absl::StrContains(r.out, variants[i].tool + ": not found")) << r.out;
  }
}

// The same build stages through dkd's BuildKit path (dkctl build --builder
// buildkit), cache-mount variants included: the engine's built-in frontend
// reads the generated file (no syntax line, nothing to pull) and runs every
// step before the first toolchain command, which fails for want of the tool.
TEST_F(BuildGeneratorIntegrationTest, TemplateBuildStagesRunThroughDkdsBuildKitPath) {
  const auto variants = TemplateVariants();
  int with_mounts = 0;
  for (size_t i = 0; i < variants.size(); ++i) {
    BuildConfig config = Config(variants[i].name);
    variants[i].edit(config);
    dkd::v1::GeneratedDockerfile g;
    ASSERT_TRUE(Generate(config, &g).ok());
    EXPECT_FALSE(absl::StartsWith(g.dockerfile(), "# syntax=")) << g.dockerfile();
    if (!g.build().stages(0).run_mounts().empty()) ++with_mounts;
    dkd::v1::GeneratedDockerfile local = g;
    local.set_dockerfile(WithBase(g.dockerfile(), base_));
    const std::string ctx = Context(absl::StrCat("bk", i), local);
    for (const auto& m : variants[i].manifests) Write(ctx + "/" + m, "\n");
    CommandResult r = Dkctl(daemon_->unix_host(), {"build", "--builder", "buildkit", "--progress",
                                                   "plain", "--pull=false", "--target", "build",
                                                   "-t", Image(absl::StrCat("bk", i)), ctx});
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, variants[i].tool + ": not found"))
        << variants[i].name << " #" << i << ":\n"
        << local.dockerfile() << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, "exit code: 127")) << r.err;
  }
  EXPECT_GE(with_mounts, 2) << "no cache-mount variant was built";
}

// `--buildkit-cache` output really caches: the python template's build stage,
// built twice through dkd on its default builder (BuildKit here), with the
// requirements changed in between so that the RUN runs again. No Python can
// be installed offline, so the base image's `python` and `pip` are stand-in
// scripts; what is under test is the generated cache mount: the second
// build's pip finds the file the first build's pip left in its cache dir.
TEST_F(BuildGeneratorIntegrationTest, GeneratedCacheMountKeepsThePackageCacheAcrossBuilds) {
  const std::string tools = Dir("standin-python");
  Write(tools + "/python", "#!/bin/sh\n[ \"$1 $2\" = \"-m venv\" ] && mkdir -p \"$3/bin\"\n");
  Write(tools + "/pip",
        "#!/bin/sh\n"
        "probe=/root/.cache/pip/$PROBE\n"
        "if [ -f \"$probe\" ]; then echo \"pip-cache hit: $(cat \"$probe\")\"; exit 0; fi\n"
        "mkdir -p /root/.cache/pip && cat \"$3\" > \"$probe\" && echo pip-cache miss\n");
  Write(tools + "/Dockerfile",
        absl::StrCat("FROM ", base_,
                     "\nCOPY python pip /usr/local/bin/\n"
                     "RUN chmod 755 /usr/local/bin/python /usr/local/bin/pip\n"));
  // In the fixture registry's name, so the base-registry policy allows it;
  // it is only local (builds run with pull off).
  const std::string standin = Image("standin-python");
  const std::string standin_ref = absl::StrCat(FixtureEnv("DKD_TEST_REGISTRY"), "/", standin);
  images_.push_back(standin_ref);
  ASSERT_EQ(Build({"-t", standin_ref, tools}).exit_code, 0);

  BuildConfig config = Config("python");
  config.set_base_image(standin_ref);
  config.set_runtime_base_image(standin_ref);
  config.set_use_buildkit_cache(true);
  // A cache of its own on this shared engine: the probe's name is unique.
  (*config.mutable_build_args())["PROBE"] = absl::StrCat("probe-", getpid(), "-", time(nullptr));
  dkd::v1::GeneratedDockerfile g;
  ASSERT_TRUE(Generate(config, &g).ok());
  ASSERT_TRUE(absl::StrContains(g.dockerfile(), "--mount=type=cache,target=/root/.cache/pip"))
      << g.dockerfile();
  const std::string ctx = Context("cache-mount", g);
  auto build = [&](const std::string& requirements) {
    Write(ctx + "/requirements.txt", requirements + "\n");
    return Dkctl(daemon_->unix_host(), {"build", "--progress", "plain", "--pull=false", "--target",
                                        "build", "-t", Image("cache-mount"), ctx});
  };
  CommandResult first = build("first");
  ASSERT_EQ(first.exit_code, 0) << first.err << g.dockerfile();
  EXPECT_THAT(first.err, ::testing::HasSubstr("pip-cache miss"));
  CommandResult second = build("second");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.err, ::testing::HasSubstr("pip-cache hit: first"));
  // The RUN ran again (its input changed): the hit is the cache mount's.
  EXPECT_THAT(second.err,
              ::testing::Not(::testing::ContainsRegex("RUN --mount[^\n]*\n#[0-9]+ CACHED")));
}

TEST_F(BuildGeneratorIntegrationTest, GenericTemplateOnBusyboxBuildsAndRuns) {
  BuildConfig c = Config("generic");
  c.set_base_image(base_);
  c.add_command("/bin/sh");
  c.add_command("/app/hello.sh");
  c.add_build_commands("echo built-in-build-stage > /app/built.txt");
  c.set_port(8080);
  const std::string hostile = "a \"b\" $HOME \\ c ${X:-y} `id` $(id)";
  (*c.mutable_environment())["GREETING"] = hostile;
  (*c.mutable_labels())["org.example.note"] = "it's $x";
  dkd::v1::GeneratedDockerfile g;
  grpc::Status s = Generate(c, &g);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string ctx = Context("generic", g);
  Write(ctx + "/hello.sh",
        "echo \"user=$(id -un) pwd=$(pwd) greeting=$GREETING\"\ncat built.txt\n");
  Write(ctx + "/.env", "SECRET=1\n");  // .dockerignore keeps it out of the image
  const std::string image = Image("generic");
  CommandResult b = Build({"--pull=false", "-t", image, ctx});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err << g.dockerfile();
  CommandResult r = Docker({"run", "--rm", image});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "user=app pwd=/app greeting=" + hostile + "\nbuilt-in-build-stage\n");
  EXPECT_NE(Docker({"run", "--rm", image, "test", "-e", "/app/.env"}).exit_code, 0);
  CommandResult inspect = Docker({"image", "inspect", image});
  auto j = nlohmann::json::parse(inspect.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && !j.empty()) << inspect.err;
  const auto& cfg = j[0]["Config"];
  EXPECT_EQ(cfg["User"], "app");
  EXPECT_EQ(cfg["Labels"]["org.example.note"], "it's $x");
  EXPECT_EQ(cfg["Labels"]["org.opencontainers.image.title"], "demo");
  EXPECT_TRUE(cfg["ExposedPorts"].contains("8080/tcp"));
  EXPECT_FALSE(cfg["Healthcheck"]["Test"].empty());
  bool found = false;
  for (const auto& e : cfg["Env"]) found |= e == "GREETING=" + hostile;
  EXPECT_TRUE(found) << cfg["Env"].dump();
}

TEST_F(BuildGeneratorIntegrationTest, HostileValueIsInvalidArgumentNamingTheField) {
  BuildConfig c = Config("generic");
  c.set_base_image(base_);
  c.add_command("true");
  (*c.mutable_environment())["X"] = "a\nRUN rm -rf /";
  dkd::v1::GeneratedDockerfile g;
  grpc::Status s = Generate(c, &g);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "config.environment[\"X\"]"))
      << s.error_message();
  EXPECT_TRUE(g.dockerfile().empty());
}

TEST_F(BuildGeneratorIntegrationTest, CreateMultiStageBuildReturnsTypedStages) {
  BuildConfig c = Config("node");
  c.set_use_buildkit_cache(true);
  c.set_syntax("docker/dockerfile:1");
  grpc::ClientContext ctx;
  dkd::v1::MultiStageBuild build;
  ASSERT_TRUE(stub_->CreateMultiStageBuild(&ctx, c, &build).ok());
  ASSERT_EQ(build.stages_size(), 2);
  EXPECT_EQ(build.final_stage(), build.stages(1).name());
  EXPECT_EQ(build.global_args().at("NODE_VERSION"), "20");
  EXPECT_EQ(build.directives().at("syntax"), "docker/dockerfile:1");
  EXPECT_FALSE(build.stages(0).run_mounts().empty());
}

TEST_F(BuildGeneratorIntegrationTest, OptimizedDockerfileBuildsWithFewerLayersAndFindings) {
  const std::string original = absl::StrCat(
      "FROM ", base_,
      "\nRUN echo one > /tmp/out\nRUN echo two >> /tmp/out\n\nRUN cd /tmp && echo three >> out\n"
      "RUN adduser -D app 2>/dev/null || echo 'app:x:1000:1000::/:/bin/false' >> /etc/passwd\n"
      "USER app\nCMD [\"cat\", \"/tmp/out\"]\n");
  grpc::ClientContext ctx;
  dkd::v1::OptimizeDockerfileRequest req;
  req.set_dockerfile(original);
  dkd::v1::OptimizeDockerfileResponse opt;
  ASSERT_TRUE(stub_->OptimizeDockerfile(&ctx, req, &opt).ok());
  EXPECT_FALSE(opt.changes().empty());
  EXPECT_LT(opt.findings_after_size(), opt.findings_before_size());
  EXPECT_EQ(Lint(opt.dockerfile()).findings_size(), opt.findings_after_size());
  EXPECT_LT(Lint(opt.dockerfile()).findings_size(), Lint(original).findings_size());
  std::vector<size_t> layers;
  for (const std::string& text : {original, opt.dockerfile()}) {
    const std::string dir = Dir(absl::StrCat("opt", layers.size()));
    Write(dir + "/Dockerfile", text);
    const std::string image = Image(absl::StrCat("opt", layers.size()));
    CommandResult b = Build({"--pull=false", "-t", image, dir});
    ASSERT_EQ(b.exit_code, 0) << b.out << b.err << text;
    CommandResult r = Docker({"run", "--rm", image});
    EXPECT_EQ(r.out, "one\ntwo\nthree\n") << r.err;
    auto j = nlohmann::json::parse(Docker({"image", "inspect", image}).out, nullptr, false);
    ASSERT_TRUE(j.is_array() && !j.empty());
    layers.push_back(j[0]["RootFS"]["Layers"].size());
  }
  EXPECT_LT(layers[1], layers[0]);
}

TEST_F(BuildGeneratorIntegrationTest, DkctlGenerateWritesOrPrintsDockerfiles) {
  const std::string host = daemon_->unix_host();
  CommandResult r = Dkctl(host, {"generate", "dockerfile", "--type", "python", "--name", "demo",
                                 "--port", "8000", "-e", "MODE=prod", "--label", "team=x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "ARG PYTHON_VERSION=3.12\n")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "EXPOSE 8000\n"));
  r = Dkctl(host, {"generate", "dockerfile", "--type", "go", "--format", "json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out << r.err;
  EXPECT_EQ(j["final_stage"], "runtime");
  EXPECT_TRUE(absl::StrContains(j["dockerfile"].get<std::string>(), "FROM golang:"));
  const std::string out = dir_ + "/gen";
  r = Dkctl(host, {"generate", "dockerfile", "--type", "node", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(RunCommand({"test", "-s", out + "/Dockerfile"}).exit_code, 0);
  EXPECT_EQ(RunCommand({"test", "-s", out + "/.dockerignore"}).exit_code, 0);
  // The file it wrote lints clean (exit 0 at hadolint's default threshold).
  r = Dkctl(host, {"lint", out + "/Dockerfile"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(BuildGeneratorIntegrationTest, DkctlRejectsHostileAndBadInput) {
  const std::string host = daemon_->unix_host();
  CommandResult r = Dkctl(host, {"generate", "dockerfile", "--type", "generic", "--cmd", "true",
                                 "-e", "X=a\nRUN rm -rf /"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "config.environment[\"X\"]")) << r.err;
  EXPECT_TRUE(r.out.empty());
  r = Dkctl(host, {"generate", "script", "--name", "x", "-t", "app:$(id)"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "config.tags[0]")) << r.err;
  r = Dkctl(host, {"generate", "dockerfile", "--type", "cobol"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "config.build_type")) << r.err;
  EXPECT_EQ(Dkctl(host, {"generate", "dockerfile"}).exit_code, 125);
  EXPECT_EQ(Dkctl(host, {"lint", "--no-such-flag"}).exit_code, 125);
  EXPECT_EQ(Dkctl(host, {"lint", dir_ + "/missing"}).exit_code, 1);
}

TEST_F(BuildGeneratorIntegrationTest, DkctlLintFollowsHadolintOutputAndExitCodes) {
  const std::string host = daemon_->unix_host();
  const std::string file = dir_ + "/Dockerfile.bad";
  Write(file, "FROM debian\nRUN apt-get update\nRUN apt-get install -y curl\n");
  CommandResult r = Dkctl(host, {"lint", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.out, file + ":3 DL3008 warning: Pin versions")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, file + ":2 DL3009 info: ")) << r.out;
  r = Dkctl(host, {"lint", "--format", "json", file});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && !j.empty()) << r.out;
  EXPECT_EQ(j[0]["file"], file);
  EXPECT_TRUE(j[0].contains("code") && j[0].contains("level") && j[0].contains("line"));
  // Only warnings and infos: the "error" threshold passes, --ignore removes rules.
  EXPECT_EQ(Dkctl(host, {"lint", "--failure-threshold", "error", file}).exit_code, 0);
  r = Dkctl(host, {"lint", "--ignore", "DL3008", "-"}, "FROM debian:12\nUSER nobody\n");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = Dkctl(host, {"lint", "-"}, "FROM x:1\nFOO bar\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StartsWith(r.out, "-:2 DL1000 error: line 2")) << r.out;
}

TEST_F(BuildGeneratorIntegrationTest, DkctlOptimizePrintsResultAndCounts) {
  const std::string host = daemon_->unix_host();
  const std::string file = dir_ + "/Dockerfile.opt";
  Write(file, "FROM debian:12\nRUN apt-get update\nRUN apt-get install -y curl\nUSER nobody\n");
  CommandResult r = Dkctl(host, {"optimize", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "--no-install-recommends")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.err, "combined 2 RUN instructions")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, " before, ")) << r.err;
  const std::string out = dir_ + "/Dockerfile.out";
  EXPECT_EQ(Dkctl(host, {"optimize", file, "-o", out}).exit_code, 0);
  EXPECT_EQ(RunCommand({"cat", out}).out, r.out);
  r = Dkctl(host, {"optimize", "--format", "json", file});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_LT(j["findings_after"].size(), j["findings_before"].size());
  r = Dkctl(host, {"optimize", "-"}, "FROM x\nFOO bar\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "unknown instruction")) << r.err;
}

TEST_F(BuildGeneratorIntegrationTest, GeneratedScriptPassesShellcheckBuildsTagsAndPushes) {
  const std::string registry = FixtureEnv("DKD_TEST_REGISTRY");
  ASSERT_FALSE(registry.empty());
  const std::string ctx = Dir("project/src");
  Write(ctx + "/Dockerfile",
        absl::StrCat("FROM ", base_,
                     "\nARG MSG\nRUN echo \"$MSG\" > /msg\nCMD [\"cat\", \"/msg\"]\n"));
  const std::string tag1 = Image("script"), tag2 = Image("script2");
  const std::string pushed = absl::StrCat(registry, "/dkd-bgi-script:", getpid());
  images_.push_back(pushed);
  const std::string hostile = "$(touch " + dir_ + "/pwned) `id` 'q'";
  const std::string script = dir_ + "/project/build.sh";
  CommandResult r =
      Dkctl(daemon_->unix_host(),
            {"generate",  "script", "--name",       "demo", "-t",          tag1,
             "-t",        tag2,     "--push",       pushed, "--build-arg", "MSG=" + hostile,
             "--label",   "team=x", "--dependency", base_,  "-f",          "src/Dockerfile",
             "--context", "src",    "-o",           script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  CommandResult sc = RunCommand({"/usr/bin/shellcheck", script});
  EXPECT_EQ(sc.exit_code, 0) << sc.out << sc.err;
  // Run from elsewhere: the script resolves its paths from its own directory.
  const std::map<std::string, std::string> env = {{"DOCKER_HOST", TestEngineHost()},
                                                  {"DOCKER_BUILDKIT", "0"}};
  CommandResult run = RunCommand({"bash", "-c", "cd / && \"$0\"", script}, env);
  ForgetLayers(run.out);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(RunCommand({"test", "-e", dir_ + "/pwned"}).exit_code, 0) << "build arg was run";
  EXPECT_EQ(Docker({"run", "--rm", tag2}).out, hostile + "\n");
  auto j = nlohmann::json::parse(Docker({"image", "inspect", tag1}).out, nullptr, false);
  ASSERT_TRUE(j.is_array() && !j.empty());
  EXPECT_EQ(j[0]["Config"]["Labels"]["team"], "x");
  CommandResult pull = Docker({"pull", pushed});
  EXPECT_EQ(pull.exit_code, 0) << pull.err;
  // A missing dependency stops the script before it builds anything.
  r = Dkctl(daemon_->unix_host(), {"generate", "script", "--name", "d", "-t", Image("never"),
                                   "--dependency", "dkd-bgi-absent:0", "-o", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  run = RunCommand({script}, env);
  EXPECT_NE(run.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(run.err, "dkd-bgi-absent:0")) << run.err;
}

}  // namespace
}  // namespace dkd::testing
