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
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dkd::server {

// At most `max` builds run at once; the rest wait in a FIFO queue.
//
// A slot that frees up is handed straight to the first waiter: nobody spins
// and nobody overtakes. Waiting comes in two forms: Enqueue, for callback-API
// calls that hold no thread while they wait, and the blocking Acquire built
// on it. The queue's lock is never held while a callback runs. Thread-safe.
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
  using Granted = std::function<void(absl::StatusOr<std::unique_ptr<Slot>> slot)>;

  explicit BuildQueue(int max, absl::Duration poll = absl::Milliseconds(200));
  // Takes effect at once: a larger max starts waiters now; a smaller one lets
  // running builds finish and starts no one until they are below it.
  void SetMax(int max);
  // Ends every wait with Unavailable, and refuses later waits the same way
  // (dkd is shutting down). Running builds keep their slots.
  void Close();

  // Waits for a slot without a thread. `on_done` runs exactly once: with the
  // slot (inside Enqueue when one is free), with Leave's `why`, or with
  // Unavailable once closed. `on_position(position)` runs when the call
  // starts to wait and whenever its position changes; 1 is next. Both run on
  // whichever thread caused them (Enqueue, a release, Leave, Close, SetMax),
  // never under the queue's lock; a position decided just before the grant
  // may arrive after `on_done` on another thread (ignore it). Returns a
  // ticket for Leave.
  uint64_t Enqueue(std::function<void(int position)> on_position, Granted on_done);
  // Takes `ticket` out of the queue, ending it with `why`; a no-op once its
  // `on_done` has run (it holds a slot, or left already).
  void Leave(uint64_t ticket, const absl::Status& why);

  // Takes a slot, waiting on this thread in arrival order when none is free.
  // `on_queued(position)` as Enqueue's on_position, but on this thread.
  // `check()` runs after each wake-up (at least every `poll`); when it returns
  // an error the build leaves the queue consistently (a slot granted
  // meanwhile passes on) and Acquire returns that error.
  absl::StatusOr<std::unique_ptr<Slot>> Acquire(const std::function<void(int)>& on_queued,
                                                const std::function<absl::Status()>& check);
  int running() const;
  int waiting() const;

 private:
  struct Waiter {
    uint64_t ticket = 0;
    std::function<void(int)> on_position;
    Granted on_done;
    int reported = 0;  // Last position told.
  };
  // Callbacks decided under the lock, run after it is released.
  struct Effects {
    std::vector<std::pair<Granted, absl::StatusOr<std::unique_ptr<Slot>>>> done;
    std::vector<std::pair<std::function<void(int)>, int>> positions;
    void Run();
  };
  void Release();
  // Hands free slots to the head of the queue and notes changed positions.
  void GrantLocked(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration poll_;
  mutable absl::Mutex mu_;
  int max_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  std::list<Waiter> queue_ ABSL_GUARDED_BY(mu_);  // Arrival order.
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
  // `context` may be a sync or a callback call's.
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
