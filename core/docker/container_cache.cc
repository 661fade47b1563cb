// ContainerListCache (container_cache.h): the cached list, the event watcher
// that keeps it fresh, and invalidation.
#include "core/docker/container_cache.h"

#include <utility>

#include "spdlog/spdlog.h"

namespace dkd::core {

ContainerListCache::ContainerListCache(std::shared_ptr<DockerEngine> engine, absl::Duration max_age)
    : engine_(std::move(engine)), max_age_(max_age) {}

ContainerListCache::~ContainerListCache() { Stop(); }

void ContainerListCache::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || max_age_ <= absl::ZeroDuration()) return;
  stopping_ = false;
  thread_ = std::thread([this] { FollowEvents(); });
}

void ContainerListCache::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (events_cancel_ != nullptr) events_cancel_->Cancel();
  }
  if (thread_.joinable()) thread_.join();
}

void ContainerListCache::Invalidate() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  list_.reset();
}

bool ContainerListCache::watching() const {
  absl::MutexLock lock(&mu_);
  return watching_;
}

void ContainerListCache::FollowEvents() {
  while (true) {
    CancelToken cancel;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      events_cancel_ = &cancel;
    }
    EventsOptions events;
    events.filters["type"] = {"container"};
    // The engine flushes the response headers before it subscribes; asking
    // for events since a second ago replays anything that falls in that gap.
    events.since = absl::ToUnixSeconds(absl::Now()) - 1;
    absl::Status s = engine_->Events(
        events,
        [this] {
          absl::MutexLock lock(&mu_);
          watching_ = true;
          ++generation_;
          list_.reset();
        },
        [&](const EngineEvent&) {
          absl::MutexLock lock(&mu_);
          // Any event means the list may have changed.
          ++generation_;
          list_.reset();
          return !stopping_;
        },
        &cancel);
    {
      absl::MutexLock lock(&mu_);
      events_cancel_ = nullptr;
      watching_ = false;
      ++generation_;
      list_.reset();
      if (stopping_) break;
      // Wait before reconnecting (or until Stop()).
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1));
      if (stopping_) break;
    }
    if (!s.ok()) spdlog::debug("container event stream ended: {}", std::string(s.message()));
  }
}

absl::StatusOr<std::shared_ptr<const std::vector<ContainerSummary>>>
ContainerListCache::AllContainers() {
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    if (list_ && watching_ && absl::Now() - fetched_ < max_age_) return list_;
    generation = generation_;
  }
  ContainerListOptions options;
  options.all = true;
  auto res = engine_->ListContainers(options);
  if (!res.ok()) return res.status();
  auto list = std::make_shared<const std::vector<ContainerSummary>>(*std::move(res));
  absl::MutexLock lock(&mu_);
  // Keep it only if no event arrived while it was being fetched.
  if (generation == generation_ && watching_) {
    list_ = list;
    fetched_ = absl::Now();
  }
  return list;
}

}  // namespace dkd::core
