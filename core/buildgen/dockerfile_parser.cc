// The Dockerfile parser (dockerfile_parser.h): directives, continuations,
// heredocs, flags, exec form and variable expansion.
#include "core/buildgen/dockerfile_parser.h"

#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace dkd::core {
namespace {

// Debian's Abseil has its own string_view, so these helpers work on
// std::string_view directly.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view Trim(std::string_view s) { return TrimRight(TrimLeft(s)); }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t nl = text.find('\n', start);
    out.emplace_back(text.substr(start, nl == std::string_view::npos ? text.npos : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

const std::set<std::string>& Keywords() {
  static const std::set<std::string> k = {
      "ADD",    "ARG",   "CMD",         "COPY",  "ENTRYPOINT", "ENV",
      "EXPOSE", "FROM",  "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD",
      "RUN",    "SHELL", "STOPSIGNAL",  "USER",  "VOLUME",     "WORKDIR"};
  return k;
}

bool IsBlank(std::string_view line) { return Trim(line).empty(); }

bool IsCommentLine(std::string_view line) {
  std::string_view t = TrimLeft(line);
  return !t.empty() && t[0] == '#';
}

// True (and `line` without the escape) when `line` ends with the escape
// character, ignoring trailing whitespace.
bool StripContinuation(std::string& line, char escape) {
  std::string_view t = TrimRight(line);
  if (t.empty() || t.back() != escape) return false;
  line.resize(t.size() - 1);
  return true;
}

bool IsVarChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Heredoc openers in `args`: `<<[-]["']WORD["']`.
std::vector<DockerfileHeredoc> FindHeredocs(std::string_view args) {
  std::vector<DockerfileHeredoc> out;
  for (size_t i = args.find("<<"); i != std::string_view::npos; i = args.find("<<", i + 2)) {
    size_t j = i + 2;
    DockerfileHeredoc h;
    if (j < args.size() && args[j] == '-') {
      h.strip_tabs = true;
      ++j;
    }
    char quote = 0;
    if (j < args.size() && (args[j] == '"' || args[j] == '\'')) quote = args[j++];
    size_t start = j;
    while (j < args.size() && (IsVarChar(args[j]) || args[j] == '.' || args[j] == '-')) ++j;
    if (j == start || (quote != 0 && (j >= args.size() || args[j] != quote))) continue;
    h.delimiter = std::string(args.substr(start, j - start));
    out.push_back(h);
    i = j;
  }
  return out;
}

// Splits leading --flags off `args`.
void SplitFlags(DockerfileInstruction& ins) {
  std::string_view rest = ins.arguments;
  while (rest.size() > 2 && rest.substr(0, 2) == "--") {
    size_t end = rest.find_first_of(" \t");
    std::string_view flag = rest.substr(2, end == std::string_view::npos ? rest.npos : end - 2);
    size_t eq = flag.find('=');
    DockerfileFlag f{std::string(flag.substr(0, eq)),
                     eq == std::string_view::npos ? "" : std::string(flag.substr(eq + 1))};
    ins.flags.push_back(f);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    rest = TrimLeft(rest);
  }
  ins.rest = std::string(rest);
}

void DetectJson(DockerfileInstruction& ins) {
  static const std::set<std::string> kJsonCapable = {"RUN",  "CMD", "ENTRYPOINT", "SHELL",
                                                     "COPY", "ADD", "VOLUME",     "HEALTHCHECK"};
  if (!kJsonCapable.count(ins.keyword)) return;
  std::string_view text = ins.rest;
  if (ins.keyword == "HEALTHCHECK") {
    if (text.size() < 3 || Upper(text.substr(0, 3)) != "CMD") return;
    text = TrimLeft(text.substr(3));
  }
  if (text.empty() || text[0] != '[') return;
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_array()) return;
  std::vector<std::string> args;
  for (const auto& e : j) {
    if (!e.is_string()) return;
    args.push_back(e.get<std::string>());
  }
  ins.json_form = true;
  ins.json_args = std::move(args);
}

absl::StatusOr<DockerfileInstruction> ParseLogical(std::string logical, int start, int end) {
  DockerfileInstruction ins;
  ins.start_line = start;
  ins.end_line = end;
  std::string_view t = Trim(logical);
  size_t ws = t.find_first_of(" \t");
  ins.keyword = Upper(t.substr(0, ws));
  if (!Keywords().count(ins.keyword)) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", start, ": unknown instruction: ", std::string(t.substr(0, ws))));
  }
  ins.arguments = ws == std::string_view::npos ? "" : std::string(Trim(t.substr(ws)));
  if (ins.arguments.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", start, ": ", ins.keyword, " requires at least one argument"));
  }
  if (ins.keyword == "ONBUILD") {
    auto trigger = ParseLogical(ins.arguments, start, end);
    if (!trigger.ok()) return trigger.status();
    ins.rest = ins.arguments;
    ins.trigger.push_back(*std::move(trigger));
    return ins;
  }
  SplitFlags(ins);
  DetectJson(ins);
  return ins;
}

}  // namespace

