// The engine's reading of a Dockerfile (engine_dockerfile.h): directives,
// continuations, builder flags, heredocs and word splitting as Go does them.
#include "core/policy/engine_dockerfile.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dkd::core {
namespace {

// Go's unicode.IsSpace for the rune starting at s[i]; sets *width.
bool UnicodeSpaceAt(const std::string& s, size_t i, size_t* width) {
  const auto c = static_cast<unsigned char>(s[i]);
  *width = 1;
  if (c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == ' ') return true;
  if (c < 0x80) return false;
  // Decode one UTF-8 rune (invalid sequences are not spaces).
  uint32_t r = 0;
  size_t n = 0;
  if ((c & 0xE0) == 0xC0) {
    r = c & 0x1F, n = 2;
  } else if ((c & 0xF0) == 0xE0) {
    r = c & 0x0F, n = 3;
  } else if ((c & 0xF8) == 0xF0) {
    r = c & 0x07, n = 4;
  } else {
    return false;
  }
  if (i + n > s.size()) return false;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return false;
    r = (r << 6) | (b & 0x3F);
  }
  *width = n;
  return r == 0x85 || r == 0xA0 || r == 0x1680 || (r >= 0x2000 && r <= 0x200A) || r == 0x2028 ||
         r == 0x2029 || r == 0x202F || r == 0x205F || r == 0x3000;
}

std::string TrimLeftUnicode(const std::string& s) {
  size_t i = 0, w = 0;
  while (i < s.size() && UnicodeSpaceAt(s, i, &w)) i += w;
  return s.substr(i);
}

// strings.TrimSpace.
std::string TrimUnicode(const std::string& s) {
  std::string t = TrimLeftUnicode(s);
  // Trailing: walk back over whole runes.
  size_t end = t.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(t[start]) & 0xC0) == 0x80) --start;
    size_t w = 0;
    if (UnicodeSpaceAt(t, start, &w) && start + w == end) {
      end = start;
    } else {
      break;
    }
  }
  return t.substr(0, end);
}

// Go's regexp \s: [\t\n\f\r ].
bool ReSpace(char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; }
// reWhitespace: [\t\v\f\r ].
bool WsChar(char c) { return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' '; }
// unicode.IsSpace(rune(byte)), as extractBuilderFlags applies it to bytes.
bool ByteRuneSpace(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == ' ' || c == 0x85 ||
         c == 0xA0;
}

// reDirectives: ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$
bool MatchDirective(const std::string& line, std::string* key, std::string* value) {
  size_t i = 0;
  if (line.empty() || line[0] != '#') return false;
  ++i;
  while (i < line.size() && ReSpace(line[i])) ++i;
  if (i >= line.size() || !absl::ascii_isalpha(static_cast<unsigned char>(line[i]))) return false;
  const size_t ks = i;
  while (i < line.size() && absl::ascii_isalnum(static_cast<unsigned char>(line[i]))) ++i;
  *key = line.substr(ks, i - ks);
  while (i < line.size() && ReSpace(line[i])) ++i;
  if (i >= line.size() || line[i] != '=') return false;
  ++i;
  while (i < line.size() && ReSpace(line[i])) ++i;
  size_t end = line.size();
  while (end > i && ReSpace(line[end - 1])) --end;
  if (end <= i) return false;
  // `.` does not match a newline; lines hold none.
  *value = line.substr(i, end - i);
  return true;
}

// trimContinuationCharacter: `([^E])E[ \t]*$|^E[ \t]*$`.
bool TrimContinuation(std::string* line, char escape) {
  size_t end = line->size();
  while (end > 0 && ((*line)[end - 1] == ' ' || (*line)[end - 1] == '\t')) --end;
  if (end == 0 || (*line)[end - 1] != escape) return false;
  if (end == 1) {
    line->clear();
    return true;
  }
  if ((*line)[end - 2] == escape) return false;
  line->resize(end - 1);
  return true;
}

