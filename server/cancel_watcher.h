// CancelWatcher: turns a gRPC caller going away, or dkd's own default
// deadline for the call running out, into a core::CancelToken firing, so the
// engine request behind the RPC is aborted (a build really stops). Polls on
// its own thread until destroyed. Not copyable.
#pragma once

#include <grpcpp/server_context.h>

#include <thread>

#include "absl/synchronization/mutex.h"
#include "core/engine_client.h"

namespace dkd::server {

// Marks a call whose server-side default deadline has passed: its
// CancelWatcher aborts the engine work and the call ends with
// DEADLINE_EXCEEDED (the gatekeeper maps the status). Thread-safe.
void MarkDeadlineExpired(const grpc::ServerContext* context);
void ClearDeadlineExpired(const grpc::ServerContext* context);
bool DeadlineExpired(const grpc::ServerContext* context);

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
