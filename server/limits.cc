#include "server/limits.h"

#include <algorithm>

#include "server/cancel_watcher.h"

namespace dkd::server {

BuildQueue::Slot::~Slot() { queue_->Release(); }

void BuildQueue::SetMax(int max) {
  absl::MutexLock lock(&mu_);
  max_ = max;
}

int BuildQueue::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

int BuildQueue::waiting() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiting_.size());
}

void BuildQueue::Release() {
  absl::MutexLock lock(&mu_);
  --running_;
}

absl::StatusOr<std::unique_ptr<BuildQueue::Slot>> BuildQueue::Acquire(
    const std::function<void(int)>& on_queued, const std::function<bool()>& cancelled) {
  absl::MutexLock lock(&mu_);
  const uint64_t ticket = next_ticket_++;
  waiting_[ticket] = true;
  int last_position = -1;
  while (true) {
    // Ahead of us: every waiting ticket lower than ours.
    const int ahead = static_cast<int>(std::distance(waiting_.begin(), waiting_.find(ticket)));
    if (ahead == 0 && running_ < max_) break;
    // Position counts the builds that must finish or start before this one.
    const int position = ahead + 1;
    if (position != last_position) {
      last_position = position;
      mu_.Unlock();
      on_queued(position);
      mu_.Lock();
    }
    if (cancelled()) {
      waiting_.erase(ticket);
      return absl::CancelledError("the build was cancelled while queued");
    }
    mu_.AwaitWithTimeout(absl::Condition(this, &BuildQueue::SlotFree), absl::Milliseconds(100));
  }
  waiting_.erase(ticket);
  ++running_;
  return std::make_unique<Slot>(this);
}

bool StreamCounter::TryAcquire(const std::string& identity, int max) {
  absl::MutexLock lock(&mu_);
  int& n = open_[identity];
  if (n >= max) return false;
  ++n;
  return true;
}

void StreamCounter::Release(const std::string& identity) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(identity);
  if (it == open_.end()) return;
  if (--it->second <= 0) open_.erase(it);
}

DeadlineWatchdog::DeadlineWatchdog() : thread_([this] { Loop(); }) {}

DeadlineWatchdog::~DeadlineWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

namespace {

// Sync calls carry a CancelWatcher that stops their engine work.
const grpc::ServerContext* SyncContext(const grpc::ServerContextBase* context) {
  return dynamic_cast<const grpc::ServerContext*>(context);
}

}  // namespace

uint64_t DeadlineWatchdog::Arm(grpc::ServerContextBase* context, absl::Time deadline,
                               std::function<void()> on_expire) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_++;
  entries_[id] = Entry{context, deadline, std::move(on_expire)};
  return id;
}

void DeadlineWatchdog::Disarm(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(handle);
  if (it == entries_.end()) return;
  if (auto* sync = SyncContext(it->second.context)) ClearDeadlineExpired(sync);
  entries_.erase(it);
}

void DeadlineWatchdog::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    const absl::Time now = absl::Now();
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.deadline <= now && !it->second.expired) {
        // Running under the lock keeps the context alive: Disarm, which the
        // call runs before it ends, waits for us.
        it->second.on_expire();
        if (auto* sync = SyncContext(it->second.context)) MarkDeadlineExpired(sync);
        it->second.expired = true;
        it->second.deadline = now + kHardCutAfter;
        ++it;
      } else if (it->second.deadline <= now) {
        it->second.context->TryCancel();  // IsCancelled() holds from now on.
        if (auto* sync = SyncContext(it->second.context)) ClearDeadlineExpired(sync);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(100));
  }
}

}  // namespace dkd::server