// extractBuilderFlags: leading `--` words, unquoted (always with `\`).
void ExtractBuilderFlags(const std::string& line, std::string* rest,
                         std::vector<std::string>* words) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= line.size(); ++pos) {
    char ch = pos < line.size() ? line[pos] : 0;
    if (phase == kSpaces) {
      if (pos == line.size()) break;
      if (ByteRuneSpace(ch)) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') {
        *rest = line.substr(pos);
        return;
      }
      phase = kWord;
    }
    if ((phase == kWord || phase == kQuote) && pos == line.size()) {
      if (word != "--" && (blank_ok || !word.empty())) words->push_back(word);
      break;
    }
    if (phase == kWord) {
      if (ByteRuneSpace(ch)) {
        phase = kSpaces;
        if (word == "--") {
          *rest = line.substr(pos);
          return;
        }
        if (blank_ok || !word.empty()) words->push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == line.size()) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    // kQuote
    if (ch == quote) {
      phase = kWord;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == line.size()) {
        phase = kWord;
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  rest->clear();
}

EngineInstruction SplitCommand(const std::string& line, int line_no) {
  EngineInstruction ins;
  ins.line = line_no;
  ins.line_text = line;
  const std::string t = TrimUnicode(line);
  size_t ws = 0;
  while (ws < t.size() && !WsChar(t[ws])) ++ws;
  ins.command = absl::AsciiStrToLower(t.substr(0, ws));
  size_t rs = ws;
  while (rs < t.size() && WsChar(t[rs])) ++rs;
  if (rs < t.size() || ws < t.size()) {
    std::string rest;
    ExtractBuilderFlags(t.substr(rs), &rest, &ins.flags);
    ins.args = TrimUnicode(rest);
  }
  return ins;
}

// Heredoc delimiters opened in `args` (`<<[-]["']WORD["']`).
std::vector<std::pair<std::string, bool>> HeredocOpeners(const std::string& args) {
  std::vector<std::pair<std::string, bool>> out;
  for (size_t i = args.find("<<"); i != std::string::npos; i = args.find("<<", i + 2)) {
    size_t j = i + 2;
    bool strip = false;
    if (j < args.size() && args[j] == '-') strip = true, ++j;
    char q = 0;
    if (j < args.size() && (args[j] == '"' || args[j] == '\'')) q = args[j++];
    const size_t s = j;
    while (j < args.size() && (absl::ascii_isalnum(static_cast<unsigned char>(args[j])) ||
                               args[j] == '_' || args[j] == '.' || args[j] == '-')) {
      ++j;
    }
    if (j == s || (q != 0 && (j >= args.size() || args[j] != q))) continue;
    out.emplace_back(args.substr(s, j - s), strip);
    i = j;
  }
  return out;
}

}  // namespace

