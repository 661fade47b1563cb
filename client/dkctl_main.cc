// dkctl: the reference command-line client for dkd. Feels like `docker`.
#include <signal.h>

#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "client/cli_util.h"
#include "client/dkctl_commands.h"

namespace dkd::client {
namespace {

using Command = int (*)(CliContext&, const std::vector<std::string>&);

struct CommandInfo {
  Command run;
  const char* help;
};

const std::map<std::string, CommandInfo>& Commands() {
  static const auto* kCommands = new std::map<std::string, CommandInfo>{
      {"version", {CmdVersion, "Show the dkctl, dkd and Docker Engine versions"}},
      {"generate", {CmdGenerate, "Generate a Dockerfile or a build script"}},
      {"lint", {CmdLint, "Lint a Dockerfile (hadolint rules)"}},
      {"optimize", {CmdOptimize, "Rewrite a Dockerfile with best practices applied"}},
      {"info", {CmdInfo, "Display engine-wide information"}},
      {"build", {CmdBuild, "Build an image from a Dockerfile"}},
      {"push", {CmdPush, "Push an image to a registry"}},
      {"pull", {CmdPull, "Pull an image from a registry"}},
      {"images", {CmdImages, "List images"}},
      {"rmi", {CmdRmi, "Remove one or more images"}},
      {"login", {CmdLogin, "Store registry credentials (password from stdin)"}},
      {"logout", {CmdLogout, "Remove stored registry credentials"}},
      {"run", {CmdRun, "Create and run a new container from an image"}},
      {"ps", {CmdPs, "List containers"}},
      {"stop", {CmdStop, "Stop one or more running containers"}},
      {"rm", {CmdRm, "Remove one or more containers"}},
      {"logs", {CmdLogs, "Fetch the logs of a container"}},
      {"inspect", {CmdInspect, "Return low-level information on containers or images"}},
      {"events", {CmdEvents, "Get real-time events from the engine"}},
      {"analyze", {CmdAnalyze, "Analyze an image's layers, waste and score (--ci gates)"}},
      {"compare", {CmdCompare, "Compare two images"}},
      {"report", {CmdReport, "Optimization report with an implementation plan"}},
  };
  return *kCommands;
}

void PrintUsage(std::ostream& out) {
  out << "Usage:  dkctl [OPTIONS] COMMAND\n\n"
         "A client for dkd, the Docker Engine gRPC daemon.\n\n"
         "Options:\n"
         "  -H, --host string   dkd address: unix:///path or tcp://host:port\n"
         "                      (default $DKD_HOST, else unix:///run/dkd/dkd.sock)\n"
         "      --tls           Use TLS; implied by --tlsverify and the TLS files\n"
         "      --tlscacert string  Trust dkd certificates signed by this CA only\n"
         "      --tlscert string    Client certificate (mutual TLS)\n"
         "      --tlskey string     Client key (mutual TLS)\n"
         "      --tlsverify     Use TLS and verify dkd's certificate (always verified)\n"
         "      --token string  Bearer token (default $DKD_TOKEN; prefer the\n"
         "                      variable: arguments are visible to other users).\n"
         "                      Without one, a loopback TCP host gets dkd's local\n"
         "                      token from $DKD_TOKEN_FILE (default\n"
         "                      /run/dkd/local-token) when it can be read\n"
         "  -v, --version       Print the client version and exit\n\n"
         "Commands:\n";
  for (const auto& [name, info] : Commands()) {
    std::string left = "  " + name;
    left.resize(14, ' ');
    out << left << info.help << "\n";
  }
  out << "\nRun 'dkctl COMMAND --help' for more information on a command.\n";
}

}  // namespace
}  // namespace dkd::client

int main(int argc, char** argv) {
  using namespace dkd::client;
  signal(SIGPIPE, SIG_IGN);
  WatchInterrupts();
  const std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<GlobalCommandLine> line = ParseGlobalOptions(args);
  if (!line.ok()) {
    std::cerr << line.status().message() << "\n";
    return 125;
  }
  if (line->help) {
    PrintUsage(std::cout);
    return 0;
  }
  if (line->version) {
    std::cout << "dkctl version " << kClientVersion << "\n";
    return 0;
  }
  if (line->command.empty()) {
    PrintUsage(std::cerr);
    return 1;
  }
  CliContext ctx(std::move(line->options));
  const std::string& name = line->command[0];
  auto it = Commands().find(name);
  if (it == Commands().end()) {
    std::cerr << "dkctl: '" << name << "' is not a dkctl command.\nSee 'dkctl --help'\n";
    return 1;
  }
  return it->second.run(ctx,
                        std::vector<std::string>(line->command.begin() + 1, line->command.end()));
}
