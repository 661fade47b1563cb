// BuildImage on gRPC's callback API: admission, the spec, the build queue, a worker thread.
#include "server/build_reactor.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "server/build_context_reader.h"
#include "server/queued_writer.h"

namespace dkd::server {
namespace {

using dkd::v1::BuildEvent;
using dkd::v1::BuildImageRequest;

// A call that went away before its build started ends with why: its
// deadline, or its cancellation; `s` otherwise. The client gives up at its
// own deadline, a little before dkd's copy of it (received as a timeout) is
// due, so a cancellation within kDeadlineSlack of the deadline counts as the
// deadline.
absl::Status QueueEndStatus(const grpc::ServerContextBase* context, const absl::Status& s) {
  constexpr auto kDeadlineSlack = std::chrono::seconds(1);
  if (!context->IsCancelled()) return s;
  if (context->deadline() <= std::chrono::system_clock::now() + kDeadlineSlack) {
    return absl::DeadlineExceededError("the call's deadline passed before the build started");
  }
  return absl::CancelledError("call cancelled before the build started");
}

class BuildReactor final
    : public QueuedWriter<grpc::ServerBidiReactor<BuildImageRequest, BuildEvent>, BuildEvent> {
 public:
  BuildReactor(Gatekeeper* gatekeeper, grpc::CallbackServerContext* context,
               DockerManagerService* service)
      : QueuedWriter(gatekeeper, context, "/dkd.v1.DockerManager/BuildImage"), service_(service) {}

  void Begin() {
    if (!Admit("", /*end_at_shutdown=*/false)) return;
    max_context_bytes_ = call().settings().limits.max_context_bytes;
    owner_ = DockerManagerService::OwnerOf(call());
    StartRead(&first_);
    Ready(nullptr);
  }

  void OnReadDone(bool ok) override {
    bool spec_read = false;
    {
      absl::MutexLock lock(&mu_);
      if (phase_ == Phase::kContext) {
        read_ok_ = ok;
        read_done_ = true;  // Wakes ReadBlocking.
        return;
      }
      spec_read = true;
      phase_ = Phase::kQueued;
    }
    if (spec_read) OnSpec(ok);
  }

  void OnCancel() override {
    QueuedWriter::OnCancel();
    LeaveQueue(absl::CancelledError("call cancelled while queued"));
  }

  // For the build's thread: the next context message, blocking.
  bool ReadBlocking(BuildImageRequest* msg) {
    {
      absl::MutexLock lock(&mu_);
      if (read_ended_) return false;
      read_done_ = false;
    }
    StartRead(&next_);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&read_done_));
    if (!read_ok_) {
      read_ended_ = true;
      return false;
    }
    *msg = std::move(next_);
    return true;
  }

 protected:
  void OnDeadline() override {
    QueuedWriter::OnDeadline();
    // Under the watchdog's lock: leaving the queue ends the call, which
    // disarms the deadline, so it happens on another thread.
    uint64_t ticket;
    {
      absl::MutexLock lock(&mu_);
      if (phase_ != Phase::kQueued || ticket_ == 0) return;
      ticket = ticket_;
    }
    BuildQueue* queue = &gatekeeper()->builds();
    std::thread([queue, ticket] {
      queue->Leave(ticket, absl::DeadlineExceededError(
                               "the deadline passed while the build waited for a slot"));
    }).detach();
  }

 private:
  enum class Phase { kSpec, kQueued, kContext };

  // Adapts the reactor to the blocking stream BuildImageAs reads and writes.
  class BlockingStream final
      : public grpc::ServerReaderWriterInterface<BuildEvent, BuildImageRequest> {
   public:
    explicit BlockingStream(BuildReactor* r) : r_(r) {}
    void SendInitialMetadata() override {}
    bool NextMessageSize(uint32_t* sz) override {
      *sz = 0;
      return true;
    }
    bool Read(BuildImageRequest* msg) override { return r_->ReadBlocking(msg); }
    bool Write(const BuildEvent& msg, grpc::WriteOptions) override { return r_->PushAndWait(msg); }

   private:
    BuildReactor* const r_;
  };

