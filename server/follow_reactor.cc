#include "server/follow_reactor.h"

#include <deque>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/docker_convert.h"
#include "server/status_map.h"

namespace dkd::server {
namespace {

// Bytes queued behind the write in flight before engine reads pause, and
// the level they must drain to before reads resume.
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kLowWater = 64 * 1024;

// One followed stream. Items arrive from the engine stream loop (Push, then
// EngineEnded once); gRPC calls OnWriteDone / OnCancel / OnDone. Finish is
// called once, when the engine stream has ended and every queued item is
// written (or the client is gone), and never before Attach.
template <typename Out>
class FollowReactor final : public grpc::ServerWriteReactor<Out> {
 public:
  FollowReactor(Gatekeeper* gatekeeper, grpc::CallbackServerContext* context,
                const std::string& method)
      : gatekeeper_(gatekeeper), context_(context), call_(gatekeeper, context, method) {}

  GuardedCall& call() { return call_; }
  core::CancelToken* token() { return &token_; }
  void set_registered() { registered_ = true; }

  // Ends the call before any engine stream started.
  void FinishNow(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      finished_ = true;
    }
    this->Finish(call_.Finish(status));
  }

  // The engine stream is running: cancellation now reaches it.
  void Attach(std::shared_ptr<core::AsyncCall> engine) {
    token_.SetHook([engine] { engine->Cancel(); });
    bool finish = false, resume = false;
    {
      absl::MutexLock lock(&mu_);
      engine_ = engine;
      starting_ = false;
      finish = ReadyToFinish();
      if (finish) finished_ = true;
      resume = !finish && paused_ && queued_bytes_ < kLowWater;
      if (resume) paused_ = false;
    }
    if (resume) engine->Resume();
    if (finish) FinishWithEnd();  // Last: the reactor may be gone after it.
  }

  // An item from the engine; false asks the engine stream to pause.
  bool Push(Out item) {
    bool start = false, more = true;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || gone_) return true;  // Being cancelled: drop it.
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

  void EngineEnded(absl::Status status) {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      end_ = std::move(status);
      finish = ReadyToFinish();
      if (finish) finished_ = true;
    }
    if (finish) FinishWithEnd();
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
      engine = engine_;
      resume = engine != nullptr && !gone_ && !finish && paused_ && queued_bytes_ < kLowWater;
      if (resume) paused_ = false;
    }
    if (!ok) token_.Cancel();
    if (resume) engine->Resume();
    if (start) this->StartWrite(&current_);
    if (finish) FinishWithEnd();
  }

  void OnCancel() override { token_.Cancel(); }

  void OnDone() override {
    if (registered_) gatekeeper_->UnregisterStream(&token_);
    delete this;
  }

 private:
  // Moves the next queued item into the write slot; true when a write should
  // start.
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
    grpc::Status status;
    if (context_->IsCancelled()) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled");
    } else if (!end.ok() && gatekeeper_->shutting_down()) {
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "dkd is shutting down");
    } else {
      status = ToGrpcStatus(end);
    }
    this->Finish(call_.Finish(status));
  }

  Gatekeeper* const gatekeeper_;
  grpc::CallbackServerContext* const context_;
  GuardedCall call_;
  // Cancelled by shutdown, dkd's deadline, the client going away or a failed
  // write; its hook cancels the engine stream.
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

// Admits the call and, with `end_at_shutdown`, registers it so shutdown
// ends it at once; false when it was finished.
template <typename Out>
bool Admit(FollowReactor<Out>* r, Gatekeeper* gatekeeper, const std::string& target,
           bool end_at_shutdown = true) {
  GuardedCall& call = r->call();
  call.set_target(target);
  // Under the watchdog's lock: only cancel (the end comes from the loop).
  call.set_on_deadline([token = r->token()] { token->Cancel(); });
  grpc::Status s = call.Admit();
  if (!s.ok()) {
    r->FinishNow(s);
    return false;
  }
  if (!end_at_shutdown) return true;
  if (!gatekeeper->RegisterStream(r->token())) {
    r->FinishNow(grpc::Status(grpc::StatusCode::UNAVAILABLE, "dkd is shutting down"));
    return false;
  }
  r->set_registered();
  return true;
}

}  // namespace

