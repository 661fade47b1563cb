// Quoting and shell splitting: hostile values stay inert in bash, and the
// commands a shell line runs are found.
#include "core/base/shell_quote.h"

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Runs `printf %s <word>` in bash and returns what it printed.
std::string EchoThroughBash(const std::string& word) {
  std::string cmd = "bash -c " + ShellQuote("printf %s " + word);
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return "<popen failed>";
  std::string out;
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

TEST(ShellQuoteTest, HostileValuesStayInertInBash) {
  for (const std::string& v :
       {std::string("$(touch /tmp/dkd-pwned)"), std::string("`id`"), std::string("a'b"),
        std::string("it's \"quoted\" $HOME \\ ; | & > <"), std::string("''"), std::string("-n")}) {
    EXPECT_EQ(EchoThroughBash(ShellQuote(v)), v) << v;
  }
}

TEST(ShellQuoteTest, QuotesEmbeddedSingleQuote) { EXPECT_EQ(ShellQuote("a'b"), "'a'\\''b'"); }

TEST(ShellQuoteTest, QuoteIfNeededLeavesSafeWordsBare) {
  EXPECT_EQ(ShellQuoteIfNeeded("./cmd/server"), "./cmd/server");
  EXPECT_EQ(ShellQuoteIfNeeded("a b"), "'a b'");
  EXPECT_EQ(ShellQuoteIfNeeded(""), "''");
  EXPECT_EQ(ShellQuoteIfNeeded("$(id)"), "'$(id)'");
}

TEST(ShellQuoteTest, JsonQuoteEscapes) {
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote(std::string("x\x01", 2)), "\"x\\u0001\"");
  EXPECT_EQ(ExecFormJson({"python", "-c", "print(\"hi\")"}),
            "[\"python\", \"-c\", \"print(\\\"hi\\\")\"]");
}

TEST(ShellQuoteTest, DockerfileQuoteEscapesDollarQuoteAndBackslash) {
  EXPECT_EQ(DockerfileQuote("a $B \"c\" \\"), "\"a \\$B \\\"c\\\" \\\\\"");
}

TEST(ShellQuoteTest, RejectsControlCharactersNamingTheField) {
  absl::Status s = CheckNoControlCharacters("config.environment[\"X\"]", "ok\nRUN rm -rf /");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("config.environment[\"X\"]"));
  EXPECT_FALSE(CheckNoControlCharacters("f", "a\rb").ok());
  EXPECT_FALSE(CheckNoControlCharacters("f", std::string("a\0b", 3)).ok());
  EXPECT_FALSE(CheckNoControlCharacters("f", "a\tb").ok());
  EXPECT_TRUE(CheckNoControlCharacters("f", "a\tb", /*allow_tab=*/true).ok());
  EXPECT_TRUE(CheckNoControlCharacters("f", "héllo $(x) 'q'").ok());
}

std::vector<std::string> Names(const std::vector<ShellCommand>& cmds) {
  std::vector<std::string> out;
  for (const ShellCommand& c : cmds) out.push_back(c.Name());
  return out;
}

TEST(ShellQuoteTest, SplitsOnOperatorsOutsideQuotes) {
  auto cmds = SplitShellCommands(
      "apt-get update && apt-get install -y curl | tee log; echo \"a && b\" || true");
  EXPECT_THAT(Names(cmds), ElementsAre("apt-get", "apt-get", "tee", "echo", "true"));
  EXPECT_EQ(cmds[1].connector, "&&");
  EXPECT_EQ(cmds[2].connector, "|");
  EXPECT_EQ(cmds[3].connector, ";");
  EXPECT_EQ(cmds[4].connector, "||");
  EXPECT_THAT(cmds[3].words, ElementsAre("echo", "a && b"));
}

TEST(ShellQuoteTest, SkipsAssignmentsKeywordsAndRedirections) {
  auto cmds = SplitShellCommands("CGO_ENABLED=0 go build -o /out 2>&1 >/dev/null");
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].Name(), "go");
  EXPECT_THAT(cmds[0].Args(), ElementsAre("build", "-o", "/out"));
  EXPECT_THAT(Names(SplitShellCommands("if true; then sudo ls; fi")),
              ElementsAre("true", "sudo", ""));
}

TEST(ShellQuoteTest, FindsCommandsInSubstitutionsAndSubshells) {
  auto cmds = SplitShellCommands("echo $(cd /x && pwd) `whoami` && (sudo id)");
  EXPECT_THAT(Names(cmds), ElementsAre("echo", "cd", "pwd", "whoami", "sudo"));
}

TEST(ShellQuoteTest, DetectsPipesOnly) {
  EXPECT_TRUE(HasShellPipe("curl x | sh"));
  EXPECT_FALSE(HasShellPipe("a || b"));
  EXPECT_FALSE(HasShellPipe("echo 'a | b'"));
}

}  // namespace
}  // namespace dkd::core
