// dkctl build's BuildKit flags (client/build_flags): --builder, --secret in
// its buildx forms and errors, --platform, --cache-from and --progress, and
// how they land in the BuildSpec.
#include "client/build_flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace dkd::client {
namespace {

namespace pb = ::dkd::v1;
using ::testing::HasSubstr;
using ::testing::Not;

class BuildFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dkdbf.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  EnvLookup Env() {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }
  absl::StatusOr<pb::BuildSpec> Secrets(const std::vector<std::string>& values) {
    pb::BuildSpec spec;
    if (absl::Status s = AddSecrets(values, Env(), &spec); !s.ok()) return s;
    return spec;
  }

  std::string dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(BuildFlagsTest, BuilderTakesAutoBuildkitOrClassic) {
  EXPECT_EQ(*ParseBuilderFlag("auto"), pb::BuildSpec::BUILDER_AUTO);
  EXPECT_EQ(*ParseBuilderFlag("buildkit"), pb::BuildSpec::BUILDER_BUILDKIT);
  EXPECT_EQ(*ParseBuilderFlag("classic"), pb::BuildSpec::BUILDER_CLASSIC);
  for (const char* bad : {"", "BuildKit", "legacy", "default"}) {
    auto b = ParseBuilderFlag(bad);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(b.status().message(), HasSubstr("--builder"));
    EXPECT_THAT(b.status().message(), HasSubstr("auto, buildkit or classic"));
  }
}

TEST_F(BuildFlagsTest, SecretFromAFileIsReadOnTheClient) {
  const std::string path = Write("token.txt", std::string("s3cr\0et\n", 8));
  auto spec = Secrets({"id=tok,src=" + path});
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->secrets_size(), 1);
  EXPECT_EQ(spec->secrets(0).id(), "tok");
  EXPECT_EQ(spec->secrets(0).data(), std::string("s3cr\0et\n", 8));
}

TEST_F(BuildFlagsTest, SecretSpellingsOfBuildx) {
  const std::string path = Write("npmrc", "file-bytes");
  env_["API_KEY"] = "env-bytes";
  struct Case {
    std::string flag, id, data;
  };
  const std::vector<Case> cases = {
      {"id=a,src=" + path, "a", "file-bytes"},
      {"id=a,source=" + path, "a", "file-bytes"},
      {"type=file,id=a,src=" + path, "a", "file-bytes"},
      {"src=" + path, "npmrc", "file-bytes"},  // id: the file's base name
      {"id=k,env=API_KEY", "k", "env-bytes"},
      {"type=env,id=k,src=API_KEY", "k", "env-bytes"},  // buildx: src names the variable
      {"env=API_KEY", "API_KEY", "env-bytes"},
      {"id=API_KEY", "API_KEY", "env-bytes"},                // BuildKit: the variable when set
      {"\"id=a\",\"src=" + path + "\"", "a", "file-bytes"},  // CSV quoting
  };
  for (const Case& c : cases) {
    auto spec = Secrets({c.flag});
    ASSERT_TRUE(spec.ok()) << c.flag << ": " << spec.status();
    ASSERT_EQ(spec->secrets_size(), 1) << c.flag;
    EXPECT_EQ(spec->secrets(0).id(), c.id) << c.flag;
    EXPECT_EQ(spec->secrets(0).data(), c.data) << c.flag;
  }
}

TEST_F(BuildFlagsTest, AnIdAloneReadsTheFileOfThatNameWhenNoVariableIsSet) {
  auto source = ParseSecretFlag("id=" + dir_ + "/cred", Env());
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ(source->kind, SecretSource::Kind::kFile);
  EXPECT_EQ(source->source, dir_ + "/cred");
}

