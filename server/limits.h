// Limits that need state across calls: the build queue, per-identity stream
// counts and server-side default deadlines. All classes are thread-safe.
#pragma once

#include <grpcpp/server_context.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dkd::server {

// At most `max` builds run at once; the rest wait in arrival order.
class BuildQueue {
 public:
  // Held while a build runs; releases its slot when destroyed.
  class Slot {
   public:
    explicit Slot(BuildQueue* queue) : queue_(queue) {}
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    BuildQueue* queue_;
  };

  explicit BuildQueue(int max) : max_(max) {}
  void SetMax(int max);

  // Waits for a slot. `on_queued(position)` is called whenever the number of
  // builds ahead changes (not at all when a slot is free at once). Cancelled
  // when `cancelled()` turns true while waiting.
  absl::StatusOr<std::unique_ptr<Slot>> Acquire(const std::function<void(int)>& on_queued,
                                                const std::function<bool()>& cancelled);
  int running() const;
  int waiting() const;

 private:
  void Release();
  bool SlotFree() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ < max_; }
  mutable absl::Mutex mu_;
  int max_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, bool> waiting_ ABSL_GUARDED_BY(mu_);  // Tickets in arrival order.
};

// Calls (or open streams) in progress per identity.
class StreamCounter {
 public:
  // True (and counted) when `identity` has fewer than `max` in progress.
  bool TryAcquire(const std::string& identity, int max);
  void Release(const std::string& identity);

 private:
  absl::Mutex mu_;
  std::map<std::string, int> open_ ABSL_GUARDED_BY(mu_);
};

// Cancels calls that outlive a server-side deadline. One thread for all calls.
class DeadlineWatchdog {
 public:
  DeadlineWatchdog();
  ~DeadlineWatchdog();

  // Arms a deadline for `context`; returns a handle for Disarm. At the
  // deadline `on_expire` runs on the watchdog thread and the call is marked
  // expired (MarkDeadlineExpired), so engine work behind a CancelWatcher stops
  // and the call can end with DEADLINE_EXCEEDED; a call still running
  // kHardCutAfter later is cancelled outright.
  // `context` may be a sync or a callback call's; only sync calls (the ones
  // with a CancelWatcher) are marked expired.
  uint64_t Arm(grpc::ServerContextBase* context, absl::Time deadline,
               std::function<void()> on_expire);
  void Disarm(uint64_t handle);
  static constexpr absl::Duration kHardCutAfter = absl::Seconds(2);

 private:
  struct Entry {
    grpc::ServerContextBase* context;
    absl::Time deadline;
    std::function<void()> on_expire;
    bool expired = false;  // on_expire ran; the next time is the hard cut.
  };
  void Loop();
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace dkd::server
