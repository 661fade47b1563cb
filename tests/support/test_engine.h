// Test support: a Docker Engine owned by one test, which it may stop
// (SIGSTOP/SIGCONT), kill and restart; never the host's shared engine.
//
// Each TestEngine runs Debian's dockerd with its own data root, exec root,
// pidfile, config file and unix socket under a short temporary directory,
// the vfs storage driver (overlay2 cannot stack on an overlay filesystem),
// no iptables, and a bridge of its own (dkdtN, 192.168.2NN.1/24) created for
// it and deleted afterwards (never `--bridge none`, which deletes the host's
// docker0). dockerd supervises its own containerd under the exec root. A
// busybox-static root filesystem is imported as busybox:latest, since nothing
// can be pulled. Needs root. Readiness is the engine answering `docker
// version`, polled; there are no fixed sleeps.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/daemon_fixture.h"

namespace dkd::testing {

class TestEngine {
 public:
  struct Options {
    // Extra environment of dockerd, e.g. BuildKit's BUILDKIT_STEP_LOG_*
    // limits, which it reads only from there.
    std::map<std::string, std::string> env;
  };
  // Starts the engine and imports busybox:latest. FailedPrecondition when not
  // root or dockerd is missing.
  static absl::StatusOr<std::unique_ptr<TestEngine>> Start(const Options& options);
  static absl::StatusOr<std::unique_ptr<TestEngine>> Start() { return Start(Options{}); }
  // Stops the engine (SIGCONT first if paused), kills whatever of it is left
  // (containerd, shims, container processes), unmounts and deletes its
  // directory and bridge.
  ~TestEngine();

  // DOCKER_HOST spelling, e.g. "unix:///tmp/dkte.ab12/d.sock".
  std::string host() const { return "unix://" + socket_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

  // SIGSTOP / SIGCONT the dockerd process: a hung engine.
  absl::Status Pause();
  absl::Status Resume();
  // SIGKILL dockerd and its containerd, as when the engine dies; containers'
  // shims survive, as they do then. Waits until both are gone.
  absl::Status Kill();
  // Starts dockerd again on the same data root and waits until it answers.
  absl::Status Restart();

  // Runs the docker CLI against this engine.
  CommandResult Docker(const std::vector<std::string>& args, const std::string& input = "") const;
  // The engine's log so far.
  std::string Log() const;

 private:
  TestEngine() = default;
  absl::Status Launch();
  absl::Status WaitUntilAnswering();
  absl::Status ImportBusybox();
  // Pids of processes whose command line mentions dir_ (dockerd, containerd,
  // shims), optionally only those whose command name is `comm`.
  std::vector<pid_t> OwnProcesses(const std::string& comm = "") const;

  Options options_;
  std::string dir_;
  std::string socket_;
  std::string bridge_;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace dkd::testing
