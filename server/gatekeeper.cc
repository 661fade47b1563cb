// Gatekeeper and GuardedCall: admission, caps, deadlines, metrics and audit for every RPC.
#include "server/gatekeeper.h"

#include "absl/strings/str_cat.h"
#include "server/status_map.h"
#include "spdlog/spdlog.h"

namespace dkd::server {
namespace {

// A client-chosen request id is kept when it is short and plain.
std::string PickRequestId(const grpc::ServerContextBase* context) {
  auto it = context->client_metadata().find("x-request-id");
  if (it != context->client_metadata().end()) {
    std::string id(it->second.data(), it->second.size());
    if (!id.empty() && id.size() <= 64 &&
        id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
            std::string::npos) {
      return id;
    }
  }
  return NewRequestId();
}

// Engine-bound RPCs are timed as engine calls (see metrics.h).
bool EngineBound(const std::string& full_method) {
  return full_method.rfind("/dkd.v1.DockerManager/", 0) == 0 ||
         full_method.rfind("/dkd.v1.ImageOptimizer/", 0) == 0;
}

bool EngineFailure(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::INTERNAL ||
         code == grpc::StatusCode::UNKNOWN;
}

}  // namespace

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "UNKNOWN";
  }
}

Gatekeeper::Gatekeeper(SecuritySettings settings, Metrics* metrics, AuditLog* audit)
    : metrics_(metrics),
      audit_(audit),
      builds_(settings.limits.max_concurrent_builds),
      settings_(std::make_shared<const SecuritySettings>(std::move(settings))) {}

void Gatekeeper::Update(SecuritySettings settings) {
  builds_.SetMax(settings.limits.max_concurrent_builds);
  absl::MutexLock lock(&mu_);
  settings_ = std::make_shared<const SecuritySettings>(std::move(settings));
}

std::shared_ptr<const SecuritySettings> Gatekeeper::settings() const {
  absl::MutexLock lock(&mu_);
  return settings_;
}

void Gatekeeper::BeginShutdown() {
  std::vector<std::function<void()>> hooks;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (core::CancelToken* t : streams_open_) t->Cancel();
    hooks = shutdown_hooks_;
  }
  builds_.Close();  // Queued builds end now, with UNAVAILABLE.
  for (const auto& hook : hooks) hook();
}

void Gatekeeper::CallStarted() {
  absl::MutexLock lock(&flight_mu_);
  ++in_flight_;
}

void Gatekeeper::CallEnded() {
  absl::MutexLock lock(&flight_mu_);
  --in_flight_;
}

bool Gatekeeper::AwaitCallsDone(absl::Time deadline) {
  absl::MutexLock lock(&flight_mu_);
  auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(flight_mu_) { return in_flight_ == 0; };
  return flight_mu_.AwaitWithDeadline(absl::Condition(&none), deadline);
}

void Gatekeeper::OnShutdown(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  shutdown_hooks_.push_back(std::move(hook));
}

bool Gatekeeper::RegisterStream(core::CancelToken* token) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return false;
  streams_open_.insert(token);
  return true;
}

void Gatekeeper::UnregisterStream(core::CancelToken* token) {
  absl::MutexLock lock(&mu_);
  streams_open_.erase(token);
}

GuardedCall::GuardedCall(Gatekeeper* gatekeeper, grpc::ServerContextBase* context,
                         const std::string& full_method)
    : gatekeeper_(gatekeeper),
      context_(context),
      full_method_(full_method),
      method_(ShortMethodName(full_method)),
      rule_(FindMethodRule(full_method)),
      settings_(gatekeeper->settings()),
      request_id_(std::in_place, PickRequestId(context)),
      request_id_value_(CurrentRequestId()),
      started_(absl::Now()) {
  context_->AddInitialMetadata("x-request-id", request_id_value_);
  caller_.peer = context_->peer();
  gatekeeper_->CallStarted();
}

GuardedCall::~GuardedCall() {
  if (!finished_) Finish(absl::InternalError("call not finished"));
}

