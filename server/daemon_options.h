// dkd's command-line options.
//
// Flags are spelled like dockerd's: `--name value` or `--name=value`; boolean
// flags take no value. Every flag but --config, --help and --version sets one
// key of the configuration (config.h) and overrides the file's value, so one
// validator judges both. Unknown flags and missing values are errors naming
// the flag.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config.h"

namespace dkd::server {

struct DaemonOptions {
  std::string config_path;  // --config; "" = flags and defaults only.
  ConfigOverrides overrides;
  bool show_help = false;
  bool show_version = false;
  bool check_config = false;  // --check-config: validate, report, exit.
};

// Parses argv (argv[0] skipped).
absl::StatusOr<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args);

// Usage text for --help.
std::string DaemonUsage();

}  // namespace dkd::server
