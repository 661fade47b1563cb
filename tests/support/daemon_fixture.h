// Test support: start a real dkd process against the real engine, and run
// commands (dkctl, docker) capturing their output.
//
// Each DaemonProcess gets its own temporary directory (short path, for the
// 108-byte unix socket limit), a unix socket, and a TCP port on 127.0.0.1
// chosen by the kernel. Readiness is the port file dkd writes once listening;
// there are no fixed sleeps. dkd keeps its local token (the credential of
// loopback TCP callers) next to the socket; Dkctl() hands its path to dkctl
// as DKD_TOKEN_FILE for the TCP host of a running DaemonProcess, as a member
// of the socket's group would have it.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dkd::testing {

// The engine the tests use: $DKD_TEST_ENGINE, else $DOCKER_HOST, else the
// standard socket.
std::string TestEngineHost();
// Environment facts published by scripts/fixtures.sh (empty when unset).
std::string FixtureEnv(const char* name);

class DaemonProcess {
 public:
  struct Options {
    std::string engine;  // "" = TestEngineHost().
    std::vector<std::string> extra_args;
  };
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(const Options& options);
  // As Start(options), with `config_json` written to <dir>/dkd.json and
  // passed as --config (when not empty).
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(const Options& options,
                                                              const std::string& config_json);
  ~DaemonProcess();

  // gRPC targets.
  std::string unix_target() const { return "unix:" + socket_path_; }
  std::string tcp_target() const { return "127.0.0.1:" + std::to_string(port_); }
  // DKD_HOST spellings for dkctl.
  std::string unix_host() const { return "unix://" + socket_path_; }
  std::string tcp_host() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  // The local token file dkd created (by default next to its socket), and
  // the token it holds ("" when unreadable).
  std::string local_token_file() const { return dir_ + "/local-token"; }
  std::string LocalToken() const;
  std::string Log() const;
  // The port of /healthz, /readyz and /metrics (bound on 127.0.0.1).
  int http_port() const;
  pid_t pid() const { return pid_; }

  // Sends `sig` and waits; returns the exit status (or 128+signal).
  int Stop(int sig = 15);

 private:
  DaemonProcess() = default;
  pid_t pid_ = -1;
  std::string dir_;
  std::string socket_path_;
  int port_ = 0;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv with extra environment variables, feeding `input` on stdin.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {},
                         const std::string& input = "");

// Runs dkctl (the built binary) against `host`; DKD_TOKEN_FILE is set when
// `host` is the TCP host of a running DaemonProcess.
CommandResult Dkctl(const std::string& host, const std::vector<std::string>& args,
                    const std::string& input = "");

}  // namespace dkd::testing