absl::Status GuardedCall::Admit() {
  if (gatekeeper_->shutting_down()) {
    outcome_ = "failed";
    return absl::UnavailableError("dkd is shutting down");
  }
  if (rule_ == nullptr) {
    outcome_ = "denied";
    return absl::PermissionDeniedError(
        absl::StrCat(full_method_, " has no entry in dkd's role table"));
  }
  auto caller = Authenticate(*context_, settings_->auth);
  if (!caller.ok()) {
    gatekeeper_->metrics().RecordAuthFailure("unauthenticated");
    spdlog::warn("unauthenticated call to {} from {}: {}", method_, caller_.peer,
                 std::string(caller.status().message()));
    outcome_ = "unauthenticated";
    return absl::UnauthenticatedError(caller.status().message());
  }
  caller_ = *caller;
  const Role needed = RequiredRole(*rule_, settings_->ownership);
  if (caller_.role < needed) {
    gatekeeper_->metrics().RecordAuthFailure("permission_denied");
    outcome_ = "denied";
    const std::string message =
        absl::StrCat(method_, " needs role ", RoleName(needed), "; identity \"", caller_.identity,
                     "\" has role ", RoleName(caller_.role));
    spdlog::warn("denied: {}", message);
    return absl::PermissionDeniedError(message);
  }
  const LimitsSettings& limits = settings_->limits;
  if (!gatekeeper_->calls().TryAcquire(caller_.identity, limits.max_calls_per_identity)) {
    gatekeeper_->metrics().RecordLimitRejection("max_calls_per_identity");
    outcome_ = "denied";
    return absl::ResourceExhaustedError(
        absl::StrCat("limits.max_calls_per_identity: identity \"", caller_.identity,
                     "\" already has ", limits.max_calls_per_identity, " calls in progress"));
  }
  call_counted_ = true;
  if (rule_->stream) {
    if (!gatekeeper_->streams().TryAcquire(caller_.identity, limits.max_streams_per_identity)) {
      gatekeeper_->metrics().RecordLimitRejection("max_streams_per_identity");
      outcome_ = "denied";
      return absl::ResourceExhaustedError(
          absl::StrCat("limits.max_streams_per_identity: identity \"", caller_.identity,
                       "\" already has ", limits.max_streams_per_identity, " open streams"));
    }
    stream_counted_ = true;
    gatekeeper_->metrics().streams_in_flight().Increment();
  }
  absl::Duration deadline = rule_->stream ? absl::ZeroDuration() : limits.unary_deadline;
  deadline_key_ = "limits.unary_deadline_seconds";
  if (auto it = limits.deadlines.find(method_); it != limits.deadlines.end()) {
    deadline = it->second;
    deadline_key_ = absl::StrCat("limits.deadlines.", method_);
  }
  const bool client_deadline =
      gpr_time_cmp(context_->raw_deadline(), gpr_inf_future(context_->raw_deadline().clock_type)) !=
      0;
  if (deadline > absl::ZeroDuration() && !client_deadline) {
    deadline_handle_ = gatekeeper_->watchdog().Arm(context_, absl::Now() + deadline, [this] {
      deadline_expired_ = true;
      if (on_deadline_) on_deadline_();
    });
  }
  admitted_ = true;
  outcome_ = "ok";
  return absl::OkStatus();
}

grpc::Status GuardedCall::Finish(const absl::Status& result) {
  if (finished_) return ToGrpcStatus(result);
  finished_ = true;
  struct Ended {
    Gatekeeper* gatekeeper;
    ~Ended() { gatekeeper->CallEnded(); }
  } ended{gatekeeper_};
  ScopedRequestId scope(request_id_value_);
  grpc::Status status = ToGrpcStatus(result);
  if (deadline_handle_ != 0) gatekeeper_->watchdog().Disarm(deadline_handle_);
  if (deadline_expired_) {
    gatekeeper_->metrics().RecordLimitRejection("deadline");
    status = ToGrpcStatus(absl::DeadlineExceededError(
        absl::StrCat(deadline_key_, ": the call ran past dkd's default deadline")));
  }
  if (call_counted_) gatekeeper_->calls().Release(caller_.identity);
  if (stream_counted_) {
    gatekeeper_->streams().Release(caller_.identity);
    gatekeeper_->metrics().streams_in_flight().Decrement();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - started_);
  const char* code = StatusCodeName(status.error_code());
  gatekeeper_->metrics().RecordRpc(method_, code, seconds);
  if (admitted_ && EngineBound(full_method_)) {
    gatekeeper_->metrics().RecordEngineCall(method_, !EngineFailure(status.error_code()), seconds);
  }
  if (admitted_ && !status.ok() && outcome_ == "ok") outcome_ = "failed";
  if (admitted_ && status.error_code() == grpc::StatusCode::PERMISSION_DENIED) outcome_ = "denied";
  spdlog::debug("{} identity={} code={} {:.1f}ms", method_, caller_.identity, code, seconds * 1000);
  const bool mutating = rule_ != nullptr && rule_->mutating;
  if (mutating || outcome_ == "unauthenticated" || outcome_ == "denied") {
    AuditRecord r;
    r.request_id = request_id_value_;
    r.identity = caller_.identity;
    r.role = caller_.identity.empty() ? "" : RoleName(caller_.role);
    r.auth_method = caller_.method;
    r.peer = caller_.peer;
    r.rpc = method_;
    r.target = target_;
    r.outcome = outcome_;
    r.code = code;
    if (!status.ok()) r.message = status.error_message();
    gatekeeper_->audit().Write(r);
  }
  return status;
}

}  // namespace dkd::server
