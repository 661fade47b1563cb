// EngineMonitor: pings the engine periodically and publishes the result as
// grpc.health.v1 serving status.
//
// The whole server ("") and the services that need the engine
// (DockerManager, ImageOptimizer) are SERVING only while the engine answers;
// BuildGenerator needs no engine and stays SERVING. Thread-safe; Stop() joins.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/engine_client.h"

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
  std::atomic<bool> up_{false};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dkd::server
