// DockerIgnore: the exclusion rules of a build context's `.dockerignore`, with
// the semantics of the Docker CLI and Engine.
//
// Parsing follows the CLI: a UTF-8 BOM is dropped, lines starting with `#` are
// comments, surrounding whitespace is trimmed, blank lines are skipped, each
// pattern is path-cleaned (`a//b/../c/` is `a/c`) and a leading `/` is removed.
// A pattern starting with `!` is an exception that re-includes what earlier
// patterns excluded. Patterns support `*` (any run within one path element),
// `?` (one character other than `/`), `[...]` classes (`^` negates, `a-z`
// ranges), `\` escapes and `**` (any number of directories, including none).
// The last matching pattern wins, and a pattern that matches a directory also
// matches everything below it.
//
// A DockerIgnore is immutable once built (except through KeepPath, which is
// meant for set-up before use) and its const methods are safe to call from
// several threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace dkd::core {

namespace internal {

// One compiled pattern element; see dockerignore.cc.
struct PatternToken {
  enum class Kind : uint8_t { kLiteral, kAnyOne, kStar, kClass, kAnyDirs, kAnyTail };
  Kind kind = Kind::kLiteral;
  char32_t rune = 0;                                  // kLiteral
  bool negated = false;                               // kClass
  std::vector<std::pair<char32_t, char32_t>> ranges;  // kClass, inclusive
};

}  // namespace internal

class DockerIgnore {
 public:
  // Per-directory match memory used by a depth-first walk: which patterns
  // matched the directory itself (and so match everything inside it).
  class MatchState {
   public:
    MatchState() = default;

   private:
    friend class DockerIgnore;
    std::vector<bool> matched_;
  };

  // An empty rule set: nothing is excluded.
  DockerIgnore() = default;

  // Parses the text of a `.dockerignore` file. Returns InvalidArgument naming
  // the line for a malformed pattern (a lone `!`, an unclosed or empty `[...]`,
  // a bad range, a trailing `\`).
  static absl::StatusOr<DockerIgnore> Parse(std::string_view text);

  // Builds the rules from patterns already in their final form (one per
  // element, `!` marking exceptions), applying the same cleaning as Parse.
  static absl::StatusOr<DockerIgnore> FromPatterns(const std::vector<std::string>& patterns);

  // True if `rel_path` (relative to the context root, `/`-separated) is left
  // out of the context: the last pattern matching it or one of its parent
  // directories is not an exception. The context root (`.` or ``) never is.
  bool Excluded(std::string_view rel_path) const;

  // Walk form of Excluded. `parent` is the state returned for the parent
  // directory (a default MatchState for entries at the root); when `rel_path`
  // is a directory, `*state` receives the state to pass for its children.
  // Gives the same answers as Excluded for a depth-first walk.
  bool ExcludedInWalk(std::string_view rel_path, const MatchState& parent, MatchState* state) const;

  // True if an excluded directory must still be walked because an exception
  // names a path below it. Like the Engine, only the literal text of each
  // exception is considered, so `!*/keep` does not reopen an excluded `dir`.
  bool MustDescend(std::string_view rel_dir) const;

  // Makes sure `rel_path` is sent even if a pattern excludes it, by appending
  // the exception `!rel_path` when needed. The CLI does this for the
  // Dockerfile and for `.dockerignore` itself.
  void KeepPath(std::string_view rel_path);

  // The cleaned patterns, in order, exceptions with their leading `!`.
  std::vector<std::string> Patterns() const;

  // True if any pattern is an exception.
  bool HasExceptions() const { return has_exceptions_; }

  // True if there are no patterns at all.
  bool empty() const { return patterns_.empty(); }

 private:
  struct Pattern {
    enum class Type : uint8_t { kExact, kPrefix, kSuffix, kGlob };
    std::string text;  // cleaned, without the leading `!`
    bool exception = false;
    Type type = Type::kExact;
    std::vector<internal::PatternToken> tokens;  // kGlob only

    bool Matches(std::string_view path) const;
  };

  absl::Status Add(std::string_view raw);

  std::vector<Pattern> patterns_;
  bool has_exceptions_ = false;
};

// Go's `path.Clean` for `/`-separated paths: collapses `//`, drops `.`
// elements, resolves `..` lexically, removes a trailing `/`; "" becomes ".".
std::string CleanPath(std::string_view path);

}  // namespace dkd::core
