// DockerIgnore (dockerignore.h): reading patterns, Go's glob matching and path
// cleaning, and the exclusion and re-inclusion decisions.
#include "core/context/dockerignore.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dkd::core {
namespace {

using internal::PatternToken;
using Kind = internal::PatternToken::Kind;

// Go's strings.TrimSpace, for ASCII white space.
std::string_view TrimSpace(std::string_view s) {
  const char* kSpace = " \t\n\v\f\r";
  const size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

bool HasPrefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool HasSuffix(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Decodes one UTF-8 code point at `s[*pos]` and advances `*pos`. A byte that
// does not start a valid sequence decodes to a value above U+10FFFF that only
// equals the same byte, so odd file names still compare byte for byte.
char32_t NextRune(std::string_view s, size_t* pos) {
  const auto b0 = static_cast<unsigned char>(s[*pos]);
  const size_t len = b0 < 0x80             ? 1
                     : (b0 & 0xE0) == 0xC0 ? 2
                     : (b0 & 0xF0) == 0xE0 ? 3
                     : (b0 & 0xF8) == 0xF0 ? 4
                                           : 0;
  char32_t cp = b0 & (len == 1 ? 0x7F : 0x7F >> len);
  bool ok = len != 0 && *pos + len <= s.size();
  for (size_t k = 1; ok && k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[*pos + k]);
    ok = (b & 0xC0) == 0x80;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (!ok) {
    ++*pos;
    return 0x110000 + b0;
  }
  *pos += len;
  return cp;
}

// Parses one class member the way Go's filepath.Match does: `-` and `]` must
// be escaped, `\` escapes the next character, and the class must go on after.
bool ClassChar(std::string_view p, size_t* pos, char32_t* out) {
  if (*pos >= p.size() || p[*pos] == '-' || p[*pos] == ']') return false;
  if (p[*pos] == '\\') {
    ++*pos;
    if (*pos >= p.size()) return false;
  }
  *out = NextRune(p, pos);
  return *pos < p.size();
}

// Parses `[...]` starting just after the `[`; leaves `*pos` after the `]`.
bool ParseClass(std::string_view p, size_t* pos, PatternToken* tok) {
  tok->kind = Kind::kClass;
  if (*pos < p.size() && p[*pos] == '^') {
    tok->negated = true;
    ++*pos;
  }
  while (true) {
    if (*pos < p.size() && p[*pos] == ']' && !tok->ranges.empty()) {
      ++*pos;
      return true;
    }
    char32_t lo = 0;
    if (!ClassChar(p, pos, &lo)) return false;
    char32_t hi = lo;
    if (p[*pos] == '-') {
      ++*pos;
      if (!ClassChar(p, pos, &hi)) return false;
    }
    tok->ranges.emplace_back(lo, hi);
  }
}

bool ClassMatches(const PatternToken& tok, char32_t c) {
  bool in = false;
  for (const auto& [lo, hi] : tok.ranges) {
    if (lo <= c && c <= hi) in = true;
  }
  return in != tok.negated;
}

// Simulates the pattern as an NFA over the runes of `path`. State 2*i means
// "about to match token i"; state 2*i+1 means "inside the optional `dir/`
// run of a `**` at token i, which must end on a `/`". Like the Engine's
// regular expressions, `**` does not cross a newline while `*` and `?` do.
bool GlobMatch(const std::vector<PatternToken>& toks, std::string_view path) {
  const size_t n = toks.size();
  std::vector<uint8_t> cur(2 * (n + 1), 0), next(2 * (n + 1), 0);
  auto add = [&toks, n](std::vector<uint8_t>& set, size_t i, bool inner) {
    if (inner) {
      set[2 * i + 1] = 1;
      return;
    }
    for (; i <= n; ++i) {
      set[2 * i] = 1;
      if (i == n) break;
      const Kind k = toks[i].kind;
      if (k != Kind::kStar && k != Kind::kAnyDirs && k != Kind::kAnyTail) break;
    }
  };
  add(cur, 0, false);
  size_t pos = 0;
  while (pos < path.size()) {
    const char32_t c = NextRune(path, &pos);
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      if (cur[2 * i + 1]) {
        if (c != '\n') add(next, i, true);
        if (c == '/') add(next, i + 1, false);
      }
      if (!cur[2 * i]) continue;
      const PatternToken& t = toks[i];
      switch (t.kind) {
        case Kind::kLiteral:
          if (c == t.rune) add(next, i + 1, false);
          break;
        case Kind::kAnyOne:
          if (c != '/') add(next, i + 1, false);
          break;
        case Kind::kClass:
          if (ClassMatches(t, c)) add(next, i + 1, false);
          break;
        case Kind::kStar:
          if (c != '/') add(next, i, false);
          break;
        case Kind::kAnyTail:
          if (c != '\n') add(next, i, false);
          break;
        case Kind::kAnyDirs:
          if (c != '\n') add(next, i, true);
          if (c == '/') add(next, i + 1, false);
          break;
      }
    }
    for (uint8_t v : next) any = any || v;
    if (!any) return false;
    cur.swap(next);
  }
  return cur[2 * n] != 0;
}

// Applies the per-line rules of the CLI's ignore-file reader to one pattern:
// trim, then clean and make relative, keeping a leading `!` in front.
std::string NormalizeLine(std::string_view line) {
  std::string_view p = TrimSpace(line);
  if (p.empty()) return "";
  const bool invert = p[0] == '!';
  if (invert) p = TrimSpace(p.substr(1));
  std::string out;
  if (!p.empty()) {
    out = CleanPath(p);
    if (out.size() > 1 && out[0] == '/') out.erase(0, 1);
  }
  return invert ? "!" + out : out;
}

}  // namespace

std::string CleanPath(std::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path[0] == '/';
  std::string out;
  size_t r = 0;
  size_t dotdot = 0;  // out[:dotdot] can not be backtracked over
  if (rooted) {
    out = "/";
    r = dotdot = 1;
  }
  const size_t n = path.size();
  while (r < n) {
    if (path[r] == '/') {
      ++r;
    } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
      ++r;
    } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
      r += 2;
      if (out.size() > dotdot) {
        size_t w = out.size() - 1;
        while (w > dotdot && out[w] != '/') --w;
        out.resize(w);
      } else if (!rooted) {
        if (!out.empty()) out += '/';
        out += "..";
        dotdot = out.size();
      }
    } else {
      if ((rooted && out.size() != 1) || (!rooted && !out.empty())) out += '/';
      while (r < n && path[r] != '/') out += path[r++];
    }
  }
  return out.empty() ? "." : out;
}

