// OptimizeDockerfile: its rewrites, idempotence, and files left alone when a
// change would alter their meaning.
#include "core/buildgen/dockerfile_optimizer.h"

#include <string>

#include "core/buildgen/dockerfile_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(DockerfileOptimizerTest, FixesAptAndCombinesRuns) {
  const std::string text =
      "FROM debian:12\n"
      "# tools\n"
      "RUN apt-get update\n"
      "RUN apt-get install \\\n"
      "      curl=7.88\n"
      "RUN pip install flask==3.0\n"
      "USER app\n";
  auto r = OptimizeDockerfile(text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->dockerfile, HasSubstr("# tools\nRUN apt-get update \\\n    && apt-get install"));
  EXPECT_THAT(r->dockerfile, HasSubstr("install -y --no-install-recommends curl=7.88"));
  EXPECT_THAT(r->dockerfile, HasSubstr("rm -rf /var/lib/apt/lists/*"));
  EXPECT_THAT(r->dockerfile, HasSubstr("pip install --no-cache-dir flask==3.0"));
  EXPECT_LT(r->findings_after.size(), r->findings_before.size());
  EXPECT_TRUE(r->findings_after.empty()) << r->dockerfile;
  EXPECT_FALSE(r->changes.empty());
  EXPECT_THAT(r->changes[0], HasSubstr("line 3-6: combined 3 RUN instructions"));
  EXPECT_TRUE(ParseDockerfile(r->dockerfile).ok());
}

TEST(DockerfileOptimizerTest, IsIdempotent) {
  const std::string text =
      "FROM alpine:3.20\nRUN apk add curl=8.9\nRUN echo a\nWORKDIR /src\nRUN cd /src/sub && make\n"
      "USER app\n";
  auto once = OptimizeDockerfile(text);
  ASSERT_TRUE(once.ok());
  EXPECT_THAT(once->dockerfile, HasSubstr("apk add --no-cache curl=8.9"));
  auto twice = OptimizeDockerfile(once->dockerfile);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->dockerfile, once->dockerfile);
  EXPECT_TRUE(twice->changes.empty());
}

TEST(DockerfileOptimizerTest, ReplacesTrivialCdWithWorkdirAndRestoresIt) {
  auto r = OptimizeDockerfile("FROM a:1\nWORKDIR /src\nRUN cd /src/sub && make\nUSER app\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->dockerfile,
            "FROM a:1\nWORKDIR /src\nWORKDIR /src/sub\nRUN make\nWORKDIR /src\nUSER app\n");
  EXPECT_TRUE(r->findings_after.empty());
  // Without a known previous WORKDIR the cd stays.
  auto unknown = OptimizeDockerfile("FROM a:1\nRUN cd /x && make\nUSER app\n");
  ASSERT_TRUE(unknown.ok());
  EXPECT_THAT(unknown->dockerfile, HasSubstr("RUN cd /x && make"));
}

TEST(DockerfileOptimizerTest, KeepsSemanticsWhenCombiningIsUnsafe) {
  const std::string text =
      "FROM a:1\nRUN export X=1 && make\nRUN make install\nRUN [\"echo\", \"x\"]\n"
      "RUN --mount=type=cache,target=/c make\nUSER app\n";
  auto r = OptimizeDockerfile(text);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->dockerfile, text);
  EXPECT_TRUE(r->changes.empty());
}

TEST(DockerfileOptimizerTest, LeavesCleanFilesAndLayoutAlone) {
  const std::string text =
      "# syntax=docker/dockerfile:1\n\nFROM a:1\n\n# run it\nCMD [\"app\"]\nUSER app";
  auto r = OptimizeDockerfile(text);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->dockerfile, text);
  EXPECT_THAT(r->dockerfile, Not(HasSubstr("RUN")));
}

TEST(DockerfileOptimizerTest, RejectsNonDockerfiles) {
  EXPECT_EQ(OptimizeDockerfile("hello world\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dkd::core
