// EngineMonitor (engine_monitor.h): the ping loop and the health statuses it
// sets.
#include "server/engine_monitor.h"

#include <utility>

#include "spdlog/spdlog.h"

namespace dkd::server {

const std::vector<std::string>& EngineMonitor::EngineServices() {
  static const auto* kServices =
      new std::vector<std::string>{"", "dkd.v1.DockerManager", "dkd.v1.ImageOptimizer"};
  return *kServices;
}

const std::vector<std::string>& EngineMonitor::EngineFreeServices() {
  static const auto* kServices = new std::vector<std::string>{"dkd.v1.BuildGenerator"};
  return *kServices;
}

EngineMonitor::EngineMonitor(std::shared_ptr<core::EngineClient> engine, absl::Duration interval,
                             Publish publish)
    : engine_(std::move(engine)), interval_(interval), publish_(std::move(publish)) {}

EngineMonitor::~EngineMonitor() { Stop(); }

void EngineMonitor::Start() {
  for (const auto& s : EngineFreeServices()) publish_(s, true);
  CheckOnce(/*force_publish=*/true);
  thread_ = std::thread([this] { Loop(); });
}

void EngineMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void EngineMonitor::CheckOnce(bool force_publish) {
  const absl::Time started = absl::Now();
  const absl::Status s = engine_->Ping();
  const bool now_up = s.ok();
  if (ping_observer_) ping_observer_(now_up, absl::Now() - started);
  const bool was_up = up_.exchange(now_up);
  if (now_up != was_up || force_publish) {
    if (now_up) {
      spdlog::info("engine {} is reachable (API {})", engine_->address().ToString(),
                   engine_->ApiVersion());
    } else if (s.code() == absl::StatusCode::kResourceExhausted) {
      spdlog::error("cannot check the engine: {}", std::string(s.message()));
    } else {
      spdlog::warn("engine unreachable: {}", std::string(s.message()));
    }
    for (const auto& svc : EngineServices()) publish_(svc, now_up);
  }
  if (now_up && on_answers_) on_answers_();
}

void EngineMonitor::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    // Wait for the interval or Stop(), whichever comes first.
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_)) break;
    mu_.Unlock();
    CheckOnce(/*force_publish=*/false);
    mu_.Lock();
  }
}

}  // namespace dkd::server