absl::StatusOr<DockerIgnore> DockerIgnore::Parse(std::string_view text) {
  DockerIgnore ignore;
  if (HasPrefix(text, "\xEF\xBB\xBF")) text.remove_prefix(3);
  int line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // A comment only when `#` is the very first character, as in the CLI.
    if (HasPrefix(line, "#")) continue;
    const std::string pattern = NormalizeLine(line);
    if (pattern.empty()) continue;
    if (absl::Status s = ignore.Add(pattern); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(".dockerignore line ", line_no, ": ", s.message()));
    }
  }
  return ignore;
}

absl::StatusOr<DockerIgnore> DockerIgnore::FromPatterns(const std::vector<std::string>& patterns) {
  DockerIgnore ignore;
  for (const std::string& raw : patterns) {
    const std::string pattern = NormalizeLine(raw);
    if (pattern.empty()) continue;
    if (absl::Status s = ignore.Add(pattern); !s.ok()) return s;
  }
  return ignore;
}

absl::Status DockerIgnore::Add(std::string_view raw) {
  std::string p = CleanPath(TrimSpace(raw));
  Pattern pat;
  if (p[0] == '!') {
    if (p.size() == 1) return absl::InvalidArgumentError("illegal exclusion pattern: \"!\"");
    pat.exception = true;
    p.erase(0, 1);
  }
  auto bad = [&p](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("bad pattern \"", p, "\": ", why));
  };
  // Classify as the Engine does: a plain string compares exactly, a trailing
  // `**` on a plain prefix is a prefix test, a leading `**` a suffix test, and
  // anything else is a full glob.
  Pattern::Type type = Pattern::Type::kExact;
  size_t pos = 0;
  for (int iter = 0; pos < p.size(); ++iter) {
    const char c = p[pos];
    PatternToken tok;
    bool emit = true;
    if (c == '*' && pos + 1 < p.size() && p[pos + 1] == '*') {
      pos += 2;
      if (pos < p.size() && p[pos] == '/') ++pos;  // `**/` is the same as `**`
      if (pos < p.size()) {
        tok.kind = Kind::kAnyDirs;
        type = Pattern::Type::kGlob;
      } else if (type == Pattern::Type::kExact) {
        type = Pattern::Type::kPrefix;
        emit = false;
      } else {
        tok.kind = Kind::kAnyTail;
        type = Pattern::Type::kGlob;
      }
      if (iter == 0) type = Pattern::Type::kSuffix;
    } else if (c == '*') {
      ++pos;
      tok.kind = Kind::kStar;
      type = Pattern::Type::kGlob;
    } else if (c == '?') {
      ++pos;
      tok.kind = Kind::kAnyOne;
      type = Pattern::Type::kGlob;
    } else if (c == '\\') {
      if (++pos == p.size()) return bad("trailing backslash");
      tok.rune = NextRune(p, &pos);
      type = Pattern::Type::kGlob;
    } else if (c == '[') {
      ++pos;
      if (!ParseClass(p, &pos, &tok)) return bad("malformed character class");
      type = Pattern::Type::kGlob;
    } else {
      if (c == ']') type = Pattern::Type::kGlob;
      tok.rune = NextRune(p, &pos);
    }
    if (emit) pat.tokens.push_back(std::move(tok));
  }
  pat.type = type;
  pat.text = std::move(p);
  if (pat.type != Pattern::Type::kGlob) pat.tokens.clear();
  has_exceptions_ = has_exceptions_ || pat.exception;
  patterns_.push_back(std::move(pat));
  return absl::OkStatus();
}