std::optional<std::string> DockerfileInstruction::Flag(std::string_view name) const {
  for (const DockerfileFlag& f : flags) {
    if (f.name == name) return f.value;
  }
  return std::nullopt;
}

absl::StatusOr<ParsedDockerfile> ParseDockerfile(std::string_view text) {
  ParsedDockerfile out;
  std::vector<std::string> lines = SplitLines(text);
  for (std::string& l : lines) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
  }
  if (!lines.empty() && lines[0].compare(0, 3, "\xEF\xBB\xBF") == 0) lines[0].erase(0, 3);
  size_t i = 0;
  // Parser directives: only at the very top, before any blank line, comment
  // or instruction.
  for (; i < lines.size(); ++i) {
    std::string_view l = Trim(lines[i]);
    if (l.empty() || l[0] != '#') break;
    std::string_view body = Trim(l.substr(1));
    size_t eq = body.find('=');
    if (eq == std::string_view::npos) break;
    std::string key = Lower(Trim(body.substr(0, eq)));
    if (key != "syntax" && key != "escape" && key != "check") break;
    if (out.directives.count(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", i + 1, ": duplicate directive ", key));
    }
    std::string value(Trim(body.substr(eq + 1)));
    if (key == "escape") {
      if (value != "\\" && value != "`") {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", i + 1, ": invalid escape token '", value, "' (must be \\ or `)"));
      }
      out.escape = value[0];
    }
    out.directives[key] = value;
  }
  while (i < lines.size()) {
    if (IsBlank(lines[i])) {
      ++i;
      continue;
    }
    if (IsCommentLine(lines[i])) {
      std::string_view c = TrimLeft(lines[i]);
      out.comments.push_back(
          DockerfileComment{static_cast<int>(i + 1), std::string(Trim(c.substr(1)))});
      ++i;
      continue;
    }
    int start = static_cast<int>(i + 1);
    std::string original = lines[i];
    std::string logical = lines[i];
    bool more = StripContinuation(logical, out.escape);
    size_t last = i++;
    while (more && i < lines.size()) {
      const std::string& l = lines[i];
      absl::StrAppend(&original, "\n", l);
      if (IsBlank(l) || IsCommentLine(l)) {
        ++i;
        continue;
      }
      std::string part = l;
      more = StripContinuation(part, out.escape);
      logical += part;
      last = i++;
    }
    // Trailing blank/comment lines swallowed by an unfinished continuation
    // are not part of the instruction.
    size_t orig_lines = last - static_cast<size_t>(start - 1) + 1;
    std::vector<std::string> orig_split = SplitLines(original);
    orig_split.resize(std::min(orig_split.size(), orig_lines));
    auto ins = ParseLogical(logical, start, static_cast<int>(last + 1));
    if (!ins.ok()) return ins.status();
    ins->original = absl::StrJoin(orig_split, "\n");
    if (ins->keyword == "RUN" || ins->keyword == "COPY" || ins->keyword == "ADD") {
      ins->heredocs = FindHeredocs(ins->rest);
      for (DockerfileHeredoc& h : ins->heredocs) {
        while (i < lines.size()) {
          std::string body = lines[i++];
          if (h.strip_tabs) body.erase(0, body.find_first_not_of('\t'));
          absl::StrAppend(&ins->original, "\n", lines[i - 1]);
          if (body == h.delimiter) break;
          absl::StrAppend(&h.content, body, "\n");
        }
        ins->end_line = static_cast<int>(i);
      }
    }
    out.instructions.push_back(*std::move(ins));
  }
  if (out.instructions.empty()) {
    return absl::InvalidArgumentError("the file has no instructions");
  }
  return out;
}

std::vector<std::string> SplitDockerfileWords(std::string_view text, char escape) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote == '\'') {
      if (c == '\'') {
        quote = 0;
      } else {
        word += c;
      }
      continue;
    }
    if (c == escape && i + 1 < text.size()) {
      char n = text[++i];
      // Inside double quotes only the quote, `$` and the escape are escaped.
      if (quote == '"' && n != '"' && n != '$' && n != escape) word += c;
      if (n == '$') word += c;  // keep `\$` so expansion still sees it escaped
      word += n;
      in_word = true;
      continue;
    }
    if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else {
        word += c;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

std::vector<DockerfileKeyValue> ParseKeyValues(const DockerfileInstruction& ins, char escape) {
  std::vector<DockerfileKeyValue> out;
  std::vector<std::string> words = SplitDockerfileWords(ins.rest, escape);
  if (words.empty()) return out;
  if (ins.keyword != "ARG" && words[0].find('=') == std::string::npos) {
    // Legacy `ENV KEY value with spaces`: the rest of the line is the value.
    std::string_view rest = ins.rest;
    size_t ws = rest.find_first_of(" \t");
    std::string value;
    if (ws != std::string_view::npos) {
      std::vector<std::string> v = SplitDockerfileWords(rest.substr(ws), escape);
      value = absl::StrJoin(v, " ");
    }
    out.push_back({words[0], value, true});
    return out;
  }
  for (const std::string& w : words) {
    size_t eq = w.find('=');
    if (eq == std::string::npos) {
      out.push_back({w, "", false});
    } else {
      out.push_back({w.substr(0, eq), w.substr(eq + 1), true});
    }
  }
  return out;
}

FromInfo ParseFrom(const DockerfileInstruction& ins, char escape) {
  FromInfo f;
  f.platform = ins.Flag("platform").value_or("");
  std::vector<std::string> words = SplitDockerfileWords(ins.rest, escape);
  if (words.empty()) return f;
  f.image = words[0];
  if (words.size() >= 3 && Upper(words[1]) == "AS") {
    f.alias = Lower(words[2]);
  }
  std::string name = f.image;
  size_t at = name.find('@');
  if (at != std::string::npos) {
    f.digest = name.substr(at + 1);
    name.resize(at);
  }
  // The tag separator is the last ':' after the last '/', outside `${...}`.
  size_t colon = std::string::npos;
  int depth = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '{') ++depth;
    if (name[i] == '}' && depth > 0) --depth;
    if (name[i] == '/') colon = std::string::npos;
    if (name[i] == ':' && depth == 0) colon = i;
  }
  if (colon != std::string::npos) {
    f.tag = name.substr(colon + 1);
    name.resize(colon);
  }
  f.name = name;
  return f;
}

std::vector<std::string> VariableReferences(std::string_view text) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  bool single = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '\'') single = !single;
    if (single || c != '$' || i + 1 >= text.size()) continue;
    size_t j = i + 1;
    if (text[j] == '{') ++j;
    size_t start = j;
    while (j < text.size() && IsVarChar(text[j])) ++j;
    if (j == start) continue;
    std::string name(text.substr(start, j - start));
    if (seen.insert(name).second) out.push_back(name);
    i = j - 1;
  }
  return out;
}

std::string ExpandVariables(std::string_view text, const std::map<std::string, std::string>& vars) {
  std::string out;
  auto lookup = [&](const std::string& name) -> const std::string* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size() && text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (c != '$' || i + 1 >= text.size()) {
      out += c;
      continue;
    }
    if (text[i + 1] == '{') {
      size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        out += text.substr(i);
        break;
      }
      std::string_view body = text.substr(i + 2, close - i - 2);
      size_t op = body.find(':');
      std::string name(body.substr(0, op));
      const std::string* v = lookup(name);
      if (op != std::string_view::npos && op + 1 < body.size() && body[op + 1] == '-') {
        out += (v && !v->empty()) ? *v : std::string(body.substr(op + 2));
      } else if (op != std::string_view::npos && op + 1 < body.size() && body[op + 1] == '+') {
        out += (v && !v->empty()) ? std::string(body.substr(op + 2)) : "";
      } else if (v) {
        out += *v;
      }
      i = close;
      continue;
    }
    size_t j = i + 1;
    while (j < text.size() && IsVarChar(text[j])) ++j;
    if (j == i + 1) {
      out += c;
      continue;
    }
    const std::string* v = lookup(std::string(text.substr(i + 1, j - i - 1)));
    if (v) out += *v;
    i = j - 1;
  }
  return out;
}

}  // namespace dkd::core
