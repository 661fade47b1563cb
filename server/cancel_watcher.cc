#include "server/cancel_watcher.h"

namespace dkd::server {

CancelWatcher::CancelWatcher(grpc::ServerContext* context, core::CancelToken* token) {
  thread_ = std::thread([this, context, token] {
    absl::MutexLock lock(&mu_);
    while (!done_) {
      if (context->IsCancelled()) {
        token->Cancel();
        return;
      }
      mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Milliseconds(50));
    }
  });
}

CancelWatcher::~CancelWatcher() {
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }
  thread_.join();
}

}  // namespace dkd::server
