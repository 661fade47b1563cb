// CallCanceller: lets another thread cancel the dkd calls it is handed to.
//
// A command passes one to a DkdClient method; a signal watcher (Ctrl-C) calls
// Cancel(). The call in flight is cancelled at once (dkd sees the client go
// away and stops the engine work, so a build stops); calls started with it
// afterwards fail with Cancelled before reaching dkd. Thread-safe.
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace grpc {
class ClientContext;
}

namespace dkd::client {

class CallCanceller {
 public:
  CallCanceller() = default;
  CallCanceller(const CallCanceller&) = delete;
  CallCanceller& operator=(const CallCanceller&) = delete;

  // Cancels the call in flight, if any, and every later one. Idempotent.
  void Cancel();
  // True once Cancel() was called.
  bool cancelled() const;

  // For DkdClient: while attached, Cancel() cancels `context`. Attaching
  // after Cancel() cancels `context` at once. One context at a time.
  void Attach(grpc::ClientContext* context);
  void Detach();

 private:
  mutable absl::Mutex mu_;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace dkd::client
