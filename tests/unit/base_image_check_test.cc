// CheckBaseImages and ReachableImages: which images a Dockerfile makes the
// engine resolve, and which registries are refused.
#include "core/policy/base_image_check.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace dkd::core {
namespace {

const std::vector<std::string> kAllowed = {"registry.internal:5000"};
// The default registry allowed: the setting under which image ids mattered.
const std::vector<std::string> kDefaultAllowed = {"docker.io"};
constexpr auto kClassic = BuilderKind::kClassic;
constexpr auto kBuildKit = BuilderKind::kBuildKit;

absl::Status Check(const std::string& df, BuilderKind b = kClassic,
                   const std::map<std::string, std::string>& args = {},
                   const std::vector<std::string>& allowed = kAllowed) {
  return CheckBaseImages(df, args, allowed, b);
}

bool Says(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST(CheckBaseImagesTest, AllowsListedRegistryStagesAndScratch) {
  for (BuilderKind b : {kClassic, kBuildKit}) {
    EXPECT_TRUE(Check("FROM registry.internal:5000/base:1 AS build\n"
                      "FROM build AS test\nFROM scratch\nCOPY --from=build /a /a\n"
                      "COPY --from=BUILD /a /b\nCOPY --from=1 /a /c\n",
                      b)
                    .ok());
  }
  EXPECT_TRUE(Check("FROM python:3\n", kClassic, {}, {}).ok()) << "no list: everything allowed";
}

TEST(CheckBaseImagesTest, RefusesOtherRegistriesNamingLineAndImage) {
  absl::Status s = Check("FROM registry.internal:5000/a\nFROM python:3.12\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Says(s, "line 2")) << s;
  EXPECT_TRUE(Says(s, "docker.io")) << s;
  EXPECT_TRUE(Says(s, "build.base_registries")) << s;
}

TEST(CheckBaseImagesTest, ExpandsGlobalArgsAndBuildArgsOverride) {
  const std::string df = "ARG BASE=registry.internal:5000/base\nFROM ${BASE}:1\n";
  EXPECT_TRUE(Check(df).ok());
  EXPECT_EQ(Check(df, kClassic, {{"BASE", "evil.example/base"}}).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Check("FROM ${X:-evil.example/x}\n").code(), absl::StatusCode::kPermissionDenied);
  // Proxy args reach FROM without an ARG line, as in the engine.
  EXPECT_EQ(Check("FROM $HTTP_PROXY\n", kClassic, {{"HTTP_PROXY", "evil.example/x"}}).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(CheckBaseImagesTest, RefusesCopyFromAndMountFromOtherRegistries) {
  const std::string base = "FROM registry.internal:5000/base\n";
  for (BuilderKind b : {kClassic, kBuildKit}) {
    for (const std::string& line :
         {std::string("COPY --from=evil.example/x:1 / /\n"),
          std::string("ADD --from=evil.example/x:1 / /\n"),
          std::string("COPY --chown=1 --from=docker.io/library/busybox / /\n"),
          std::string("RUN --mount=type=bind,from=evil.example/x,target=/m true\n"),
          std::string("RUN --mount=type=cache,FROM=evil.example/x,target=/m true\n"),
          // Builder flags are unquoted and unescaped before they are read.
          std::string("COPY --\"from\"=evil.example/x / /\n"),
          std::string("COPY --fr\\om=evil.example/x / /\n"),
          std::string("COPY --from='evil.example/x' / /\n")}) {
      absl::Status s = Check(base + line, b);
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << line << s;
      EXPECT_TRUE(Says(s, "line 2")) << s;
    }
  }
}

TEST(CheckBaseImagesTest, StageNamesAreEarlierStagesOnly) {
  // A later stage's name, or the current one's, is an image to the engine.
  EXPECT_EQ(Check("FROM registry.internal:5000/a AS one\nCOPY --from=two / /\n"
                  "FROM registry.internal:5000/b AS two\n")
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Check("FROM evil AS evil\n").code(), absl::StatusCode::kPermissionDenied);
  // A stage name the engine would reject cannot pass for a registry.
  EXPECT_EQ(Check("FROM registry.internal:5000/a AS evil.example/x\n"
                  "COPY --from=evil.example/x / /\n")
                .code(),
            absl::StatusCode::kInvalidArgument);
  // An index must name an earlier stage.
  EXPECT_EQ(Check("FROM registry.internal:5000/a\nCOPY --from=0 / /\n").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Check("FROM registry.internal:5000/a\nFROM registry.internal:5000/b\n"
                    "COPY --from=+0 / /\n")
                  .ok());
}

TEST(CheckBaseImagesTest, ChecksOnbuildTriggers) {
  const std::string base = "FROM registry.internal:5000/base\n";
  EXPECT_EQ(Check(base + "ONBUILD COPY --from=evil.example/x / /\n").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Check(base + "onbuild RUN --mount=from=evil.example/x true\n").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Check(base + "ONBUILD COPY --from=0 / /\n").ok()) << "a downstream stage";
}

TEST(CheckBaseImagesTest, ClassicReadsNoHeredocsSoTheNextFromIsSeen) {
  const std::string df =
      "FROM registry.internal:5000/base\nRUN true <<EOF\nFROM evil.example/x\nEOF\n";
  EXPECT_EQ(Check(df, kClassic).code(), absl::StatusCode::kPermissionDenied);
  // BuildKit may or may not read heredocs: both readings count.
  EXPECT_EQ(Check(df, kBuildKit).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Check("FROM registry.internal:5000/base\nRUN <<EOF\necho hi\nEOF\n", kBuildKit).ok());
}

TEST(CheckBaseImagesTest, ReadsContinuationsAndDirectivesAsTheEngine) {
  const std::string base = "FROM registry.internal:5000/base\n";
  for (const std::string& trick : {
           // An escaped escape does not continue the line.
           std::string("RUN echo \\\\\nFROM evil.example/x\n"),
           // Only spaces and tabs may follow a continuation.
           std::string("RUN true \\\v\nFROM evil.example/x\n"),
           // `check` is not a directive for this engine: the escape line is a
           // comment and the backtick continues nothing.
           std::string("# check=x\n# escape=`\n") + base + "RUN true `\nFROM evil.example/x\n",
           // A comment inside a continuation is dropped, not joined.
           std::string("RUN true \\\n# \\\nFROM evil.example/x\nFROM evil.example/y\n"),
       }) {
    const std::string df = absl::StartsWith(trick, "#") ? trick : base + trick;
    EXPECT_EQ(Check(df).code(), absl::StatusCode::kPermissionDenied) << df;
  }
  EXPECT_TRUE(Check("# escape=`\nFROM registry.internal:5000/base\nRUN true `\n  && true\n").ok());
}

TEST(CheckBaseImagesTest, SyntaxFrontendCountsOnlyOnBuildKit) {
  const std::string df = "# syntax=evil.example/frontend:1\nFROM registry.internal:5000/base\n";
  EXPECT_TRUE(Check(df, kClassic).ok()) << "a comment to the classic builder";
  absl::Status s = Check(df, kBuildKit);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Says(s, "syntax")) << s;
  EXPECT_EQ(Check("FROM registry.internal:5000/base\n", kBuildKit,
                  {{"BUILDKIT_SYNTAX", "evil.example/frontend"}})
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(CheckBaseImagesTest, RefusesImagesNamedById) {
  const std::string id(64, 'a');
  for (const std::string& df :
       {"FROM " + id + "\n", std::string("FROM 0123abcd\n"), std::string("FROM sha256:0123ab\n"),
        "FROM sha256:" + id + "\n",
        std::string("FROM docker.io/library/busybox\nCOPY --from=deadbeef / /\n"),
        std::string("ARG I=abc123\nFROM $I\n")}) {
    absl::Status s = Check(df, kClassic, {}, kDefaultAllowed);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << df << s;
    EXPECT_TRUE(Says(s, "by id")) << s;
  }
}

TEST(CheckBaseImagesTest, RefusesNamesItCannotReadForSure) {
  for (const std::string& df :
       {std::string("FROM \"evil.example/x\"\n"), std::string("FROM ev\\il.example/x\n"),
        std::string("ARG B=\"evil.example/x\"\nFROM $B\n"),
        std::string("FROM ${B-evil.example/x}\n"),
        std::string("FROM registry.internal:5000/a\nCOPY --from=$S / /\n")}) {
    absl::Status s = Check(df);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << df << s;
  }
}

TEST(ReachableImagesTest, ListsEveryImageWithWhereItIsNamed) {
  auto images = ReachableImages(
      "# syntax=r/fe\nARG V=1\nFROM r/a:$V AS a\nCOPY --from=r/b / /\n"
      "RUN --mount=type=bind,from=r/c,target=/c true\nONBUILD COPY --from=r/d / /\n",
      {}, kBuildKit);
  ASSERT_TRUE(images.ok()) << images.status();
  std::set<std::string> seen;
  for (const auto& im : *images) seen.insert(im.where + " " + im.image);
  EXPECT_TRUE(seen.count("FROM r/a:1"));
  EXPECT_TRUE(seen.count("COPY --from r/b"));
  EXPECT_TRUE(seen.count("RUN --mount from r/c"));
  EXPECT_TRUE(seen.count("ONBUILD COPY --from r/d"));
  EXPECT_TRUE(seen.count("# syntax r/fe"));
}

}  // namespace
}  // namespace dkd::core