TEST_F(BuildFlagsTest, SecretErrorsNameTheFlagAndTheRuleButNeverTheBytes) {
  const std::string path = Write("pw", "hunter2-bytes");
  env_["PW"] = "hunter2-env";
  struct Case {
    std::vector<std::string> flags;
    std::string rule;
  };
  const std::vector<Case> cases = {
      {{"id=x,src=" + dir_ + "/missing"}, "cannot read src"},
      {{"id=x,src=" + dir_}, "not a regular file"},
      {{"id=x,env=UNSET_VAR"}, "environment variable UNSET_VAR is not set"},
      {{"id=x,src=" + path, "id=x,env=PW"}, "duplicate id \"x\""},
      {{"src=" + path, "id=pw,env=PW"}, "duplicate id \"pw\""},
      {{"id=x,data=hunter2-inline"}, "unexpected key \"data\""},
      {{"hunter2-inline"}, "KEY=VALUE"},
      {{"type=ssh,id=x"}, "unsupported type \"ssh\""},
      {{"id=x,src=" + path + ",env=PW"}, "src or env, not both"},
      {{"type=file,id=x,env=PW"}, "type=file takes src"},
      {{"type=file"}, "expected id=ID,src=PATH or id=ID,env=VAR"},
      {{"id=,src=" + path}, "pw"},  // An empty id falls back to the base name.
      {{"\"id=x,src=" + path}, "unbalanced quotes"},
  };
  for (const Case& c : cases) {
    auto spec = Secrets(c.flags);
    if (c.rule == "pw") {
      ASSERT_TRUE(spec.ok()) << spec.status();
      EXPECT_EQ(spec->secrets(0).id(), "pw");
      continue;
    }
    ASSERT_FALSE(spec.ok()) << c.flags[0];
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(spec.status().message());
    EXPECT_THAT(msg, HasSubstr("--secret")) << msg;
    EXPECT_THAT(msg, HasSubstr(c.rule)) << msg;
    EXPECT_THAT(msg, Not(HasSubstr("hunter2"))) << msg;
  }
}

TEST_F(BuildFlagsTest, ASecretOverBuildKitsLimitIsRefused) {
  const std::string path = Write("big", std::string(kMaxSecretBytes + 1, 'x'));
  auto spec = Secrets({"id=big,src=" + path});
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr("500 KiB"));
  EXPECT_TRUE(Secrets({"id=fits,src=" + Write("fits", std::string(kMaxSecretBytes, 'x'))}).ok());
}

TEST_F(BuildFlagsTest, CacheFromTakesARegistryRefOrAPlainImage) {
  EXPECT_EQ(*ParseCacheFromFlag("reg:5000/app:cache"), "reg:5000/app:cache");
  EXPECT_EQ(*ParseCacheFromFlag("type=registry,ref=reg:5000/app:cache"), "reg:5000/app:cache");
  EXPECT_EQ(*ParseCacheFromFlag("ref=app:1"), "app:1");
  for (const char* bad : {"", "type=local,src=/tmp/cache", "type=registry",
                          "type=registry,mode=max", "type=registry,ref"}) {
    auto ref = ParseCacheFromFlag(bad);
    ASSERT_FALSE(ref.ok()) << bad;
    EXPECT_THAT(ref.status().message(), HasSubstr("--cache-from")) << bad;
  }
  EXPECT_THAT(ParseCacheFromFlag("type=local,src=/tmp/cache").status().message(),
              HasSubstr("unsupported type \"local\""));
  EXPECT_THAT(ParseCacheFromFlag("type=registry,ref=a,mode=max").status().message(),
              HasSubstr("unexpected key \"mode\""));
}

