// The build.base_registries gate (base_image_check.h): every image a Dockerfile
// can make the engine resolve, found and checked against the allowed registries.
#include "core/policy/base_image_check.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/reference.h"
#include "core/base/status_macros.h"
#include "core/policy/engine_dockerfile.h"
#include "core/policy/run_policy.h"

namespace dkd::core {
namespace {

// ARG values as the builder will see them; nullopt marks a value dkd cannot
// be sure of (quoting, escapes, or shell forms it does not interpret).
using Vars = std::map<std::string, std::optional<std::string>>;

// The proxy build args the engine lets every Dockerfile expand.
const std::set<std::string>& BuiltinArgs() {
  static const std::set<std::string> k = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                          "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy"};
  return k;
}

bool RefChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '/' ||
         c == ':' || c == '@' || c == '-';
}
bool NameStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool NameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

absl::Status Unsure(int line, const std::string& word, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("line ", line, ": \"", word, "\" ", why,
                   "; with build.base_registries set, name images plainly (letters, digits, "
                   "._/:@- and $NAME, ${NAME}, ${NAME:-x}, ${NAME:+x})"));
}

// shell.Lex.ProcessWord for the subset whose result dkd can be sure of.
absl::StatusOr<std::string> ExpandWord(const std::string& word, const Vars& vars, int line) {
  std::string out;
  auto lookup = [&](const std::string& name) -> absl::StatusOr<std::optional<std::string>> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::optional<std::string>();
    if (!it->second.has_value()) {
      return Unsure(line, word, absl::StrCat("depends on ARG ", name, ", whose value is unclear"));
    }
    return it->second;
  };
  for (size_t i = 0; i < word.size(); ++i) {
    const char c = word[i];
    if (RefChar(c)) {
      out += c;
      continue;
    }
    if (c != '$') return Unsure(line, word, "uses quoting or escapes dkd does not interpret");
    if (i + 1 < word.size() && word[i + 1] == '{') {
      const size_t close = word.find('}', i + 2);
      if (close == std::string::npos) return Unsure(line, word, "has an unclosed ${");
      const std::string body = word.substr(i + 2, close - i - 2);
      size_t n = 0;
      while (n < body.size() && NameChar(body[n])) ++n;
      const std::string name = body.substr(0, n);
      if (name.empty() || !NameStart(name[0])) return Unsure(line, word, "has a bad ${NAME}");
      const std::string op = body.substr(n, std::min<size_t>(2, body.size() - n));
      const std::string alt = body.size() > n + 2 ? body.substr(n + 2) : "";
      if (!op.empty() && op != ":-" && op != ":+") {
        return Unsure(line, word, "uses a ${NAME...} form dkd does not interpret");
      }
      for (char a : alt) {
        if (!RefChar(a)) return Unsure(line, word, "has a ${NAME:-...} default dkd cannot read");
      }
      ASSIGN_OR_RETURN(std::optional<std::string> v, lookup(name));
      const bool set_nonempty = v.has_value() && !v->empty();
      if (op == ":-") {
        out += set_nonempty ? *v : alt;
      } else if (op == ":+") {
        out += set_nonempty ? alt : "";
      } else if (v.has_value()) {
        out += *v;
      }
      i = close;
      continue;
    }
    size_t j = i + 1;
    while (j < word.size() && NameChar(word[j])) ++j;
    const std::string name = word.substr(i + 1, j - i - 1);
    if (name.empty() || !NameStart(name[0])) return Unsure(line, word, "has a bare or odd $");
    ASSIGN_OR_RETURN(std::optional<std::string> v, lookup(name));
    if (v.has_value()) out += *v;
    i = j - 1;
  }
  return out;
}

bool IsHex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// strconv.ParseInt(s, 10, 0) succeeding.
std::optional<int64_t> ParseIndex(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i >= s.size() || s.size() - i > 18) return std::nullopt;
  for (size_t k = i; k < s.size(); ++k) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[k]))) return std::nullopt;
  }
  int64_t v = std::stoll(s.substr(i));
  return s[0] == '-' ? -v : v;
}

