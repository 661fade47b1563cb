// Quoting and splitting of text that ends up in shell scripts and Dockerfiles.
//
// Generated text is run by people, so every caller-supplied value passes
// through one of these functions: ShellQuote makes a value one inert bash
// word, ExecFormJson renders a Dockerfile exec-form array with JSON string
// escaping, DockerfileQuote makes an ENV/LABEL/ARG value a single word with
// no variable expansion, and CheckNoControlCharacters rejects values that
// could start a new line (and with it a new instruction or command).
//
// SplitShellCommands is the inverse direction, used by the linter and the
// optimizer: it splits a shell command line into simple commands and words
// while respecting quotes, escapes, `$(...)` and backticks. It is a lexer, not
// a shell: it does not expand anything.
//
// All functions are pure and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace dkd::core {

// Returns `value` as one POSIX shell word in single quotes; an embedded `'`
// becomes `'\''`. The result is never expanded by bash, whatever it holds.
std::string ShellQuote(std::string_view value);

// Like ShellQuote, but returns `value` unchanged when it is non-empty and made
// only of characters no shell treats specially ([A-Za-z0-9_@%+=:,./-]).
std::string ShellQuoteIfNeeded(std::string_view value);

// Returns `value` as a JSON string literal (with quotes), escaping `"`, `\`
// and control characters.
std::string JsonQuote(std::string_view value);

// Renders a Dockerfile exec-form array: ["a", "b"].
std::string ExecFormJson(const std::vector<std::string>& args);

// Returns `value` in double quotes for a Dockerfile ENV, LABEL or ARG value,
// escaping `\`, `"` and `$` so the builder takes it literally.
std::string DockerfileQuote(std::string_view value);

// Returns InvalidArgument naming `field` when `value` holds a control
// character (newline, carriage return, NUL, tab, DEL, ...). Tabs are allowed
// only when `allow_tab` is set.
absl::Status CheckNoControlCharacters(std::string_view field, std::string_view value,
                                      bool allow_tab = false);

// One simple command of a shell command line: its words with quotes removed
// (a word that held an expansion keeps its `$` text), and the operator that
// connects it to the previous command ("" for the first, "&&", "||", ";",
// "|", "&").
struct ShellCommand {
  std::vector<std::string> words;
  std::string connector;

  // The command name: the first word after leading `VAR=value` assignments
  // and shell keywords (if, then, do, !, {, ...); "" when there is none.
  std::string Name() const;
  // The words after Name().
  std::vector<std::string> Args() const;
};

// Splits `script` on `&&`, `||`, `;`, `|`, `&` and newlines outside quotes,
// `$(...)`, backticks and parentheses' contents, then splits each command into
// words. Commands inside `$(...)`, backticks and subshells `( ... )` are
// returned as well, after the command that holds them. Never fails: unclosed
// quotes run to the end of the text.
std::vector<ShellCommand> SplitShellCommands(std::string_view script);

// True when `script` has a pipe `|` (not `||`) outside quotes.
bool HasShellPipe(std::string_view script);

}  // namespace dkd::core
