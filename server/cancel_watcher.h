// CancelWatcher: turns a gRPC caller going away, or dkd's own default
// deadline for the call running out, into a core::CancelToken firing, so the
// engine request behind the RPC is aborted (a build really stops). One
// thread polls every watched call every 50 ms, so a watched call costs no
// thread of its own. Not copyable.
#pragma once

#include <grpcpp/server_context.h>

#include "absl/synchronization/mutex.h"
#include "core/engine/engine_client.h"

namespace dkd::server {

// Marks a call whose server-side default deadline has passed: its
// CancelWatcher aborts the engine work and the call ends with
// DEADLINE_EXCEEDED (the gatekeeper maps the status). Thread-safe.
void MarkDeadlineExpired(const grpc::ServerContextBase* context);
void ClearDeadlineExpired(const grpc::ServerContextBase* context);
bool DeadlineExpired(const grpc::ServerContextBase* context);

class CancelWatcher {
 public:
  CancelWatcher(grpc::ServerContextBase* context, core::CancelToken* token);
  ~CancelWatcher();
  CancelWatcher(const CancelWatcher&) = delete;
  CancelWatcher& operator=(const CancelWatcher&) = delete;
};

}  // namespace dkd::server
