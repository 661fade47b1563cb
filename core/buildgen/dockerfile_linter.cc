// DockerfileLinter (dockerfile_linter.h): the hadolint-equivalent rules, ignore
// lists and inline pragmas, over a parsed Dockerfile.
#include "core/buildgen/dockerfile_linter.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/shell_quote.h"

namespace dkd::core {
namespace {

using Sev = LintSeverity;

// hadolint's view of a command's flags: "--name[=v]" -> "name", "-abc" ->
// "a", "b", "c". Returns them in order, with the index of the word they
// came from.
std::vector<std::pair<std::string, size_t>> Flags(const std::vector<std::string>& args) {
  std::vector<std::pair<std::string, size_t>> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-" || a == "--" || a.empty() || a[0] != '-') continue;
    if (a.size() > 1 && a[1] == '-') {
      out.push_back({a.substr(2, a.find('=') == std::string::npos ? a.npos : a.find('=') - 2), i});
    } else {
      for (size_t k = 1; k < a.size(); ++k) out.push_back({std::string(1, a[k]), i});
    }
  }
  return out;
}

int CountFlag(const std::vector<std::string>& args, const std::string& flag) {
  int n = 0;
  for (const auto& f : Flags(args)) n += f.first == flag;
  return n;
}

bool HasArg(const std::vector<std::string>& args, const std::string& arg) {
  return std::find(args.begin(), args.end(), arg) != args.end();
}

bool IsCommand(const ShellCommand& c, const std::string& name, const std::string& arg) {
  return c.Name() == name && HasArg(c.Args(), arg);
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The shell text of a RUN: shell form as written, exec form joined, and
// heredoc bodies.
std::string RunScript(const DockerfileInstruction& ins) {
  std::string script = ins.json_form ? absl::StrJoin(ins.json_args, " ") : ins.rest;
  for (const DockerfileHeredoc& h : ins.heredocs) absl::StrAppend(&script, "\n", h.content);
  return script;
}

bool HasCacheMount(const DockerfileInstruction& ins, const std::string& path) {
  for (const DockerfileFlag& f : ins.flags) {
    if (f.name != "mount") continue;
    bool cache =
        absl::StrContains(f.value, "type=cache") || absl::StrContains(f.value, "type=tmpfs");
    if (cache && absl::StrContains(f.value, path)) return true;
  }
  return false;
}

bool IsPipInstall(const ShellCommand& c) {
  std::string name = Basename(c.Name());
  std::vector<std::string> args = c.Args();
  if (absl::StartsWith(name, "pipenv") || absl::StartsWith(name, "pipx")) return false;
  if (absl::StartsWith(name, "pip")) return HasArg(args, "install");
  if (absl::StartsWith(name, "python")) {
    auto m = std::find(args.begin(), args.end(), "-m");
    return m != args.end() && m + 1 != args.end() && *(m + 1) == "pip" && HasArg(args, "install");
  }
  return false;
}

bool Truthy(std::string v) {
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

bool IsSecretName(std::string name) {
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* suffix : {"_FILE", "_PATH", "_DIR"}) {
    if (absl::EndsWith(name, suffix)) return false;
  }
  for (const char* word : {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY",
                           "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"}) {
    if (absl::StrContains(name, word)) return true;
  }
  return false;
}

bool IsArchive(std::string src) {
  src.erase(std::remove(src.begin(), src.end(), '"'), src.end());
  for (const char* ext : {".tar", ".Z", ".bz2", ".gz", ".lz", ".lzma", ".tZ", ".tb2", ".tbz",
                          ".tbz2", ".tgz", ".tlz", ".tpz", ".txz", ".xz", ".zst"}) {
    if (absl::EndsWith(src, ext)) return true;
  }
  return absl::StartsWith(src, "http://") || absl::StartsWith(src, "https://");
}

bool IsRoot(const std::string& user) {
  return user == "root" || user == "0" || absl::StartsWith(user, "root:") ||
         absl::StartsWith(user, "0:");
}

std::string RegistryOf(const std::string& image) {
  size_t slash = image.find('/');
  if (slash == std::string::npos) return "docker.io";
  std::string first = image.substr(0, slash);
  if (first.find_first_of(".:") == std::string::npos && first != "localhost") return "docker.io";
  return first;
}

bool RegistryTrusted(const std::string& registry, const std::vector<std::string>& trusted) {
  for (const std::string& t : trusted) {
    if (t == registry) return true;
    if (absl::StartsWith(t, "*.") && absl::EndsWith(registry, t.substr(1))) return true;
  }
  return false;
}

// Per-stage facts that later instructions and stages depend on.
struct Stage {
  std::string alias;
  std::string image;
  int from_line = 0;
  bool workdir = false;
  bool pip_no_cache = false;
  bool pipefail = false;
  bool has_user = false;
  int root_user_line = 0;        // last USER was root (DL3002)
  std::vector<int> apt_unclean;  // RUN lines with apt-get update but no cleanup (DL3009)
};

class Run {
 public:
  Run(const LintOptions& o, std::vector<LintFinding>* out) : options_(o), out_(out) {}

  void Instruction(const DockerfileInstruction& ins) {
    const std::string& k = ins.keyword;
    if (k != "RUN") last_run_count_ = -1;
    if (k == "FROM") return From(ins);
    if (stages_.empty()) stages_.push_back(Stage());
    Stage& s = stages_.back();
    if (k == "RUN") return RunInstruction(ins, s);
    if (k == "ONBUILD" && !ins.trigger.empty() && ins.trigger[0].keyword == "RUN") {
      return Commands(ins.trigger[0], SplitShellCommands(RunScript(ins.trigger[0])), s);
    }
    if (k == "WORKDIR") {
      s.workdir = true;
      std::string dir = ins.rest;
      dir.erase(std::remove(dir.begin(), dir.end(), '"'), dir.end());
      dir.erase(std::remove(dir.begin(), dir.end(), '\''), dir.end());
      bool windows =
          dir.size() > 1 && std::isalpha(static_cast<unsigned char>(dir[0])) && dir[1] == ':';
      if (!absl::StartsWith(dir, "$") && !absl::StartsWith(dir, "/") && !windows) {
        Add("DL3000", ins, Sev::kError, "Use absolute WORKDIR");
      }
    } else if (k == "USER") {
      s.has_user = true;
      s.root_user_line = IsRoot(ins.rest) ? ins.start_line : 0;
    } else if (k == "MAINTAINER") {
      Add("DL4000", ins, Sev::kError, "MAINTAINER is deprecated");
    } else if (k == "CMD" || k == "ENTRYPOINT" ||
               (k == "HEALTHCHECK" && absl::StartsWith(absl::AsciiStrToUpper(ins.rest), "CMD"))) {
      if (!ins.json_form) {
        Add("DL3025", ins, Sev::kWarning,
            "Use arguments JSON notation for CMD and ENTRYPOINT arguments");
      }
    } else if (k == "SHELL") {
      const std::vector<std::string>& a = ins.json_args;
      std::string shell = a.empty() ? "" : Basename(a[0]);
      bool non_posix =
          !a.empty() && (absl::StartsWith(a[0], "pwsh") || absl::StartsWith(a[0], "powershell") ||
                         absl::StartsWith(a[0], "cmd"));
      bool pipefail = (shell == "bash" || shell == "zsh" || shell == "ash") &&
                      CountFlag(a, "o") > 0 && HasArg(a, "pipefail");
      s.pipefail = non_posix || pipefail;
    } else if (k == "ENV" || k == "ARG") {
      for (const DockerfileKeyValue& kv : ParseKeyValues(ins)) {
        if (k == "ENV" && kv.key == "PIP_NO_CACHE_DIR" && Truthy(kv.value)) s.pip_no_cache = true;
        if (kv.has_value && !kv.value.empty() && IsSecretName(kv.key) &&
            VariableReferences(kv.value).empty()) {
          Add("DKD001", ins, Sev::kError,
              absl::StrCat(k, " ", kv.key,
                           " has a literal value: secrets set in a Dockerfile stay in the image; "
                           "pass them with a build secret or at run time"));
        }
      }
    } else if (k == "COPY") {
      std::vector<std::string> words =
          ins.json_form ? ins.json_args : SplitDockerfileWords(ins.rest);
      if (words.size() >= 2 && ins.heredocs.empty() && !s.workdir) {
        std::string dest = words.back();
        bool windows =
            dest.size() > 1 && std::isalpha(static_cast<unsigned char>(dest[0])) && dest[1] == ':';
        if (dest[0] != '/' && dest[0] != '$' && !windows) {
          Add("DL3045", ins, Sev::kWarning,
              "`COPY` to a relative destination without `WORKDIR` set.");
        }
      }
    } else if (k == "ADD") {
      std::vector<std::string> words =
          ins.json_form ? ins.json_args : SplitDockerfileWords(ins.rest);
      bool all = words.size() >= 2;
      for (size_t i = 0; i + 1 < words.size(); ++i) all = all && IsArchive(words[i]);
      if (!all && ins.heredocs.empty()) {
        Add("DL3020", ins, Sev::kError, "Use COPY instead of ADD for files and folders");
      }
    }
  }

  void Finish() {
    for (size_t i = 0; i < stages_.size(); ++i) {
      const Stage& s = stages_[i];
      if (s.root_user_line) {
        out_->push_back(
            {"DL3002", s.root_user_line, Sev::kWarning, "Last USER should not be root"});
      }
      // hadolint reports DL3009 for the last stage and for stages later
      // used as a base image.
      bool used = i + 1 == stages_.size() || (!s.alias.empty() && used_as_base_.count(s.alias));
      if (used) {
        for (int line : s.apt_unclean) {
          out_->push_back({"DL3009", line, Sev::kInfo,
                           "Delete the apt lists (/var/lib/apt/lists) after installing something"});
        }
      }
    }
    if (!stages_.empty() && !stages_.back().has_user && stages_.back().from_line > 0) {
      out_->push_back({"DKD003", stages_.back().from_line, Sev::kWarning,
                       "The final stage sets no USER, so the image runs as root (unless its base "
                       "image sets one); create a user and switch to it with USER"});
    }
  }

 private:
  void Add(const char* rule, const DockerfileInstruction& ins, Sev sev, std::string message) {
    out_->push_back({rule, ins.start_line, sev, std::move(message)});
  }

  void From(const DockerfileInstruction& ins) {
    FromInfo f = ParseFrom(ins);
    Stage s;
    s.alias = f.alias;
    s.image = f.image;
    s.from_line = ins.start_line;
    std::string parent = f.image;
    for (char& c : parent) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool is_alias = false;
    for (const Stage& prev : stages_) {
      if (!prev.alias.empty() && prev.alias == parent) {
        is_alias = true;
        s.workdir = prev.workdir;
        s.pip_no_cache = prev.pip_no_cache;
        s.has_user = prev.has_user;
      }
    }
    if (is_alias) used_as_base_.insert(parent);
    bool variable = absl::StartsWith(f.image, "$");
    if (f.image != "scratch" && f.digest.empty() && f.tag.empty() && !variable && !is_alias) {
      Add("DL3006", ins, Sev::kWarning, "Always tag the version of an image explicitly");
    }
    if (f.tag == "latest" && f.digest.empty()) {
      Add("DL3007", ins, Sev::kWarning,
          "Using latest is prone to errors if the image will ever update. Pin the version "
          "explicitly to a release tag");
    }
    if (!options_.trusted_registries.empty() && !is_alias && !variable && f.image != "scratch" &&
        !RegistryTrusted(RegistryOf(f.name), options_.trusted_registries)) {
      Add("DL3026", ins, Sev::kError, "Use only an allowed registry in the FROM image");
    }
    stages_.push_back(s);
  }

  void RunInstruction(const DockerfileInstruction& ins, Stage& s) {
    std::string script = RunScript(ins);
    std::vector<ShellCommand> cmds = SplitShellCommands(script);
    std::string flags;
    for (const DockerfileFlag& f : ins.flags) absl::StrAppend(&flags, f.name, "=", f.value, " ");
    int count = static_cast<int>(cmds.size());
    if (last_run_count_ >= 0 && flags == last_run_flags_ && count <= 2 && last_run_count_ <= 2) {
      Add("DL3059", ins, Sev::kInfo,
          "Multiple consecutive `RUN` instructions. Consider consolidation.");
    }
    last_run_count_ = count;
    last_run_flags_ = flags;
    if (!s.pipefail && HasShellPipe(script)) {
      Add("DL4006", ins, Sev::kWarning,
          "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using "
          "/bin/sh in an alpine image or if your shell is symlinked to busybox then consider "
          "explicitly setting your SHELL to /bin/ash, or disable this check");
    }
    bool update = false;
    bool cleanup = false;
    for (const ShellCommand& c : cmds) {
      std::string n = c.Name();
      update = update ||
               ((n == "apt-get" || n == "apt" || n == "aptitude") && HasArg(c.Args(), "update"));
      if (n == "rm") {
        for (const std::string& a : c.Args())
          cleanup = cleanup || absl::StartsWith(a, "/var/lib/apt/lists");
      }
    }
    bool mounted = HasCacheMount(ins, "/var/lib/apt/lists") ||
                   (HasCacheMount(ins, "/var/lib/apt") && HasCacheMount(ins, "/var/cache/apt"));
    if (update && !cleanup && !mounted) s.apt_unclean.push_back(ins.start_line);
    if (!s.pip_no_cache && !absl::StrContains(script, "PIP_NO_CACHE_DIR=") &&
        !HasCacheMount(ins, ".cache/pip")) {
      for (const ShellCommand& c : cmds) {
        if (IsPipInstall(c) && !HasArg(c.Args(), "--no-cache-dir")) {
          Add("DL3042", ins, Sev::kWarning,
              "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`");
          break;
        }
      }
    }
    Commands(ins, cmds, s);
  }

  // Rules on single commands, for RUN and ONBUILD RUN.
  void Commands(const DockerfileInstruction& ins, const std::vector<ShellCommand>& cmds, Stage& s) {
    std::set<std::string> fired;
    auto once = [&](const char* rule, Sev sev, const char* message) {
      if (fired.insert(rule).second) Add(rule, ins, sev, message);
    };
    for (const ShellCommand& c : cmds) {
      std::string n = c.Name();
      std::vector<std::string> args = c.Args();
      if (n == "cd" && ins.keyword == "RUN")
        once("DL3003", Sev::kWarning, "Use WORKDIR to switch to a directory");
      if (n == "sudo") {
        once("DL3004", Sev::kError,
             "Do not use sudo as it leads to unpredictable behavior. Use a tool like gosu to "
             "enforce root");
      }
      if (n == "apt") {
        once("DL3027", Sev::kWarning,
             "Do not use apt as it is meant to be an end-user tool, use apt-get or apt-cache "
             "instead");
      }
      if (n == "chmod") {
        for (const std::string& a : args) {
          if (a == "777" || a == "0777" || a == "a+rwx" || a == "ugo+rwx") {
            once("DKD002", Sev::kWarning,
                 "chmod 777 makes files writable by every user; grant only the access needed");
          }
        }
      }
      if (!IsCommand(c, "apt-get", "install")) continue;
      bool yes =
          CountFlag(args, "y") + CountFlag(args, "yes") + CountFlag(args, "assume-yes") > 0 ||
          CountFlag(args, "qq") > 0 || CountFlag(args, "q") == 2 || CountFlag(args, "quiet") == 2 ||
          HasArg(args, "-q=2");
      if (!yes) {
        once("DL3014", Sev::kWarning,
             "Use the `-y` switch to avoid manual input `apt-get -y install <package>`");
      }
      if (CountFlag(args, "no-install-recommends") == 0 &&
          !HasArg(args, "APT::Install-Recommends=false")) {
        once("DL3015", Sev::kInfo,
             "Avoid additional packages by specifying `--no-install-recommends`");
      }
      std::set<size_t> skip;
      for (const auto& [flag, index] : Flags(args)) {
        skip.insert(index);
        if ((flag == "t" || flag == "target-release") &&
            args[index].find('=') == std::string::npos) {
          skip.insert(index + 1);
        }
      }
      for (size_t i = 0; i < args.size(); ++i) {
        const std::string& p = args[i];
        if (skip.count(i) || p == "install") continue;
        if (p.find('=') == std::string::npos && p.find('/') == std::string::npos &&
            !absl::EndsWith(p, ".deb")) {
          once("DL3008", Sev::kWarning,
               "Pin versions in apt get install. Instead of `apt-get install <package>` use "
               "`apt-get install <package>=<version>`");
        }
      }
    }
  }

  const LintOptions& options_;
  std::vector<LintFinding>* out_;
  std::vector<Stage> stages_;
  std::set<std::string> used_as_base_;
  int last_run_count_ = -1;
  std::string last_run_flags_;
};

}  // namespace

std::string_view LintSeverityName(LintSeverity severity) {
  switch (severity) {
    case LintSeverity::kError:
      return "error";
    case LintSeverity::kWarning:
      return "warning";
    case LintSeverity::kInfo:
      return "info";
    case LintSeverity::kStyle:
      return "style";
  }
  return "warning";
}

DockerfileLinter::DockerfileLinter(LintOptions options)
    : options_(std::move(options)),
      ignored_(options_.ignore_rules.begin(), options_.ignore_rules.end()) {}

std::vector<LintFinding> DockerfileLinter::Lint(const ParsedDockerfile& dockerfile) const {
  std::vector<LintFinding> all;
  Run run(options_, &all);
  for (const DockerfileInstruction& ins : dockerfile.instructions) run.Instruction(ins);
  run.Finish();
  // `# hadolint ignore=A,B` on the line right above an instruction.
  std::map<int, std::set<std::string>> inline_ignores;
  for (const DockerfileComment& c : dockerfile.comments) {
    if (!absl::StartsWith(c.text, "hadolint ignore=")) continue;
    std::string rules = c.text.substr(16);
    for (const std::string& r : std::vector<std::string>(absl::StrSplit(rules, ','))) {
      std::string rule(absl::StripAsciiWhitespace(r));
      inline_ignores[c.line + 1].insert(rule);
    }
  }
  std::vector<LintFinding> out;
  for (LintFinding& f : all) {
    if (ignored_.count(f.rule)) continue;
    auto it = inline_ignores.find(f.line);
    if (it != inline_ignores.end() && it->second.count(f.rule)) continue;
    out.push_back(std::move(f));
  }
  std::stable_sort(out.begin(), out.end(), [](const LintFinding& a, const LintFinding& b) {
    return a.line != b.line ? a.line < b.line : a.rule < b.rule;
  });
  return out;
}

LintResult DockerfileLinter::Lint(std::string_view text) const {
  LintResult result;
  absl::StatusOr<ParsedDockerfile> parsed = ParseDockerfile(text);
  if (!parsed.ok()) {
    result.parse_error = std::string(parsed.status().message());
    return result;
  }
  result.findings = Lint(*parsed);
  for (const LintFinding& f : result.findings) {
    result.error_count += f.severity == LintSeverity::kError;
    result.warning_count += f.severity == LintSeverity::kWarning;
  }
  return result;
}

}  // namespace dkd::core
