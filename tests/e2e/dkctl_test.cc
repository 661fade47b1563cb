// End to end: dkctl driven as a person would, against dkd, against the real
// engine. Checks output, exit codes and the engine's own view.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/support/daemon_fixture.h"

namespace dkd::testing {
namespace {

using ::testing::HasSubstr;

class DkctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto d = DaemonProcess::Start({});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = d->release();
    base_ = new std::string(FixtureEnv("DKD_TEST_BASE_IMAGE"));
    ASSERT_FALSE(base_->empty()) << "fixtures not up: run scripts/fixtures.sh up";
  }
  static void TearDownTestSuite() {
    delete daemon_;
    delete base_;
  }
  void SetUp() override {
    char tmpl[] = "/tmp/dkde.XXXXXX";
    dir_ = mkdtemp(tmpl);
    config_ = dir_ + "/dkctl.json";
  }
  void TearDown() override {
    for (const auto& c : containers_) Docker({"rm", "-f", c});
    for (const auto& i : images_) Docker({"rmi", "-f", i});
    RunCommand({"rm", "-rf", dir_});
  }

  CommandResult Run(const std::vector<std::string>& args, const std::string& input = "") {
    std::vector<std::string> argv = {DKCTL_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {{"DKD_HOST", daemon_->unix_host()}, {"DKCTL_CONFIG", config_}}, input);
  }
  CommandResult Docker(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"docker", "-H", TestEngineHost()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  void Write(const std::string& rel, const std::string& content) {
    RunCommand({"mkdir", "-p", dir_ + "/" + rel.substr(0, rel.rfind('/') + 1)});
    std::ofstream(dir_ + "/" + rel) << content;
  }
  std::string Unique(const std::string& p) { return absl::StrCat(p, "-", getpid(), "-", n_++); }

  static DaemonProcess* daemon_;
  static std::string* base_;
  std::string dir_, config_;
  std::vector<std::string> containers_, images_;
  int n_ = 0;
};
DaemonProcess* DkctlTest::daemon_ = nullptr;
std::string* DkctlTest::base_ = nullptr;

TEST_F(DkctlTest, BuildHonoursDockerignoreAndStreamsTheLog) {
  Write("ctx/Dockerfile",
        absl::StrCat("FROM ", *base_, "\nCOPY . /app\nRUN echo built-marker\n",
                     "CMD [\"sh\", \"-c\", \"cd /app && find . -type f | sort\"]\n"));
  Write("ctx/.dockerignore", "# comments are ignored\n*.log\nsecret/\n**/tmp-*\n!keep.log\n");
  Write("ctx/app.txt", "app");
  Write("ctx/debug.log", "no");
  Write("ctx/keep.log", "yes");
  Write("ctx/secret/key", "no");
  Write("ctx/sub/tmp-x", "no");
  Write("ctx/sub/real", "yes");
  const std::string tag = Unique("dkde-build") + ":1";
  images_.push_back(tag);
  // The default builder is BuildKit on this engine: its steps and log on
  // stderr, as docker's plain progress.
  CommandResult b =
      Run({"build", "--pull=false", "--no-cache", "--progress", "plain", "-t", tag, dir_ + "/ctx"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  EXPECT_THAT(b.err, HasSubstr("[3/3] RUN echo built-marker\n"));
  EXPECT_THAT(b.err, ::testing::ContainsRegex("#[0-9]+ [0-9.]+ built-marker\n"));
  CommandResult files = Docker({"run", "--rm", tag});
  EXPECT_EQ(files.out, "./.dockerignore\n./Dockerfile\n./app.txt\n./keep.log\n./sub/real\n");
  // The classic builder: its log on stdout, as before, and the same files.
  const std::string classic_tag = Unique("dkde-build-classic") + ":1";
  images_.push_back(classic_tag);
  CommandResult c = Run({"build", "--builder", "classic", "--pull=false", "--no-cache", "-t",
                         classic_tag, dir_ + "/ctx"});
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("Step 3/4 : RUN echo built-marker"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("\nbuilt-marker\n"), std::string::npos) << c.out;
  EXPECT_EQ(Docker({"run", "--rm", classic_tag}).out, files.out);
}

TEST_F(DkctlTest, FailingBuildExitsNonZeroWithTheStep) {
  Write("bad/Dockerfile", absl::StrCat("FROM ", *base_, "\nRUN echo about-to-fail && false\n"));
  const std::string tag = Unique("dkde-bad") + ":1";
  CommandResult b =
      Run({"build", "--pull=false", "--no-cache", "--progress", "plain", "-t", tag, dir_ + "/bad"});
  EXPECT_EQ(b.exit_code, 1);
  EXPECT_THAT(b.err, ::testing::ContainsRegex("#[0-9]+ [0-9.]+ about-to-fail\n"));
  EXPECT_THAT(b.err, HasSubstr("build failed at [2/2] RUN echo about-to-fail && false: "));
  EXPECT_THAT(b.err, HasSubstr("exit code: 1"));
  CommandResult c =
      Run({"build", "--builder", "classic", "--pull=false", "-t", tag, dir_ + "/bad"});
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.out.find("about-to-fail"), std::string::npos);
  EXPECT_NE(c.err.find("step 2/2"), std::string::npos) << c.err;
}

TEST_F(DkctlTest, BuildKitBuildWithASecretPrintsPlainProgressAndTheImageId) {
  const std::string secret = Unique("dkde-secret-value");
  Write(
      "bk/Dockerfile",
      absl::StrCat("FROM ", *base_, "\n",
                   "RUN --mount=type=secret,id=tok test -s /run/secrets/tok && echo secret-ok\n"));
  Write("secret.txt", secret);
  const std::string tag = Unique("dkde-bk") + ":1";
  images_.push_back(tag);
  const std::string iid = dir_ + "/iid";
  CommandResult b = Run({"build", "--builder", "buildkit", "--progress", "plain", "--secret",
                         "id=tok,src=" + dir_ + "/secret.txt", "--pull=false", "--no-cache",
                         "--iidfile", iid, "-t", tag, dir_ + "/bk"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  // docker's plain progress: the step, its output with its offset, its end.
  EXPECT_THAT(b.err, ::testing::MatchesRegex(
                         "(.|\n)*\n#[0-9]+ \\[2/2\\] RUN --mount=type=secret,id=tok test -s "
                         "/run/secrets/tok && echo secret-ok\n#[0-9]+ sha256:[0-9a-f]{64}\n"
                         "#[0-9]+ [0-9]+\\.[0-9]+ secret-ok\n#[0-9]+ DONE [0-9.]+s\n(.|\n)*"));
  EXPECT_EQ((b.out + b.err).find(secret), std::string::npos);
  std::ifstream in(iid);
  std::string id((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(Docker({"image", "inspect", "--format", "{{.Id}}", tag}).out, id + "\n");
  EXPECT_EQ(Docker({"history", "--no-trunc", tag}).out.find(secret), std::string::npos);
  // A secret with the classic builder is a usage error naming the flag.
  CommandResult classic = Run({"build", "--builder", "classic", "--secret",
                               "id=tok,src=" + dir_ + "/secret.txt", "-t", tag, dir_ + "/bk"});
  EXPECT_EQ(classic.exit_code, 125) << classic.err;
  EXPECT_NE(classic.err.find("--secret"), std::string::npos) << classic.err;
}

TEST_F(DkctlTest, BuildWithDockerfileOutsideTheContext) {
  Write("ctx2/data.txt", "payload\n");
  Write("elsewhere/Build.dockerfile",
        absl::StrCat("FROM ", *base_, "\nCOPY data.txt /data.txt\nCMD [\"cat\", \"/data.txt\"]\n"));
  const std::string tag = Unique("dkde-ext") + ":1";
  images_.push_back(tag);
  CommandResult b = Run({"build", "--pull=false", "-q", "-f", dir_ + "/elsewhere/Build.dockerfile",
                         "-t", tag, dir_ + "/ctx2"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(b.out.rfind("sha256:", 0), 0u) << b.out;
  EXPECT_EQ(Docker({"run", "--rm", tag}).out, "payload\n");
}

TEST_F(DkctlTest, RunPsLogsStopRmLikeDocker) {
  const std::string name = Unique("dkde-web");
  containers_.push_back(name);
  CommandResult r = Run({"run", "-d", "--name", name, "-e", "WHO=e2e", "-p", "127.0.0.1::80", "-l",
                         "dkde=1", *base_, "sh", "-c", "echo hello $WHO; sleep 300"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(id.size(), 64u);

  CommandResult ps = Run({"ps", "--filter", "label=dkde=1", "--format", "json"});
  ASSERT_EQ(ps.exit_code, 0) << ps.err;
  auto j = nlohmann::json::parse(ps.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << ps.out;
  bool found = false;
  for (const auto& c : j) {
    if (c["Names"] == name) {
      found = true;
      EXPECT_EQ(c["State"], "running");
      EXPECT_NE(c["Ports"].get<std::string>().find("->80/tcp"), std::string::npos) << c.dump();
    }
  }
  EXPECT_TRUE(found) << ps.out;
  CommandResult table = Run({"ps"});
  EXPECT_NE(table.out.find("CONTAINER ID"), std::string::npos);
  EXPECT_NE(table.out.find(name), std::string::npos);
  CommandResult quiet = Run({"ps", "-q", "--filter", "name=" + name});
  EXPECT_EQ(quiet.out, id.substr(0, 12) + "\n");

  for (int i = 0; i < 100 && Run({"logs", name}).out.empty(); ++i) usleep(50 * 1000);
  EXPECT_EQ(Run({"logs", name}).out, "hello e2e\n");

  CommandResult rm_running = Run({"rm", name});
  EXPECT_EQ(rm_running.exit_code, 1);
  EXPECT_NE(rm_running.err.find("Error response from daemon"), std::string::npos);
  EXPECT_EQ(Run({"stop", "-t", "0", name}).out, name + "\n");
  EXPECT_EQ(Run({"rm", name}).exit_code, 0);
  EXPECT_NE(Docker({"inspect", name}).exit_code, 0);
  CommandResult missing = Run({"stop", "no-such-container-dkde"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("No such container"), std::string::npos) << missing.err;
}

TEST_F(DkctlTest, AttachedRunStreamsOutputAndExitsWithTheContainersCode) {
  CommandResult r = Run({"run", "--rm", *base_, "sh", "-c", "echo out; echo err >&2; exit 42"});
  EXPECT_EQ(r.exit_code, 42);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  CommandResult bad = Run({"run", "--restart", "sometimes", *base_});
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_NE(bad.err.find("config.restart_policy"), std::string::npos) << bad.err;
  CommandResult missing = Run({"run", "--pull", "never", "dkde-no-such-image:1"});
  EXPECT_EQ(missing.exit_code, 125);
  EXPECT_NE(missing.err.find("not present locally"), std::string::npos) << missing.err;
}

TEST_F(DkctlTest, LoginThenPushToTheProtectedRegistry) {
  const std::string registry = FixtureEnv("DKD_TEST_AUTH_REGISTRY");
  const std::string password = FixtureEnv("DKD_TEST_AUTH_PASSWORD");
  const std::string ref = absl::StrCat(registry, "/", Unique("dkde-push"), ":1");
  ASSERT_EQ(Docker({"tag", *base_, ref}).exit_code, 0);
  images_.push_back(ref);
  CommandResult denied = Run({"push", ref});
  EXPECT_EQ(denied.exit_code, 1);
  // The registry's own words: "no basic auth credentials" without any.
  EXPECT_NE(denied.err.find("auth"), std::string::npos) << denied.err;

  CommandResult login =
      Run({"login", "-u", FixtureEnv("DKD_TEST_AUTH_USER"), "--password-stdin", registry},
          password + "\n");
  ASSERT_EQ(login.exit_code, 0) << login.err;
  struct stat st {};
  ASSERT_EQ(stat(config_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  CommandResult pushed = Run({"push", "-q", ref});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  EXPECT_EQ(pushed.out.rfind("sha256:", 0), 0u) << pushed.out;
  EXPECT_EQ(daemon_->Log().find(password), std::string::npos);
}

TEST_F(DkctlTest, ImagesInspectAndRmi) {
  const std::string ref = Unique("dkde-img") + ":x";
  ASSERT_EQ(Docker({"tag", *base_, ref}).exit_code, 0);
  CommandResult images = Run({"images", "--format", "json", ref});
  ASSERT_EQ(images.exit_code, 0);
  auto j = nlohmann::json::parse(images.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 1) << images.out;
  CommandResult inspect = Run({"inspect", ref});
  ASSERT_EQ(inspect.exit_code, 0);
  auto ij = nlohmann::json::parse(inspect.out, nullptr, false);
  ASSERT_TRUE(ij.is_array() && ij.size() == 1);
  EXPECT_EQ(ij[0]["Id"], j[0]["Id"]);
  CommandResult rmi = Run({"rmi", ref});
  EXPECT_EQ(rmi.exit_code, 0);
  EXPECT_NE(rmi.out.find("Untagged: " + ref), std::string::npos) << rmi.out;
}

TEST_F(DkctlTest, UnknownCommandAndFlagFollowDockersExitCodes) {
  EXPECT_EQ(Run({"frobnicate"}).exit_code, 1);
  EXPECT_EQ(Run({"ps", "--bogus"}).exit_code, 125);
  CommandResult help = Run({"run", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--publish"), std::string::npos);
}

}  // namespace
}  // namespace dkd::testing

namespace dkd::testing {
namespace {

// build.base_registries: FROM lines are checked as the context streams, so a
// refused build never reaches the engine's builder (the image is not made,
// even though its base exists locally).
TEST(DkctlBasePolicyTest, BuildsOnlyFromAllowedBaseRegistries) {
  const std::string registry = FixtureEnv("DKD_TEST_REGISTRY");
  const std::string base = FixtureEnv("DKD_TEST_BASE_IMAGE");
  ASSERT_FALSE(registry.empty());
  auto d = DaemonProcess::Start(
      {}, absl::StrCat(R"({"build": {"base_registries": [")", registry, R"("]}})"));
  ASSERT_TRUE(d.ok()) << d.status();
  char tmpl[] = "/tmp/dkdp.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto build = [&](const std::string& from, const std::string& tag) {
    std::ofstream(dir + "/Dockerfile") << "ARG BASE=" << from << "\nFROM ${BASE}\nRUN true\n";
    return RunCommand({DKCTL_BINARY, "build", "--pull=false", "-t", tag, dir},
                      {{"DKD_HOST", (*d)->unix_host()}});
  };
  const std::string allowed_tag = absl::StrCat("dkde-allowed-", getpid(), ":1");
  CommandResult ok = build(base, allowed_tag);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  const std::string refused_tag = absl::StrCat("dkde-refused-", getpid(), ":1");
  CommandResult refused = build("busybox:latest", refused_tag);  // docker.io, present locally
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("build.base_registries"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("line 2"), std::string::npos) << refused.err;
  EXPECT_NE(
      RunCommand({"docker", "-H", TestEngineHost(), "image", "inspect", refused_tag}).exit_code, 0);
  RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", allowed_tag});
  RunCommand({"rm", "-rf", dir});
}

}  // namespace
}  // namespace dkd::testing
