// BuildQueue: FIFO hand-off of build slots, no lost slots when waiters leave,
// callbacks without the queue's lock, and no spinning while waiting.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/limits.h"

namespace dkd::server {
namespace {

using Slot = std::unique_ptr<BuildQueue::Slot>;

constexpr absl::Duration kPoll = absl::Milliseconds(20);

// Waits (bounded) until `done()`; the queue changes state on other threads.
bool Eventually(const std::function<bool()>& done, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

absl::Status KeepWaiting() { return absl::OkStatus(); }

// A waiter on its own thread: its position reports and its outcome.
class Waiter {
 public:
  Waiter(BuildQueue* queue, std::atomic<bool>* cancel = nullptr)
      : thread_([this, queue, cancel] {
          auto s = queue->Acquire(
              [this](int position) {
                absl::MutexLock lock(&mu_);
                positions_.push_back(position);
              },
              [this, cancel] {
                const bool gone = abandoned_ || (cancel != nullptr && cancel->load());
                return gone ? absl::CancelledError("gone") : absl::OkStatus();
              });
          absl::MutexLock lock(&mu_);
          if (s.ok()) {
            slot_ = std::move(*s);
          } else {
            status_ = s.status();
          }
          done_ = true;
        }) {}
  // A test that fails early still ends its waiters (at their next wake-up).
  ~Waiter() {
    abandoned_ = true;
    thread_.join();
  }

  bool done() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  bool has_slot() const {
    absl::MutexLock lock(&mu_);
    return slot_ != nullptr;
  }
  absl::Status status() const {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  std::vector<int> positions() const {
    absl::MutexLock lock(&mu_);
    return positions_;
  }
  int last_position() const {
    absl::MutexLock lock(&mu_);
    return positions_.empty() ? -1 : positions_.back();
  }
  void ReleaseSlot() {
    absl::MutexLock lock(&mu_);
    slot_.reset();
  }

 private:
  mutable absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  Slot slot_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::vector<int> positions_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> abandoned_{false};
  std::thread thread_;
};

TEST(BuildQueueTest, GivesASlotAtOnceWithoutReportingAPositionWhenOneIsFree) {
  BuildQueue queue(2, kPoll);
  int reports = 0;
  auto a = queue.Acquire([&](int) { ++reports; }, KeepWaiting);
  auto b = queue.Acquire([&](int) { ++reports; }, KeepWaiting);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(reports, 0);
  EXPECT_EQ(queue.running(), 2);
  a->reset();
  EXPECT_EQ(queue.running(), 1);
}

TEST(BuildQueueTest, StartsWaitersInArrivalOrderAndTellsEachItsPosition) {
  BuildQueue queue(1, kPoll);
  auto held = queue.Acquire([](int) {}, KeepWaiting);
  ASSERT_TRUE(held.ok());
  std::vector<std::unique_ptr<Waiter>> waiters;
  for (int i = 0; i < 5; ++i) {
    waiters.push_back(std::make_unique<Waiter>(&queue));
    // Each is queued before the next arrives, so arrival order is known.
    ASSERT_TRUE(Eventually([&] { return waiters.back()->last_position() == i + 1; }));
  }
  EXPECT_EQ(queue.waiting(), 5);
  held->reset();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Eventually([&] { return waiters[i]->has_slot(); })) << "waiter " << i;
    // Nobody behind has overtaken it, and the slot is not shared.
    for (int j = i + 1; j < 5; ++j) EXPECT_FALSE(waiters[j]->done()) << j << " overtook " << i;
    EXPECT_EQ(queue.running(), 1);
    // The ones behind move up.
    for (int j = i + 1; j < 5; ++j) {
      EXPECT_TRUE(Eventually([&] { return waiters[j]->last_position() == j - i; }));
    }
    waiters[i]->ReleaseSlot();
  }
  // Positions only ever go down, starting from where the waiter came in.
  for (int i = 0; i < 5; ++i) {
    const std::vector<int> p = waiters[i]->positions();
    ASSERT_FALSE(p.empty());
    EXPECT_EQ(p.front(), i + 1);
    for (size_t k = 1; k < p.size(); ++k) EXPECT_LT(p[k], p[k - 1]);
  }
  EXPECT_EQ(queue.running(), 0);
  EXPECT_EQ(queue.waiting(), 0);
}

TEST(BuildQueueTest, WaiterCancelledInTheMiddleLeavesAndThoseBehindMoveUp) {
  BuildQueue queue(1, kPoll);
  auto held = queue.Acquire([](int) {}, KeepWaiting);
  ASSERT_TRUE(held.ok());
  std::atomic<bool> cancel_b{false};
  Waiter a(&queue);
  ASSERT_TRUE(Eventually([&] { return a.last_position() == 1; }));
  Waiter b(&queue, &cancel_b);
  ASSERT_TRUE(Eventually([&] { return b.last_position() == 2; }));
  Waiter c(&queue);
  ASSERT_TRUE(Eventually([&] { return c.last_position() == 3; }));
  cancel_b = true;
  ASSERT_TRUE(Eventually([&] { return b.done(); }));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(b.has_slot());
  EXPECT_TRUE(Eventually([&] { return c.last_position() == 2; }));
  EXPECT_EQ(queue.waiting(), 2);
  EXPECT_EQ(queue.running(), 1);
  held->reset();
  ASSERT_TRUE(Eventually([&] { return a.has_slot(); }));
  EXPECT_FALSE(c.done());
  a.ReleaseSlot();
  ASSERT_TRUE(Eventually([&] { return c.has_slot(); }));
  c.ReleaseSlot();
  EXPECT_EQ(queue.running(), 0);
  EXPECT_EQ(queue.waiting(), 0);
}

TEST(BuildQueueTest, CancelledHeadOfQueueDoesNotLoseTheSlot) {
  BuildQueue queue(1, kPoll);
  auto held = queue.Acquire([](int) {}, KeepWaiting);
  ASSERT_TRUE(held.ok());
  std::atomic<bool> cancel_a{false};
  Waiter a(&queue, &cancel_a);
  ASSERT_TRUE(Eventually([&] { return a.last_position() == 1; }));
  Waiter b(&queue);
  ASSERT_TRUE(Eventually([&] { return b.last_position() == 2; }));
  // The slot frees and `a` goes away at the same moment: whichever the
  // queue sees first, `b` must end up with the slot.
  cancel_a = true;
  held->reset();
  ASSERT_TRUE(Eventually([&] { return a.done() && b.has_slot(); }));
  EXPECT_FALSE(a.has_slot());
  EXPECT_EQ(queue.running(), 1);
  b.ReleaseSlot();
  EXPECT_EQ(queue.running(), 0);
}

TEST(BuildQueueTest, RaisingMaxStartsWaitersAtOnceAndLoweringItHoldsNewOnesBack) {
  BuildQueue queue(1, absl::Hours(1));  // No poll: only a hand-off can wake.
  auto held = queue.Acquire([](int) {}, KeepWaiting);
  ASSERT_TRUE(held.ok());
  Waiter a(&queue);
  ASSERT_TRUE(Eventually([&] { return a.last_position() == 1; }));
  Waiter b(&queue);
  ASSERT_TRUE(Eventually([&] { return b.last_position() == 2; }));
  queue.SetMax(3);
  ASSERT_TRUE(Eventually([&] { return a.has_slot() && b.has_slot(); }));
  EXPECT_EQ(queue.running(), 3);
  queue.SetMax(1);
  a.ReleaseSlot();
  b.ReleaseSlot();
  Waiter c(&queue);
  ASSERT_TRUE(Eventually([&] { return c.last_position() == 1; }));
  EXPECT_EQ(queue.running(), 1);
  held->reset();
  ASSERT_TRUE(Eventually([&] { return c.has_slot(); }));
  c.ReleaseSlot();
}

TEST(BuildQueueTest, CloseEndsEveryWaitWithUnavailableAndRefusesNewOnes) {
  BuildQueue queue(1, absl::Hours(1));
  auto held = queue.Acquire([](int) {}, KeepWaiting);
  ASSERT_TRUE(held.ok());
  Waiter a(&queue);
  Waiter b(&queue);
  ASSERT_TRUE(Eventually([&] { return queue.waiting() == 2; }));
  queue.Close();
  ASSERT_TRUE(Eventually([&] { return a.done() && b.done(); }));
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(queue.Acquire([](int) {}, KeepWaiting).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(queue.running(), 1);
  held->reset();
  EXPECT_EQ(queue.running(), 0);
}

TEST(BuildQueueTest, CallbacksRunWithoutTheQueueLock) {
  BuildQueue queue(1, kPoll);
  auto held = queue.Acquire([](int) {}, KeepWaiting);
  ASSERT_TRUE(held.ok());
  // A callback that blocks (a gRPC write to a slow client) must not stop the
  // queue: the slot holder can still release, and others can still queue.
  absl::Notification in_callback, unblock;
  std::thread blocked([&] {
    auto s = queue.Acquire(
        [&](int) {
          in_callback.Notify();
          unblock.WaitForNotification();
        },
        KeepWaiting);
    EXPECT_TRUE(s.ok());
  });
  in_callback.WaitForNotification();
  std::atomic<bool> checked{false};
  std::thread other([&] {
    auto s = queue.Acquire([](int) {},
                           [&] {
                             checked = true;
                             return absl::CancelledError("gone");
                           });
    EXPECT_EQ(s.status().code(), absl::StatusCode::kCancelled);
  });
  other.join();
  EXPECT_TRUE(checked);
  EXPECT_EQ(queue.waiting(), 1);
  held->reset();                  // Would deadlock if the blocked callback held the lock.
  EXPECT_EQ(queue.running(), 1);  // Handed to the blocked waiter already.
  unblock.Notify();
  blocked.join();
  EXPECT_EQ(queue.running(), 0);
}

TEST(BuildQueueTest, ManyThreadsAllGetASlotAndNeverMoreThanMaxAtOnce) {
  constexpr int kMax = 4;
  constexpr int kThreads = 64;
  constexpr int kRounds = 20;
  BuildQueue queue(kMax, kPoll);
  std::atomic<int> inside{0}, peak{0}, done{0}, cancelled{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        // Every seventh acquisition gives up after its first wake-up.
        const bool quitter = (t * kRounds + r) % 7 == 0;
        auto s = queue.Acquire(
            [](int) {}, [&] { return quitter ? absl::CancelledError("gone") : absl::OkStatus(); });
        if (!s.ok()) {
          ++cancelled;
          continue;
        }
        const int now = ++inside;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        std::this_thread::yield();
        --inside;
        s->reset();
        ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(done + cancelled, kThreads * kRounds);
  EXPECT_GT(done, kThreads * kRounds / 2);
  EXPECT_LE(peak, kMax);
  EXPECT_EQ(queue.running(), 0);
  EXPECT_EQ(queue.waiting(), 0);
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

TEST(BuildQueueTest, WaitersDoNotSpin) {
  BuildQueue queue(1, absl::Milliseconds(200));  // dkd's own poll interval.
  auto held = queue.Acquire([](int) {}, KeepWaiting);
  ASSERT_TRUE(held.ok());
  std::atomic<int> checks{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto s = queue.Acquire([](int) {},
                             [&] {
                               ++checks;
                               return absl::OkStatus();
                             });
      EXPECT_TRUE(s.ok());
    });
  }
  ASSERT_TRUE(Eventually([&] { return queue.waiting() == 8; }));
  const int checks_before = checks;
  const double cpu_before = CpuSeconds();
  absl::SleepFor(absl::Seconds(1));
  const double cpu = CpuSeconds() - cpu_before;
  const int wakeups = checks - checks_before;
  // Eight waiters at one wake-up per 200 ms: about 40 in a second.
  EXPECT_LE(wakeups, 8 * 8) << "waiters woke " << wakeups << " times in 1 s";
  EXPECT_LT(cpu, 0.05) << "waiting used " << cpu << " s of CPU in 1 s";
  held->reset();
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace dkd::server
