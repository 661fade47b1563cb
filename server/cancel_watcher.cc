#include "server/cancel_watcher.h"

#include "absl/container/flat_hash_set.h"

namespace dkd::server {
namespace {

absl::Mutex expired_mu(absl::kConstInit);
absl::flat_hash_set<const grpc::ServerContext*>& Expired()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(expired_mu) {
  static auto* set = new absl::flat_hash_set<const grpc::ServerContext*>();
  return *set;
}

}  // namespace

void MarkDeadlineExpired(const grpc::ServerContext* context) {
  absl::MutexLock lock(&expired_mu);
  Expired().insert(context);
}

void ClearDeadlineExpired(const grpc::ServerContext* context) {
  absl::MutexLock lock(&expired_mu);
  Expired().erase(context);
}

bool DeadlineExpired(const grpc::ServerContext* context) {
  absl::MutexLock lock(&expired_mu);
  return Expired().contains(context);
}

CancelWatcher::CancelWatcher(grpc::ServerContext* context, core::CancelToken* token) {
  thread_ = std::thread([this, context, token] {
    absl::MutexLock lock(&mu_);
    while (!done_) {
      if (context->IsCancelled() || DeadlineExpired(context)) {
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
