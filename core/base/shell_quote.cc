// Quoting and splitting (shell_quote.h): shell, JSON and Dockerfile quoting, and
// the split of a shell command line into the commands it runs.
#include "core/base/shell_quote.h"

#include <cctype>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dkd::core {
namespace {

bool IsShellSafe(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '@' || c == '%' ||
         c == '+' || c == '=' || c == ':' || c == ',' || c == '.' || c == '/' || c == '-';
}

bool IsAssignment(const std::string& word) {
  size_t eq = word.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  for (size_t i = 0; i < eq; ++i) {
    char c = word[i];
    bool ok = c == '_' || std::isalpha(static_cast<unsigned char>(c)) ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

bool IsKeyword(const std::string& word) {
  static const std::set<std::string> kKeywords = {"if", "then", "else",  "elif",  "fi",
                                                  "do", "done", "while", "until", "!",
                                                  "{",  "}",    "time",  "case",  "esac"};
  return kKeywords.count(word) > 0;
}

// Lexes one level of a shell command line. Text inside `$(...)`, backticks
// and subshells is collected in `nested` for a recursive pass.
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  void Run(std::vector<ShellCommand>* out, std::vector<std::string>* nested) {
    out_ = out;
    nested_ = nested;
    while (i_ < s_.size()) Step();
    EndCommand("");
  }

 private:
  void Step() {
    char c = s_[i_];
    char next = i_ + 1 < s_.size() ? s_[i_ + 1] : '\0';
    if (c == '\\') {
      if (next != '\n' && next != '\0') AddToWord(std::string(1, next));
      i_ += 2;
    } else if (c == '\'') {
      size_t end = s_.find('\'', i_ + 1);
      if (end == std::string_view::npos) end = s_.size();
      AddToWord(std::string(s_.substr(i_ + 1, end - i_ - 1)));
      i_ = end + 1;
    } else if (c == '"') {
      ++i_;
      ReadDoubleQuoted();
    } else if (c == '$' && next == '(') {
      ReadDollarParen();
    } else if (c == '$' && next == '{') {
      i_ += 2;
      AddToWord("${" + ReadBalanced('{', '}') + "}");
    } else if (c == '`') {
      ReadBackticks();
    } else if (c == '#' && !in_word_) {
      while (i_ < s_.size() && s_[i_] != '\n') ++i_;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      EndWord();
      ++i_;
    } else if (c == '\n' || c == ';') {
      EndCommand(";");
      ++i_;
    } else if (c == '&' && next == '&') {
      EndCommand("&&");
      i_ += 2;
    } else if (c == '|' && next == '|') {
      EndCommand("||");
      i_ += 2;
    } else if (c == '|') {
      EndCommand("|");
      i_ += next == '&' ? 2 : 1;
    } else if (c == '&' && next != '>') {
      EndCommand("&");
      ++i_;
    } else if (c == '<' || c == '>' || c == '&') {
      ReadRedirection();
    } else if (c == '(' && !in_word_) {
      ++i_;
      nested_->push_back(ReadBalanced('(', ')'));
    } else if (c == ')' && !in_word_) {
      ++i_;
    } else {
      AddToWord(std::string(1, c));
      ++i_;
    }
  }

  void AddToWord(const std::string& text) {
    word_ += text;
    in_word_ = true;
  }

  void EndWord() {
    if (!in_word_) return;
    if (skip_word_) {
      skip_word_ = false;
    } else {
      current_.words.push_back(word_);
    }
    word_.clear();
    in_word_ = false;
  }

  void EndCommand(const std::string& op) {
    EndWord();
    skip_word_ = false;
    if (!current_.words.empty()) {
      current_.connector = pending_;
      out_->push_back(std::move(current_));
      pending_ = op;
    } else if (pending_.empty() && !out_->empty()) {
      pending_ = op;
    }
    current_ = ShellCommand();
  }

  // Consumes a redirection operator; its target word is dropped.
  void ReadRedirection() {
    bool digits = in_word_ && !word_.empty();
    for (char w : word_) digits = digits && std::isdigit(static_cast<unsigned char>(w));
    if (digits) {
      word_.clear();
      in_word_ = false;
    } else {
      EndWord();
    }
    while (i_ < s_.size() && (s_[i_] == '<' || s_[i_] == '>' || s_[i_] == '&' || s_[i_] == '|'))
      ++i_;
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
    skip_word_ = true;
  }

  void ReadDoubleQuoted() {
    std::string text;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_];
      char next = i_ + 1 < s_.size() ? s_[i_ + 1] : '\0';
      if (c == '\\' &&
          (next == '$' || next == '`' || next == '"' || next == '\\' || next == '\n')) {
        if (next != '\n') text += next;
        i_ += 2;
      } else if (c == '$' && next == '(') {
        AddToWord(text);
        text.clear();
        ReadDollarParen();
      } else if (c == '`') {
        AddToWord(text);
        text.clear();
        ReadBackticks();
      } else {
        text += c;
        ++i_;
      }
    }
    ++i_;
    AddToWord(text);
  }

