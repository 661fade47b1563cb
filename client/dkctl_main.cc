// dkctl: the reference command-line client for dkd. Feels like `docker`.
#include <signal.h>

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
  CliContext ctx;
  ctx.host = DefaultHost();
  std::vector<std::string> args(argv + 1, argv + argc);
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-H" || a == "--host") {
      if (i + 1 >= args.size()) {
        std::cerr << "flag needs an argument: " << a << "\n";
        return 125;
      }
      ctx.host = args[++i];
    } else if (absl::StartsWith(a, "--host=")) {
      ctx.host = a.substr(7);
    } else if (a == "-h" || a == "--help") {
      PrintUsage(std::cout);
      return 0;
    } else if (a == "-v" || a == "--version") {
      std::cout << "dkctl version " << kClientVersion << "\n";
      return 0;
    } else if (absl::StartsWith(a, "-")) {
      std::cerr << "unknown flag: " << a << "\nSee 'dkctl --help'.\n";
      return 125;
    } else {
      break;
    }
  }
  if (i >= args.size()) {
    PrintUsage(std::cerr);
    return 1;
  }
  const std::string name = args[i];
  auto it = Commands().find(name);
  if (it == Commands().end()) {
    std::cerr << "dkctl: '" << name << "' is not a dkctl command.\nSee 'dkctl --help'\n";
    return 1;
  }
  return it->second.run(ctx, std::vector<std::string>(args.begin() + i + 1, args.end()));
}
