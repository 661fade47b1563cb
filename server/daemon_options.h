// dkd's command-line options.
//
// Flags are spelled like dockerd's: `--name value` or `--name=value`; boolean
// flags take no value. Unknown flags and bad values are errors naming the flag.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dkd::server {

struct DaemonOptions {
  // Docker Engine address in DOCKER_HOST form.
  std::string engine;
  // gRPC listeners; "" disables one. At least one must be set.
  std::string unix_socket = "/run/dkd/dkd.sock";
  std::string tcp = "127.0.0.1:7575";
  // Where to write the bound TCP port once listening (useful with port 0).
  std::string port_file;
  // trace, debug, info, warn, error.
  std::string log_level = "info";
  // How often the engine is pinged for health status.
  absl::Duration health_interval = absl::Seconds(2);
  // Time open calls get to finish on SIGTERM/SIGINT before they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Run policy: host directories bind mounts may come from, and directories
  // daemon-local build contexts may come from (both default to none).
  std::vector<std::string> bind_roots;
  std::vector<std::string> context_roots;
  // Longest age of the event-refreshed container list (0 disables it).
  absl::Duration list_cache_max_age = absl::Seconds(1);
  bool show_help = false;
  bool show_version = false;
};

// Parses argv (argv[0] skipped).
absl::StatusOr<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args);

// Usage text for --help.
std::string DaemonUsage();

}  // namespace dkd::server
