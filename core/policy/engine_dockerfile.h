// Reads a Dockerfile the way the engine's builder does, down to the images a
// build can make the engine resolve.
//
// The line handling is a port of the parser the engine vendors (moby 20.10,
// buildkit v0.8 `frontend/dockerfile/parser`): only `escape` and `syntax` are
// directives, a line continues only when the escape character is its last
// non-blank character and is not itself escaped, comment and blank lines
// inside a continuation are dropped, builder flags are split with their own
// quoting rules, and ONBUILD triggers are re-read as the downstream build
// will read them. The classic builder has no heredocs; with `heredocs` set the
// bodies of `<<WORD` openers are skipped as BuildKit's newer front ends do.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dkd::core {

struct EngineInstruction {
  std::string command;             // lower-case: "from", "copy", ...
  std::vector<std::string> flags;  // "--from=x", after the builder's unquoting
  std::string args;                // the rest of the line, trimmed
  std::string line_text;           // the logical line (continuations joined)
  int line = 0;                    // 1-based first line
};

struct EngineDockerfile {
  char escape = '\\';
  std::vector<EngineInstruction> instructions;
  // Values of every comment that reads as a `syntax` directive, wherever it
  // is (the caller decides which ones count).
  std::vector<std::string> syntax;
};

// InvalidArgument ("line N: ...") for a bad or repeated directive, or a file
// without instructions.
absl::StatusOr<EngineDockerfile> ParseEngineDockerfile(const std::string& text, bool heredocs);

// The builder's split of ARG/ENV-style arguments into words (quotes kept,
// escapes kept), as parser.parseWords does.
std::vector<std::string> EngineWords(const std::string& rest, char escape);

// The builder's split of FROM arguments: on runs of [\t\v\f\r ].
std::vector<std::string> EngineWhitespaceWords(const std::string& rest);

// What the engine stores for an ONBUILD line, and the downstream build
// re-parses with default directives: the line without `(?i)^\s*ONBUILD\s*`.
std::string OnbuildTrigger(const std::string& line);

}  // namespace dkd::core