absl::StatusOr<EngineDockerfile> ParseEngineDockerfile(const std::string& text, bool heredocs) {
  EngineDockerfile out;
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // bufio.ScanLines
  for (auto& l : lines) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
  }
  if (!lines.empty() && lines[0].rfind("\xEF\xBB\xBF", 0) == 0) lines[0].erase(0, 3);
  bool done = false;
  bool seen_escape = false, seen_syntax = false;
  auto is_comment = [](const std::string& l) {
    const std::string t = TrimLeftUnicode(l);
    return !t.empty() && t[0] == '#';
  };
  // processLine: directives are looked for until the first line that is not one.
  auto process = [&](const std::string& raw, bool strip_left,
                     int no) -> absl::StatusOr<std::string> {
    std::string token = strip_left ? TrimLeftUnicode(raw) : raw;
    std::string key, value;
    if (MatchDirective(token, &key, &value)) {
      const std::string k = absl::AsciiStrToLower(key);
      if (k == "syntax") out.syntax.push_back(value);
      if (!done && (k == "escape" || k == "syntax")) {
        bool& seen = k == "escape" ? seen_escape : seen_syntax;
        if (seen) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", no, ": only one ", k, " parser directive can be used"));
        }
        seen = true;
        if (k == "escape") {
          if (value != "`" && value != "\\") {
            return absl::InvalidArgumentError(
                absl::StrCat("line ", no, ": invalid escape token '", value, "'"));
          }
          out.escape = value[0];
        }
      } else {
        done = true;
      }
    } else {
      done = true;
    }
    if (!token.empty() && token[0] == '#') return std::string();
    return token;
  };
  for (size_t i = 0; i < lines.size();) {
    const int start = static_cast<int>(i + 1);
    auto first = process(lines[i], true, start);
    if (!first.ok()) return first.status();
    ++i;
    std::string line = *first;
    bool more = TrimContinuation(&line, out.escape);
    if (!more && line.empty()) continue;
    while (more && i < lines.size()) {
      auto next = process(lines[i], false, static_cast<int>(i + 1));
      if (!next.ok()) return next.status();
      const std::string raw = lines[i++];
      if (is_comment(raw)) continue;
      if (TrimLeftUnicode(*next).empty()) continue;
      std::string part = *next;
      more = TrimContinuation(&part, out.escape);
      line += part;
    }
    EngineInstruction ins = SplitCommand(line, start);
    if (heredocs && (ins.command == "run" || ins.command == "copy" || ins.command == "add")) {
      for (const auto& [delim, strip] : HeredocOpeners(ins.args)) {
        while (i < lines.size()) {
          std::string body = lines[i++];
          if (strip) body.erase(0, body.find_first_not_of('\t'));
          if (body == delim) break;
        }
      }
    }
    out.instructions.push_back(std::move(ins));
  }
  if (out.instructions.empty()) {
    return absl::InvalidArgumentError("the Dockerfile has no instructions");
  }
  return out;
}

std::vector<std::string> EngineWords(const std::string& rest, char escape) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  size_t w = 1;
  // An escape keeps itself and the (possibly multi-byte) character after it.
  const auto take_escaped = [&](const std::string& escape_char, size_t& pos) {
    word += escape_char;
    ++pos;
    size_t next = 1;
    UnicodeSpaceAt(rest, pos, &next);
    word += rest.substr(pos, next);
    w = next;
  };
  for (size_t pos = 0; pos <= rest.size(); pos += w) {
    w = 1;
    bool space = false;
    if (pos < rest.size()) space = UnicodeSpaceAt(rest, pos, &w);
    const std::string ch = pos < rest.size() ? rest.substr(pos, w) : "";
    if (phase == kSpaces) {
      if (pos == rest.size()) break;
      if (space) continue;
      phase = kWord;
    }
    if (pos == rest.size()) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == kWord) {
      if (space) {
        phase = kSpaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == "'" || ch == "\"") {
        quote = ch[0];
        blank_ok = true;
        phase = kQuote;
      }
      if (ch.size() == 1 && ch[0] == escape) {
        if (pos + 1 == rest.size()) continue;
        take_escaped(ch, pos);
        continue;
      }
      word += ch;
      continue;
    }
    if (ch.size() == 1 && ch[0] == quote) phase = kWord;
    if (ch.size() == 1 && ch[0] == escape && quote != '\'') {
      if (pos + 1 == rest.size()) {
        phase = kWord;
        continue;
      }
      take_escaped(ch, pos);
      continue;
    }
    word += ch;
  }
  return words;
}

std::string OnbuildTrigger(const std::string& line) {
  auto re_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
  };
  size_t i = 0;
  while (i < line.size() && re_space(line[i])) ++i;
  if (line.size() - i >= 7 && absl::AsciiStrToLower(line.substr(i, 7)) == "onbuild") i += 7;
  while (i < line.size() && re_space(line[i])) ++i;
  return line.substr(i);
}

std::vector<std::string> EngineWhitespaceWords(const std::string& rest) {
  std::vector<std::string> out;
  std::string word;
  for (char c : rest) {
    if (WsChar(c)) {
      if (!word.empty()) out.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(word);
  return out;
}

}  // namespace dkd::core
