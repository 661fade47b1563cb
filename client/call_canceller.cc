// CallCanceller (call_canceller.h): attaching calls and cancelling them from
// another thread.
#include "client/call_canceller.h"

#include <grpcpp/client_context.h>

namespace dkd::client {

void CallCanceller::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

bool CallCanceller::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void CallCanceller::Attach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  context_ = context;
  // TryCancel before the call starts is remembered by the context, and the
  // call then ends Cancelled as soon as it begins.
  if (cancelled_) context_->TryCancel();
}

void CallCanceller::Detach() {
  absl::MutexLock lock(&mu_);
  context_ = nullptr;
}

}  // namespace dkd::client
