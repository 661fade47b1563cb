// Gatekeeper: the security and operations state every RPC passes through,
// and GuardedCall, the per-call object that applies it.
//
// A GuardedCall, created first thing in every handler (Gatekeeper::Serve
// for a sync RPC, the reactor for a callback one), gives the call a request
// id (returned as `x-request-id` initial metadata and put on every log line),
// authenticates the caller, checks the role the RPC needs, counts the call
// (and a stream again) against the caller's caps and arms the default
// deadline.
// Finish() records metrics and, for mutating RPCs and refused calls, an audit
// line. Settings are an immutable snapshot swapped on reload: a call keeps the
// snapshot it started with, so reloads never disturb open streams.
// Thread-safe.
#pragma once

#include <grpcpp/server_context.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/engine/engine_client.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/limits.h"
#include "server/logging.h"
#include "server/metrics.h"

namespace dkd::server {

class GuardedCall;

class Gatekeeper {
 public:
  Gatekeeper(SecuritySettings settings, Metrics* metrics, AuditLog* audit);

  // Replaces the settings for calls that start from now on.
  void Update(SecuritySettings settings);
  std::shared_ptr<const SecuritySettings> settings() const;

  Metrics& metrics() { return *metrics_; }
  AuditLog& audit() { return *audit_; }
  BuildQueue& builds() { return builds_; }
  StreamCounter& calls() { return calls_; }
  StreamCounter& streams() { return streams_; }
  DeadlineWatchdog& watchdog() { return watchdog_; }

  // New calls are refused with UNAVAILABLE, every registered long-lived
  // stream's token is cancelled so it ends with a clean status, builds
  // waiting for a slot end, and every hook added by OnShutdown runs.
  void BeginShutdown();
  // Runs `hook` in BeginShutdown (for calls that hold no thread to cancel).
  void OnShutdown(std::function<void()> hook);
  bool shutting_down() const { return shutting_down_.load(); }
  // Waits until no GuardedCall is in progress or `deadline` passes; true
  // when none is. Lets shutdown end as soon as the calls do, whatever idle
  // clients stay connected.
  bool AwaitCallsDone(absl::Time deadline);
  // Counted by GuardedCall from its construction to its Finish().
  void CallStarted();
  void CallEnded();
  // Returns false (and does not register) when shutdown has begun.
  bool RegisterStream(core::CancelToken* token);
  void UnregisterStream(core::CancelToken* token);

  // Serves one sync RPC: a GuardedCall for `full_method` (whose role comes
  // from auth.cc's table; a method missing from it is refused) with `target`
  // for the audit line, then `body(call)` when admitted. `body` returns an
  // absl::Status, mapped once on the way out.
  template <typename Body>
  grpc::Status Serve(grpc::ServerContextBase* context, const std::string& full_method,
                     std::string target, Body&& body);

 private:
  Metrics* metrics_;
  AuditLog* audit_;
  BuildQueue builds_;
  StreamCounter calls_;
  StreamCounter streams_;
  DeadlineWatchdog watchdog_;
  std::atomic<bool> shutting_down_{false};
  absl::Mutex flight_mu_;
  int in_flight_ ABSL_GUARDED_BY(flight_mu_) = 0;
  mutable absl::Mutex mu_;
  std::shared_ptr<const SecuritySettings> settings_ ABSL_GUARDED_BY(mu_);
  std::set<core::CancelToken*> streams_open_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> shutdown_hooks_ ABSL_GUARDED_BY(mu_);
};

// The canonical name of a gRPC status code ("PERMISSION_DENIED").
const char* StatusCodeName(grpc::StatusCode code);

// A sync handler keeps its GuardedCall on its stack. A callback handler may
// finish on another thread: it calls DetachFromThread() before returning, and
// Finish() then logs under the call's request id wherever it runs.
class GuardedCall {
 public:
  GuardedCall(Gatekeeper* gatekeeper, grpc::ServerContextBase* context,
              const std::string& full_method);
  ~GuardedCall();
  GuardedCall(const GuardedCall&) = delete;
  GuardedCall& operator=(const GuardedCall&) = delete;

  // OK when the call may proceed; else the status to end it with (via Finish).
  absl::Status Admit();
  // Records metrics and audit; returns `result` (or the deadline status) as
  // the gRPC status to send (server/status_map.h).
  grpc::Status Finish(const absl::Status& result);

  void set_target(std::string target) { target_ = std::move(target); }
  // Runs when dkd's default deadline for the call passes, on the watchdog
  // thread and under its lock: it must not call Finish() itself. Set before
  // Admit().
  void set_on_deadline(std::function<void()> f) { on_deadline_ = std::move(f); }
  // Restores the creating thread's request id; see the class comment.
  void DetachFromThread() { request_id_.reset(); }
  const Caller& caller() const { return caller_; }
  const SecuritySettings& settings() const { return *settings_; }
  // True when ownership is off or the caller is admin.
  bool sees_everything() const { return !settings_->ownership || caller_.role >= Role::kAdmin; }
  Gatekeeper& gatekeeper() { return *gatekeeper_; }

 private:
  Gatekeeper* gatekeeper_;
  grpc::ServerContextBase* context_;
  const std::string full_method_;
  const std::string method_;
  const MethodRule* rule_;
  std::shared_ptr<const SecuritySettings> settings_;
  std::optional<ScopedRequestId> request_id_;
  std::string request_id_value_;
  const absl::Time started_;
  Caller caller_;
  std::string target_;
  std::string outcome_ = "unauthenticated";
  bool admitted_ = false;
  bool call_counted_ = false;
  bool stream_counted_ = false;
  std::function<void()> on_deadline_;
  uint64_t deadline_handle_ = 0;
  std::string deadline_key_;
  std::atomic<bool> deadline_expired_{false};
  bool finished_ = false;
};

template <typename Body>
grpc::Status Gatekeeper::Serve(grpc::ServerContextBase* context, const std::string& full_method,
                               std::string target, Body&& body) {
  GuardedCall call(this, context, full_method);
  call.set_target(std::move(target));
  absl::Status s = call.Admit();
  if (s.ok()) s = body(call);
  return call.Finish(s);
}

}  // namespace dkd::server
