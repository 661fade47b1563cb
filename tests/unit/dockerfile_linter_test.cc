// DockerfileLinter: each rule fires and stays quiet, ignore rules, pragmas and
// parse errors.
#include "core/buildgen/dockerfile_linter.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

std::vector<LintFinding> FindingsOf(const std::string& text, const std::string& rule,
                                    LintOptions options = {}) {
  LintResult r = DockerfileLinter(std::move(options)).Lint(text);
  EXPECT_EQ(r.parse_error, "") << text;
  std::vector<LintFinding> out;
  for (const LintFinding& f : r.findings) {
    if (f.rule == rule) out.push_back(f);
  }
  return out;
}

struct RuleCase {
  std::string rule;
  LintSeverity severity;
  int line;            // line of the firing instruction
  std::string fires;   // Dockerfile that triggers the rule
  std::string passes;  // a close variant that does not
};

// Every Dockerfile below ends with a non-root USER unless the rule is about
// users, so unrelated rules stay quiet.
const std::vector<RuleCase>& Cases() {
  static const std::vector<RuleCase> cases = {
      {"DL3000", LintSeverity::kError, 2, "FROM a:1\nWORKDIR app\n", "FROM a:1\nWORKDIR /app\n"},
      {"DL3002", LintSeverity::kWarning, 3, "FROM a:1\nUSER app\nUSER root\n",
       "FROM a:1\nUSER root\nUSER app\n"},
      {"DL3003", LintSeverity::kWarning, 2, "FROM a:1\nRUN cd /tmp && make\n",
       "FROM a:1\nWORKDIR /tmp\nRUN make\n"},
      {"DL3004", LintSeverity::kError, 2, "FROM a:1\nRUN sudo make install\n",
       "FROM a:1\nRUN make install\n"},
      {"DL3006", LintSeverity::kWarning, 1, "FROM debian\n", "FROM debian:12 AS base\nFROM base\n"},
      {"DL3007", LintSeverity::kWarning, 1, "FROM debian:latest\n",
       "FROM debian:latest@sha256:abc\n"},
      {"DL3008", LintSeverity::kWarning, 2,
       "FROM a:1\nRUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf "
       "/var/lib/apt/lists/*\n",
       "FROM a:1\nRUN apt-get update && apt-get install -y --no-install-recommends -t bookworm "
       "curl=7.88 ./x.deb && rm -rf /var/lib/apt/lists/*\n"},
      {"DL3009", LintSeverity::kInfo, 2,
       "FROM a:1\nRUN apt-get update && apt-get install -y --no-install-recommends curl=1\n",
       "FROM a:1 AS build\nRUN apt-get update && apt-get install -y --no-install-recommends "
       "curl=1\nFROM b:1\nCOPY --from=build /x /x\n"},
      {"DL3014", LintSeverity::kWarning, 2,
       "FROM a:1\nRUN apt-get install --no-install-recommends curl=1\n",
       "FROM a:1\nRUN apt-get -qq install --no-install-recommends curl=1\n"},
      {"DL3015", LintSeverity::kInfo, 2, "FROM a:1\nRUN apt-get install -y curl=1\n",
       "FROM a:1\nRUN apt-get install -y --no-install-recommends curl=1\n"},
      {"DL3020", LintSeverity::kError, 2, "FROM a:1\nADD src/ /app/\n",
       "FROM a:1\nADD app.tar.gz https://example.com/x.tgz /app/\n"},
      {"DL3025", LintSeverity::kWarning, 2, "FROM a:1\nCMD python app.py\n",
       "FROM a:1\nCMD [\"python\", \"app.py\"]\n"},
      {"DL3026", LintSeverity::kError, 1, "FROM evil.example.com/app:1\n",
       "FROM registry.example.com/app:1\nFROM debian:12\n"},
      {"DL3027", LintSeverity::kWarning, 2, "FROM a:1\nRUN apt install -y curl=1\n",
       "FROM a:1\nRUN apt-cache policy curl\n"},
      {"DL3042", LintSeverity::kWarning, 2, "FROM a:1\nRUN pip install flask==3.0\n",
       "FROM a:1\nENV PIP_NO_CACHE_DIR=1\nRUN pip install flask==3.0\n"},
      {"DL3045", LintSeverity::kWarning, 2, "FROM a:1\nCOPY app.py app/\n",
       "FROM a:1 AS base\nWORKDIR /srv\nFROM base\nCOPY app.py app/\n"},
      {"DL3059", LintSeverity::kInfo, 3, "FROM a:1\nRUN make\nRUN make install\n",
       "FROM a:1\nRUN make\n# comment\nRUN --mount=type=cache,target=/c make install\n"},
      {"DL4000", LintSeverity::kError, 2, "FROM a:1\nMAINTAINER me@example.com\n",
       "FROM a:1\nLABEL org.opencontainers.image.authors=me@example.com\n"},
      {"DL4006", LintSeverity::kWarning, 2, "FROM a:1\nRUN curl -fsS https://x | sh\n",
       "FROM a:1\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN curl -fsS https://x | "
       "sh\n"},
      {"DKD001", LintSeverity::kError, 2, "FROM a:1\nENV DB_PASSWORD=hunter2\n",
       "FROM a:1\nARG DB_PASSWORD\nENV DB_PASSWORD_FILE=/run/secrets/db API_TOKEN=$API_TOKEN\n"},
      {"DKD002", LintSeverity::kWarning, 2, "FROM a:1\nRUN chmod -R 777 /app\n",
       "FROM a:1\nRUN chmod -R 755 /app\n"},
      {"DKD003", LintSeverity::kWarning, 3, "FROM a:1 AS build\nUSER app\nFROM b:1\n",
       "FROM a:1 AS base\nUSER app\nFROM base\n"},
  };
  return cases;
}

