// FlagSet (cli_flags.h): declaring, parsing and reading dkctl's docker-style
// flags, and the usage text.
#include "client/cli_flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dkd::client {

FlagSet::FlagSet(std::string command, std::string usage, bool interspersed)
    : command_(std::move(command)), usage_(std::move(usage)), interspersed_(interspersed) {}

void FlagSet::Bool(std::string name, char short_name, std::string help) {
  flags_.push_back({std::move(name), short_name, Flag::kBool, std::move(help), "false", {}, false});
}

void FlagSet::String(std::string name, char short_name, std::string help, std::string def) {
  flags_.push_back(
      {std::move(name), short_name, Flag::kString, std::move(help), std::move(def), {}, false});
}

void FlagSet::Repeated(std::string name, char short_name, std::string help) {
  flags_.push_back({std::move(name), short_name, Flag::kRepeated, std::move(help), "", {}, false});
}

FlagSet::Flag* FlagSet::Find(absl::string_view name) {
  for (auto& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

FlagSet::Flag* FlagSet::FindShort(char c) {
  for (auto& f : flags_) {
    if (f.short_name == c) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::Set(Flag& f, const std::string& value, bool explicit_value) {
  f.seen = true;
  switch (f.kind) {
    case Flag::kBool:
      if (!explicit_value || value == "true" || value == "1") {
        f.value = "true";
      } else if (value == "false" || value == "0") {
        f.value = "false";
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid value \"", value, "\" for --", f.name, ": use true or false"));
      }
      break;
    case Flag::kString:
      f.value = value;
      break;
    case Flag::kRepeated:
      f.values.push_back(value);
      break;
  }
  return absl::OkStatus();
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  // The global options' set has no command name.
  const std::string see =
      absl::StrCat("; see 'dkctl ", command_, command_.empty() ? "" : " ", "--help'");
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      positionals_.insert(positionals_.end(), args.begin() + i + 1, args.end());
      return CheckFormat();
    }
    if (a == "-h" || a == "--help") {
      help_ = true;
      continue;
    }
    if (absl::StartsWith(a, "--")) {
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      Flag* f = Find(name);
      if (f == nullptr)
        return absl::InvalidArgumentError(absl::StrCat("unknown flag: --", name, see));
      if (f->kind != Flag::kBool && !has_value) {
        if (i + 1 >= args.size()) {
          return absl::InvalidArgumentError(absl::StrCat("flag needs an argument: --", name, see));
        }
        value = args[++i];
        has_value = true;
      }
      if (absl::Status s = Set(*f, value, has_value); !s.ok()) return s;
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      for (size_t j = 1; j < a.size(); ++j) {
        Flag* f = FindShort(a[j]);
        if (f == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("unknown shorthand flag: '", std::string(1, a[j]), "' in ", a, see));
        }
        if (f->kind == Flag::kBool) {
          if (absl::Status s = Set(*f, "", false); !s.ok()) return s;
          continue;
        }
        std::string value = a.substr(j + 1);
        if (absl::StartsWith(value, "=")) value = value.substr(1);
        if (value.empty()) {
          if (i + 1 >= args.size()) {
            return absl::InvalidArgumentError(
                absl::StrCat("flag needs an argument: '", std::string(1, a[j]), "' in ", a, see));
          }
          value = args[++i];
        }
        if (absl::Status s = Set(*f, value, true); !s.ok()) return s;
        break;
      }
      continue;
    }
    positionals_.push_back(a);
    if (!interspersed_) {
      positionals_.insert(positionals_.end(), args.begin() + i + 1, args.end());
      return CheckFormat();
    }
  }
  return CheckFormat();
}

absl::Status FlagSet::CheckFormat() const {
  // Every dkctl command spells output formats the same way: a table for
  // people (the default; "tty" as hadolint calls it) or JSON for machines. Go
  // templates are not supported.
  for (const auto& f : flags_) {
    if (f.name == "format" && !f.value.empty() && f.value != "json" && f.value != "table" &&
        f.value != "tty") {
      return absl::InvalidArgumentError(absl::StrCat("invalid --format \"", f.value,
                                                     "\": use json or table; see 'dkctl ", command_,
                                                     " --help'"));
    }
  }
  return absl::OkStatus();
}

bool FlagSet::GetBool(absl::string_view name) const {
  for (const auto& f : flags_) {
    if (f.name == name) return f.value == "true";
  }
  return false;
}

const std::string& FlagSet::Get(absl::string_view name) const {
  static const std::string kEmpty;
  for (const auto& f : flags_) {
    if (f.name == name) return f.value;
  }
  return kEmpty;
}

const std::vector<std::string>& FlagSet::GetAll(absl::string_view name) const {
  static const std::vector<std::string> kEmpty;
  for (const auto& f : flags_) {
    if (f.name == name) return f.values;
  }
  return kEmpty;
}

bool FlagSet::Seen(absl::string_view name) const {
  for (const auto& f : flags_) {
    if (f.name == name) return f.seen;
  }
  return false;
}

std::string FlagSet::Usage() const {
  std::string out = absl::StrCat("Usage:  dkctl ", usage_, "\n\nOptions:\n");
  for (const auto& f : flags_) {
    std::string left = f.short_name
                           ? absl::StrCat("  -", std::string(1, f.short_name), ", --", f.name)
                           : absl::StrCat("      --", f.name);
    if (f.kind == Flag::kString) absl::StrAppend(&left, " string");
    if (f.kind == Flag::kRepeated) absl::StrAppend(&left, " list");
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&out, left, " ", f.help, "\n");
  }
  return out;
}

}  // namespace dkd::client