grpc::ServerWriteReactor<dkd::v1::LogEntry>* StartContainerLogs(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::ContainerLogsRequest* request) {
  auto* r = new FollowReactor<dkd::v1::LogEntry>(gatekeeper, context,
                                                 "/dkd.v1.DockerManager/ContainerLogs");
  if (Admit(r, gatekeeper, request->id())) {
    const GuardedCall& call = r->call();
    const core::Owner reader{call.caller().identity, !call.sees_everything()};
    auto engine = manager->LogsAsync(
        FromProto(*request), reader,
        [r](core::LogChunk c) {
          dkd::v1::LogEntry e;
          ToProto(c, &e);
          return r->Push(std::move(e));
        },
        [r](absl::Status s) { r->EngineEnded(std::move(s)); });
    if (engine.ok()) {
      r->call().DetachFromThread();
      r->Attach(*std::move(engine));
      return r;
    }
    r->FinishNow(ToGrpcStatus(engine.status()));
  }
  r->call().DetachFromThread();
  return r;
}

grpc::ServerWriteReactor<dkd::v1::EngineEvent>* StartStreamEvents(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::StreamEventsRequest* request) {
  auto* r = new FollowReactor<dkd::v1::EngineEvent>(gatekeeper, context,
                                                    "/dkd.v1.DockerManager/StreamEvents");
  if (Admit(r, gatekeeper, "")) {
    const GuardedCall& call = r->call();
    core::EventsRequest events = FromProto(*request);
    if (!call.sees_everything()) {
      events.filters.push_back(absl::StrCat("label=", core::kOwnerLabel, "=", call.caller().identity));
    }
    auto engine = manager->EventsAsync(
        events,
        [r](core::EngineEvent e) {
          dkd::v1::EngineEvent out;
          ToProto(e, &out);
          return r->Push(std::move(out));
        },
        [r](absl::Status s) { r->EngineEnded(std::move(s)); });
    if (engine.ok()) {
      r->call().DetachFromThread();
      r->Attach(*std::move(engine));
      return r;
    }
    r->FinishNow(ToGrpcStatus(engine.status()));
  }
  r->call().DetachFromThread();
  return r;
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* StartPushImage(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::PushImageRequest* request) {
  auto* r = new FollowReactor<dkd::v1::ProgressEvent>(gatekeeper, context,
                                                      "/dkd.v1.DockerManager/PushImage");
  if (Admit(r, gatekeeper, request->image(), /*end_at_shutdown=*/false)) {
    auto engine = manager->PushAsync(
        request->image(), FromProto(request->auth()),
        [r](const core::Progress& p) {
          dkd::v1::ProgressEvent e;
          ToProto(p, &e);
          return r->Push(std::move(e));
        },
        [r](absl::StatusOr<core::Progress> last) { r->EngineEnded(last.status()); });
    if (engine.ok()) {
      r->call().DetachFromThread();
      r->Attach(*std::move(engine));
      return r;
    }
    r->FinishNow(ToGrpcStatus(engine.status()));
  }
  r->call().DetachFromThread();
  return r;
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* StartPullImage(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::PullImageRequest* request) {
  auto* r = new FollowReactor<dkd::v1::ProgressEvent>(gatekeeper, context,
                                                      "/dkd.v1.DockerManager/PullImage");
  if (Admit(r, gatekeeper, request->image(), /*end_at_shutdown=*/false)) {
    const GuardedCall& call = r->call();
    // Without ownership nothing is checked (core/ownership.h).
    const core::Owner owner = call.settings().ownership
                                  ? core::Owner{call.caller().identity, !call.sees_everything()}
                                  : core::Owner{};
    auto engine = manager->PullAsync(
        request->image(), FromProto(request->auth()), request->platform(), owner,
        [r](const core::Progress& p) {
          dkd::v1::ProgressEvent e;
          ToProto(p, &e);
          return r->Push(std::move(e));
        },
        [r](absl::StatusOr<core::Progress> last) {
          if (last.ok()) {
            // The final event names what was pulled: tag and digest.
            dkd::v1::ProgressEvent e;
            ToProto(*last, &e);
            r->Push(std::move(e));
          }
          r->EngineEnded(last.status());
        });
    if (engine.ok()) {
      r->call().DetachFromThread();
      r->Attach(*std::move(engine));
      return r;
    }
    r->FinishNow(ToGrpcStatus(engine.status()));
  }
  r->call().DetachFromThread();
  return r;
}

}  // namespace dkd::server
