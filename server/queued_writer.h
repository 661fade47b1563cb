// QueuedWriter: the write side of dkd's callback-API streams.
//
// Items arrive from whoever produces them (the engine stream loop, a build's
// worker thread, the build queue) and are written one at a time; Finish runs
// once, after the end is known and every queued item is written (or the
// client stopped reading), and never before Ready(). When 256 KiB wait behind
// a slow reader, Push asks its producer to pause (and PushAndWait blocks)
// until they drain below 64 KiB, so memory per stream stays bounded.
//
// Base is grpc::ServerWriteReactor<Out> or grpc::ServerBidiReactor<In, Out>.
// The call is admitted through its GuardedCall; its CancelToken is cancelled
// when the client goes away, a write fails, dkd's deadline passes or (when
// registered) dkd shuts down. Thread-safe.
#pragma once

#include <grpcpp/support/server_callback.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "core/engine/engine_stream_loop.h"
#include "server/gatekeeper.h"

namespace dkd::server {

template <typename Base, typename Out>
class QueuedWriter : public Base {
 public:
  static constexpr size_t kHighWater = 256 * 1024;
  static constexpr size_t kLowWater = 64 * 1024;

  QueuedWriter(Gatekeeper* gatekeeper, grpc::CallbackServerContext* context,
               const std::string& method)
      : gatekeeper_(gatekeeper), context_(context), call_(gatekeeper, context, method) {}

  GuardedCall& call() { return call_; }
  core::CancelToken* token() { return &token_; }
  grpc::CallbackServerContext* context() const { return context_; }
  Gatekeeper* gatekeeper() const { return gatekeeper_; }

  // Admits the call and, with `end_at_shutdown`, registers it so shutdown
  // ends it at once. False when the call was finished (refused).
  bool Admit(const std::string& target, bool end_at_shutdown) {
    call_.set_target(target);
    call_.set_on_deadline([this] { OnDeadline(); });
    absl::Status s = call_.Admit();
    if (!s.ok()) {
      FinishNow(s);
      return false;
    }
    if (!end_at_shutdown) return true;
    if (!gatekeeper_->RegisterStream(&token_)) {
      FinishNow(absl::UnavailableError("dkd is shutting down"));
      return false;
    }
    registered_ = true;
    return true;
  }

  // Ends the call before anything was produced.
  void FinishNow(const absl::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      finished_ = true;
    }
    this->Finish(call_.Finish(status));
  }

  // Producing has started; `engine` (if any) is resumed after a pause and
  // cancelled with the call.
  void Ready(std::shared_ptr<core::AsyncCall> engine) {
    if (engine) token_.SetHook([engine] { engine->Cancel(); });
    bool finish = false, resume = false;
    {
      absl::MutexLock lock(&mu_);
      engine_ = engine;
      starting_ = false;
      finish = ReadyToFinish();
      if (finish) finished_ = true;
      resume = engine != nullptr && !finish && paused_ && queued_bytes_ < kLowWater;
      if (resume) paused_ = false;
    }
    if (resume) engine->Resume();
    if (finish) FinishWithEnd();  // Last: the reactor may be gone after it.
  }

  // Queues `item`; false asks the producer to pause.
  bool Push(Out item) {
    bool start = false, more = true;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || gone_) return true;  // Being cancelled: dropped.
      const size_t size = item.ByteSizeLong();
      queue_.emplace_back(std::move(item), size);
      queued_bytes_ += size;
      start = StartNextLocked();
      more = queued_bytes_ < kHighWater;
      if (!more) paused_ = true;
    }
    if (start) this->StartWrite(&current_);
    return more;
  }

  // As Push, but waits on this (producer's own) thread while the queue is
  // over the high-water mark. False once the client stopped reading.
  bool PushAndWait(Out item) {
    Push(std::move(item));
    absl::MutexLock lock(&mu_);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return gone_ || !paused_; };
    mu_.Await(absl::Condition(&drained));
    return !gone_;
  }

  // The producer is done; the call ends with `status` once the queue drains.
  void EndWith(absl::Status status) {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      end_ = std::move(status);
      finish = ReadyToFinish();
      if (finish) finished_ = true;
    }
    if (finish) FinishWithEnd();
  }

  // EndWith for a producer's absl::Status: a cancelled call ends CANCELLED,
  // a failure during shutdown UNAVAILABLE "dkd is shutting down".
  void EngineEnded(const absl::Status& status) {
    if (context_->IsCancelled()) {
      EndWith(absl::CancelledError("call cancelled"));
    } else if (!status.ok() && gatekeeper_->shutting_down()) {
      EndWith(absl::UnavailableError("dkd is shutting down"));
    } else {
      EndWith(status);
    }
  }

  void OnWriteDone(bool ok) override {
    bool start = false, finish = false, resume = false;
    std::shared_ptr<core::AsyncCall> engine;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        gone_ = true;
        queue_.clear();
        queued_bytes_ = 0;
      }
      start = !gone_ && StartNextLocked();
      if (!start) {
        finish = ReadyToFinish();
        if (finish) finished_ = true;
      }
      resume = !gone_ && !finish && paused_ && queued_bytes_ < kLowWater;
      if (resume) paused_ = false;
      engine = resume ? engine_ : nullptr;
    }
    if (!ok) token_.Cancel();
    if (engine) engine->Resume();
    if (start) this->StartWrite(&current_);
    if (finish) FinishWithEnd();
  }

  void OnCancel() override { token_.Cancel(); }

  void OnDone() override {
    if (registered_) gatekeeper_->UnregisterStream(&token_);
    BeforeDelete();
    delete this;
  }

 protected:
  virtual ~QueuedWriter() = default;
  // Runs in OnDone, before the reactor is deleted.
  virtual void BeforeDelete() {}
  // dkd's deadline for the call passed. Runs under the watchdog's lock: it
  // may only cancel (the end comes from the producer), never finish.
  virtual void OnDeadline() { token_.Cancel(); }

 private:
  bool StartNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || queue_.empty()) return false;
    current_ = std::move(queue_.front().first);
    queued_bytes_ -= queue_.front().second;
    queue_.pop_front();
    writing_ = true;
    return true;
  }
  bool ReadyToFinish() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return end_.has_value() && !starting_ && !finished_ && !writing_ && (queue_.empty() || gone_);
  }
  void FinishWithEnd() {
    absl::Status end;
    {
      absl::MutexLock lock(&mu_);
      end = *end_;
    }
    this->Finish(call_.Finish(end));
  }

  Gatekeeper* const gatekeeper_;
  grpc::CallbackServerContext* const context_;
  GuardedCall call_;
  core::CancelToken token_;
  bool registered_ = false;

  absl::Mutex mu_;
  std::shared_ptr<core::AsyncCall> engine_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<Out, size_t>> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  Out current_;  // The write in flight; touched only by whoever started it.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool starting_ ABSL_GUARDED_BY(mu_) = true;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;  // The client stopped reading.
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dkd::server
