#include "server/limits.h"

#include <algorithm>
#include <iterator>

#include "server/cancel_watcher.h"

namespace dkd::server {

BuildQueue::Slot::~Slot() { queue_->Release(); }

BuildQueue::BuildQueue(int max, absl::Duration poll) : poll_(poll), max_(max) {}

void BuildQueue::SetMax(int max) {
  absl::MutexLock lock(&mu_);
  max_ = max;
  GrantLocked();
}

void BuildQueue::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (Waiter* w : queue_) w->cv.Signal();
}

int BuildQueue::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

int BuildQueue::waiting() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

void BuildQueue::Release() {
  absl::MutexLock lock(&mu_);
  --running_;
  GrantLocked();
}

void BuildQueue::GrantLocked() {
  while (!closed_ && !queue_.empty() && running_ < max_) {
    Waiter* next = queue_.front();
    queue_.pop_front();
    next->granted = true;
    ++running_;
    next->cv.Signal();
  }
}

absl::StatusOr<std::unique_ptr<BuildQueue::Slot>> BuildQueue::Acquire(
    const std::function<void(int)>& on_queued, const std::function<absl::Status()>& check) {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::UnavailableError("dkd is shutting down");
  if (queue_.empty() && running_ < max_) {
    ++running_;
    return std::make_unique<Slot>(this);
  }
  Waiter self;
  const auto me = queue_.insert(queue_.end(), &self);
  int reported = -1;
  while (true) {
    // A granted slot is taken only by a call still wanted: one that went
    // away while being woken passes it on.
    int position = 0;
    if (!self.granted) {
      if (closed_) {
        queue_.erase(me);
        return absl::UnavailableError("dkd is shutting down");
      }
      position = static_cast<int>(std::distance(queue_.begin(), me)) + 1;
    }
    const bool report = position != 0 && position != reported;
    if (report) reported = position;
    mu_.Unlock();
    if (report) on_queued(position);
    absl::Status s = check();
    mu_.Lock();
    if (!s.ok()) {
      if (self.granted) {
        --running_;
        GrantLocked();
      } else {
        queue_.erase(me);
      }
      return s;
    }
    if (self.granted) return std::make_unique<Slot>(this);
    if (!closed_) self.cv.WaitWithTimeout(&mu_, poll_);
  }
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
