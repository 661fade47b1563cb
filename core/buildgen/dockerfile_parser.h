// A Dockerfile parser that follows BuildKit's front end: parser directives
// (`# syntax=`, `# escape=` with `\` or a backtick, `# check=`) at the top,
// comments, line continuations (with comment and blank lines inside a
// continuation skipped, as BuildKit does), case-insensitive keywords,
// leading `--flags`, JSON (exec) versus shell form, heredocs (`<<EOF`,
// `<<-EOF`, quoted delimiters; body kept as text), and ONBUILD triggers.
//
// Each instruction keeps the 1-based lines it spans, its original text and
// its logical text (continuations joined), so the linter can report lines
// and the optimizer can rewrite instructions in place. Nothing is expanded
// while parsing; ExpandVariables and VariableReferences deal with `$VAR`,
// `${VAR}` and `${VAR:-default}` / `${VAR:+alt}` when a caller needs them.
//
// All functions are pure and thread-safe; results are plain values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace dkd::core {

// A leading `--name=value` (or bare `--name`) flag.
struct DockerfileFlag {
  std::string name;
  std::string value;
};

struct DockerfileHeredoc {
  std::string delimiter;
  std::string content;      // lines between the opener and the delimiter, '\n'-terminated
  bool strip_tabs = false;  // `<<-`
};

struct DockerfileInstruction {
  std::string keyword;    // upper-case: "FROM", "RUN", ...
  std::string original;   // source lines as written, joined by '\n'
  std::string arguments;  // after the keyword, continuations joined, trimmed
  std::vector<DockerfileFlag> flags;
  std::string rest;  // `arguments` after the flags
  // Exec form: `rest` is a JSON array of strings (for HEALTHCHECK, the part
  // after `CMD`).
  bool json_form = false;
  std::vector<std::string> json_args;
  std::vector<DockerfileHeredoc> heredocs;
  // ONBUILD's trigger instruction (one element), parsed like any other.
  std::vector<DockerfileInstruction> trigger;
  int start_line = 0;
  int end_line = 0;

  // The value of flag `name` (without dashes), if present.
  std::optional<std::string> Flag(std::string_view name) const;
};

struct DockerfileComment {
  int line = 0;
  std::string text;  // after '#', trimmed
};

struct ParsedDockerfile {
  std::map<std::string, std::string> directives;  // lower-case keys
  char escape = '\\';
  std::vector<DockerfileInstruction> instructions;
  std::vector<DockerfileComment> comments;
};

// Parses `text`. InvalidArgument ("line N: ...") for an unknown instruction,
// an instruction without arguments where they are required, a bad escape
// directive, or a text with no instruction at all.
absl::StatusOr<ParsedDockerfile> ParseDockerfile(std::string_view text);

// Splits Dockerfile arguments into words as BuildKit's word lexer does:
// whitespace separates, quotes group and are removed, `escape` escapes the
// next character outside single quotes. `$` references are kept as text.
std::vector<std::string> SplitDockerfileWords(std::string_view text, char escape = '\\');

struct DockerfileKeyValue {
  std::string key;
  std::string value;
  bool has_value = false;  // `ARG NAME` has none
};

// The pairs of an ENV, LABEL or ARG instruction, including the legacy
// `ENV KEY value with spaces` form. Quotes are removed; nothing is expanded.
std::vector<DockerfileKeyValue> ParseKeyValues(const DockerfileInstruction& instruction,
                                               char escape = '\\');

// A FROM line, split up: image "name[:tag][@digest]" plus `AS alias`.
struct FromInfo {
  std::string image;  // as written, e.g. "python:${V}-slim"
  std::string name;   // without tag and digest
  std::string tag;
  std::string digest;
  std::string alias;  // lower-cased, "" when absent
  std::string platform;
};
FromInfo ParseFrom(const DockerfileInstruction& instruction, char escape = '\\');

// Names referenced by `$NAME` and `${NAME...}` in `text` (escaped `\$` and
// single-quoted text excluded), in order of first appearance.
std::vector<std::string> VariableReferences(std::string_view text);

// Replaces `$NAME`, `${NAME}`, `${NAME:-word}` and `${NAME:+word}` with
// values from `vars` (unset names expand to ""); `\$` stays a literal `$`.
std::string ExpandVariables(std::string_view text, const std::map<std::string, std::string>& vars);

}  // namespace dkd::core