TEST_F(BuildFlagsTest, PlatformIsOneOsArchVariant) {
  for (const char* ok : {"linux/amd64", "linux/arm64/v8", "linux", "windows/amd64"}) {
    EXPECT_TRUE(CheckPlatformFlag(ok).ok()) << ok;
  }
  for (const char* bad : {"", "linux/amd64,linux/arm64", "linux/", "/amd64", "linux//amd64",
                          "a/b/c/d", "linux amd64"}) {
    absl::Status s = CheckPlatformFlag(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_THAT(s.message(), HasSubstr("--platform")) << bad;
  }
}

TEST_F(BuildFlagsTest, ProgressValuesAndTheirResolution) {
  EXPECT_EQ(*ParseProgressFlag("auto"), ProgressMode::kAuto);
  EXPECT_EQ(*ParseProgressFlag("plain"), ProgressMode::kPlain);
  EXPECT_EQ(*ParseProgressFlag("tty"), ProgressMode::kTty);
  EXPECT_EQ(*ParseProgressFlag("quiet"), ProgressMode::kQuiet);
  EXPECT_EQ(*ParseProgressFlag("rawjson"), ProgressMode::kRawJson);
  auto bad = ParseProgressFlag("json");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--progress"));
  EXPECT_THAT(bad.status().message(), HasSubstr("auto, plain, tty, quiet or rawjson"));

  EXPECT_EQ(*ResolveProgress(ProgressMode::kAuto, false, true), ProgressMode::kTty);
  EXPECT_EQ(*ResolveProgress(ProgressMode::kAuto, false, false), ProgressMode::kPlain);
  EXPECT_EQ(*ResolveProgress(ProgressMode::kRawJson, false, true), ProgressMode::kRawJson);
  EXPECT_EQ(*ResolveProgress(ProgressMode::kTty, false, false), ProgressMode::kTty);
  // -q keeps working, alone or with --progress=quiet; with another mode it
  // is a contradiction, as buildx says.
  EXPECT_EQ(*ResolveProgress(ProgressMode::kAuto, true, true), ProgressMode::kQuiet);
  EXPECT_EQ(*ResolveProgress(ProgressMode::kQuiet, true, false), ProgressMode::kQuiet);
  EXPECT_EQ(*ResolveProgress(ProgressMode::kQuiet, false, true), ProgressMode::kQuiet);
  auto both = ResolveProgress(ProgressMode::kPlain, true, false);
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(both.status().message(), HasSubstr("--quiet"));
}

TEST_F(BuildFlagsTest, ApplySetsEveryFieldOrNoneOnError) {
  const std::string path = Write("id_rsa", "key-bytes");
  BuildKitFlags flags;
  flags.builder = "buildkit";
  flags.secrets = {"id=ssh,src=" + path};
  flags.platform = "linux/arm64";
  flags.cache_from = {"type=registry,ref=reg/app:cache", "reg/app:1"};
  pb::BuildSpec spec;
  ASSERT_TRUE(ApplyBuildKitFlags(flags, Env(), &spec).ok());
  EXPECT_EQ(spec.builder(), pb::BuildSpec::BUILDER_BUILDKIT);
  EXPECT_EQ(spec.platform(), "linux/arm64");
  ASSERT_EQ(spec.cache_from_size(), 2);
  EXPECT_EQ(spec.cache_from(0), "reg/app:cache");
  EXPECT_EQ(spec.cache_from(1), "reg/app:1");
  ASSERT_EQ(spec.secrets_size(), 1);
  EXPECT_EQ(spec.secrets(0).id(), "ssh");
  EXPECT_EQ(spec.secrets(0).data(), "key-bytes");

  BuildKitFlags defaults;
  pb::BuildSpec plain;
  ASSERT_TRUE(ApplyBuildKitFlags(defaults, Env(), &plain).ok());
  EXPECT_EQ(plain.builder(), pb::BuildSpec::BUILDER_AUTO);
  EXPECT_EQ(plain.ByteSizeLong(), 0u);  // Nothing new on the wire for a classic-style build.

  BuildKitFlags classic = flags;
  classic.builder = "classic";
  pb::BuildSpec classic_spec;
  absl::Status no_secrets = ApplyBuildKitFlags(classic, Env(), &classic_spec);
  EXPECT_THAT(no_secrets.message(), HasSubstr("--secret"));
  EXPECT_THAT(no_secrets.message(), HasSubstr("BuildKit"));
  EXPECT_EQ(classic_spec.ByteSizeLong(), 0u);
  classic.secrets.clear();
  ASSERT_TRUE(ApplyBuildKitFlags(classic, Env(), &classic_spec).ok());
  EXPECT_EQ(classic_spec.builder(), pb::BuildSpec::BUILDER_CLASSIC);
  EXPECT_EQ(classic_spec.cache_from_size(), 2);

  flags.secrets.push_back("id=ssh,env=HOME");
  pb::BuildSpec refused;
  absl::Status s = ApplyBuildKitFlags(flags, Env(), &refused);
  EXPECT_THAT(s.message(), HasSubstr("duplicate id"));
  EXPECT_EQ(refused.ByteSizeLong(), 0u);
}

TEST_F(BuildFlagsTest, ProcessEnvReadsTheEnvironment) {
  setenv("DKD_BUILD_FLAGS_TEST_VAR", "v", 1);
  EXPECT_EQ(ProcessEnv()("DKD_BUILD_FLAGS_TEST_VAR"), "v");
  unsetenv("DKD_BUILD_FLAGS_TEST_VAR");
  EXPECT_EQ(ProcessEnv()("DKD_BUILD_FLAGS_TEST_VAR"), std::nullopt);
}

}  // namespace
}  // namespace dkd::client
