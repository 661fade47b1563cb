// DockerfileLinter checks a Dockerfile against rules equivalent to hadolint's
// (same ids, triggers, severities and messages): DL3000 DL3002 DL3003 DL3004
// DL3006 DL3007 DL3008 DL3009 DL3014 DL3015 DL3020 DL3025 DL3026 DL3027
// DL3042 DL3045 DL3059 DL4000 DL4006, plus dkd's own:
//   DKD001 (error)   a secret-looking ENV/ARG (PASSWORD, SECRET, TOKEN,
//                    API_KEY, ...) given a literal value in the Dockerfile;
//   DKD002 (warning) `chmod 777`, `-R 777` or `a+rwx`;
//   DKD003 (warning) the final stage sets no USER, so the image runs as root.
// Shell rules look at each simple command of a RUN (SplitShellCommands), so
// `apt-get install` is found behind `&&`, `;`, `||` and pipes. A comment
// `# hadolint ignore=DL3008,DL3015` right above an instruction silences those
// rules for it, as in hadolint.
//
// A DockerfileLinter is immutable after construction; Lint is thread-safe.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/buildgen/dockerfile_parser.h"

namespace dkd::core {

enum class LintSeverity { kError, kWarning, kInfo, kStyle };

// "error", "warning", "info", "style".
std::string_view LintSeverityName(LintSeverity severity);

struct LintFinding {
  std::string rule;  // "DL3008", "DKD001"
  int line = 0;      // first line of the instruction, 1-based
  LintSeverity severity = LintSeverity::kWarning;
  std::string message;
};

struct LintOptions {
  std::vector<std::string> ignore_rules;
  // Registries allowed in FROM (DL3026); empty = any. "docker.io" covers
  // Docker Hub images; "*.example.com" matches subdomains.
  std::vector<std::string> trusted_registries;
};

struct LintResult {
  std::vector<LintFinding> findings;  // ordered by line, then rule
  int error_count = 0;
  int warning_count = 0;
  std::string parse_error;  // set when the text is not a Dockerfile (no findings then)
};

class DockerfileLinter {
 public:
  explicit DockerfileLinter(LintOptions options = {});

  // Parses and lints `text`. A parse failure is reported in parse_error.
  LintResult Lint(std::string_view text) const;

  // Lints an already parsed Dockerfile; findings ordered by line, then rule.
  std::vector<LintFinding> Lint(const ParsedDockerfile& dockerfile) const;

 private:
  LintOptions options_;
  std::set<std::string> ignored_;
};

}  // namespace dkd::core
