// ContainerWaiter: waits for containers to exit without a thread per waiter.
//
// The engine's POST /containers/{id}/wait holds one connection, and so one
// dkd thread, per waiting call: 300 waits made 600 threads. Here every wait
// is an entry in a table. One watcher thread follows the engine's container
// die/destroy events and completes the entries they satisfy; an inspect when
// an entry is added catches containers that exited before, and a re-inspect
// after every reconnect catches exits the watcher missed while the engine
// was away (each new event stream also replays from before the previous one
// ended). Completions that may not run on the caller's thread (a deadline
// firing under the watchdog's lock, shutdown) go through one completer
// thread. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_client.h"

namespace dkd::server {

class ContainerWaiter {
 public:
  // Receives the exit code, or why there is none (NotFound, Unavailable,
  // Cancelled, DeadlineExceeded). Called exactly once per Wait.
  using Done = std::function<void(absl::StatusOr<int>)>;

  explicit ContainerWaiter(std::shared_ptr<core::DockerManager> manager);
  ~ContainerWaiter();  // Completes what is pending with Unavailable.
  ContainerWaiter(const ContainerWaiter&) = delete;
  ContainerWaiter& operator=(const ContainerWaiter&) = delete;

  // Waits for container `id` (id, prefix or name) to meet `condition`
  // ("" = "not-running", "next-exit", "removed"), as the engine's wait does.
  // May call `done` before returning (bad input, a container already
  // stopped). Returns a handle for Cancel (a no-op once `done` ran).
  uint64_t Wait(const std::string& id, const std::string& condition, Done done);

  // Completes `handle` with `why` if it is still pending, on this thread.
  void Cancel(uint64_t handle, const absl::Status& why);
  // As Cancel, but on the completer thread: safe under any lock.
  void CancelLater(uint64_t handle, const absl::Status& why);
  // Completes every pending wait with Unavailable "dkd is shutting down".
  void Shutdown();

  size_t pending() const;

 private:
  enum class Condition { kNotRunning, kNextExit, kRemoved };
  struct Entry {
    std::string id;  // Full container id.
    Condition condition;
    int64_t since_nanos;  // Events before the wait began are not for it.
    int last_exit = 0;    // From the latest die (for kRemoved).
    Done done;
  };

  // Removes `handle` and returns its callback (empty when gone).
  Done Take(uint64_t handle);
  // Inspects `handle`'s container and completes it when its condition holds.
  void Recheck(uint64_t handle);
  void OnEvent(const core::EngineEvent& e);
  void WatchLoop();
  void CompleteLoop();
  void StartWatcher() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool CompleterReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stop_ || !later_.empty();
  }

  std::shared_ptr<core::DockerManager> manager_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, absl::Status>> later_ ABSL_GUARDED_BY(mu_);
  core::CancelToken watch_cancel_;
  std::thread watcher_;
  std::thread completer_;
};

}  // namespace dkd::server
