// Limits (limits.h): BuildQueue's FIFO slots, StreamCounter, and the
// DeadlineWatchdog thread.
#include "server/limits.h"

#include <algorithm>
#include <iterator>

#include "server/cancel_watcher.h"

namespace dkd::server {

BuildQueue::Slot::~Slot() { queue_->Release(); }

BuildQueue::BuildQueue(int max, absl::Duration poll) : poll_(poll), max_(max) {}

void BuildQueue::Effects::Run() {
  for (auto& [f, position] : positions) f(position);
  for (auto& [f, slot] : done) f(std::move(slot));
}

void BuildQueue::SetMax(int max) {
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    max_ = max;
    GrantLocked(fx);
  }
  fx.Run();
}

void BuildQueue::Close() {
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (Waiter& w : queue_) {
      fx.done.emplace_back(std::move(w.on_done), absl::UnavailableError("dkd is shutting down"));
    }
    queue_.clear();
  }
  fx.Run();
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
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    --running_;
    GrantLocked(fx);
  }
  fx.Run();
}

void BuildQueue::GrantLocked(Effects& fx) {
  while (!closed_ && !queue_.empty() && running_ < max_) {
    ++running_;
    fx.done.emplace_back(std::move(queue_.front().on_done), std::make_unique<Slot>(this));
    queue_.pop_front();
  }
  int position = 0;
  for (Waiter& w : queue_) {
    if (++position != w.reported) {
      w.reported = position;
      fx.positions.emplace_back(w.on_position, position);
    }
  }
}

uint64_t BuildQueue::Enqueue(std::function<void(int)> on_position, Granted on_done) {
  Effects fx;
  uint64_t ticket;
  {
    absl::MutexLock lock(&mu_);
    ticket = next_ticket_++;
    if (closed_) {
      fx.done.emplace_back(std::move(on_done), absl::UnavailableError("dkd is shutting down"));
    } else if (queue_.empty() && running_ < max_) {
      ++running_;
      fx.done.emplace_back(std::move(on_done), std::make_unique<Slot>(this));
    } else {
      queue_.push_back(Waiter{ticket, std::move(on_position), std::move(on_done), 0});
      GrantLocked(fx);
    }
  }
  fx.Run();
  return ticket;
}

void BuildQueue::Leave(uint64_t ticket, const absl::Status& why) {
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (it->ticket != ticket) continue;
      fx.done.emplace_back(std::move(it->on_done), why);
      queue_.erase(it);
      GrantLocked(fx);  // Those behind move up.
      break;
    }
  }
  fx.Run();
}

absl::StatusOr<std::unique_ptr<BuildQueue::Slot>> BuildQueue::Acquire(
    const std::function<void(int)>& on_queued, const std::function<absl::Status()>& check) {
  // The async queue, waited on here: callbacks only record, this thread acts.
  struct Wait {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::StatusOr<std::unique_ptr<Slot>> result ABSL_GUARDED_BY(mu);
    int position ABSL_GUARDED_BY(mu) = 0;
    int reported = 0;
  };
  auto wait = std::make_shared<Wait>();
  const uint64_t ticket = Enqueue(
      [wait](int position) {
        absl::MutexLock lock(&wait->mu);
        wait->position = position;
      },
      [wait](absl::StatusOr<std::unique_ptr<Slot>> slot) {
        absl::MutexLock lock(&wait->mu);
        wait->result = std::move(slot);
        wait->done = true;
      });
  for (;;) {
    int position;
    {
      absl::MutexLock lock(&wait->mu);
      auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wait->mu) {
        return wait->done || wait->position != wait->reported;
      };
      wait->mu.AwaitWithTimeout(absl::Condition(&changed), poll_);
      if (wait->done) {
        if (!wait->result.ok()) return wait->result.status();
        break;
      }
      position = wait->position;
    }
    if (position != wait->reported && position != 0) {
      wait->reported = position;
      on_queued(position);
    }
    if (absl::Status s = check(); !s.ok()) {
      Leave(ticket, s);
      absl::MutexLock lock(&wait->mu);
      // Granted meanwhile: the slot passes on as `result` goes out of scope.
      if (wait->result.ok()) *wait->result = nullptr;
      return s;
    }
  }
  // Still wanted? A slot granted to a call that went away passes on.
  if (absl::Status s = check(); !s.ok()) {
    absl::MutexLock lock(&wait->mu);
    *wait->result = nullptr;
    return s;
  }
  absl::MutexLock lock(&wait->mu);
  return std::move(wait->result);
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
  ClearDeadlineExpired(it->second.context);
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
        MarkDeadlineExpired(it->second.context);
        it->second.expired = true;
        it->second.deadline = now + kHardCutAfter;
        ++it;
      } else if (it->second.deadline <= now) {
        it->second.context->TryCancel();  // IsCancelled() holds from now on.
        ClearDeadlineExpired(it->second.context);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(100));
  }
}

}  // namespace dkd::server
