#include <iostream>

#include "absl/strings/match.h"
#include "client/dkctl_commands.h"

namespace dkd::client {

absl::StatusOr<DkdClient*> CliContext::Client() {
  if (!client_) {
    auto c = DkdClient::Connect(host);
    if (!c.ok()) return c.status();
    client_ = std::move(*c);
  }
  return client_.get();
}

int ReportError(const CliContext& ctx, const absl::Status& status) {
  const std::string msg(status.message());
  if (status.code() == absl::StatusCode::kUnavailable && !absl::StrContains(msg, "Docker Engine")) {
    std::cerr << "Cannot connect to dkd at " << ctx.host << ". Is dkd running?\n"
              << "Start it with scripts/run.sh, or point dkctl at it with --host or DKD_HOST.\n"
              << "(" << msg << ")\n";
    return 1;
  }
  if (status.code() == absl::StatusCode::kInvalidArgument && absl::StartsWith(msg, "--host")) {
    std::cerr << msg << "\n";
    return 125;
  }
  std::cerr << "Error response from daemon: " << msg << "\n";
  return 1;
}

}  // namespace dkd::client