  void OnSpec(bool ok) {
    // The spec is read before queueing: a bad one is refused without waiting,
    // and a build that never leaves the queue is still audited with its target.
    if (ok && first_.has_spec()) {
      const auto& config = first_.spec().config();
      call().set_target(config.image_name() + (config.tag().empty() ? "" : ":" + config.tag()));
    }
    if (!ok) {
      return EndWith(QueueEndStatus(
          context(), absl::InvalidArgumentError(
                         "spec: the first BuildImage message must carry the BuildSpec")));
    }
    if (!first_.has_spec()) {
      return EndWith(
          absl::InvalidArgumentError("spec: the first BuildImage message must carry the BuildSpec, "
                                     "not a context chunk"));
    }
    spec_ = std::move(*first_.mutable_spec());
    Metrics& metrics = gatekeeper()->metrics();
    // A context announced over the limit is refused before it is sent.
    if (max_context_bytes_ > 0 && spec_.context_size_hint() > max_context_bytes_) {
      metrics.RecordLimitRejection("max_context_bytes");
      return EndWith(ContextTooLargeError(max_context_bytes_));
    }
    metrics.builds_queued().Increment();
    const uint64_t ticket = gatekeeper()->builds().Enqueue(
        [this](int position) {
          {
            absl::MutexLock lock(&mu_);
            if (phase_ != Phase::kQueued) return;  // A late report.
          }
          BuildEvent e;
          e.mutable_queued()->set_position(position);
          Push(std::move(e));
        },
        [this](absl::StatusOr<std::unique_ptr<BuildQueue::Slot>> slot) {
          OnSlot(std::move(slot));
        });
    bool leave = false;
    {
      absl::MutexLock lock(&mu_);
      if (phase_ == Phase::kQueued) ticket_ = ticket;
      leave = phase_ == Phase::kQueued && context()->IsCancelled();
    }
    // Cancelled before the ticket was known: OnCancel could not leave.
    if (leave) LeaveQueue(absl::CancelledError("call cancelled while queued"));
  }

  void OnSlot(absl::StatusOr<std::unique_ptr<BuildQueue::Slot>> slot) {
    Metrics& metrics = gatekeeper()->metrics();
    metrics.builds_queued().Decrement();
    {
      absl::MutexLock lock(&mu_);
      phase_ = Phase::kContext;
      ticket_ = 0;
    }
    if (!slot.ok()) return EndWith(QueueEndStatus(context(), slot.status()));
    // Still wanted? A slot given to a call that went away passes on.
    if (context()->IsCancelled()) {
      slot->reset();
      return EndWith(QueueEndStatus(context(), absl::OkStatus()));
    }
    metrics.builds_active().Increment();
    std::thread([this, held = *std::move(slot)]() mutable { Run(std::move(held)); }).detach();
  }

  void Run(std::unique_ptr<BuildQueue::Slot> slot) {
    BlockingStream stream(this);
    absl::Status s = service_->BuildImageAs(context(), spec_, &stream, owner_, max_context_bytes_);
    slot.reset();  // The next build starts now, not after the audit line.
    Metrics& metrics = gatekeeper()->metrics();
    metrics.builds_active().Decrement();
    if (IsContextTooLarge(s)) metrics.RecordLimitRejection("max_context_bytes");
    EndWith(s);  // Last: the reactor may be gone after it.
  }

  void LeaveQueue(const absl::Status& why) {
    uint64_t ticket;
    {
      absl::MutexLock lock(&mu_);
      if (phase_ != Phase::kQueued || ticket_ == 0) return;
      ticket = ticket_;
    }
    gatekeeper()->builds().Leave(ticket, why);
  }

  DockerManagerService* const service_;
  int64_t max_context_bytes_ = 0;  // limits.max_context_bytes; 0 = none.
  core::Owner owner_;
  BuildImageRequest first_;
  dkd::v1::BuildSpec spec_;

  absl::Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kSpec;
  uint64_t ticket_ ABSL_GUARDED_BY(mu_) = 0;
  BuildImageRequest next_;
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool read_ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerBidiReactor<BuildImageRequest, BuildEvent>* StartBuildImage(
    Gatekeeper* gatekeeper, DockerManagerService* service, grpc::CallbackServerContext* context) {
  auto* r = new BuildReactor(gatekeeper, context, service);
  r->Begin();
  r->call().DetachFromThread();
  return r;
}

}  // namespace dkd::server
