// What every dkctl command shares: the global options, the connection, the
// flag prologue and the error report.
#include <iostream>

#include "absl/strings/match.h"
#include "client/cli_flags.h"
#include "client/dkctl_commands.h"

namespace dkd::client {

absl::StatusOr<GlobalCommandLine> ParseGlobalOptions(const std::vector<std::string>& args) {
  GlobalCommandLine out;
  const ConnectOptions env = DefaultConnectOptions();
  // Stops at the command: what follows is the command's.
  FlagSet flags("", "[OPTIONS] COMMAND", /*interspersed=*/false);
  flags.String("host", 'H', "dkd address: unix:///path or tcp://host:port", DefaultHost());
  flags.Bool("tls", 0, "Use TLS; implied by --tlsverify and the TLS files");
  flags.String("tlscacert", 0, "Trust dkd certificates signed by this CA only", env.tls_ca);
  flags.String("tlscert", 0, "Client certificate (mutual TLS)", env.tls_cert);
  flags.String("tlskey", 0, "Client key (mutual TLS)", env.tls_key);
  flags.Bool("tlsverify", 0, "Use TLS and verify dkd's certificate (always verified)");
  flags.String("token", 0, "Bearer token (default $DKD_TOKEN)", env.token);
  flags.Bool("version", 'v', "Print the client version and exit");
  if (absl::Status s = flags.Parse(args); !s.ok()) return s;
  out.help = flags.help_requested();
  out.version = flags.GetBool("version");
  out.options.host = flags.Get("host");
  ConnectOptions& connect = out.options.connect;
  connect = env;
  connect.tls = env.tls || flags.GetBool("tls") || flags.GetBool("tlsverify");
  connect.tls_ca = flags.Get("tlscacert");
  connect.tls_cert = flags.Get("tlscert");
  connect.tls_key = flags.Get("tlskey");
  connect.token = flags.Get("token");
  out.command = flags.positionals();
  return out;
}

absl::StatusOr<DkdClient*> CliContext::Client() {
  if (!client_) {
    auto c = DkdClient::Connect(options.host, options.connect);
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
    std::cerr << "Cannot connect to dkd at " << ctx.host() << ". Is dkd running?\n"
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
