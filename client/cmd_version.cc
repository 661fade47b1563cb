// dkctl version: the client's version, and dkd's and the engine's as Ping
// reports them, as text or JSON.
#include <iostream>

#include "client/cli_flags.h"
#include "client/dkctl_commands.h"
#include "nlohmann/json.hpp"

namespace dkd::client {

int CmdVersion(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("version", "version [OPTIONS]");
  flags.String("format", 'f', "Output format: \"json\" for machines", "");
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
  const bool json = flags.Get("format") == "json";
  absl::StatusOr<dkd::v1::PingResponse> ping = absl::UnknownError("not connected");
  auto client = ctx.Client();
  ping = client.ok() ? (*client)->Ping() : absl::StatusOr<dkd::v1::PingResponse>(client.status());
  if (json) {
    nlohmann::json j;
    j["Client"] = {{"Version", kClientVersion}, {"Host", ctx.host()}};
    if (ping.ok()) {
      j["Server"] = {{"Version", ping->daemon_version()}};
      j["Engine"] = {{"Version", ping->engine_version()},
                     {"ApiVersion", ping->api_version()},
                     {"MinAPIVersion", ping->engine_min_api_version()},
                     {"Os", ping->os()},
                     {"Arch", ping->arch()},
                     {"KernelVersion", ping->kernel_version()},
                     {"GitCommit", ping->engine_git_commit()}};
    }
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "Client:\n"
              << " Version:       " << kClientVersion << "\n"
              << " Host:          " << ctx.host() << "\n";
    if (ping.ok()) {
      std::cout << "\nServer: dkd\n"
                << " Version:       " << ping->daemon_version() << "\n"
                << "\nEngine:\n"
                << " Version:       " << ping->engine_version() << "\n"
                << " API version:   " << ping->api_version() << " (minimum "
                << ping->engine_min_api_version() << ")\n"
                << " OS/Arch:       " << ping->os() << "/" << ping->arch() << "\n"
                << " Kernel:        " << ping->kernel_version() << "\n";
      if (!ping->engine_git_commit().empty()) {
        std::cout << " Git commit:    " << ping->engine_git_commit() << "\n";
      }
    }
  }
  if (!ping.ok()) return ReportError(ctx, ping.status());
  return 0;
}

}  // namespace dkd::client
