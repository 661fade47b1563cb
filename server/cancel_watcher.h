// CancelWatcher: turns a gRPC caller going away into a core::CancelToken
// firing, so the engine request behind a streaming RPC is aborted (a build
// really stops). Polls ServerContext::IsCancelled on its own thread until
// destroyed. Not copyable.
#pragma once

#include <grpcpp/server_context.h>

#include <thread>

#include "absl/synchronization/mutex.h"
#include "core/engine_client.h"

namespace dkd::server {

class CancelWatcher {
 public:
  CancelWatcher(grpc::ServerContext* context, core::CancelToken* token);
  ~CancelWatcher();
  CancelWatcher(const CancelWatcher&) = delete;
  CancelWatcher& operator=(const CancelWatcher&) = delete;

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dkd::server