TEST(DockerfileLinterTest, EachRuleFiresAndStaysQuiet) {
  for (const RuleCase& c : Cases()) {
    SCOPED_TRACE(c.rule);
    LintOptions options;
    if (c.rule == "DL3026") options.trusted_registries = {"docker.io", "registry.example.com"};
    std::string user = c.rule == "DL3002" || c.rule == "DKD003" ? "" : "USER app\n";
    auto fired = FindingsOf(c.fires + user, c.rule, options);
    ASSERT_EQ(fired.size(), 1u) << c.fires;
    EXPECT_EQ(fired[0].line, c.line);
    EXPECT_EQ(fired[0].severity, c.severity);
    EXPECT_FALSE(fired[0].message.empty());
    EXPECT_TRUE(FindingsOf(c.passes + user, c.rule, options).empty()) << c.passes;
  }
}

TEST(DockerfileLinterTest, FindsAptGetBehindOperatorsAndSubshells) {
  EXPECT_EQ(
      FindingsOf("FROM a:1\nRUN true; (apt-get install curl=1) || exit 1\nUSER app\n", "DL3014")
          .size(),
      1u);
  EXPECT_TRUE(
      FindingsOf("FROM a:1\nRUN echo 'apt-get install curl'\nUSER app\n", "DL3014").empty());
}

TEST(DockerfileLinterTest, CacheMountsSatisfyCacheRules) {
  EXPECT_TRUE(FindingsOf("FROM a:1\nRUN --mount=type=cache,target=/root/.cache/pip pip install "
                         "x==1\nUSER app\n",
                         "DL3042")
                  .empty());
  EXPECT_TRUE(FindingsOf("FROM a:1\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get "
                         "update && apt-get install -y --no-install-recommends x=1\nUSER app\n",
                         "DL3009")
                  .empty());
}

TEST(DockerfileLinterTest, IgnoreRulesAndInlinePragmas) {
  const std::string text = "FROM debian\n# hadolint ignore=DL3003\nRUN cd /x && make\nUSER app\n";
  EXPECT_TRUE(FindingsOf(text, "DL3003").empty());
  EXPECT_EQ(FindingsOf(text, "DL3006").size(), 1u);
  LintOptions options;
  options.ignore_rules = {"DL3006"};
  EXPECT_TRUE(FindingsOf(text, "DL3006", options).empty());
}

TEST(DockerfileLinterTest, CountsAndParseErrors) {
  LintResult r = DockerfileLinter().Lint("FROM debian\nMAINTAINER x\nCMD run\n");
  EXPECT_EQ(r.error_count, 1);    // DL4000
  EXPECT_EQ(r.warning_count, 3);  // DL3006, DL3025, DKD003
  ASSERT_EQ(r.findings.size(), 4u);
  EXPECT_EQ(r.findings[0].line, 1);
  LintResult bad = DockerfileLinter().Lint("this is not a Dockerfile\n");
  EXPECT_FALSE(bad.parse_error.empty());
  EXPECT_TRUE(bad.findings.empty());
  EXPECT_EQ(LintSeverityName(LintSeverity::kInfo), "info");
}

}  // namespace
}  // namespace dkd::core
