// The client's status map (rpc_status.h): grpc::Status to absl::Status, what
// counts as dkd unavailable or retryable, and the mark on local errors.
#include "client/rpc_status.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "client/retry_policy.h"

namespace dkd::client {
namespace {

constexpr absl::string_view kLocalPayload = "type.dkd.dev/dkd.client.LocalError";

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

bool IsDaemonUnavailable(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return false;
  // Every engine-side UNAVAILABLE dkd sends names the Docker Engine
  // (core/engine/engine_client.cc); a shutdown says so.
  return absl::StrContains(status.message(), "Docker Engine") ||
         absl::StrContains(status.message(), "dkd is shutting down");
}

bool RetryPolicy::Retryable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable && !IsDaemonUnavailable(status);
}

absl::Status LocalError(absl::StatusCode code, absl::string_view message) {
  absl::Status s(code, message);
  s.SetPayload(kLocalPayload, absl::Cord("1"));
  return s;
}

bool IsLocalError(const absl::Status& status) {
  return status.GetPayload(kLocalPayload).has_value();
}

}  // namespace dkd::client
