// ContainerWaiter (container_waiter.h): waiters keyed by container, the event
// watch that completes them, and rechecks and cancellation.
#include "server/container_waiter.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace dkd::server {
namespace {

constexpr absl::Duration kMaxBackoff = absl::Seconds(2);
// Each new event stream starts this far before the previous one did, so
// events around a reconnect are replayed rather than lost.
constexpr int64_t kReplaySeconds = 2;

int64_t NowSeconds() { return absl::ToUnixSeconds(absl::Now()); }

}  // namespace

ContainerWaiter::ContainerWaiter(std::shared_ptr<core::DockerManager> manager)
    : manager_(std::move(manager)) {}

ContainerWaiter::~ContainerWaiter() {
  Shutdown();
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  watch_cancel_.Cancel();
  if (watcher_.joinable()) watcher_.join();
  if (completer_.joinable()) completer_.join();
}

void ContainerWaiter::StartWatcher() {
  if (watcher_.joinable() || stop_) return;
  watcher_ = std::thread([this] { WatchLoop(); });
  completer_ = std::thread([this] { CompleteLoop(); });
}

uint64_t ContainerWaiter::Wait(const std::string& id, const std::string& condition, Done done) {
  Condition c;
  if (condition.empty() || condition == "not-running") {
    c = Condition::kNotRunning;
  } else if (condition == "next-exit") {
    c = Condition::kNextExit;
  } else if (condition == "removed") {
    c = Condition::kRemoved;
  } else {
    done(absl::InvalidArgumentError(
        "condition: must be \"not-running\", \"next-exit\" or \"removed\""));
    return 0;
  }
  // Resolves a name or prefix to the id events carry (and validates `id`).
  auto j = manager_->InspectContainer(id);
  if (!j.ok()) {
    done(j.status());
    return 0;
  }
  Entry e{j->id, c, absl::ToUnixNanos(absl::Now()), 0, std::move(done)};
  if (j->state.has_value()) e.last_exit = j->state->exit_code;
  uint64_t handle = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!shutting_down_) {
      StartWatcher();
      handle = next_++;
      entries_.emplace(handle, std::move(e));
    }
  }
  if (handle == 0) {
    e.done(absl::UnavailableError("dkd is shutting down"));
    return 0;
  }
  spdlog::debug("waiting for container {} (condition {})", id,
                condition.empty() ? "not-running" : condition);
  // Registered first, checked second: an exit after this inspect is an
  // event the watcher delivers.
  Recheck(handle);
  return handle;
}

ContainerWaiter::Done ContainerWaiter::Take(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(handle);
  if (it == entries_.end()) return nullptr;
  Done d = std::move(it->second.done);
  entries_.erase(it);
  return d;
}

void ContainerWaiter::Cancel(uint64_t handle, const absl::Status& why) {
  if (Done d = Take(handle)) d(why);
}

void ContainerWaiter::CancelLater(uint64_t handle, const absl::Status& why) {
  absl::MutexLock lock(&mu_);
  later_.emplace_back(handle, why);
}

void ContainerWaiter::Shutdown() {
  std::vector<Done> dones;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (auto& [h, e] : entries_) dones.push_back(std::move(e.done));
    entries_.clear();
  }
  for (auto& d : dones) d(absl::UnavailableError("dkd is shutting down"));
}

size_t ContainerWaiter::pending() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

void ContainerWaiter::Recheck(uint64_t handle) {
  std::string id;
  Condition c;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(handle);
    if (it == entries_.end()) return;
    id = it->second.id;
    c = it->second.condition;
  }
  auto j = manager_->InspectContainer(id);
  if (!j.ok()) {
    if (j.status().code() != absl::StatusCode::kNotFound) return;  // Engine away: retry later.
    Done d;
    int last_exit = 0;
    {
      absl::MutexLock lock(&mu_);
      auto it = entries_.find(handle);
      if (it == entries_.end()) return;
      last_exit = it->second.last_exit;
      d = std::move(it->second.done);
      entries_.erase(it);
    }
    if (c == Condition::kRemoved) {
      d(last_exit);
    } else {
      d(absl::NotFoundError(absl::StrCat("No such container: ", id, " (removed while waiting)")));
    }
    return;
  }
  const bool running = j->state.has_value() && j->state->running;
  const int exit_code = j->state.has_value() ? j->state->exit_code : 0;
  if (running) return;
  if (c == Condition::kNotRunning) {
    if (Done d = Take(handle)) d(exit_code);
  } else if (c == Condition::kRemoved) {
    absl::MutexLock lock(&mu_);
    if (auto it = entries_.find(handle); it != entries_.end()) it->second.last_exit = exit_code;
  }
}

void ContainerWaiter::OnEvent(const core::EngineEvent& e) {
  if (e.type != "container" || (e.action != "die" && e.action != "destroy")) return;
  int exit_code = 0;
  if (auto it = e.attributes.find("exitCode"); it != e.attributes.end()) {
    if (!absl::SimpleAtoi(it->second, &exit_code)) exit_code = 0;
  }
  std::vector<std::pair<Done, absl::StatusOr<int>>> ready;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& w = it->second;
      if (w.id != e.actor_id || (e.time_nano != 0 && e.time_nano < w.since_nanos)) {
        ++it;
        continue;
      }
      if (e.action == "die" && w.condition == Condition::kRemoved) {
        w.last_exit = exit_code;
        ++it;
        continue;
      }
      absl::StatusOr<int> result = exit_code;
      if (e.action == "destroy") {
        result = w.condition == Condition::kRemoved
                     ? absl::StatusOr<int>(w.last_exit)
                     : absl::NotFoundError(
                           absl::StrCat("No such container: ", w.id, " (removed while waiting)"));
      }
      ready.emplace_back(std::move(w.done), std::move(result));
      it = entries_.erase(it);
    }
  }
  for (auto& [d, r] : ready) d(std::move(r));
}

void ContainerWaiter::WatchLoop() {
  int64_t since = NowSeconds() - kReplaySeconds;
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    const int64_t attempt = NowSeconds();
    const absl::Time started = absl::Now();
    std::vector<uint64_t> handles;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      for (const auto& [h, w] : entries_) handles.push_back(h);
    }
    // Exits while no stream was open (or older than its replay) show here.
    for (uint64_t h : handles) Recheck(h);
    core::EventsRequest r;
    r.since = since;
    r.filters = {"type=container", "event=die", "event=destroy"};
    absl::Status s = manager_->Events(
        r,
        [this](const core::EngineEvent& e) {
          OnEvent(e);
          return true;
        },
        &watch_cancel_);
    since = attempt - kReplaySeconds;
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    spdlog::debug("container wait watcher: event stream ended ({}); reconnecting",
                  std::string(s.message()));
    if (absl::Now() - started > absl::Seconds(10)) backoff = absl::Milliseconds(100);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

void ContainerWaiter::CompleteLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(this, &ContainerWaiter::CompleterReady));
    if (later_.empty() && stop_) return;
    std::vector<std::pair<uint64_t, absl::Status>> batch;
    batch.swap(later_);
    mu_.Unlock();
    for (const auto& [h, why] : batch) Cancel(h, why);
    mu_.Lock();
  }
}

}  // namespace dkd::server
