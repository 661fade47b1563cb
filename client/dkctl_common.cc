// What every dkctl command shares (dkctl_commands.h): the lazily connected
// client, argument-count checks, and error reporting with exit codes.
#include <iostream>

#include "absl/strings/match.h"
#include "client/cli_flags.h"
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

std::optional<int> ParseCommandLine(FlagSet& flags, const std::vector<std::string>& args,
                                    size_t min_args, size_t max_args, const char* what,
                                    ArityMessage style) {
  if (absl::Status s = flags.Parse(args); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 125;
  }
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  const size_t n = flags.positionals().size();
  if (n < min_args || n > max_args) {
    const size_t bound = n < min_args ? min_args : max_args;
    std::cerr << "\"dkctl " << flags.command() << "\" requires "
              << (min_args == max_args     ? "exactly "
                  : max_args == kAnyNumber ? "at least "
                                           : "at most ")
              << bound << " argument" << (bound == 1 ? "" : "s");
    if (style == ArityMessage::kWithUsage) {
      std::cerr << ".\nSee 'dkctl " << flags.command() << " --help'.\n\n" << flags.Usage();
    } else {
      std::cerr << (*what ? ": " : "") << what << "\nSee 'dkctl " << flags.command()
                << " --help'.\n";
    }
    return 125;
  }
  return std::nullopt;
}

int FlagValueError(const absl::Status& status) {
  std::cerr << status.message() << "\n";
  return 125;
}

int ForEachName(
    CliContext& ctx, const std::vector<std::string>& names,
    const std::function<absl::Status(DkdClient& client, const std::string& name)>& one) {
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  int rc = 0;
  for (const auto& name : names) {
    absl::Status s = one(**client, name);
    if (!s.ok()) {
      rc = ReportError(ctx, s);
      continue;
    }
    std::cout << name << "\n";
  }
  return rc;
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
  // Why no credentials went with the call (no local token readable, or the
  // port not held by dkd) explains most refusals.
  if (!ctx.AuthHint().empty()) std::cerr << ctx.AuthHint() << "\n";
  return 1;
}

}  // namespace dkd::client
