// OptimizeDockerfile (dockerfile_optimizer.h): the RUN rewrites and merges, each
// made only when it keeps the build's meaning.
#include "core/buildgen/dockerfile_optimizer.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/shell_quote.h"

namespace dkd::core {
namespace {

// One output instruction: either the original text or a rewrite.
struct Item {
  const DockerfileInstruction* ins = nullptr;
  std::string gap;  // comment and blank lines before it, verbatim
  bool changed = false;
  std::string text;       // the rewrite, when changed
  std::string flags;      // RUN flags, "--mount=... " form
  std::string script;     // RUN shell text
  bool editable = false;  // shell-form RUN without heredocs
  int merged = 1;         // RUN instructions combined into this one
  int last_line = 0;      // last source line of the combined RUNs
};

// A top-level piece of a shell script and the operator before it.
struct Segment {
  std::string op;
  std::string text;
};

std::vector<Segment> Segments(const std::string& s) {
  std::vector<Segment> out{{"", ""}};
  char quote = 0;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    char n = i + 1 < s.size() ? s[i + 1] : '\0';
    if (quote != '\'' && c == '\\' && i + 1 < s.size()) {
      out.back().text += c;
      out.back().text += s[++i];
      continue;
    }
    if (quote != 0) {
      if (c == quote) quote = 0;
      out.back().text += c;
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') quote = c;
    if (c == '(') ++depth;
    if (c == ')' && depth > 0) --depth;
    std::string op;
    if (depth == 0 && quote == 0) {
      if ((c == '&' && n == '&') || (c == '|' && n == '|')) {
        op = std::string{c, n};
      } else if (c == ';' || (c == '|' && n != '&') ||
                 (c == '&' && n != '>' && s[i ? i - 1 : 0] != '>')) {
        op = std::string(1, c);
      }
    }
    if (op.empty()) {
      bool space = c == ' ' || c == '\t';
      // Whitespace runs (from joined continuation lines) become one space.
      if (!space || quote != 0 || (!out.back().text.empty() && out.back().text.back() != ' ')) {
        out.back().text += space && quote == 0 ? ' ' : c;
      }
      continue;
    }
    i += op.size() - 1;
    out.push_back({op, ""});
  }
  for (Segment& seg : out) seg.text = std::string(absl::StripAsciiWhitespace(seg.text));
  return out;
}

std::string JoinSegments(const std::vector<Segment>& segs) {
  std::string out;
  for (const Segment& s : segs) {
    if (s.op.empty()) {
      out += s.text;
    } else if (s.op == ";") {
      absl::StrAppend(&out, "; ", s.text);
    } else {
      absl::StrAppend(&out, " ", s.op, " ", s.text);
    }
  }
  return out;
}

// Inserts ` flag` after the first standalone `word` of `text`.
std::string InsertAfterWord(const std::string& text, const std::string& word,
                            const std::string& flag) {
  size_t pos = 0;
  while ((pos = text.find(word, pos)) != std::string::npos) {
    size_t end = pos + word.size();
    bool start_ok = pos == 0 || text[pos - 1] == ' ';
    bool end_ok = end == text.size() || text[end] == ' ';
    if (start_ok && end_ok) return text.substr(0, end) + " " + flag + text.substr(end);
    pos = end;
  }
  return text;
}

bool HasWord(const std::vector<std::string>& words, std::string_view w) {
  return std::find(words.begin(), words.end(), w) != words.end();
}

// Rewrites apt-get, pip and apk calls of one RUN; returns what changed.
std::vector<std::string> FixCommands(Item& item, bool pip_env) {
  std::vector<std::string> what;
  std::vector<Segment> segs = Segments(item.script);
  bool apt = false;
  bool cleanup = false;
  bool pip_cache_ok = pip_env || absl::StrContains(item.flags, ".cache/pip") ||
                      absl::StrContains(item.script, "PIP_NO_CACHE_DIR=");
  for (Segment& seg : segs) {
    std::vector<ShellCommand> cmds = SplitShellCommands(seg.text);
    if (cmds.empty()) continue;
    const ShellCommand& c = cmds[0];
    std::string name = c.Name();
    std::vector<std::string> args = c.Args();
    if (name == "apt-get" && (HasWord(args, "install") || HasWord(args, "update"))) apt = true;
    if (name == "rm") {
      for (const std::string& a : args)
        cleanup = cleanup || absl::StartsWith(a, "/var/lib/apt/lists");
    }
    if (name == "apt-get" && HasWord(args, "install")) {
      bool yes = HasWord(args, "-y") || HasWord(args, "--yes") || HasWord(args, "-qq") ||
                 HasWord(args, "--assume-yes") || HasWord(args, "-yq") || HasWord(args, "-qy");
      if (!HasWord(args, "--no-install-recommends")) {
        seg.text = InsertAfterWord(seg.text, "install", "--no-install-recommends");
        what.push_back("apt-get install --no-install-recommends");
      }
      if (!yes) {
        seg.text = InsertAfterWord(seg.text, "install", "-y");
        what.push_back("apt-get install -y");
      }
    }
    bool pip = (absl::StartsWith(name, "pip") && !absl::StartsWith(name, "pipenv") &&
                !absl::StartsWith(name, "pipx")) ||
               (absl::StartsWith(name, "python") && HasWord(args, "pip"));
    if (pip && HasWord(args, "install") && !HasWord(args, "--no-cache-dir") && !pip_cache_ok) {
      seg.text = InsertAfterWord(seg.text, "install", "--no-cache-dir");
      what.push_back("pip install --no-cache-dir");
    }
    if (name == "apk" && HasWord(args, "add") && !HasWord(args, "--no-cache")) {
      seg.text = InsertAfterWord(seg.text, "add", "--no-cache");
      what.push_back("apk add --no-cache");
    }
  }
  bool mounted = absl::StrContains(item.flags, "/var/lib/apt");
  if (apt && !cleanup && !mounted) {
    segs.push_back({"&&", "rm -rf /var/lib/apt/lists/*"});
    what.push_back("removed /var/lib/apt/lists after apt-get");
  }
  if (!what.empty()) item.script = JoinSegments(segs);
  return what;
}

// A script whose shell state (directory, variables, exit) would leak into
// a command appended after it.
bool LeaksState(const std::string& script) {
  for (const ShellCommand& c : SplitShellCommands(script)) {
    std::string n = c.Name();
    if (n == "cd" || n == "export" || n == "exit" || n == "set" || n == "source" || n == "." ||
        n == "unset" || n == "pushd" || n == "popd" || n == "umask" || n == "alias") {
      return true;
    }
    if (c.connector == "&") return true;
  }
  return false;
}

std::string FormatRun(const Item& item) {
  std::string out;
  char quote = 0;
  const std::string& s = item.script;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote == 0 && (c == '\'' || c == '"')) {
      quote = c;
    } else if (quote != 0 && c == quote) {
      quote = 0;
    }
    if (quote == 0 && s.compare(i, 4, " && ") == 0) {
      out += " \\\n    && ";
      i += 3;
      continue;
    }
    out += c;
  }
  return absl::StrCat("RUN ", item.flags, out);
}

