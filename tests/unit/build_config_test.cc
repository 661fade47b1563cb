// The build.* and limits.* keys the build gate reads.
#include <gtest/gtest.h>

#include "server/config.h"

namespace dkd::server {
namespace {

absl::StatusOr<DaemonConfig> Parse(const std::string& text) {
  return ParseConfig(nlohmann::json::parse(text), ConfigOverrides());
}

TEST(BuildConfigTest, RemoteAddIsOffByDefaultAndTakesABool) {
  auto c = Parse("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->security.policy.allow_remote_add);
  c = Parse(R"({"build": {"allow_remote_add": true}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->security.policy.allow_remote_add);
  c = Parse(R"({"build": {"allow_remote_add": "yes"}})");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("build.allow_remote_add"), std::string::npos)
      << c.status();
}

TEST(BuildConfigTest, ContextLimitAndBaseRegistriesAreRead) {
  auto c = Parse(
      R"({"build": {"base_registries": ["r:5000"]}, "limits": {"max_context_bytes": 1048576}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->security.policy.base_registries, std::vector<std::string>{"r:5000"});
  EXPECT_EQ(c->security.limits.max_context_bytes, 1048576);
}

}  // namespace
}  // namespace dkd::server
