// FlagSet: docker-style command-line flags for dkctl.
//
// Long flags `--name value` / `--name=value`, short flags `-n value`, `-nvalue`
// and grouped booleans (`-dit`), repeatable flags (`-e A=1 -e B=2`), booleans
// with an optional `=false`. `--` ends the flags. When `interspersed` is false,
// parsing stops at the first positional argument, so `run IMAGE CMD -x` keeps
// `-x` for the container. Not thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dkd::client {

class FlagSet {
 public:
  FlagSet(std::string command, std::string usage, bool interspersed = true);

  // Declares flags. `short_name` 0 means none.
  void Bool(std::string name, char short_name, std::string help);
  void String(std::string name, char short_name, std::string help, std::string def = "");
  void Repeated(std::string name, char short_name, std::string help);

  // Parses `args`; positionals land in positionals(). InvalidArgument names the
  // flag and says to see --help. `--help`/`-h` set help_requested().
  absl::Status Parse(const std::vector<std::string>& args);

  bool GetBool(absl::string_view name) const;
  const std::string& Get(absl::string_view name) const;
  const std::vector<std::string>& GetAll(absl::string_view name) const;
  // True when the flag appeared on the command line.
  bool Seen(absl::string_view name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  bool help_requested() const { return help_; }
  const std::string& command() const { return command_; }
  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    char short_name = 0;
    enum Kind { kBool, kString, kRepeated } kind = kBool;
    std::string help;
    std::string value;
    std::vector<std::string> values;
    bool seen = false;
  };
  absl::Status CheckFormat() const;
  Flag* Find(absl::string_view name);
  Flag* FindShort(char c);
  absl::Status Set(Flag& f, const std::string& value, bool explicit_value);

  std::string command_;
  std::string usage_;
  bool interspersed_;
  std::vector<Flag> flags_;
  std::vector<std::string> positionals_;
  bool help_ = false;
};

}  // namespace dkd::client