std::string Lines(int a, int b) {
  return a == b ? absl::StrCat("line ", a) : absl::StrCat("line ", a, "-", b);
}

}  // namespace

absl::StatusOr<OptimizeResult> OptimizeDockerfile(std::string_view text) {
  absl::StatusOr<ParsedDockerfile> parsed = ParseDockerfile(text);
  if (!parsed.ok()) return parsed.status();
  OptimizeResult result;
  DockerfileLinter linter;
  result.findings_before = linter.Lint(*parsed);

  std::vector<std::string> lines;
  for (size_t start = 0;;) {
    size_t nl = text.find('\n', start);
    lines.emplace_back(text.substr(start, nl == std::string_view::npos ? text.npos : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  bool final_newline = lines.size() > 1 && lines.back().empty();
  if (final_newline) lines.pop_back();
  auto line_range = [&](int a, int b) {  // 1-based inclusive
    std::string out;
    for (int i = a; i <= b && i <= static_cast<int>(lines.size()); ++i)
      absl::StrAppend(&out, lines[i - 1], "\n");
    return out;
  };

  std::vector<Item> items;
  int prev_end = 0;
  for (const DockerfileInstruction& ins : parsed->instructions) {
    Item item;
    item.ins = &ins;
    item.gap = line_range(prev_end + 1, ins.start_line - 1);
    prev_end = ins.end_line;
    item.editable = ins.keyword == "RUN" && !ins.json_form && ins.heredocs.empty();
    if (item.editable) {
      for (const DockerfileFlag& f : ins.flags)
        absl::StrAppend(&item.flags, "--", f.name, "=", f.value, " ");
      item.script = JoinSegments(Segments(ins.rest));
    }
    items.push_back(std::move(item));
  }
  std::string trailer = line_range(prev_end + 1, static_cast<int>(lines.size()));

  // `RUN cd /abs && rest` -> WORKDIR /abs, RUN rest, WORKDIR <previous>.
  std::string workdir;
  std::vector<Item> expanded;
  for (Item& item : items) {
    const std::string& k = item.ins->keyword;
    if (k == "FROM") workdir.clear();
    if (k == "WORKDIR") workdir = item.ins->rest;
    if (item.editable && !workdir.empty()) {
      std::vector<Segment> segs = Segments(item.script);
      std::vector<ShellCommand> first = SplitShellCommands(segs[0].text);
      if (segs.size() > 1 && segs[1].op == "&&" && first.size() == 1 &&
          first[0].words.size() == 2 && first[0].words[0] == "cd" &&
          absl::StartsWith(first[0].words[1], "/") &&
          segs[0].text.find_first_of("$'\"`\\") == std::string::npos) {
        std::string dir = first[0].words[1];
        Item enter = item;
        enter.editable = false;
        enter.changed = true;
        enter.text = "WORKDIR " + dir;
        expanded.push_back(enter);
        segs.erase(segs.begin());
        segs[0].op.clear();
        item.script = JoinSegments(segs);
        item.changed = true;
        item.gap.clear();
        expanded.push_back(item);
        Item leave = item;
        leave.editable = false;
        leave.text = "WORKDIR " + workdir;
        expanded.push_back(leave);
        result.changes.push_back(absl::StrCat(Lines(item.ins->start_line, item.ins->end_line),
                                              ": replaced cd ", dir, " with WORKDIR"));
        continue;
      }
    }
    expanded.push_back(std::move(item));
  }

  // Combine consecutive RUNs of a stage.
  std::vector<Item> combined;
  for (Item& item : expanded) {
    if (!combined.empty()) {
      Item& last = combined.back();
      bool gap_blank = absl::StripAsciiWhitespace(item.gap).empty();
      if (item.editable && last.editable && gap_blank && last.flags == item.flags &&
          !LeaksState(last.script)) {
        last.script = absl::StrCat(last.script, " && ", item.script);
        last.changed = true;
        last.merged += 1;
        last.last_line = item.ins->end_line;
        continue;
      }
    }
    combined.push_back(std::move(item));
  }
  for (const Item& item : combined) {
    if (item.merged > 1) {
      result.changes.push_back(absl::StrCat(Lines(item.ins->start_line, item.last_line),
                                            ": combined ", item.merged, " RUN instructions"));
    }
  }

  bool pip_env = false;
  for (Item& item : combined) {
    const std::string& k = item.ins->keyword;
    if (k == "FROM") pip_env = false;
    if (k == "ENV" && absl::StrContains(item.ins->rest, "PIP_NO_CACHE_DIR")) pip_env = true;
    if (!item.editable) continue;
    std::vector<std::string> what = FixCommands(item, pip_env);
    if (what.empty()) continue;
    item.changed = true;
    result.changes.push_back(absl::StrCat(Lines(item.ins->start_line, item.ins->end_line), ": ",
                                          absl::StrJoin(what, ", ")));
  }

  std::string out;
  for (const Item& item : combined) {
    out += item.gap;
    if (!item.changed) {
      absl::StrAppend(&out, item.ins->original, "\n");
    } else {
      absl::StrAppend(&out, item.editable ? FormatRun(item) : item.text, "\n");
    }
  }
  out += trailer;
  // The original's final newline (or its absence) is kept.
  if (!final_newline && absl::EndsWith(out, "\n")) out.pop_back();
  absl::StatusOr<ParsedDockerfile> reparsed = ParseDockerfile(out);
  if (!reparsed.ok()) {
    return absl::InternalError(
        absl::StrCat("optimized Dockerfile does not parse: ", reparsed.status().message()));
  }
  result.findings_after = linter.Lint(*reparsed);
  result.dockerfile = std::move(out);
  return result;
}

}  // namespace dkd::core
