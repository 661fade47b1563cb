// dkctl's commands. Each takes its arguments (after the command name) and the
// shared context, and returns the process exit code.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "client/cli_flags.h"
#include "client/connect_options.h"
#include "client/dkd_client.h"

namespace dkd::client {

inline constexpr const char* kClientVersion = "0.1.0";

// dkctl's global options, the flags before the command: where dkd is and how
// to authenticate to it. ParseGlobalOptions reads them, once; every command
// gets them through its CliContext.
struct GlobalOptions {
  std::string host;        // --host / -H, else DefaultHost() ($DKD_HOST, the default socket).
  ConnectOptions connect;  // TLS flags and --token over DefaultConnectOptions() (the environment).
};

// The command line up to the command, parsed.
struct GlobalCommandLine {
  GlobalOptions options;
  bool help = false;     // -h / --help
  bool version = false;  // -v / --version
  // The command and its arguments; empty when no command was given.
  std::vector<std::string> command;
};

// Parses the global options at the front of `args` (argv without argv[0]),
// with the FlagSet every command uses, up to the first word that is not a
// flag: the command. InvalidArgument names a bad flag.
absl::StatusOr<GlobalCommandLine> ParseGlobalOptions(const std::vector<std::string>& args);

struct CliContext {
  explicit CliContext(GlobalOptions global) : options(std::move(global)) {}

  const GlobalOptions options;
  // The dkd address as given (--host / DKD_HOST / default).
  const std::string& host() const { return options.host; }
  // Connects with `options` on first use.
  absl::StatusOr<DkdClient*> Client();
  // See DkdClient::auth_hint(); "" before Client() connected.
  std::string AuthHint() const { return client_ ? client_->auth_hint() : ""; }

 private:
  std::unique_ptr<DkdClient> client_;
};

// Prints an error the way docker does ("Error response from daemon: ..."),
// with a hint on what to do next, and returns the exit code to use.
int ReportError(const CliContext& ctx, const absl::Status& status);

// How a wrong number of positionals is reported: `"dkctl X" requires exactly
// 1 argument: WHAT` then the pointer to --help (kBrief), or `... 1 argument.`,
// the pointer and the whole usage (kWithUsage, the image commands' way).
enum class ArityMessage { kBrief, kWithUsage };

// The one prologue of every command: parses `args` into `flags` and checks
// the number of positionals against [min_args, max_args] (`what` names them
// in the message). Returns the exit code to leave with (0 after --help; 125
// for a usage error, as docker), or nullopt to carry on.
std::optional<int> ParseCommandLine(FlagSet& flags, const std::vector<std::string>& args,
                                    size_t min_args, size_t max_args, const char* what,
                                    ArityMessage style = ArityMessage::kBrief);
inline constexpr size_t kAnyNumber = static_cast<size_t>(-1);
// Prints a bad flag value's message; returns 125.
int FlagValueError(const absl::Status& status);

// Calls `one` for each name, printing the name on success and the daemon's
// error otherwise, as `docker stop a b` does. Returns 1 if any failed.
int ForEachName(CliContext& ctx, const std::vector<std::string>& names,
                const std::function<absl::Status(DkdClient& client, const std::string& name)>& one);

int CmdVersion(CliContext& ctx, const std::vector<std::string>& args);

// DockerManager (cmd_images.cc, cmd_containers.cc).
int CmdBuild(CliContext& ctx, const std::vector<std::string>& args);
int CmdPush(CliContext& ctx, const std::vector<std::string>& args);
int CmdPull(CliContext& ctx, const std::vector<std::string>& args);
int CmdImages(CliContext& ctx, const std::vector<std::string>& args);
int CmdRmi(CliContext& ctx, const std::vector<std::string>& args);
int CmdLogin(CliContext& ctx, const std::vector<std::string>& args);
int CmdLogout(CliContext& ctx, const std::vector<std::string>& args);
int CmdRun(CliContext& ctx, const std::vector<std::string>& args);
int CmdPs(CliContext& ctx, const std::vector<std::string>& args);
int CmdStop(CliContext& ctx, const std::vector<std::string>& args);
int CmdRm(CliContext& ctx, const std::vector<std::string>& args);
int CmdLogs(CliContext& ctx, const std::vector<std::string>& args);
int CmdInspect(CliContext& ctx, const std::vector<std::string>& args);
int CmdEvents(CliContext& ctx, const std::vector<std::string>& args);
int CmdInfo(CliContext& ctx, const std::vector<std::string>& args);

// BuildGenerator (cmd_build_generator.cc).
int CmdGenerate(CliContext& ctx, const std::vector<std::string>& args);
int CmdLint(CliContext& ctx, const std::vector<std::string>& args);
int CmdOptimize(CliContext& ctx, const std::vector<std::string>& args);

// ImageOptimizer (cmd_image_optimizer.cc).
int CmdAnalyze(CliContext& ctx, const std::vector<std::string>& args);
int CmdCompare(CliContext& ctx, const std::vector<std::string>& args);
int CmdReport(CliContext& ctx, const std::vector<std::string>& args);

}  // namespace dkd::client