bool DockerIgnore::Pattern::Matches(std::string_view path) const {
  switch (type) {
    case Type::kExact:
      return path == text;
    case Type::kPrefix:
      return HasPrefix(path, std::string_view(text).substr(0, text.size() - 2));
    case Type::kSuffix: {
      const std::string_view suffix = std::string_view(text).substr(2);
      if (HasSuffix(path, suffix)) return true;
      // `**/foo` also matches `foo` at the root.
      return !suffix.empty() && suffix[0] == '/' && path == suffix.substr(1);
    }
    case Type::kGlob:
      return GlobMatch(tokens, path);
  }
  return false;
}

bool DockerIgnore::Excluded(std::string_view rel_path) const {
  std::string file = CleanPath(rel_path);
  while (!file.empty() && file[0] == '/') file.erase(0, 1);
  if (file.empty() || file == ".") return false;
  MatchState unused;
  return ExcludedInWalk(file, MatchState(), &unused);
}

bool DockerIgnore::ExcludedInWalk(std::string_view rel_path, const MatchState& parent,
                                  MatchState* state) const {
  // Copied first: `state` may be the same object as `parent`.
  std::vector<bool> inherited = parent.matched_;
  if (inherited.size() != patterns_.size()) inherited.clear();
  std::vector<bool> now(patterns_.size(), false);
  const size_t last_slash = rel_path.rfind('/');
  bool matched = false;
  for (size_t i = 0; i < patterns_.size(); ++i) {
    const Pattern& pat = patterns_[i];
    bool m = !inherited.empty() && inherited[i];
    if (!m) {
      // An include cannot change an already excluded path, nor an exception
      // a path that is not excluded.
      if (pat.exception != matched) continue;
      m = pat.Matches(rel_path);
      // Without the parent's results, test each ancestor directory directly.
      if (!m && inherited.empty() && last_slash != std::string_view::npos) {
        for (size_t k = rel_path.find('/'); k != std::string_view::npos && k <= last_slash;
             k = rel_path.find('/', k + 1)) {
          if (pat.Matches(rel_path.substr(0, k))) {
            m = true;
            break;
          }
        }
      }
    }
    now[i] = m;
    if (m) matched = !pat.exception;
  }
  if (state != nullptr) state->matched_ = std::move(now);
  return matched;
}

bool DockerIgnore::MustDescend(std::string_view rel_dir) const {
  if (!has_exceptions_) return false;
  const std::string dir_slash = std::string(rel_dir) + "/";
  for (const Pattern& pat : patterns_) {
    if (pat.exception && HasPrefix(pat.text + "/", dir_slash)) return true;
  }
  return false;
}

void DockerIgnore::KeepPath(std::string_view rel_path) {
  const std::string p = CleanPath(rel_path);
  if (!Excluded(p)) return;
  std::string escaped;
  for (char c : p) {
    if (std::string_view("*?[]\\").find(c) != std::string_view::npos) escaped += '\\';
    escaped += c;
  }
  // Cannot fail: every special character is escaped and the path is not empty.
  (void)Add(absl::StrCat("!", escaped));
}

std::vector<std::string> DockerIgnore::Patterns() const {
  std::vector<std::string> out;
  out.reserve(patterns_.size());
  for (const Pattern& pat : patterns_) out.push_back(pat.exception ? "!" + pat.text : pat.text);
  return out;
}

}  // namespace dkd::core
