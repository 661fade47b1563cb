// ContainerListCache: the engine's full container list (GET
// /containers/json?all=1), kept fresh by the engine's event stream.
//
// A background thread follows container events; every event drops the cached
// list, as does anything dkd itself changes. A cached list is served only
// while the event stream is connected and the list is younger than `max_age`
// (the engine's human "Status" text, e.g. "Up 3 minutes", is computed at list
// time, so it may be up to max_age old; states and membership are exact as of
// the last event received). Without a connected event stream every call goes
// to the engine. Thread-safe.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/engine/docker_engine.h"

namespace dkd::core {

class ContainerListCache {
 public:
  ContainerListCache(std::shared_ptr<DockerEngine> engine, absl::Duration max_age);
  ~ContainerListCache();

  // Starts following events. Without Start() the cache never serves.
  void Start();
  void Stop();

  // The full list (all states), from the cache or the engine.
  absl::StatusOr<std::shared_ptr<const std::vector<ContainerSummary>>> AllContainers();
  // Drops the cached list.
  void Invalidate();
  // True while events are followed (for tests and metrics).
  bool watching() const;

 private:
  void FollowEvents();

  std::shared_ptr<DockerEngine> engine_;
  const absl::Duration max_age_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const std::vector<ContainerSummary>> list_ ABSL_GUARDED_BY(mu_);
  absl::Time fetched_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool watching_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CancelToken* events_cancel_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace dkd::core
