// ParseEngineDockerfile: builder flags, continuations, directives, heredocs
// and word splitting as the engine's builder reads them.
#include "core/policy/engine_dockerfile.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dkd::core {
namespace {

std::vector<std::string> Commands(const std::string& text, bool heredocs = false) {
  auto df = ParseEngineDockerfile(text, heredocs);
  EXPECT_TRUE(df.ok()) << df.status();
  std::vector<std::string> out;
  if (!df.ok()) return out;
  for (const auto& i : df->instructions) out.push_back(i.command + "|" + i.args);
  return out;
}

TEST(EngineDockerfileTest, SplitsBuilderFlagsWithTheirOwnQuoting) {
  auto df =
      ParseEngineDockerfile("FROM a\nCOPY --\"from\"=x --chown='a b' --fr\\om=y src dst\n", false);
  ASSERT_TRUE(df.ok()) << df.status();
  const auto& copy = df->instructions[1];
  EXPECT_EQ(copy.command, "copy");
  EXPECT_EQ(copy.flags, (std::vector<std::string>{"--from=x", "--chown=a b", "--from=y"}));
  EXPECT_EQ(copy.args, "src dst");
  // `--` ends the flags; what follows is arguments.
  df = ParseEngineDockerfile("COPY -- --from=x a b\n", false);
  ASSERT_TRUE(df.ok());
  EXPECT_TRUE(df->instructions[0].flags.empty());
  EXPECT_EQ(df->instructions[0].args, "--from=x a b");
}

TEST(EngineDockerfileTest, ContinuesOnlyOnAnUnescapedEscapeFollowedBySpacesOrTabs) {
  EXPECT_EQ(Commands("RUN a \\\n  b\n"), (std::vector<std::string>{"run|a   b"}));
  EXPECT_EQ(Commands("RUN a \\ \t\nb\n"), (std::vector<std::string>{"run|a b"}));
  EXPECT_EQ(Commands("RUN a \\\\\nFROM x\n"), (std::vector<std::string>{"run|a \\\\", "from|x"}));
  EXPECT_EQ(Commands("RUN a \\\v\nFROM x\n").size(), 2u);
  // Comment and blank lines inside a continuation are dropped.
  EXPECT_EQ(Commands("RUN a \\\n# c \\\n\nb\n"), (std::vector<std::string>{"run|a b"}));
}

TEST(EngineDockerfileTest, OnlyEscapeAndSyntaxAreDirectivesAndOnlyAtTheTop) {
  auto df = ParseEngineDockerfile("# escape=`\nRUN a `\nb\n", false);
  ASSERT_TRUE(df.ok());
  EXPECT_EQ(df->escape, '`');
  EXPECT_EQ(df->instructions.size(), 1u);
  df = ParseEngineDockerfile("# check=x\n# escape=`\nRUN a `\nFROM b\n", false);
  ASSERT_TRUE(df.ok());
  EXPECT_EQ(df->escape, '\\');
  EXPECT_EQ(df->instructions.size(), 2u);
  df = ParseEngineDockerfile("\n# escape=`\nRUN a\n", false);
  ASSERT_TRUE(df.ok());
  EXPECT_EQ(df->escape, '\\') << "a blank line ends the directives";
  EXPECT_FALSE(ParseEngineDockerfile("# escape=`\n# escape=\\\nRUN a\n", false).ok());
  EXPECT_FALSE(ParseEngineDockerfile("# escape=x\nRUN a\n", false).ok());
  df = ParseEngineDockerfile("# syntax=r/fe\nFROM a\n# syntax=r/late\n", false);
  ASSERT_TRUE(df.ok());
  EXPECT_EQ(df->syntax, (std::vector<std::string>{"r/fe", "r/late"}));
}

TEST(EngineDockerfileTest, HeredocBodiesAreSkippedOnlyWhenAsked) {
  const std::string text = "FROM a\nRUN cat <<EOF\nFROM b\nEOF\nRUN x\n";
  EXPECT_EQ(Commands(text, false).size(), 5u);
  EXPECT_EQ(Commands(text, true), (std::vector<std::string>{"from|a", "run|cat <<EOF", "run|x"}));
}

TEST(EngineDockerfileTest, StripsBomCrAndUnicodeSpaceAsGoDoes) {
  EXPECT_EQ(Commands("\xEF\xBB\xBF"
                     "FROM a\r\n\xC2\xA0# comment\r\nRUN b\r\n"),
            (std::vector<std::string>{"from|a", "run|b"}));
}

TEST(EngineDockerfileTest, WordsKeepQuotesAndWhitespaceWordsSplitOnAsciiSpace) {
  EXPECT_EQ(EngineWords("A=\"x y\" B=z", '\\'), (std::vector<std::string>{"A=\"x y\"", "B=z"}));
  EXPECT_EQ(EngineWhitespaceWords("img\tAS\vname"),
            (std::vector<std::string>{"img", "AS", "name"}));
}

}  // namespace
}  // namespace dkd::core