  void ReadDollarParen() {
    bool arithmetic = i_ + 2 < s_.size() && s_[i_ + 2] == '(';
    i_ += 2;
    std::string inner = ReadBalanced('(', ')');
    if (!arithmetic) nested_->push_back(inner);
    AddToWord("$(" + inner + ")");
  }

  void ReadBackticks() {
    size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != '`') i_ += s_[i_] == '\\' ? 2 : 1;
    std::string inner(s_.substr(start, std::min(i_, s_.size()) - start));
    ++i_;
    nested_->push_back(inner);
    AddToWord("`" + inner + "`");
  }

  // Reads up to the `close` matching an already consumed `open`, skipping
  // quoted text; returns the text between them.
  std::string ReadBalanced(char open, char close) {
    size_t start = i_;
    int depth = 1;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\\') {
        i_ += 2;
        continue;
      }
      if (c == '\'') {
        size_t end = s_.find('\'', i_ + 1);
        i_ = end == std::string_view::npos ? s_.size() : end + 1;
        continue;
      }
      if (c == '"') {
        ++i_;
        while (i_ < s_.size() && s_[i_] != '"') i_ += s_[i_] == '\\' ? 2 : 1;
        ++i_;
        continue;
      }
      if (c == open) ++depth;
      if (c == close && --depth == 0) {
        std::string inner(s_.substr(start, i_ - start));
        ++i_;
        return inner;
      }
      ++i_;
    }
    return std::string(s_.substr(start));
  }

  std::string_view s_;
  size_t i_ = 0;
  std::vector<ShellCommand>* out_ = nullptr;
  std::vector<std::string>* nested_ = nullptr;
  ShellCommand current_;
  std::string word_;
  bool in_word_ = false;
  bool skip_word_ = false;
  std::string pending_;
};

size_t NameIndex(const std::vector<std::string>& words) {
  size_t i = 0;
  while (i < words.size() && (IsAssignment(words[i]) || IsKeyword(words[i]))) ++i;
  return i;
}

}  // namespace

std::string ShellQuote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::string ShellQuoteIfNeeded(std::string_view value) {
  if (value.empty()) return "''";
  for (char c : value) {
    if (!IsShellSafe(c)) return ShellQuote(value);
  }
  return std::string(value);
}

std::string JsonQuote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += absl::StrFormat("\\u%04x", u);
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

std::string ExecFormJson(const std::vector<std::string>& args) {
  std::string out = "[";
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) out += ", ";
    out += JsonQuote(args[i]);
  }
  out += "]";
  return out;
}

std::string DockerfileQuote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '\\' || c == '"' || c == '$') out += '\\';
    out += c;
  }
  out += "\"";
  return out;
}

absl::Status CheckNoControlCharacters(std::string_view field, std::string_view value,
                                      bool allow_tab) {
  for (size_t i = 0; i < value.size(); ++i) {
    unsigned char u = static_cast<unsigned char>(value[i]);
    if (u == '\t' && allow_tab) continue;
    if (u < 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: control character 0x%02x at offset %d is not allowed (it could "
                          "start a new instruction or command)",
                          field, u, i));
    }
  }
  return absl::OkStatus();
}

std::string ShellCommand::Name() const {
  size_t i = NameIndex(words);
  return i < words.size() ? words[i] : "";
}

std::vector<std::string> ShellCommand::Args() const {
  size_t i = NameIndex(words);
  if (i >= words.size()) return {};
  return std::vector<std::string>(words.begin() + static_cast<long>(i) + 1, words.end());
}

std::vector<ShellCommand> SplitShellCommands(std::string_view script) {
  std::vector<ShellCommand> out;
  std::vector<std::string> nested;
  Lexer(script).Run(&out, &nested);
  for (const std::string& inner : nested) {
    std::vector<ShellCommand> sub = SplitShellCommands(inner);
    for (ShellCommand& c : sub) out.push_back(std::move(c));
  }
  return out;
}

bool HasShellPipe(std::string_view script) {
  for (const ShellCommand& c : SplitShellCommands(script)) {
    if (c.connector == "|") return true;
  }
  return false;
}

}  // namespace dkd::core
