// Limits that need state across calls: the build queue, per-identity stream
// counts and server-side default deadlines. All classes are thread-safe.
#pragma once

#include <grpcpp/server_context.h>

#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dkd::server {

// At most `max` builds run at once; the rest wait in a FIFO queue.
//
// A slot that frees up is handed straight to the first waiter, and only that
// waiter is woken: nobody spins and nobody overtakes. Waiters also wake every
// `poll` to notice their call going away (gRPC's sync API has no callback for
// that) and to report a changed position; the queue's lock is never held
// while they call back into gRPC. Thread-safe.
class BuildQueue {
 public:
  // Held while a build runs; releases its slot (to the next waiter, if any)
  // when destroyed.
  class Slot {
   public:
    explicit Slot(BuildQueue* queue) : queue_(queue) {}
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    BuildQueue* queue_;
  };

  explicit BuildQueue(int max, absl::Duration poll = absl::Milliseconds(200));
  // Takes effect at once: a larger max starts waiters now; a smaller one lets
  // running builds finish and starts no one until they are below it.
  void SetMax(int max);
  // Ends every wait with Unavailable, and refuses later Acquire calls the
  // same way (dkd is shutting down). Running builds keep their slots.
  void Close();

  // Takes a slot, waiting in arrival order when none is free.
  // `on_queued(position)` runs when the build starts to wait and whenever its
  // position changes (not at all when a slot is free at once); position 1 is
  // the next to start. `check()` runs after each wake-up; when it returns an
  // error the build leaves the queue (consistently: no slot is lost, the
  // builds behind move up) and Acquire returns that error. Both callbacks run
  // on the calling thread without the queue's lock.
  absl::StatusOr<std::unique_ptr<Slot>> Acquire(const std::function<void(int)>& on_queued,
                                                const std::function<absl::Status()>& check);
  int running() const;
  int waiting() const;

 private:
  struct Waiter {
    absl::CondVar cv;
    bool granted = false;  // Given a slot (and out of queue_) by a Release.
  };
  void Release();
  // Hands free slots to the waiters at the head of the queue (none once
  // closed: they are leaving).
  void GrantLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration poll_;
  mutable absl::Mutex mu_;
  int max_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::list<Waiter*> queue_ ABSL_GUARDED_BY(mu_);  // Arrival order.
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