class Walker {
 public:
  explicit Walker(const std::map<std::string, std::string>& build_args) : build_args_(build_args) {
    for (const auto& [k, v] : build_args) {
      if (BuiltinArgs().count(k)) meta_[k] = v;
    }
  }

  absl::Status Walk(const EngineDockerfile& df) {
    escape_ = df.escape;
    bool in_stage = false;
    for (const EngineInstruction& ins : df.instructions) {
      if (ins.command == "from") {
        if (in_stage) completed_.push_back(current_);
        in_stage = true;
        RETURN_IF_ERROR(From(ins));
        continue;
      }
      if (!in_stage) {
        if (ins.command == "arg") RETURN_IF_ERROR(MetaArg(ins));
        continue;
      }
      RETURN_IF_ERROR(Flags(ins, "", false));
      if (ins.command == "onbuild") RETURN_IF_ERROR(OnBuild(ins));
    }
    return absl::OkStatus();
  }

  // Records an image (refusing ids and non-references).
  absl::Status Add(const std::string& image, const std::string& where, int line) {
    if (IsHex(image) || absl::StartsWith(absl::AsciiStrToLower(image), "sha256:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line, ": ", where, " ", image,
          ": names an image by id, which the engine resolves without a registry; name it by "
          "registry reference (registry/repository:tag) instead"));
    }
    if (!ParseImageReference(image).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line, ": ", where, " \"", image, "\" is not an image reference"));
    }
    images.push_back({image, where, line});
    return absl::OkStatus();
  }

  std::vector<ReachableImage> images;

 private:
  absl::Status MetaArg(const EngineInstruction& ins) {
    for (const std::string& w : EngineWords(ins.args, escape_)) {
      const size_t eq = w.find('=');
      const std::string key = w.substr(0, eq);
      if (key.empty() || !NameStart(key[0]) ||
          !std::all_of(key.begin(), key.end(), [](char c) { return NameChar(c); })) {
        unclear_all_ = true;  // The engine expands keys too: nothing is certain now.
        continue;
      }
      if (auto given = build_args_.find(key); given != build_args_.end()) {
        meta_[key] = given->second;
      } else if (eq != std::string::npos) {
        auto v = ExpandWord(w.substr(eq + 1), meta_, ins.line);
        meta_[key] = v.ok() ? std::optional<std::string>(*v) : std::nullopt;
      } else {
        meta_.erase(key);
      }
    }
    return absl::OkStatus();
  }

  absl::Status From(const EngineInstruction& ins) {
    std::vector<std::string> words = EngineWhitespaceWords(ins.args);
    std::string name;
    if (words.size() == 3 && absl::AsciiStrToLower(words[1]) == "as") {
      name = absl::AsciiStrToLower(words[2]);
      // The engine's rule for stage names: ^[a-z][a-z0-9-_\.]*$.
      const bool valid = absl::ascii_islower(static_cast<unsigned char>(name[0])) &&
                         std::all_of(name.begin(), name.end(), [](char c) {
                           return absl::ascii_islower(static_cast<unsigned char>(c)) ||
                                  absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' ||
                                  c == '_' || c == '.';
                         });
      if (!valid) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", ins.line, ": invalid build stage name \"", words[2], "\""));
      }
    } else if (words.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", ins.line, ": FROM requires either one or three arguments"));
    }
    if (unclear_all_ && absl::StrContains(words[0], "$")) {
      return Unsure(ins.line, words[0], "depends on an ARG whose name is unclear");
    }
    ASSIGN_OR_RETURN(std::string image, ExpandWord(words[0], meta_, ins.line));
    if (image.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", ins.line, ": FROM \"", words[0], "\" expands to nothing"));
    }
    current_ = name;
    if (IsStage(absl::AsciiStrToLower(image)) || image == "scratch") return absl::OkStatus();
    return Add(image, "FROM", ins.line);
  }

  bool IsStage(const std::string& lower) const {
    return !lower.empty() &&
           std::find(completed_.begin(), completed_.end(), lower) != completed_.end();
  }

  // A `--from` or mount `from=` value: an earlier stage, or an image.
  absl::Status From(const std::string& value, const std::string& where, int line, bool onbuild) {
    if (value.empty()) return absl::OkStatus();
    if (absl::StrContains(value, "$")) {
      return Unsure(line, value, "uses a variable in a --from value");
    }
    if (!onbuild && IsStage(absl::AsciiStrToLower(value))) return absl::OkStatus();
    if (auto ix = ParseIndex(value)) {
      if (onbuild) return absl::OkStatus();  // A stage of the downstream build.
      if (*ix >= 0 && *ix < static_cast<int64_t>(completed_.size())) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line, ": ", where, "=", value, " names no earlier build stage"));
    }
    return Add(value, where, line);
  }

  absl::Status Flags(const EngineInstruction& ins, const std::string& prefix, bool onbuild) {
    const std::string cmd = absl::AsciiStrToUpper(ins.command);
    for (const std::string& f : ins.flags) {
      if (f == "--") break;
      if (!absl::StartsWith(f, "--")) continue;
      const size_t eq = f.find('=');
      const std::string name = f.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      const std::string value = eq == std::string::npos ? "" : f.substr(eq + 1);
      if (name == "from" && (ins.command == "copy" || ins.command == "add")) {
        RETURN_IF_ERROR(From(value, absl::StrCat(prefix, cmd, " --from"), ins.line, onbuild));
      }
      if (name == "mount") {
        if (absl::StrContains(value, "\"")) {
          return Unsure(ins.line, value, "quotes a --mount field");
        }
        for (absl::string_view field : absl::StrSplit(value, ',')) {
          const size_t feq = field.find('=');
          std::string key(absl::StripAsciiWhitespace(field.substr(0, feq)));
          if (absl::AsciiStrToLower(key) != "from" || feq == absl::string_view::npos) continue;
          RETURN_IF_ERROR(From(std::string(field.substr(feq + 1)),
                               absl::StrCat(prefix, cmd, " --mount from"), ins.line, onbuild));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status OnBuild(const EngineInstruction& ins) {
    // The trigger is stored as text and re-parsed downstream with default
    // directives: read it the same way.
    auto trigger = ParseEngineDockerfile(OnbuildTrigger(ins.line_text), false);
    if (!trigger.ok()) return absl::OkStatus();  // Downstream cannot run it either.
    for (EngineInstruction t : trigger->instructions) {
      t.line = ins.line;
      RETURN_IF_ERROR(Flags(t, "ONBUILD ", true));
    }
    return absl::OkStatus();
  }

  const std::map<std::string, std::string>& build_args_;
  char escape_ = '\\';
  Vars meta_;
  bool unclear_all_ = false;
  std::vector<std::string> completed_;  // Lower-case names of finished stages.
  std::string current_;
};

}  // namespace

absl::StatusOr<std::vector<EngineDockerfile>> ParseAsBuilder(const std::string& dockerfile,
                                                             BuilderKind builder) {
  std::vector<EngineDockerfile> out;
  for (bool heredocs : builder == BuilderKind::kClassic ? std::vector<bool>{false}
                                                        : std::vector<bool>{false, true}) {
    auto parsed = ParseEngineDockerfile(dockerfile, heredocs);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the build's Dockerfile does not parse: ", parsed.status().message()));
    }
    out.push_back(*std::move(parsed));
  }
  return out;
}

absl::StatusOr<std::vector<ReachableImage>> ReachableImages(
    const std::string& dockerfile, const std::map<std::string, std::string>& build_args,
    BuilderKind builder) {
  std::vector<ReachableImage> out;
  // On BuildKit, the images of both readings.
  ASSIGN_OR_RETURN(std::vector<EngineDockerfile> readings, ParseAsBuilder(dockerfile, builder));
  for (const EngineDockerfile& reading : readings) {
    const EngineDockerfile* parsed = &reading;
    Walker w(build_args);
    RETURN_IF_ERROR(w.Walk(*parsed));
    if (builder == BuilderKind::kBuildKit) {
      // The frontend is code the engine runs; a directive anywhere counts.
      for (const std::string& s : parsed->syntax) RETURN_IF_ERROR(w.Add(s, "# syntax", 1));
      if (auto it = build_args.find("BUILDKIT_SYNTAX"); it != build_args.end()) {
        RETURN_IF_ERROR(w.Add(it->second, "build arg BUILDKIT_SYNTAX", 0));
      }
    }
    out.insert(out.end(), w.images.begin(), w.images.end());
  }
  return out;
}

absl::Status CheckBaseImages(const std::string& dockerfile,
                             const std::map<std::string, std::string>& build_args,
                             const std::vector<std::string>& allowed, BuilderKind builder) {
  if (allowed.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<ReachableImage> images,
                   ReachableImages(dockerfile, build_args, builder));
  for (const ReachableImage& im : images) {
    auto ref = ParseImageReference(im.image);
    if (!ref.ok()) return ref.status();
    absl::Status s =
        CheckRegistryAllowed(allowed, ref->domain, "build base image", "build.base_registries");
    if (!s.ok()) {
      return absl::PermissionDeniedError(
          absl::StrCat(im.line > 0 ? absl::StrCat("line ", im.line, ": ") : "", im.where, " ",
                       im.image, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace dkd::core

namespace dkd::core {

absl::Status CheckBuildKitRunOptions(const std::string& dockerfile, bool allow_host_network,
                                     bool allow_insecure) {
  ASSIGN_OR_RETURN(std::vector<EngineDockerfile> readings,
                   ParseAsBuilder(dockerfile, BuilderKind::kBuildKit));
  auto check = [&](const EngineInstruction& ins, const std::string& where) -> absl::Status {
    for (const std::string& f : ins.flags) {
      if (f == "--") break;
      if (!absl::StartsWith(f, "--")) continue;
      const size_t eq = f.find('=');
      const std::string name =
          absl::AsciiStrToLower(f.substr(2, eq == std::string::npos ? std::string::npos : eq - 2));
      const std::string value = eq == std::string::npos ? "" : f.substr(eq + 1);
      // Only the values known to keep the step in its sandbox pass; any
      // other spelling (quotes, variables, case) is refused, not guessed at.
      if (name == "network" && !allow_host_network && value != "default" && value != "none") {
        return absl::PermissionDeniedError(
            absl::StrCat("line ", ins.line, ": ", where, " --network=", value,
                         ": only --network=default or none is allowed (run.allow_host_network)"));
      }
      if (name == "security" && !allow_insecure && value != "sandbox") {
        return absl::PermissionDeniedError(
            absl::StrCat("line ", ins.line, ": ", where, " --security=", value,
                         ": only --security=sandbox is allowed (run.allow_privileged)"));
      }
    }
    return absl::OkStatus();
  };
  for (const EngineDockerfile& reading : readings) {
    for (const EngineInstruction& ins : reading.instructions) {
      if (ins.command == "run") RETURN_IF_ERROR(check(ins, "RUN"));
      if (ins.command != "onbuild") continue;
      auto trigger = ParseEngineDockerfile(OnbuildTrigger(ins.line_text), false);
      if (!trigger.ok()) continue;  // Downstream cannot run it either.
      for (EngineInstruction t : trigger->instructions) {
        t.line = ins.line;
        if (t.command == "run") RETURN_IF_ERROR(check(t, "ONBUILD RUN"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace dkd::core
