// WaitContainer as a unary reactor completed by a ContainerWaiter, the deadline or the client.
#include "server/wait_reactor.h"

#include <atomic>
#include <memory>

namespace dkd::server {
namespace {

// One WaitContainer call. Whoever completes it first (the waiter, the
// deadline, the client going away, shutdown) finishes it; the state is
// shared so a late completer never touches a finished reactor.
class WaitReactor final : public grpc::ServerUnaryReactor {
 public:
  struct State {
    std::atomic<bool> done{false};
    std::atomic<uint64_t> handle{0};
    WaitReactor* reactor = nullptr;
  };

  WaitReactor(Gatekeeper* gatekeeper, grpc::CallbackServerContext* context,
              dkd::v1::WaitContainerResponse* response, ContainerWaiter* waiter)
      : call_(gatekeeper, context, "/dkd.v1.DockerManager/WaitContainer"),
        response_(response),
        waiter_(waiter),
        state_(std::make_shared<State>()) {
    state_->reactor = this;
  }

  GuardedCall& call() { return call_; }
  const std::shared_ptr<State>& state() const { return state_; }

  // Finishes the call with `result` unless it is already finished.
  static void Complete(const std::shared_ptr<State>& state, const absl::StatusOr<int>& result) {
    Complete(state, result.status(), result.ok() ? *result : 0);
  }
  static void Complete(const std::shared_ptr<State>& state, const absl::Status& status,
                       int exit_code) {
    if (state->done.exchange(true)) return;
    WaitReactor* r = state->reactor;
    if (status.ok()) r->response_->set_exit_code(exit_code);
    r->Finish(r->call_.Finish(status));
  }

  void OnCancel() override {
    // Locals only from here on: completing the call may end the reactor.
    const std::shared_ptr<State> state = state_;
    ContainerWaiter* waiter = waiter_;
    if (uint64_t h = state->handle.load(); h != 0) {
      waiter->Cancel(h, absl::CancelledError("call cancelled"));
    }
    Complete(state, absl::CancelledError("call cancelled"));
  }
  void OnDone() override { delete this; }

 private:
  GuardedCall call_;
  dkd::v1::WaitContainerResponse* response_;
  ContainerWaiter* waiter_;
  std::shared_ptr<State> state_;
};

}  // namespace

grpc::ServerUnaryReactor* StartWaitContainer(Gatekeeper* gatekeeper, ContainerWaiter* waiter,
                                             grpc::CallbackServerContext* context,
                                             const dkd::v1::WaitContainerRequest* request,
                                             dkd::v1::WaitContainerResponse* response,
                                             const OwnerCheck& check_owner) {
  auto* reactor = new WaitReactor(gatekeeper, context, response, waiter);
  GuardedCall& call = reactor->call();
  std::shared_ptr<WaitReactor::State> state = reactor->state();
  call.set_target(request->id());
  // Under the watchdog's lock: hand the completion to the waiter's thread.
  call.set_on_deadline([w = waiter, state] {
    if (uint64_t h = state->handle.load(); h != 0) {
      w->CancelLater(h, absl::DeadlineExceededError("deadline"));
    }
  });
  absl::Status s = call.Admit();
  if (s.ok()) s = check_owner(call, request->id());
  if (!s.ok()) {
    WaitReactor::Complete(state, s, 0);
    call.DetachFromThread();
    return reactor;
  }
  const uint64_t handle =
      waiter->Wait(request->id(), request->condition(),
                   [state](absl::StatusOr<int> r) { WaitReactor::Complete(state, r); });
  state->handle = handle;
  call.DetachFromThread();
  return reactor;
}

}  // namespace dkd::server
