// EngineMonitor: pings the engine periodically and publishes the result as
// grpc.health.v1 serving status.
//
// The whole server ("") and the services that need the engine
// (DockerManager, ImageOptimizer) are SERVING only while the engine answers
// GET /_ping within the client's response timeout: a hung engine (SIGSTOP)
// turns them NOT_SERVING within one interval plus that timeout, as a dead one
// does. BuildGenerator needs no engine and stays SERVING. After every check
// the engine answered, the on-answer hook runs (on the monitor's thread), e.g.
// to remove what builds the engine died under left behind. Thread-safe;
// Stop() joins.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/engine/engine_client.h"

namespace dkd::server {

class EngineMonitor {
 public:
  // `publish(service, serving)` is called for every service on each change.
  using Publish = std::function<void(const std::string& service, bool serving)>;

  EngineMonitor(std::shared_ptr<core::EngineClient> engine, absl::Duration interval,
                Publish publish);
  ~EngineMonitor();

  // Called after every ping with its outcome and latency (for metrics).
  // Set before Start().
  void set_ping_observer(std::function<void(bool ok, absl::Duration latency)> observer) {
    ping_observer_ = std::move(observer);
  }

  // Runs after every check the engine answered, on the monitor's thread
  // (first within Start()). Set before Start().
  void set_on_engine_answers(std::function<void()> hook) { on_answers_ = std::move(hook); }

  // Checks once synchronously, then keeps checking every interval.
  void Start();
  void Stop();
  bool engine_up() const { return up_.load(); }

  static const std::vector<std::string>& EngineServices();
  static const std::vector<std::string>& EngineFreeServices();

 private:
  void CheckOnce(bool force_publish);
  void Loop();

  std::shared_ptr<core::EngineClient> engine_;
  const absl::Duration interval_;
  Publish publish_;
  std::function<void(bool, absl::Duration)> ping_observer_;
  std::function<void()> on_answers_;
  std::atomic<bool> up_{false};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dkd::server
