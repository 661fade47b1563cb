// CancelWatcher (cancel_watcher.h): the watch list of running calls and the
// record of which ones dkd's own deadline ended.
#include "server/cancel_watcher.h"

#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace dkd::server {
namespace {

absl::Mutex expired_mu(absl::kConstInit);
absl::flat_hash_set<const grpc::ServerContextBase*>& Expired()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(expired_mu) {
  static auto* set = new absl::flat_hash_set<const grpc::ServerContextBase*>();
  return *set;
}

}  // namespace

void MarkDeadlineExpired(const grpc::ServerContextBase* context) {
  absl::MutexLock lock(&expired_mu);
  Expired().insert(context);
}

void ClearDeadlineExpired(const grpc::ServerContextBase* context) {
  absl::MutexLock lock(&expired_mu);
  Expired().erase(context);
}

bool DeadlineExpired(const grpc::ServerContextBase* context) {
  absl::MutexLock lock(&expired_mu);
  return Expired().contains(context);
}

namespace {

// The calls being watched, polled by one thread for all of them.
class WatchList {
 public:
  static WatchList& Get() {
    static auto* list = new WatchList();  // Lives to the end of the process.
    return *list;
  }
  void Add(const CancelWatcher* key, grpc::ServerContextBase* context, core::CancelToken* token) {
    absl::MutexLock lock(&mu_);
    entries_[key] = Entry{context, token};
    if (!started_) {
      started_ = true;
      std::thread([this] { Poll(); }).detach();
    }
  }
  // Once this returns, the poller no longer touches `key`'s context or token.
  void Remove(const CancelWatcher* key) {
    absl::MutexLock lock(&mu_);
    entries_.erase(key);
  }

 private:
  struct Entry {
    grpc::ServerContextBase* context;
    core::CancelToken* token;
  };
  void Poll() {
    absl::MutexLock lock(&mu_);
    for (;;) {
      mu_.Await(absl::Condition(
          +[](absl::flat_hash_map<const CancelWatcher*, Entry>* e) { return !e->empty(); },
          &entries_));
      for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->second.context->IsCancelled() || DeadlineExpired(it->second.context)) {
          it->second.token->Cancel();
          entries_.erase(it++);
        } else {
          ++it;
        }
      }
      // Releases the lock for 50 ms: watched calls come and go meanwhile.
      mu_.AwaitWithTimeout(absl::Condition(&never_), absl::Milliseconds(50));
    }
  }

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool never_ = false;
  absl::flat_hash_map<const CancelWatcher*, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

CancelWatcher::CancelWatcher(grpc::ServerContextBase* context, core::CancelToken* token) {
  WatchList::Get().Add(this, context, token);
}

CancelWatcher::~CancelWatcher() { WatchList::Get().Remove(this); }

}  // namespace dkd::server
